"""A course training script: python train_script.py"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim import SGD
from torch.optim.lr_scheduler import StepLR
from torchvision import datasets, transforms

EPOCHS = 12
BATCH = 256


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.c2(F.relu(self.c1(x))))
        return F.log_softmax(self.fc(x.mean((2, 3))), dim=1)


def loaders():
    tf = transforms.Compose([
        transforms.RandomApply([transforms.GaussianBlur(3, sigma=(0.1, 1.0))], p=0.3),
        transforms.RandomPerspective(distortion_scale=0.2, p=0.25, fill=0),
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,)),
    ])
    train = datasets.MNIST("./data", train=True, download=True, transform=tf)
    return torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True)


def fit(model, loader, optimizer, scheduler):
    for epoch in range(1, EPOCHS + 1):
        model.train()
        for data, target in loader:
            optimizer.zero_grad()
            F.nll_loss(model(data), target).backward()
            optimizer.step()
        scheduler.step()


def main():
    model = TinyNet()
    optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    scheduler = StepLR(optimizer, step_size=5, gamma=0.5)
    fit(model, loaders(), optimizer, scheduler)


if __name__ == "__main__":
    main()
