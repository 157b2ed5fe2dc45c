"""model1: the course's own baseline, kept as the suite's standing negative control: over
the 8,000 budget, no BatchNorm, no augmentation, so the gate refuses it without training.

Claim: none. Its records (results/evidence/model1/) say what it reaches when trained anyway.
"""
import torch.nn as nn
import torch.nn.functional as F

from models.registry import register_model


def conv(cin, cout, k=3, relu=True):
    layers = [nn.Conv2d(cin, cout, k, bias=False)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else layers[0]


class Model1(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(conv(1, 10), conv(10, 10), conv(10, 20))  # 28 -> 22, RF 7
        self.transition1 = nn.Sequential(nn.MaxPool2d(2), conv(20, 10, k=1))  # 22 -> 11, RF 8
        self.block2 = nn.Sequential(conv(10, 10), conv(10, 20))  # 11 -> 7, RF 16
        self.transition2 = conv(20, 10, k=1)
        self.head = conv(10, 10, k=7, relu=False)  # 7 -> 1, RF 28

    def forward(self, x):
        x = self.head(self.transition2(self.block2(self.transition1(self.block1(x)))))
        return F.log_softmax(x.flatten(1), dim=1)


@register_model(recipe=dict(
    epochs=15, batch_size=128, optimizer=dict(name="SGD", lr=0.01, momentum=0.9, foreach=True),
    mean=0.1307, std=0.3081,
))
def model1():
    return Model1()
