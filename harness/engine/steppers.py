"""The harness's own training step (batch gather, forward, loss, backward, clipping, optimizer,
weight average), the schedule's values read from a device table, run two ways that can be
combined: compiled by torch.compile (inductor fuses the step's many small kernels), and captured
once per batch shape as a CUDA graph and replayed (one launch per step). `GraphSteps` raises
NotCapturable, with the reason, for what it cannot compile or capture. The batch preparation and
the loss here are the eager loop's too (harness.engine.loop)."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from harness.engine.recipe import Recipe

AUGMENT_CHUNK = 8192  # images augmented per call before an epoch: a few kernels per chunk
WARMUP_STEPS = 3  # eager steps on a side stream before capture, as torch's documentation asks
# One capture at a time in a process: a graph's allocations must not interleave with another's.
_CAPTURE_LOCK = threading.Lock()


class NotCapturable(Exception):
    """The step cannot be compiled or captured; the message is the reason, recorded with the eager run."""


# ---------------------------------------------------------------- what both steppers compute
# One definition for the eager loop, the captured step and the test set: a captured run and an
# eager one differ only in how the step is run, never in what it computes.


def prepare(images_u8: torch.Tensor, r: Recipe, generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 images [N, 28, 28] as the model takes them, [N, 1, 28, 28] float32: scaled to [0, 1],
    augmented per image when a generator is given, then normalised. Normalising comes last because
    the augmentations are written for [0, 1] images whose background, and what they fill in, is 0."""
    x = images_u8.unsqueeze(1).float().div_(255)
    if generator is not None:
        x = r.augment(x, generator)
    return (x - r.mean) / r.std


def forward_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, r: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
    """(outputs, loss): the loss is cross-entropy on the outputs, as a notebook computes it; a
    model that returns log_softmax gets nll_loss this way."""
    out = model(x)
    return out, F.cross_entropy(out, y, label_smoothing=r.label_smoothing)


def hits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """How many of the batch the outputs classify right, as a device tensor: no host sync per step."""
    return (out.detach().argmax(1) == y).sum()


# ---------------------------------------------------------------- optimizers as captured math


class _CapturedOptimizer:
    """torch.optim's update for one parameter group, written with foreach ops that read the
    learning rate and momentum (or beta1, beta2) from a device tensor `hp`, so a schedule changes
    them between replays. Checked against torch.optim in tests/test_graphs.py."""

    def __init__(self, opt: torch.optim.Optimizer, params: list[torch.Tensor]):
        if len(opt.param_groups) != 1:
            raise NotCapturable(f"{len(opt.param_groups)} parameter groups; the captured step handles one")
        self.kind = type(opt).__name__
        g = opt.param_groups[0]
        if self.kind not in ("SGD", "Adam", "AdamW"):
            raise NotCapturable(f"optimizer {self.kind} has no captured step (SGD, Adam and AdamW do)")
        for flag in ("maximize", "amsgrad", "differentiable"):
            if g.get(flag):
                raise NotCapturable(f"{self.kind}({flag}=True) has no captured step")
        if isinstance(g["lr"], torch.Tensor):
            raise NotCapturable("a tensor learning rate; the captured step keeps its own")
        self.opt, self.params = opt, params
        self.wd = float(g.get("weight_decay", 0.0))
        if self.kind == "SGD":
            self.damp, self.nesterov = float(g["dampening"]), bool(g["nesterov"])
            self.momentum = float(g["momentum"]) != 0.0
            self.bufs = [torch.zeros_like(p) for p in params] if self.momentum else []
        else:
            self.eps = float(g["eps"])
            self.exp_avg = [torch.zeros_like(p) for p in params]
            self.exp_avg_sq = [torch.zeros_like(p) for p in params]
            self.count = torch.zeros((), device=params[0].device)

    def values(self) -> list[float]:
        """The schedule-driven values now in the torch optimizer's group: lr, momentum or beta1, beta2.
        Read from the optimizer each time: loading its state_dict replaces the group's dict."""
        g = self.opt.param_groups[0]
        if self.kind == "SGD":
            return [float(g["lr"]), float(g["momentum"]), 0.0]
        return [float(g["lr"]), float(g["betas"][0]), float(g["betas"][1])]

    def state(self) -> list[torch.Tensor]:
        return self.bufs if self.kind == "SGD" else [*self.exp_avg, *self.exp_avg_sq, self.count]

    # A checkpoint keeps the torch optimizer's state_dict: the captured state is written there in
    # torch's own format, so a checkpoint resumes on either engine.
    @torch.no_grad()
    def save_to(self, opt: torch.optim.Optimizer) -> None:
        for i, p in enumerate(self.params):
            if self.kind == "SGD":
                opt.state[p] = {"momentum_buffer": self.bufs[i].clone() if self.momentum else None}
            else:
                step = torch.tensor(float(self.count), dtype=torch.float32)
                opt.state[p] = {
                    "step": step,
                    "exp_avg": self.exp_avg[i].clone(),
                    "exp_avg_sq": self.exp_avg_sq[i].clone(),
                }

    @torch.no_grad()
    def load_from(self, opt: torch.optim.Optimizer) -> bool:
        """Copies torch's state in place (a captured graph reads these tensors); False when it has
        none yet, before the first step."""
        states = [opt.state.get(p) or {} for p in self.params]
        if not any(states):
            return False
        for i, st in enumerate(states):
            if self.kind == "SGD":
                if self.momentum:
                    self.bufs[i].copy_(st["momentum_buffer"])
            else:
                self.exp_avg[i].copy_(st["exp_avg"])
                self.exp_avg_sq[i].copy_(st["exp_avg_sq"])
                self.count.fill_(float(st["step"]))
        return True

    @torch.no_grad()
    def step(self, grads: tuple[torch.Tensor, ...] | list[torch.Tensor], hp: torch.Tensor, first: bool) -> None:
        lr, b1, b2 = hp[0], hp[1], hp[2]
        params = self.params
        if self.kind == "SGD":
            if self.wd:
                grads = torch._foreach_add(grads, params, alpha=self.wd)
            if self.momentum:
                if first:  # torch starts the buffer at the first gradient, undamped
                    torch._foreach_copy_(self.bufs, grads)
                else:
                    torch._foreach_mul_(self.bufs, b1)
                    torch._foreach_add_(self.bufs, grads, alpha=1.0 - self.damp)
                grads = torch._foreach_add(grads, torch._foreach_mul(self.bufs, b1)) if self.nesterov else self.bufs
            torch._foreach_add_(params, torch._foreach_mul(grads, -lr))
            return
        self.count += 1
        if self.kind == "AdamW":
            torch._foreach_mul_(params, 1.0 - lr * self.wd)
        elif self.wd:
            grads = torch._foreach_add(grads, params, alpha=self.wd)
        # torch's stubs type a Scalar argument without the 0-dim tensor its binding also takes.
        torch._foreach_lerp_(self.exp_avg, grads, 1.0 - b1)  # type: ignore[call-overload]
        torch._foreach_mul_(self.exp_avg_sq, b2)
        torch._foreach_add_(self.exp_avg_sq, torch._foreach_mul(torch._foreach_mul(grads, grads), 1.0 - b2))
        step_size = lr / (1.0 - b1**self.count)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, (1.0 - b2**self.count).sqrt())
        torch._foreach_add_(denom, self.eps)
        update = torch._foreach_div(self.exp_avg, denom)
        torch._foreach_mul_(update, -step_size)
        torch._foreach_add_(params, update)


# ---------------------------------------------------------------- the captured step


class GraphSteps:
    """Runs one epoch at a time, a step per batch. The epoch's images are shuffled, augmented
    (each image drawing its own parameters) and normalised in a few large calls first; each step
    then gathers its batch on the device, so a captured step costs one replay.
    capture: replay CUDA graphs (CUDA only); without it the same step runs as called (how the
    CPU tests check its arithmetic). compile: the forward with its loss, and the update after
    backward, compiled by torch.compile; the first calls compile them, before the run starts.
    `kind`, the record's engine: "compiled", "cuda-graphs", "compiled+cuda-graphs" or "stepwise"."""

    def __init__(
        self,
        model: nn.Module,
        r: Recipe,
        opt: torch.optim.Optimizer,
        sched,
        per_step: bool,
        ema,
        n: int,
        device: torch.device,
        aug_gen: torch.Generator,
        capture: bool = True,
        compile: bool = False,
    ):
        self.model, self.r, self.opt, self.sched, self.per_step = model, r, opt, sched, per_step
        self.ema, self.aug_gen, self.device, self.n = ema, aug_gen, device, n
        self.params: list[torch.Tensor] = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise NotCapturable("the model has no trainable parameters")
        self.optim = _CapturedOptimizer(opt, self.params)
        # The captured update is this optimizer's step: the flag torch's schedulers check, so they
        # do not warn that optimizer.step() was never called.
        # (A private attribute, absent from torch's stubs, hence the cast.)
        cast(Any, opt)._opt_called = True
        b = r.batch_size
        self.steps = -(-n // b)
        # One graph per batch size an epoch uses: the full batch and the last, partial one.
        self.sizes = sorted({self._size(s) for s in range(self.steps)}, reverse=True)
        self.xs = torch.zeros(n, 1, 28, 28, device=device)
        self.ys = torch.zeros(n, dtype=torch.long, device=device)
        self.hp_table = torch.zeros(self.steps, 3, device=device)
        self.losses = torch.zeros(self.steps, device=device)
        self.corrects = torch.zeros(self.steps, dtype=torch.long, device=device)
        self.positions = torch.arange(self.steps, device=device)
        self.index = torch.zeros((), dtype=torch.long, device=device)  # the step within the epoch
        self.offsets = {size: torch.arange(size, device=device) for size in self.sizes}
        if ema is not None:
            pairs = list(
                zip(
                    [*ema.module.parameters(), *ema.module.buffers()],
                    [*model.parameters(), *model.buffers()],
                    strict=True,
                )
            )
            self.ema_float = [(a, m) for a, m in pairs if a.is_floating_point()]
            self.ema_other = [(a, m) for a, m in pairs if not a.is_floating_point()]
        self.first = True
        self.step = 0
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._forward_loss: Callable[..., tuple[torch.Tensor, torch.Tensor]] = functools.partial(
            forward_loss, model, r=r
        )
        self._update: Callable[..., None] = self._update_as_called
        if compile:
            # Dynamo keys its cache by code object and guards on this instance's tensors, so each run
            # in a process would add entries for the same two functions until its recompile limit
            # fails the next; a fresh cache per run (inductor's compiled kernels stay cached on disk).
            torch._dynamo.reset()
            # Whole graphs or nothing: a graph break would leave a host round trip inside the step.
            # Static shapes: the full batch and the last, partial one are two graphs of each.
            self._forward_loss = torch.compile(self._forward_loss, fullgraph=True, dynamic=False)
            self._update = torch.compile(self._update_as_called, fullgraph=True, dynamic=False)
        if capture or compile:
            self._warm_up(capture)
        parts = (["compiled"] if compile else []) + (["cuda-graphs"] if self.graphs else [])
        self.kind = "+".join(parts) or "stepwise"

    def _size(self, step: int) -> int:
        return min(self.r.batch_size, self.n - step * self.r.batch_size)

    # The step itself, the same code captured or eager, compiled or not.
    def _step(self, size: int, first: bool) -> None:
        at = self.index * self.r.batch_size + self.offsets[size]
        x, y = self.xs.index_select(0, at), self.ys.index_select(0, at)
        out, loss = self._forward_loss(x, y)
        loss.backward()
        # Backward has just set the grads; one it did not reach stays None, and the foreach ops
        # reject it as they always have.
        grads = cast(list[torch.Tensor], [p.grad for p in self.params])
        self._update(grads, loss.detach(), hits(out, y), first)

    @torch.no_grad()
    def _update_as_called(self, grads: list[torch.Tensor], loss: torch.Tensor, correct: torch.Tensor, first: bool):
        """Everything after backward: clipping, the optimizer, the weight average, the step's
        loss and hits written into this epoch's tables."""
        if self.r.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.params, self.r.clip_grad_norm, foreach=True)
        self.optim.step(grads, self.hp_table.index_select(0, self.index).squeeze(0), first)
        if self.ema is not None:
            decay = float(self.r.ema)
            if first:
                for a, m in self.ema_float + self.ema_other:
                    a.copy_(m)
            else:  # the arithmetic of torch's get_ema_multi_avg_fn
                torch._foreach_lerp_([a for a, _ in self.ema_float], [m for _, m in self.ema_float], 1 - decay)
                for a, m in self.ema_other:
                    a.copy_(a * decay + m * (1 - decay))
        here = self.positions == self.index
        self.losses.copy_(torch.where(here, loss, self.losses))
        self.corrects.copy_(torch.where(here, correct, self.corrects))
        self.index += 1

    def _tensors(self) -> list[torch.Tensor]:
        """Everything a warm-up step changes, to be put back before the real first step."""
        ts = [
            *self.model.parameters(),
            *self.model.buffers(),
            *self.optim.state(),
            self.losses,
            self.corrects,
            self.index,
        ]
        if self.ema is not None:
            ts += [*self.ema.module.parameters(), *self.ema.module.buffers()]
        return ts

    def _warm_up(self, capture: bool) -> None:
        """A few steps on zero images, so that compiling (and cuDNN's set-up) happens before the
        run, then the capture; everything the steps changed is put back afterwards."""
        if capture and self.device.type != "cuda":
            raise NotCapturable(f"CUDA graphs need a CUDA device, not {self.device}")
        saved = [t.detach().clone() for t in self._tensors()]
        self.model.train()
        doing = "capture" if capture else "compiling"
        try:
            with _CAPTURE_LOCK if capture else contextlib.nullcontext():
                side = torch.cuda.Stream(self.device) if capture else None
                if side is not None:
                    side.wait_stream(torch.cuda.current_stream(self.device))
                with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
                    for size in self.sizes:
                        # The first step's variant too (it starts the momentum and the average),
                        # so nothing compiles once the run has started.
                        for first in (True, *[False] * WARMUP_STEPS):
                            self._reset_step()
                            self._step(size, first=first)
                if side is not None:
                    torch.cuda.current_stream(self.device).wait_stream(side)
                    self._capture()
        except Exception as e:
            self.graphs.clear()
            raise NotCapturable(
                f"{doing} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            ) from e
        finally:
            with torch.no_grad():
                for t, s in zip(self._tensors(), saved, strict=True):
                    t.copy_(s)
            for p in self.params:
                p.grad = None

    def _reset_step(self) -> None:
        self.index.zero_()
        for p in self.params:
            p.grad = None  # a fresh backward, and in a capture allocated inside the graph's pool

    def _capture(self) -> None:
        for size in self.sizes:
            self._reset_step()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self._step(size, first=False)
            self.graphs[size] = graph

    # ------------------------------------------------------------ one epoch

    @torch.no_grad()
    def _prepare_epoch(self, train_x: torch.Tensor, train_y: torch.Tensor, order: torch.Tensor) -> None:
        r = self.r
        for lo in range(0, self.n, AUGMENT_CHUNK):
            idx = order[lo : lo + AUGMENT_CHUNK]
            self.xs[lo : lo + len(idx)] = prepare(train_x[idx], r, self.aug_gen)
        self.ys.copy_(train_y[order])
        # The schedule as a table: a per-step schedule is stepped here for the whole epoch, in
        # the order the eager loop steps it (the value is read before each step's update).
        rows = []
        for _ in range(self.steps):
            rows.append(self.optim.values())
            if self.per_step:
                self.sched.step()
        self.hp_table.copy_(torch.tensor(rows, dtype=torch.float32))
        self.index.zero_()

    def save(self) -> None:
        """The optimizer's state where TrainingState.state_dict reads it, for a checkpoint."""
        self.optim.save_to(self.opt)

    def restore(self) -> None:
        """Continue from the state TrainingState.load_state_dict has just put back."""
        if self.optim.load_from(self.opt):
            self.first = False

    def epoch(self, train_x: torch.Tensor, train_y: torch.Tensor, order: torch.Tensor, hooks=None):
        """Train one epoch; returns (loss per step, correct per step) as device tensors."""
        self._prepare_epoch(train_x, train_y, order)
        for s in range(self.steps):
            self.step = s
            size = self._size(s)
            if self.first or not self.graphs:
                for p in self.params:
                    p.grad = None  # eager backward would otherwise add to the last step's
                self._step(size, first=self.first)
                self.first = False
            else:
                self.graphs[size].replay()
        if self.ema is not None:
            self.ema.n_averaged += self.steps
        return self.losses.clone(), self.corrects.clone()
