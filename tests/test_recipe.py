"""Recipes as people write them: torch's optimizer and scheduler classes and torchvision-named
transforms by name, checked against their signatures, every problem reported at once with its
field, and the old format refused with its exact replacement."""

from __future__ import annotations

import dataclasses
import io
import json
import re

import pytest
import torch

from harness.engine.augmentations import Pipeline
from harness.engine.recipe import (
    MAX_EPOCHS,
    OPTIMIZERS,
    SCHEDULERS,
    UNSUPPORTED,
    Optimizer,
    Recipe,
    RecipeError,
    Schedule,
)

MODEL3 = dict(
    epochs=15,
    batch_size=128,
    optimizer=dict(name="SGD", lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-5, foreach=True),
    schedule=dict(name="OneCycleLR", pct_start=0.25),
    label_smoothing=0.05,
    ema=0.999,
    augment=[dict(name="ContinuousAffine", degrees=8.0, translate=0.08, scale=(0.92, 1.08))],
)


def problems(d: dict) -> list[str]:
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict(d)
    assert str(info.value) == "; ".join(info.value.problems)
    return info.value.problems


def built(recipe: Recipe, steps_per_epoch: int = 10):
    """The optimizer and schedule the engine builds from the recipe, over one parameter."""
    opt = recipe.optimizer.build([torch.zeros(3, requires_grad=True)])
    sched = recipe.schedule.build(opt, recipe.epochs, steps_per_epoch) if recipe.schedule else None
    return opt, sched


# ---------------------------------------------------------------- the format and its canonical form


def test_defaults_are_valid_and_round_trip():
    r = Recipe()
    assert r.epochs == MAX_EPOCHS == 15 and not r.augment.enabled and r.schedule is None
    assert r.optimizer == Optimizer("SGD", (("lr", 0.01), ("momentum", 0.9)))
    assert Recipe.from_dict(r.to_dict()) == r == Recipe.from_dict({})


def test_canonical_form_is_plain_data_that_round_trips():
    r = Recipe.from_dict(MODEL3)
    d = r.to_dict()
    assert d == {
        "epochs": 15,
        "batch_size": 128,
        "optimizer": {
            "name": "SGD",
            "lr": 0.2,
            "momentum": 0.9,
            "weight_decay": 5e-5,
            "nesterov": True,
            "foreach": True,
        },  # in torch.optim.SGD's signature order
        "schedule": {"name": "OneCycleLR", "pct_start": 0.25, "interval": "step"},
        "clip_grad_norm": None,
        "label_smoothing": 0.05,
        "ema": 0.999,
        "bn_recalibration": 0,
        "mean": 0.1307,
        "std": 0.3081,
        "augment": [{"name": "ContinuousAffine", "degrees": [-8.0, 8.0], "translate": 0.08, "scale": [0.92, 1.08]}],
    }
    assert Recipe.from_dict(d) == r and Recipe.from_dict(json.loads(json.dumps(d))) == r
    # The runner gets it through torch.save and torch.load(weights_only=True): plain data only.
    buf = io.BytesIO()
    torch.save(d, buf)
    buf.seek(0)
    assert Recipe.from_dict(torch.load(buf, weights_only=True)) == r
    # The order arguments are written in does not make another recipe.
    shuffled = dict(
        MODEL3, optimizer=dict(foreach=True, weight_decay=5e-5, nesterov=True, momentum=0.9, lr=0.2, name="SGD")
    )
    assert Recipe.from_dict(shuffled) == r and hash(Recipe.from_dict(shuffled)) == hash(r)


def test_recipe_is_frozen_and_takes_plain_data_directly():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Recipe().epochs = 3
    r = Recipe().replace(
        optimizer=dict(name="Adam", lr=0.003),
        schedule=dict(name="StepLR", step_size=5),
        augment=[dict(name="RandomRotation", degrees=7)],
    )
    assert isinstance(r.optimizer, Optimizer) and isinstance(r.schedule, Schedule)
    assert isinstance(r.augment, Pipeline) and r.augment.enabled
    assert r.optimizer.kwargs == {"lr": 0.003} and r.schedule.interval == "epoch"


def test_mean_and_std_take_torchvision_one_tuples():
    r = Recipe.from_dict(dict(mean=(0.1307,), std=[0.3081]))
    assert r.mean == 0.1307 and r.std == 0.3081 and r == Recipe()
    assert Recipe.from_dict(dict(mean=0, std=1)).mean == 0.0 and isinstance(Recipe.from_dict(dict(std=1)).std, float)
    found = problems(dict(mean=(0.5, 0.5, 0.5), std=(0.0,)))
    assert found[0].startswith("recipe field 'mean' = (0.5, 0.5, 0.5) must be a finite number, or a 1-tuple")
    assert found[1].startswith("recipe field 'std' = (0.0,) must be a positive finite number")


def test_sixteen_epochs_are_refused_naming_the_rule():
    assert problems({"epochs": 16}) == [
        "recipe field 'epochs' = 16 must be an integer from 1 to 15 (the rule allows at most 15 epochs)"
    ]
    with pytest.raises(RecipeError, match="'epochs' = 16"):
        Recipe().replace(epochs=16)
    assert Recipe.from_dict({"epochs": 15}).epochs == 15


def test_unknown_field_is_refused_with_the_known_ones_and_a_near_name():
    [found] = problems({"epochs": 3, "batch_sise": 64})
    assert found.startswith("unknown recipe field 'batch_sise'; did you mean 'batch_size'? (known fields: epochs, ")
    [found] = problems({"momentun": 0.9})
    assert found.startswith(
        "unknown recipe field 'momentun'; did you mean 'momentum'? It is an argument inside optimizer=dict(...)"
    )


BAD = [
    ("epochs", 0),
    ("epochs", 2.5),
    ("epochs", True),
    ("epochs", "10"),
    ("batch_size", 0),
    ("batch_size", 64.0),
    ("clip_grad_norm", 0),
    ("clip_grad_norm", -1.0),
    ("clip_grad_norm", float("inf")),
    ("clip_grad_norm", "1"),
    ("label_smoothing", 1.0),
    ("ema", 1.0),
    ("ema", -0.1),
    ("mean", float("nan")),
    ("std", 0),
    ("std", "0.3"),
]


@pytest.mark.parametrize("field, value", BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_each_bad_value_is_refused_naming_its_field(field, value):
    [found] = problems({field: value})
    assert found.startswith(f"recipe field '{field}' = {value!r} must ")


def test_every_problem_is_reported_at_once():
    found = problems(
        dict(
            epochs=16,
            optimizer=dict(name="Adam", lr=0.01, momentum=0.9),  # momentum: not an argument of Adam
            schedule=dict(name="StepLR", gama=0.5),  # a typo, and step_size missing
            clip_grad_norm=-1,
            augment=[dict(name="RandomRotate", degrees=5)],
            warmup=3,
        )
    )
    # Each names its field, the value, what is allowed and a near name; the lists of what a class
    # takes come from torch's signatures, which grow between releases, so only their start is fixed.
    expected = [
        "unknown recipe field 'warmup' (known fields: epochs, batch_size, optimizer, schedule, clip_grad_norm, "
        "label_smoothing, ema, bn_recalibration, mean, std, augment)",
        "recipe field 'optimizer.momentum' = 0.9 is not an argument of torch.optim.Adam (Adam takes lr, betas, eps, ",
        "recipe field 'schedule.gama' = 0.5 is not an argument of torch.optim.lr_scheduler.StepLR; did you mean "
        "'gamma'? (StepLR takes step_size, gamma, interval)",
        "recipe field 'schedule.step_size' is missing: StepLR needs step_size (StepLR takes step_size, gamma, "
        "interval)",
        "augment[0].name = 'RandomRotate' is not a supported op; did you mean 'RandomRotation'? (supported: ",
        "recipe field 'epochs' = 16 must be an integer from 1 to 15 (the rule allows at most 15 epochs)",
        "recipe field 'clip_grad_norm' = -1 must be a positive finite number (the largest total gradient norm), "
        "or None for no clipping",
    ]
    assert len(found) == len(expected), found
    for got, start in zip(found, expected):
        assert got.startswith(start), (got, start)


# ---------------------------------------------------------------- optimizers and schedulers by torch's names

SUPPORTED_OPTIMIZERS = [n for n in OPTIMIZERS if n not in UNSUPPORTED]
# The least each scheduler needs; every class of torch.optim.lr_scheduler must appear here or in UNSUPPORTED.
SCHEDULE_NEEDS = {
    "ConstantLR": {},
    "CosineAnnealingLR": dict(T_max=15),
    "CosineAnnealingWarmRestarts": dict(T_0=5),
    "CyclicLR": dict(base_lr=0.1, max_lr=1.0),
    "ExponentialLR": dict(gamma=0.9),
    "LinearLR": {},
    "MultiStepLR": dict(milestones=[5, 10]),
    "OneCycleLR": {},
    "PolynomialLR": {},
    "ReduceLROnPlateau": {},
    "StepLR": dict(step_size=5),
}


@pytest.mark.parametrize("name", SUPPORTED_OPTIMIZERS)
def test_every_torch_optimizer_is_built_by_name(name):
    opt, _ = built(Recipe(optimizer=dict(name=name)))
    assert type(opt) is OPTIMIZERS[name] is getattr(torch.optim, name)


def test_every_torch_scheduler_is_known_and_the_table_is_complete():
    assert set(SCHEDULE_NEEDS) | {n for n in SCHEDULERS if n in UNSUPPORTED} | {"LambdaLR", "MultiplicativeLR"} == set(
        SCHEDULERS
    )
    for name, needs in SCHEDULE_NEEDS.items():
        _, sched = built(Recipe(optimizer=dict(name="SGD", lr=0.1, momentum=0.9), schedule=dict(name=name, **needs)))
        assert type(sched) is getattr(torch.optim.lr_scheduler, name)


def test_arguments_reach_torch_as_written():
    r = Recipe.from_dict(
        dict(
            optimizer=dict(name="SGD", lr=0.01, momentum=0.9, nesterov=True),
            schedule=dict(name="ReduceLROnPlateau", factor=0.7, patience=0, monitor="test_loss"),
        )
    )
    opt, sched = built(r)
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"], group["foreach"]) == (0.01, 0.9, True, None)
    assert (sched.factor, sched.patience, sched.mode) == (0.7, 0, "min")
    opt, _ = built(Recipe(optimizer=dict(name="AdamW", lr=3e-3, betas=[0.8, 0.99], weight_decay=0.0)))
    assert opt.param_groups[0]["betas"] == (0.8, 0.99) and opt.param_groups[0]["weight_decay"] == 0.0


def test_unknown_names_get_did_you_mean_and_the_list():
    found = problems(dict(optimizer=dict(name="sgd"), schedule=dict(name="cosine")))
    assert found[0].startswith(
        "recipe field 'optimizer.name' = 'sgd' is not a torch.optim optimizer class; "
        "did you mean 'SGD'? (one of ASGD, Adadelta, "
    )
    assert found[1].startswith(
        "recipe field 'schedule.name' = 'cosine' is not a torch.optim.lr_scheduler class; "
        "did you mean 'CosineAnnealingLR' or 'CosineAnnealingWarmRestarts'? (one of "
    )
    [found] = problems(dict(optimizer=dict(lr=0.1)))
    assert "has no 'name' string; name a torch.optim optimizer class, e.g. dict(name=\"SGD\"" in found
    [found] = problems(dict(optimizer=[("name", "SGD")]))
    assert found.startswith("recipe field 'optimizer' = [('name', 'SGD')] must be dict(name=..., **arguments)")


def test_keyword_arguments_are_checked_against_the_signature():
    [found] = problems(dict(optimizer=dict(name="Adam", beta=(0.9, 0.99))))
    assert found.startswith(
        "recipe field 'optimizer.beta' = (0.9, 0.99) is not an argument of torch.optim.Adam; "
        "did you mean 'betas'? (Adam takes lr, betas, eps, "
    )
    # momentum given to Adam would be ignored by a looser harness; here it is an unknown argument.
    [found] = problems(dict(optimizer=dict(name="Adam", lr=0.01, momentum=0.9)))
    assert found.startswith("recipe field 'optimizer.momentum' = 0.9 is not an argument of torch.optim.Adam")


def test_missing_required_arguments_are_named():
    found = problems(dict(schedule=dict(name="StepLR")))
    assert found == [
        "recipe field 'schedule.step_size' is missing: StepLR needs step_size (StepLR takes step_size, gamma, interval)"
    ]
    found = problems(dict(schedule=dict(name="CyclicLR")))
    assert [f.split(":")[0] for f in found] == [
        "recipe field 'schedule.base_lr' is missing",
        "recipe field 'schedule.max_lr' is missing",
    ]


@pytest.mark.parametrize(
    "field, key, value",
    [
        ("optimizer", "params", [1, 2]),
        ("schedule", "optimizer", "SGD"),
        ("schedule", "epochs", 15),
        ("schedule", "steps_per_epoch", 469),
        ("schedule", "total_steps", 7035),
        ("schedule", "last_epoch", 3),
    ],
)
def test_harness_owned_arguments_are_refused_saying_why(field, key, value):
    d = dict(optimizer=dict(name="SGD", lr=0.1, momentum=0.9), schedule=dict(name="OneCycleLR"))
    d[field] = dict(d[field], **{key: value})
    [found] = problems(d)
    assert found.startswith(f"recipe field '{field}.{key}' = {value!r}: {key} is the harness's to set (")


def test_torchs_own_checks_of_the_values_are_reported():
    [found] = problems(dict(optimizer=dict(name="SGD", lr=-0.1)))
    assert found == (
        "recipe field 'optimizer' = dict(name=\"SGD\", lr=-0.1): torch.optim.SGD refused it: "
        "Invalid learning rate: -0.1"
    )
    [found] = problems(dict(optimizer=dict(name="SGD", lr=0.1, nesterov=True)))
    assert "torch.optim.SGD refused it: Nesterov momentum requires a momentum" in found
    [found] = problems(dict(schedule=dict(name="OneCycleLR", pct_start=1.5), optimizer=dict(name="Adam")))
    assert "torch.optim.lr_scheduler.OneCycleLR refused it: Expected float between 0 and 1 pct_start" in found


def test_what_a_recipe_cannot_hold_is_refused():
    found = problems(dict(optimizer=dict(name="LBFGS"), schedule=dict(name="LambdaLR")))
    assert found[0].startswith(
        "recipe field 'optimizer.name' = 'LBFGS' is not supported here: its step() needs a closure"
    )
    assert found[1] == (
        "recipe field 'schedule.name' = 'LambdaLR': LambdaLR needs lr_lambda, a function, and a "
        "recipe holds data only; choose another schedule class"
    )
    [found] = problems(
        dict(
            optimizer=dict(name="SGD", lr=0.1, momentum=0.9),
            schedule=dict(name="CyclicLR", base_lr=0.01, max_lr=0.1, scale_fn="x"),
        )
    )
    assert found.startswith("recipe field 'schedule.scale_fn' = 'x': scale_fn is a function in CyclicLR")
    [found] = problems(dict(optimizer=dict(name="SGD", lr=torch.tensor(0.1))))
    assert found.startswith("recipe field 'optimizer.lr' = tensor(0.1000) must be plain data")


# ---------------------------------------------------------------- stepping, OneCycleLR, ReduceLROnPlateau


def test_interval_follows_the_kind_and_can_be_overridden():
    sgd = dict(name="SGD", lr=0.1, momentum=0.9)
    kinds = {
        name: Recipe(optimizer=sgd, schedule=dict(name=name, **needs)).schedule.interval
        for name, needs in SCHEDULE_NEEDS.items()
    }
    assert {n for n, i in kinds.items() if i == "step"} == {"OneCycleLR", "CyclicLR"}
    assert Recipe(schedule=dict(name="StepLR", step_size=100, interval="step")).schedule.interval == "step"
    assert Recipe(schedule=dict(name="OneCycleLR", interval="epoch")).schedule.interval == "epoch"
    [found] = problems(dict(schedule=dict(name="StepLR", step_size=1, interval="batch")))
    assert found == "recipe field 'schedule.interval' = 'batch' must be 'step' or 'epoch'"


def test_one_cycle_peaks_at_the_optimizers_lr_over_the_harness_step_count():
    r = Recipe(epochs=4, optimizer=dict(name="SGD", lr=0.2, momentum=0.9), schedule=dict(name="OneCycleLR"))
    opt, sched = built(r, steps_per_epoch=10)
    assert sched.total_steps == 40 and opt.param_groups[0]["max_lr"] == 0.2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2 / 25)  # starts at max_lr / div_factor
    # per epoch, it counts epochs
    _, sched = built(r.replace(schedule=dict(name="OneCycleLR", interval="epoch")), steps_per_epoch=10)
    assert sched.total_steps == 4
    # max_lr may be given instead, with the optimizer's lr left out
    opt, _ = built(Recipe(optimizer=dict(name="SGD", momentum=0.9), schedule=dict(name="OneCycleLR", max_lr=0.3)))
    assert opt.param_groups[0]["max_lr"] == 0.3
    [found] = problems(
        dict(optimizer=dict(name="SGD", lr=0.1, momentum=0.9), schedule=dict(name="OneCycleLR", max_lr=0.2))
    )
    assert found == (
        "recipe field 'optimizer.lr' = 0.1 is replaced by OneCycleLR's max_lr = 0.2: give the peak "
        "once, as the optimizer's lr (max_lr defaults to it) or as max_lr"
    )


def test_one_cycle_cycles_momentum_or_beta1_as_torch_does():
    opt, _ = built(Recipe(optimizer=dict(name="SGD", lr=0.1, momentum=0.9), schedule=dict(name="OneCycleLR")))
    assert opt.param_groups[0]["momentum"] == 0.95  # max_momentum at the start, as torch sets it
    opt, _ = built(Recipe(optimizer=dict(name="Adam", lr=0.01), schedule=dict(name="OneCycleLR")))
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)  # Adam: beta1 is the momentum that cycles
    opt, _ = built(Recipe(optimizer=dict(name="Adam", lr=0.01), schedule=dict(name="OneCycleLR", cycle_momentum=False)))
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    # torch raises for an optimizer with neither; here it is a problem that says what to write
    [found] = problems(dict(optimizer=dict(name="Adagrad"), schedule=dict(name="OneCycleLR")))
    assert found == (
        "recipe field 'schedule.cycle_momentum' is True by default in OneCycleLR: it cycles momentum "
        "(or beta1) inversely to the rate, and torch.optim.Adagrad has neither; set cycle_momentum=False"
    )
    # torch would silently turn a momentum-free SGD into one with momentum 0.85-0.95
    [found] = problems(dict(optimizer=dict(name="SGD", lr=0.1), schedule=dict(name="OneCycleLR")))
    assert found.startswith(
        "recipe field 'schedule.cycle_momentum' is True by default in OneCycleLR: it cycles "
        "momentum between 0.85 and 0.95, replacing SGD's momentum 0; set cycle_momentum=False"
    )
    assert Recipe(optimizer=dict(name="SGD", lr=0.1), schedule=dict(name="OneCycleLR", cycle_momentum=False))


def test_plateau_monitors_a_harness_number_and_records_it():
    r = Recipe(schedule=dict(name="ReduceLROnPlateau", factor=0.5, patience=0))
    assert r.schedule.monitor == "test_loss" and r.schedule.interval == "epoch"
    assert r.to_dict()["schedule"] == {
        "name": "ReduceLROnPlateau",
        "factor": 0.5,
        "patience": 0,
        "interval": "epoch",
        "monitor": "test_loss",
    }
    acc = Recipe(schedule=dict(name="ReduceLROnPlateau", monitor="test_acc"))
    assert acc.schedule.kwargs == {"mode": "max"} and built(acc)[1].mode == "max"  # higher accuracy is better
    assert Recipe(schedule=dict(name="ReduceLROnPlateau", monitor="train_acc", mode="min")).schedule.kwargs == {
        "mode": "min"
    }  # given: kept
    found = problems(dict(schedule=dict(name="ReduceLROnPlateau", monitor="val_loss", interval="step")))
    assert found == [
        "recipe field 'schedule.interval' = 'step' must be 'epoch': it steps on a number measured once per epoch",
        "recipe field 'schedule.monitor' = 'val_loss' must be one of 'test_loss', 'test_acc', 'train_loss', "
        "'train_acc'; did you mean 'test_loss'?",
    ]
    [found] = problems(dict(schedule=dict(name="StepLR", step_size=2, monitor="test_loss")))
    assert found.startswith("recipe field 'schedule.monitor' = 'test_loss': only ReduceLROnPlateau watches")


# ---------------------------------------------------------------- the old format, refused with its replacement

OLD = {  # model3's, model4's and model5's recipes before named classes, and a few more
    "model3": (
        dict(
            epochs=15,
            batch_size=128,
            optimizer="sgd",
            lr=0.2,
            momentum=0.9,
            nesterov=True,
            weight_decay=5e-5,
            label_smoothing=0.05,
            schedule="onecycle",
            pct_start=0.25,
            ema=0.999,
            augment=dict(rotate=8.0, translate=0.08, scale=(0.92, 1.08)),
        ),
        [
            'recipe fields optimizer="sgd", lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-05 are the old '
            'format: write optimizer=dict(name="SGD", lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-05, '
            "foreach=True)",
            'recipe fields schedule="onecycle", pct_start=0.25 are the old format: write '
            'schedule=dict(name="OneCycleLR", pct_start=0.25)',
            "recipe field 'augment' = dict(rotate=8.0, translate=0.08, scale=(0.92, 1.08)) is the old format: write "
            'augment=[dict(name="ContinuousAffine", degrees=8.0, translate=0.08, scale=(0.92, 1.08))]',
        ],
    ),
    "model5": (
        dict(
            epochs=15,
            batch_size=128,
            optimizer="adam",
            lr=0.01,
            schedule="onecycle",
            pct_start=0.25,
            augment=dict(rotate=6.0, translate=0.05),
        ),
        [
            'recipe fields optimizer="adam", lr=0.01 are the old format: write optimizer=dict(name="Adam", lr=0.01, '
            "foreach=True)",
            'recipe fields schedule="onecycle", pct_start=0.25 are the old format: write '
            'schedule=dict(name="OneCycleLR", pct_start=0.25, cycle_momentum=False)',
            "recipe field 'augment' = dict(rotate=6.0, translate=0.05) is the old format: write "
            'augment=[dict(name="ContinuousAffine", degrees=6.0, translate=0.05)]',
        ],
    ),
    "defaults": (
        dict(optimizer="sgd", schedule="step"),
        [  # the old defaults: momentum 0.9, step_size 1
            'recipe field optimizer="sgd" is the old format: write optimizer=dict(name="SGD", lr=0.01, momentum=0.9, '
            "foreach=True)",
            'recipe field schedule="step" is the old format: write schedule=dict(name="StepLR", step_size=1)',
        ],
    ),
    "adamw": (
        dict(optimizer="adamw", lr=0.003, schedule="onecycle", anneal="linear", three_phase=True),
        [
            # AdamW's own default weight decay is 0.01; the old engine passed 0.
            'recipe fields optimizer="adamw", lr=0.003 are the old format: write optimizer=dict(name="AdamW", '
            "lr=0.003, weight_decay=0.0, foreach=True)",
            'recipe fields schedule="onecycle", anneal="linear", three_phase=True are the old format: write '
            'schedule=dict(name="OneCycleLR", anneal_strategy="linear", three_phase=True, cycle_momentum=False)',
        ],
    ),
    "none": (
        dict(lr=0.05, schedule="none", pct_start=0.2),
        [
            'recipe field lr=0.05 is the old format: write optimizer=dict(name="SGD", lr=0.05, momentum=0.9, '
            "foreach=True)",
            'recipe fields schedule="none", pct_start=0.2 are the old format: leave schedule out (no schedule is a '
            "constant rate); pct_start applied to no schedule: drop it",
        ],
    ),
}


@pytest.mark.parametrize("name", list(OLD))
def test_old_format_is_refused_with_its_exact_replacement(name):
    old, expected = OLD[name]
    assert problems(old) == expected
    # Written as the messages say, the recipe is valid.
    new = {k: v for k, v in old.items() if k in {f.name for f in dataclasses.fields(Recipe)}}
    for k in ("optimizer", "schedule", "augment"):
        new.pop(k, None)
    for message in expected:
        if ": write " in message:
            new.update(eval(f"dict({message.split(': write ')[1]})"))  # the replacement is Python source
    Recipe.from_dict(new)


def test_old_fields_beside_the_new_form_are_moved_inside_it():
    found = problems(
        dict(
            optimizer=dict(name="SGD", momentum=0.9),
            lr=0.1,
            schedule=dict(name="OneCycleLR"),
            pct_start=0.25,
            anneal="linear",
        )
    )
    assert found == [
        'recipe field lr=0.1: optimizer arguments go inside it, optimizer=dict(name="SGD", momentum=0.9, lr=0.1)',
        'recipe fields pct_start=0.25, anneal="linear": schedule arguments go inside it, '
        'schedule=dict(name="OneCycleLR", pct_start=0.25, anneal_strategy="linear")',
    ]


def test_old_augment_forms_are_refused_directly_too():
    with pytest.raises(RecipeError, match=re.escape('write augment=[dict(name="ContinuousAffine", degrees=5)]')):
        Recipe(augment=dict(rotate=5))
    with pytest.raises(RecipeError, match=re.escape('write optimizer=dict(name="Adam", lr=0.01, foreach=True)')):
        Recipe(optimizer="adam")
    [found] = problems(dict(augment=dict(name="RandomRotation", degrees=5)))
    assert found.endswith('augment is a list of ops, augment=[dict(name="RandomRotation", degrees=5)]')


def test_recipe_error_keeps_a_single_message_too():
    e = RecipeError("model9: recipe field 'epochs' = 16 must be ...")
    assert e.problems == [str(e)]


def test_a_value_is_written_as_python_reads_it_back():
    from harness.engine.fields import literal

    value = {"name": "SGD", "lambda": 0.5, 3: (1,), "ops": [{"name": "Pad", "_where": ("cell 2", 7)}]}
    text = literal(value, hide=("_where",))
    assert text == '{"name": "SGD", "lambda": 0.5, 3: (1,), "ops": [dict(name="Pad")]}'
    assert eval(text, {"dict": dict}) == {  # a keyword as a key stays a string key, so the text still reads
        "name": "SGD",
        "lambda": 0.5,
        3: (1,),
        "ops": [{"name": "Pad"}],
    }
    assert literal(dict(momentum=0.9, betas=(0.9, 0.99))) == "dict(momentum=0.9, betas=(0.9, 0.99))"
