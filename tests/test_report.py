"""The report command and module: pictures and EXPERIMENTS.md from synthetic run records,
damaged files skipped by name, notes and search logs, and `eval` reproducing a run."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.cli.main import main
from harness.engine.data import DataError, load
from harness.engine.recipe import Recipe
from harness.judge.rules import Rules, apply_rules
from harness.judge.weights import compare_with_record
from harness.records.schema import EpochRow, RunResult
from harness.records.store import run_record, write_json
from harness.report import document
from harness.report.confusion import confusion, per_class_table

ROOT = Path(__file__).resolve().parent.parent


def a_run(name: str, seed: int, params: int, finals: list[float], *, recipe=None, limit_train=None) -> RunResult:
    """A completed run whose test accuracy climbs and ends on `finals` (its last epochs)."""
    rng = random.Random(f"{name}-{seed}")
    epochs = 15
    accs = [97.0 + 2.2 * (1 - 0.7**e) + rng.uniform(-0.1, 0.1) for e in range(1, epochs - len(finals) + 1)]
    accs = [round(a, 2) for a in accs] + finals
    rows = [
        EpochRow(
            epoch=e,
            train_loss=0.5 * 0.8**e,
            train_acc=round(min(99.6, 95 + 0.3 * e), 2),
            test_loss=0.1 * 0.85**e,
            test_acc=a,
            test_correct=round(a * 100),
            test_total=10000,
            lr=0.01,
            seconds=1.0,
        )
        for e, a in enumerate(accs, 1)
    ]
    return RunResult(
        candidate=name,
        params=params,
        seed=seed,
        device="cpu",
        torch=torch.__version__,
        threads=1,
        recipe=recipe or {"epochs": epochs, "batch_size": 128, "mean": 0.1307, "std": 0.3081},
        limit_train=limit_train,
        epochs=rows,
        status="completed",
        params_after=params,
        seconds=15.0,
    )


def save(folder: Path, result: RunResult, rules: Rules | None = None) -> Path:
    rules = rules or Rules()
    path = folder / f"{result.candidate}-seed{result.seed}.json"
    write_json(path, run_record(result, verdict=apply_rules(result, rules, 15), rules=rules, command="test"))
    return path


def table_row(md: str, first: str) -> list[str]:
    """The cells of the first Markdown table row whose first cell is `first`."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no table row starts with {first!r}")


def png_size(path: Path) -> tuple[int, int]:
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", blob[16:24])
    return width, height


@pytest.fixture
def evidence(tmp_path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    for seed, finals in enumerate(([99.45, 99.47, 99.50], [99.41, 99.44, 99.42], [99.43, 99.40, 99.46])):
        save(folder, a_run("model2", seed, 7_900, finals))
    for seed, finals in enumerate(([99.41, 99.36, 99.44], [99.42, 99.45, 99.43])):
        save(folder, a_run("model10", seed, 5_100, finals))
    save(folder, a_run("model1", 0, 10_790, [99.20, 99.25, 99.22]))
    return folder


def config(tmp_path: Path, evidence: Path, **changes) -> document.ReportConfig:
    settings = dict(
        results_dir=evidence,
        plots_dir=tmp_path / "out" / "plots",
        document=tmp_path / "out" / "EXPERIMENTS.md",
        notes_dir=tmp_path / "notes",
        search_dir=tmp_path / "search",
    )
    settings.update(changes)
    return document.ReportConfig(**settings)


# ---------------------------------------------------------------- the document


def test_report_writes_the_pictures_and_the_document(tmp_path, evidence):
    cfg = config(tmp_path, evidence)
    done = document.build(cfg)
    plots = cfg.plots_dir
    expected = [plots / f"{n}-curves.png" for n in ("model1", "model2", "model10")] + [
        plots / "params-vs-accuracy.png",
        cfg.document,
    ]
    assert sorted(done.written) == sorted(expected)
    for path in expected[:-1]:
        width, height = png_size(path)
        assert width > 500 and height > 400
    assert done.candidates == ["model1", "model2", "model10"]  # natural order, not string order

    md = cfg.document.read_text()
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections == ["## Comparison", "## model1", "## model2", "## model10"]
    for heading in ("### Target", "### Result", "### Analysis", "### Training Logs", "### File Link"):
        assert md.count(heading) == 3
    assert "(no notes)" in md
    assert "![model2: accuracy and loss per epoch](plots/model2-curves.png)" in md
    assert "(plots/params-vs-accuracy.png)" in md
    # Worked out from the records: model2's worst seed ends 99.43, 99.40, 99.46 -> 99.40,
    # and 3 of 3 seeds pass; model10's seed 0 dips to 99.36 in the window -> 1 of 2.
    model2 = md.split("## model2")[1].split("## model10")[0]
    assert "- Minimum over the last 3 epochs: 99.40% for the worst seed" in model2
    assert "- Seeds passed: 3/3" in model2
    assert "- Final test accuracy, mean ± std over 3 seeds: 99.46 ± 0.04" in model2
    model10 = md.split("## model10")[1]
    assert "- Seeds passed: 1/2" in model10 and "epoch 14 test accuracy 99.36% < 99.40%" in model10
    assert table_row(md, "model10")[:7] == [
        "model10",
        "this repository",
        "5,100",
        "2",
        "worst seed 99.36",
        "99.45",
        "99.44 ± 0.01",
    ]
    assert table_row(md, "public result")[2] == "7,874"
    # The course log, folded, with the steps per epoch a batch of 128 makes of 60,000 images.
    assert "<details><summary>model2 seed 0: 15 epochs, completed</summary>" in md
    assert "Loss=" in md and "Batch_id=468 " in md and "Test set: Average loss:" in md
    source = os.path.relpath(ROOT / "models" / "model1.py", cfg.document.parent)
    assert f"[models/model1.py]({source})" in md  # model1's own file, relative to the document
    assert "no source file" in md  # model2 and model10 have none in this repository
    # No weights beside these records: the grids are skipped, each with a warning.
    assert sum("misclassified-digits picture is skipped" in w for w in done.warnings) == 3


def test_last_k_option_judges_again(tmp_path, evidence):
    cfg = config(tmp_path, evidence, last_k=1)
    document.build(cfg)
    md = cfg.document.read_text()
    model10 = md.split("## model10")[1]
    assert "- Seeds passed: 2/2" in model10 and "min last 1" in md  # the 99.36 dip is not in the last epoch
    assert "K is 1 for every candidate here" in md


def test_each_candidate_is_judged_over_the_window_its_records_were_run_with(tmp_path, evidence):
    # model10's runs held to the last 5 epochs: the 99.36 dip and an earlier 99.30 now both count.
    for seed, finals in enumerate(([99.30, 99.45, 99.41, 99.36, 99.44], [99.42, 99.41, 99.42, 99.45, 99.43])):
        save(evidence, a_run("model10", seed, 5_100, finals), Rules(last_k=5))
    cfg = config(tmp_path, evidence)
    document.build(cfg)
    md = cfg.document.read_text()
    model10, model2 = md.split("## model10")[1], md.split("## model2")[1].split("## model10")[0]
    assert "- Minimum over the last 5 epochs: 99.30% for the worst seed" in model10
    assert "- Seeds passed: 1/2" in model10 and "min last 5" in model10
    assert "- Minimum over the last 3 epochs: 99.40% for the worst seed" in model2  # its own K, 3
    assert table_row(md, "model10")[4] == "worst seed 99.30" and table_row(md, "model10")[-1] == "last 5"
    assert table_row(md, "model2")[-1] == "last 3"
    # An explicit K overrides every record's: over the last epoch only, both seeds of model10 pass.
    cfg = config(tmp_path, evidence, last_k=1)
    document.build(cfg)
    assert "- Seeds passed: 2/2" in cfg.document.read_text().split("## model10")[1]


def test_a_damaged_record_is_skipped_by_name_and_the_rest_reported(tmp_path, evidence):
    (evidence / "broken.json").write_text('{"schema": 1, "kind": "run", "result": {')
    (evidence / "model2-seed0.json").write_text(
        (evidence / "model2-seed0.json").read_text().replace('"params": 7900', '"params": "many"')
    )
    cfg = config(tmp_path, evidence)
    done = document.build(cfg)
    named = [w for w in done.warnings if "skipped" in w and w.startswith(str(evidence))]
    assert any(w.startswith(str(evidence / "broken.json")) and "not valid JSON" in w for w in named)
    assert any(w.startswith(str(evidence / "model2-seed0.json")) and "result.params" in w for w in named)
    md = cfg.document.read_text()
    assert "- Seeds passed: 2/3" not in md and "- Seeds passed: 2/2" in md.split("## model2")[1]
    assert "model2 seed 0:" not in md and "model2 seed 1:" in md


def test_runs_on_another_kind_of_device_are_judged_apart_from_the_cpu_runs(tmp_path, evidence):
    # model2's seeds also run on CUDA, where seed 1 dips below the target: the CPU verdict is
    # untouched and neither set of records is skipped as a second record of the same seed.
    (evidence / "model2" / "cuda").mkdir(parents=True)
    for seed, finals in enumerate(([99.44, 99.46, 99.45], [99.41, 99.38, 99.42])):
        run = a_run("model2", seed, 7_900, finals)
        run.device = "cuda:0"
        save(evidence / "model2" / "cuda", run)
    cfg = config(tmp_path, evidence)
    done = document.build(cfg)
    assert not [w for w in done.warnings if "second record" in w]
    assert done.candidates == ["model1", "model2", "model2 on cuda", "model10"]
    md = cfg.document.read_text()
    cpu, cuda = md.split("## model2\n")[1].split("## model2 on cuda")
    assert "- Seeds passed: 3/3" in cpu
    assert "- Seeds passed: 1/2" in cuda.split("## model10")[0] and "99.38% < 99.40%" in cuda
    assert "its Target is in the section model2" in cuda
    assert table_row(md, "model2 on cuda")[3:5] == ["2", "worst seed 99.38"]
    assert table_row(md, "model2")[3:5] == ["3", "worst seed 99.40"]
    assert (cfg.plots_dir / "model2-cuda-curves.png").exists() and (cfg.plots_dir / "model2-curves.png").exists()
    assert "<details><summary>model2 on cuda seed 1: 15 epochs" in md


def test_cli_report_prints_warnings_and_files(tmp_path, evidence, capsys):
    (evidence / "broken.json").write_text("not json")
    out = tmp_path / "o" / "plots"
    assert (
        main(
            [
                "report",
                "--results-dir",
                str(evidence),
                "--out",
                str(out),
                "--notes-dir",
                str(tmp_path / "none"),
                "--search-dir",
                str(tmp_path / "none"),
                "--data-dir",
                str(tmp_path / "no-data"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr()
    assert f"warning: {evidence / 'broken.json'}: skipped, not valid JSON" in printed.err
    assert "reported 3 candidates (model1, model2, model10)" in printed.out
    assert f"wrote {out / 'model2-curves.png'}" in printed.out
    assert (tmp_path / "o" / "EXPERIMENTS.md").exists() and (out / "model2-curves.png").exists()


def test_a_candidate_stopped_before_training_is_reported_without_pictures(tmp_path):
    folder = tmp_path / "gate"
    folder.mkdir()
    result = RunResult(
        candidate="big",
        params=9_000,
        seed=0,
        device="cpu",
        torch=torch.__version__,
        threads=1,
        recipe={"epochs": 15},
        status="not trained",
        error="big: 9,000 parameters > 8,000",
    )
    save(folder, result)
    cfg = config(tmp_path, folder)
    done = document.build(cfg)
    assert done.written == [cfg.document]  # no epochs: no curves, no point to plot
    md = cfg.document.read_text()
    assert table_row(md, "big")[4] == "not trained" and "- Seeds passed: 0/1" in md
    assert "- big seed 0: 9,000 parameters > 8,000" in md and "![" not in md
    assert "```text\nnot trained: big: 9,000 parameters > 8,000\n```" in md  # the log is the reason


def test_report_refuses_a_folder_without_records(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "junk.json").write_text("[]")
    assert main(["report", "--results-dir", str(empty), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no usable run record in") and "junk.json" in err
    assert main(["report", "--results-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")]) == 2
    assert "no results folder" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_notes_fill_target_and_analysis_and_typed_numbers_are_flagged(tmp_path, evidence):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "model2.md").write_text(
        "# model2\n\n## Target\n\nBatchNorm after every `3x3` conv.\n\n"
        "## Analysis\n\nIt reached 99.46% with 7,900 parameters.\n"
    )
    (notes / "model10.md").write_text("## Target\n\nA narrower 3x3 stack, two max-pools.\n")
    cfg = config(tmp_path, evidence)
    done = document.build(cfg)
    md = cfg.document.read_text()
    assert "BatchNorm after every `3x3` conv." in md and "A narrower 3x3 stack" in md
    assert md.split("## model10")[1].count("(no notes)") == 1  # its Analysis is missing
    flagged = [w for w in done.warnings if "types numbers by hand" in w]
    assert len(flagged) == 1 and "model2.md: ## Analysis" in flagged[0] and "99.46%, 7,900" in flagged[0]


# ---------------------------------------------------------------- search logs


def test_search_log_tables_per_family(tmp_path, evidence):
    search = tmp_path / "search"
    search.mkdir()
    runs = [
        {
            "arch": "x8",
            "recipe": "oc",
            "seed": 1,
            "params": 7944,
            "status": "completed",
            "test_acc": [98.0] * 10 + [99.41, 99.45, 99.42, 99.50, 99.47],
        },
        {
            "arch": "x8",
            "recipe": "oc",
            "seed": 0,
            "params": 7944,
            "status": "completed",
            "test_acc": [98.0] * 10 + [99.38, 99.45, 99.42, 99.50, 99.43],
        },
        {
            "arch": "q4",
            "recipe": "oc",
            "seed": 0,
            "params": 3744,
            "status": "completed",
            "test_acc": [98.0] * 10 + [99.2, 99.3, 99.3, 99.3, 99.31],
        },
        {"arch": "q4", "recipe": "oc", "seed": 1, "status": "diverged", "params": 3744, "test_acc": []},
        {"arch": "q4", "recipe": "oc", "seed": 2, "skipped": "budget"},
    ]
    (search / "s1.jsonl").write_text("\n".join(json.dumps(r) for r in runs) + "\n{oops\n")
    cfg = config(tmp_path, evidence)
    done = document.build(cfg)
    md = cfg.document.read_text()
    log = md.split("## Search log")[1]
    assert log.index("### At most 4,000 parameters") < log.index("### At most 8,000 parameters")
    # min over the last 5 epochs, per seed in seed order; mean ± std of the finals.
    # Only the family with a run that did not complete has the "other runs" column.
    assert table_row(log, "x8") == ["x8", "7,944", "oc", "0, 1", "99.38, 99.41", "1/2", "99.45 ± 0.03"]
    assert table_row(log, "q4") == ["q4", "3,744", "oc", "0", "99.20", "0/1", "99.31 (one seed)", "seed 1 diverged"]
    assert "1 planned run was skipped by the sweeps (budget: 1)" in log
    assert any(w.startswith(f"{search / 's1.jsonl'}:6: skipped, not valid JSON") for w in done.warnings)


# ---------------------------------------------------------------- predictions


def test_confusion_and_per_class_tables():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 2])
    matrix = confusion(labels, predicted, classes=3)
    assert matrix == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    lines = per_class_table(matrix).splitlines()
    assert lines[2].split() == ["0", "2", "1", "50.00", "1", "(1)"]
    assert lines[4].split() == ["2", "1", "1", "100.00", "-"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    try:
        load()
    except DataError as e:
        pytest.skip(f"MNIST is not available here: {e}")
    folder = tmp_path_factory.mktemp("run")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "train",
            "model1",
            "--limit-train",
            "512",
            "--epochs",
            "1",
            "--json",
            str(folder / "model1-seed0.json"),
            "--quiet",
            "--device",
            "cpu",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return folder


def test_eval_reproduces_the_runs_final_accuracy(trained, capsys):
    rec = json.loads((trained / "model1-seed0.json").read_text())
    last = rec["result"]["epochs"][-1]
    assert main(["eval", "model1", "--weights", str(trained / "model1-seed0.pt"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"({last['test_correct']}/10000)" in out
    assert f"matches the run's final accuracy ({last['test_correct']}/10000 in" in out
    assert "confusion matrix" in out and "per-class accuracy" in out
    # The matrix rows add up to the test set, and its diagonal to the correct count.
    table = out.split("confusion matrix")[1].split("per-class accuracy")[0].splitlines()[3:13]
    cells = [[int(c.replace(",", "")) for c in line.split()[1:]] for line in table]
    assert sum(map(sum, cells)) == 10000 and sum(cells[i][i] for i in range(10)) == last["test_correct"]


def test_a_difference_from_the_record_is_shown_with_its_likely_causes():
    rec = {
        "result": {
            "epochs": [{"epoch": 15, "test_correct": 9941, "test_total": 10000}],
            "device": "cuda:0",
            "recipe": {"mean": 0.13, "std": 0.31},
        }
    }
    recipe = Recipe(mean=0.1307, std=0.3081)
    assert compare_with_record(rec, 9941, 10000, "r.json", torch.device("cuda"), recipe) == [
        "matches the run's final accuracy (9941/10000 in r.json, epoch 15)"
    ]
    lines = compare_with_record(rec, 9938, 10000, "r.json", torch.device("cpu"), recipe)
    assert lines[0] == (
        "differs from the run's final accuracy: 9938/10000 here, 9941/10000 in r.json, epoch 15 (-3 images)"
    )
    assert "mean 0.13 and std 0.31" in lines[1] and "--device cuda" in lines[2]


def test_eval_refuses_weights_of_another_shape(tmp_path, capsys):
    state = {k: v for k, v in torch.nn.Conv2d(1, 4, 3).state_dict().items()}
    state["block1.0.0.weight"] = torch.zeros(8, 1, 3, 3)
    torch.save(state, tmp_path / "w.pt")
    assert main(["eval", "model1", "--weights", str(tmp_path / "w.pt"), "--device", "cpu"]) == 2
    # Without bubblewrap a NOT SANDBOXED warning comes first; the error is still one line.
    err = "\n".join(
        line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("warning: NOT SANDBOXED")
    )
    assert len(err.splitlines()) == 1 and err.startswith("error: the weights in")
    assert "block1.0.0.weight: [8, 1, 3, 3] in the file, [10, 1, 3, 3] in the model" in err
    assert "missing" in err and "unexpected (weight, bias)" in err
    torch.save({"x": 1}, tmp_path / "n.pt")
    assert main(["eval", "model1", "--weights", str(tmp_path / "n.pt"), "--device", "cpu"]) == 2
    assert "holds no state dict" in capsys.readouterr().err
    assert main(["eval", "model1", "--weights", str(tmp_path / "missing.pt")]) == 2
    assert "no weights file" in capsys.readouterr().err


def test_report_draws_misclassified_digits_from_the_weights_beside_a_record(trained, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for suffix in (".json", ".pt"):
        (runs / f"model1-seed0{suffix}").write_bytes((trained / f"model1-seed0{suffix}").read_bytes())
    (runs / "a-broken.json").write_text("{")  # sorts first: the record must still find its weights
    cfg = config(tmp_path, runs)
    done = main(
        [
            "report",
            "--results-dir",
            str(runs),
            "--out",
            str(cfg.plots_dir),
            "--notes-dir",
            str(cfg.notes_dir),
            "--search-dir",
            str(cfg.search_dir),
        ]
    )
    assert done == 0
    grid = cfg.plots_dir / "model1-misclassified.png"
    width, height = png_size(grid)
    assert width > 500 and height > 400
    assert "![model1: misclassified test digits](plots/model1-misclassified.png)" in cfg.document.read_text()
