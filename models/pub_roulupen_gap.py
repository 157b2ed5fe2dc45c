"""pub_roulupen_gap: the GAP network of roulupen/ERAV4, assignment6/model.py
(MNISTNet4BlockWithBatchNormMaxPoolDropoutAveragePooling), trained as assignment6/train.py and data.py set it up.
Published: 7,954 parameters; test accuracy 99.42, 99.41, 99.41, 99.46 in epochs 12-15 of 15 (last three:
99.41, 99.41, 99.46), the author's single run (seed 42, Apple MPS) from assignment6/ReadMe.md.
RandomErasing follows Normalize there, so its value 0 is the mean grey: 0.1307 on the raw images here.
"""
import torch.nn as nn
import torch.nn.functional as F

from models.registry import register_model

DROP = 0.015  # --dropout_prob of the published command


def cbr(cin, cout, k=3, drop=False):
    """Convolution with bias, BatchNorm, ReLU; 3x3 ones keep the size (padding 1)."""
    layers = [nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return layers + [nn.Dropout(DROP)] if drop else layers


class RoulupenGAP(nn.Module):
    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(*cbr(1, 8, drop=True), *cbr(8, 16, drop=True), *cbr(16, 8, k=1),
                                    nn.MaxPool2d(2))                                  # 28 -> 14
        self.stage2 = nn.Sequential(*cbr(8, 12, drop=True), *cbr(12, 16, drop=True), *cbr(16, 6, k=1),
                                    nn.MaxPool2d(2))                                  # 14 -> 7
        self.stage3 = nn.Sequential(*cbr(6, 12), *cbr(12, 12), *cbr(12, 6, k=1), nn.MaxPool2d(2))  # 7 -> 3
        self.stage4 = nn.Sequential(*cbr(6, 10), *cbr(10, 10))                        # 3 -> 3
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        x = self.stage4(self.stage3(self.stage2(self.stage1(x))))
        # the mean over the map is the source's AdaptiveAvgPool2d(1), without its non-deterministic CUDA backward
        return F.log_softmax(self.fc(x.mean((2, 3))), dim=1)


@register_model(recipe=dict(
    epochs=15, batch_size=64,
    # train.py's defaults: AdamW lr 1e-3 (replaced by the one-cycle rates), weight decay 1e-3; the peak is the
    # --scheduler cyclic max_lr for batches under 128.
    optimizer=dict(name="AdamW", lr=1.5e-3, betas=(0.9, 0.999), weight_decay=1e-3),
    schedule=dict(name="OneCycleLR", pct_start=0.15, div_factor=10.0, final_div_factor=1e3, interval="step"),
    mean=0.1307, std=0.3081,
    augment=[
        dict(name="RandomAffine", degrees=10, translate=(0.08, 0.08), scale=(0.95, 1.08), shear=8, fill=0),
        dict(name="RandomPerspective", distortion_scale=0.2, p=0.25),
        dict(name="RandomErasing", p=0.2, scale=(0.02, 0.15), ratio=(0.3, 3.3), value=0.1307),
    ],
))
def pub_roulupen_gap():
    return RoulupenGAP()
