"""model5: the 4,000-parameter attempt, 3,982 parameters: depthwise-separable blocks after one
max-pool (the frontier candidate that complies is model4, 5,544 parameters).

Claim: none, because it does not hold on every seed. Over seeds 0-2 on this 2-core CPU it
passes every rule on seed 2 (last 3 epochs all >= 99.40%) and misses on seeds 0 and 1 (last-3
minimum 99.32% and 99.29%), so the gate's default seed 0 shows it as an expected failure and
a seed-2 run is reported as XPASS. Evidence: results/evidence/model5-seed*.json and
summary-model2-model4-model5.md, from
  pytest -m compliance -n 2 --candidates=model2,model4,model5 --seeds=0,1,2 --results-dir=/tmp/evB
with the run files then copied to results/evidence (a run writes summary.md into its folder,
which would replace model3's).
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


@register_model(complies=False, recipe=dict(
    epochs=15, batch_size=128, optimizer="adam", lr=0.01, schedule="onecycle", pct_start=0.25,
    # light augmentation: at this size the net underfits, and stronger warps cost accuracy
    augment=dict(rotate=6.0, translate=0.05),
))
def model5():
    return Model5()
