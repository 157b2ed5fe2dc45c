"""The compliance plugin itself (conftest.py) and its table (harness/report/table.py), checked with
pytest run in a subprocess on tiny settings: options and their defaults, selection, the
claim deciding pass / fail / xfail, records and summary files, and xdist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import candidates
import pytest

from harness.engine.recipe import Recipe
from harness.judge import catalog
from harness.judge.rules import OUTCOMES, gate_fails, outcome
from harness.report import table

REPO = Path(__file__).resolve().parent.parent


def run_pytest(*args: str, cwd: Path = REPO, env: dict | None = None, timeout: float = 900):
    """A fresh pytest process, so its options, registry and plugins are its own."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "MNIST8K_SMOKE")) or k == "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
    }
    base["COLUMNS"] = "400"  # the short summary keeps each reason whole
    # One thread: on a busy 2-core machine, spinning OpenMP threads make tiny runs 10x slower.
    base["OMP_NUM_THREADS"] = "1"
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    done.output = done.stdout + done.stderr
    # pytest's own reading of its summary line, as pytester gives it: done.outcomes.assert_outcomes(...)
    done.outcomes = pytest.RunResult(
        done.returncode, done.stdout.splitlines(), done.stderr.splitlines(), time.monotonic() - start
    )
    return done


def model1_message() -> str:
    """The start of model1's over-budget reason; the largest tensors follow it."""
    return f"model1: {candidates.build('model1').budget.total:,} parameters > 8,000"


# ---------------------------------------------------------------- options and selection


def test_help_lists_every_option_with_its_default_and_ini_key(pytester):
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]')  # the plugin as any project loads it
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0
    out = result.stdout.str()
    assert "mnist8k compliance gate" in out
    for option, default in [
        ("--max-params", "8000"),
        ("--max-epochs", "15"),
        ("--target-acc", "99.40"),
        ("--last-k", "3"),
        ("--seeds", "0"),
        ("--candidates", "*"),
        ("--device", "auto"),
        ("--results-dir", "results/latest"),
        ("--data-dir", "$MNIST8K_DATA_DIR, else ~/.cache/mnist8k"),
        ("--isolation", "auto"),
        ("--cuda-graphs", "auto"),
        ("--compile", "off"),
        ("--unclaimed", "check"),
        ("--shard", "all"),
    ]:
        assert f"  {option}=" in out, option
        rest = out.split(f"  {option}=", 1)[1]
        block = " ".join(rest.split("\n  --", 1)[0].split("\n\n", 1)[0].split())  # its help, unwrapped
        assert f"default: {default}" in block, (option, block)
        assert f"ini: mnist8k_{option[2:].replace('-', '_')}" in block, (option, block)


def test_plain_pytest_deselects_compliance_and_benchmarks():
    done = run_pytest("--collect-only", "-q", "tests/test_compliance.py", "tests/test_benchmarks.py")
    assert done.returncode == 5, done.output  # nothing selected: the slow tests need -m
    assert "compliance[" not in done.output and "test_inference_latency[" not in done.output
    assert "deselected" in done.output


def test_dash_m_selects_one_compliance_test_per_candidate_and_seed_and_the_benchmarks():
    done = run_pytest(
        "--collect-only",
        "-q",
        "-m",
        "compliance or benchmark",
        "--seeds=0,1",
        "tests/test_compliance.py",
        "tests/test_benchmarks.py",
    )
    assert done.returncode == 0, done.output
    assert "tests/test_compliance.py::compliance[model1-seed0]" in done.output
    assert "tests/test_compliance.py::compliance[model1-seed1]" in done.output
    assert "tests/test_benchmarks.py::test_inference_latency[model1-batch1000]" in done.output
    assert "tests/test_benchmarks.py::test_training_throughput[model1]" in done.output


def test_unknown_glob_selects_nothing_and_says_so(tmp_path):
    done = run_pytest(
        "-m", "compliance", "--candidates=nosuch*", f"--results-dir={tmp_path}", "tests/test_compliance.py"
    )
    assert done.returncode == 5, done.output  # "no tests ran": a typo cannot look like a pass
    assert "no registered candidate matches --candidates 'nosuch*'; registered: " in done.output
    assert "model1" in done.output.split("registered: ", 1)[1]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds=0,x"], "--seeds = '0,x': expected distinct non-negative integers"),
        (["-o", "mnist8k_last_k=0"], "ini option mnist8k_last_k = 0 must lie in 1..max-epochs"),
        (["--shard=5/4"], "--shard = '5/4': '5/4': need 1 <= I <= N"),
        (["--unclaimed=maybe"], "--unclaimed = 'maybe' must be check or train"),
        (["--compile=yes"], "--compile = 'yes' must be one of off, on"),
        (["--cuda-graphs=always"], "--cuda-graphs = 'always' must be one of auto, off, on"),
    ],
)
def test_bad_settings_stop_the_session_with_the_reason(pytester, args, message):
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]')
    result = pytester.runpytest_subprocess("--collect-only", "-q", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


# ---------------------------------------------------------------- the real candidates


def test_model1_is_an_expected_failure_decided_without_training(tmp_path):
    out = tmp_path / "out"
    done = run_pytest(
        "-m",
        "compliance",
        "--candidates=model1",
        f"--results-dir={out}",
        f"--junitxml={tmp_path / 'junit.xml'}",
        "tests/test_compliance.py",
    )
    assert done.returncode == 0, done.output
    done.outcomes.assert_outcomes(xfailed=1)
    assert f"XFAIL tests/test_compliance.py::compliance[model1-seed0] - {model1_message()} (" in done.output
    case = ET.parse(tmp_path / "junit.xml").getroot().find(".//testcase")
    assert float(case.get("time")) < 30.0  # over budget: built in a runner, never trained

    record = json.loads((out / "model1-seed0.json").read_text())
    assert record["kind"] == "run" and record["result"]["epochs"] == []
    assert record["result"]["status"] == "not trained"
    (failure,) = record["verdict"]["failures"]
    assert failure.startswith(model1_message() + " (counted over every tensor its traced programs read")
    assert record["gate"]["outcome"] == "xfail" and record["gate"]["complies"] is False
    assert record["rules"]["max_params"] == 8000

    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["xfail"] == 1 and summary["records"] == ["model1-seed0.json"]
    md = (out / "summary.md").read_text()
    assert "| candidate" in md and "| model1" in md and "xfail" in md
    assert model1_message().replace(">", "&gt;") in md  # escaped: the summary is Markdown and HTML
    assert "mnist8k compliance" in done.output and "| model1" in done.output  # the table, printed


# ---------------------------------------------------------------- every outcome, on stand-in candidates

STAND_IN_HEAD = """
import torch
import torch.nn as nn

from models.registry import register_model

FAST = dict(epochs=1, batch_size=500, optimizer=dict(name="SGD", lr=0.1, momentum=0.9))
"""

# One file per stand-in, named as its builder: (decorator arguments, body).
STAND_INS = {
    "linear_ok": ("recipe=FAST, complies=True", "nn.Sequential(nn.Flatten(), nn.Linear(784, 10))"),
    "linear_unclaimed": ("recipe=FAST, complies=False", "nn.Sequential(nn.Flatten(), nn.Linear(784, 10))"),
    "linear_starved": (
        'recipe=dict(FAST, optimizer=dict(name="SGD", lr=1e-9)), complies=True',
        "nn.Sequential(nn.Flatten(), nn.Linear(784, 10))",
    ),
    "wide": (
        "recipe=FAST, complies=False",
        "nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))",
    ),
    "wide_claimed": (
        "recipe=FAST, complies=True",
        "nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))",
    ),
    "wrong_shape": ("recipe=FAST, complies=True", "nn.Sequential(nn.Flatten(), nn.Linear(784, 5))"),
    "typo_recipe": (
        "recipe=dict(FAST, momentun=0.9), complies=True",
        "nn.Sequential(nn.Flatten(), nn.Linear(784, 10))",
    ),
    "long_recipe": ("recipe=dict(FAST, epochs=3), complies=True", "nn.Sequential(nn.Flatten(), nn.Linear(784, 10))"),
    "raises": ("recipe=FAST, complies=True", 'RuntimeError("boom")'),
    # claims CUDA only: judged here on the CPU, it is trained and scored but neither passes nor fails
    "linear_cuda_only": (
        'recipe=FAST, claim=dict(devices=("cuda",))',
        "nn.Sequential(nn.Flatten(), nn.Linear(784, 10))",
    ),
}


def stand_in_source(name: str) -> str:
    args, body = STAND_INS[name]
    action = f"raise {body}" if body.startswith("RuntimeError") else f"return {body}"
    return STAND_IN_HEAD + f"\n\n@register_model({args})\ndef {name}():\n    {action}\n"


@pytest.fixture(scope="module")
def stand_in_tree(tmp_path_factory) -> Path:
    """A copy of the repository's layout whose models/ holds stand-ins instead: the plugin,
    the compliance test and the registry are the real ones."""
    root = tmp_path_factory.mktemp("standin")
    shutil.copy(REPO / "conftest.py", root)
    shutil.copy(REPO / "tox.ini", root)
    (root / "tests").mkdir()
    shutil.copy(REPO / "tests" / "test_compliance.py", root / "tests")
    (root / "models").mkdir()
    for name in STAND_INS:
        (root / "models" / f"{name}.py").write_text(stand_in_source(name))
    (root / "models" / "broken.py").write_text("import no_such_module_here\n")
    return root


@pytest.fixture(scope="module")
def stand_in_run(stand_in_tree):
    """Every stand-in, the linear ones trained for one real epoch on all 60,000 images and
    judged against loosened thresholds (so a pass is possible in a second)."""
    out = stand_in_tree / "out"
    done = run_pytest(
        "-m",
        "compliance",
        "--max-epochs=2",
        "--last-k=1",
        "--target-acc=80",
        "--unclaimed=train",
        "--device=cpu",
        f"--results-dir={out}",
        cwd=stand_in_tree,
    )
    return done, out


def _summary_line(done, test_id: str) -> str:
    """The short-summary line of one test (empty if there is none)."""
    return next((ln for ln in done.output.splitlines() if f"::compliance[{test_id}] - " in ln), "")


def test_stand_ins_each_get_the_outcome_their_claim_and_rules_give(stand_in_run):
    done, out = stand_in_run
    assert done.returncode == 1, done.output  # the session goes on past broken candidates, then fails
    results = {r["gate"]["candidate"]: r for r in map(json.loads, map(Path.read_text, out.glob("*-seed0.json")))}
    outcomes = {name: rec["gate"]["outcome"] for name, rec in results.items()}
    assert outcomes == {
        "linear_ok": "pass",
        "linear_unclaimed": "XPASS",
        "linear_starved": "FAIL",
        "wide": "xfail",
        "wide_claimed": "FAIL",
        "wrong_shape": "FAIL",
        "typo_recipe": "FAIL",
        "long_recipe": "FAIL",
        "raises": "FAIL",
        "broken": "FAIL",
        "linear_cuda_only": "not claimed on cpu",
    }
    done.outcomes.assert_outcomes(passed=1, failed=8, xfailed=2)
    ok = results["linear_ok"]
    assert ok["verdict"]["passed"] and len(ok["result"]["epochs"]) == 1 and ok["result"]["limit_train"] is None
    assert ok["verdict"]["min_last_k"] >= 80
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {
        "pass": 1,
        "FAIL": 7,
        "xfail": 1,
        "XPASS": 1,
        "not trained": 0,
        "not claimed on cpu": 1,
        "not claimed on cuda": 0,
        "not claimed on mps": 0,
    }
    unclaimed_here = results["linear_cuda_only"]
    assert unclaimed_here["verdict"]["passed"] and len(unclaimed_here["result"]["epochs"]) == 1  # numbers kept
    line = _summary_line(done, "linear_cuda_only-seed0")
    assert line.startswith("XFAIL ") and "not claimed on cpu (claimed on cuda)" in line, line


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "linear_unclaimed",
            "linear_unclaimed seed 0 passes every rule but makes no claim: add "
            "claim=dict(seeds=..., last_k=...) to its @register_model in",
        ),
        ("linear_starved", "linear_starved seed 0: epoch 1 test accuracy "),
        ("wide_claimed", "wide_claimed: 12,730 parameters > 8,000"),
        ("wrong_shape", "wrong_shape: output shape [2, 5] for a batch of 2, expected [2, 10]"),
        ("typo_recipe", "typo_recipe: unknown recipe field 'momentun'"),
        ("long_recipe", "long_recipe: recipe trains 3 epochs > 2"),
        ("raises", "raises: the builder raised RuntimeError: boom"),
        ("broken", "broken: broken.py: line 1: imports 'no_such_module_here', outside the allowed modules"),
    ],
)
def test_each_failure_says_what_broke(stand_in_run, name, message):
    done, out = stand_in_run
    line = _summary_line(done, f"{name}-seed0")
    assert line.startswith("FAILED ") and message in line, line
    if name not in ("linear_unclaimed",):
        assert message in json.loads((out / f"{name}-seed0.json").read_text())["verdict"]["failures"][0]


def test_an_over_budget_baseline_is_expected_to_fail(stand_in_run):
    done, out = stand_in_run
    assert _summary_line(done, "wide-seed0").startswith(
        "XFAIL tests/test_compliance.py::compliance[wide-seed0] - wide: 12,730 parameters > 8,000 ("
    )
    assert "During handling of the above exception" not in done.output  # reasons come without noise
    assert json.loads((out / "wide-seed0.json").read_text())["result"]["epochs"] == []


def test_candidates_without_a_claim_are_checked_not_trained_by_default(stand_in_tree, tmp_path):
    out = tmp_path / "out"
    done = run_pytest(
        "-m",
        "compliance",
        "--candidates=linear_unclaimed,wide,linear_ok",
        "--max-epochs=2",
        "--last-k=1",
        "--target-acc=80",
        "--device=cpu",
        f"--results-dir={out}",
        cwd=stand_in_tree,
    )
    assert done.returncode == 0, done.output
    done.outcomes.assert_outcomes(passed=1, skipped=1, xfailed=1)
    rec = json.loads((out / "linear_unclaimed-seed0.json").read_text())
    assert rec["gate"]["outcome"] == "not trained" and rec["result"]["epochs"] == []
    assert rec["result"]["params"] == 7850 and rec["result"]["status"] == "not trained"
    assert not (out / "linear_unclaimed-seed0.pt").exists()
    assert "not trained: no claim" in (out / "summary.md").read_text()
    assert "--unclaimed=train trains it" in done.output
    assert json.loads((out / "summary.json").read_text())["counts"]["not trained"] == 1


def test_a_failed_accuracy_rule_names_the_epoch_and_the_window(stand_in_run):
    _, out = stand_in_run
    rec = json.loads((out / "linear_starved-seed0.json").read_text())
    acc = rec["result"]["epochs"][-1]["test_acc"]
    assert rec["verdict"]["failures"] == [
        f"linear_starved seed 0: epoch 1 test accuracy {acc:.2f}% < 80.00% (last 1: {acc:.2f})"
    ]


def test_xdist_workers_rows_reach_one_table_and_smoke_runs_cannot_pass(stand_in_tree, tmp_path):
    """Two workers, two candidates, two seeds; `wide` is let through by a budget raised in
    the ini (so the ini fallback is used) and, as a smoke run, fails on its 500 images."""
    out = tmp_path / "out"
    done = run_pytest(
        "-m",
        "compliance",
        "--candidates=linear_unclaimed,wide",
        "--seeds=0,1",
        "-n",
        "2",
        "--unclaimed=train",
        "-o",
        "mnist8k_max_params=20000",
        "--last-k=1",
        "--device=cpu",
        f"--results-dir={out}",
        cwd=stand_in_tree,
        env={"MNIST8K_SMOKE": "limit_train=500,epochs=1"},
    )
    assert done.returncode == 0, done.output
    done.outcomes.assert_outcomes(xfailed=4)
    assert "trained on 500 images only" in _summary_line(done, "wide-seed1")
    assert done.output.count("mnist8k compliance ==") == 1  # one table, from the controller ...
    rows = [ln for ln in done.output.splitlines() if ln.startswith("| ") and "xfail (smoke)" in ln]
    assert len(rows) == 4  # ... with every worker's rows

    summary = json.loads((out / "summary.json").read_text())
    names = [f"{c}-seed{s}.json" for c in ("linear_unclaimed", "wide") for s in (0, 1)]
    assert summary["records"] == names
    assert [(row["outcome"], row["smoke"]) for row in summary["runs"]] == [("xfail", True)] * 4
    beside = [n[: -len(".json")] + ext for n in names for ext in (".log", ".pt")]  # log and final weights
    assert sorted(p.name for p in out.iterdir()) == sorted(names + beside + ["summary.json", "summary.md"])
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    for name in names:
        rec = json.loads((out / name).read_text())
        assert rec["gate"]["smoke"] is True and rec["result"]["limit_train"] == 500
        assert len(rec["result"]["epochs"]) == 1 and rec["verdict"]["passed"] is False
        assert "ran 1 of 1 planned epochs" not in " ".join(rec["verdict"]["failures"])
        assert rec["result"]["threads"] == max(1, cores // 2)  # workers share the cores


def test_readme_example_candidate_is_complete_and_within_the_rules(tmp_path):
    """The README's example file, run as it stands: it registers one candidate that builds,
    fits the budget and declares a valid recipe."""
    section = (REPO / "README.md").read_text().split("## Adding a candidate", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) < 40
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "mynet.py").write_text(code)  # a candidate's name is its file's name
    (entry,) = catalog.scan(folder).values()  # vetted as any candidate is
    assert entry.error is None, entry.error
    Recipe.from_dict(entry.recipe)
    found = {"params": candidates.build(entry.name, folder).budget.total}
    assert found["params"] <= 8000
    assert f"{found['params']:,} parameters" in code  # the docstring states the true count


# ---------------------------------------------------------------- the table


def _record(name: str, seed: int, accs: list[float], complies: bool, passed: bool, last_k: int = 3) -> dict:
    rows = [{"epoch": i + 1, "test_acc": a, "seconds": 2.0} for i, a in enumerate(accs)]
    window = accs[-last_k:]
    return {
        "result": {
            "candidate": name,
            "seed": seed,
            "params": 7_000,
            "epochs": rows,
            "status": "completed",
            "seconds": 2.0 * len(accs),
            "setup_seconds": 0.5,
        },
        "verdict": {
            "passed": passed,
            "failures": [] if passed else [f"{name} seed {seed}: broke"],
            "min_last_k": min(window),
            "acc_margin": round(min(window) - 99.40, 4),
        },
        "gate": {"outcome": outcome(complies, passed), "smoke": False},
    }


def test_outcome_follows_claim_and_verdict():
    assert [outcome(c, p) for c, p in [(True, True), (True, False), (False, False), (False, True)]] == [
        "pass",
        "FAIL",
        "xfail",
        "XPASS",
    ]
    assert [gate_fails(x) for x in OUTCOMES] == [False, True, False, True, False, False, False, False]
    # A claim is a claim on the device kinds its evidence was made on.
    assert outcome(True, False, kind="cuda", claimed=("cpu",)) == "not claimed on cuda"
    assert outcome(True, True, kind="cpu", claimed=("cuda",)) == "not claimed on cpu"
    assert outcome(True, False, kind="cuda", claimed=("cpu", "cuda")) == "FAIL"
    assert outcome(False, True, kind="cuda", claimed=()) == "XPASS"  # no claim: as on any kind


def test_run_row_shows_the_window_its_minimum_and_the_margin():
    row = table.run_row(_record("m", 0, [98.0, 99.5, 99.38, 99.45], complies=True, passed=False), last_k=3)
    assert row["params"] == "7,000" and row["epochs"] == "4" and row["best acc"] == "99.50"
    assert [row["acc[-3]"], row["acc[-2]"], row["acc[-1]"]] == ["99.50", "99.38", "99.45"]
    assert row["min last 3"] == "99.38" and row["margin"] == "-0.02" and row["verdict"] == "FAIL"
    assert row["s/epoch"] == "2.0" and row["total s"] == "8.5"


def test_candidate_rows_aggregate_seeds():
    recs = [
        _record("m", 0, [99.5, 99.5, 99.5], True, True),
        _record("m", 1, [99.3, 99.3, 99.3], True, False),
        _record("solo", 0, [99.6] * 3, True, True),
    ]
    (row,) = table.candidate_rows(recs)  # one seed alone gets no aggregate row
    assert row["candidate"] == "m" and row["seeds"] == "0,1" and row["seeds passed"] == "1/2"
    assert row["last-K min, mean ± std"] == "99.40 ± 0.14" and row["last-K min, worst"] == "99.30"


def test_markdown_summary_is_a_github_table_with_the_reasons():
    recs = [_record("b", 0, [99.5] * 3, True, True), _record("a", 0, [99.0] * 3, False, False)]
    md = table.markdown(recs, {"max_params": 8000, "max_epochs": 15, "target_acc": 99.4, "last_k": 3})
    lines = md.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("| candidate"))
    assert set(lines[header + 1]) <= set("|-: ")  # the github separator row
    assert lines[header + 2].startswith("| a ") and lines[header + 3].startswith("| b ")  # sorted
    assert "- a seed 0: broke (xfail)" in md and "1 pass, 1 xfail" in md
