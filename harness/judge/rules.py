"""The exercise's rules and the verdict on one run: which rule broke, and by how much."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.engine.recipe import MAX_EPOCHS
from harness.records.schema import RunResult, Verdict


def _rule(
    default,
    help_text: str,
    valid: Callable[[Any, dict], bool],  # given the value as `convert` read it: an int, a float, ...
    why: str,
    shown: str,
    convert: Callable[[str], object] | None = None,
):
    """A rule's threshold with what the gate needs to offer it as an option: its help, the
    check of a value (given all values, for rules that depend on another), its default as shown
    and how its text is read (the default's type unless given)."""
    return field(
        default=default,
        metadata={"help": help_text, "valid": valid, "why": why, "shown": shown, "convert": convert or type(default)},
    )


def flag(text: str) -> bool:
    """An on/off option's text."""
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


TEST_MONITORS = ("test_loss", "test_acc")  # schedule monitors the judge's test numbers feed


def steered_by_test_set(recipe: dict) -> str | None:
    """The test number a recipe's schedule steers by (a notebook's ReduceLROnPlateau on the test
    loss), else None: such a run learns from the test set, however little."""
    schedule = recipe.get("schedule") if isinstance(recipe, dict) else None
    monitor = schedule.get("monitor") if isinstance(schedule, dict) else None
    return monitor if monitor in TEST_MONITORS else None


@dataclass(frozen=True)
class Rules:
    """The thresholds a compliant candidate must meet, for every seed it is run with. Each
    field is also a gate option (--max-params, ...) whose help and check come from here."""

    # every value of the state dict, buffers included (BatchNorm running statistics aside)
    max_params: int = _rule(
        8000, "most parameters a model may have", lambda v, _: v >= 1, "must be a positive integer", "8000"
    )
    # passes over the 60k training images
    max_epochs: int = _rule(
        MAX_EPOCHS,
        f"most epochs a recipe may train, {MAX_EPOCHS} at most",
        lambda v, _: 1 <= v <= MAX_EPOCHS,
        f"must lie in 1..{MAX_EPOCHS}: the rule allows {MAX_EPOCHS}, the gate can only tighten it",
        f"{MAX_EPOCHS}",
    )
    # percent test accuracy ...
    target_acc: float = _rule(
        99.40,
        "percent test accuracy each of the last K epochs must reach",
        lambda v, _: 0 < v <= 100,
        "must be a percentage in (0, 100]",
        "99.40",
    )
    # ... in each of the last K epochs, not once
    last_k: int = _rule(
        3,
        "how many final epochs must each reach --target-acc",
        lambda v, values: 1 <= v <= values.get("max_epochs", MAX_EPOCHS),
        "must lie in 1..max-epochs",
        "3",
    )
    # A schedule that monitors a test number learns from the test set: allowed only when asked,
    # to replicate a public notebook as it was written.
    allow_test_feedback: bool = _rule(
        False,
        "let a recipe's schedule monitor the test loss or accuracy "
        "(e.g. to replicate a notebook's ReduceLROnPlateau); its runs are "
        "marked 'steered by the test set' either way",
        lambda v, _: isinstance(v, bool),
        "must be true or false",
        "false",
        flag,
    )

    @staticmethod
    def option(name: str) -> str:
        return name.replace("_", "-")

    @classmethod
    def options(cls) -> list[tuple[str, type, object, str, str]]:
        """(option, type, default, help, default as shown) for every rule, in order."""
        return [
            (cls.option(f.name), f.metadata["convert"], f.default, f.metadata["help"], f.metadata["shown"])
            for f in dataclasses.fields(cls)
        ]

    @classmethod
    def problems(cls, values: dict) -> list[tuple[str, str]]:
        """(field, why) for every value that breaks its rule's check."""
        found = []
        for f in dataclasses.fields(cls):
            if f.name in values and not f.metadata["valid"](values[f.name], values):
                found.append((f.name, f.metadata["why"]))
        return found

    def sentence(self, last_k: str | None = None) -> str:
        """The rules in words, for tables and documents; `last_k` replaces the window's number."""
        k = last_k if last_k is not None else str(self.last_k)
        return (
            f"at most {self.max_params:,} parameters, at most {self.max_epochs} epochs, test accuracy at "
            f"least {self.target_acc:.2f}% in each of the last {k} epochs, for every seed"
            + (", schedules may monitor test numbers" if self.allow_test_feedback else "")
        )


def check_params(name: str, params: int, rules: Rules) -> str | None:
    """The cheap rule, checked before any training."""
    if params > rules.max_params:
        return f"{name}: {params:,} parameters > {rules.max_params:,}"
    return None


def apply_rules(result: RunResult, rules: Rules, epochs_planned: int | None = None) -> Verdict:
    """Every rule, each failure with its numbers. epochs_planned: the recipe's epoch count
    (a run must also finish all of them)."""
    name = f"{result.candidate} seed {result.seed}"
    v = Verdict(passed=True, params_margin=rules.max_params - result.params)
    if (msg := check_params(name, result.params, rules)) is not None:
        v.failures.append(msg)
    if result.params_after is not None and result.params_after != result.params:
        v.failures.append(
            f"{name}: parameter count changed during training ({result.params:,} -> {result.params_after:,})"
        )
    if result.limit_train is not None:
        v.failures.append(f"{name}: trained on {result.limit_train:,} images only (--limit-train), not the full 60,000")
    ran = len(result.epochs)
    v.epochs_margin = rules.max_epochs - ran
    if ran > rules.max_epochs:
        v.failures.append(f"{name}: {ran} epochs > {rules.max_epochs}")
    if (monitor := steered_by_test_set(result.recipe)) and not rules.allow_test_feedback:
        v.failures.append(
            f"{name}: steered by the test set: its schedule monitors {monitor}; a run may not "
            f"learn from the test set (monitor train_loss or train_acc instead, or pass "
            f"--allow-test-feedback to replicate a notebook as written)"
        )
    if result.status != "completed":
        v.failures.append(f"{name}: run {result.status}: {result.error}")
    elif epochs_planned is not None and ran != epochs_planned:
        v.failures.append(f"{name}: ran {ran} of {epochs_planned} planned epochs")
    window = result.epochs[-rules.last_k :] if rules.last_k > 0 else []
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
                v.failures.append(
                    f"{name}: epoch {row.epoch} test accuracy {row.test_acc:.2f}% < "
                    f"{rules.target_acc:.2f}% (last {rules.last_k}: {shown})"
                )
    v.passed = not v.failures
    return v


NOT_CLAIMED = "not claimed on "  # + the device kind: a claimed candidate judged on a kind it does not claim
OUTCOMES = ("pass", "FAIL", "xfail", "XPASS", "not trained", *(NOT_CLAIMED + k for k in ("cpu", "cuda", "mps")))


def outcome(complies: bool, passed: bool, *, kind: str = "cpu", claimed: Sequence[str] = ("cpu",)) -> str:
    """What the claim and the verdict make of a run: a claimed pass that fails is FAIL, an
    unclaimed one that passes is XPASS (the claim is out of date); both fail the gate. A
    claim holds on the device kinds its evidence was made on: judged on another `kind`, a
    claimed candidate's run is "not claimed on KIND", its numbers kept, the gate unmoved."""
    if complies and kind not in claimed:
        return NOT_CLAIMED + kind
    if complies:
        return "pass" if passed else "FAIL"
    return "XPASS" if passed else "xfail"


def gate_fails(label: str) -> bool:
    return label in ("FAIL", "XPASS")
