"""pub_asravan_m3: Net of asravankumar/ERAV4_ASSIGNMENT6, model3.py, with the data and optimizer of train.py
(Model3 of README.md).
Published: 6,136 parameters; test accuracy 99.40, 99.42, 99.40, 99.40 in epochs 12-15 of 15 (printed there as
EPOCH 11-14), the author's single CUDA run (batch 128, seed 1 as train.py sets it).
Interpreted: the stored train.py builds StepLR(step_size=6, gamma=0.1) but never calls scheduler.step() and runs
20 epochs, so it is not the code that printed the published 15-epoch log; the README credits that log to "StepLR
and step_size of 6", and the log's flat last epochs fit a stepped rate. Here StepLR steps once per epoch over 15.
PIL rotation fill=(1,) is grey level 1/255 on the [0, 1] images here; RandomAffine keeps its default fill 0.
"""
import torch.nn as nn
import torch.nn.functional as F

from models.registry import register_model

DROP = 0.05


def cbrd(cin, cout, k=3, drop=True):
    """A valid convolution without bias, then BatchNorm, ReLU and, but for the 1x1 transition, Dropout."""
    layers = [nn.Conv2d(cin, cout, k, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers, nn.Dropout(DROP)) if drop else nn.Sequential(*layers)


class AsravanNet3(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(cbrd(1, 8), cbrd(8, 16))                              # 28 -> 24
        self.transition = nn.Sequential(nn.MaxPool2d(2, 2), cbrd(16, 8, k=1, drop=False))  # 24 -> 12
        self.block2 = nn.Sequential(cbrd(8, 8), cbrd(8, 12), cbrd(12, 12), cbrd(12, 16))  # 12 -> 4
        self.gap = nn.AvgPool2d(4)                                                         # 4 -> 1
        self.head = nn.Conv2d(16, 10, 1, bias=False)

    def forward(self, x):
        x = self.block2(self.transition(self.block1(x)))
        x = self.head(self.gap(x))
        return F.log_softmax(x.flatten(1), dim=-1)


@register_model(recipe=dict(
    epochs=15, batch_size=128,
    optimizer=dict(name="SGD", lr=0.02, momentum=0.9),
    schedule=dict(name="StepLR", step_size=6, gamma=0.1),
    mean=0.1307, std=0.3081,
    augment=[
        dict(name="RandomRotation", degrees=(-7.0, 7.0), fill=(1 / 255,)),
        dict(name="RandomAffine", degrees=7, translate=(0.05, 0.01), scale=(0.93, 1.07)),
    ],
))
def pub_asravan_m3():
    return AsravanNet3()
