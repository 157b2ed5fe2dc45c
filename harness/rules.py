"""The exercise's rules and the verdict on one run: which rule broke, and by how much."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .engine import RunResult


@dataclass(frozen=True)
class Rules:
    """The thresholds a compliant candidate must meet, for every seed it is run with."""

    max_params: int = 8000  # counted over every nn.Parameter, lazy modules materialised
    max_epochs: int = 15  # passes over the 60k training images
    target_acc: float = 99.40  # percent test accuracy ...
    last_k: int = 3  # ... in each of the last K epochs, not once


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


def check_params(name: str, params: int, rules: Rules) -> str | None:
    """The cheap rule, checked before any training."""
    if params > rules.max_params:
        return f"{name}: {params:,} parameters > {rules.max_params:,}"
    return None


def judge(result: RunResult, rules: Rules, epochs_planned: int | None = None) -> Verdict:
    """Every rule, each failure with its numbers. epochs_planned: the recipe's epoch count
    (a run must also finish all of them)."""
    name = f"{result.candidate} seed {result.seed}"
    v = Verdict(passed=True, params_margin=rules.max_params - result.params)
    if (msg := check_params(name, result.params, rules)) is not None:
        v.failures.append(msg)
    if result.params_after is not None and result.params_after != result.params:
        v.failures.append(f"{name}: parameter count changed during training "
                          f"({result.params:,} -> {result.params_after:,})")
    if result.limit_train is not None:
        v.failures.append(f"{name}: trained on {result.limit_train:,} images only (--limit-train), "
                          f"not the full 60,000")
    ran = len(result.epochs)
    v.epochs_margin = rules.max_epochs - ran
    if ran > rules.max_epochs:
        v.failures.append(f"{name}: {ran} epochs > {rules.max_epochs}")
    if result.status != "completed":
        v.failures.append(f"{name}: run {result.status}: {result.error}")
    elif epochs_planned is not None and ran != epochs_planned:
        v.failures.append(f"{name}: ran {ran} of {epochs_planned} planned epochs")
    window = result.epochs[-rules.last_k:] if rules.last_k > 0 else []
    v.last_k_accs = [row.test_acc for row in window]
    if len(window) < rules.last_k:
        v.failures.append(f"{name}: only {len(window)} epochs, the rule needs the last {rules.last_k}")
    if window:
        v.min_last_k = min(v.last_k_accs)
        v.acc_margin = round(v.min_last_k - rules.target_acc, 4)
        shown = ", ".join(f"{a:.2f}" for a in v.last_k_accs)
        for row in window:
            # Compared in counts, so 9,940 of 10,000 is exactly 99.40% with no float doubt.
            if row.test_correct * 100 < rules.target_acc * row.test_total - 1e-6:
                v.failures.append(f"{name}: epoch {row.epoch} test accuracy {row.test_acc:.2f}% < "
                                  f"{rules.target_acc:.2f}% (last {rules.last_k}: {shown})")
    v.passed = not v.failures
    return v
