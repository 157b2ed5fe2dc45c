"""Weights files: read without running code, checked to fit a candidate as built, and compared
with the run record beside them."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from harness.engine.recipe import Recipe
from harness.records import store


class WeightsError(ValueError):
    """A weights file is missing, unreadable or does not fit; the message says what to do."""


def read_weights(name: str, path: Path, expected: dict[str, torch.Tensor]) -> dict:
    """The state dict at `path`, checked here to fit the candidate as built; one clear error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file {path}; `train` saves them beside its record as NAME-seedN.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # the unpickler fails in many ways on a damaged or foreign file
        raise WeightsError(
            f"{path} cannot be read as weights ({type(e).__name__}: {' '.join(str(e).split())})"
        ) from None
    if isinstance(state, dict) and {"schema", "key", "state"} <= set(state):
        raise WeightsError(
            f"{path} is a training checkpoint, not weights; continue it with `train --resume`, "
            f"or give the .pt written beside a finished run's record"
        )
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} holds no state dict (a dict of tensors); give the .pt written beside a run record")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: {list(state[k].shape)} in the file, {list(expected[k].shape)} in the model"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(
                f"{len(shapes)} tensor{'s' if len(shapes) != 1 else ''} differ in shape "
                f"({'; '.join(shapes[:2])}{'; ...' if len(shapes) > 2 else ''})"
            )
        if missing:
            parts.append(f"{len(missing)} missing ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
        if unexpected:
            parts.append(
                f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])}{', ...' if len(unexpected) > 3 else ''})"
            )
        raise WeightsError(
            f"the weights in {path} do not fit {name}: {', '.join(parts)}; "
            f"were they saved from another candidate, or before its code changed?"
        )
    return state


def record_beside(path: Path, name: str) -> tuple[dict | None, str | None]:
    """The run record next to the weights, or why it cannot be compared."""
    beside = Path(path).with_suffix(".json")
    if not beside.exists():
        return None, None
    try:
        rec = store.read_json(beside)
        res = rec["result"]
        last = res["epochs"][-1]
        int(last["test_correct"]), int(last["test_total"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError) as e:
        return None, f"{beside} cannot be used for a comparison ({type(e).__name__}: {' '.join(str(e).split())})"
    if res.get("candidate") != name:
        return None, f"{beside} is a record of {res.get('candidate')!r}, not {name!r}; not compared"
    return rec, None


def compare_with_record(record: dict, correct: int, total: int, where: str, device, recipe: Recipe) -> list[str]:
    """Lines saying whether a re-evaluation reproduces the run's final accuracy, and if not,
    what differs between the run and this evaluation."""
    res = record["result"]
    last = res["epochs"][-1]
    where = f"{where}, epoch {last.get('epoch', len(res['epochs']))}"
    if last["test_correct"] == correct and last["test_total"] == total:
        return [f"matches the run's final accuracy ({last['test_correct']}/{last['test_total']} in {where})"]
    lines = [
        f"differs from the run's final accuracy: {correct}/{total} here, "
        f"{last['test_correct']}/{last['test_total']} in {where} ({correct - last['test_correct']:+d} images)"
    ]
    run_recipe = res.get("recipe") or {}
    if (run_recipe.get("mean"), run_recipe.get("std")) != (recipe.mean, recipe.std):
        lines.append(
            f"  the run normalised with mean {run_recipe.get('mean')} and std {run_recipe.get('std')}, "
            f"the candidate's recipe now with {recipe.mean} and {recipe.std}"
        )
    with contextlib.suppress(RuntimeError, TypeError):
        ran_on = torch.device(res.get("device"))
        if ran_on.type != torch.device(device).type:
            lines.append(
                f"  the run was scored on {ran_on}, this on {device}; "
                f"rerun with --device {ran_on.type} to compare like with like"
            )
    return lines
