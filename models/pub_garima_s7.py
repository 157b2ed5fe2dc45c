"""pub_garima_s7: Model_7 of garima-mahato/ERA_V3, Session7/model.py, trained as Session7/S7_File3.ipynb does
(the notebook imports the same model file from the author's ERA_V1 repository).
Published: 8,000 parameters; test accuracy 99.42, 99.40, 99.40, 99.41, 99.42 in epochs 11-15 of 15, the
author's single Colab CUDA run with seed 1 (Session7/README.md and the notebook's output).
Dropout 0.05 is the value the notebook passes to Model_7. RandomAffine leaves its fill at the default 0, the
background of the [0, 1] images here. The two 1x1 convolutions after the pool have no activation between them.
"""
import torch.nn as nn
import torch.nn.functional as F

from models.registry import register_model

DROP = 0.05


def crbd(cin, cout):
    """A 3x3 valid convolution without bias, then ReLU, BatchNorm and Dropout, the source's order."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(cout), nn.Dropout(DROP))


class GarimaModel7(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(crbd(1, 8), crbd(8, 14))                          # 28 -> 24
        self.transition = nn.Sequential(nn.Conv2d(14, 10, 1, bias=False), nn.MaxPool2d(2, 2))  # 24 -> 12
        self.block2 = nn.Sequential(crbd(10, 14), crbd(14, 16), crbd(16, 20))         # 12 -> 6
        self.gap = nn.AvgPool2d(6)                                                     # 6 -> 1
        self.head = nn.Sequential(nn.Conv2d(20, 16, 1, bias=False), nn.Conv2d(16, 10, 1, bias=False))

    def forward(self, x):
        x = self.block2(self.transition(self.block1(x)))
        x = self.head(self.gap(x))
        return F.log_softmax(x.flatten(1), dim=-1)


@register_model(recipe=dict(
    epochs=15, batch_size=128,
    optimizer=dict(name="SGD", lr=0.1, momentum=0.9),
    schedule=dict(name="StepLR", step_size=8, gamma=0.1),  # one step per epoch: 0.1 for 8 epochs, then 0.01
    mean=0.1307, std=0.3081,
    augment=[dict(name="RandomAffine", degrees=20, translate=(0.1, 0.1), scale=(0.9, 1.1))],
))
def pub_garima_s7():
    return GarimaModel7()
