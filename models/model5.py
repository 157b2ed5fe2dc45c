"""model5: the 4,000-parameter attempt: depthwise-separable blocks after one max-pool.

Claim: none, because it does not hold on every seed: at this width the net underfits (training
accuracy below test accuracy), and the last epochs land on either side of 99.40% depending on
the seed. The records in results/evidence/model5/ show each seed; a seed that passes every rule
is reported as XPASS, since a passing run of a candidate without a claim fails the gate.
"""
import torch.nn as nn

from models.registry import register_model


def conv_bn(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def separable(cin, cout, padding=0):
    """3x3 depthwise then 1x1 pointwise: 9*cin + cin*cout weights instead of 9*cin*cout."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=padding, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Model5(nn.Module):
    def __init__(self):
        super().__init__()
        # Full convolutions where channels are few and the strokes are found: 28 -> 24, RF 5.
        self.block1 = nn.Sequential(conv_bn(1, 10), conv_bn(10, 12))
        self.pool = nn.MaxPool2d(2)  # 24 -> 12, RF 6
        self.block2 = nn.Sequential(separable(12, 16), separable(16, 20), separable(20, 24),  # 12 -> 6
                                    separable(24, 28, padding=1))  # RF 22 at 6x6
        self.head = nn.Conv2d(28, 10, 1, bias=False)

    def forward(self, x):
        x = self.block2(self.pool(self.block1(x)))
        return self.head(x.mean((2, 3), keepdim=True)).flatten(1)


@register_model(recipe=dict(
    epochs=15, batch_size=128, optimizer=dict(name="Adam", lr=0.01, foreach=True),
    schedule=dict(name="OneCycleLR", pct_start=0.25, cycle_momentum=False),
    # light augmentation: at this size the net underfits, and stronger warps cost accuracy
    augment=[dict(name="ContinuousAffine", degrees=6.0, translate=0.05)],
))
def model5():
    return Model5()
