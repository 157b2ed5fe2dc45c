"""The codebase's direction rules, read from the source with ast: each side of harness/ imports
only the sides below it (the runner never the judge), no module reaches for another's private
names, the sandbox mounts only the runner's side, harness/ never imports models/, models/
imports torch only, and every module says what it is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.judge import sandbox

ROOT = Path(__file__).resolve().parent.parent
HARNESS = sorted((ROOT / "harness").rglob("*.py"))
MODELS = sorted((ROOT / "models").glob("*.py"))
SIDES = ("records", "engine", "runner", "judge", "report", "cli")
# What each side may import besides itself and the package root (harness.__version__). The
# runner's list is what the sandbox mounts (sandbox.RUNNER_PARTS); cli and the top-level
# modules (plugin, __main__, gate_test) wire everything together and may import any side.
MAY_IMPORT = {
    "records": set(),
    "engine": {"records"},
    "runner": {"engine", "records"},
    "judge": {"runner", "engine", "records"},
    "report": {"judge", "runner", "engine", "records"},
    "cli": set(SIDES),
}
PROCESSES = {"harness.runner.builder", "harness.runner.trainer"}  # started by the judge, never imported


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[str]:
    """Absolute module names a file imports: `from harness.judge import trial` gives
    harness.judge.trial when that is a module, relative imports resolved from the file's place."""
    here = module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*here[: len(here) - node.level + 1], *([base] if base else [])])
            for a in node.names:
                sub = f"{base}.{a.name}"
                is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").exists() or (
                    ROOT / Path(*sub.split("."))
                ).is_dir()
                names.append(sub if is_module else base)
    return names


def side(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "harness" and parts[1] in SIDES else None


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_scan_finds_the_code():
    found = {module_name(p) for p in HARNESS}
    assert {f"harness.{s}" for s in SIDES} <= found
    assert {"harness.engine.loop", "harness.judge.trial", *PROCESSES} <= found
    assert {p.name for p in MODELS} >= {"model1.py", "model3.py"}
    assert "models.registry" in imported(ROOT / "models" / "model1.py")  # served by harness.runner.builder
    assert not (ROOT / "models" / "__init__.py").exists()  # a folder of candidate files, not a package
    assert "harness.judge.trial" in imported(ROOT / "harness" / "cli" / "commands.py")


def test_every_module_belongs_to_a_side_or_wires_them():
    loose = [module_name(p) for p in HARNESS if p.parent == ROOT / "harness"]
    assert sorted(loose) == ["harness", "harness.__main__", "harness.gate_test", "harness.plugin"]


@pytest.mark.parametrize("path", HARNESS, ids=lambda p: str(p.relative_to(ROOT / "harness")))
def test_each_side_imports_only_the_sides_below_it(path):
    mine = side(module_name(path))
    if mine is None:
        return  # the package root and the modules that wire the sides together
    allowed = MAY_IMPORT[mine] | {mine}
    wrong = [n for n in imported(path) if top(n) == "harness" and side(n) not in allowed | {None}]
    assert not wrong, (
        f"{path.relative_to(ROOT)} ({mine}) imports {wrong}; {mine} may import only {sorted(allowed)}: "
        f"move the shared piece down a side, or pass it in from the caller"
    )
    bare = [n for n in imported(path) if top(n) == "harness" and side(n) is None and n not in ("harness",)]
    assert not bare, f"{path.relative_to(ROOT)} imports the wiring modules {bare}"


@pytest.mark.parametrize("path", HARNESS, ids=lambda p: str(p.relative_to(ROOT / "harness")))
def test_the_runner_processes_are_started_never_imported(path):
    if module_name(path) in PROCESSES:
        return
    assert not PROCESSES & set(imported(path)), f"{path.relative_to(ROOT)} imports a runner process's module"


@pytest.mark.parametrize("path", HARNESS, ids=lambda p: str(p.relative_to(ROOT / "harness")))
def test_no_module_takes_another_modules_private_names(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = {}  # local name -> harness module it is bound to
    taken = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
            for a in node.names:
                if a.name.startswith("_") and a.name != "__version__":
                    taken.append(f"{node.module}.{a.name}")
                modules[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            taken.append(f"{modules[node.value.id]}.{node.attr}")
    assert not taken, f"{path.relative_to(ROOT)} uses private names of other modules: {sorted(set(taken))}"


def test_the_sandbox_mounts_only_what_the_runner_imports():
    assert set(sandbox.RUNNER_PARTS) == {"__init__.py", "runner", *MAY_IMPORT["runner"]}
    iso = sandbox.Isolation("sandbox", "test")
    for role in sandbox.ROLES:
        argv, _, _ = sandbox.runner_command(role, iso, candidate_file=ROOT / "models" / "model1.py")
        binds = [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == "--ro-bind"]
        seen = {inside for _, inside in binds if inside.startswith(sandbox.ROOT_INSIDE)}
        missing = [source for source, inside in binds if inside in seen and not Path(source).exists()]
        assert not missing, f"the sandbox would mount paths that do not exist: {missing}"
        harness_parts = {s.split("/", 3)[3] for s in seen if s.startswith(f"{sandbox.ROOT_INSIDE}/harness/")}
        assert harness_parts == set(sandbox.RUNNER_PARTS), role
        assert not any(s.endswith(("/judge", "/report", "/cli")) for s in seen)


@pytest.mark.parametrize("path", HARNESS, ids=lambda p: str(p.relative_to(ROOT / "harness")))
def test_harness_never_imports_models(path):
    # The judge reads candidates from their sources and the runner loads one file by its path,
    # so no harness module, the CLI included, imports models/.
    offending = [n for n in imported(path) if top(n) == "models"]
    assert not offending, (
        f"harness/{path.name} imports {offending}; harness/ must not depend on "
        f"models/ (pass builders in from the CLI, conftest.py or tests)"
    )


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_models_import_torch_only(path):
    allowed_top = {"torch", "models", "__future__"}
    offending = [n for n in imported(path) if top(n) not in allowed_top]
    assert not offending, (
        f"models/{path.name} imports {offending}; a candidate file may import torch and models.registry only"
    )


def test_the_import_scan_sees_forbidden_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    (tmp_path / "harness" / "runner").mkdir(parents=True)
    (tmp_path / "harness" / "judge").mkdir()
    (tmp_path / "harness" / "judge" / "trial.py").write_text("")
    bad = tmp_path / "harness" / "runner" / "bad.py"
    bad.write_text(
        '"""Doc."""\nimport os\nfrom models import create_model\nfrom harness.judge import trial\n'
        "from ..judge.trial import Settings\ndef f():\n    import models.model1\n"
    )
    names = imported(bad)
    assert names == ["os", "models", "harness.judge.trial", "harness.judge.trial", "models.model1"]
    assert [side(n) for n in names if top(n) == "harness"] == ["judge", "judge"]


@pytest.mark.parametrize(
    "path",
    [*HARNESS, *MODELS, *sorted((ROOT / "tests").glob("*.py")), *sorted(ROOT.glob("*.py"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_module_has_a_docstring(path):
    doc = ast.get_docstring(ast.parse(path.read_text(), filename=str(path)))
    assert doc and doc.strip(), f"{path.relative_to(ROOT)} has no module docstring; say what it is in 1-3 lines"
