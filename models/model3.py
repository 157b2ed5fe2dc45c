"""model3: the flagship, 7,944 parameters, meant to pass every rule on every seed.

Claim: the default rules (>= 99.40% in each of the last 3 of 15 epochs) for seeds 0-4 on this
2-core CPU, one torch thread per pytest-xdist worker. Under the stricter last-5 window it holds
for 4 of those 5 seeds (seed 2 dips to 99.39% in epoch 11); mean final accuracy 99.48%.
Evidence: results/evidence/model3-seed*.json and summary.md, from
  pytest -m compliance -n 2 --candidates=model3 --seeds=0,1,2,3,4 --last-k=5 --results-dir=results/evidence
"""
import torch.nn as nn

from models.registry import register_model


def conv_bn(cin, cout, k=3, padding=0):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Model3(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(conv_bn(1, 8), conv_bn(8, 12))  # 28 -> 24, RF 5
        self.transition = nn.Sequential(nn.MaxPool2d(2), conv_bn(12, 8, k=1))  # 24 -> 12, RF 6
        self.block2 = nn.Sequential(conv_bn(8, 12), conv_bn(12, 16), conv_bn(16, 16),  # 12 -> 6, RF 18
                                    conv_bn(16, 12, padding=1))  # 6 -> 6, RF 22, GAP sees it all
        self.head = nn.Conv2d(12, 10, 1, bias=False)

    def forward(self, x):
        x = self.block2(self.transition(self.block1(x)))
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
