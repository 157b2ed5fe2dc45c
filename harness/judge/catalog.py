"""The candidates in a models folder as the judge knows them: read from each file's source by
vetting, never imported. A file that fails vetting is still listed, as an entry with its error."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from harness.judge.vetting import CLAIM_DEFAULTS, VettingError, vet

_CHECKOUT_MODELS = Path(__file__).resolve().parents[2] / "models"
# This repository's candidates in a checkout; installed as a package, the models/ folder of the
# directory the command runs in (a student's repository).
REPO_MODELS = _CHECKOUT_MODELS if _CHECKOUT_MODELS.is_dir() else Path.cwd() / "models"
# A registry.py copied from an older layout is not a candidate (the builder serves
# harness.runner.registry as models.registry); files starting with "_" are skipped too.
NOT_CANDIDATES = {"registry.py"}


@dataclass(frozen=True)
class Entry:
    """One candidate: what its file declares, or why it cannot be read."""

    name: str
    file: str
    recipe: dict = field(default_factory=dict)
    # {"seeds": (...), "last_k": K} or None. An unreadable file is judged as claiming: its
    # failure then fails the gate.
    claim: dict | None = field(default_factory=lambda: dict(CLAIM_DEFAULTS))
    error: str | None = None

    @property
    def complies(self) -> bool:
        return self.claim is not None

    @property
    def claim_label(self) -> str:
        if self.claim is None:
            return "no claim"
        return f"claims seeds {','.join(map(str, self.claim['seeds']))}, last {self.claim['last_k']}"


def candidate_files(folder: Path = REPO_MODELS) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.py") if not p.name.startswith("_") and p.name not in NOT_CANDIDATES)


def scan(folder: Path = REPO_MODELS) -> dict[str, Entry]:
    """Every candidate in `folder` by name. A candidate's name is its file's name: a file holds
    one builder, named as the file, so no file can take another's name (and knock it out of
    the gate by declaring it twice); a file that breaks this fails alone, under its own name."""
    entries: dict[str, Entry] = {}
    for path in candidate_files(folder):
        try:
            declared = vet(path)
        except VettingError as e:
            entries[path.stem] = Entry(path.stem, str(path), error=str(e))
            continue
        names = [d.name for d in declared]
        if names == [path.stem]:
            d = declared[0]
            entries[path.stem] = Entry(d.name, d.file, d.recipe, d.claim)
            continue
        fix = (
            f"rename the function to {path.stem}() or the file to {names[0]}.py"
            if len(names) == 1
            else f"keep one builder, named {path.stem}(), in {path.name}, "
            f"and move the others to files of their own names"
        )
        why = f"{path.name} declares {', '.join(map(repr, names))}; a candidate's name is its file's name: {fix}"
        entries[path.stem] = Entry(path.stem, str(path), declared[0].recipe, declared[0].claim, error=why)
    return entries


def select(entries: dict[str, Entry], pattern: str = "*") -> list[Entry]:
    """Entries whose names match a glob (several globs may be joined by commas), by name."""
    globs = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    return [entries[n] for n in sorted(entries) if any(fnmatch.fnmatchcase(n, g) for g in globs)]
