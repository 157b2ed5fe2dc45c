"""Architecture families searched for model2-model4, written as compact layer specs.

A spec is a list of tokens: ("c", cout, pad) 3x3 conv+BN+ReLU(+dropout), ("d", cout, pad)
depthwise 3x3 + pointwise 1x1 + BN+ReLU, ("t", cout) 1x1 conv+BN+ReLU, ("p",) 2x2 max-pool,
and the head is always GAP then a 1x1 conv to 10 classes.

Tokens added for the frontier sweep (issue #16; the specs above them build exactly as before):
("D", cout, pad) depthwise 3x3 + BN+ReLU, then pointwise 1x1 + BN+ReLU (MobileNet's block: a
second nonlinearity for 2*cin more weights); ("r",) a residual "D" block at constant width,
padding 1: relu(x + BN(pw(relu(BN(dw x))))); ("hb",) as the last token: the 1x1 head is followed
by BatchNorm over the 10 logits (20 weights).
"""

import torch
from torch import nn


class Residual(nn.Module):
    """relu(x + body(x)): the body keeps the shape (padding 1, cout == cin)."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return torch.relu(x + self.body(x))


class SpecNet(nn.Module):
    def __init__(self, spec, dropout=0.0):
        super().__init__()
        layers, c = [], 1
        head_bn = bool(spec) and spec[-1][0] == "hb"
        for tok in spec[:-1] if head_bn else spec:
            kind = tok[0]
            if kind == "p":
                layers.append(nn.MaxPool2d(2))
                continue
            if kind == "r":
                layers.append(
                    Residual(
                        nn.Sequential(
                            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                            nn.BatchNorm2d(c),
                            nn.ReLU(),
                            nn.Conv2d(c, c, 1, bias=False),
                            nn.BatchNorm2d(c),
                        )
                    )
                )
                continue
            cout = tok[1]
            if kind == "c":
                layers += [nn.Conv2d(c, cout, 3, padding=tok[2], bias=False)]
            elif kind == "d":
                layers += [nn.Conv2d(c, c, 3, padding=tok[2], groups=c, bias=False), nn.Conv2d(c, cout, 1, bias=False)]
            elif kind == "D":
                layers += [
                    nn.Conv2d(c, c, 3, padding=tok[2], groups=c, bias=False),
                    nn.BatchNorm2d(c),
                    nn.ReLU(),
                    nn.Conv2d(c, cout, 1, bias=False),
                ]
            elif kind == "t":
                layers += [nn.Conv2d(c, cout, 1, bias=False)]
            else:
                raise ValueError(f"unknown token {tok!r}")
            layers += [nn.BatchNorm2d(cout), nn.ReLU()]
            if dropout and kind != "t":
                layers.append(nn.Dropout(dropout))
            c = cout
        self.features = nn.Sequential(*layers)
        head = nn.Conv2d(c, 10, 1, bias=False)
        self.head = nn.Sequential(head, nn.BatchNorm2d(10)) if head_bn else head

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
    # fifth round, the frontier (issue #16; experiments/frontier.md). d8 above is model3's layout, the control.
    # <= 4,000 parameters: MobileNet blocks ("D": BN+ReLU between depthwise and pointwise), q4 and m4 made "D"
    "q4D": [("c", 8, 0), ("c", 12, 0), ("p",), ("D", 16, 0), ("D", 20, 0), ("D", 24, 0), ("D", 28, 1)],
    "m4D": [("c", 10, 0), ("c", 12, 0), ("p",), ("D", 16, 0), ("D", 20, 0), ("D", 24, 0), ("D", 24, 1)],
    "q4Dh": [("c", 8, 0), ("c", 12, 0), ("p",), ("D", 16, 0), ("D", 20, 0), ("D", 24, 0), ("D", 28, 1), ("hb",)],
    # a cheap stem (one full conv, then separable before the pool) buys width after it
    "s4": [("c", 12, 0), ("D", 16, 0), ("p",), ("D", 20, 0), ("D", 24, 0), ("D", 26, 0), ("D", 26, 1)],
    # a second pool: padded 28 -> 14 -> 7 (t4), unpadded 24 -> 12 -> 6 (t4u), or the second pool early (t4e)
    "t4": [("c", 8, 1), ("c", 12, 1), ("p",), ("D", 16, 1), ("D", 20, 1), ("p",), ("D", 24, 1), ("D", 28, 1)],
    "t4u": [("c", 8, 0), ("c", 12, 0), ("p",), ("D", 16, 1), ("D", 20, 1), ("p",), ("D", 24, 1), ("D", 28, 1)],
    "t4e": [("c", 8, 1), ("c", 12, 1), ("p",), ("D", 16, 1), ("p",), ("D", 20, 1), ("D", 24, 1), ("D", 28, 1)],
    # depth: five separable blocks after the pool (one padded), narrower
    "e4": [("c", 8, 0), ("c", 12, 0), ("p",), ("D", 16, 1), ("D", 16, 0), ("D", 20, 0), ("D", 22, 0), ("D", 20, 1)],
    # a residual block at 6x6 in place of the last, widening one
    "r4": [("c", 8, 0), ("c", 12, 0), ("p",), ("D", 16, 0), ("D", 20, 0), ("D", 24, 0), ("r",)],
    # <= 8,000 parameters: model3 (d8) made "D", with and without a BN head; deeper; two pools; residual; cheap stem
    "d8D": [("c", 8, 0), ("c", 16, 0), ("p",), ("D", 24, 0), ("D", 32, 0), ("D", 44, 0), ("D", 44, 1)],
    "d8Dh": [("c", 8, 0), ("c", 16, 0), ("p",), ("D", 24, 0), ("D", 32, 0), ("D", 44, 0), ("D", 44, 1), ("hb",)],
    "e8": [("c", 8, 0), ("c", 16, 0), ("p",), ("D", 20, 1), ("D", 24, 0), ("D", 32, 0), ("D", 40, 0), ("D", 40, 1)],
    "t8": [("c", 8, 0), ("c", 16, 0), ("p",), ("D", 24, 1), ("D", 32, 1), ("p",), ("D", 44, 1), ("D", 48, 1)],
    "r8": [("c", 8, 0), ("c", 16, 0), ("p",), ("D", 24, 0), ("D", 32, 0), ("D", 42, 0), ("r",)],
    "s8": [("c", 12, 0), ("D", 20, 0), ("p",), ("D", 28, 0), ("D", 36, 0), ("D", 44, 0), ("D", 44, 1)],
}


def params(spec):
    return sum(p.numel() for p in SpecNet(spec).parameters())


def receptive_field(spec):
    rf, jump = 1, 1
    for tok in spec:
        if tok[0] == "p":
            rf, jump = rf + jump, jump * 2
        elif tok[0] in "cdDr":
            rf += 2 * jump
    return rf


def macs(spec):
    m = SpecNet(spec)
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += (
                out.numel() // out.shape[0] * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            )

    for mod in m.modules():
        mod.register_forward_hook(hook)
    m.eval()(torch.zeros(1, 1, 28, 28))
    return total


if __name__ == "__main__":
    for name, spec in ARCHS.items():
        print(f"{name}: params {params(spec):,} rf {receptive_field(spec)} macs {macs(spec) / 1e6:.2f}M")
