"""One trial, from the judge's side: start a runner for a candidate file, check what it
built (budget counted from its state dict, seed ownership), feed it the training set and the
test images in a secret order, score its test outputs with the judge's own labels, and
return the RunResult the judge vouches for. The one path for the gate, the CLI and benchmarks."""
from __future__ import annotations

import contextlib
import dataclasses
import secrets
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from . import channel, engine, sandbox
from .budget import Budget, count_state
from .anatomy import Anatomy, LayerRow, _Field
from .data import MNIST
from .records import EpochRow, RunResult
from .recipe import Recipe

CHECK_SEED_OFFSET = 1_000_003  # the second seed a candidate is built with, to see that the seed is ours
IDLE_LIMIT = 1800.0  # seconds a runner may go without a message before it is stopped


class TrialStopped(Exception):
    """The trial ended before training: the candidate broke, or broke a rule the judge checks
    itself. `params` is the count when one was made."""

    def __init__(self, reason: str, params: int | None = None):
        super().__init__(reason)
        self.reason, self.params = reason, params


class RunnerFailed(RuntimeError):
    """The runner process died or broke the protocol; the message carries the end of its stderr."""


@dataclass(frozen=True)
class Settings:
    """How the judge starts runners in this session."""

    isolation: sandbox.Isolation
    device: str = "cpu"
    threads: int = 0  # torch threads in the runner; 0: torch's default
    idle_limit: float = IDLE_LIMIT
    cuda_graphs: str = "auto"  # on CUDA: auto (capture, else eager with the reason), off, on


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- the runner process

_LIVE: set = set()  # runners not yet closed, so an interrupted judge can end them all


def kill_all() -> None:
    """End every live runner (after Ctrl-C in a judge that drives several at once)."""
    for r in list(_LIVE):
        r.kill()

class Runner:
    """A started runner: the wire both ways, its stderr kept in a file, a watchdog for hangs."""

    def __init__(self, file: Path, settings: Settings):
        self.settings = settings
        threads = settings.threads
        env = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}  # before CUDA starts, or deterministic cuBLAS cannot be had
        if threads:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        argv, env, self.inside_file = sandbox.runner_command(file, settings.isolation, device=settings.device,
                                                             env=env)
        self.stderr = tempfile.TemporaryFile()
        self.started = time.perf_counter()
        # A session of its own: Ctrl-C reaches the judge, which decides what the runner does.
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=env, start_new_session=True)
        _LIVE.add(self)
        self.last = time.monotonic()
        self._done = threading.Event()
        self.timed_out = False
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._done.wait(5.0):
            if time.monotonic() - self.last > self.settings.idle_limit:
                self.timed_out = True
                self.kill()
                return

    def send(self, kind: str, **payload) -> None:
        try:
            channel.send(self.proc.stdin, kind, **payload)
        except (BrokenPipeError, OSError) as e:
            raise RunnerFailed(self._why(f"the runner stopped reading ({e})")) from None
        self.last = time.monotonic()

    def receive(self) -> dict:
        try:
            message = channel.receive(self.proc.stdout)
        except channel.ChannelError as e:
            raise RunnerFailed(self._why(str(e))) from None
        self.last = time.monotonic()
        return message

    def tail(self, lines: int = 8) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def _why(self, what: str) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)
        code = self.proc.returncode
        parts = [what]
        if self.timed_out:
            parts.append(f"no message for {self.settings.idle_limit:.0f} s, so it was stopped")
        if code is not None:
            parts.append(f"exit status {code}")
        said = self.tail()
        return "; ".join(parts) + (f"; its last words:\n{said}" if said else "")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            self.proc.kill()

    def close(self) -> None:
        _LIVE.discard(self)
        self._done.set()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        self.stderr.close()


@contextlib.contextmanager
def runner(file: Path, settings: Settings):
    r = Runner(file, settings)
    try:
        yield r
    except BaseException:
        r.kill()
        raise
    finally:
        r.close()


# ---------------------------------------------------------------- build and check

@dataclass
class Built:
    """A candidate as the judge has seen it built, before any training."""

    runner: Runner
    state: dict[str, torch.Tensor]  # under the trial's seed
    budget: Budget
    anatomy: Anatomy | None = None
    trainable: int | None = None  # as the runner reports it: for people to read, not for the budget


def _anatomy(info: dict) -> Anatomy | None:
    if not info:
        return None
    head = _Field(**info["head"]) if info.get("head") else None
    counted = info.get("counted_macs")
    return Anatomy([LayerRow(**row) for row in info["rows"]], tuple(info["input_size"]), head,
                   counted if isinstance(counted, int) else None)


def build(r: Runner, name: str, seed: int, *, check_seed: bool = True, anatomy: bool = False) -> Built:
    """Ask the runner to import and build the candidate; TrialStopped if it cannot, or if its
    weights do not come from the seed it was given."""
    seeds = [seed + CHECK_SEED_OFFSET, seed] if check_seed else [seed]
    r.send("start", file=r.inside_file, name=name, seeds=seeds, device=r.settings.device,
           threads=r.settings.threads, anatomy=anatomy)
    reply = r.receive()
    if reply["kind"] == "error":
        what = {"import": "its file could not be imported: ", "build": "the builder raised ",
                "forward": ""}.get(reply["stage"], f"{reply['stage']}: ")
        raise TrialStopped(f"{name}: {what}{reply['message']}")
    if reply["kind"] != "built":
        raise RunnerFailed(f"the runner answered {reply['kind']!r} to the build request")
    states = reply["states"]
    if not isinstance(states, dict) or set(states) != set(seeds) or \
            not all(isinstance(s, dict) and all(isinstance(v, torch.Tensor) for v in s.values())
                    for s in states.values()):
        raise TrialStopped(f"{name}: the runner's build report is malformed (no state dict per seed)")
    state = states[seed]
    if check_seed and state and _same(states[seeds[0]], state):
        raise TrialStopped(f"{name}: identical initial weights under seeds {seeds[1]} and {seeds[0]}: "
                           f"the candidate sets its own seed (the harness owns the seed; remove "
                           f"torch.manual_seed and any fixed initialisation)")
    hidden = reply.get("hidden") or {}
    if not isinstance(hidden, dict):
        hidden = {"(malformed report)": 10 ** 9}
    trainable = reply.get("trainable")
    return Built(r, state, count_state(state, hidden), _anatomy(reply.get("anatomy") or {}),
                 trainable if isinstance(trainable, int) else None)


# ---------------------------------------------------------------- train and score

@dataclass
class Outcome:
    """A finished (or stopped) training, as the judge scored it."""

    result: RunResult
    state: dict[str, torch.Tensor] | None  # final weights, when the run completed
    budget_after: Budget | None = None
    overhead: dict = dataclasses.field(default_factory=dict)  # seconds spent on the split itself


def _execution(told) -> dict:
    """The runner's account of how it computed (engine, card, precision): informative only, since
    the runner is the candidate's process, so kept to short plain values."""
    if not isinstance(told, dict):
        return {}
    return {str(k)[:40]: (v if isinstance(v, (bool, int, float)) or v is None else str(v)[:300])
            for k, v in list(told.items())[:20]}


def _secret_order(n: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(secrets.randbits(62)))


def train(built: Built, name: str, recipe: Recipe, data: MNIST, seed: int, *, limit_train: int | None = None,
          hooks: engine.Hooks | None = None, resume: dict | None = None,
          checkpoint: Callable[[dict], None] | None = None, result_base: RunResult | None = None) -> Outcome:
    """Train in the runner and score every epoch here. Interrupts (Ctrl-C) end the runner and
    raise engine.TrainingInterrupted with every epoch scored so far."""
    r = built.runner
    n_test = len(data.test_labels)
    order = _secret_order(n_test)
    restore = torch.empty_like(order)
    restore[order] = torch.arange(n_test)
    result = result_base or RunResult(candidate=name, params=built.budget.total, seed=seed,
                                      device=r.settings.device, torch=torch.__version__,
                                      threads=r.settings.threads or torch.get_num_threads(),
                                      recipe=recipe.to_dict(), limit_train=limit_train)
    result.isolation = r.settings.isolation.mode
    if resume is not None:
        result.epochs = [EpochRow(**row) for row in resume["rows"]]
    t_send = time.perf_counter()
    overhead = {"start": t_send - r.started}
    r.send("train", recipe=recipe.to_dict(), seed=seed, limit_train=limit_train,
           train_images=data.train_images, train_labels=data.train_labels,
           test_images=data.test_images[order], progress=hooks is not None,
           checkpoints=checkpoint is not None, resume=resume, cuda_graphs=r.settings.cuda_graphs)
    overhead["send_data"] = time.perf_counter() - t_send
    scored: dict[int, tuple[float, int]] = {}
    overhead["scoring"] = 0.0
    try:
        while True:
            msg = r.receive()
            kind = msg["kind"]
            if kind == "outputs":
                t0 = time.perf_counter()
                out = msg["outputs"]
                if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n_test, 10) or not out.is_floating_point():
                    raise RunnerFailed(f"the runner sent test outputs of shape "
                                       f"{list(getattr(out, 'shape', []))}, expected [{n_test}, 10] floats")
                loss_sum, correct = engine.score(out[restore], data.test_labels)
                scored[int(msg["epoch"])] = (loss_sum, correct)
                r.send("score", loss_sum=loss_sum, correct=correct)
                overhead["scoring"] += time.perf_counter() - t0
            elif kind == "epoch":
                row = _judged_row(msg["row"], scored, n_test)
                result.epochs.append(row)
                if hooks:
                    hooks.epoch_end(row)
            elif kind == "epoch_start" and hooks:
                hooks.epoch_start(int(msg["epoch"]), int(msg["steps"]))
            elif kind == "step" and hooks:
                hooks.step(int(msg["step"]), torch.tensor(float(msg["loss"])), torch.tensor(int(msg["correct"])),
                           int(msg["seen"]))
            elif kind == "checkpoint" and checkpoint is not None:
                state = dict(msg["state"])
                state["rows"] = [dataclasses.asdict(x) for x in result.epochs]  # the judge's numbers
                checkpoint(state)
            elif kind == "done":
                break
    except KeyboardInterrupt:
        r.kill()
        result.status = "interrupted"
        result.error = f"interrupted after {len(result.epochs)} finished epochs"
        raise engine.TrainingInterrupted(result) from None
    status = msg.get("status")
    result.status = status if status in ("completed", "diverged", "crashed") else "crashed"
    result.error = msg.get("error") if result.status != "completed" else None
    result.seconds = float(msg.get("seconds") or 0.0)
    result.setup_seconds = float(msg.get("setup_seconds") or 0.0)
    result.execution = _execution(msg.get("execution"))
    state = msg.get("state") if result.status == "completed" else None
    budget_after = None
    if isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()):
        budget_after = count_state(state)
        result.params_after = budget_after.total
    elif result.status == "completed":
        result.status, result.error = "crashed", "the runner finished without handing back its weights"
        state = None
    return Outcome(result, state, budget_after, overhead)


def _judged_row(reported: dict, scored: dict, n_test: int) -> EpochRow:
    """The runner's training figures with the judge's own test score."""
    epoch = int(reported["epoch"])
    if epoch not in scored:
        raise RunnerFailed(f"the runner reported epoch {epoch} without handing in its test outputs")
    loss_sum, correct = scored[epoch]
    return EpochRow(epoch=epoch, train_loss=float(reported["train_loss"]), train_acc=float(reported["train_acc"]),
                    test_loss=loss_sum / n_test, test_acc=100.0 * correct / n_test, test_correct=correct,
                    test_total=n_test, lr=float(reported["lr"]), seconds=float(reported["seconds"]))


def predict(built: Built, state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """The candidate's outputs for already-normalised images with the given weights (which
    must fit it exactly), in the order given."""
    r = built.runner
    order = _secret_order(len(images))
    restore = torch.empty_like(order)
    restore[order] = torch.arange(len(images))
    r.send("predict", state=state, images=images[order])
    msg = r.receive()
    if msg["kind"] == "error":
        raise TrialStopped(str(msg.get("message")))
    out = msg.get("outputs")
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(images), 10):
        raise RunnerFailed(f"the runner sent outputs of shape {list(getattr(out, 'shape', []))}")
    return out[restore]


def infer(built: Built, batch: int, repeat: int) -> tuple[int, ...]:
    """Run `repeat` forward passes on a random batch inside the runner; the output's shape."""
    built.runner.send("infer", batch=batch, repeat=repeat)
    msg = built.runner.receive()
    if msg["kind"] != "inferred":
        raise RunnerFailed(f"the runner answered {msg['kind']!r} to an inference order")
    return tuple(msg["shape"])


def gradients(built: Built, batch: int = 4) -> tuple[list[str], tuple[int, ...]]:
    """(names of trainable parameters that get no gradient from a backward pass, the output
    shape for a training-mode batch), computed in the runner."""
    built.runner.send("gradients", batch=batch)
    msg = built.runner.receive()
    if msg["kind"] != "gradients":
        raise RunnerFailed(f"the runner answered {msg['kind']!r} to a gradient order")
    return list(msg["missing"]), tuple(msg["output_shape"])
