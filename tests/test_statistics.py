"""BatchNorm recalibration (the recipe's `bn_recalibration`) against its reference,
torch.optim.swa_utils.update_bn: the same statistics on a module and on its traced program;
nothing else changes (counters, momentum, mode, the random generator, the graph); training is
untouched; bad values are named. Resuming a recalibrated run is in tests/test_engine.py."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
from torch.optim.swa_utils import update_bn

from harness.engine import loop
from harness.engine.recipe import Recipe, RecipeError
from harness.engine.statistics import recalibrate
from harness.runner import programs
from tests.test_engine import AUGMENTED, fake_mnist, run, small_net


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def net(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Conv2d(4, 6, 3),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 24 * 24, 10),
    )
    m.train()(torch.randn(8, 1, 28, 28))  # statistics that are not the recalibrated ones
    return m


def images(n: int = 2500) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.2


def statistics(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}


def reference(model: nn.Module, x: torch.Tensor) -> dict:
    twin = copy.deepcopy(model)
    update_bn([x[i : i + 1000] for i in range(0, len(x), 1000)], twin)
    return statistics(twin.state_dict())


def assert_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6, msg=k)


def test_a_module_gets_update_bns_statistics_and_keeps_the_rest():
    model, x = net(), images()
    want = reference(model, x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    rng = torch.get_rng_state()
    assert recalibrate(model, x, 1000) == 2
    after = model.state_dict()
    assert_close(statistics(after), want)
    assert all(not torch.equal(before[k], after[k]) for k in want)  # they did change
    assert all(torch.equal(before[k], after[k]) for k in before if k not in want)  # counters, weights
    assert [m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)] == [0.1, 0.1]
    assert not model.training and torch.equal(torch.get_rng_state(), rng)


def test_a_traced_program_gets_the_statistics_its_module_gets():
    model, x = net(), images()
    program, _ = programs.load(programs.export(copy.deepcopy(model)))
    code = program.train_graph.code
    assert recalibrate(program, x, 1000) == 2
    assert_close(statistics(program.weights()), reference(model, x))
    assert program.train_graph.code == code  # the momentum written into the graph is put back
    momenta = [n.args[6] for n in program.train_graph.graph.nodes if n.target == torch.ops.aten.batch_norm.default]
    assert momenta == [0.1, 0.1]
    # the evaluation graph reads the same tensors: it scores with the new statistics
    twin = copy.deepcopy(model)
    update_bn([x[i : i + 1000] for i in range(0, len(x), 1000)], twin)
    program.eval()
    torch.testing.assert_close(program(x[:64]), twin.eval()(x[:64]), rtol=1e-4, atol=1e-5)


def test_dropout_draws_do_not_move_the_global_generator():
    model = net(dropout=0.5)
    torch.manual_seed(3)
    recalibrate(model, images(), 1000)
    after = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(torch.rand(3), after)


def test_a_model_without_batchnorm_is_left_alone():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    before = copy.deepcopy(model.state_dict())
    assert recalibrate(model, images(100), 50) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_error_mid_pass_changes_nothing():
    model = net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = torch.cat([images(1000), torch.zeros(1000, 1, 28, 28)])[:, :, :20]  # 20x28: the Linear refuses
    with pytest.raises(RuntimeError):
        recalibrate(model, bad, 1000)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)] == [0.1, 0.1]


# ---------------------------------------------------------------- in the engine


def test_training_is_untouched_and_only_the_scores_move():
    plain = run(recipe=AUGMENTED.replace(ema=0.9), seed=1)
    recal = run(recipe=AUGMENTED.replace(ema=0.9, bn_recalibration=200), seed=1)
    assert [r.train_loss for r in recal.epochs] == [r.train_loss for r in plain.epochs]
    assert [r.train_acc for r in recal.epochs] == [r.train_acc for r in plain.epochs]
    assert [r.test_loss for r in recal.epochs] != [r.test_loss for r in plain.epochs]


def test_the_returned_weights_hold_the_recalibrated_statistics():
    recipe = AUGMENTED.replace(ema=0.9, bn_recalibration=200)
    model = loop.build(small_net, 1)
    result = loop.train(model, recipe, fake_mnist(), 1, "cpu")
    mnist = fake_mnist()
    _, correct = loop.evaluate(model, loop.normalise(mnist.test_images, recipe), mnist.test_labels)
    assert correct == result.epochs[-1].test_correct


@pytest.mark.parametrize("value", [-1, 1.5, 60_001, "all", True])
def test_bad_values_are_named(value):
    with pytest.raises(RecipeError, match="bn_recalibration"):
        Recipe.from_dict({**AUGMENTED.to_dict(), "bn_recalibration": value})


def test_the_field_round_trips():
    r = AUGMENTED.replace(bn_recalibration=10_000)
    assert Recipe.from_dict(r.to_dict()) == r and r.to_dict()["bn_recalibration"] == 10_000
