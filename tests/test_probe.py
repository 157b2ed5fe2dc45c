"""The pre-training probe: parameter counts (lazy, frozen and shared parameters) and the
refusal of a model whose output is not a finite N x 10 float tensor."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from harness.engine.checks import CandidateError, count_parameters, materialise


class Output(nn.Module):
    """Returns whatever `make(x)` gives, so a test can choose the bad output."""

    def __init__(self, make):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.make = make

    def forward(self, x):
        return self.make(self.fc(x.flatten(1)))


def test_counts_plain_layers_by_hand():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    # conv 4*9 + 4, BatchNorm weight and bias 4 + 4 (running stats are buffers), linear.
    assert count_parameters(model) == 40 + 8 + (2704 * 10 + 10)


def test_lazy_modules_count_after_materialise():
    model = nn.Sequential(nn.LazyConv2d(3, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
    with pytest.raises(CandidateError, match="uninitialised"):
        count_parameters(model)
    out = materialise(model)
    assert out.shape == (2, 10)
    assert count_parameters(model) == (3 * 9 + 3) + (3 * 26 * 26 * 10 + 10)


def test_frozen_parameters_are_counted():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    full = count_parameters(model)
    for p in model.parameters():
        p.requires_grad_(False)
    assert count_parameters(model) == full == 7850


def test_shared_parameters_count_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(10, 10)
            self.b = nn.Linear(10, 10)
            self.b.weight = self.a.weight  # one tensor, used twice
            self.again = self.a  # the same module under a second name

        def forward(self, x):
            return self.b(self.a(x))

    assert count_parameters(Tied()) == 100 + 10 + 10


def test_materialise_keeps_the_training_mode_and_batchnorm_statistics():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.LazyLinear(10))
    model.train()
    bn = model[1]
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    materialise(model)
    assert model.training and bn.training
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
    assert int(bn.num_batches_tracked) == 0


def test_a_good_output_passes():
    out = materialise(Output(lambda y: y), batch=3)
    assert out.shape == (3, 10) and out.dtype == torch.float32


BAD_OUTPUTS = [
    (
        "eleven_classes",
        lambda y: torch.cat([y, y[:, :1]], 1),
        "output shape [2, 11] for a batch of 2, expected [2, 10]",
    ),
    ("extra_dim", lambda y: y.unsqueeze(-1), "output shape [2, 10, 1] for a batch of 2, expected [2, 10]"),
    ("flat", lambda y: y.flatten(), "output shape [20]"),
    ("integer", lambda y: y.long(), "output dtype torch.int64, expected a floating-point tensor"),
    ("nan", lambda y: y * float("nan"), "output holds NaN or infinity at initialisation"),
    ("inf", lambda y: y.exp() * float("inf"), "output holds NaN or infinity at initialisation"),
    ("tuple", lambda y: (y, y), "output is a tuple, expected a tensor of shape [N, 10]"),
]


@pytest.mark.parametrize("make, said", [b[1:] for b in BAD_OUTPUTS], ids=[b[0] for b in BAD_OUTPUTS])
def test_bad_output_is_refused_saying_what_it_gave(make, said):
    with pytest.raises(CandidateError) as info:
        materialise(Output(make))
    assert said in str(info.value)


def test_a_forward_that_raises_is_refused_with_its_error():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(100, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))  # 784 inputs into a layer that takes 100

    model = Broken().train()
    with pytest.raises(CandidateError) as info:
        materialise(model)
    msg = str(info.value)
    assert "forward pass on a [2, 1, 28, 28] batch failed: RuntimeError" in msg
    assert "784" in msg and "100" in msg  # torch's own words about the mismatch
    assert model.training  # the mode is restored even when the forward raises
