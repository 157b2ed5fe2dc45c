"""model3: the flagship, under the 8,000 budget: two full convolutions, one max-pool, then
depthwise-separable blocks that buy width where the map is small.

Claim (on the decorator): every epoch of the last 5 of 15, on seeds 0-4, stricter than the
default last 3. Why it holds: the separable blocks give three times the width of plain ones
for the same weights, and scoring an exponential average of the weights damps the epoch-to-
epoch wobble a one-cycle rate still causes in epochs 11-12. The evidence (results/evidence/
model3/, remade by `python -m harness evidence model3`) carries the numbers; the margin over
99.40% is what carries the claim to other CPUs, whose numbers differ in the last digits.
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


@register_model(claim=dict(seeds=(0, 1, 2, 3, 4), last_k=5), recipe=dict(
    epochs=15, batch_size=128,
    optimizer=dict(name="SGD", lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-5, foreach=True),
    # lr is the peak. OneCycleLR cycles the momentum 0.95 -> 0.85 -> 0.95 in place of the 0.9
    # (cycle_momentum, its default), which nesterov=True still needs at construction.
    schedule=dict(name="OneCycleLR", pct_start=0.25),
    label_smoothing=0.05,
    # Scored on an average of the weights over the last ~1,000 steps: a one-cycle rate still
    # high in epochs 11-12 otherwise makes single epochs dip below the target on some seeds.
    ema=0.999,
    augment=[dict(name="ContinuousAffine", degrees=8.0, translate=0.08, scale=(0.92, 1.08))],
))
def model3():
    return Model3()
