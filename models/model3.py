"""model3: the flagship, 7,888 parameters: two full convolutions, one max-pool, then
depthwise-separable blocks that buy width where the map is small.

Claim: >= 99.40% test accuracy in each of the last 5 of 15 epochs (stricter than the default
last 3) for every one of seeds 0-4, on this project's 2-core CPU with one torch thread per
pytest-xdist worker. Measured: worst epoch of those windows 99.41% (seed 4), final accuracy
99.51, 99.54, 99.59, 99.56, 99.48 for seeds 0-4, mean 99.54%.
Evidence: results/evidence/model3-seed*.json and summary.md, from
  pytest -m compliance -n 2 --candidates=model3 --seeds=0,1,2,3,4 --last-k=5 --results-dir=results/evidence
Without -n (one process, two threads: other numbers) the last-5 rule also holds on all five
seeds (worst 99.41%), with a mean final of 99.49%: results/evidence/model3-2threads/.
"""
import torch.nn as nn

from models.registry import register_model


def conv_bn(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def separable(cin, cout, padding=0):
    """3x3 depthwise then 1x1 pointwise: 9*cin + cin*cout weights instead of 9*cin*cout."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=padding, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Model3(nn.Module):
    def __init__(self):
        super().__init__()
        # Full convolutions while channels are few and strokes are found: 28 -> 24, RF 5.
        self.block1 = nn.Sequential(conv_bn(1, 8), conv_bn(8, 16))
        self.pool = nn.MaxPool2d(2)  # 24 -> 12, RF 6
        # The same weights spent on separable blocks give three times the width of plain ones.
        self.block2 = nn.Sequential(separable(16, 24), separable(24, 32), separable(32, 48),  # 12 -> 6
                                    separable(48, 44, padding=1))  # 6 -> 6, RF 22, GAP sees it all
        self.head = nn.Conv2d(44, 10, 1, bias=False)

    def forward(self, x):
        x = self.block2(self.pool(self.block1(x)))
        # x.mean, not AdaptiveAvgPool2d: its CUDA backward is non-deterministic
        return self.head(x.mean((2, 3), keepdim=True)).flatten(1)


@register_model(complies=True, recipe=dict(
    epochs=15, batch_size=128, optimizer="sgd", lr=0.2, momentum=0.9, nesterov=True,
    weight_decay=5e-5, label_smoothing=0.05, schedule="onecycle", pct_start=0.25,
    # Scored on an average of the weights over the last ~1,000 steps: a one-cycle rate still
    # high in epochs 11-12 otherwise makes single epochs dip below the target on some seeds.
    ema=0.999,
    augment=dict(rotate=8.0, translate=0.08, scale=(0.92, 1.08)),
))
def model3():
    return Model3()
