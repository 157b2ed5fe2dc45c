"""The judge of one candidate and seed: read from its source, built in a runner, checked,
trained there, scored with the judge's own labels, and recorded with what it was made from.
The pytest gate and `python -m harness evidence` both judge through `judge()`."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from harness import __version__
from harness.engine import data as mnist_data
from harness.engine import loop
from harness.engine.recipe import Recipe, RecipeError
from harness.judge import budget, catalog, head_start, trial
from harness.judge.rules import Rules, apply_rules
from harness.judge.rules import outcome as rules_outcome
from harness.records import store
from harness.records.progress import run_log
from harness.records.schema import RunResult, Verdict

NOT_TRAINED = "not trained"  # the outcome of a candidate without a claim when only checked


class Unavailable(RuntimeError):
    """The judge cannot judge at all (no MNIST, no sandbox): no candidate is to blame."""


@dataclass(frozen=True)
class Smoke:
    """A shortened run, for the harness's own tests: judge() fails any run with limit_train
    set, and a shortened run also fails "ran E of N planned epochs", so neither can pass."""

    limit_train: int | None = None  # train on the first N images only
    epochs: int | None = None  # train E epochs instead of the recipe's

    @property
    def active(self) -> bool:
        return self.limit_train is not None


@dataclass(frozen=True)
class Session:
    """What a judge needs besides the candidate: the rules, where runners start, where records go."""

    rules: Rules
    settings: trial.Settings
    results_dir: Path
    data_dir: Path | None = None
    command: str = ""
    train_unclaimed: bool = True  # False: a candidate without a claim is checked, never trained
    smoke: Smoke = Smoke()


def record_name(candidate: str, seed: int) -> str:
    """The record's file name; a broken file's candidate name may hold a path."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", candidate) + f"-seed{seed}.json"


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def recipe_digest(recipe: dict) -> str:
    """SHA-256 of the recipe as declared (keys sorted): evidence stays current across harness
    versions that only change how a recipe is shown, and goes stale when the declaration changes."""
    return _sha256(json.dumps(recipe, sort_keys=True, default=repr).encode())


def provenance(entry: catalog.Entry) -> dict:
    """What a record was made from, so evidence can be checked against the code as it is now."""
    try:
        file_digest = _sha256(Path(entry.file).read_bytes())
    except OSError:
        file_digest = None
    return {
        "file": _repo_relative(entry.file),
        "file_sha256": file_digest,
        "recipe_sha256": recipe_digest(entry.recipe),
        "claim": entry.claim,
        "harness": __version__,
    }


def _repo_relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(store.REPO_ROOT))
    except ValueError:
        return str(path)


def _json_safe(obj):
    """JSON-safe copy: a candidate's recipe may hold anything, and a record must still be written."""
    return json.loads(json.dumps(obj, default=repr))


class _Stop(Exception):
    """Ends a judgement before training; `reason` is the verdict's one line."""

    def __init__(self, reason: str, params: int | None = None):
        super().__init__(reason)
        self.reason, self.params = reason, params


def judge(entry: catalog.Entry, seed: int, s: Session, *, test_id: str = "") -> dict:
    """The record of one judgement, already written. Its ["gate"]["outcome"] is pass, FAIL,
    xfail, XPASS, or "not trained" (no claim, checks passed, training not asked for).
    Raises Unavailable when nothing can be judged, and loop.TrainingInterrupted (with the
    partial record written, as `.record`) on Ctrl-C."""
    base = trial.new_result(entry.name, seed, s.settings, _json_safe(entry.recipe))
    try:
        result, planned, state, log = _judged_run(entry, seed, s, base)
    except _Stop as stop:
        base.params = stop.params if stop.params is not None else 0
        base.status = "not trained" if stop.params is not None else "not built"
        base.error = stop.reason
        verdict = Verdict(
            passed=False,
            failures=[stop.reason],
            params_margin=s.rules.max_params - stop.params if stop.params is not None else 0,
        )
        return _record(entry, seed, s, base, verdict, test_id)
    except loop.TrainingInterrupted as stopped:
        stopped.record = _record(entry, seed, s, stopped.result, apply_rules(stopped.result, s.rules, None), test_id)
        raise
    if result.status == NOT_TRAINED:
        verdict = Verdict(passed=False, params_margin=s.rules.max_params - result.params)
        return _record(entry, seed, s, result, verdict, test_id, outcome=NOT_TRAINED)
    stem = s.results_dir / record_name(entry.name, seed)[: -len(".json")]
    # Beside the record: the final weights (for `eval` and the report's misclassified digits)
    # and the course-format log.
    if state is not None:
        store.torch_save(stem.with_suffix(".pt"), state)
    store.write_text(stem.with_suffix(".log"), log)
    return _record(entry, seed, s, result, apply_rules(result, s.rules, epochs_planned=planned), test_id)


def _judged_run(entry: catalog.Entry, seed: int, s: Session, base: RunResult):
    name = entry.name
    if entry.error is not None:
        raise _Stop(f"{name}: {entry.error}")
    with trial.runner(Path(entry.file), s.settings) as runner:
        try:
            built = trial.build(runner, name, seed)
        except trial.TrialStopped as e:
            raise _Stop(e.reason) from None
        except trial.RunnerFailed as e:
            raise _Stop(f"{name}: the runner failed while building: {e}") from None
        params = built.budget.total
        if (broken := budget.over_budget(name, built.budget, s.rules.max_params)) is not None:
            raise _Stop(broken, params)
        try:
            recipe = Recipe.from_dict(entry.recipe)
        except (RecipeError, TypeError) as e:
            raise _Stop(f"{name}: {e}", params) from None
        if recipe.epochs > s.rules.max_epochs:
            raise _Stop(f"{name}: recipe trains {recipe.epochs} epochs > {s.rules.max_epochs}", params)
        if entry.claim is None and not s.train_unclaimed:
            base.params, base.status = params, NOT_TRAINED
            base.error = "no claim: checked (vetting, build, budget, recipe), not trained"
            return base, recipe.epochs, None, ""
        try:
            mnist = mnist_data.load(s.data_dir)
        except mnist_data.DataError as e:
            raise Unavailable(f"MNIST is not available, so {name} cannot be judged:\n{e}") from None
        _check_head_start(built, name, recipe, mnist, params)
        planned = recipe.epochs
        if s.smoke.epochs is not None:
            recipe = recipe.replace(epochs=s.smoke.epochs)
        base.params, base.recipe, base.limit_train = params, recipe.to_dict(), s.smoke.limit_train
        try:
            outcome = trial.train(built, name, recipe, mnist, seed, limit_train=s.smoke.limit_train, result_base=base)
        except trial.RunnerFailed as e:
            raise _Stop(f"{name} seed {seed}: the runner failed while training: {e}", params) from None
    steps = loop.steps_per_epoch(len(mnist.train_images), recipe.batch_size, s.smoke.limit_train)
    return outcome.result, planned, outcome.state, run_log(outcome.result, steps)


def _check_head_start(built: trial.Built, name: str, recipe: Recipe, mnist: mnist_data.MNIST, params: int) -> None:
    """_Stop when the initial weights already know digits (harness.judge.head_start)."""
    images, labels = head_start.sample(mnist)
    try:
        report = trial.initial_skill(built, loop.normalise(images, recipe), labels)
    except trial.TrialStopped as e:
        raise _Stop(f"{name}: failed on training images before training: {e.reason}", params) from None
    except trial.RunnerFailed as e:
        raise _Stop(f"{name}: the runner failed while measuring the initial weights: {e}", params) from None
    if (why := head_start.problem(name, report)) is not None:
        raise _Stop(why, params)


def _record(
    entry: catalog.Entry,
    seed: int,
    s: Session,
    result: RunResult,
    verdict: Verdict,
    test_id: str,
    outcome: str | None = None,
) -> dict:
    claimed = entry.claim["devices"] if entry.claim else ()
    kind = torch.device(s.settings.device).type
    label = outcome or rules_outcome(entry.complies, verdict.passed, kind=kind, claimed=claimed)
    rec = store.run_record(result, verdict=verdict, rules=s.rules, command=s.command)
    rec["provenance"] = provenance(entry)
    rec["gate"] = {
        "candidate": entry.name,
        "seed": seed,
        "complies": entry.complies,
        "outcome": label,
        "smoke": s.smoke.active,
        "file": entry.file,
        "test": test_id,
    }
    try:
        store.write_json(s.results_dir / record_name(entry.name, seed), rec)
    except OSError as e:
        # The verdict stands and the row still reaches the summary; the file is reported missing.
        rec["gate"]["unsaved"] = f"{record_name(entry.name, seed)}: {e}"
    return rec
