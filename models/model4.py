"""model4: the frontier, 5,544 parameters: model3's layout at two thirds of its budget.

Claim: the default rules (>= 99.40% in each of the last 3 of 15 epochs) for seeds 0-2, on
this project's 2-core CPU with one torch thread per pytest-xdist worker. Measured: last-3
minimum 99.43, 99.45, 99.48 and final 99.47, 99.46, 99.53 for seeds 0-2. Not at the issue's
4,000 parameters: model5 is that attempt, and it misses on two seeds of three.
Evidence: results/evidence/model4-seed*.json and summary-model2-model4-model5.md, from
  pytest -m compliance -n 2 --candidates=model2,model4,model5 --seeds=0,1,2 --results-dir=/tmp/evB
with the run files then copied to results/evidence (as model5's docstring explains).
"""
import torch.nn as nn

from models.registry import register_model


def conv_bn(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def separable(cin, cout, padding=0):
    """3x3 depthwise then 1x1 pointwise: 9*cin + cin*cout weights instead of 9*cin*cout."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=padding, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Model4(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(conv_bn(1, 8), conv_bn(8, 12))  # 28 -> 24, RF 5
        self.pool = nn.MaxPool2d(2)  # 24 -> 12, RF 6
        self.block2 = nn.Sequential(separable(12, 20), separable(20, 28), separable(28, 36),  # 12 -> 6
                                    separable(36, 36, padding=1))  # 6 -> 6, RF 22
        self.head = nn.Conv2d(36, 10, 1, bias=False)

    def forward(self, x):
        x = self.block2(self.pool(self.block1(x)))
        return self.head(x.mean((2, 3), keepdim=True)).flatten(1)


@register_model(complies=True, recipe=dict(
    epochs=15, batch_size=128, optimizer="adam", lr=0.01, schedule="onecycle", pct_start=0.25,
    ema=0.999,  # as model3: the scored weights are an average over the last ~1,000 steps
    augment=dict(rotate=8.0, translate=0.08, scale=(0.92, 1.08)),
))
def model4():
    return Model4()
