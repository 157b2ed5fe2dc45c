"""model7: the 4,000-parameter frontier again: model6's network and recipe, with the BatchNorm
statistics of the scored weights recomputed on unwarped training digits before each test pass.

Claim: none, because it does not hold on every seed: seeds 0 and 1 hold every rule (the last
three epochs at 99.42 and 99.44 or more), seed 2 ends one test image short in epoch 13 (99.39).

model6 ended one test image short on seed 1. Its scored weights are an average of the trained
ones, and so are its running statistics: an average of what the live weights measured on warped
digits at each step, neither the averaged weights' statistics nor those of the digits it is
scored on. Recomputed on model6's saved final weights over the clean training images, they
gained one to three test images on each of six 4,000-parameter runs (results/search/
bn-recalibration.txt); the recipe's `bn_recalibration` does it before every test pass, over the
first 10,000 training images, and leaves training itself untouched (the training losses equal
model6's). Evidence: results/evidence/model7/; experiments/frontier.md, round six.
"""
import torch.nn as nn

from models.registry import register_model


def separable(cin, cout, padding=0):
    """3x3 depthwise, BN, ReLU, then 1x1 pointwise, BN, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=padding, groups=cin, bias=False), nn.BatchNorm2d(cin),
                         nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Model7(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 12, 3, bias=False), nn.BatchNorm2d(12), nn.ReLU(),  # 28 -> 26
                                  separable(12, 16))                                               # 26 -> 24, RF 5
        self.pool = nn.MaxPool2d(2)  # 24 -> 12, RF 6
        self.body = nn.Sequential(separable(16, 20), separable(20, 24), separable(24, 26),  # 12 -> 6
                                  separable(26, 26, padding=1))                            # RF 22 at 6x6
        self.head = nn.Conv2d(26, 10, 1, bias=False)

    def forward(self, x):
        x = self.body(self.pool(self.stem(x)))
        return self.head(x.mean((2, 3), keepdim=True)).flatten(1)


@register_model(recipe=dict(
    epochs=15, batch_size=128, optimizer=dict(name="Adam", lr=0.01, foreach=True),
    schedule=dict(name="OneCycleLR", pct_start=0.25, cycle_momentum=False),
    ema=0.999,  # as model3 and model4: the scored weights are an average over the last ~1,000 steps
    bn_recalibration=10_000,  # their BatchNorm statistics, recomputed on unwarped digits before each test pass
    augment=[dict(name="ContinuousAffine", degrees=8.0, translate=0.08, scale=(0.92, 1.08))],
))
def model7():
    return Model7()
