"""The speed benchmark: one candidate's 15-epoch run through the course pipeline (PIL
transforms + DataLoader) and through the gate's own path (a runner, scored by the judge), and
optionally the engine called in this process, on the same machine in one run.

Each pipeline runs in its own process so each peak RSS is its own; the course pipeline is
timed over a few epochs and scaled to the recipe's epochs, as the report says. The course and
in-process pipelines run the candidate's code in this process: benchmark your own candidates.
"""

from __future__ import annotations

import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

from harness.engine import loop
from harness.engine.data import MNIST
from harness.engine.recipe import Recipe
from harness.judge import trial


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set of this process (or of its largest finished child, RUSAGE_CHILDREN);
    ru_maxrss is KiB on Linux, bytes on macOS."""
    rss = resource.getrusage(who).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def _gpu_peak_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def _tensor_figures(pipeline: str, result, recipe: Recipe, data: MNIST, wall: float, device) -> dict:
    per_epoch = [row.seconds for row in result.epochs]
    return {
        "pipeline": pipeline,
        "epochs_timed": len(per_epoch),
        "epochs": recipe.epochs,
        "scaled": False,
        "seconds_per_epoch": sum(per_epoch) / len(per_epoch),
        # The whole wall time, start-up included: what a user waits for.
        "total_seconds": wall,
        "train_seconds": result.seconds,
        "warmup_seconds": wall - result.seconds,
        "wall_seconds": wall,
        "images_per_second": len(data.train_images) * len(per_epoch) / result.seconds,
        "final_test_acc": result.final_acc,
        "test_accs": [row.test_acc for row in result.epochs],
        "test_correct": [row.test_correct for row in result.epochs],
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_mb": _gpu_peak_mb(device),
    }


def in_process_pipeline(
    builder,
    recipe: Recipe,
    data: MNIST,
    seed: int,
    device: torch.device,
    cuda_graphs: str = "auto",
    compile: bool = False,
) -> dict:
    """The engine called in this process, the candidate's code beside it: the reference the
    gate's runner path is measured against. On CUDA, cuda_graphs="off" times the eager loop;
    compile=True the compiled step (its compiling is in warmup_seconds, not train_seconds)."""
    t0 = time.perf_counter()
    model = loop.build(builder, seed)
    result = loop.train(model, recipe, data, seed, device, cuda_graphs=cuda_graphs, compile=compile)
    how = result.execution.get("engine", "eager")
    out = _tensor_figures(
        f"engine.train in this process ({how})", result, recipe, data, time.perf_counter() - t0, device
    )
    out["execution"] = result.execution
    return out


def gate_pipeline(file, name: str, recipe: Recipe, data: MNIST, seed: int, settings: trial.Settings) -> dict:
    """mnist8k's path exactly as `pytest -m compliance` runs it: a runner started, the candidate
    built and checked, trained there and scored here, every epoch."""
    t0 = time.perf_counter()
    with trial.runner(file, settings) as r:
        built = trial.build(r, name, seed)
        outcome = trial.train(built, name, recipe, data, seed)
    out = _tensor_figures(
        f"mnist8k gate (runner, {settings.isolation.mode})",
        outcome.result,
        recipe,
        data,
        time.perf_counter() - t0,
        torch.device(settings.device),
    )
    out["split_seconds"] = outcome.overhead
    out["runner_peak_rss_mb"] = peak_rss_mb(resource.RUSAGE_CHILDREN)  # the judge's figure is peak_rss_mb
    return out


def course_pipeline(builder, recipe: Recipe, data_dir, seed: int, device: torch.device, epochs_timed: int = 1) -> dict:
    """The course notebooks' loop: torchvision MNIST, PIL RandomRotation, ToTensor, Normalize,
    DataLoader(shuffle=True), a test pass per epoch; same model, optimizer and schedule."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    t0 = time.perf_counter()
    # The course rotates by +-7 degrees when a recipe does not rotate at all.
    rot = next((max(abs(d) for d in op.degrees) for op in recipe.augment.ops if hasattr(op, "degrees")), 0.0) or 7.0
    train_tf = transforms.Compose(
        [
            transforms.RandomRotation((-rot, rot), fill=(0,)),
            transforms.ToTensor(),
            transforms.Normalize((recipe.mean,), (recipe.std,)),
        ]
    )
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((recipe.mean,), (recipe.std,))])
    train_set = datasets.MNIST(str(data_dir), train=True, download=False, transform=train_tf)
    test_set = datasets.MNIST(str(data_dir), train=False, download=False, transform=test_tf)
    torch.manual_seed(seed)
    loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000, shuffle=False)
    model = loop.build(builder, seed).to(device)
    opt = loop.make_optimizer(model, recipe)
    sched, per_step = loop.make_schedule(opt, recipe, len(loader))
    warmup = time.perf_counter() - t0

    epoch_seconds, accs = [], []
    for _ in range(epochs_timed):
        t = time.perf_counter()
        model.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if per_step:
                sched.step()
        model.eval()
        correct, loss_sum = 0, 0.0
        with torch.no_grad():
            for x, y in test_loader:
                out, y = model(x.to(device)), y.to(device)
                correct += (out.argmax(1) == y).sum().item()
                loss_sum += F.cross_entropy(out, y, reduction="sum").item()
        if sched is not None and not per_step:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):  # as the course steps it
                assert recipe.schedule is not None, "a plateau schedule is made from the recipe's schedule"
                monitor = recipe.schedule.monitor
                sched.step(loss_sum / len(test_set) if monitor == "test_loss" else 100.0 * correct / len(test_set))
            else:
                sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epoch_seconds.append(time.perf_counter() - t)
        accs.append(100.0 * correct / len(test_set))
    per_epoch = sum(epoch_seconds) / len(epoch_seconds)
    return {
        "pipeline": "course: torchvision MNIST + PIL RandomRotation + DataLoader",
        "epochs_timed": epochs_timed,
        "epochs": recipe.epochs,
        "scaled": epochs_timed < recipe.epochs,
        "seconds_per_epoch": per_epoch,
        "total_seconds": per_epoch * recipe.epochs,
        "warmup_seconds": warmup,
        "wall_seconds": time.perf_counter() - t0,
        "images_per_second": len(train_set) / per_epoch,
        "final_test_acc": accs[-1],
        "test_accs": accs,
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_mb": _gpu_peak_mb(device),
    }


def ratio(course: dict, tensor: dict) -> float:
    return course["total_seconds"] / tensor["total_seconds"] if tensor["total_seconds"] else math.nan
