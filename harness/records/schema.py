"""Run records as data: one epoch's figures, one run's result and the verdict on it. New
fields get defaults, so records written by older versions still load."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field


@dataclass
class EpochRow:
    epoch: int  # 1-based
    train_loss: float  # mean cross-entropy over the epoch's batches, as trained (augmented)
    train_acc: float  # percent, on the augmented batches as seen during training
    test_loss: float  # mean cross-entropy over the 10,000 test images
    test_acc: float  # percent
    test_correct: int
    test_total: int
    lr: float  # the rate at the epoch's first step
    seconds: float  # training plus evaluation of this epoch


@dataclass
class RunResult:
    candidate: str
    params: int
    seed: int
    device: str
    torch: str
    threads: int
    recipe: dict
    limit_train: int | None = None  # trained on the first N images only (a smoke run)
    epochs: list[EpochRow] = field(default_factory=list)
    status: str = "running"  # completed | diverged | crashed | interrupted
    error: str | None = None
    params_after: int | None = None  # counted again after training; must equal params
    seconds: float = 0.0  # wall time of all epochs, set-up excluded
    setup_seconds: float = 0.0  # moving data to the device, building optimizer and schedule
    isolation: str = ""  # how the candidate's code ran: "sandbox", "process", "" (in this process)
    # How the numbers were computed: engine ("eager", "cuda-graphs", "compiled" or
    # "compiled+cuda-graphs", with the fallback reason where a step could not be captured or
    # compiled), determinism, and on CUDA the card, the CUDA and cuDNN
    # releases and the float32 precision settings.
    execution: dict = field(default_factory=dict)

    @property
    def final_acc(self) -> float | None:
        return self.epochs[-1].test_acc if self.epochs else None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunResult:
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["epochs"] = [EpochRow(**row) for row in d.get("epochs", [])]
        return cls(**d)


@dataclass
class Verdict:
    passed: bool
    failures: list[str] = field(default_factory=list)  # one readable line per broken rule
    params_margin: int = 0  # max_params - params (negative: over budget)
    epochs_margin: int = 0  # max_epochs - epochs run
    last_k_accs: list[float] = field(default_factory=list)
    min_last_k: float | None = None
    acc_margin: float | None = None  # min over the last K minus target, in points

    def to_dict(self) -> dict:
        return asdict(self)
