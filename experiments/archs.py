"""Architecture families searched for model2-model4, written as compact layer specs.

A spec is a list of tokens: ("c", cout, pad) 3x3 conv+BN+ReLU(+dropout), ("d", cout, pad)
depthwise 3x3 + pointwise 1x1 + BN+ReLU, ("t", cout) 1x1 conv+BN+ReLU, ("p",) 2x2 max-pool,
and the head is always GAP then a 1x1 conv to 10 classes.
"""
import torch
import torch.nn as nn


class SpecNet(nn.Module):
    def __init__(self, spec, dropout=0.0):
        super().__init__()
        layers, c = [], 1
        for tok in spec:
            kind = tok[0]
            if kind == "p":
                layers.append(nn.MaxPool2d(2))
                continue
            cout = tok[1]
            if kind == "c":
                layers += [nn.Conv2d(c, cout, 3, padding=tok[2], bias=False)]
            elif kind == "d":
                layers += [nn.Conv2d(c, c, 3, padding=tok[2], groups=c, bias=False),
                           nn.Conv2d(c, cout, 1, bias=False)]
            elif kind == "t":
                layers += [nn.Conv2d(c, cout, 1, bias=False)]
            layers += [nn.BatchNorm2d(cout), nn.ReLU()]
            if dropout and kind != "t":
                layers.append(nn.Dropout(dropout))
            c = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 10, 1, bias=False)

    def forward(self, x):
        x = self.features(x).mean((2, 3), keepdim=True)
        return self.head(x).flatten(1)


ARCHS = {
    # <= 8,000 parameters: plain 3x3 convolutions, one max-pool at RF 6, a 1x1 squeeze.
    "x8": [("c", 8, 0), ("c", 12, 0), ("p",), ("t", 8), ("c", 12, 0), ("c", 16, 0), ("c", 16, 0), ("c", 12, 1)],
    "k8": [("c", 8, 0), ("c", 16, 0), ("p",), ("t", 10), ("c", 12, 0), ("c", 14, 0), ("c", 14, 0), ("c", 12, 1)],
    # <= 4,000 parameters: depthwise-separable blocks buy width after the pool.
    "q4": [("c", 8, 0), ("c", 12, 0), ("p",), ("d", 16, 0), ("d", 20, 0), ("d", 24, 0), ("d", 28, 1)],
    "v4": [("c", 8, 0), ("c", 12, 0), ("p",), ("d", 16, 0), ("d", 16, 0), ("d", 20, 0), ("d", 24, 0), ("d", 20, 1)],
    # fourth round (CPU): depthwise-separable blocks at the full budget, and between the two budgets.
    "d8": [("c", 8, 0), ("c", 16, 0), ("p",), ("d", 24, 0), ("d", 32, 0), ("d", 48, 0), ("d", 44, 1)],
    "d55": [("c", 8, 0), ("c", 12, 0), ("p",), ("d", 20, 0), ("d", 28, 0), ("d", 36, 0), ("d", 36, 1)],
    # the earlier model4, 3,982 parameters, for a rerun with model3's weight average
    "m4": [("c", 10, 0), ("c", 12, 0), ("p",), ("d", 16, 0), ("d", 20, 0), ("d", 24, 0), ("d", 28, 1)],
    # <= 4,000 parameters, plain convolutions for comparison.
    "p4": [("c", 6, 0), ("c", 10, 0), ("p",), ("t", 6), ("c", 10, 0), ("c", 10, 0), ("c", 10, 0), ("c", 8, 1)],
}


def params(spec):
    return sum(p.numel() for p in SpecNet(spec).parameters())


def receptive_field(spec):
    rf, jump = 1, 1
    for tok in spec:
        if tok[0] == "p":
            rf, jump = rf + jump, jump * 2
        elif tok[0] in "cd":
            rf += 2 * jump
    return rf


def macs(spec):
    m = SpecNet(spec)
    total = 0
    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += out.numel() // out.shape[0] * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
    for mod in m.modules():
        mod.register_forward_hook(hook)
    m.eval()(torch.zeros(1, 1, 28, 28))
    return total


if __name__ == "__main__":
    for name, spec in ARCHS.items():
        print(f"{name}: params {params(spec):,} rf {receptive_field(spec)} macs {macs(spec)/1e6:.2f}M")
