"""What the report quotes besides records: the hand-written chain notes (## Target and
## Analysis, numbers refused) and the search logs, one JSON line per run."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?(?![\w])")


def read_notes(path: Path) -> tuple[dict[str, str], list[str]]:
    """The `## Target` and `## Analysis` sections of a notes file ("(no notes)" when absent),
    and a warning for each hand-typed number: numbers belong to the generated parts."""
    sections = {"target": "(no notes)", "analysis": "(no notes)"}
    if not path.exists():
        return sections, []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return sections, [f"{path}: notes not read ({e}); written as (no notes)"]
    current: str | None = None
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        heading = re.match(r"^##\s+(.+?)\s*#*\s*$", line)
        if heading and not line.startswith("###"):
            current = heading.group(1).strip().lower()
            found.setdefault(current, [])
            continue
        if current is not None:
            found[current].append(line)
    warnings = []
    for key in sections:
        body = "\n".join(found.get(key, [])).strip()
        if body:
            sections[key] = body
            prose = re.sub(r"`[^`]*`", "", body)  # code spans may name files and layers
            numbers = _NUMBER.findall(prose)
            if numbers:
                shown = ", ".join(dict.fromkeys(numbers))
                warnings.append(
                    f"{path}: ## {key.title()} types numbers by hand ({shown}); "
                    f"the report generates every number, so write the prose without them"
                )
    return sections, warnings


# ---------------------------------------------------------------- search logs


@dataclass
class SearchRow:
    arch: str
    recipe: str
    params: int
    seeds: list[int] = field(default_factory=list)  # completed runs
    min_last: list[float] = field(default_factory=list)  # per completed seed, over the window
    finals: list[float] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # "seed 2 diverged", ...


def read_search(folder: Path, last_k: int) -> tuple[dict[int, list[SearchRow]], dict[str, int], list[str]]:
    """Sweep logs (*.jsonl) grouped by parameter family (the budget rounded up to a thousand):
    rows sorted best first by the worst seed's minimum over the last `last_k` epochs. Also
    how many planned runs were skipped, by reason, and a warning per unusable line."""
    rows: dict[tuple[str, str, int], SearchRow] = {}
    seen: dict[tuple, str] = {}
    skipped: dict[str, int] = {}
    warnings: list[str] = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            warnings.append(f"{path}: skipped, cannot be read ({e})")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                run = json.loads(line)
            except json.JSONDecodeError as e:
                warnings.append(f"{where}: skipped, not valid JSON ({e})")
                continue
            if (
                not isinstance(run, dict)
                or not isinstance(run.get("arch"), str)
                or not isinstance(run.get("recipe"), str)
                or not isinstance(run.get("seed"), int)
            ):
                warnings.append(f"{where}: skipped, needs arch, recipe and seed")
                continue
            if "skipped" in run:
                reason = str(run["skipped"])
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            accs, params = run.get("test_acc"), run.get("params")
            if (
                not isinstance(params, int)
                or not isinstance(accs, list)
                or not all(isinstance(a, (int, float)) for a in accs)
            ):
                warnings.append(f"{where}: skipped, needs params (an integer) and test_acc (a list of numbers)")
                continue
            key = (run["arch"], run["recipe"], run["seed"])
            if key in seen:
                warnings.append(
                    f"{where}: skipped, {run['arch']} {run['recipe']} seed {run['seed']} is already in {seen[key]}"
                )
                continue
            seen[key] = where
            row = rows.setdefault((run["arch"], run["recipe"], params), SearchRow(run["arch"], run["recipe"], params))
            status = run.get("status", "completed")
            if status != "completed" or not accs:
                row.other.append(f"seed {run['seed']} {status}")
                continue
            row.seeds.append(run["seed"])
            row.min_last.append(min(accs[-last_k:]))
            row.finals.append(accs[-1])
    families: dict[int, list[SearchRow]] = {}
    for row in rows.values():
        order = sorted(range(len(row.seeds)), key=lambda i: row.seeds[i])
        row.seeds = [row.seeds[i] for i in order]
        row.min_last = [row.min_last[i] for i in order]
        row.finals = [row.finals[i] for i in order]
        families.setdefault(max(1, math.ceil(row.params / 1000)) * 1000, []).append(row)
    for family in families.values():
        family.sort(key=lambda r: (-(min(r.min_last) if r.min_last else -1.0), r.arch, r.recipe))
    return dict(sorted(families.items())), skipped, warnings
