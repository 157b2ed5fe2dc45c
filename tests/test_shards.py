"""The gate split across machines: shard assignment (complete, balanced, stable as candidates
are added) and `python -m harness merge`, which must give the table of one run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import candidates
import pytest
from test_gate import REPO, run_pytest

from harness.cli.main import main
from harness.judge import shards

STAND_INS = """
import torch.nn as nn
from models.registry import register_model

FAST = dict(epochs=1, batch_size=250, optimizer=dict(name="SGD", lr=0.1, momentum=0.9))


@register_model(recipe=FAST, claim=dict(seeds=(0, 1)))
def lin_a():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@register_model(recipe=dict(FAST, optimizer=dict(name="SGD", lr=0.05, momentum=0.9)), claim=dict(seeds=(0, 1)))
def lin_b():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@register_model(recipe=FAST)
def lin_unclaimed():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@register_model(recipe=FAST, claim=dict(seeds=(0,)))
def too_big():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.Linear(16, 10))
"""


def test_shard_values_are_checked():
    assert str(shards.Shard.parse("2/4")) == "2/4"
    for bad in ("0/4", "5/4", "2", "a/b", "1/0"):
        with pytest.raises(shards.ShardError):
            shards.Shard.parse(bad)


def test_every_item_lands_in_exactly_one_shard_and_loads_are_bounded():
    costs = {f"c{i}-seed{s}": (300.0 if i % 3 else 5.0) for i in range(40) for s in range(3)}
    placed = shards.assign(costs, 7)
    assert set(placed) == set(costs) and set(placed.values()) == set(range(1, 8))
    loads = [sum(c for item, c in costs.items() if placed[item] == s) for s in range(1, 8)]
    mean = sum(costs.values()) / 7
    assert max(loads) <= (1 + shards.SLACK) * mean + max(costs.values())
    assert placed == shards.assign(dict(reversed(list(costs.items()))), 7)  # order of input does not matter


def test_adding_a_candidate_moves_few_others():
    costs = {f"c{i}-seed{s}": 300.0 for i in range(30) for s in range(3)}
    before = shards.assign(costs, 6)
    after = shards.assign({**costs, **{f"new-seed{s}": 300.0 for s in range(3)}}, 6)
    moved = [item for item in costs if before[item] != after[item]]
    assert len(moved) <= len(costs) // 10, moved


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shards")
    for name in ("conftest.py", "tox.ini"):
        shutil.copy(REPO / name, root)
    (root / "tests").mkdir()
    shutil.copy(REPO / "tests" / "test_compliance.py", root / "tests")
    (root / "models").mkdir()
    candidates.write_candidates(root / "models", STAND_INS)
    return root


def _untimed(markdown: str) -> str:
    """summary.md with the run table's timing columns (its last two) dropped and the cells
    stripped, since the widths of a column follow its widest value."""
    header = next(line for line in markdown.splitlines() if line.startswith("| candidate"))
    width = header.count("|") - 1
    lines = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == width:
                cells = cells[:-2]
            line = "|".join("-" if set(c) <= {"-", ":"} and c else c for c in cells)
        lines.append(line)
    return "\n".join(lines)


def test_three_shards_merged_give_the_table_of_one_run(tree, tmp_path):
    smoke = {"MNIST8K_SMOKE": "limit_train=500,epochs=1"}
    common = ["-m", "compliance", "--seeds=0,1", "--last-k=1", "--device=cpu", "--unclaimed=train"]
    whole = run_pytest(*common, f"--results-dir={tmp_path / 'whole'}", cwd=tree, env=smoke)
    assert "summary.md" in whole.output, whole.output
    parts = []
    for i in (1, 2, 3):
        done = run_pytest(*common, f"--shard={i}/3", f"--results-dir={tmp_path / f'part{i}'}", cwd=tree, env=smoke)
        assert "mnist8k candidates" in done.output and f"shard {i}/3" in done.output, done.output
        parts.append(tmp_path / f"part{i}")
    ran = sorted(p.name for part in parts if part.exists() for p in part.glob("*-seed*.json"))
    assert ran == sorted(p.name for p in (tmp_path / "whole").glob("*-seed*.json"))  # each test once

    merged = tmp_path / "merged"
    code = main(["merge", *[str(p) for p in parts if p.exists()], "--out", str(merged)])
    assert code == 1  # the smoke runs fail their claims, as in the single run
    assert _untimed((merged / "summary.md").read_text()) == _untimed((tmp_path / "whole" / "summary.md").read_text())
    one, many = (json.loads((d / "summary.json").read_text()) for d in (tmp_path / "whole", merged))
    drop = {"seconds_per_epoch", "total_seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in many["runs"]] == [
        {k: v for k, v in r.items() if k not in drop} for r in one["runs"]
    ]
    assert many["counts"] == one["counts"] and many["records"] == one["records"]


def test_merge_refuses_duplicates_and_mixed_rules(tmp_path, capsys):
    record = {
        "schema": 1,
        "kind": "run",
        "rules": {"last_k": 3},
        "provenance": {"harness": "x"},
        "result": {
            "candidate": "m",
            "params": 1,
            "seed": 0,
            "device": "cpu",
            "torch": "t",
            "threads": 1,
            "recipe": {},
            "status": "completed",
            "epochs": [],
        },
        "gate": {"outcome": "pass"},
    }
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m-seed0.json").write_text(json.dumps(record))
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out")]) == 2
    assert "m seed 0 appears twice" in capsys.readouterr().err
    other = dict(record, rules={"last_k": 5}, result=dict(record["result"], seed=1))
    (tmp_path / "b" / "m-seed0.json").unlink()
    (tmp_path / "b" / "m-seed1.json").write_text(json.dumps(other))
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out")]) == 2
    assert "judged under different rules" in capsys.readouterr().err
    assert not (tmp_path / "out" / "summary.md").exists()
