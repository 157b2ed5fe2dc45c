"""Receptive fields, jumps and multiply-accumulates from harness.runner.anatomy, checked against
values worked out by hand, and the `summary` command that prints them."""

from __future__ import annotations

import candidates
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from harness.cli.main import main
from harness.runner import anatomy


def square(rows, kind=None):
    """(rf, jump) per row as single numbers, for square windows; rows of one type if given."""
    picked = [r for r in rows if kind is None or r.type == kind]
    for r in picked:
        assert r.rf is None or r.rf[0] == r.rf[1], r
    return [r.rf[0] if r.rf else None for r in picked], [r.jump[0] if r.jump else None for r in picked]


def test_conv_pool_conv_by_hand():
    # 28 -> conv3 -> 26 -> pool2 -> 13 -> conv3 -> 11.
    # RF: 1 + 2*1 = 3; 3 + 1*1 = 4 (jump becomes 2); 4 + 2*2 = 8.
    # MACs: 26*26*4 outputs * 1*9 = 24,336; pooling 0; 11*11*8 outputs * 4*9 = 34,848.
    net = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, bias=False))
    found = anatomy.inspect(net)
    assert square(found.rows) == ([3, 4, 8], [1, 2, 2])
    assert [r.macs for r in found.rows] == [24_336, 0, 34_848]
    assert [r.output_shape for r in found.rows] == [(1, 4, 26, 26), (1, 4, 13, 13), (1, 8, 11, 11)]
    assert found.macs == 59_184 and found.params == 36 + 288
    assert found.head_rf == (8, 8) and found.covers is False  # 121 positions, each sees 8x8


def test_model1_by_hand():
    # 3x3 convs: RF 3, 5, 7; pool: 8 (jump 2); 1x1: 8; 3x3: 12, 16; 1x1: 16; 7x7 on 7x7: 16 + 6*2 = 28.
    found = candidates.build("model1", anatomy=True).anatomy  # inspected inside the runner
    assert square(found.rows, "Conv2d") == ([3, 5, 7, 8, 12, 16, 16, 28], [1, 1, 1, 2, 2, 2, 2, 2])
    assert square(found.rows, "MaxPool2d") == ([8], [2])
    assert found.params == 10_790
    # out_h*out_w*out_c * in_c*kh*kw per conv: 26*26*10*9 + 24*24*10*90 + 22*22*20*90 + 11*11*10*20
    # + 9*9*10*90 + 7*7*20*90 + 7*7*10*20 + 1*1*10*490
    assert found.macs == 60_840 + 518_400 + 871_200 + 24_200 + 72_900 + 88_200 + 9_800 + 4_900
    assert found.head_rf == (28, 28) and found.covers is True


def test_global_mean_and_linear_cover_the_map():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, 4, 3, padding=1),
                nn.BatchNorm2d(4),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(4, 8, 3, padding=1),
            )
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            return F.log_softmax(self.fc(self.body(x).mean((2, 3))), dim=1)

    found = anatomy.inspect(Net())
    # BatchNorm and ReLU keep the field; the mean over the 14x14 map with jump 2 adds 13*2.
    assert square(found.rows) == ([3, 3, 3, 4, 8, 8 + 13 * 2], [1, 1, 1, 2, 2, 28])
    assert [r.macs for r in found.rows] == [28 * 28 * 4 * 9, 0, 0, 0, 14 * 14 * 8 * 36, 80]
    assert found.covers is True


def test_a_stride_that_skips_pixels_does_not_cover():
    # A 1x1 stride-2 conv sees pixels 0, 2, ..., 26 of each row: 14 positions, and a global
    # pool over them spans 1 + 13*2 = 27 pixels, so row and column 27 are never seen.
    net = nn.Sequential(nn.Conv2d(1, 2, 1, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    found = anatomy.inspect(net)
    assert square(found.rows) == ([1, 27, 27], [2, 28, 28])
    assert found.head_rf == (27, 27) and found.covers is False


def test_nested_blocks_functional_pooling_and_a_residual_join():
    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.inner = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU())

        def forward(self, x):
            return x + self.inner(x)  # joined outside any module: the block's branch is followed

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3)
            self.blocks = nn.Sequential(Block(4), Block(4))
            self.head = nn.Conv2d(4, 10, 1)

        def forward(self, x):
            x = F.max_pool2d(self.stem(x), 2)  # 26 -> 13, inferred as a 2x2 pooling
            return self.head(self.blocks(x)).flatten(1)

    found = anatomy.inspect(Net())
    names = [r.name for r in found.rows]
    assert names == ["stem", "blocks.0.inner.0", "blocks.0.inner.1", "blocks.1.inner.0", "blocks.1.inner.1", "head"]
    # stem 3; pooling 4 (jump 2); each 3x3 adds 2*2.
    assert square(found.rows) == ([3, 8, 8, 12, 12, 12], [1, 2, 2, 2, 2, 2])
    assert found.head_rf == (12 + 12 * 2, 12 + 12 * 2)  # flatten(1) of a 13x13 map: taken as covering it


def test_groups_dilation_same_padding_and_rectangles():
    net = nn.Sequential(
        nn.Conv2d(1, 4, (3, 1)),  # 26x28: RF 3x1
        nn.Conv2d(4, 4, 3, groups=4, dilation=2, padding="same"),  # RF + 2*2 each way
        nn.Conv2d(4, 6, 1),
    )
    found = anatomy.inspect(net)
    assert [r.rf for r in found.rows] == [(3, 1), (7, 5), (7, 5)]
    assert [r.jump for r in found.rows] == [(1, 1)] * 3
    # depthwise: 26*28*4 outputs * (4/4)*9; pointwise: 26*28*6 * 4
    assert [r.macs for r in found.rows] == [26 * 28 * 4 * 3, 26 * 28 * 4 * 9, 26 * 28 * 6 * 4]


def test_an_unknown_resize_makes_the_field_unknown():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=2), nn.Conv2d(2, 2, 3))
    found = anatomy.inspect(net)
    assert [r.rf for r in found.rows] == [(3, 3), None, None]
    assert found.head_rf is None and found.covers is None
    assert found.rows[2].macs == 50 * 50 * 2 * 2 * 9  # MACs do not need the field


def test_shared_module_counts_parameters_once_and_work_twice():
    conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), conv, conv)
    found = anatomy.inspect(net)
    assert [r.params for r in found.rows] == [2, 36, 0]
    assert [r.macs for r in found.rows] == [28 * 28 * 2, 28 * 28 * 2 * 18, 28 * 28 * 2 * 18]
    assert square(found.rows)[0] == [1, 3, 5]


def test_summary_prints_fields_macs_and_totals(capsys):
    assert main(["summary", "model1"]) == 0
    out = capsys.readouterr().out
    head = next(line for line in out.splitlines() if line.startswith("head "))
    assert head.split()[-4:] == ["4,900", "28", "2", "4,900"]  # parameters, RF, jump, MACs
    assert "total: 10,790 parameters" in out
    assert "multiply-accumulates per image: 1,650,440" in out
    assert "receptive field at the head: 28x28 pixels; covers the 28x28 input: yes" in out
    assert "BatchNorm, ReLU" in out and "count 0" in out


def test_functional_convolutions_count_though_hooks_miss_them():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 1, 3, 3))
            self.head = nn.Linear(4 * 26 * 26, 10, bias=False)

        def forward(self, x):
            return self.head(F.conv2d(x, self.weight).flatten(1))

    found = anatomy.inspect(Functional())
    assert sum(r.macs for r in found.rows) == 4 * 26 * 26 * 10  # the Linear row only
    assert found.macs == 26 * 26 * 4 * 9 + 4 * 26 * 26 * 10  # the functional convolution too


@pytest.mark.parametrize(
    "net",
    [
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1)),
        # average pooling: max pooling routes the gradient to one pixel per window, hiding the rest
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 2, 3), nn.Conv2d(2, 1, 1)),
        nn.Sequential(nn.Conv2d(1, 2, 5, stride=2), nn.Conv2d(2, 2, 3, dilation=2)),
    ],
    ids=["conv-conv", "conv-pool-conv-1x1", "strided-dilated"],
)
def test_receptive_field_is_the_support_of_the_gradient(net):
    """The reference: the input pixels a central output position depends on, by autograd."""
    torch.manual_seed(0)
    for p in net.parameters():
        p.data.abs_()  # positive weights: no cancellation can hide a dependency
    x = torch.rand(1, 1, 28, 28, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    rows, cols = (x.grad[0, 0] != 0).nonzero(as_tuple=True)
    support = (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
    assert anatomy.inspect(net).head_rf == support


# ---------------------------------------------------------------- the traced program's reading, against the hooks


def traced(net: nn.Module) -> anatomy.Anatomy:
    """The table `summary` shows: read from the evaluation program the trainer loads."""
    from harness.runner import programs

    program, _ = programs.load(programs.export(net))
    return anatomy.inspect_program(program.eval_graph)


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3)
        self.inner = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(4, 10, 1)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 2)
        return self.head(x + self.inner(x)).mean((2, 3))


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, bias=False)),
        lambda: nn.Sequential(nn.Conv2d(1, 2, 1, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        lambda: nn.Sequential(
            nn.Conv2d(1, 4, (3, 1)), nn.Conv2d(4, 4, 3, groups=4, dilation=2, padding="same"), nn.Conv2d(4, 6, 1)
        ),
        lambda: nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(4, 8, 3),
            nn.Flatten(),
            nn.Linear(8 * 12 * 12, 10),
        ),
        _Residual,
    ],
    ids=["conv-pool-conv", "strided-global", "groups-dilation-same", "bn-avgpool-linear", "residual-functional"],
)
def test_the_program_table_agrees_with_the_hooks(make):
    torch.manual_seed(0)
    net = make().eval()
    by_hooks, by_graph = anatomy.inspect(net), traced(net)
    keys = ("name", "type", "input_shape", "output_shape", "params", "rf", "jump", "macs")
    assert [[getattr(r, k) for k in keys] for r in by_graph.rows] == [
        [getattr(r, k) for k in keys] for r in by_hooks.rows
    ]
    assert (by_graph.head_rf, by_graph.covers, by_graph.macs) == (by_hooks.head_rf, by_hooks.covers, by_hooks.macs)
