"""A candidate's training recipe: one frozen dataclass, validated field by field.

Candidates declare recipes as plain dicts (models/ imports torch only); `Recipe.from_dict`
turns them into this and names any field it does not know.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_EPOCHS = 15  # the exercise's rule; the compliance suite can only lower it

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "onecycle")


class RecipeError(ValueError):
    """A recipe field is unknown or out of range; the message names the field."""


@dataclass(frozen=True)
class Augment:
    """Per-image random affine on the raw [0, 1] image, so padding is background (0)."""

    rotate: float = 0.0  # degrees: each image turns by U(-rotate, +rotate)
    translate: float = 0.0  # fraction of the side: each image shifts by U(-t, +t) * 28 px per axis
    scale: tuple[float, float] = (1.0, 1.0)  # each image zooms by U(lo, hi)

    @property
    def enabled(self) -> bool:
        return self.rotate != 0 or self.translate != 0 or tuple(self.scale) != (1.0, 1.0)


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how a candidate is trained, except the seed (the harness's)."""

    epochs: int = 15  # at most MAX_EPOCHS: the rule counts every pass over the training set
    batch_size: int = 128  # the last, partial batch of each epoch is kept, as a DataLoader does
    optimizer: str = "sgd"  # one of OPTIMIZERS
    lr: float = 0.01  # the base rate; for onecycle, the peak rate
    momentum: float = 0.9  # SGD only
    nesterov: bool = False  # SGD only
    betas: tuple[float, float] = (0.9, 0.999)  # Adam and AdamW only
    weight_decay: float = 0.0  # L2 for SGD/Adam, decoupled for AdamW
    schedule: str = "none"  # one of SCHEDULES
    step_size: int = 1  # step: epochs between drops
    gamma: float = 0.1  # step: factor at each drop
    pct_start: float = 0.3  # onecycle: fraction of steps spent rising
    div_factor: float = 25.0  # onecycle: initial rate = lr / div_factor
    final_div_factor: float = 1e4  # onecycle: final rate = initial / final_div_factor
    anneal: str = "cos"  # onecycle: "cos" or "linear"
    three_phase: bool = False  # onecycle: mirror the warm-up before the final anneal
    label_smoothing: float = 0.0  # cross-entropy smoothing
    ema: float = 0.0  # if > 0: score an exponential moving average of the weights, this decay per step
    mean: float = 0.1307  # normalisation of the [0, 1] image, after augmentation
    std: float = 0.3081
    augment: Augment = field(default_factory=Augment)

    def __post_init__(self):
        if not isinstance(self.augment, Augment):
            raise RecipeError(f"recipe field 'augment' = {self.augment!r} must be an Augment; "
                              f"build recipes from plain dicts with Recipe.from_dict")
        a = self.augment
        checks = [
            ("epochs", lambda v: _integer(v) and 1 <= v <= MAX_EPOCHS,
             f"must be an integer from 1 to {MAX_EPOCHS} (the rule allows at most {MAX_EPOCHS} epochs)"),
            ("batch_size", lambda v: _integer(v) and v >= 1, "must be a positive integer"),
            ("optimizer", lambda v: v in OPTIMIZERS, f"must be one of {', '.join(OPTIMIZERS)}"),
            ("lr", lambda v: _number(v) and v > 0, "must be a positive finite number"),
            ("momentum", lambda v: _number(v) and 0 <= v < 1, "must lie in [0, 1)"),
            ("nesterov", lambda v: isinstance(v, bool), "must be true or false"),
            ("betas", lambda v: len(v) == 2 and all(_number(b) and 0 <= b < 1 for b in v),
             "must be two numbers (beta1, beta2), each in [0, 1)"),
            ("weight_decay", lambda v: _number(v) and v >= 0, "must be a finite number >= 0"),
            ("schedule", lambda v: v in SCHEDULES, f"must be one of {', '.join(SCHEDULES)}"),
            ("step_size", lambda v: _integer(v) and v >= 1, "must be a positive integer"),
            ("gamma", lambda v: _number(v) and 0 < v <= 1, "must lie in (0, 1]"),
            ("pct_start", lambda v: _number(v) and 0 < v < 1, "must lie in (0, 1)"),
            ("div_factor", lambda v: _number(v) and v > 0, "must be a positive finite number"),
            ("final_div_factor", lambda v: _number(v) and v > 0, "must be a positive finite number"),
            ("anneal", lambda v: v in ("cos", "linear"), "must be 'cos' or 'linear'"),
            ("three_phase", lambda v: isinstance(v, bool), "must be true or false"),
            ("label_smoothing", lambda v: _number(v) and 0 <= v < 1, "must lie in [0, 1)"),
            ("ema", lambda v: _number(v) and 0 <= v < 1, "must lie in [0, 1): 0 is off, 0.999 averages ~1,000 steps"),
            ("mean", lambda v: _number(v), "must be a finite number"),
            ("std", lambda v: _number(v) and v > 0, "must be a positive finite number"),
            ("augment.rotate", lambda v: _number(v) and 0 <= v <= 180, "must lie in [0, 180] degrees"),
            ("augment.translate", lambda v: _number(v) and 0 <= v < 1, "must lie in [0, 1)"),
            ("augment.scale", lambda v: len(v) == 2 and all(_number(s) for s in v) and 0 < v[0] <= v[1],
             "must be (lo, hi) with 0 < lo <= hi"),
        ]
        for name, ok, why in checks:
            value = getattr(a, name.split(".")[1]) if "." in name else getattr(self, name)
            try:
                good = bool(ok(value))
            except TypeError:  # e.g. a string where a number belongs, or a number for a pair
                good = False
            if not good:
                raise RecipeError(f"recipe field '{name}' = {value!r} {why}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise RecipeError("recipe field 'nesterov' needs optimizer 'sgd' with momentum > 0")

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        if not isinstance(d, Mapping):
            raise RecipeError(f"a recipe must be a dict of fields, not {type(d).__name__}")
        d = dict(d)
        aug = d.pop("augment", None) or {}
        if not isinstance(aug, Mapping):
            raise RecipeError(f"recipe field 'augment' must be a dict of fields "
                              f"(rotate, translate, scale), not {type(aug).__name__}")
        aug = dict(aug)
        _refuse_unknown(cls, d, "")
        _refuse_unknown(Augment, aug, "augment.")
        # JSON and YAML give lists where the dataclass holds pairs.
        if isinstance(d.get("betas"), list):
            d["betas"] = tuple(d["betas"])
        if isinstance(aug.get("scale"), list):
            aug["scale"] = tuple(aug["scale"])
        return cls(**d, augment=Augment(**aug))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)


def _refuse_unknown(cls, d: dict, prefix: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise RecipeError(
            f"unknown recipe field {', '.join(repr(prefix + u) for u in unknown)}; "
            f"known fields: {', '.join(sorted(prefix + k for k in known if k != 'augment'))}"
        )


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # True is an int to Python, not here


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
