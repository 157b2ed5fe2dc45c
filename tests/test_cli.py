"""The command line's exit codes and messages, the result files it writes, and resuming a
checkpointed run to the same numbers as an uninterrupted one."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import candidates
import pytest
import torch
import torch.nn as nn

from harness.cli.main import main
from harness.engine import loop
from harness.engine.checks import materialise
from harness.engine.data import MNIST, DataError, load
from harness.engine.loop import TrainingInterrupted
from harness.engine.recipe import Recipe
from harness.records.progress import ProgressHooks, format_epoch_log
from harness.records.schema import EpochRow, RunResult
from harness.records.store import (
    CheckpointError,
    load_checkpoint,
    load_records,
    run_record,
    save_checkpoint,
    write_json,
)
from harness.runner import anatomy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mnist() -> MNIST:
    try:
        return load()
    except DataError as e:
        pytest.skip(f"MNIST is not available here: {e}")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_error_line(done: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, (done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def row_numbers(row) -> dict:
    d = row if isinstance(row, dict) else dataclasses.asdict(row)
    return {k: v for k, v in d.items() if k != "seconds"}


# ---------------------------------------------------------------- commands


def test_list_shows_model1_with_its_parameter_count():
    done = cli("list", "--candidates", "model1,model3")
    assert done.returncode == 0, done.stderr
    expected = candidates.build("model1").budget.total
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("model1 "))
    assert f"{expected:,}" in line and "no claim" in line and "models/model1.py" in line
    assert "claims" in next(ln for ln in done.stdout.splitlines() if ln.startswith("model3 "))


def test_list_with_a_glob_that_matches_nothing_is_an_error():
    assert_one_error_line(cli("list", "--candidates", "no_such_*"), 2, "no_such_*", "model1")


def test_summary_rows_add_up_to_the_parameter_count():
    done = cli("summary", "model1")
    assert done.returncode == 0, done.stderr
    total = candidates.build("model1").budget.total
    assert f"total: {total:,} parameters" in done.stdout
    assert "Conv2d" in done.stdout and "[1, 10, 1, 1]" in done.stdout


def test_train_smoke_writes_record_log_and_weights(tmp_path, mnist):
    out = tmp_path / "r.json"
    done = cli("train", "model1", "--limit-train", "512", "--epochs", "1", "--json", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    records, warnings = load_records(tmp_path)
    assert warnings == [] and len(records) == 1
    result = RunResult.from_dict(records[0]["result"])
    assert result.status == "completed" and result.limit_train == 512 and len(result.epochs) == 1
    assert records[0]["verdict"]["passed"] is False  # a --limit-train run can never comply
    assert records[0]["command"].endswith(f"--json {out} --quiet")
    last = done.stdout.strip().splitlines()[-1]
    assert f"final test accuracy {result.epochs[0].test_acc:.2f}%" in last
    assert "EPOCH" not in done.stdout  # --quiet, and stdout is not a terminal anyway

    log = (tmp_path / "r.log").read_text()
    assert log == format_epoch_log(result.epochs, steps=4)  # 512 images / batch 128
    weights = torch.load(tmp_path / "r.pt", weights_only=True)
    assert list(weights) == candidates.state_keys("model1")
    assert not (tmp_path / "r.ckpt").exists()  # removed once the run completed
    assert records[0]["result"]["isolation"] in ("sandbox", "process")


def test_unknown_candidate_is_named():
    assert_one_error_line(cli("train", "no_such_model", "--quiet"), 2, "'no_such_model'", "model1")


def test_too_many_epochs_names_the_field(tmp_path):
    assert_one_error_line(
        cli("train", "model1", "--epochs", "16", "--json", str(tmp_path / "r.json")), 2, "'epochs'", "16"
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_device_is_refused():
    assert_one_error_line(cli("train", "model1", "--device", "tpu9"), 2, "tpu9")


def test_bad_argument_is_one_line():
    assert_one_error_line(cli("train", "model1", "--seed", "-1"), 2, "--seed")


def test_sigterm_saves_finished_epochs_and_resume_completes(tmp_path, mnist, capsys):
    out = tmp_path / "r.json"
    args = ["train", "model1", "--limit-train", "512", "--epochs", "2", "--json", str(out), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ckpt = tmp_path / "r.ckpt"
    deadline = time.monotonic() + 90
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint after the first epoch"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and str(out) in err and "Traceback" not in err
    partial = json.loads(out.read_text())["result"]
    assert partial["status"] == "interrupted" and 1 <= len(partial["epochs"]) <= 2
    assert "interrupted" in (tmp_path / "r.log").read_text()

    # Checked in process (a start-up costs seconds): a plain rerun would throw the finished
    # epochs away, so it is refused, and the checkpoint belongs to seed 0 only.
    capsys.readouterr()
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume", "--seed", "1"]) == 2
    assert "seed 0 there, 1 here" in capsys.readouterr().err

    done = cli(*args, "--resume")
    assert done.returncode == 0, done.stderr
    final = json.loads(out.read_text())["result"]
    assert final["status"] == "completed" and [r["epoch"] for r in final["epochs"]] == [1, 2]
    assert [row_numbers(r) for r in final["epochs"][: len(partial["epochs"])]] == [
        row_numbers(r) for r in partial["epochs"]
    ]
    assert not ckpt.exists() and (tmp_path / "r.pt").exists()


NAN_WHEN_TRAINING = '''
import torch.nn as nn
from models.registry import register_model


class NaNWhenTraining(nn.Module):
    """Passes the pre-training check (eval mode), then diverges on the first batch."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        out = self.fc(x.flatten(1))
        return out * float("nan") if self.training else out


@register_model(recipe=dict(epochs=2), complies=False)
def nan_when_training():
    return NaNWhenTraining()
'''


def test_diverged_run_keeps_its_record_and_fails(tmp_path, mnist, capsys):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "nan_when_training.py").write_text(NAN_WHEN_TRAINING)
    out = tmp_path / "r.json"
    code = main(
        [
            "train",
            "nan_when_training",
            "--models-dir",
            str(tmp_path / "models"),
            "--limit-train",
            "256",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    # Without bubblewrap a NOT SANDBOXED warning comes first; the error is still one line.
    err = [
        line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("warning: NOT SANDBOXED")
    ]
    assert code == 1
    assert len(err) == 1 and err[0].startswith(
        "error: nan_when_training seed 0 diverged: non-finite loss at epoch 1, step 1"
    ), err
    result = json.loads(out.read_text())["result"]
    assert result["status"] == "diverged" and result["epochs"] == []
    assert "diverged" in (tmp_path / "r.log").read_text()
    assert not (tmp_path / "r.pt").exists() and not (tmp_path / "r.ckpt").exists()


# ---------------------------------------------------------------- resume, in process


def small(data: MNIST, train: int, test: int) -> MNIST:
    """Fewer test images make every epoch's evaluation cheap; the numbers stay comparable."""
    return dataclasses.replace(
        data,
        train_images=data.train_images[:train],
        train_labels=data.train_labels[:train],
        test_images=data.test_images[:test],
        test_labels=data.test_labels[:test],
    )


class StopAtEpoch:
    def __init__(self, epoch: int):
        self.epoch = epoch

    def epoch_start(self, epoch, steps):
        if epoch == self.epoch:
            raise KeyboardInterrupt  # what Ctrl-C would raise once epoch - 1 is checkpointed

    def step(self, step, loss, correct, seen):
        pass

    def epoch_end(self, row):
        pass


class SmallNet(nn.Module):
    """The engine's own test subject: convolutions, BatchNorm and a pooled head."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3),
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, mnist):
    data = small(mnist, 1024, 1000)
    # A schedule that steps per batch and augmentation, so every saved state matters.
    recipe = Recipe.from_dict(
        dict(
            epochs=3,
            ema=0.9,
            optimizer=dict(name="SGD", lr=0.05, momentum=0.9),
            schedule=dict(name="OneCycleLR"),
            augment=[dict(name="ContinuousAffine", degrees=10, translate=0.1, scale=(0.9, 1.1))],
        )
    )
    key = {"candidate": "model1", "seed": 3, "recipe": recipe.to_dict(), "limit_train": None, "device": "cpu"}
    path = tmp_path / "run.ckpt"

    def fresh():
        model = loop.build(SmallNet, 3)
        materialise(model)
        return model

    whole_model = fresh()
    whole = loop.train(whole_model, recipe, data, 3, "cpu", name="model1")

    with pytest.raises(TrainingInterrupted) as stopped:
        loop.train(
            fresh(),
            recipe,
            data,
            3,
            "cpu",
            name="model1",
            hooks=StopAtEpoch(3),
            checkpoint=lambda state: save_checkpoint(path, key, state),
        )
    assert stopped.value.result.status == "interrupted" and len(stopped.value.result.epochs) == 2

    resumed_model = fresh()
    resumed = loop.train(resumed_model, recipe, data, 3, "cpu", name="model1", resume=load_checkpoint(path, key))
    assert resumed.status == "completed"
    assert [row_numbers(r) for r in resumed.epochs] == [row_numbers(r) for r in whole.epochs]
    for (name, a), b in zip(whole_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name

    with pytest.raises(CheckpointError, match="seed 3 there, 4 here"):
        load_checkpoint(path, dict(key, seed=4))
    with pytest.raises(CheckpointError, match="augment"):
        load_checkpoint(
            path, dict(key, recipe=recipe.replace(augment=[dict(name="ContinuousAffine", degrees=5)]).to_dict())
        )


def test_missing_or_damaged_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.ckpt", {})
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(bad, {})


# ---------------------------------------------------------------- result files


def a_result(**changes) -> RunResult:
    row = EpochRow(
        epoch=1,
        train_loss=0.5,
        train_acc=90.0,
        test_loss=0.2,
        test_acc=95.0,
        test_correct=9500,
        test_total=10000,
        lr=0.01,
        seconds=1.0,
    )
    return dataclasses.replace(
        RunResult(
            candidate="m",
            params=100,
            seed=0,
            device="cpu",
            torch="x",
            threads=1,
            recipe={},
            epochs=[row],
            status="completed",
        ),
        **changes,
    )


def test_load_records_skips_damaged_files_with_a_warning(tmp_path):
    good = run_record(a_result(), command="test")
    write_json(tmp_path / "a-good.json", good)
    (tmp_path / "b-truncated.json").write_text(json.dumps(good)[:200])
    write_json(tmp_path / "c-old-schema.json", dict(good, schema=0))
    edited = json.loads(json.dumps(good))
    edited["result"]["epochs"][0]["test_acc"] = "99.9"
    write_json(tmp_path / "d-edited.json", edited)
    no_rows = json.loads(json.dumps(good))
    del no_rows["result"]["epochs"][0]["test_correct"]
    write_json(tmp_path / "e-missing-field.json", no_rows)
    (tmp_path / "f-deep.json").write_text("[" * 100_000 + "]" * 100_000)  # past the decoder's recursion
    (tmp_path / "notes.txt").write_text("not a record")
    (tmp_path / "sub").mkdir()
    write_json(tmp_path / "sub" / "nested.json", good)

    records, warnings = load_records(tmp_path)
    assert len(records) == 1
    assert RunResult.from_dict(records[0]["result"]) == a_result()
    assert len(warnings) == 5
    for name, reason in [
        ("b-truncated.json", "not valid JSON"),
        ("f-deep.json", "nests its values deeper than a record does"),
        ("c-old-schema.json", "schema 0"),
        ("d-edited.json", "test_acc"),
        ("e-missing-field.json", "test_correct"),
    ]:
        assert any(name in w and reason in w for w in warnings), (name, warnings)


def test_write_json_failure_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "deep" / "r.json"
    with pytest.raises(TypeError):
        write_json(target, {"fine": list(range(5000)), "bad": object()})  # fails after writing part
    assert not target.exists() and list(target.parent.iterdir()) == []

    write_json(target, {"v": 1})
    with pytest.raises(TypeError):
        write_json(target, {"v": 2, "bad": object()})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_run_record_is_plain_json_with_machine_info():
    rec = json.loads(json.dumps(run_record(a_result(), command="python -m harness train m")))
    assert rec["schema"] == 1 and rec["kind"] == "run" and rec["verdict"] is None
    assert {"hostname", "torch", "torch_threads", "git_commit", "git_dirty", "time"} <= set(rec["machine"])
    assert rec["command"] == "python -m harness train m"


# ---------------------------------------------------------------- progress and anatomy


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_silent_off_a_terminal_or_when_quiet():
    for hooks in (ProgressHooks(io.StringIO()), ProgressHooks(FakeTerminal(), quiet=True)):
        assert not hooks.enabled
        hooks.epoch_start(1, 2)
        hooks.step(0, torch.tensor(0.5), torch.tensor(3), 4)
        hooks.epoch_end(a_result().epochs[0])
        assert hooks.stream.getvalue() == ""


def test_progress_prints_the_course_format_on_a_terminal():
    stream = FakeTerminal()
    hooks = ProgressHooks(stream, every=2)
    hooks.epoch_start(3, 3)
    for step, correct in enumerate((3, 4, 1)):
        hooks.step(step, torch.tensor(0.25 * (step + 1)), torch.tensor(correct), 4)
    hooks.epoch_end(a_result().epochs[0])
    text = stream.getvalue()
    assert text.startswith("EPOCH: 3\n")
    assert "Loss=0.7500 Batch_id=2 Accuracy=66.67: 100%" in text  # 8 of 12 seen, the last batch's loss
    assert "Batch_id=1" not in text  # refreshed every 2 steps and at the last one
    assert text.endswith("Test set: Average loss: 0.2000, Accuracy: 9500/10000 (95.00%)\n\n")


def test_format_epoch_log():
    rows = [a_result().epochs[0], dataclasses.replace(a_result().epochs[0], epoch=2, test_acc=96.5)]
    assert format_epoch_log(rows, steps=469).splitlines()[:4] == [
        "EPOCH: 1",
        "Loss=0.5000 Batch_id=468 Accuracy=90.00",
        "Test set: Average loss: 0.2000, Accuracy: 9500/10000 (95.00%)",
        "",
    ]
    assert "Batch_id" not in format_epoch_log(rows)
    assert "(96.50%)" in format_epoch_log(rows)


def test_anatomy_counts_a_shared_layer_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)
            self.scale = nn.Parameter(torch.ones(1))  # held by the model itself, not a leaf
            self.head = nn.Linear(784, 10)

        def forward(self, x):
            return self.head((self.conv(self.conv(x)) * self.scale).flatten(1))

    rows = anatomy.layers(Twice())
    assert [r.name for r in rows] == ["conv", "conv", "head", "(model)"]
    assert [r.params for r in rows] == [10, 0, 7850, 1]
    assert rows[2].input_shape == (1, 784) and rows[-1].output_shape == (1, 10)
