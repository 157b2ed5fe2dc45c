"""pub_nitinvig_final: Net of nitin-vig/ERAv4S6, MNIST_Final_Version.ipynb (Iteration 3 of its README),
rebuilt layer for layer with the notebook's training cells.
Published: 7,070 parameters; test accuracy 99.43, 99.45, 99.45, 99.44, 99.42 in epochs 11-15 of 15 (printed
there as EPOCH 10-14), the author's single Colab CUDA run with seed 1 (batch 128, the notebook's CUDA setting).
No augmentation: the training images are only normalised. ReLU comes before BatchNorm, the 3x3 convolutions
carry biases and the two 1x1 squeezes do not, as in the source; the last BatchNorm feeds the average pool directly.
"""
import torch.nn as nn
import torch.nn.functional as F

from models.registry import register_model


class NitinVigNet(nn.Module):
    def __init__(self):
        super().__init__()
        # modules made in the notebook's order
        self.conv1 = nn.Conv2d(1, 10, 3)            # 28 -> 26
        self.bn1 = nn.BatchNorm2d(10)
        self.conv2 = nn.Conv2d(10, 10, 3)           # 26 -> 24
        self.bn2 = nn.BatchNorm2d(10)
        self.conv3 = nn.Conv2d(10, 20, 3)           # 24 -> 22
        self.bn3 = nn.BatchNorm2d(20)
        self.pool1 = nn.MaxPool2d(2, 2)             # 22 -> 11
        self.squeeze1 = nn.Conv2d(20, 10, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(10)
        self.conv4 = nn.Conv2d(10, 10, 3)           # 11 -> 9
        self.bn5 = nn.BatchNorm2d(10)
        self.conv5 = nn.Conv2d(10, 10, 3)           # 9 -> 7
        self.bn6 = nn.BatchNorm2d(10)
        self.conv6 = nn.Conv2d(10, 20, 3)           # 7 -> 5
        self.bn8 = nn.BatchNorm2d(20)
        self.squeeze2 = nn.Conv2d(20, 10, 1, bias=False)
        self.bn7 = nn.BatchNorm2d(10)
        self.gap = nn.AvgPool2d(5)                  # 5 -> 1

    def forward(self, x):
        x = self.bn1(F.relu(self.conv1(x)))
        x = self.bn2(F.relu(self.conv2(x)))
        x = self.bn3(F.relu(self.conv3(x)))
        x = self.bn4(F.relu(self.squeeze1(self.pool1(x))))
        x = self.bn5(F.relu(self.conv4(x)))
        x = self.bn6(F.relu(self.conv5(x)))
        x = self.bn8(F.relu(self.conv6(x)))
        x = self.bn7(F.relu(self.squeeze2(x)))
        return F.log_softmax(self.gap(x).flatten(1), dim=-1)


@register_model(recipe=dict(
    epochs=15, batch_size=128,
    optimizer=dict(name="SGD", lr=0.01, momentum=0.9),
    schedule=dict(name="StepLR", step_size=10, gamma=0.1),  # stepped at the end of each epoch's training
    mean=0.1307, std=0.3081,
    augment=[],
))
def pub_nitinvig_final():
    return NitinVigNet()
