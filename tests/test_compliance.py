"""The compliance gate: every registered candidate, with every seed, against every rule.

Selected with `pytest -m compliance`; conftest.py parametrizes it, writes the records and
prints the table. The cheap checks come first, so a model over budget is never trained.
"""
from __future__ import annotations

import pytest

from harness import engine
from harness.probe import CandidateError, count_parameters, materialise
from harness.recipe import Recipe, RecipeError
from harness.rules import check_params, judge
from models import get_candidate

pytestmark = pytest.mark.compliance


def compliance(candidate: str, seed: int, gate) -> None:
    cand = get_candidate(candidate)
    if cand.error is not None:
        gate.stop(cand, seed, f"{candidate}: its file could not be imported: {cand.error}")
    try:
        model = engine.build(cand.builder, seed)
    except Exception as e:  # the candidate's own bug: reported as its failure, the session goes on
        gate.stop(cand, seed, f"{candidate}: the builder raised {type(e).__name__}: {e}")
    try:
        materialise(model)
        params = count_parameters(model)
    except CandidateError as e:
        gate.stop(cand, seed, f"{candidate}: {e}")
    if (broken := check_params(candidate, params, gate.rules)) is not None:
        gate.stop(cand, seed, broken, params=params)
    try:
        recipe = Recipe.from_dict(cand.recipe)
    except (RecipeError, TypeError) as e:
        gate.stop(cand, seed, f"{candidate}: {e}", params=params)
    if recipe.epochs > gate.rules.max_epochs:
        gate.stop(cand, seed, f"{candidate}: recipe trains {recipe.epochs} epochs > {gate.rules.max_epochs}",
                  params=params)
    try:
        result = gate.train(cand, model, recipe, seed)
    except engine.TrainingInterrupted:
        raise
    except Exception as e:  # e.g. a forward pass that breaks on a training batch
        gate.stop(cand, seed, f"{candidate} seed {seed}: training raised {type(e).__name__}: {e}",
                  params=params)
    gate.conclude(cand, seed, result, judge(result, gate.rules, epochs_planned=recipe.epochs))
