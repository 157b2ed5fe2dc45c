"""Result files: run records as JSON, weights and checkpoints as torch files, all written
atomically, and the record folder read back with damaged files named and skipped."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from harness.records import files
from harness.records.schema import EpochRow, RunResult

SCHEMA = 1  # bump when a record's layout changes in a way old readers would misread
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
# A checkout holds harness/ beside results/; installed as a package (a wheel in site-packages),
# the repository is the folder the command runs in.
REPO_ROOT = _PACKAGE_PARENT if (_PACKAGE_PARENT / "results").is_dir() else Path.cwd()
EVIDENCE_DIR = REPO_ROOT / "results" / "evidence"  # committed; written only when asked for


def default_results_dir() -> Path:
    """Where ordinary runs go (git-ignored), so a casual run never replaces evidence."""
    return REPO_ROOT / "results" / "latest"


# ---------------------------------------------------------------- atomic writes


def read_json(path: Path):
    """A JSON file's value. A committed file is anyone's to write: nesting deeper than the
    decoder recurses is a ValueError like any other malformed JSON, not a crash."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{path} nests its values deeper than a record does") from None


def write_json(path: Path, obj) -> None:
    """Serialised straight into a temporary file, so a value json cannot encode fails the
    write without touching whatever `path` held before."""
    with files.atomic_target(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())


write_text = files.write_text


def torch_save(path: Path, obj) -> None:
    with files.atomic_target(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())


def check_writable(folder: Path) -> None:
    """Fail before training, not after it, when results could not be saved."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe.", delete=True):
        pass


# ---------------------------------------------------------------- run records


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _processor() -> str:
    name = platform.processor()
    if name and name not in ("x86_64", "aarch64", "arm64"):
        return name
    # On Linux platform.processor() gives only the architecture; the model name is here.
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    return name or platform.machine()


def _cpu_capability() -> str | None:
    with contextlib.suppress(Exception):
        return torch.backends.cpu.get_cpu_capability()
    return None


def machine_info() -> dict:
    """Where a run happened: enough to tell whether two records can be compared."""
    commit = _git("rev-parse", "--short", "HEAD")
    status = _git("status", "--porcelain") if commit is not None else None
    cuda = None
    with contextlib.suppress(Exception):
        if torch.cuda.is_available():
            cuda = torch.cuda.get_device_name()
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": _processor(),
        # The CPU's model and the kernels torch picks for it: numbers are compared like with like.
        "cpu_capability": _cpu_capability(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_device": cuda,
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_record(result: RunResult, *, verdict=None, rules=None, command: str | None = None) -> dict:
    return {
        "schema": SCHEMA,
        "kind": "run",
        "result": result.to_dict(),
        "verdict": verdict.to_dict() if verdict is not None else None,
        "rules": dataclasses.asdict(rules) if rules is not None else None,
        "machine": machine_info(),
        "command": command if command is not None else shlex.join(sys.argv),
    }


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _record_problem(rec) -> str | None:
    """Why a parsed file is not a usable run record, or None when it is."""
    if not isinstance(rec, dict):
        return f"top level is a {type(rec).__name__}, expected an object"
    if rec.get("schema") != SCHEMA:
        return f"schema {rec.get('schema')!r}, this harness reads schema {SCHEMA}"
    if rec.get("kind") != "run":
        return f"kind {rec.get('kind')!r}, expected 'run'"
    res = rec.get("result")
    if not isinstance(res, dict):
        return "no 'result' object"
    for key, kind in (("candidate", str), ("status", str), ("params", int), ("seed", int)):
        if not isinstance(res.get(key), kind) or isinstance(res.get(key), bool):
            return f"result.{key} is {res.get(key)!r}, expected {kind.__name__}"
    rows = res.get("epochs", [])
    if not isinstance(rows, list):
        return "result.epochs is not a list"
    fields = [f.name for f in dataclasses.fields(EpochRow)]
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            return f"result.epochs[{i}] is not an object"
        if set(row) != set(fields):
            missing, extra = sorted(set(fields) - set(row)), sorted(set(row) - set(fields))
            return f"result.epochs[{i}] fields differ (missing {missing}, unknown {extra})"
        bad = [k for k in fields if not _number(row[k])]
        if bad:
            return f"result.epochs[{i}].{bad[0]} is {row[bad[0]]!r}, expected a number"
    try:
        RunResult.from_dict(res)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        return f"result does not load: {type(e).__name__}: {e}"
    return None


def load_records(folder: Path, *, nested: bool = False) -> tuple[list[dict], list[str]]:
    """Every run record in `folder` (and, if `nested`, in its folders one and two levels down,
    as results/evidence/NAME/ and NAME/cuda/ hold them), by path, each with its "path"; each file
    that cannot be used is skipped with one warning naming it and the reason."""
    records, warnings = [], []
    paths = sorted(Path(folder).glob("*.json"))
    if nested:
        paths = sorted(paths + list(Path(folder).glob("*/*.json")) + list(Path(folder).glob("*/*/*.json")))
    for path in paths:
        try:
            rec = read_json(path)
        except (OSError, UnicodeDecodeError) as e:
            warnings.append(f"{path}: skipped, cannot be read ({e})")
            continue
        except ValueError as e:
            warnings.append(f"{path}: skipped, not valid JSON ({e})")
            continue
        if isinstance(rec, dict) and rec.get("kind") == "summary":
            continue  # the gate's summary.json lives beside the records; it is not one
        problem = _record_problem(rec)
        if problem is not None:
            warnings.append(f"{path}: skipped, {problem}")
            continue
        rec["path"] = str(path)  # where it came from: weights and logs lie beside it
        records.append(rec)
    return records, warnings


# ---------------------------------------------------------------- checkpoints


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or belongs to another run."""


def save_checkpoint(path: Path, key: dict, state: dict) -> None:
    """`key` identifies the run (candidate, seed, recipe, ...); `state` is the engine's."""
    torch_save(path, {"schema": SCHEMA, "key": key, "state": state})


def load_checkpoint(path: Path, key: dict) -> dict:
    """The engine state stored at `path`, after checking it belongs to the run `key` names."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; there is nothing to resume (run without --resume to start)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged file fails in many ways inside the unpickler
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(e).__name__}: {e}); delete it and run without --resume"
        ) from None
    if not isinstance(saved, dict) or saved.get("schema") != SCHEMA or not isinstance(saved.get("key"), dict):
        raise CheckpointError(f"{path} is not a checkpoint of this harness; delete it and run without --resume")
    differ = []
    for field in key:
        if saved["key"].get(field) != key[field]:
            differ.append(
                f"{field} {saved['key'].get(field)!r} there, {key[field]!r} here"
                if field != "recipe"
                else _recipe_diff(saved["key"].get(field), key[field])
            )
    if differ:
        raise CheckpointError(
            f"checkpoint {path} belongs to another run: {'; '.join(differ)}; "
            f"rerun with the same settings, or delete it to start over"
        )
    return saved["state"]


def _recipe_diff(old, new) -> str:
    if not isinstance(old, dict):
        return "recipe missing there"
    fields = sorted(set(old) | set(new))
    parts = [f"{f} {old.get(f)!r} there, {new.get(f)!r} here" for f in fields if old.get(f) != new.get(f)]
    return "recipe " + ", ".join(parts)
