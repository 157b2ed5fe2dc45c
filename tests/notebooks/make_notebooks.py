"""Writes the synthetic course solutions tests/test_importer.py imports: notebooks (nbformat 4, with
saved outputs) and scripts in the styles of the course, one per case the importer must handle.
Run `python tests/notebooks/make_notebooks.py` after changing a case; the test checks the files match."""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def code(source: str, *outputs: str, stderr: str = "") -> dict:
    """A code cell; each output a stdout stream, `stderr` a progress-bar stream before them."""
    outs = []
    if stderr:
        outs.append({"output_type": "stream", "name": "stderr", "text": stderr.splitlines(keepends=True)})
    outs += [{"output_type": "stream", "name": "stdout", "text": o.splitlines(keepends=True)} for o in outputs]
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": outs,
            "source": source.strip("\n").splitlines(keepends=True)}


def markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text.splitlines(keepends=True)}


def notebook(*cells: dict) -> str:
    nb = {"nbformat": 4, "nbformat_minor": 5, "cells": list(cells),
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def summary_table(total: int) -> str:
    return ("----------------------------------------------------------------\n"
            "        Layer (type)               Output Shape         Param #\n"
            "================================================================\n"
            "            Conv2d-1            [-1, 8, 26, 26]              72\n"
            "================================================================\n"
            f"Total params: {total:,}\nTrainable params: {total:,}\nNon-trainable params: 0\n"
            "----------------------------------------------------------------\n")


IMPORTS = """
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torchvision import datasets, transforms
"""

TRAIN_TEST = """
from tqdm import tqdm

def train(model, device, train_loader, optimizer, epoch):
    model.train()
    pbar = tqdm(train_loader)
    for batch_idx, (data, target) in enumerate(pbar):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()

def test(model, device, test_loader):
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            correct += output.argmax(dim=1).eq(target).sum().item()
    test_loss /= len(test_loader.dataset)
    print('Test set: Average loss: {:.4f}, Accuracy: {}/{} ({:.2f}%)'.format(
        test_loss, correct, len(test_loader.dataset), 100. * correct / len(test_loader.dataset)))
    return test_loss
"""


def log(accs: list[float], first_epoch: int = 1, style: str = "course") -> str:
    """A saved test log: `style` "course" (EPOCH: n, then the Test set line), "four" (accuracy with
    four decimals), "short" (Epoch n, then Test Accuracy: x%)."""
    out = []
    for i, acc in enumerate(accs):
        correct = round(acc * 100)
        loss = 0.05 - 0.002 * i
        if style == "course":
            out.append(f"EPOCH: {first_epoch + i}\n\nTest set: Average loss: {loss:.4f}, "
                       f"Accuracy: {correct}/10000 ({acc:.2f}%)\n\n")
        elif style == "four":
            out.append(f"EPOCH: {first_epoch + i}\nTest set: Average loss: {loss:.4f}, "
                       f"Accuracy: {correct}/10000 ({acc:.4f}%)\n")
        else:
            out.append(f"Epoch {first_epoch + i}\nTest Accuracy: {acc:.2f}%\n")
    return "".join(out)


# ---------------------------------------------------------------- (a) model inline, SGD + StepLR

A_ACCS = [98.10, 98.62, 98.90, 99.01, 99.10, 99.15, 99.22, 99.30, 99.31, 99.35, 99.38, 99.41, 99.43, 99.44, 99.46]
A = notebook(
    markdown("# Session 6: model inline"),
    code(IMPORTS),
    code("""
train_transforms = transforms.Compose([
    transforms.RandomRotation((-7.0, 7.0), fill=(1,)),
    transforms.ToTensor(),
    transforms.Normalize((0.1307,), (0.3081,)),
])
test_transforms = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize((0.1307,), (0.3081,)),
])
train = datasets.MNIST('./data', train=True, download=True, transform=train_transforms)
test = datasets.MNIST('./data', train=False, download=True, transform=test_transforms)
"""),
    code("""
cuda = torch.cuda.is_available()
train_loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True)
test_loader = torch.utils.data.DataLoader(test, batch_size=1000, shuffle=False)
"""),
    code("""
dropout_value = 0.01

def conv_block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(cout),
                         nn.Dropout(dropout_value))

class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.block = nn.Sequential(conv_block(1, 8), conv_block(8, 16), nn.MaxPool2d(2, 2),
                                   conv_block(16, 16), conv_block(16, 16))
        self.head = nn.Conv2d(16, 10, 1, bias=False)

    def forward(self, x):
        x = self.block(x)
        x = self.head(x.mean((2, 3), keepdim=True))
        return F.log_softmax(x.view(-1, 10), dim=-1)
"""),
    code("""
!pip install torchsummary
from torchsummary import summary
device = torch.device("cuda" if cuda else "cpu")
model = Net().to(device)
summary(model, input_size=(1, 28, 28))
""", summary_table(6_104)),
    code(TRAIN_TEST),
    code("""
model = Net().to(device)
optimizer = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=6, gamma=0.1)
EPOCHS = 15
for epoch in range(EPOCHS):
    print("EPOCH:", epoch)
    train(model, device, train_loader, optimizer, epoch)
    test(model, device, test_loader)
    scheduler.step()
""", log(A_ACCS, first_epoch=0), stderr="Loss=0.1 Batch_id=468: 100%|##########| 469/469\n"),
)

# ---------------------------------------------------------------- (b) model in model.py, plateau on the test loss

B_MODEL = '''"""The model of the plateau notebook."""
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
'''
B_ACCS = [98.5 + 0.07 * i for i in range(15)]
B = notebook(
    code(IMPORTS + "from model import Net\n"),
    code("""
SEED = 1
cuda = torch.cuda.is_available()
torch.manual_seed(SEED)
dataloader_args = dict(shuffle=True, batch_size=64, num_workers=2, pin_memory=True) if cuda else \\
    dict(shuffle=True, batch_size=32)
train_transforms = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train_data = datasets.MNIST('../data', train=True, download=True, transform=train_transforms)
test_data = datasets.MNIST('../data', train=False, download=True, transform=train_transforms)
train_loader = torch.utils.data.DataLoader(train_data, **dataloader_args)
test_loader = torch.utils.data.DataLoader(test_data, **dataloader_args)
""", "CUDA Available? True\n"),
    code(TRAIN_TEST),
    code("""
device = torch.device("cuda" if cuda else "cpu")
model = Net(width=14).to(device)
optimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)
scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, 'min', factor=0.5, patience=1)
for epoch in range(1, 16):
    print("EPOCH:", epoch)
    train(model, device, train_loader, optimizer, epoch)
    test_loss = test(model, device, test_loader)
    scheduler.step(test_loss)
""", log(B_ACCS, style="four")),
)

# ---------------------------------------------------------------- (c) OneCycleLR per batch, Adam, smoothing, clipping

C_ACCS = [97.5 + 0.1 * i for i in range(20)]
C = notebook(
    code(IMPORTS),
    code("""
mean, std = 0.1307, 0.3081
train_transforms = transforms.Compose([
    transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
    transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
    transforms.RandomApply([transforms.CenterCrop(22)], p=0.1),
    transforms.Resize((28, 28)),
    transforms.ToTensor(),
    transforms.Normalize((mean,), (std,)),
    transforms.RandomErasing(p=0.2, scale=(0.02, 0.1)),
])
train_data = datasets.MNIST('../data', train=True, download=True, transform=train_transforms)
train_loader = torch.utils.data.DataLoader(train_data, batch_size=100, shuffle=True)
"""),
    code("""
class Net(nn.Module):
    def __init__(self, channels=16, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3)
        self.conv2 = nn.Conv2d(channels, channels, 3)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(channels, 10)

    def forward(self, x):
        x = self.drop(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return self.out(x.mean((2, 3)))
"""),
    code("""
def train(model, device, train_loader, optimizer, scheduler, criterion):
    model.train()
    for data, target in train_loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
"""),
    code("""
device = "cuda"
model = Net(channels=20, dropout=0.05).to(device)
EPOCHS = 20
optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, epochs=EPOCHS,
                                          steps_per_epoch=len(train_loader), pct_start=0.25)
criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
for epoch in range(1, EPOCHS + 1):
    print(f"Epoch {epoch}")
    train(model, device, train_loader, optimizer, scheduler, criterion)
""", log(C_ACCS, style="short")),
)

# ---------------------------------------------------------------- (d) a training script

D = '''"""A course training script: python train_script.py"""
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
'''

# ---------------------------------------------------------------- (e) a repository: models/model_3.py, star import

E_MODEL_3 = '''"""Model 3 of the repository."""
import torch.nn as nn

DROP = 0.02


def sep(cin, cout):
    """Depthwise then pointwise."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(DROP))


class Model3(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.body = nn.Sequential(sep(16, 24), nn.MaxPool2d(2), sep(24, 32), sep(32, 32))
        self.head = nn.Conv2d(32, 10, 1)

    def forward(self, x):
        return self.head(self.body(self.stem(x)).mean((2, 3), keepdim=True)).flatten(1)
'''
E_MODEL_1 = '''"""Model 1 of the repository, not trained by the notebook."""
import torch.nn as nn


class Model1(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
'''
E_ACCS = [98.0 + 0.1 * i for i in range(15)]
E = notebook(
    code(IMPORTS + "from models.model_3 import *\n"),
    code("""
train_data = datasets.MNIST('../data', train=True, download=True,
                            transform=transforms.Compose([transforms.RandomRotation(8), transforms.ToTensor(),
                                                          transforms.Normalize((0.1307,), (0.3081,))]))
train_loader = torch.utils.data.DataLoader(train_data, batch_size=128, shuffle=True)
"""),
    code("""
model = Model3().to("cuda")
optimizer = optim.SGD(model.parameters(), lr=0.01)
scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, epochs=15, steps_per_epoch=len(train_loader))
for epoch in range(15):
    model.train()
    for x, y in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x.cuda()), y.cuda())
        loss.backward()
        optimizer.step()
        scheduler.step()
    print(f"epoch={epoch + 1} test_acc={98.0 + 0.1 * epoch:.2f}")
""", "".join(f"epoch={i + 1} test_acc={a:.2f}\n" for i, a in enumerate(E_ACCS))),
)

# ---------------------------------------------------------------- (f) what cannot be translated

F_NB = notebook(
    code(IMPORTS + "import numpy as np\n"),
    code("""
class AddNoise:
    def __call__(self, x):
        return x + 0.1 * torch.randn_like(x)

train_transforms = transforms.Compose([
    transforms.RandomCrop(28, padding=2),
    transforms.RandomRotation(5),
    transforms.ToTensor(),
    AddNoise(),
    transforms.Normalize((0.1307,), (0.3081,)),
])
train_data = datasets.MNIST('../data', train=True, download=True, transform=train_transforms)
train_loader = torch.utils.data.DataLoader(train_data, batch_size=64, shuffle=True)
"""),
    code("""
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, 3)

    def forward(self, x):
        return F.log_softmax(self.conv(x).mean((2, 3)), dim=1)

def mixup(x, y, alpha=0.2):
    lam = np.random.beta(alpha, alpha)
    index = torch.randperm(x.size(0))
    return lam * x + (1 - lam) * x[index], y, y[index], lam
"""),
    code("""
model = Net()
lr = float(input("learning rate? "))
optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
for epoch in range(10):
    for data, target in train_loader:
        data, ya, yb, lam = mixup(data, target)
        optimizer.zero_grad()
        out = model(data)
        loss = lam * F.nll_loss(out, ya) + (1 - lam) * F.nll_loss(out, yb)
        loss.backward()
        optimizer.step()
"""),
)

# ---------------------------------------------------------------- hostile: code that acts if it is ever run

PWNED = "/tmp/mnist8k_importer_PWNED"
HOSTILE = notebook(
    code(f"""
open({PWNED!r}, 'w').write('ran')
import os
os.system('touch {PWNED}_os')
raise SystemExit('this notebook must never be executed')
"""),
    code(IMPORTS + f"""
exec("open({PWNED!r} + '_exec', 'w')")
__import__('os').system('touch {PWNED}_import')
"""),
    code("""
%%writefile helper.py
open('/tmp/mnist8k_importer_PWNED_writefile', 'w')
"""),
    code("""
class Net(nn.Module):
    open('/tmp/mnist8k_importer_PWNED_classbody', 'w')

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))

model = Net()
optimizer = optim.SGD(model.parameters(), lr=0.1)
"""),
)

FILES = {
    "a_inline.ipynb": A,
    "b_sibling/model.py": B_MODEL,
    "b_sibling/b_plateau.ipynb": B,
    "c_onecycle.ipynb": C,
    "d_script/train_script.py": D,
    "e_repo/models/model_3.py": E_MODEL_3,
    "e_repo/models/model_1.py": E_MODEL_1,
    "e_repo/train.ipynb": E,
    "f_untranslatable.ipynb": F_NB,
    "hostile.ipynb": HOSTILE,
}


def main() -> None:
    for rel, text in FILES.items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
