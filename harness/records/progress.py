"""Progress in the course notebook's format: a tqdm bar per epoch and a test-set line,
shown only on a terminal; the same text without bars for logs kept under results/."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

import torch
from tqdm import tqdm

from harness.records.schema import EpochRow, RunResult


def score_line(row: EpochRow) -> str:
    return (
        f"Test set: Average loss: {row.test_loss:.4f}, "
        f"Accuracy: {row.test_correct}/{row.test_total} ({row.test_acc:.2f}%)"
    )


class ProgressHooks:
    """engine.Hooks for a person watching a terminal.

    Off (prints nothing at all) when `quiet` or when `stream` is not a terminal, so piped
    output and logs stay clean; `enabled` says which. The bar's text needs .item(), which
    waits for the device, so it is refreshed only every `every` steps and at the last one.
    """

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, every: int = 20):
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = not quiet and bool(isatty and isatty())
        self.every = max(1, every)
        self._bar = None
        self._steps = 0
        self._correct: torch.Tensor | None = None  # summed on the device; read every few steps
        self._seen = 0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def epoch_start(self, epoch: int, steps: int) -> None:
        if not self.enabled:
            return
        self._print(f"EPOCH: {epoch}")
        self._steps, self._correct, self._seen = steps, None, 0
        self._bar = tqdm(total=steps, file=self.stream, dynamic_ncols=True, leave=True)

    def step(self, step: int, loss: torch.Tensor, correct: torch.Tensor, seen: int) -> None:
        if self._bar is None:
            return
        self._correct = correct.detach() if self._correct is None else self._correct + correct.detach()
        self._seen += seen
        if step % self.every == 0 or step == self._steps - 1:
            acc = 100.0 * self._correct.item() / self._seen
            self._bar.set_description(f"Loss={loss.item():.4f} Batch_id={step} Accuracy={acc:.2f}", refresh=False)
        self._bar.update(1)
        if step == self._steps - 1:
            # Closed before the test pass, so the rate shown is the training's alone.
            self.close()

    def epoch_end(self, row: EpochRow) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.enabled:
            self._print(score_line(row))
            self._print("")

    def close(self) -> None:
        """End a bar left open by an interruption, so the next line starts cleanly."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def format_epoch_log(rows: Sequence[EpochRow], steps: int | None = None) -> str:
    """The course format without bars. Loss and Accuracy here are the epoch's mean training
    loss and accuracy (the live bar shows the latest batch's loss); Batch_id, the last step,
    is shown when `steps` (per epoch) is given."""
    out = []
    for row in rows:
        batch = f" Batch_id={steps - 1}" if steps else ""
        out += [
            f"EPOCH: {row.epoch}",
            f"Loss={row.train_loss:.4f}{batch} Accuracy={row.train_acc:.2f}",
            score_line(row),
            "",
        ]
    return "\n".join(out)


def run_log(result: RunResult, steps: int | None = None) -> str:
    """The log kept beside a run's record: its epochs in the course format, then how it ended
    when it did not complete."""
    log = format_epoch_log(result.epochs, steps)
    if result.status != "completed":
        log += f"{result.status}: {result.error}\n"
    return log
