"""Run records gathered per candidate and device kind and judged again by the rules, over the
window each candidate's records were run with: what the report and its pictures are drawn from.
A candidate's CPU and CUDA runs are judged apart, as its claims are: the same seed gives other
numbers on another kind of device."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.judge.rules import Rules, apply_rules
from harness.records.schema import RunResult, Verdict
from harness.records.store import load_records


@dataclass
class SeedRun:
    seed: int
    result: RunResult
    verdict: Verdict  # judged again by ReportConfig.rules, over the candidate's window
    path: Path | None  # the record file; the weights lie beside it as .pt

    @property
    def test_acc(self) -> list[float]:
        return [row.test_acc for row in self.result.epochs]

    @property
    def label(self) -> str:
        res = self.result
        if res.status != "completed":
            return res.status
        if res.limit_train is not None:
            return f"smoke ({res.limit_train:,} images)"
        return "completed"


@dataclass
class CandidateRuns:
    name: str
    last_k: int  # the window its runs are judged over
    runs: list[SeedRun] = field(default_factory=list)  # by seed
    kind: str = "cpu"  # the kind of device every one of these runs was made on

    @property
    def label(self) -> str:
        """How the report names these runs: the candidate, with the kind when it is not the CPU."""
        return self.name if self.kind == "cpu" else f"{self.name} on {self.kind}"

    @property
    def slug(self) -> str:
        """The label as a file name stem, for the pictures."""
        return self.name if self.kind == "cpu" else f"{self.name}-{self.kind}"

    @property
    def params(self) -> int:
        return self.runs[0].result.params

    @property
    def trained(self) -> list[SeedRun]:
        return [r for r in self.runs if r.result.epochs]

    @property
    def passed(self) -> int:
        return sum(r.verdict.passed for r in self.runs)

    def min_last_k(self) -> list[float]:
        return [r.verdict.min_last_k for r in self.runs if r.verdict.min_last_k is not None]

    def finals(self) -> list[float]:
        return [r.result.epochs[-1].test_acc for r in self.trained]  # trained: each has an epoch


def natural_key(name: str):
    """model2 before model10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def device_kind(device: str) -> str:
    """The kind a claim names: cuda for "cuda:1", cpu for "cpu"."""
    return device.partition(":")[0] or "cpu"


def _recorded_k(rec: dict, max_epochs: int) -> int | None:
    """The last_k a record was run with, or None when it holds no usable one."""
    rules = rec.get("rules")
    k = rules.get("last_k") if isinstance(rules, dict) else None
    return k if isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= max_epochs else None


def gather(folder: Path, rules: Rules, last_k: int | None = None) -> tuple[list[CandidateRuns], list[str]]:
    """Every usable record in `folder`, grouped by candidate and device kind (the CPU first) and
    sorted, judged by `rules` over `last_k` epochs, or (None) over the window the group's records
    were run with."""
    records, warnings = load_records(folder, nested=True)
    grouped: dict[tuple[str, str], list[tuple[RunResult, Path, int | None]]] = {}
    seen: dict[tuple[str, str, int], Path | None] = {}
    for rec in records:
        path = Path(rec["path"])
        result = RunResult.from_dict(rec["result"])
        kind = device_kind(result.device)
        key = (result.candidate, kind, result.seed)
        if key in seen:
            on = "" if kind == "cpu" else f" on {kind}"
            warnings.append(
                f"{path}: skipped, a second record of {result.candidate} seed {result.seed}{on} "
                f"(the first is {seen[key]})"
            )
            continue
        seen[key] = path
        grouped.setdefault((result.candidate, kind), []).append((result, path, _recorded_k(rec, rules.max_epochs)))
    cands = []
    for name, kind in sorted(grouped, key=lambda nk: (natural_key(nk[0]), nk[1] != "cpu", nk[1])):
        ks = [k for _, _, k in grouped[name, kind] if k is not None]
        k = last_k or max(ks, default=rules.last_k)  # the strictest window any of its runs was held to
        cand, cand_rules = CandidateRuns(name, k, kind=kind), dataclasses.replace(rules, last_k=k)
        for result, path, _ in sorted(grouped[name, kind], key=lambda item: item[0].seed):
            planned = (result.recipe or {}).get("epochs")
            verdict = apply_rules(result, cand_rules, planned if isinstance(planned, int) else None)
            cand.runs.append(SeedRun(result.seed, result, verdict, path))
        cands.append(cand)
    return cands, warnings
