"""Recipe validation: the defaults are valid, the epoch rule is enforced, and every bad or
unknown field is refused by name, with the value that was given."""
from __future__ import annotations

import dataclasses
import json

import pytest

from harness.recipe import MAX_EPOCHS, Augment, Recipe, RecipeError


def test_defaults_are_valid_and_round_trip():
    r = Recipe()
    assert r.epochs == MAX_EPOCHS == 15 and not r.augment.enabled
    assert Recipe.from_dict(r.to_dict()) == r
    # JSON turns pairs into lists; they must come back as the same recipe.
    aug = Recipe(betas=(0.8, 0.99), augment=Augment(rotate=7.5, scale=(0.9, 1.1)))
    assert Recipe.from_dict(json.loads(json.dumps(aug.to_dict()))) == aug


def test_recipe_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Recipe().epochs = 3


def test_sixteen_epochs_are_refused_naming_the_rule():
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({"epochs": 16})
    assert "'epochs' = 16" in str(info.value) and "15" in str(info.value)
    with pytest.raises(RecipeError, match="'epochs' = 16"):
        Recipe().replace(epochs=16)
    assert Recipe.from_dict({"epochs": 15}).epochs == 15


def test_unknown_field_is_refused_by_name():
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({"epochs": 3, "learning_rate": 0.1})
    msg = str(info.value)
    assert "unknown recipe field 'learning_rate'" in msg
    assert "lr" in msg  # the known fields are listed, so the typo is easy to fix


def test_unknown_augment_field_is_refused_with_its_prefix():
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({"augment": {"rotate": 5, "shear": 3}})
    msg = str(info.value)
    assert "unknown recipe field 'augment.shear'" in msg and "augment.rotate" in msg


BAD = [
    ("epochs", 0), ("epochs", 2.5), ("epochs", True), ("epochs", "10"),
    ("batch_size", 0), ("batch_size", 64.0),
    ("optimizer", "rmsprop"),
    ("lr", 0), ("lr", -0.1), ("lr", float("nan")), ("lr", float("inf")), ("lr", "0.1"), ("lr", None),
    ("momentum", 1.0), ("momentum", -0.1),
    ("nesterov", "yes"),
    ("betas", (0.9,)), ("betas", (0.9, 1.0)), ("betas", 0.9),
    ("weight_decay", -1e-4),
    ("schedule", "cosine"),
    ("step_size", 0),
    ("gamma", 0), ("gamma", 1.5),
    ("pct_start", 0), ("pct_start", 1),
    ("div_factor", 0), ("final_div_factor", -1),
    ("anneal", "exp"),
    ("three_phase", 1),
    ("label_smoothing", 1.0),
    ("mean", float("nan")),
    ("std", 0),
    ("augment.rotate", -5), ("augment.rotate", 270), ("augment.rotate", "15"),
    ("augment.translate", 1.0), ("augment.translate", -0.1),
    ("augment.scale", (1.2, 0.8)), ("augment.scale", (0.0, 1.0)), ("augment.scale", 1.1),
]


@pytest.mark.parametrize("field, value", BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_each_bad_value_is_refused_naming_its_field(field, value):
    d = {"optimizer": "sgd", "momentum": 0.9}
    if field.startswith("augment."):
        d["augment"] = {field.split(".")[1]: value}
    else:
        d[field] = value
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict(d)
    assert f"'{field}' = {value!r}" in str(info.value)


def test_nesterov_needs_sgd_with_momentum():
    assert Recipe(nesterov=True, momentum=0.9).nesterov
    for bad in ({"optimizer": "adam"}, {"momentum": 0.0}):
        with pytest.raises(RecipeError, match="'nesterov'"):
            Recipe.from_dict({"nesterov": True, **bad})


def test_recipe_and_augment_must_be_dicts():
    with pytest.raises(RecipeError, match="must be a dict"):
        Recipe.from_dict([("epochs", 3)])
    with pytest.raises(RecipeError, match="'augment' must be a dict"):
        Recipe.from_dict({"augment": [5, 0.1]})
    with pytest.raises(RecipeError, match="Recipe.from_dict"):
        Recipe(augment={"rotate": 5})


def test_augment_enabled_only_when_it_changes_images():
    assert not Augment().enabled
    assert Augment(rotate=1).enabled and Augment(translate=0.1).enabled
    assert Augment(scale=(0.9, 1.0)).enabled
