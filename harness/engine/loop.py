"""The training engine: the whole dataset lives on the device as one uint8 tensor, batches
are gathered by index, augmented per image, and the test set is scored after every epoch.
`train` returns a RunResult and prints nothing; progress goes to optional hooks."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from harness.engine import statistics, steppers
from harness.engine.checks import count_parameters
from harness.engine.data import MNIST
from harness.engine.recipe import Recipe
from harness.records.schema import EpochRow, RunResult

EVAL_BATCH = 1000  # eval-mode BatchNorm makes scores independent of this; it only sets speed


def memory_format(device: torch.device, model: nn.Module | None = None) -> torch.memory_format:
    """The activation layout oneDNN runs fastest for these tiny nets. Measured on 2 CPU cores
    (benchmarks/step.py), plain-convolution model3 then separable model3: one thread, NHWC
    30 and 42 ms/step vs NCHW 38 and 55; two threads, NCHW 24 and 38.1 vs NHWC 35 and 38.9.
    One thread is what each pytest-xdist worker gets on a 2-core machine; cuDNN picks its own.
    A speed choice must not fail a model: one whose forward cannot take NHWC activations (a
    `x.view(-1, 4096)` of a convolution's output) keeps the plain layout."""
    if device.type == "cpu" and torch.get_num_threads() == 1 and (model is None or _takes_channels_last(model)):
        return torch.channels_last
    return torch.contiguous_format


def _takes_channels_last(model: nn.Module) -> bool:
    """Whether a copy of the model runs a training step and an evaluation pass on NHWC images.
    The copy leaves the model's statistics and weights untouched, and fork_rng the generator its
    dropout draws from; a forward that fails for another reason fails again where it runs for real."""
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():  # predict() runs under no_grad
            probe = copy.deepcopy(model).to(memory_format=torch.channels_last)
            x = torch.zeros(2, 1, 28, 28).contiguous(memory_format=torch.channels_last)
            probe.train()
            probe(x).float().sum().backward()
            probe.eval()
            probe(x)
    except RuntimeError:
        return False
    return True


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during training; `.result` holds every finished epoch, and `.record`
    the partial record the judge wrote from them before passing the interrupt on."""

    record: dict | None = None

    def __init__(self, result: RunResult):
        super().__init__("training interrupted")
        self.result = result


class Hooks(Protocol):
    """What a reporter may watch; the engine calls these and never prints."""

    def epoch_start(self, epoch: int, steps: int) -> None: ...
    def step(self, step: int, loss: torch.Tensor, correct: torch.Tensor, seen: int) -> None: ...
    def epoch_end(self, row: EpochRow) -> None: ...


# ---------------------------------------------------------------- devices and seeds


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
    return dev


def build(builder: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Initialise a candidate's weights from the harness's seed, never the candidate's."""
    torch.manual_seed(seed)
    return builder()


CUBLAS_CONFIGS = (":4096:8", ":16:8")  # the values torch accepts as deterministic cuBLAS
# torch 2.9 and later set float32 precision per backend; older releases have allow_tf32 flags, and
# reading those after the new API was used raises.
# torch's annotations for torch.backends.cudnn leave `conv` out (the module's replacement class
# adds it), hence the casts to Any where it is used.
PRECISION_API = hasattr(torch.backends.cudnn, "conv")


def deterministic(device: torch.device) -> None:
    """Same seed, device, release and threads -> same numbers. On CUDA, cuBLAS reads its
    workspace setting once, when CUDA starts: set here only if CUDA has not started yet, and
    otherwise an error that says how to set it. TF32 is off, so a GPU computes in float32 as a CPU does."""
    torch.use_deterministic_algorithms(True, warn_only=False)
    if device.type == "cuda":
        if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in CUBLAS_CONFIGS:
            if torch.cuda.is_initialized():
                raise RuntimeError(
                    "CUDA started before CUBLAS_WORKSPACE_CONFIG was set, so cuBLAS cannot be made "
                    "deterministic in this process; start it with CUBLAS_WORKSPACE_CONFIG=:4096:8 "
                    "in the environment (the gate's runner gets it from the judge)"
                )
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_CONFIGS[0]
        torch.backends.cudnn.benchmark = False
        if PRECISION_API:
            torch.backends.cuda.matmul.fp32_precision = "ieee"
            cast(Any, torch.backends.cudnn).conv.fp32_precision = "ieee"
        else:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False


def _fp32_settings() -> dict:
    if PRECISION_API:
        return {
            "matmul_fp32": torch.backends.cuda.matmul.fp32_precision,
            "conv_fp32": cast(Any, torch.backends.cudnn).conv.fp32_precision,
        }
    return {"matmul_tf32": torch.backends.cuda.matmul.allow_tf32, "conv_tf32": torch.backends.cudnn.allow_tf32}


def execution(device: torch.device) -> dict:
    """How the numbers were computed, for the record: on CUDA the card, the CUDA and cuDNN
    releases and the float32 precision settings, which all change the sums."""
    info: dict[str, Any] = {"deterministic": torch.are_deterministic_algorithms_enabled()}
    if device.type == "cuda":
        info.update(
            gpu=torch.cuda.get_device_name(device),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            **_fp32_settings(),
        )
    return info


# ---------------------------------------------------------------- optimizer and schedule


def make_optimizer(model: nn.Module, r: Recipe) -> torch.optim.Optimizer:
    """The recipe's torch.optim class over the model's parameters, with the recipe's arguments only."""
    return r.optimizer.build(model.parameters())


def make_schedule(opt: torch.optim.Optimizer, r: Recipe, steps_per_epoch: int):
    """Returns (scheduler or None, whether it steps per batch). A ReduceLROnPlateau steps per epoch
    on the number its recipe monitors; see `train`."""
    if r.schedule is None:
        return None, False
    return r.schedule.build(opt, r.epochs, steps_per_epoch), r.schedule.interval == "step"


# ---------------------------------------------------------------- evaluation


def normalise(images_u8: torch.Tensor, r: Recipe) -> torch.Tensor:
    """uint8 images [N, 28, 28] as the model takes them, unaugmented: [N, 1, 28, 28] float32."""
    return steppers.prepare(images_u8, r)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, layout: torch.memory_format | None = None) -> torch.Tensor:
    """The model's float32 outputs [N, 10] for already-normalised images, in eval mode, in `layout`
    (a run passes the one it chose at set-up; else it is chosen here as set-up chooses it)."""
    model.eval()
    if layout is None:  # the training layout, so re-evaluation gives the same sums
        layout = memory_format(images.device, model)
    model.to(memory_format=layout)
    return torch.cat(
        [
            model(images[i : i + EVAL_BATCH].contiguous(memory_format=layout)).float()
            for i in range(0, len(images), EVAL_BATCH)
        ]
    )


@torch.no_grad()
def score(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
    """(summed cross-entropy, correct count): per block of EVAL_BATCH in float32, summed in
    float64, so the sums do not depend on who scores (the judge or an in-process run)."""
    outputs, labels = outputs.float(), labels.to(outputs.device)
    loss = torch.zeros((), device=outputs.device, dtype=torch.float64)
    for i in range(0, len(labels), EVAL_BATCH):
        loss += F.cross_entropy(outputs[i : i + EVAL_BATCH], labels[i : i + EVAL_BATCH], reduction="sum").double()
    correct = (outputs.argmax(1) == labels).sum()
    return loss.item(), int(correct.item())


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
    """(summed cross-entropy, correct count) over already-normalised images."""
    return score(predict(model, images), labels)


# ---------------------------------------------------------------- training


def steps_per_epoch(images: int, batch_size: int, limit_train: int | None = None) -> int:
    """Batches in one epoch: the last, partial batch is kept, as a DataLoader does."""
    if limit_train is not None:
        images = min(images, limit_train)
    return math.ceil(images / batch_size)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- set-up and the state a run carries

# (epoch, test outputs) -> (summed loss, correct, images the sums are over)
Scorer = Callable[[int, torch.Tensor], tuple[float, int, int]]


@dataclasses.dataclass
class DeviceData:
    """A run's data on its device: the training images stay uint8 until a stepper gathers and
    prepares them; the test images are prepared once, in the layout the model trains in."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    clean_x: torch.Tensor | None  # the unwarped training images BatchNorm is recalibrated on, if asked
    scorer: Scorer
    layout: torch.memory_format

    @property
    def n(self) -> int:
        return len(self.train_x)


def place(
    data: MNIST,
    r: Recipe,
    device: torch.device,
    layout: torch.memory_format,
    limit_train: int | None,
    scorer: Scorer | None,
) -> DeviceData:
    """The whole dataset on the device at once, so that a batch is a gather by index rather than a
    copy from the host at every step. Without a scorer the test labels score here."""
    train_x, train_y = data.train_images, data.train_labels
    if limit_train is not None:
        train_x, train_y = train_x[:limit_train], train_y[:limit_train]
    train_x, train_y = train_x.to(device), train_y.to(device)
    test_x = normalise(data.test_images.to(device), r).contiguous(memory_format=layout)
    if scorer is None:
        test_y = data.held_test_labels().to(device)

        def scorer(epoch: int, outputs: torch.Tensor) -> tuple[float, int, int]:
            return (*score(outputs, test_y), len(test_y))

    clean_x = None
    if r.bn_recalibration:
        clean_x = normalise(train_x[: r.bn_recalibration], r).contiguous(memory_format=layout)
    return DeviceData(train_x, train_y, test_x, clean_x, scorer, layout)


def set_up(
    model: nn.Module,
    r: Recipe,
    data: MNIST,
    seed: int,
    device: torch.device,
    limit_train: int | None,
    scorer: Scorer | None,
) -> tuple[DeviceData, TrainingState]:
    """Deterministic kernels, then the model and the data on the device, and the state before the
    first step."""
    deterministic(device)
    layout = memory_format(device, model)
    # torch's stubs for Module.to have no overload taking device and memory_format together.
    model.to(device=device, memory_format=layout)  # type: ignore[call-overload]
    on_device = place(data, r, device, layout, limit_train, scorer)
    state = TrainingState.start(model, r, steps_per_epoch(on_device.n, r.batch_size), seed, device)
    return on_device, state


@dataclasses.dataclass
class TrainingState:
    """Everything a run carries from one epoch to the next, and so everything a checkpoint holds:
    a run resumed from `state_dict()` gives the numbers of the run that wrote it. The checkpoint's
    keys are written and read here only: checkpoints already written load as long as they stay."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRScheduler | ReduceLROnPlateau | None  # None: a constant rate
    per_step: bool  # the stepper steps the schedule after every batch
    # ReduceLROnPlateau steps on a number only the finished epoch knows: after the test pass.
    monitor: str | None
    ema: AveragedModel | None
    shuffle_gen: torch.Generator
    aug_gen: torch.Generator  # on the device, where the augmentations draw
    rows: list[EpochRow] = dataclasses.field(default_factory=list)  # the finished epochs

    @classmethod
    def start(cls, model: nn.Module, r: Recipe, steps: int, seed: int, device: torch.device) -> TrainingState:
        """The state before the first step, every generator seeded from the harness's seed."""
        opt = make_optimizer(model, r)
        sched, per_step = make_schedule(opt, r, steps)
        monitor = r.schedule.monitor if isinstance(sched, ReduceLROnPlateau) and r.schedule is not None else None
        # The weights that are scored (and handed back) are an exponential moving average of the
        # trained ones when the recipe asks for it: it damps the epoch-to-epoch wobble.
        ema = None
        if r.ema:
            ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(r.ema), use_buffers=True)
        shuffle_gen = torch.Generator().manual_seed(seed)
        aug_gen = torch.Generator(device=device).manual_seed(seed)
        return cls(model, opt, sched, per_step, monitor, ema, shuffle_gen, aug_gen)

    @property
    def scored(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def state_dict(self) -> dict:
        """The live tensors, not copies: the caller writes them before training goes on. The
        global generators are in it too, for dropout: the CPU's, and on CUDA the device's, which
        the model's dropout draws from there."""
        device = self.aug_gen.device
        cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "shuffle_rng": self.shuffle_gen.get_state(),
            "augment_rng": self.aug_gen.get_state().cpu(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": cuda_rng,
            "rows": [dataclasses.asdict(row) for row in self.rows],
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue after the last finished epoch of a `state_dict()`."""
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.shuffle_gen.set_state(state["shuffle_rng"])
        self.aug_gen.set_state(state["augment_rng"].to(self.aug_gen.get_state().device))
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.aug_gen.device.type == "cuda":  # older checkpoints lack it
            torch.cuda.set_rng_state(state["cuda_rng"], self.aug_gen.device)
        self.rows = [EpochRow(**row) for row in state["rows"]]


# ---------------------------------------------------------------- steppers


class Stepper(Protocol):
    """What the epoch loop needs of a way to run steps: EagerSteps, or steppers.GraphSteps (compiled,
    captured or both)."""

    kind: str  # the record's execution["engine"]
    step: int  # the step under way, for the crash message

    def save(self) -> None: ...  # its own state into the TrainingState, before a checkpoint

    def restore(self) -> None: ...  # its own state from the TrainingState, after a resume

    def epoch(
        self, train_x: torch.Tensor, train_y: torch.Tensor, order: torch.Tensor, hooks: Hooks | None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


def choose_stepper(
    state: TrainingState,
    r: Recipe,
    data: DeviceData,
    device: torch.device,
    cuda_graphs: str,
    compile: bool = False,
) -> tuple[Stepper, str | None]:
    """(stepper, why the eager loop runs where compiling or CUDA graphs were asked for, or None);
    see `train` for cuda_graphs and compile."""
    model, opt, sched, ema = state.model, state.optimizer, state.schedule, state.ema
    fallback = None
    capture = device.type == "cuda" and cuda_graphs != "off"
    if capture or compile:
        try:
            stepper = steppers.GraphSteps(
                model, r, opt, sched, state.per_step, ema, data.n, device, state.aug_gen, capture, compile
            )
            return stepper, None
        except steppers.NotCapturable as e:
            if cuda_graphs == "on":
                raise
            fallback = str(e)
    return EagerSteps(model, r, opt, sched, state.per_step, ema, data.layout, state.aug_gen), fallback


class EagerSteps:
    """The training loop as written in a notebook, one batch at a time: gather, augment per
    image, forward, cross-entropy, backward, clip, step, schedule, average."""

    kind = "eager"

    def __init__(
        self,
        model: nn.Module,
        r: Recipe,
        opt: torch.optim.Optimizer,
        sched,
        per_step: bool,
        ema,
        layout: torch.memory_format,
        aug_gen: torch.Generator,
    ):
        self.model, self.r, self.opt, self.sched, self.per_step = model, r, opt, sched, per_step
        self.ema, self.layout, self.aug_gen = ema, layout, aug_gen
        self.step = 0  # the step under way, for the crash message

    def save(self) -> None:
        pass  # its state is the torch optimizer's, already in the TrainingState

    def restore(self) -> None:
        pass

    def epoch(self, train_x: torch.Tensor, train_y: torch.Tensor, order: torch.Tensor, hooks: Hooks | None):
        """Train one epoch; returns (loss per step, correct per step) as device tensors."""
        r, model, opt = self.r, self.model, self.opt
        steps = steps_per_epoch(len(order), r.batch_size)
        losses = torch.zeros(steps, device=train_x.device)
        corrects = torch.zeros(steps, device=train_x.device, dtype=torch.int64)
        for step in range(steps):
            self.step = step
            idx = order[step * r.batch_size : (step + 1) * r.batch_size]
            x = steppers.prepare(train_x[idx], r, self.aug_gen).contiguous(memory_format=self.layout)
            y = train_y[idx]
            out, loss = steppers.forward_loss(model, x, y, r)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if r.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), r.clip_grad_norm)
            opt.step()
            if self.per_step:
                self.sched.step()
            if self.ema is not None:
                self.ema.update_parameters(model)
            losses[step] = loss.detach()
            corrects[step] = steppers.hits(out, y)
            if hooks:
                hooks.step(step, losses[step], corrects[step : step + 1].sum(), len(y))
        return losses, corrects


# ---------------------------------------------------------------- the epoch loop


@dataclasses.dataclass
class Progress:
    """Where a run is, for the message when the candidate's code breaks."""

    epoch: int = 0
    in_test: bool = False  # past the epoch's last step

    def where(self, stepper: Stepper, steps: int) -> str:
        if self.in_test:
            return f"the test pass after epoch {self.epoch}"
        return f"epoch {self.epoch}, step {stepper.step + 1} of {steps}"


def divergence(losses: torch.Tensor, epoch: int, steps: int, kept: int) -> str | None:
    """The error for the epoch's first non-finite loss, or None. Checked once per epoch: a
    per-step check would stall the GPU at every batch."""
    finite = torch.isfinite(losses)
    if bool(finite.all()):
        return None
    bad = int((~finite).nonzero()[0])
    return f"non-finite loss at epoch {epoch}, step {bad + 1} of {steps}; the {kept} finished epochs are kept"


def crash_message(e: Exception, where: str, kept: int) -> str:
    why = str(e)
    if "does not have a deterministic implementation" in why:
        why += (
            " (the gate runs with torch.use_deterministic_algorithms(True); replace the op, e.g. "
            "AdaptiveAvgPool2d(1) by x.mean((2, 3)), or train on the CPU)"
        )
    return f"{type(e).__name__} in {where}: {why}; the {kept} finished epochs are kept"


def run_epochs(
    state: TrainingState,
    stepper: Stepper,
    r: Recipe,
    data: DeviceData,
    device: torch.device,
    result: RunResult,
    hooks: Hooks | None,
    checkpoint: Callable[[dict], None] | None,
    at: Progress,
) -> None:
    """Train and score the epochs after the state's last finished one, each a new row in
    state.rows; result.status becomes "completed" or "diverged". What the candidate's code raises
    goes to the caller, with `at` saying where it was raised."""
    steps = steps_per_epoch(data.n, r.batch_size)
    for epoch in range(len(state.rows) + 1, r.epochs + 1):
        t_epoch = time.perf_counter()
        at.epoch, at.in_test = epoch, False
        lr = state.optimizer.param_groups[0]["lr"]
        state.model.train()
        if hooks:
            hooks.epoch_start(epoch, steps)
        order = torch.randperm(data.n, generator=state.shuffle_gen).to(device)
        losses, corrects = stepper.epoch(data.train_x, data.train_y, order, hooks)
        if state.schedule is not None and not state.per_step and state.monitor is None:
            state.schedule.step()
        error = divergence(losses, epoch, steps, len(state.rows))
        if error is not None:
            result.status, result.error = "diverged", error
            return
        at.in_test = True
        if data.clean_x is not None:
            statistics.recalibrate(state.scored, data.clean_x, EVAL_BATCH)
        test_loss, correct, n_test = data.scorer(epoch, predict(state.scored, data.test_x, data.layout))
        synchronize(device)
        row = EpochRow(
            epoch=epoch,
            train_loss=losses.mean().item(),
            train_acc=100.0 * corrects.sum().item() / data.n,
            test_loss=test_loss / n_test,
            test_acc=100.0 * correct / n_test,
            test_correct=correct,
            test_total=n_test,
            lr=lr,
            seconds=time.perf_counter() - t_epoch,
        )
        state.rows.append(row)
        # before the checkpoint, so a resumed run has the same state
        if state.monitor is not None and state.schedule is not None:
            state.schedule.step(getattr(row, state.monitor))
        if hooks:
            hooks.epoch_end(row)
        if checkpoint is not None:
            stepper.save()
            checkpoint(state.state_dict())
    result.status = "completed"
    if state.ema is not None:  # the caller saves and re-evaluates what was scored
        state.model.load_state_dict(state.ema.module.state_dict())


def train(
    model: nn.Module,
    recipe: Recipe,
    data: MNIST,
    seed: int,
    device: torch.device | str = "cpu",
    *,
    name: str = "",
    limit_train: int | None = None,
    hooks: Hooks | None = None,
    resume: dict | None = None,
    checkpoint: Callable[[dict], None] | None = None,
    scorer: Scorer | None = None,
    cuda_graphs: str = "auto",
    compile: bool = False,
) -> RunResult:
    """Train `model` (already built from `seed`) by `recipe`; evaluate after each epoch.

    resume: a state from `checkpoint`, to continue after its last finished epoch with the
    same numbers an uninterrupted run gives. checkpoint: called with that state after each epoch.
    scorer: (epoch, test outputs [N, 10]) -> (summed loss, correct, images scored); the runner passes the
    outputs to the judge this way and never holds the labels (`data.test_labels` may be None).
    cuda_graphs: on CUDA, "auto" replays a captured step (harness.engine.steppers) and falls back to the
    eager loop, with the reason in `result.execution`, where the step cannot be captured; "off"
    always runs eagerly; "on" raises steppers.NotCapturable instead of falling back.
    compile: compile the step with torch.compile (on any device, captured too on CUDA); where it
    cannot be compiled the eager loop runs, the reason in `result.execution`. Compiled numbers
    differ from eager ones in the last bits (fused kernels sum in another order): the record's
    execution["engine"] names the path that made them.
    """
    t_setup = time.perf_counter()
    device = torch.device(device)
    on_device, state = set_up(model, recipe, data, seed, device, limit_train, scorer)
    how = execution(device)
    stepper, fallback = choose_stepper(state, recipe, on_device, device, cuda_graphs, compile)
    if fallback is not None:
        how["fallback"] = fallback
    how["engine"] = stepper.kind
    # Dropout and anything else drawing from the global generator; after the capture, whose
    # warm-up steps draw from it too.
    torch.manual_seed(seed)

    result = RunResult(
        candidate=name,
        params=count_parameters(model),
        seed=seed,
        device=str(device),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        recipe=recipe.to_dict(),
        limit_train=limit_train,
        execution=how,
    )
    if resume is not None:
        state.load_state_dict(resume)
        stepper.restore()
    result.epochs = state.rows  # one list: an interrupted run's result holds every finished epoch
    result.setup_seconds = time.perf_counter() - t_setup

    t_run, at = time.perf_counter(), Progress()
    try:
        run_epochs(state, stepper, recipe, on_device, device, result, hooks, checkpoint, at)
    except Exception as e:  # the candidate's forward or backward broke: keep what finished
        result.status = "crashed"
        steps = steps_per_epoch(on_device.n, recipe.batch_size)
        result.error = crash_message(e, at.where(stepper, steps), len(result.epochs))
    except KeyboardInterrupt:
        result.status = "interrupted"
        result.error = f"interrupted after {len(result.epochs)} finished epochs"
        raise TrainingInterrupted(result) from None
    finally:
        result.seconds = time.perf_counter() - t_run
        result.params_after = count_parameters(model)
    return result
