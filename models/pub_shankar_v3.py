"""pub_shankar_v3: Net of Shankarganesh127/TSAI_ERAv4_mnist_model_improved_S6, model_v3.py (set_config_v3),
trained by that repository's train_test.py (gradient clipping at norm 2, OneCycleLR stepped per batch).
Published: 4,968 parameters; test accuracy 99.42, 99.45, 99.42 in epochs 13-15 of 15, the author's single
run (no seed set) in logs/training.log. Augmentation as model_v3.py declares it (rotation 5, shift 0.03);
the one stored data_setup.py that accepts it ignores it for its own (rotation 15, shift 0.1): which ran is unknown.
"""
import torch.nn as nn
import torch.nn.functional as F

from models.registry import register_model


def cbr(cin, cout, k=3, pad=1):
    return [nn.Conv2d(cin, cout, k, padding=pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class ShankarV3(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*cbr(1, 4), *cbr(4, 8), nn.MaxPool2d(2, 2))             # 28 -> 14
        self.mid = nn.Sequential(*cbr(8, 10), *cbr(10, 16), nn.MaxPool2d(2, 2))           # 14 -> 7
        self.squeeze = nn.Sequential(*cbr(16, 8, k=1, pad=0), *cbr(8, 16))                 # 7 -> 7
        self.head = nn.Sequential(*cbr(16, 10, k=1, pad=0),
                                  nn.Conv2d(10, 10, 3, bias=False),                        # 7 -> 5
                                  nn.AvgPool2d(5))                                         # 5 -> 1

    def forward(self, x):
        x = self.head(self.squeeze(self.mid(self.stem(x))))
        return F.log_softmax(x.flatten(1), dim=1)


@register_model(recipe=dict(
    epochs=15, batch_size=64,
    optimizer=dict(name="SGD", lr=0.065, momentum=0.9),
    schedule=dict(name="OneCycleLR", pct_start=0.1, div_factor=5.0, final_div_factor=100.0,
                  anneal_strategy="cos", interval="step"),
    clip_grad_norm=2.0,
    mean=0.1307, std=0.3081,
    augment=[
        dict(name="RandomRotation", degrees=(-5.0, 5.0), fill=(0,)),
        dict(name="RandomAffine", degrees=0, translate=(0.03, 0.03)),
    ],
))
def pub_shankar_v3():
    return ShankarV3()
