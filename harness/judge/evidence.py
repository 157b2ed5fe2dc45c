"""Evidence: a claiming candidate's committed records, one folder per candidate, checked
against the candidate's file and recipe as they are now, under rules at least as strict as
its claim. Reads files only; never trains."""

from __future__ import annotations

import json
from pathlib import Path

from harness.judge import catalog, judging
from harness.judge.rules import Rules, apply_rules
from harness.records.schema import RunResult
from harness.records.store import EVIDENCE_DIR


def folder(name: str, evidence_dir: Path = EVIDENCE_DIR) -> Path:
    return Path(evidence_dir) / name


def remake_command(name: str) -> str:
    return f"python -m harness evidence {name}"


def claim_rules(claim: dict) -> Rules:
    """The rules a claim is judged by: the exercise's, over the claim's window."""
    return Rules(last_k=int(claim["last_k"]))


def _stricter_or_equal(ran: dict, needed: Rules) -> list[str]:
    """Where the rules a record was judged by are looser than the claim's."""
    looser = []
    if ran.get("max_params", 10**12) > needed.max_params:
        looser.append(f"max_params {ran.get('max_params')} > {needed.max_params}")
    if ran.get("max_epochs", 10**6) > needed.max_epochs:
        looser.append(f"max_epochs {ran.get('max_epochs')} > {needed.max_epochs}")
    if ran.get("target_acc", 0) < needed.target_acc:
        looser.append(f"target_acc {ran.get('target_acc')} < {needed.target_acc}")
    if ran.get("last_k", 0) < needed.last_k:
        looser.append(f"last_k {ran.get('last_k')} < {needed.last_k}")
    return looser


def problems(entry: catalog.Entry, evidence_dir: Path = EVIDENCE_DIR) -> list[str]:
    """Why the committed evidence for a claiming candidate does not back its claim now, one
    line per claimed seed at most; empty when it does."""
    if entry.claim is None:
        return []
    if entry.error is not None:
        return [f"{entry.name}: {entry.error}"]
    needed = claim_rules(entry.claim)
    now = judging.provenance(entry)
    found = []
    for seed in entry.claim["seeds"]:
        path = folder(entry.name, evidence_dir) / judging.record_name(entry.name, seed)
        where = f"{entry.name} seed {seed}"
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            res = RunResult.from_dict(rec["result"])
        except FileNotFoundError:
            found.append(f"{where}: no record {path}")
            continue
        except (OSError, ValueError, KeyError, TypeError) as e:
            found.append(f"{where}: {path} cannot be read as a record ({type(e).__name__}: {e})")
            continue
        made = rec.get("provenance") or {}
        if made.get("file_sha256") != now["file_sha256"]:
            found.append(
                f"{where}: stale, made from another version of {now['file']} "
                f"(sha256 {str(made.get('file_sha256'))[:12]} there, {str(now['file_sha256'])[:12]} now)"
            )
            continue
        if made.get("recipe_sha256") != now["recipe_sha256"]:
            found.append(f"{where}: stale, made with another recipe")
            continue
        looser = _stricter_or_equal(rec.get("rules") or {}, needed)
        if looser:
            found.append(f"{where}: judged under looser rules than the claim ({', '.join(looser)})")
            continue
        if res.limit_train is not None or (rec.get("gate") or {}).get("smoke"):
            found.append(f"{where}: a smoke run (limit_train={res.limit_train}), not evidence")
            continue
        planned = res.recipe.get("epochs") if isinstance(res.recipe, dict) else None
        outcome = apply_rules(res, needed, epochs_planned=planned if isinstance(planned, int) else None)
        if not outcome.passed:
            found.append(f"{where}: fails the claim: {outcome.failures[0]}")
    return found


def message(entry: catalog.Entry, found: list[str]) -> str:
    """One line: which evidence is missing, stale or failing, and the command that remakes it.
    Seeds with the same reason are named together."""
    by_reason: dict[str, list[str]] = {}
    for line in found:
        head, _, reason = line.partition(": ")
        seed = head.rsplit(" seed ", 1)[-1] if " seed " in head else head
        by_reason.setdefault(reason, []).append(seed)
    parts = [
        f"{entry.name} seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}: {reason}"
        for reason, seeds in by_reason.items()
    ]
    return f"{'; '.join(parts)}; remake with `{remake_command(entry.name)}`"
