"""The project as a student installs it: a wheel with the harness only (no top-level models
package), the `mnist8k` console script and the pytest plugin through its entry point, used in
a fresh virtual environment from a folder that is not this repository."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "tests" / "notebooks" / "a_inline.ipynb"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the tracked files, so a stale build/ folder cannot leak into it."""
    out, tree = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("tree")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout, so the tracked files are unknown: {listed.stderr.strip()}")
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_bytes((REPO / name).read_bytes())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(tree)],
        check=True,
        capture_output=True,
        text=True,
    )
    (found,) = out.glob("mnist8k-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh environment with the wheel installed; torch and the other dependencies are
    borrowed from this one through a .pth file (a 5 GB download is not what is under test)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --ignore-installed: the borrowed site-packages may already hold mnist8k (an editable install)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)], check=True
    )
    return root


def test_the_wheel_holds_the_harness_its_script_and_plugin_and_no_models_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert (
        "harness/plugin.py" in names
        and "harness/runner/registry.py" in names
        and "harness/cli/importer/__init__.py" in names
    )
    assert not any(n.startswith("models/") for n in names)
    meta = next(n for n in names if n.endswith("entry_points.txt"))
    entry_points = zipfile.ZipFile(wheel).read(meta).decode()
    assert "mnist8k = harness.cli.main:main" in entry_points
    assert "[pytest11]" in entry_points and "harness.plugin = harness.plugin" in entry_points


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_mnist8k_judge_works_from_the_wheel_outside_the_repository(venv, tmp_path):
    done = subprocess.run(
        [
            venv / "bin" / "mnist8k",
            "judge",
            str(NOTEBOOK),
            "--seeds",
            "0",
            "--limit-train",
            "300",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # a smoke run cannot pass the rules
    assert "mnist8k: a_inline_net, 6,104 parameters; seeds 0:" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "out" / "results" / "a_inline_net-seed0.json").exists()


def test_the_plugin_loads_in_a_students_repository_from_its_entry_point(venv, tmp_path):
    """No conftest, no registry.py: a models/ folder of imported candidates and `pytest -m compliance`."""
    subprocess.run(
        [venv / "bin" / "mnist8k", "import", str(NOTEBOOK), "--out", str(tmp_path / "models")],
        cwd=tmp_path,
        env=_clean_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [venv / "bin" / "python", "-m", "pytest", "-m", "compliance", "-p", "no:cacheprovider", "-rs"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "a_inline_net: not trained: no claim" in out, out
