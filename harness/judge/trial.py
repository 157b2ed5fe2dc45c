"""One trial, from the judge's side. The builder process imports the candidate file, builds
it under the judge's seeds and traces it (harness.runner.builder); the trainer process, which never
runs candidate code, loads the traced programs (harness.runner.trainer). The judge counts the budget
and checks the seed from the programs' tensors, feeds the trainer the training set and the
test images in a secret order, scores its test outputs with the judge's own labels, and
returns the RunResult it vouches for. The one path for the gate, the CLI and benchmarks."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeGuard

import torch

from harness.engine import loop
from harness.engine.data import MNIST
from harness.engine.recipe import Recipe
from harness.judge import budget as budgets
from harness.judge import sandbox
from harness.judge import seeds as seeds_check
from harness.judge.budget import Budget
from harness.records.schema import EpochRow, RunResult
from harness.runner import channel
from harness.runner.anatomy import Anatomy, Field, LayerRow

CHECK_SEED_OFFSET = 1_000_003  # the second seed a candidate is built with, to see that the seed is ours
IDLE_LIMIT = 1800.0  # seconds a process may go without a message before it is stopped
BUILD_LIMIT = 120.0  # seconds the builder has to import, build, check and trace
MEMORY_LIMIT = 4 * 2**30  # bytes of data (heap and private mappings) a child may hold
EPOCH_FACTOR = 5.0  # an epoch may take this many times the first one (and at least EPOCH_FLOOR s)
EPOCH_FLOOR = 60.0
# Test images sent twice, each copy among other images: a prediction that uses its batch-mates
# (statistics across the test batch, features pooled over it) gives the two copies different
# outputs. Graphs of per-image ops give bitwise equal ones on the CPU.
REPEATS = 2_000
COMPANY_TOLERANCE = 1e-5  # of 1 + the image's largest output: room for a kernel's rounding, no more


class TrialStopped(Exception):
    """The trial ended before training: the candidate broke, or broke a rule the judge checks
    itself. `params` is the count when one was made."""

    def __init__(self, reason: str, params: int | None = None):
        super().__init__(reason)
        self.reason, self.params = reason, params


class RunnerFailed(RuntimeError):
    """A child process died or broke the protocol; the message carries the end of its stderr."""


def cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS tells it."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    """Torch threads for each of `jobs` runners sharing the cores: more threads than cores in
    all makes every runner slower."""
    return max(1, cores() // max(1, jobs))


@dataclass(frozen=True)
class Settings:
    """How the judge starts its child processes in this session."""

    isolation: sandbox.Isolation
    device: str = "cpu"
    threads: int = 0  # torch threads in the child; 0: torch's default
    idle_limit: float = IDLE_LIMIT
    cuda_graphs: str = "auto"  # on CUDA: auto (capture, else eager with the reason), off, on
    compile: bool = False  # the training step compiled by torch.compile (else eager, with the reason)
    build_limit: float = BUILD_LIMIT
    # RLIMIT_DATA, set by each child before it reads anything: unlike an address-space limit it
    # leaves the CUDA driver's reserved (never written) mappings alone. 0: no limit.
    memory_limit: int = MEMORY_LIMIT
    epoch_factor: float = EPOCH_FACTOR
    epoch_floor: float = EPOCH_FLOOR


def gib(n: int) -> str:
    return f"{n / 2**30:g} GiB"


def memory_breach(text: str | None, limit: int) -> str | None:
    """The limit's own message when `text` is an allocation failure, else None."""
    if (
        text
        and limit
        and (
            "can't allocate memory" in text
            or "MemoryError" in text
            or "Cannot allocate memory" in text
            or "std::bad_alloc" in text
        )
    ):
        return f"exceeded the {gib(limit)} memory limit"
    return None


# ---------------------------------------------------------------- the child processes

_LIVE: set = set()  # processes not yet closed, so an interrupted judge can end them all


def kill_all() -> None:
    """End every live child (after Ctrl-C in a judge that drives several at once)."""
    for r in list(_LIVE):
        r.kill()


class Runner:
    """A started child process, builder or trainer: the wire both ways, its stderr kept in a
    file, a watchdog for hangs."""

    def __init__(self, role: str, settings: Settings, file: Path | None = None):
        self.role, self.settings = role, settings
        threads = settings.threads
        env = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}  # before CUDA starts, or deterministic cuBLAS cannot be had
        if threads:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        argv, env, self.inside_file = sandbox.runner_command(
            role, settings.isolation, candidate_file=file, device=settings.device, env=env
        )
        self.stderr = tempfile.TemporaryFile()
        self.started = time.perf_counter()
        # A session of its own: Ctrl-C reaches the judge, which decides what the child does.
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env, start_new_session=True
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None, "Popen with PIPE opens both pipes"
        self.to_child: IO[bytes] = self.proc.stdin
        self.from_child: IO[bytes] = self.proc.stdout
        _LIVE.add(self)
        self.last = time.monotonic()
        self._done = threading.Event()
        self.timed_out = False
        self.deadline: float | None = None  # monotonic time by which the next message must come
        self.expired: str | None = None  # why the deadline ended the process
        self._why_deadline = ""
        threading.Thread(target=self._watch, daemon=True).start()

    def expect_within(self, seconds: float | None, why: str = "") -> None:
        """The next message must come within `seconds` (None: only the idle limit), or the
        process is stopped and `expired` says `why`."""
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self._why_deadline = why

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            now = time.monotonic()
            if self.deadline is not None and now > self.deadline:
                self.expired = self._why_deadline
                self.kill()
                return
            if now - self.last > self.settings.idle_limit:
                self.timed_out = True
                self.kill()
                return

    def send(self, kind: str, **payload) -> None:
        try:
            channel.send(self.to_child, kind, **payload)
        except (BrokenPipeError, OSError) as e:
            raise RunnerFailed(self._why(f"the {self.role} stopped reading ({e})")) from None
        self.last = time.monotonic()

    def receive(self) -> dict:
        try:
            message = channel.receive(self.from_child)
        except channel.ChannelError as e:
            raise RunnerFailed(self._why(str(e))) from None
        self.last = time.monotonic()
        if self.deadline is not None and self.last > self.deadline:  # late, even if the watchdog slept
            self.expired = self._why_deadline
            self.kill()
            raise RunnerFailed(self._why("the message came after its deadline"))
        return message

    def ask(self, order: str, answer: str, *, within: float | None = None, why: str = "", **payload) -> dict:
        """Send an order and return its answer, which must be of kind `answer` and come within
        `within` seconds (None: only the idle limit). TrialStopped when the child reports an error
        or misses the deadline (the candidate's failure); RunnerFailed for anything else."""
        self.send(order, **payload)
        self.expect_within(within, why)
        try:
            message = self.receive()
        except RunnerFailed:
            if self.expired:
                raise TrialStopped(f"failed: {self.expired}") from None
            raise
        finally:
            self.expect_within(None)
        if message["kind"] == "error":
            raise TrialStopped(str(message.get("message")))
        if message["kind"] != answer:
            raise RunnerFailed(f"the {self.role} answered {message['kind']!r} to a {order!r} order")
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
        if self.expired:
            parts.append(self.expired)
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
            self.to_child.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        self.stderr.close()


class Trial:
    """The processes of one trial: a builder that runs the candidate file, then a trainer that
    never does. Closing the trial ends both."""

    def __init__(self, file: Path, settings: Settings):
        self.file, self.settings = Path(file), settings
        self.processes: list[Runner] = []

    def start(self, role: str) -> Runner:
        r = Runner(role, self.settings, self.file if role == "builder" else None)
        self.processes.append(r)
        return r

    def kill(self) -> None:
        for r in self.processes:
            r.kill()

    def close(self) -> None:
        for r in self.processes:
            r.close()


@contextlib.contextmanager
def runner(file: Path, settings: Settings):
    t = Trial(file, settings)
    try:
        yield t
    except BaseException:
        t.kill()
        raise
    finally:
        t.close()


# ---------------------------------------------------------------- build, trace and check


@dataclass
class Built:
    """A candidate as the judge has seen it traced, before any training."""

    runner: Runner  # the trainer, with the programs loaded
    state: dict[str, torch.Tensor]  # the weights the programs read, under the trial's seed
    budget: Budget
    anatomy: Anatomy | None = None
    trainable: int | None = None  # values of the parameters the optimizer steps


def _anatomy(info: dict) -> Anatomy | None:
    if not info:
        return None
    head = Field(**info["head"]) if info.get("head") else None
    counted = info.get("counted_macs")
    return Anatomy(
        [LayerRow(**row) for row in info["rows"]],
        tuple(info["input_size"]),
        head,
        counted if isinstance(counted, int) else None,
    )


def _tensor_dict(obj: object) -> TypeGuard[dict[str, torch.Tensor]]:
    return isinstance(obj, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _programs(reply: dict, name: str) -> tuple[dict, dict]:
    """(programs, check-seed state) from the builder's reply, or TrialStopped if malformed."""
    progs, check = reply.get("programs"), reply.get("check") or {}
    if not (
        isinstance(progs, dict)
        and isinstance(progs.get("graphs"), dict)
        and all(isinstance(v, bytes) for v in progs["graphs"].values())
        and _tensor_dict(progs.get("state"))
        and isinstance(progs.get("constants"), dict)
        and all(_tensor_dict(c) for c in progs["constants"].values())
        and _tensor_dict(check.get("state", {}))
        and _tensor_dict(check.get("constants", {}))
        and _tensor_dict(check.get("eval_constants", {}))
    ):
        raise TrialStopped(f"{name}: the builder's report is malformed (no programs with their tensors)")
    return progs, check


def build(r: Trial, name: str, seed: int, *, check_seed: bool = True, anatomy: bool = False) -> Built:
    """Build and trace the candidate in a builder, load the programs into a trainer, and check
    them; TrialStopped if the candidate cannot be built or traced, or breaks a rule."""
    seeds = [seed + CHECK_SEED_OFFSET, seed] if check_seed else [seed]
    builder = r.start("builder")
    limit = r.settings.build_limit
    builder.expect_within(limit, f"took more than {limit:g} s to build")
    builder.send(
        "start",
        file=builder.inside_file,
        name=name,
        seeds=seeds,
        threads=r.settings.threads,
        memory_limit=r.settings.memory_limit,
    )
    trainer = r.start("trainer")  # starts (imports torch) while the builder works
    reply = _builder_reply(builder, r.settings, name)
    progs, check = _programs(reply, name)
    # Loading checks and parses what the builder handed in: a hostile graph must not hold the
    # trainer longer than building may take.
    with _named(name):
        loaded = trainer.ask(
            "load",
            "loaded",
            within=limit,
            why=f"took more than {limit:g} s to load its programs",
            name=name,
            device=r.settings.device,
            threads=r.settings.threads,
            memory_limit=r.settings.memory_limit,
            **progs,
        )
    report = loaded["report"]
    tensors = _read_tensors(report["reads"], progs)
    counted = budgets.count(tensors, report["free"])
    if check_seed:
        _check_seed(name, seeds, tensors, progs, check, set(report["free"]), counted.total)
        _check_computed(trainer, name, seeds, check, counted.total)
    state = {k: v for k, v in tensors.items() if "(constant" not in k}
    layers = None
    if anatomy:  # read from the evaluation program in the trainer, like everything else
        with _named(name, counted.total):
            layers = _anatomy(trainer.ask("anatomy", "anatomy"))
    return Built(trainer, state, counted, layers, int(report["trainable"]))


@contextlib.contextmanager
def _named(name: str, params: int | None = None):
    """A TrialStopped from within, named for the candidate and carrying its count."""
    try:
        yield
    except TrialStopped as e:
        raise TrialStopped(f"{name}: {e.reason}", params) from None


_STAGES = {
    "import": "its file could not be imported: ",
    "build": "the builder raised ",
    "forward": "",
    "export": "its forward could not be traced: ",
}


def _builder_reply(builder: Runner, settings: Settings, name: str) -> dict:
    """The builder's one answer, "built"; its limits and errors as the candidate's TrialStopped."""
    try:
        reply = builder.receive()
    except RunnerFailed as e:
        if builder.expired:
            raise TrialStopped(f"{name}: failed: {builder.expired}") from None
        if (breach := memory_breach(str(e), settings.memory_limit)) or builder.proc.returncode == -9:
            raise TrialStopped(f"{name}: failed: {breach or 'killed while building (out of memory?)'}") from None
        raise
    finally:
        builder.close()  # done: nothing of the candidate's process outlives its report
    if reply["kind"] == "error":
        message = reply.get("message")
        if breach := memory_breach(str(message), settings.memory_limit):
            raise TrialStopped(f"{name}: failed: {breach} while building ({str(message)[:200]})")
        what = _STAGES.get(str(reply.get("stage")), f"{reply.get('stage')}: ")
        raise TrialStopped(f"{name}: {what}{message}")
    if reply["kind"] != "built":
        raise RunnerFailed(f"the builder answered {reply['kind']!r} to the build request")
    return reply


def _read_tensors(reads: dict[str, str], progs: dict) -> dict[str, torch.Tensor]:
    """Every tensor the programs read, by the name the trainer reports it under."""
    tensors = {}
    for key, kind in reads.items():
        if kind == "constant":
            mode, _, const = key.partition(":")
            tensors[f"{const} (constant, {mode} program)"] = progs["constants"][mode][const]
        elif key in progs["state"]:
            tensors[key] = progs["state"][key]
        else:  # a non-persistent buffer: torch.export keeps it with the constants
            tensors[key] = next(c[key] for c in progs["constants"].values() if key in c)
    return tensors


def _check_seed(name: str, seeds: list[int], tensors: dict, progs: dict, check: dict, free: set, total: int) -> None:
    """TrialStopped when a weight is the same under the check seed as under the trial's seed: the
    parameters and buffers, and the constants of both programs (an evaluation-only table too)."""
    mine = {
        **{k: v for k, v in tensors.items() if "(constant" not in k},
        **{f"{k} (constant, train program)": v for k, v in progs["constants"].get("train", {}).items()},
        **{f"{k} (constant, eval program)": v for k, v in progs["constants"].get("eval", {}).items()},
    }
    theirs = {
        **check["constants"],
        **check["state"],
        **{f"{k} (constant, train program)": v for k, v in check["constants"].items()},
        **{f"{k} (constant, eval program)": v for k, v in check.get("eval_constants", {}).items()},
    }
    if (found := seeds_check.blind(mine, theirs, free)) is not None:
        key, what = found
        raise TrialStopped(
            f"{name}: weight {key!r} {what} under seeds {seeds[1]} and {seeds[0]}: the harness owns "
            f"the seed; remove torch.manual_seed, generator state and weights written into the file",
            total,
        )


def _check_computed(trainer: Runner, name: str, seeds: list[int], check: dict, total: int) -> None:
    """TrialStopped when a value the programs compute from their weights alone (before reading
    the images) is the same under both seeds, though the weights it comes from are not: a weight
    stored as a seed draw that the graph takes away again (harness.runner.derived)."""
    state = check["state"]
    limit = trainer.settings.build_limit
    with _named(name, total):
        msg = trainer.ask(
            "derived",
            "derived",
            within=limit,
            why=f"took more than {limit:g} s to compute what it computes from its weights",
            check={"train": {**state, **check["constants"]}, "eval": {**state, **check.get("eval_constants", {})}},
        )
    if not (_tensor_dict(msg.get("mine")) and _tensor_dict(msg.get("theirs"))):
        raise RunnerFailed("the trainer's answer to a derived order holds no tensors")
    if (found := seeds_check.blind(msg["mine"], msg["theirs"], set())) is not None:
        key, what = found
        raise TrialStopped(
            f"{name}: the value {key!r}, computed from its weights, {what} under seeds {seeds[1]} and "
            f"{seeds[0]}, though the weights themselves change: a weight stored as a seed draw that the "
            "graph takes away again. The harness owns the initialisation: remove weights written into the file",
            total,
        )


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
    the trainer is the candidate's process, so kept to short plain values."""
    if not isinstance(told, dict):
        return {}
    return {
        str(k)[:40]: (v if isinstance(v, (bool, int, float)) or v is None else str(v)[:300])
        for k, v in list(told.items())[:20]
    }


def _secret_order(n: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(secrets.randbits(62)))


@dataclass
class ImageLayout:
    """Which test images the trainer gets, in what secret order: every image once, and `REPEATS`
    of them a second time, shuffled in among the rest."""

    sent: torch.Tensor  # indices into the test set, in the order sent
    scored_at: torch.Tensor  # scored_at[i]: where image i's scored copy was sent
    first_at: torch.Tensor  # of each repeated image, where its scored copy was sent ...
    again_at: torch.Tensor  # ... and where its second copy was

    @classmethod
    def draw(cls, n: int, repeats: int = REPEATS) -> ImageLayout:
        twice = _secret_order(n)[: min(repeats, n)]
        items = torch.cat([torch.arange(n), twice])
        shuffle = _secret_order(len(items))
        at = torch.empty_like(shuffle)
        at[shuffle] = torch.arange(len(items))
        return cls(items[shuffle], at[:n], at[twice], at[n:])

    def company_problem(self, out: torch.Tensor) -> str | None:
        """Why the two copies of some image got different outputs, or None."""
        first, again = out[self.first_at].float(), out[self.again_at].float()
        gap = (first - again).abs().amax(1)
        over = gap > COMPANY_TOLERANCE * (1 + first.abs().amax(1))
        if not bool(over.any()):
            return None
        worst = int(gap.argmax())
        return (
            f"depend on the other images in their batch: {int(over.sum())} of {len(gap)} test images sent twice, "
            f"each time among other images, got different outputs (up to {float(gap[worst]):.3g} apart, "
            f"{first[worst].tolist()[:3]}... against {again[worst].tolist()[:3]}...); a prediction may use its own "
            "image alone, so no statistics over the batch in evaluation mode (a BatchNorm needs its running "
            "statistics there: not track_running_stats=False, not F.batch_norm(..., training=True))"
        )


def new_result(
    name: str, seed: int, settings: Settings, recipe: dict, params: int = 0, limit_train: int | None = None
) -> RunResult:
    """The one place a judged run's result starts: which candidate and seed, where, how; the
    trainer's epochs are added to it as the judge scores them."""
    return RunResult(
        candidate=name,
        params=params,
        seed=seed,
        device=settings.device,
        torch=torch.__version__,
        threads=settings.threads or torch.get_num_threads(),
        recipe=recipe,
        limit_train=limit_train,
        isolation=settings.isolation.mode,
    )


def train(
    built: Built,
    name: str,
    recipe: Recipe,
    data: MNIST,
    seed: int,
    *,
    limit_train: int | None = None,
    hooks: loop.Hooks | None = None,
    resume: dict | None = None,
    checkpoint: Callable[[dict], None] | None = None,
    result_base: RunResult | None = None,
) -> Outcome:
    """Train in the trainer and score every epoch here. Interrupts (Ctrl-C) end the trainer and
    raise loop.TrainingInterrupted with every epoch scored so far."""
    r = built.runner
    result = result_base or new_result(name, seed, r.settings, recipe.to_dict(), built.budget.total, limit_train)
    if resume is not None:
        result.epochs = [EpochRow(**row) for row in resume["rows"]]
    needs_score = recipe.schedule is not None and recipe.schedule.monitor in ("test_loss", "test_acc")
    scoring = _Scoring(r, result, data.held_test_labels(), needs_score, hooks, checkpoint)
    t_send = time.perf_counter()
    scoring.overhead["start"] = t_send - r.started
    r.send(
        "train",
        recipe=recipe.to_dict(),
        seed=seed,
        limit_train=limit_train,
        train_images=data.train_images,
        train_labels=data.train_labels,
        test_images=data.test_images[scoring.layout.sent],
        progress=hooks is not None,
        checkpoints=checkpoint is not None,
        resume=resume,
        cuda_graphs=r.settings.cuda_graphs,
        compile=r.settings.compile,
    )
    scoring.overhead["send_data"] = time.perf_counter() - t_send
    try:
        done = scoring.follow()
    except KeyboardInterrupt:
        r.kill()
        result.status = "interrupted"
        result.error = f"interrupted after {len(result.epochs)} finished epochs"
        raise loop.TrainingInterrupted(result) from None
    if done is None:  # the runner broke a rule or a limit; the scored epochs stand
        return Outcome(result, None, None, scoring.overhead)
    return _finished(built, result, done, scoring.overhead)


class _Scoring:
    """The judge's side of one training: the test outputs scored in a secret order, once per
    epoch, each epoch's row kept with the judge's numbers, the deadlines kept."""

    def __init__(self, r: Runner, result: RunResult, labels: torch.Tensor, needs_score: bool, hooks, checkpoint):
        self.r, self.result, self.labels, self.needs_score = r, result, labels, needs_score
        self.hooks, self.checkpoint = hooks, checkpoint
        self.layout = ImageLayout.draw(len(labels))
        self.scored: dict[int, tuple[float, int]] = {}
        self.overhead = {"scoring": 0.0}
        self.first_epoch: float | None = None
        self.handlers = {
            "outputs": self._outputs,
            "epoch": self._epoch,
            "epoch_start": self._epoch_start,
            "step": self._step,
            "checkpoint": self._checkpoint,
        }

    def follow(self) -> dict | None:
        """The trainer's messages until "done" (returned); None when the run was stopped."""
        r, result = self.r, self.result
        while True:
            try:
                msg = r.receive()
            except RunnerFailed as e:
                breach = r.expired or memory_breach(str(e), r.settings.memory_limit)
                if not breach:
                    raise
                r.kill()
                result.status = "crashed"
                result.error = f"failed: {breach}; the {len(result.epochs)} finished epochs are kept"
                return None
            if msg["kind"] == "done":
                r.expect_within(None)  # the epochs are over; later orders have only the idle limit
                return msg
            handler = self.handlers.get(msg["kind"])
            breach = handler(msg) if handler is not None else None
            if breach is not None:
                r.expect_within(None)
                r.kill()
                result.status = "crashed"
                result.error = f"the trainer {breach}; the {len(result.epochs)} finished epochs are kept"
                return None

    def _outputs(self, msg: dict) -> str | None:
        t0 = time.perf_counter()
        epoch = msg.get("epoch")
        if not isinstance(epoch, int):
            return "handed in test outputs without an epoch number"
        if epoch in self.scored:
            return f"handed in test outputs twice in epoch {epoch}"
        out = msg.get("outputs")
        problem = outputs_problem(out, len(self.layout.sent))
        if problem is None:
            assert isinstance(out, torch.Tensor), "outputs_problem refuses anything but a tensor"
            problem = self.layout.company_problem(out)
        if problem is not None:
            return f"handed in test outputs in epoch {epoch} that {problem}"
        assert isinstance(out, torch.Tensor), "outputs_problem refuses anything but a tensor"
        loss_sum, correct = loop.score(out[self.layout.scored_at], self.labels)
        self.scored[epoch] = (loss_sum, correct)
        if self.needs_score:  # the recipe steers by a test number; nothing else hears back
            self.r.send("score", loss_sum=loss_sum, correct=correct, images=len(self.labels))
        self.overhead["scoring"] += time.perf_counter() - t0
        return None

    def _epoch(self, msg: dict) -> None:
        r = self.r
        row = _judged_row(msg["row"], self.scored, len(self.labels))
        self.result.epochs.append(row)
        if self.first_epoch is None:
            self.first_epoch = row.seconds
        # An epoch may take a few times the first, never forever: the next must end by then.
        limit = max(r.settings.epoch_floor, r.settings.epoch_factor * self.first_epoch)
        r.expect_within(
            limit,
            f"epoch {row.epoch + 1} took more than {limit:.0f} s "
            f"({r.settings.epoch_factor:g}x the first epoch's {self.first_epoch:.1f} s)",
        )
        if self.hooks:
            self.hooks.epoch_end(row)

    def _epoch_start(self, msg: dict) -> None:
        if self.hooks:
            self.hooks.epoch_start(int(msg["epoch"]), int(msg["steps"]))

    def _step(self, msg: dict) -> None:
        if self.hooks:
            loss, correct = torch.tensor(float(msg["loss"])), torch.tensor(int(msg["correct"]))
            self.hooks.step(int(msg["step"]), loss, correct, int(msg["seen"]))

    def _checkpoint(self, msg: dict) -> None:
        if self.checkpoint is not None:
            state = dict(msg["state"])
            state["rows"] = [dataclasses.asdict(x) for x in self.result.epochs]  # the judge's numbers
            self.checkpoint(state)


def _finished(built: Built, result: RunResult, msg: dict, overhead: dict) -> Outcome:
    """The trainer's last word: its status, timings and the trained weights, counted again."""
    r = built.runner
    status = msg.get("status")
    result.status = status if status in ("completed", "diverged", "crashed") else "crashed"
    result.error = msg.get("error") if result.status != "completed" else None
    if (breach := memory_breach(result.error, r.settings.memory_limit)) is not None:
        result.error = f"failed: {breach} ({result.error})"
    result.seconds = float(msg.get("seconds") or 0.0)
    result.setup_seconds = float(msg.get("setup_seconds") or 0.0)
    result.execution = _execution(msg.get("execution"))
    state = msg.get("state") if result.status == "completed" else None
    budget_after = None
    if _tensor_dict(state):
        budget_after = budgets.count(state, built.budget.excluded)
        result.params_after = budget_after.total
    elif result.status == "completed":
        result.status, result.error = "crashed", "the trainer finished without handing back its weights"
        state = None
    return Outcome(result, state, budget_after, overhead)


def outputs_problem(out, n: int) -> str | None:
    """Why `out` is not a dense float tensor of exactly [n, 10], or None when it is. The judge
    indexes and scores it, so anything else is refused before it is touched."""
    if type(out) is not torch.Tensor:
        return f"are a {type(out).__name__}, not a plain tensor"
    if out.layout != torch.strided or out.is_quantized or out.is_meta or out.is_nested:
        return f"are not a dense tensor (layout {out.layout})"
    if out.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        return f"have dtype {out.dtype}, not a float"
    if tuple(out.shape) != (n, 10):
        return f"have shape {list(out.shape)}, not [{n}, 10]"
    if not out.is_contiguous():
        return "are not contiguous"
    return None


def _judged_row(reported: dict, scored: dict, n_test: int) -> EpochRow:
    """The runner's training figures with the judge's own test score."""
    epoch = int(reported["epoch"])
    if epoch not in scored:
        raise RunnerFailed(f"the trainer reported epoch {epoch} without handing in its test outputs")
    loss_sum, correct = scored[epoch]
    return EpochRow(
        epoch=epoch,
        train_loss=float(reported["train_loss"]),
        train_acc=float(reported["train_acc"]),
        test_loss=loss_sum / n_test,
        test_acc=100.0 * correct / n_test,
        test_correct=correct,
        test_total=n_test,
        lr=float(reported["lr"]),
        seconds=float(reported["seconds"]),
    )


def predict(built: Built, state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """The candidate's outputs for already-normalised images with the given weights (which
    must fit it exactly), in the order given; sent as the test images are, some of them twice."""
    layout = ImageLayout.draw(len(images))
    out = built.runner.ask("predict", "outputs", state=state, images=images[layout.sent]).get("outputs")
    problem = outputs_problem(out, len(layout.sent))
    if problem is None:
        assert isinstance(out, torch.Tensor), "outputs_problem refuses anything but a tensor"
        problem = layout.company_problem(out)
    if problem is not None:
        raise RunnerFailed(f"the trainer's outputs {problem}")
    assert isinstance(out, torch.Tensor), "outputs_problem refuses anything but a tensor"
    return out[layout.scored_at]


def initial_skill(built: Built, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """What the candidate's current weights know about these (training) images, measured in
    the trainer (harness.runner.initial_skill), within the build limit."""
    r, limit = built.runner, built.runner.settings.build_limit
    why = f"took more than {limit:g} s to run on {len(images)} training images"
    msg = r.ask("initial_skill", "initial_skill", within=limit, why=why, images=images, labels=labels)
    if not isinstance(msg.get("report"), dict):
        raise RunnerFailed("the trainer's answer to an initial-skill order holds no report")
    return msg["report"]


def infer(built: Built, batch: int, repeat: int) -> tuple[int, ...]:
    """Run `repeat` forward passes on a random batch inside the trainer; the output's shape."""
    return tuple(built.runner.ask("infer", "inferred", batch=batch, repeat=repeat)["shape"])


def gradients(built: Built, batch: int = 4) -> tuple[list[str], tuple[int, ...]]:
    """(names of trainable parameters that get no gradient from a backward pass, the output
    shape for a training-mode batch), computed in the trainer."""
    msg = built.runner.ask("gradients", "gradients", batch=batch)
    return list(msg["missing"]), tuple(msg["output_shape"])
