"""The model of the plateau notebook."""
import torch.nn as nn
import torch.nn.functional as F

DROP = 0.05


def cbr(cin, cout, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(DROP))


class Net(nn.Module):
    def __init__(self, width=12):
        super().__init__()
        self.features = nn.Sequential(cbr(1, 8), cbr(8, width), nn.MaxPool2d(2), cbr(width, width), cbr(width, 16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.features(x).mean((2, 3))
        return F.log_softmax(self.fc(x), dim=1)


class Unused(nn.Module):
    def forward(self, x):
        return x
