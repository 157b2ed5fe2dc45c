"""The evidence behind every claim, checked without training (`pytest -m evidence`, part of
the fast suite): each claiming candidate's committed records exist for every claimed seed,
were made from its file and recipe as they are now, and pass its claim."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.judge import catalog, evidence, judging

ENTRIES = catalog.scan(catalog.REPO_MODELS)
CLAIMING = sorted(name for name, e in ENTRIES.items() if e.claim is not None)


@pytest.mark.evidence
@pytest.mark.parametrize("name", CLAIMING)
def test_the_evidence_behind_the_claim_is_current_and_passes(name):
    found = evidence.problems(ENTRIES[name])
    if found:
        pytest.fail(evidence.message(ENTRIES[name], found), pytrace=False)


def test_some_candidate_claims():
    assert CLAIMING, "no candidate claims compliance, so the evidence checks above check nothing"


def _copy(tmp_path: Path, name: str) -> tuple[catalog.Entry, Path]:
    """A candidate file and its evidence folder copied, as a pull request would change them."""
    models, out = tmp_path / "models", tmp_path / "evidence"
    models.mkdir()
    shutil.copy(ENTRIES[name].file, models)
    shutil.copytree(evidence.folder(name), out / name)
    return catalog.scan(models)[name], out


@pytest.mark.skipif(not CLAIMING, reason="no claiming candidate")
def test_changing_one_layer_makes_the_evidence_stale_with_the_remake_command(tmp_path):
    name = CLAIMING[0]
    entry, out = _copy(tmp_path, name)
    assert evidence.problems(entry, out) == []  # the copy is as current as the original
    path = Path(entry.file)
    source = path.read_text()
    changed = source.replace("nn.ReLU()", "nn.ReLU6()", 1)
    assert changed != source
    path.write_text(changed)
    found = evidence.problems(catalog.scan(path.parent)[name], out)
    assert len(found) == len(entry.claim["seeds"]) and all("stale" in f for f in found), found
    line = evidence.message(entry, found)
    assert "\n" not in line and line.endswith(f"remake with `python -m harness evidence {name}`")


@pytest.mark.skipif(not CLAIMING, reason="no claiming candidate")
def test_missing_failing_and_loosely_judged_records_are_named(tmp_path):
    name = CLAIMING[0]
    entry, out = _copy(tmp_path, name)
    seeds = entry.claim["seeds"]
    records = [out / name / judging.record_name(name, s) for s in seeds]
    records[0].unlink()
    rec = json.loads(records[1].read_text())
    rec["result"]["epochs"][-1]["test_correct"] = 9000
    rec["result"]["epochs"][-1]["test_acc"] = 90.0
    records[1].write_text(json.dumps(rec))
    if len(seeds) > 2:
        rec = json.loads(records[2].read_text())
        rec["rules"]["last_k"] = 1
        records[2].write_text(json.dumps(rec))
    found = evidence.problems(entry, out)
    assert found[0] == f"{name} seed {seeds[0]}: no record {records[0]}"
    assert found[1].startswith(f"{name} seed {seeds[1]}: fails the claim: ") and "90.00%" in found[1]
    if len(seeds) > 2:
        assert found[2].startswith(f"{name} seed {seeds[2]}: judged under looser rules than the claim (last_k 1")


def _claiming_on(tmp_path: Path, devices: str) -> tuple[catalog.Entry, Path]:
    """model4 and its CPU evidence copied, its claim naming `devices`, the records' file digest
    moved to the edited file (as if remade from it)."""
    entry, out = _copy(tmp_path, "model4")
    path = Path(entry.file)
    path.write_text(path.read_text().replace("last_k=3)", f"last_k=3, devices={devices})", 1))
    edited = catalog.scan(path.parent)["model4"]
    if edited.error is None:
        digest = judging.provenance(edited)["file_sha256"]
        for record in (out / "model4").glob("*.json"):
            rec = json.loads(record.read_text())
            if "provenance" in rec:
                rec["provenance"]["file_sha256"] = digest
                record.write_text(json.dumps(rec))
    return edited, out


def test_a_claim_is_on_the_cpu_unless_it_names_other_kinds():
    assert ENTRIES["model4"].claim["devices"] == ("cpu",)
    assert all(set(e.claim["devices"]) <= {"cpu", "cuda"} for e in ENTRIES.values() if e.claim)


def test_each_claimed_kind_needs_its_own_evidence_made_on_that_kind(tmp_path):
    entry, out = _claiming_on(tmp_path, '("cpu", "cuda")')
    cuda = out / "model4" / "cuda"
    found = evidence.problems(entry, out)
    assert found == [f"model4 seed {s} on cuda: no record {cuda / judging.record_name('model4', s)}" for s in (0, 1, 2)]
    line = evidence.message(entry, found)
    assert line.endswith("remake with `python -m harness evidence model4 --device cuda`"), line
    # CPU records copied into the CUDA folder are refused for what they are.
    cuda.mkdir()
    for record in (out / "model4").glob("*.json"):
        shutil.copy(record, cuda)
    found = evidence.problems(entry, out)
    assert len(found) == 3 and all("made on cpu, not on cuda" in f for f in found), found


@pytest.mark.parametrize("devices", ['("tpu",)', "()", '("cpu", "cpu")', '"cpu"'])
def test_a_claim_names_known_device_kinds(tmp_path, devices):
    entry, _ = _claiming_on(tmp_path, devices)
    assert entry.error is not None and "claim devices" in entry.error, entry.error
