"""The compliance gate: every candidate in models/, with every seed, against every rule.

Selected with `pytest -m compliance`; conftest.py (the judge) reads the candidates from their
sources, runs each in a sandboxed runner, scores it with its own labels and writes the records.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.compliance


def compliance(candidate: str, seed: int, gate) -> None:
    gate.judge_candidate(candidate, seed)
