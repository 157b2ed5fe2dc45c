"""The candidates in a models folder as the judge knows them: read from each file's source by
vetting, never imported. A file that fails vetting is still listed, as an entry with its error."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from .vetting import CLAIM_DEFAULTS, VettingError, vet

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
NOT_CANDIDATES = {"registry.py"}  # the decorator's own file; files starting with "_" are skipped too


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
    """Every candidate in `folder` by name; a name declared twice fails in both files."""
    entries: dict[str, Entry] = {}
    for path in candidate_files(folder):
        try:
            found = [Entry(d.name, d.file, d.recipe, d.claim) for d in vet(path)]
        except VettingError as e:
            found = [Entry(path.stem, str(path), error=str(e))]
        for entry in found:
            if entry.name in entries:
                first = entries[entry.name]
                why = (f"candidate name {entry.name!r} is declared twice ({Path(first.file).name} and "
                       f"{Path(entry.file).name}); rename one")
                if first.error is not None and first.file == entry.file == str(path):
                    continue
                entries[entry.name] = Entry(entry.name, first.file, error=why)
                second = f"{entry.name}[{Path(entry.file).name}]"
                entries[second] = Entry(second, entry.file, error=why)
                continue
            entries[entry.name] = entry
    return entries


def select(entries: dict[str, Entry], pattern: str = "*") -> list[Entry]:
    """Entries whose names match a glob (several globs may be joined by commas), by name."""
    globs = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    return [entries[n] for n in sorted(entries) if any(fnmatch.fnmatchcase(n, g) for g in globs)]
