"""The author's published numbers: test logs read from saved outputs and from the text files a
repository keeps. Every log here is written by hand for the test."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli.importer import import_source, parse_log
from harness.cli.importer.published import PARAMS

NEW_RUN = "the outputs hold more than one run; the last one is taken"

# A course script trained from the command line: it prints into no notebook, so its run is kept (if at
# all) as text beside it.
SCRIPT = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim import SGD
from torchvision import datasets, transforms

EPOCHS = {epochs}


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(F.relu(self.c1(x)).mean((2, 3))), dim=1)


def main():
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    loader = torch.utils.data.DataLoader(datasets.MNIST(".", train=True, transform=tf), batch_size=64)
    model = SmallNet()
    optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9)
    for epoch in range(EPOCHS):
        for data, target in loader:
            optimizer.zero_grad()
            F.nll_loss(model(data), target).backward()
            optimizer.step()


if __name__ == "__main__":
    main()
"""


def _log(accs: list[float], first: int = 1) -> str:
    return "\n".join(
        f"Epoch {first + i}\nTest set: Average loss: 0.0300, Accuracy: {round(a * 100)}/10000 ({a:.2f}%)"
        for i, a in enumerate(accs)
    )


def _repo(tmp_path: Path, files: dict[str, str], epochs: int = 3) -> Path:
    for rel, text in {"src/train.py": SCRIPT.format(epochs=epochs), **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def _imported(root: Path):
    [got] = import_source(root)
    return got


# ---------------------------------------------------------------- summary lines


def test_a_summary_after_the_epochs_is_no_further_epoch():
    for summary in ("Training completed with validation accuracy: 98.90%", "Best Test Accuracy: 98.90%"):
        records, _ = parse_log(_log([98.1, 98.9, 98.5]) + "\n" + summary)
        assert [(r["epoch"], r["test_acc"]) for r in records] == [(1, 98.1), (2, 98.9), (3, 98.5)]


def test_a_summary_before_the_log_is_no_run_of_its_own():
    # a README's results list above the log it sums up
    records, notes = parse_log("Overall Test Accuracy: 98.90%\n" + _log([98.1, 98.9], first=0))
    assert [r["test_acc"] for r in records] == [98.1, 98.9]
    assert NEW_RUN not in notes


def test_a_summary_alone_is_still_what_was_published():
    assert [r["test_acc"] for r in parse_log("Final test accuracy: 99.12%")[0]] == [99.12]


# ---------------------------------------------------------------- two runs


def test_two_runs_counted_alike_give_the_last():
    for first in (0, 1):
        text = _log([97.0, 98.0, 98.5], first=first) + "\n" + _log([97.5, 98.6, 99.1], first=first)
        records, notes = parse_log(text)
        assert [(r["epoch"], r["test_acc"]) for r in records] == [(1, 97.5), (2, 98.6), (3, 99.1)]
        assert notes.count(NEW_RUN) == 1


def test_an_epoch_printed_twice_is_no_new_run():
    # a validation and a test line under one header: numbered on, as before
    text = "Epoch 1\nVal Accuracy: 98.0%\nEpoch 1\nTest Accuracy: 98.2%\nEpoch 2\nTest Accuracy: 98.4%"
    records, notes = parse_log(text)
    assert len(records) == 3 and NEW_RUN not in notes


# ---------------------------------------------------------------- formats


def test_counts_printed_as_floats_are_read():
    records, _ = parse_log("Test set: Average loss: 0.0421, Accuracy: 9871.0/10000 (98.71%)")
    assert records == [{"epoch": 1, "test_loss": 0.0421, "test_correct": 9871, "test_total": 10000, "test_acc": 98.71}]


def test_a_result_under_a_test_heading_is_read():
    block = "=====\nTest/Validation Results:\nAverage loss: {loss}\nAccuracy: {n}/10000 ({n_pct}%)\n=====\n"
    text = "Epoch  Train Loss  Val Acc\n" + "".join(
        block.format(loss=loss, n=n, n_pct=n / 100) + f"{i}   0.1   {n / 100}\nBest accuracy so far: {n / 100}%\n"
        for i, (loss, n) in enumerate([(0.05, 9812), (0.04, 9857)], start=1)
    )
    text += "Training Results:\nAccuracy: 59000/60000 (98.33%)\n"  # the training set's: no test result
    records, _ = parse_log(text)
    assert records == [
        {"epoch": 1, "test_loss": 0.05, "test_correct": 9812, "test_total": 10000, "test_acc": 98.12},
        {"epoch": 2, "test_loss": 0.04, "test_correct": 9857, "test_total": 10000, "test_acc": 98.57},
    ]


def test_a_parameter_count_without_its_colon_is_read():
    # torchsummary prints `Total params: 15,334`; a table pasted into a README drops the colon
    for line in ("Total params: 15,334", "Total params                 15,334"):
        assert [m.group(1) for m in PARAMS.finditer(line)] == ["15,334"]


# ---------------------------------------------------------------- logs kept in a repository


def test_a_script_run_is_read_from_the_readme(tmp_path):
    readme = "# SmallNet\n\n| Total params      12,345 |\n\n## Logs\n" + _log([97.0, 98.0, 98.6])
    got = _imported(_repo(tmp_path, {"README.md": readme}))
    assert got.published["params"] == 12_345
    assert [e["test_acc"] for e in got.published["epochs"]] == [97.0, 98.0, 98.6]
    assert got.published["source"] == "README.md: kept in the repository (test log and Total params)"
    assert any("may come from an older version of the code" in n for n in got.notes)
    assert "test accuracy 97.00, 98.00, 98.60 in epochs 1-3 of 3 (README.md" in got.code


def test_the_log_nearest_the_training_script_is_taken_and_named(tmp_path):
    files = {"README.md": _log([90.0, 91.0, 92.0]), "src/logs/run.txt": _log([97.0, 98.0, 98.6])}
    got = _imported(_repo(tmp_path, files))
    assert [e["test_acc"] for e in got.published["epochs"]] == [97.0, 98.0, 98.6]
    assert got.published["source"].startswith("src/logs/run.txt: ")
    assert any("src/logs/run.txt, README.md each hold a test log; src/logs/run.txt's is taken" in n for n in got.notes)


def test_no_text_log_leaves_nothing_published(tmp_path):
    got = _imported(_repo(tmp_path, {"README.md": "# SmallNet\nTrain it with `python src/train.py`.\n"}))
    assert got.published == {"params": None, "epochs": [], "source": ""}
    assert "Published: nothing found" in got.code


# ---------------------------------------------------------------- an interrupted run


def test_a_run_stopped_early_is_said(tmp_path):
    got = _imported(_repo(tmp_path, {"README.md": _log([97.0, 98.0])}, epochs=15))
    assert any(n.endswith("the saved run stopped after 2 of the 15 epochs the source asks for") for n in got.notes)
    whole = _imported(_repo(tmp_path / "whole", {"README.md": _log([97.0, 98.0])}, epochs=2))
    assert not any("stopped after" in n for n in whole.notes)


# ---------------------------------------------------------------- a summary of another class

NET_CELL = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim import SGD
from torchvision import datasets, transforms
from torchsummary import summary


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(F.relu(self.c1(x)).mean((2, 3))), dim=1)


class Net2(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, bias=False)
        self.fc = nn.Linear(8, 10, bias=False)

    def forward(self, x):
        return F.log_softmax(self.fc(F.relu(self.c1(x)).mean((2, 3))), dim=1)
"""

TRAIN_CELL = """
tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
loader = torch.utils.data.DataLoader(datasets.MNIST(".", train=True, transform=tf), batch_size=64)
model = Net()
optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9)
for epoch in range(1, 3):
    for data, target in loader:
        optimizer.zero_grad()
        F.nll_loss(model(data), target).backward()
        optimizer.step()
"""


def _cell(source: str, output: str = "") -> dict:
    outputs = [{"output_type": "stream", "name": "stdout", "text": output.splitlines(keepends=True)}]
    return {"cell_type": "code", "metadata": {}, "outputs": outputs if output else [], "source": source}


def _summary_notebook(tmp_path: Path, *summaries: tuple[str, str]) -> Path:
    """A notebook defining Net and Net2 and training Net, with a cell (source, printed output) for each
    summary between them."""
    cells = [_cell(NET_CELL), *(_cell(src, out) for src, out in summaries), _cell(TRAIN_CELL, _log([97.0, 98.0]))]
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    path = tmp_path / "s.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _table(total: int) -> str:
    return f"================================================================\nTotal params: {total:,}\n"


def test_a_summary_of_a_class_never_trained_is_not_the_published_count(tmp_path):
    # Net's summary, then a variant's printed after it: the variant's count was taken as Net's
    net = ("model = Net()\nsummary(model, input_size=(1, 28, 28))", _table(170))
    for variant in (
        "model = Net2().to('cpu')\nsummary(model, input_size=(1, 28, 28))",
        "summary(Net2().to('cpu'), input_size=(1, 28, 28))",
        "m2 = Net2()\nm2.summary()",
    ):
        got = _imported(_summary_notebook(tmp_path, net, (variant, _table(160))))
        assert got.published["params"] == 170, variant
        assert got.published["source"].startswith("s.ipynb: saved outputs of cell 2 (torchsummary)")
        assert any(
            "cell 3 prints a summary of Net2, not of Net (the class trained): its count (160) is not taken as "
            "published; cell 2's (170) is" in n
            for n in got.notes
        ), variant


def test_only_a_summary_of_another_class_leaves_no_published_count(tmp_path):
    got = _imported(_summary_notebook(tmp_path, ("summary(Net2(), input_size=(1, 28, 28))", _table(160))))
    assert got.published["params"] is None
    assert [e["test_acc"] for e in got.published["epochs"]] == [97.0, 98.0]
    assert any(n.endswith("its count (160) is not taken as published") for n in got.notes)


def test_two_summaries_in_one_cell_are_paired_with_their_counts(tmp_path):
    src = "summary(Net(), input_size=(1, 28, 28))\nsummary(Net2(), input_size=(1, 28, 28))"
    got = _imported(_summary_notebook(tmp_path, (src, _table(170) + _table(160))))
    assert got.published["params"] == 170


def test_a_summary_whose_model_cannot_be_read_is_kept(tmp_path):
    # `net` is bound by no line of the source: its summary may be of the trained class, as before
    got = _imported(_summary_notebook(tmp_path, ("summary(net, input_size=(1, 28, 28))", _table(150))))
    assert got.published["params"] == 150
    assert not any("not taken as published" in n for n in got.notes)
