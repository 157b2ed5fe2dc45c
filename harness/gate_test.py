"""The compliance test the plugin adds to a repository that has none of its own (a student's,
with only a models/ folder): one test per candidate and seed, selected with -m compliance."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.compliance


def test_compliance(candidate: str, seed: int, gate) -> None:
    gate.judge_candidate(candidate, seed)
