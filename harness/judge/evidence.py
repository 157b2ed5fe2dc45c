"""Evidence: a claiming candidate's committed records, one folder per candidate and claimed
device kind, checked against the candidate's file and recipe as they are now, under rules at
least as strict as its claim, made on the kind they back. Reads files only; never trains."""

from __future__ import annotations

from pathlib import Path

import torch

from harness.judge import catalog, judging
from harness.judge.rules import Rules, apply_rules
from harness.records import store
from harness.records.schema import RunResult
from harness.records.store import EVIDENCE_DIR


def folder(name: str, evidence_dir: Path = EVIDENCE_DIR, kind: str = "cpu") -> Path:
    """results/evidence/NAME/ for the CPU, results/evidence/NAME/KIND/ for another kind."""
    return Path(evidence_dir) / name if kind == "cpu" else Path(evidence_dir) / name / kind


def remake_command(name: str, kind: str = "cpu") -> str:
    return f"python -m harness evidence {name}" + ("" if kind == "cpu" else f" --device {kind}")


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
    for kind in entry.claim.get("devices", ("cpu",)):
        for seed in entry.claim["seeds"]:
            where = f"{entry.name} seed {seed}" + ("" if kind == "cpu" else f" on {kind}")
            path = folder(entry.name, evidence_dir, kind) / judging.record_name(entry.name, seed)
            problem = _record_problem(path, kind, needed, now)
            if problem is not None:
                found.append(f"{where}: {problem}")
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
    kinds = [k for k in (entry.claim or {}).get("devices", ("cpu",)) if any(_on(line, k) for line in found)]
    remake = " and ".join(f"`{remake_command(entry.name, k)}`" for k in kinds or ["cpu"])
    return f"{'; '.join(parts)}; remake with {remake}"


def _on(line: str, kind: str) -> bool:
    head = line.partition(": ")[0]
    return head.endswith(f" on {kind}") if kind != "cpu" else " on " not in head


def _record_problem(path: Path, kind: str, needed: Rules, now: dict) -> str | None:
    """Why the record at `path` does not back the claim on `kind`, or None when it does."""
    try:
        rec = store.read_json(path)
        res = RunResult.from_dict(rec["result"])
    except FileNotFoundError:
        return f"no record {path}"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{path} cannot be read as a record ({type(e).__name__}: {e})"
    made = rec.get("provenance") or {}
    if made.get("file_sha256") != now["file_sha256"]:
        return (
            f"stale, made from another version of {now['file']} "
            f"(sha256 {str(made.get('file_sha256'))[:12]} there, {str(now['file_sha256'])[:12]} now)"
        )
    if made.get("recipe_sha256") != now["recipe_sha256"]:
        return "stale, made with another recipe"
    try:
        made_on = torch.device(res.device).type
    except (RuntimeError, TypeError):
        made_on = str(res.device)
    if made_on != kind:
        return f"made on {res.device}, not on {kind}: a claim on {kind} needs evidence made on {kind}"
    looser = _stricter_or_equal(rec.get("rules") or {}, needed)
    if looser:
        return f"judged under looser rules than the claim ({', '.join(looser)})"
    if res.limit_train is not None or (rec.get("gate") or {}).get("smoke"):
        return f"a smoke run (limit_train={res.limit_train}), not evidence"
    planned = res.recipe.get("epochs") if isinstance(res.recipe, dict) else None
    outcome = apply_rules(res, needed, epochs_planned=planned if isinstance(planned, int) else None)
    if not outcome.passed:
        return f"fails the claim: {outcome.failures[0]}"
    return None
