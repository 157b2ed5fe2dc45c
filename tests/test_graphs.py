"""The captured training step (harness.engine.steppers) against the library: its optimizer arithmetic
against torch.optim, and its whole step run eagerly on the CPU against the eager engine's loop.
The capture itself, determinism and the fallback run only where CUDA is present."""

import copy
import os
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from harness.engine import loop, steppers
from harness.engine.recipe import Recipe

ONE_CYCLE = dict(name="OneCycleLR", pct_start=0.3)
# inductor compiles for the CPU with a C++ compiler; without one, compiling falls back (tested below)
compiler = pytest.mark.skipif(
    not any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if c),
    reason="torch.compile on the CPU needs a C++ compiler (Debian/Ubuntu: apt-get install g++)",
)


def tiny(seed=None):
    if seed is not None:
        torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def recipe(**kw):
    return Recipe.from_dict({"epochs": 2, "batch_size": 32, **kw})


OPTIMIZERS = {
    "sgd-nesterov-wd-cycled": dict(
        optimizer=dict(name="SGD", lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3), schedule=ONE_CYCLE
    ),
    "sgd-dampened": dict(
        optimizer=dict(name="SGD", lr=0.05, momentum=0.8, dampening=0.3),
        schedule=dict(name="StepLR", step_size=1, gamma=0.5),
    ),
    "sgd-plain": dict(optimizer=dict(name="SGD", lr=0.05)),
    "adam-l2-cycled-betas": dict(optimizer=dict(name="Adam", lr=0.01, weight_decay=1e-4), schedule=ONE_CYCLE),
    "adamw": dict(
        optimizer=dict(name="AdamW", lr=0.01, weight_decay=0.05), schedule=dict(ONE_CYCLE, cycle_momentum=False)
    ),
}


@pytest.mark.parametrize("case", sorted(OPTIMIZERS))
def test_captured_optimizer_matches_torch_optim(case):
    """Same gradients, same schedule: the foreach update with device-tensor hyperparameters
    lands where torch.optim's step does, step after step (the momentum or beta1 cycling included)."""
    r = recipe(**OPTIMIZERS[case])
    ref, mine = tiny(0), tiny(0)
    steps = 12
    ref_opt, mine_opt = r.optimizer.build(ref.parameters()), r.optimizer.build(mine.parameters())
    ref_sched = r.schedule.build(ref_opt, r.epochs, steps) if r.schedule else None
    mine_sched = r.schedule.build(mine_opt, r.epochs, steps) if r.schedule else None
    captured = steppers._CapturedOptimizer(mine_opt, list(mine.parameters()))
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        grads = [torch.randn(p.shape, generator=gen) for p in ref.parameters()]
        for p, g in zip(ref.parameters(), grads):
            p.grad = g.clone()
        hp = torch.tensor(captured.values())
        mine_opt._opt_called = True
        ref_opt.step()
        captured.step([g.clone() for g in grads], hp, first=step == 0)
        for s in (ref_sched, mine_sched):
            if s is not None:
                s.step()
        for a, b in zip(ref.parameters(), mine.parameters()):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=f"{case}, step {step + 1}")


def test_unsupported_optimizer_is_named():
    model = tiny()
    opt = torch.optim.RMSprop(model.parameters(), lr=0.01)
    with pytest.raises(steppers.NotCapturable, match="optimizer RMSprop has no captured step"):
        steppers._CapturedOptimizer(opt, list(model.parameters()))
    opt = torch.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    with pytest.raises(steppers.NotCapturable, match=r"Adam\(amsgrad=True\)"):
        steppers._CapturedOptimizer(opt, list(model.parameters()))


def test_capture_needs_cuda():
    r = recipe(optimizer=dict(name="SGD", lr=0.05, momentum=0.9))
    model = tiny()
    opt = r.optimizer.build(model.parameters())
    with pytest.raises(steppers.NotCapturable, match="CUDA graphs need a CUDA device"):
        steppers.GraphSteps(model, r, opt, None, False, None, 64, torch.device("cpu"), torch.Generator())


def _data(n=200, seed=3):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 28, 28), generator=gen, dtype=torch.uint8), torch.randint(
        0, 10, (n,), generator=gen
    )


@pytest.mark.parametrize("case", ["sgd-nesterov-wd-cycled", "adam-l2-cycled-betas"])
def test_captured_step_run_eagerly_matches_the_eager_loop(case):
    """The whole step as it is captured (batch gather inside, the schedule from the table,
    clipping, the weight average, the last partial batch), run uncaptured on the CPU, against the
    engine's eager loop on the same batches: the same losses and weights up to float rounding."""
    r = recipe(**OPTIMIZERS[case], clip_grad_norm=1.0, ema=0.9, label_smoothing=0.1)
    x, y = _data()
    n, steps = len(x), loop.steps_per_epoch(len(x), r.batch_size)
    runs = {}
    for kind in ("eager", "graph"):
        model = tiny(0)
        opt = r.optimizer.build(model.parameters())
        sched, per_step = loop.make_schedule(opt, r, steps)
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(r.ema), use_buffers=True
        )
        if kind == "eager":
            stepper = loop.EagerSteps(model, r, opt, sched, per_step, ema, torch.contiguous_format, torch.Generator())
        else:
            stepper = steppers.GraphSteps(
                model, r, opt, sched, per_step, ema, n, torch.device("cpu"), torch.Generator(), capture=False
            )
        losses = []
        for epoch in range(r.epochs):
            order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
            step_losses, corrects = stepper.epoch(x, y, order, None)
            losses.append(step_losses.clone())
            assert int(corrects.sum()) <= n
        runs[kind] = (torch.cat(losses), copy.deepcopy(ema.module.state_dict()), opt.param_groups[0]["lr"])
    (la, wa, lra), (lb, wb, lrb) = runs["eager"], runs["graph"]
    assert len(la) == 2 * steps and steps * r.batch_size > n  # a partial last batch was trained
    torch.testing.assert_close(lb, la, rtol=1e-4, atol=1e-5)
    for k in wa:
        torch.testing.assert_close(wb[k].float(), wa[k].float(), rtol=1e-4, atol=1e-5, msg=k)
    assert lra == lrb  # the schedule advanced by the same steps


def _epochs(stepper, x, y, epochs=2):
    losses = []
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        losses.append(stepper.epoch(x, y, order, None)[0].clone())
    return torch.cat(losses)


@compiler
def test_compiled_step_matches_the_step_as_called_and_repeats_exactly():
    """torch.compile's step (inductor's fused kernels, on the CPU here) against the same step as
    called: the same losses and weights up to float rounding, since fusing changes the order of
    sums; and the compiled step run twice from the same start gives the same numbers exactly."""
    r = recipe(**OPTIMIZERS["adam-l2-cycled-betas"], clip_grad_norm=1.0, ema=0.9, label_smoothing=0.1)
    x, y = _data()
    n, steps = len(x), loop.steps_per_epoch(len(x), r.batch_size)
    runs = {}
    for name, compiled in (("called", False), ("compiled", True), ("compiled again", True)):
        model = tiny(0)
        opt = r.optimizer.build(model.parameters())
        sched, per_step = loop.make_schedule(opt, r, steps)
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(r.ema), use_buffers=True
        )
        gen = torch.Generator().manual_seed(1)
        stepper = steppers.GraphSteps(
            model, r, opt, sched, per_step, ema, n, torch.device("cpu"), gen, capture=False, compile=compiled
        )
        assert stepper.kind == ("compiled" if compiled else "stepwise")
        runs[name] = (_epochs(stepper, x, y), copy.deepcopy(ema.module.state_dict()))
    (la, wa), (lb, wb), (lc, wc) = runs["called"], runs["compiled"], runs["compiled again"]
    torch.testing.assert_close(lb, la, rtol=1e-4, atol=1e-5)
    for k in wa:
        torch.testing.assert_close(wb[k].float(), wa[k].float(), rtol=1e-4, atol=1e-5, msg=k)
    assert torch.equal(lb, lc) and all(torch.equal(wb[k], wc[k]) for k in wb)


@compiler
@pytest.mark.parametrize("optimizer", [dict(name="SGD", lr=0.05, momentum=0.9), dict(name="Adam", lr=0.01)])
def test_compiled_run_resumed_from_a_checkpoint_gives_the_uninterrupted_numbers(optimizer):
    """The compiled step keeps its optimizer state in its own tensors; a checkpoint holds it in
    torch's format (momentum buffers, Adam's moments and step), and resuming puts it back."""
    import io

    from harness.engine.data import MNIST

    x, y = _data(256)
    data = MNIST(x, y, x[:64], y[:64], Path("/nonexistent"), "test")
    r = recipe(optimizer=optimizer, ema=0.9, schedule=ONE_CYCLE).replace(epochs=3)
    states = []

    def keep(state):  # as if written to disk: the live tensors move on
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        states.append(torch.load(buf, weights_only=False))

    whole = loop.train(loop.build(tiny, 2), r, data, 2, compile=True, checkpoint=keep)
    assert whole.execution["engine"] == "compiled" and len(states) == 3
    saved = states[0]["optimizer"]["state"]
    assert len(saved) == len(list(tiny().parameters()))
    assert set(saved[0]) == ({"momentum_buffer"} if optimizer["name"] == "SGD" else {"step", "exp_avg", "exp_avg_sq"})
    resumed = loop.train(loop.build(tiny, 2), r, data, 2, compile=True, resume=copy.deepcopy(states[0]))
    assert resumed.execution["engine"] == "compiled"
    assert [(e.train_loss, e.test_loss, e.test_correct) for e in resumed.epochs] == [
        (e.train_loss, e.test_loss, e.test_correct) for e in whole.epochs
    ]


class Syncing(nn.Module):
    """A forward that reads a number back to the host: neither one graph nor capturable."""

    def __init__(self):
        super().__init__()
        self.net = tiny()

    def forward(self, x):
        out = self.net(x)
        if out.abs().max().item() > 1e6:
            out = out / 2
        return out


def test_compiling_a_step_that_cannot_be_compiled_falls_back_to_eager_with_the_reason():
    from harness.engine.data import MNIST

    x, y = _data(256)
    data = MNIST(x, y, x[:64], y[:64], Path("/nonexistent"), "test")
    sgd = recipe(optimizer=dict(name="SGD", lr=0.05, momentum=0.9)).replace(epochs=1)
    res = loop.train(loop.build(Syncing, 0), sgd, data, 0, compile=True)
    assert res.status == "completed", res.error
    assert res.execution["engine"] == "eager" and res.execution["fallback"].startswith("compiling failed: ")
    plain = loop.train(loop.build(Syncing, 0), sgd, data, 0)  # the fallback's numbers are the eager run's
    assert [e.train_loss for e in res.epochs] == [e.train_loss for e in plain.epochs]


@compiler
def test_a_compiled_run_says_so_in_its_record():
    from harness.engine.data import MNIST

    x, y = _data(256)
    data = MNIST(x, y, x[:64], y[:64], Path("/nonexistent"), "test")
    sgd = recipe(optimizer=dict(name="SGD", lr=0.05, momentum=0.9)).replace(epochs=1)
    compiled = loop.train(loop.build(tiny, 0), sgd, data, 0, compile=True)
    assert compiled.status == "completed" and compiled.execution == {"deterministic": True, "engine": "compiled"}


def test_seeds_back_to_back_in_one_process_get_the_numbers_each_gets_alone():
    """benchmarks/seeds.py's check, on the CPU: two seeds of model3 trained one after the other in
    one process, then each in a process of its own, give the same per-epoch numbers (nothing a run
    leaves behind in a process, generators or caches, reaches the next)."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, str(root / "benchmarks" / "seeds.py"), "--seeds", "0,1", "--limit-train", "256"]
    done = subprocess.run([*cmd, "--epochs", "1", "--threads", "1", "--check-alone"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "same as alone: True" in done.stdout and "same as alone: False" not in done.stdout
    runs = json.loads(done.stdout.strip().splitlines()[-1])["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and runs[0]["numbers"] != runs[1]["numbers"]


# ---------------------------------------------------------------- on a GPU only

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
def test_cuda_same_seed_twice_gives_the_same_numbers():
    """The gate's determinism on the GPU: model3 through the runner twice, two epochs."""
    from candidates import run_candidate

    a = run_candidate("model3", seed=0, device="cuda", epochs=2)
    b = run_candidate("model3", seed=0, device="cuda", epochs=2)
    assert a.execution["engine"] == "cuda-graphs", a.execution
    assert [(e.test_correct, e.train_loss, e.test_loss) for e in a.epochs] == [
        (e.test_correct, e.train_loss, e.test_loss) for e in b.epochs
    ]


@cuda
def test_cuda_compiled_and_captured_same_seed_twice_gives_the_same_numbers():
    """The compiled step captured as CUDA graphs keeps the gate's determinism: two runs in one
    process (the second reuses what the first compiled), model3, two epochs, the same numbers."""
    from harness.engine.data import load
    from harness.judge import catalog
    from harness.runner import programs
    from harness.runner.builder import load_builder

    entry = catalog.scan(catalog.REPO_MODELS)["model3"]
    r, data = Recipe.from_dict(entry.recipe).replace(epochs=2), load()
    runs = []
    for _ in range(2):
        program, _ = programs.load(programs.export(loop.build(load_builder(entry.file, entry.name), 0)))
        runs.append(loop.train(program, r, data, 0, "cuda", compile=True, cuda_graphs="on"))
    a, b = runs
    assert a.execution["engine"] == "compiled+cuda-graphs", a.execution
    assert [(e.test_correct, e.train_loss, e.test_loss) for e in a.epochs] == [
        (e.test_correct, e.train_loss, e.test_loss) for e in b.epochs
    ]


@cuda
@pytest.mark.parametrize("cuda_graphs", ["off", "on"])
def test_cuda_run_with_dropout_resumed_gives_the_uninterrupted_numbers(cuda_graphs):
    """The checkpoint holds the CUDA generator the dropout masks come from, eager or captured."""
    import io

    from harness.engine.data import MNIST

    def dropping():
        return nn.Sequential(nn.Dropout(0.2), tiny())

    x, y = _data(512)
    data = MNIST(x, y, x[:100], y[:100], Path("/nonexistent"), "test")
    r = recipe(optimizer=dict(name="SGD", lr=0.05, momentum=0.9)).replace(epochs=3)
    states = []

    def keep(state):
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        states.append(torch.load(buf, weights_only=False))

    whole = loop.train(loop.build(dropping, 1), r, data, 1, "cuda", cuda_graphs=cuda_graphs, checkpoint=keep)
    resumed = loop.train(loop.build(dropping, 1), r, data, 1, "cuda", cuda_graphs=cuda_graphs, resume=states[0])
    assert whole.status == resumed.status == "completed", (whole.error, resumed.error)
    assert whole.execution["engine"] == ("eager" if cuda_graphs == "off" else "cuda-graphs"), whole.execution
    assert [(e.train_loss, e.test_correct) for e in resumed.epochs] == [
        (e.train_loss, e.test_correct) for e in whole.epochs
    ]


@cuda
def test_cuda_uncapturable_step_falls_back_to_eager_with_the_reason():
    from harness.engine.data import MNIST

    x, y = _data(512)
    data = MNIST(x, y, x[:100], y[:100], Path("/nonexistent"), "test")
    model = loop.build(Syncing, 0)
    res = loop.train(
        model, recipe(optimizer=dict(name="SGD", lr=0.05, momentum=0.9)).replace(epochs=1), data, 0, "cuda"
    )
    assert res.status == "completed", res.error
    assert res.execution["engine"] == "eager" and "capture failed" in res.execution["fallback"]


def test_every_record_says_how_it_was_computed():
    """The engine's account in the record: eager on the CPU, deterministic; and what a runner
    reports is kept to short plain values by the judge."""
    from harness.engine.data import MNIST
    from harness.judge import trial

    x, y = _data(256)
    data = MNIST(x, y, x[:64], y[:64], Path("/nonexistent"), "test")
    res = loop.train(loop.build(tiny, 0), recipe(optimizer=dict(name="SGD", lr=0.05)).replace(epochs=1), data, 0)
    assert res.execution == {"deterministic": True, "engine": "eager"}
    told = trial._execution({"engine": "x" * 1000, "gpu": ["not", "plain"], **{f"k{i}": i for i in range(40)}})
    assert len(told) == 20 and len(told["engine"]) == 300 and told["gpu"] == "['not', 'plain']"
    assert trial._execution("not a dict") == {}
