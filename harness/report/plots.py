"""Pictures of results as PNG files: accuracy and loss per epoch, misclassified digits, and
parameters against accuracy. Drawn on matplotlib Figures (Agg), never through pyplot's state."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.records import files

ZOOM_FLOOR = 98.5  # accuracy axes start here unless the data sit lower: 99.40% stays readable
SEED_STYLE = dict(linewidth=0.9, alpha=0.55)
MEAN_STYLE = dict(linewidth=2.6, color="black")
TARGET_STYLE: dict[str, Any] = dict(color="tab:red", linestyle="--", linewidth=1.2)
WINDOW_STYLE = dict(color="tab:orange", alpha=0.15)


@dataclass
class Curve:
    """One seed's run, one value per epoch (epoch 1 first)."""

    seed: int
    test_acc: list[float]
    test_loss: list[float]
    train_acc: list[float]
    train_loss: list[float]


@dataclass
class Point:
    """One candidate in the parameters-against-accuracy picture."""

    name: str
    params: int
    low: float  # the worst seed's minimum over the last K epochs
    mean: float  # that minimum, averaged over the seeds
    high: float  # the best seed's
    seeds: int
    passed: bool  # every seed met every rule
    notes: list[str] = field(default_factory=list)
    last_k: int = 3  # the epochs at the end that were judged


def _save(fig: Figure, path: Path) -> Path:
    """Rendered in memory, then renamed into place: a failed drawing leaves no half file."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    path = Path(path)
    files.write_bytes(path, buffer.getvalue())
    return path


def zoom(values: Sequence[float], floor: float = ZOOM_FLOOR) -> tuple[float, float]:
    """Accuracy axis limits: from `floor` (lower if the values that matter lie lower) to 100."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    low = floor if not values else min(floor, math.floor(min(values) * 2) / 2 - 0.5)
    return max(0.0, low), 100.0


def _mean(series: Sequence[Sequence[float]]) -> list[float]:
    """Per epoch, over the seeds that reached it."""
    longest = max((len(s) for s in series), default=0)
    out = []
    for i in range(longest):
        here = [s[i] for s in series if i < len(s)]
        out.append(sum(here) / len(here))
    return out


def curves(path: Path, title: str, runs: Sequence[Curve], target: float, last_k: int) -> Path:
    """Four panels (test accuracy and loss, train accuracy and loss): a thin line per seed,
    the mean in bold, the target line and the last-K window shaded."""
    fig = Figure(figsize=(12, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    epochs = max((len(r.test_acc) for r in runs), default=0)
    panels = [
        (axes[0, 0], "test_acc", "test accuracy (%)", True),
        (axes[0, 1], "test_loss", "test loss (mean cross-entropy)", False),
        (axes[1, 0], "train_acc", "train accuracy (%), augmented batches", True),
        (axes[1, 1], "train_loss", "train loss (mean over the epoch's batches)", False),
    ]
    for ax, key, label, is_acc in panels:
        series = [getattr(r, key) for r in runs]
        for run, values in zip(runs, series):
            ax.plot(range(1, len(values) + 1), values, marker=".", markersize=4, label=f"seed {run.seed}", **SEED_STYLE)
        if len(runs) > 1:
            mean = _mean(series)
            ax.plot(range(1, len(mean) + 1), mean, label=f"mean of {len(runs)} seeds", **MEAN_STYLE)
        if epochs and last_k > 0:
            first = max(1, epochs - last_k + 1)
            ax.axvspan(first - 0.5, epochs + 0.5, label=f"last {last_k} epochs (judged)", **WINDOW_STYLE)
        if is_acc:
            window = [v for s in series for v in s[-last_k:]] if last_k > 0 else []
            low, high = zoom(window)
            ax.set_ylim(low, high)
            hidden = sum(v < low for s in series for v in s)
            if hidden:
                ax.text(
                    0.99,
                    0.02,
                    f"{hidden} point{'s' if hidden != 1 else ''} below {low:.1f}% lie off the axis",
                    transform=ax.transAxes,
                    fontsize=8,
                    color="dimgray",
                    ha="right",
                )
            if key == "test_acc":
                ax.axhline(target, label=f"target {target:.2f}%", **TARGET_STYLE)
        elif series and all(v > 0 for s in series for v in s):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_xlim(0.5, max(epochs, 1) + 0.5)
        if epochs:
            ax.set_xticks(range(1, epochs + 1))
        ax.grid(True, alpha=0.3)
    # Early epochs sit below the zoomed axis, so the upper left is where the lines are not.
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def misclassified(
    path: Path, title: str, images, labels: Sequence[int], predicted: Sequence[int], columns: int = 8
) -> Path:
    """A grid of digit images (uint8, 28x28 each), each titled 'true -> predicted'."""
    count = len(images)
    rows = max(1, math.ceil(count / columns))
    fig = Figure(figsize=(columns * 1.25, rows * 1.45 + 0.6), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < count:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(f"true {int(labels[i])} \u2192 {int(predicted[i])}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


LABEL_GAP = 0.042  # axes fraction between two labels' centres: one line of 8-point text, and air


def spread(heights: Sequence[float], gap: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Label heights (axes fractions, sorted from the top down) moved apart to at least `gap`
    each, the block centred on the heights it labels, within [low, high] where there is room."""
    placed: list[float] = []
    for h in heights:
        placed.append(min(h, high, placed[-1] - gap) if placed else min(h, high))
    if placed:  # centre the block on what it labels, so the leader lines stay short
        shift = sum(h - q for h, q in zip(heights, placed)) / len(placed)
        shift = min(shift, high - placed[0]) if shift > 0 else shift
        placed = [q + shift for q in placed]
    if placed and placed[-1] < low:  # pushed out at the bottom: lift the tail, keeping the gaps
        placed[-1] = low
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = max(placed[i], placed[i + 1] + gap)
    return placed


def budget_scatter(path: Path, points: Sequence[Point], target: float, budget: int) -> Path:
    """Parameters against the minimum test accuracy over each candidate's last K epochs, one
    point per candidate: the mean over seeds, with a bar from the worst seed to the best."""
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    ax = fig.subplots()
    for colour, passed, label in (
        ("tab:green", True, "every seed passes"),
        ("tab:purple", False, "fails for at least one seed"),
    ):
        group = [p for p in points if p.passed == passed]
        if not group:
            continue
        ax.errorbar(
            [p.params for p in group],
            [p.mean for p in group],
            yerr=[[p.mean - p.low for p in group], [p.high - p.mean for p in group]],
            fmt="o",
            color=colour,
            ecolor=colour,
            capsize=4,
            markersize=7,
            label=label,
        )
    ax.axvline(budget, label=f"budget {budget:,} parameters", color="tab:blue", linestyle=":", linewidth=1.4)
    ax.axhline(target, label=f"target {target:.2f}%", **TARGET_STYLE)
    low, _ = zoom([p.low for p in points])
    high = min(100.0, max([target + 0.2] + [p.high + 0.1 for p in points]))
    ax.set_ylim(low, high)
    ax.set_xlim(0, max([budget] + [p.params for p in points]) * 1.08)
    # Candidates crowd near the budget, so the names stand in a column right of the plot, in
    # the order of their points' heights, each with a line to its point.
    order = sorted(points, key=lambda p: p.mean, reverse=True)
    heights = spread([(p.mean - low) / (high - low) for p in order], gap=LABEL_GAP)
    for p, y in zip(order, heights):
        ax.annotate(
            f"{p.name} ({p.seeds} seed{'s' if p.seeds != 1 else ''}, last {p.last_k})",
            (p.params, p.mean),
            xytext=(1.02, y),
            textcoords="axes fraction",
            va="center",
            fontsize=8,
            annotation_clip=False,
            arrowprops=dict(arrowstyle="-", color="0.6", linewidth=0.6, shrinkA=0, shrinkB=4),
        )
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
    ax.set_xlabel("parameters")
    ax.set_ylabel("minimum test accuracy over the last K epochs (%)")
    ax.set_title(
        "Parameters against the worst of the last K judged epochs, K per candidate "
        "(point: mean over seeds; bar: worst to best seed)",
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)
