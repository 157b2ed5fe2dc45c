"""The data layer on the real MNIST files: digests, IDX parsing, shapes, labels and the
data-folder rules. Damaged, missing and unreachable data are in test_reliability.py."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest
import torch

from harness.engine import data


@pytest.fixture(scope="module")
def mnist() -> data.MNIST:
    return data.load()


def test_real_files_match_their_digests(mnist):
    for name, digest in data.DIGESTS.items():
        blob = (mnist.folder / name).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == digest, name
        magic, shape = data.LAYOUT[name]
        assert struct.unpack(">i", blob[:4])[0] == magic, name
        assert len(blob) == 4 + 4 * len(shape) + torch.Size(shape).numel(), name


def test_load_gives_shapes_dtypes_and_known_labels(mnist):
    assert mnist.train_images.shape == (60000, 28, 28)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_images.dtype == mnist.test_images.dtype == torch.uint8
    assert mnist.train_labels.shape == (60000,) and mnist.test_labels.shape == (10000,)
    assert mnist.train_labels.dtype == mnist.test_labels.dtype == torch.int64
    assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist.test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    # Every digit occurs, in the published proportions (class 1 is the most common).
    counts = torch.bincount(mnist.train_labels, minlength=10)
    assert counts.sum() == 60000 and int(counts.argmax()) == 1 and int(counts.min()) > 5000
    # Raw pixels: background 0, ink up to 255, no normalisation applied yet.
    assert int(mnist.train_images.min()) == 0 and int(mnist.train_images.max()) == 255


def test_load_reads_each_folder_once(mnist):
    assert data.load(mnist.folder.parent.parent) is mnist


def test_parse_idx_round_trips_write_idx():
    name = "t10k-labels-idx1-ubyte"
    labels = torch.arange(10000) % 10
    blob = data.write_idx(name, labels)
    assert blob[:8] == struct.pack(">ii", 2049, 10000)
    assert torch.equal(data.parse_idx(name, blob), labels.to(torch.uint8))


def test_check_file_accepts_the_real_file_and_returns_its_tensor(mnist):
    labels = data.check_file(mnist.folder / "t10k-labels-idx1-ubyte")
    assert torch.equal(labels.long(), mnist.test_labels)


def test_default_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "mine"))
    assert data.default_data_dir() == tmp_path / "mine"
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.default_data_dir() == tmp_path / "xdg" / "mnist8k"
    # torchvision's layout, so datasets.MNIST(root=data_dir) finds the same files.
    assert data.raw_folder(Path("d")) == Path("d/MNIST/raw")


def test_prepare_finds_complete_folder_without_fetching(mnist, tmp_path):
    data.copy_files(mnist.folder, tmp_path)

    def must_not_run(tmp):
        raise AssertionError("a source was asked although the folder is complete")

    folder, source = data.prepare(tmp_path, sources=[("never", must_not_run)])
    assert folder == data.raw_folder(tmp_path) and "data folder" in source


def test_prepare_fills_only_the_missing_files(mnist, tmp_path):
    data.copy_files(mnist.folder, tmp_path)
    raw = data.raw_folder(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    kept = raw / "train-images-idx3-ubyte"
    before = kept.stat().st_mtime_ns, kept.stat().st_ino
    asked = []

    def local(tmp):
        asked.append(tmp)
        return {n: (mnist.folder / n).read_bytes() for n in data.DIGESTS}

    folder, source = data.prepare(tmp_path, sources=[("local copy", local)])
    assert source == "local copy" and len(asked) == 1
    data.check_file(raw / "t10k-labels-idx1-ubyte")
    assert (kept.stat().st_mtime_ns, kept.stat().st_ino) == before
    assert sorted(p.name for p in raw.iterdir()) == sorted([*data.DIGESTS, ".lock"])
