"""pub_doda_net3: Net3 from amitdoda1983/ERA-S7, file ERA1S7_Net3.ipynb, rebuilt layer for layer.
Published: 7,984 parameters; test accuracy 99.43, 99.47, 99.44, 99.43 in epochs 12-15 of 15
(last three: 99.47, 99.44, 99.43), the author's numbers from a single run (seed 1, CUDA, batch 32).
The notebook rotates PIL images with fill=(1,), i.e. grey level 1 of 255: 1/255 on the [0, 1] images here.
"""
import torch.nn as nn
import torch.nn.functional as F

from models.registry import register_model

DROP = 0.01


def conv_relu_bn(cin, cout):
    """A 3x3 valid convolution; ReLU comes before BatchNorm here, as in the source."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(cout), nn.Dropout(DROP))


class DodaNet3(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            conv_relu_bn(1, 16),                       # 28 -> 26
            conv_relu_bn(16, 16),                      # 26 -> 24
            nn.Conv2d(16, 8, 1, bias=False),           # squeeze to 8 channels
            nn.MaxPool2d(2, 2),                        # 24 -> 12
            conv_relu_bn(8, 16),                       # 12 -> 10
            nn.Conv2d(16, 8, 1, bias=False),
            nn.MaxPool2d(2, 2),                        # 10 -> 5
            conv_relu_bn(8, 48),                       # 5 -> 3
            nn.AvgPool2d(3),                           # 3 -> 1
            nn.Conv2d(48, 10, 1, bias=False),
        )

    def forward(self, x):
        return F.log_softmax(self.body(x).flatten(1), dim=-1)


@register_model(recipe=dict(
    epochs=15, batch_size=32,
    optimizer=dict(name="SGD", lr=0.02, momentum=0.9),
    schedule=dict(name="ReduceLROnPlateau", mode="min", factor=0.7, patience=0, monitor="test_loss"),
    mean=0.1307, std=0.3081,
    augment=[dict(name="RandomRotation", degrees=(-7.0, 7.0), fill=(1 / 255,))],
))
def pub_doda_net3():
    return DodaNet3()
