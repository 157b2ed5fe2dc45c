"""A candidate's training recipe: torch optimizer and scheduler classes and torchvision-named transforms,
each by name with its own keyword arguments, checked against its signature, every problem reported at once.
The loss is F.cross_entropy on the model's output: nll_loss for a model that returns log_softmax."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import lr_scheduler

from harness.engine.augmentations import AugmentError, Pipeline, parse
from harness.engine.fields import did_you_mean, is_number, literal

MAX_EPOCHS = 15  # the exercise's rule; the compliance suite can only lower it

MONITORS = ("test_loss", "test_acc", "train_loss", "train_acc")  # EpochRow's fields, per epoch
INTERVALS = ("step", "epoch")
PER_STEP = ("OneCycleLR", "CyclicLR")  # their step counts are batches; every other kind counts epochs


def _classes(module, bases: tuple[type, ...], exclude: tuple[type, ...]) -> dict[str, type]:
    return {
        name: obj
        for name, obj in sorted(vars(module).items())
        if isinstance(obj, type) and issubclass(obj, bases) and obj not in exclude and not name.startswith("_")
    }


OPTIMIZERS = _classes(torch.optim, (torch.optim.Optimizer,), (torch.optim.Optimizer,))
SCHEDULERS = _classes(
    lr_scheduler, (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau), (lr_scheduler.LRScheduler,)
)

# Classes torch has that the engine cannot run as they are meant to be run.
UNSUPPORTED = {
    "LBFGS": "its step() needs a closure that re-evaluates the loss, and the engine steps once per batch",
    "SparseAdam": "it takes sparse gradients only, and these models' gradients are dense",
    "Muon": "it takes 2-D parameters only, and convolution weights are 4-D, biases 1-D",
    "SequentialLR": "it chains scheduler objects, which a recipe cannot hold; give one scheduler",
    "ChainedScheduler": "it chains scheduler objects, which a recipe cannot hold; give one scheduler",
}

# Arguments the harness passes itself; a recipe that sets one is refused, saying why.
HARNESS_OPTIMIZER_ARGS = {"params": "the harness passes the model's parameters"}
HARNESS_SCHEDULE_ARGS = {
    "optimizer": "the harness passes the optimizer the recipe's optimizer builds",
    "epochs": "the harness passes the recipe's epochs",
    "steps_per_epoch": "the harness passes the batches per epoch (1 when the schedule steps per epoch)",
    "total_steps": "the harness passes epochs x steps_per_epoch",
    "last_epoch": "every schedule starts at its beginning; a resumed run restores the schedule's state",
}


MAX_BATCH = 60_000  # one batch of the whole training set is the largest that means anything


class RecipeError(ValueError):
    """A recipe has problems; `.problems` lists every one, each naming its field, the value and
    what is allowed."""

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Optimizer:
    """A torch.optim class by name and its keyword arguments besides `params` (the harness's),
    in the order of the class's signature."""

    name: str = "SGD"
    args: tuple[tuple[str, Any], ...] = (("lr", 0.01), ("momentum", 0.9))

    @property
    def kwargs(self) -> dict:
        return dict(self.args)

    def build(self, params) -> torch.optim.Optimizer:
        return OPTIMIZERS[self.name](params, **self.kwargs)

    def to_dict(self) -> dict:
        return {"name": self.name, **{k: _thaw(v) for k, v in self.args}}


@dataclass(frozen=True)
class Schedule:
    """A torch.optim.lr_scheduler class by name and its keyword arguments besides those the harness
    supplies (HARNESS_SCHEDULE_ARGS), when it steps, and for ReduceLROnPlateau what it watches.
    OneCycleLR's max_lr defaults to the optimizer's lr, which is then the peak rate (the run starts at
    lr / div_factor); its cycle_momentum, True by default as in torch, cycles SGD's momentum or
    Adam's beta1 between base_momentum and max_momentum, replacing the optimizer's own."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()
    interval: str = "epoch"  # "step": after every batch; "epoch": after every epoch
    # ReduceLROnPlateau only, one of MONITORS (default test_loss; mode="max" for *_acc unless given):
    # the finished epoch's number, the test ones as the judge scored them, stepped after that epoch.
    monitor: str | None = None

    @property
    def kwargs(self) -> dict:
        return dict(self.args)

    def build(self, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
        cls = SCHEDULERS[self.name]
        steps = steps_per_epoch if self.interval == "step" else 1
        owned = {"epochs": epochs, "steps_per_epoch": steps, "total_steps": epochs * steps}
        accepted = inspect.signature(cls).parameters
        kwargs = {k: v for k, v in owned.items() if k in accepted}
        if self.name == "OneCycleLR" and "max_lr" not in self.kwargs:
            kwargs["max_lr"] = optimizer.param_groups[0]["lr"]
        return cls(optimizer, **kwargs, **self.kwargs)

    def to_dict(self) -> dict:
        d = {"name": self.name, **{k: _thaw(v) for k, v in self.args}, "interval": self.interval}
        if self.monitor is not None:
            d["monitor"] = self.monitor
        return d


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how a candidate is trained, except the seed (the harness's).
    optimizer, schedule and augment may be given as plain data; they are kept in canonical form."""

    epochs: int = 15  # at most MAX_EPOCHS: the rule counts every pass over the training set
    batch_size: int = 128  # the last, partial batch of each epoch is kept, as a DataLoader does
    optimizer: Optimizer = Optimizer()  # dict(name="SGD", lr=0.05, momentum=0.9): any torch.optim class
    # dict(name="OneCycleLR", pct_start=0.25), any torch.optim.lr_scheduler class; None: a constant rate.
    # For OneCycleLR the optimizer's lr is the peak. interval="step"|"epoch" overrides when it steps
    # (OneCycleLR and CyclicLR per batch, the others per epoch); ReduceLROnPlateau takes monitor=.
    schedule: Schedule | None = None
    clip_grad_norm: float | None = None  # clip_grad_norm_ to this total norm after backward; None: off
    label_smoothing: float = 0.0  # cross-entropy smoothing
    ema: float = 0.0  # if > 0: score an exponential moving average of the weights, this decay per step
    # if > 0: before each test pass, the scored weights' BatchNorm running statistics are recomputed
    # over the first N training images, unwarped (harness.engine.statistics); 0: off
    bn_recalibration: int = 0
    mean: float = 0.1307  # normalisation of the [0, 1] image, after augmentation; (0.1307,) is accepted
    std: float = 0.3081
    augment: Pipeline = Pipeline()  # [dict(name="RandomRotation", degrees=7.0), ...]: see harness.engine.augmentations

    def __post_init__(self):
        problems: list[str] = []
        opt = _read_optimizer(self.optimizer, problems)
        sched = _read_schedule(self.schedule, problems)
        aug = _read_augment(self.augment, problems)
        mean, std = _channel(self.mean), _channel(self.std)
        given = {"mean": self.mean, "std": self.std}  # named in a problem as written
        read = {"optimizer": opt, "schedule": sched, "augment": aug, "mean": mean, "std": std}
        for name, value in read.items():
            if value is not _BAD:
                object.__setattr__(self, name, value)
        problems += _field_problems(self, skip={k for k, v in read.items() if v is _BAD}, given=given)
        if opt is not _BAD and sched not in (_BAD, None) and _integer(self.epochs):
            problems += _pair_problems(opt, sched, self.epochs)
        if problems:
            raise RecipeError(problems)

    @classmethod
    def from_dict(cls, d: Mapping) -> Recipe:
        """The recipe a candidate declares as plain data; RecipeError lists every problem in it."""
        if not isinstance(d, Mapping):
            raise RecipeError(f"a recipe must be a dict of fields, not {type(d).__name__}")
        d = dict(d)
        problems, reported = _old_format(d)
        known = [f.name for f in dataclasses.fields(cls)]
        for key in [k for k in d if k not in known and k not in reported]:
            problems.append(_unknown_field(key, known))
            reported.add(key)
        d = {k: v for k, v in d.items() if k not in reported}
        if "optimizer" in reported:
            d["optimizer"] = _REPORTED  # not the default either: the schedule is not checked against it
        try:
            recipe = cls(**d)
        except RecipeError as e:
            problems += e.problems
        if problems:
            raise RecipeError(problems)
        return recipe

    def to_dict(self) -> dict:
        """Plain data in canonical form: `Recipe.from_dict(r.to_dict()) == r`."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer.to_dict(),
            "schedule": self.schedule.to_dict() if self.schedule is not None else None,
            "clip_grad_norm": self.clip_grad_norm,
            "label_smoothing": self.label_smoothing,
            "ema": self.ema,
            "bn_recalibration": self.bn_recalibration,
            "mean": self.mean,
            "std": self.std,
            "augment": self.augment.to_spec(),
        }

    def replace(self, **changes) -> Recipe:
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------- reading the fields

_BAD = object()  # a field that could not be read; its problem is already listed
_REPORTED = object()  # a field from_dict already reported


def _field_problems(r: Recipe, skip: set[str], given: dict) -> list[str]:
    checks = [
        (
            "epochs",
            lambda v: _integer(v) and 1 <= v <= MAX_EPOCHS,
            f"must be an integer from 1 to {MAX_EPOCHS} (the rule allows at most {MAX_EPOCHS} epochs)",
        ),
        (
            "batch_size",
            lambda v: _integer(v) and 1 <= v <= MAX_BATCH,
            f"must be a positive integer of at most {MAX_BATCH:,} (the training set's size)",
        ),
        (
            "clip_grad_norm",
            lambda v: v is None or (is_number(v) and v > 0),
            "must be a positive finite number (the largest total gradient norm), or None for no clipping",
        ),
        ("label_smoothing", lambda v: is_number(v) and 0 <= v < 1, "must lie in [0, 1)"),
        ("ema", lambda v: is_number(v) and 0 <= v < 1, "must lie in [0, 1): 0 is off, 0.999 averages ~1,000 steps"),
        (
            "bn_recalibration",
            lambda v: _integer(v) and 0 <= v <= MAX_BATCH,
            f"must be an integer from 0 (off) to {MAX_BATCH:,}: the training images that BatchNorm's "
            f"statistics are recomputed over before each test pass",
        ),
        ("mean", is_number, "must be a finite number, or a 1-tuple of one (the images have one channel)"),
        (
            "std",
            lambda v: is_number(v) and v > 0,
            "must be a positive finite number, or a 1-tuple of one (the images have one channel)",
        ),
    ]
    problems = []
    for name, ok, why in checks:
        if name not in skip and not ok(getattr(r, name)):
            problems.append(f"recipe field {name!r} = {given.get(name, getattr(r, name))!r} {why}")
    return problems


def _channel(v):
    """torchvision's Normalize takes per-channel tuples: (0.1307,) is the number 0.1307 here."""
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if is_number(v):
        return float(v)
    return v  # left for _field_problems to name


def _read_augment(v, problems: list[str]):
    if isinstance(v, Pipeline):
        return v
    if isinstance(v, Mapping):
        problems.append(_old_augment(v))
        return _BAD
    try:
        return parse(v, "augment")
    except AugmentError as e:
        problems += e.problems
        return _BAD


def _read_named(v, field: str, classes: dict[str, type], kind: str, example: str, problems: list[str]):
    """(class name, arguments) of `dict(name=..., **arguments)`, or _BAD with its problem listed."""
    if v is _REPORTED:
        return _BAD
    if isinstance(v, (Optimizer, Schedule)):
        v = v.to_dict()
    if isinstance(v, str):
        problems.append(_old_named(field, v))
        return _BAD
    if not isinstance(v, Mapping):
        problems.append(
            f"recipe field {field!r} = {v!r} must be dict(name=..., **arguments) naming a {kind} class, e.g. {example}"
        )
        return _BAD
    name, args = v.get("name"), {k: a for k, a in v.items() if k != "name"}
    if not isinstance(name, str) or name not in classes or name in UNSUPPORTED:
        if not isinstance(name, str):
            why = f"has no 'name' string; name a {kind} class, e.g. {example}"
            problems.append(f"recipe field {field!r} = {dict(v)!r} {why}")
        elif name in UNSUPPORTED:
            problems.append(f"recipe field '{field}.name' = {name!r} is not supported here: {UNSUPPORTED[name]}")
        else:
            choices = [c for c in classes if c not in UNSUPPORTED]
            problems.append(
                f"recipe field '{field}.name' = {name!r} is not a {kind} class{did_you_mean(name, choices)} "
                f"(one of {', '.join(choices)})"
            )
        return _BAD
    bad_keys = [k for k in args if not isinstance(k, str)]
    if bad_keys:
        problems.append(f"recipe field {field!r} has argument names that are not strings: {bad_keys!r}")
        return _BAD
    return name, args


def _read_optimizer(v, problems: list[str]):
    found = _read_named(
        v, "optimizer", OPTIMIZERS, "torch.optim optimizer", 'dict(name="SGD", lr=0.05, momentum=0.9)', problems
    )
    if found is _BAD:
        return _BAD
    name, args = found
    cls = OPTIMIZERS[name]
    if not _arguments_ok(cls, f"torch.optim.{name}", args, "optimizer", HARNESS_OPTIMIZER_ARGS, (), problems):
        return _BAD
    opt = Optimizer(name, _canonical(cls, args))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            opt.build([torch.zeros(1, requires_grad=True)])
        except Exception as e:  # torch's own check of the values, e.g. a negative lr
            problems.append(f"recipe field 'optimizer' = {literal(opt.to_dict())}: torch.optim.{name} refused it: {e}")
            return _BAD
    return opt


def _read_schedule(v, problems: list[str]):
    if v is None:
        return None
    found = _read_named(
        v, "schedule", SCHEDULERS, "torch.optim.lr_scheduler", 'dict(name="OneCycleLR", pct_start=0.25)', problems
    )
    if found is _BAD:
        return _BAD
    name, args = found
    cls, ok = SCHEDULERS[name], True
    plateau = issubclass(cls, lr_scheduler.ReduceLROnPlateau)
    interval = args.pop("interval", "step" if name in PER_STEP else "epoch")
    if interval not in INTERVALS or (plateau and interval != "epoch"):
        allowed = "'epoch': it steps on a number measured once per epoch" if plateau else "'step' or 'epoch'"
        problems.append(f"recipe field 'schedule.interval' = {interval!r} must be {allowed}")
        ok = False
    monitor = args.pop("monitor", "test_loss" if plateau else None)
    if plateau and monitor not in MONITORS:
        # Lightning's val_loss is the test_loss here: the harness scores on the test set each epoch
        near = "test" + monitor[3:] if isinstance(monitor, str) and monitor.startswith("val") else monitor
        problems.append(
            f"recipe field 'schedule.monitor' = {monitor!r} must be one of "
            f"{', '.join(map(repr, MONITORS))}{did_you_mean(near, MONITORS)}"
        )
        ok = False
    elif not plateau and monitor is not None:
        problems.append(
            f"recipe field 'schedule.monitor' = {monitor!r}: only ReduceLROnPlateau watches a "
            f"number; {name} follows its own course"
        )
        ok = False
    if plateau and isinstance(monitor, str) and monitor.endswith("_acc"):
        args.setdefault("mode", "max")  # a higher accuracy is the better one
    defaulted = ("max_lr",) if name == "OneCycleLR" else ()
    extra = ("interval", "monitor") if plateau else ("interval",)  # the harness's, read above
    ok = (
        _arguments_ok(
            cls, f"torch.optim.lr_scheduler.{name}", args, "schedule", HARNESS_SCHEDULE_ARGS, defaulted, problems, extra
        )
        and ok
    )
    return Schedule(name, _canonical(cls, args), interval, monitor) if ok else _BAD


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _arguments_ok(
    cls,
    qualname: str,
    args: dict,
    field: str,
    owned: dict,
    defaulted: tuple,
    problems: list[str],
    extra: tuple[str, ...] = (),
) -> bool:
    """The keyword arguments against the class's signature: unknown ones (with the valid ones
    listed), harness-owned ones, missing required ones, functions and values that are not data."""
    name = cls.__name__
    params = inspect.signature(cls).parameters
    first = next(iter(params))  # params or optimizer: the object the class works on
    takes = [p for p in params if p != first and p not in owned] + list(extra)
    before = len(problems)
    for key, value in args.items():
        path = f"{field}.{key}"
        if key in owned and (key in params or key == first):
            problems.append(f"recipe field {path!r} = {_short(value)}: {key} is the harness's to set ({owned[key]})")
        elif key not in params or params[key].kind in _VARIADIC:
            problems.append(
                f"recipe field {path!r} = {_short(value)} is not an argument of {qualname}"
                f"{did_you_mean(key, takes)} ({name} takes {', '.join(takes) or 'nothing'})"
            )
        elif "Callable" in str(params[key].annotation):
            problems.append(
                f"recipe field {path!r} = {_short(value)}: {key} is a function in {name}, "
                f"and a recipe holds data only; leave it out"
            )
        elif not _plain(value):
            problems.append(
                f"recipe field {path!r} = {_short(value)} must be plain data: numbers, strings, "
                f"booleans, None, tuples, lists"
            )
    for key, p in params.items():
        if (
            p.default is inspect.Parameter.empty
            and key != first
            and key not in owned
            and key not in args
            and key not in defaulted
            and p.kind not in _VARIADIC
        ):
            if "Callable" in str(p.annotation):
                problems.append(
                    f"recipe field '{field}.name' = {name!r}: {name} needs {key}, a function, and a "
                    f"recipe holds data only; choose another {field} class"
                )
            else:
                problems.append(
                    f"recipe field '{field}.{key}' is missing: {name} needs {key} ({name} takes {', '.join(takes)})"
                )
    return len(problems) == before


def _pair_problems(opt: Optimizer, sched: Schedule, epochs: int) -> list[str]:
    """What the schedule does to the optimizer's own settings, and torch's check of both together."""
    problems = []
    oparams = inspect.signature(OPTIMIZERS[opt.name]).parameters
    sargs, oargs = sched.kwargs, opt.kwargs
    if sched.name in ("OneCycleLR", "CyclicLR") and sargs.get("cycle_momentum", True):
        head = (
            "recipe field 'schedule.cycle_momentum' = True"
            if "cycle_momentum" in sargs
            else f"recipe field 'schedule.cycle_momentum' is True by default in {sched.name}"
        )
        sig = inspect.signature(SCHEDULERS[sched.name]).parameters
        low = sargs.get("base_momentum", sig["base_momentum"].default)
        high = sargs.get("max_momentum", sig["max_momentum"].default)
        momentum = oargs.get("momentum", oparams["momentum"].default if "momentum" in oparams else None)
        if "momentum" not in oparams and "betas" not in oparams:
            problems.append(
                f"{head}: it cycles momentum (or beta1) inversely to the rate, and torch.optim."
                f"{opt.name} has neither; set cycle_momentum=False"
            )
        elif "betas" not in oparams and momentum == 0:
            problems.append(
                f"{head}: it cycles momentum between {low} and {high}, replacing {opt.name}'s "
                f"momentum 0; set cycle_momentum=False to train without momentum, or give the "
                f"optimizer a momentum > 0"
            )
    # The rate these schedules start from replaces the optimizer's: one rate must not say two things.
    sets_rate = {"OneCycleLR": "max_lr", "CyclicLR": "base_lr"}.get(sched.name)
    if sets_rate in sargs and "lr" in oargs and sargs[sets_rate] != oargs["lr"]:
        hint = (
            ": give the peak once, as the optimizer's lr (max_lr defaults to it) or as max_lr"
            if sched.name == "OneCycleLR"
            else ": leave the optimizer's lr out"
        )
        problems.append(
            f"recipe field 'optimizer.lr' = {oargs['lr']!r} is replaced by {sched.name}'s "
            f"{sets_rate} = {sargs[sets_rate]!r}{hint}"
        )
    if not problems:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                sched.build(opt.build([torch.zeros(1, requires_grad=True)]), epochs, 1)
            except Exception as e:  # torch's own check of the values, e.g. pct_start=1.5
                problems.append(
                    f"recipe field 'schedule' = {literal(sched.to_dict())}: "
                    f"torch.optim.lr_scheduler.{sched.name} refused it: {e}"
                )
    return problems


# ---------------------------------------------------------------- the recipe format before named classes

_OLD_OPTIMIZER_FIELDS = ("lr", "momentum", "nesterov", "betas", "weight_decay")
_OLD_SCHEDULE_FIELDS = ("step_size", "gamma", "pct_start", "div_factor", "final_div_factor", "anneal", "three_phase")
_OLD_DEFAULTS = dict(
    optimizer="sgd",
    lr=0.01,
    momentum=0.9,
    nesterov=False,
    betas=(0.9, 0.999),
    weight_decay=0.0,
    schedule="none",
    step_size=1,
    gamma=0.1,
    pct_start=0.3,
    div_factor=25.0,
    final_div_factor=1e4,
    anneal="cos",
    three_phase=False,
)
_OLD_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
_OLD_SCHEDULES = {"none": None, "step": "StepLR", "onecycle": "OneCycleLR"}


def _old_format(d: Mapping) -> tuple[list[str], set[str]]:
    """One problem per part of `d` written in the old format, each with its exact replacement (what
    the old engine built from it), and the fields those problems cover."""
    problems = []
    opt, sched = d.get("optimizer"), d.get("schedule")
    # Anything else in optimizer or schedule is neither format: reading it names the problem.
    either = (str, Mapping, type(None))
    old_opt = {
        k: d[k]
        for k in ("optimizer", *_OLD_OPTIMIZER_FIELDS)
        if k in d and (k != "optimizer" or isinstance(opt, str)) and isinstance(opt, either)
    }
    if old_opt and isinstance(opt, Mapping):  # the new form, with some of its arguments left outside it
        problems.append(
            f"{_fields(old_opt, verb='')}: optimizer arguments go inside it, optimizer={literal({**opt, **old_opt})}"
        )
    elif old_opt:
        problems.append(_old_optimizer(old_opt))
    old_sched = {
        k: d[k]
        for k in ("schedule", *_OLD_SCHEDULE_FIELDS)
        if k in d and (k != "schedule" or isinstance(sched, str)) and isinstance(sched, either)
    }
    if old_sched and isinstance(sched, Mapping):
        moved = {**sched, **{("anneal_strategy" if k == "anneal" else k): v for k, v in old_sched.items()}}
        problems.append(f"{_fields(old_sched, verb='')}: schedule arguments go inside it, schedule={literal(moved)}")
    elif old_sched:
        problems.append(_old_schedule(old_sched, _old_sgd_momentum(opt if isinstance(opt, Mapping) else old_opt)))
    old_aug = {"augment"} if isinstance(d.get("augment"), Mapping) else set()
    if old_aug:
        problems.append(_old_augment(d["augment"]))
    return problems, {*old_opt, *old_sched, *old_aug}


def _old_sgd_momentum(opt: Mapping) -> bool:
    """Whether the old engine cycled momentum under onecycle: only for SGD with momentum > 0."""
    if "name" in opt:
        return opt.get("name") == "SGD" and is_number(opt.get("momentum", 0)) and opt.get("momentum", 0) > 0
    old = {**_OLD_DEFAULTS, **opt}
    return str(old["optimizer"]).lower() == "sgd" and is_number(old["momentum"]) and old["momentum"] > 0


def _old_optimizer(given: dict) -> str:
    old = {**_OLD_DEFAULTS, **given}
    head = f"{_fields(given)} the old format"
    name = _OLD_OPTIMIZERS.get(old["optimizer"].lower()) if isinstance(old["optimizer"], str) else None
    if name is None:
        choices = [c for c in OPTIMIZERS if c not in UNSUPPORTED]
        return (
            f"{head}, and {old['optimizer']!r} is no optimizer it had; write optimizer=dict(name=..., "
            f"**arguments) with a torch.optim class{did_you_mean(old['optimizer'], choices)} "
            f"(one of {', '.join(choices)})"
        )
    # Exactly what the old engine passed, less what equals torch's own default.
    if name == "SGD":
        kw = dict(lr=old["lr"], momentum=old["momentum"], nesterov=old["nesterov"], weight_decay=old["weight_decay"])
    else:
        kw = dict(lr=old["lr"], betas=old["betas"], weight_decay=old["weight_decay"])
    kw = _without_defaults(OPTIMIZERS[name], kw)
    return f"{head}: write optimizer={literal(dict(name=name, **kw, foreach=True))}"


def _old_schedule(given: dict, momentum_sgd: bool) -> str:
    old = {**_OLD_DEFAULTS, **given}
    head = f"{_fields(given)} the old format"
    kind = old["schedule"].lower() if isinstance(old["schedule"], str) else old["schedule"]
    if kind not in _OLD_SCHEDULES:
        choices = [c for c in SCHEDULERS if c not in UNSUPPORTED]
        return (
            f"{head}, and {old['schedule']!r} is no schedule it had; write schedule=dict(name=..., "
            f"**arguments) with a torch.optim.lr_scheduler class{did_you_mean(str(old['schedule']), choices)}"
        )
    name = _OLD_SCHEDULES[kind]
    if name is None:
        unused = [k for k in given if k != "schedule"]
        them = "them" if len(unused) > 1 else "it"
        drop = f"; {', '.join(unused)} applied to no schedule: drop {them}" if unused else ""
        return f"{head}: leave schedule out (no schedule is a constant rate){drop}"
    if name == "StepLR":
        kw = dict(step_size=old["step_size"], gamma=old["gamma"])
    else:  # max_lr was the lr, as it now is by default; cycle_momentum as the old engine set it
        kw = dict(
            pct_start=old["pct_start"],
            div_factor=old["div_factor"],
            final_div_factor=old["final_div_factor"],
            anneal_strategy=old["anneal"],
            three_phase=old["three_phase"],
            cycle_momentum=momentum_sgd,
        )
    kw = _without_defaults(SCHEDULERS[name], kw)
    return f"{head}: write schedule={literal(dict(name=name, **kw))}"


def _old_augment(aug: Mapping) -> str:
    head = f"recipe field 'augment' = {literal(dict(aug))} is the old format"
    if "name" in aug:
        return f"{head}: augment is a list of ops, augment=[{literal(dict(aug))}]"
    unknown = [k for k in aug if k not in ("rotate", "translate", "scale")]
    if unknown:
        return (
            f"{head}, and {', '.join(map(repr, unknown))} had no meaning in it; write augment=[dict(name=..., "
            f"**arguments), ...] with the ops of harness.engine.augmentations"
        )
    kw = {}
    if aug.get("rotate", 0) != 0:
        kw["degrees"] = aug["rotate"]
    if aug.get("translate", 0) != 0:
        kw["translate"] = aug["translate"]
    if tuple(aug.get("scale", (1.0, 1.0))) != (1.0, 1.0):
        kw["scale"] = tuple(aug["scale"])
    if not kw:
        return f"{head}: it changed nothing; leave augment out"
    return f"{head}: write augment=[{literal(dict(name='ContinuousAffine', **kw))}]"


def _old_named(field: str, value: str) -> str:
    return (
        _old_optimizer({"optimizer": value})
        if field == "optimizer"
        else _old_schedule({"schedule": value}, momentum_sgd=False)
    )


# ---------------------------------------------------------------- small helpers


def _without_defaults(cls, kw: dict) -> dict:
    params = inspect.signature(cls).parameters
    return {k: v for k, v in kw.items() if not (k in params and _same(v, params[k].default))}


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _canonical(cls, args: dict) -> tuple[tuple[str, Any], ...]:
    """The arguments in the order of the class's signature, lists frozen to tuples."""
    order = list(inspect.signature(cls).parameters)
    ranked = sorted(args, key=lambda k: order.index(k) if k in order else len(order))
    return tuple((k, _freeze(args[k])) for k in ranked)


def _freeze(v):
    return tuple(_freeze(e) for e in v) if isinstance(v, (list, tuple)) else v


def _thaw(v):
    return [_thaw(e) for e in v] if isinstance(v, (list, tuple)) else v


def _plain(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(map(_plain, v))
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(e) for k, e in v.items())
    return False


def _given(fields: dict) -> str:
    return ", ".join(f"{k}={literal(v)}" for k, v in fields.items())


def _fields(fields: dict, verb: str = "is") -> str:
    """'recipe field a=1 is', 'recipe fields a=1, b=2 are'."""
    if verb and len(fields) > 1:
        verb = "are"
    return f"recipe field{'s' if len(fields) > 1 else ''} {_given(fields)}{' ' + verb if verb else ''}"


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_field(key, known: list[str]) -> str:
    text = f"unknown recipe field {key!r}"
    hint = did_you_mean(key, known)
    if not hint and isinstance(key, str):
        for field, names in (("optimizer", _OLD_OPTIMIZER_FIELDS), ("schedule", _OLD_SCHEDULE_FIELDS)):
            close = difflib.get_close_matches(key, names, n=1)
            if close:
                hint = f"; did you mean {close[0]!r}? It is an argument inside {field}=dict(...)"
    return f"{text}{hint} (known fields: {', '.join(known)})"


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # True is an int to Python, not here
