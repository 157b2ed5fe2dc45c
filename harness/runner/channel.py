"""The wire between the judge and a runner: length-prefixed messages of plain data and
tensors, encoded by torch.save and decoded with `weights_only=True`, so a message from a
runner can never execute code in the judge."""

from __future__ import annotations

import io
import struct
import zipfile
from typing import IO, BinaryIO

import torch

HEADER = struct.Struct("<Q")
MAX_MESSAGE = 256 * 1024 * 1024  # the training set is ~47 MB; anything far larger is an attack or a bug


class ChannelError(RuntimeError):
    """The other side closed the wire, or sent something that is not a message."""


def send(stream: IO[bytes], kind: str, **payload) -> None:
    buffer = io.BytesIO()
    torch.save({"kind": kind, **payload}, buffer)
    blob = buffer.getvalue()
    stream.write(HEADER.pack(len(blob)))
    stream.write(blob)
    stream.flush()


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise ChannelError(f"the other side closed the channel ({n - left} of {n} bytes read)")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _check_archive(blob: bytes) -> None:
    """ChannelError unless every record of the message is stored as it is: torch.save never
    compresses, but torch.load inflates what it is given, so a runner's few MB could otherwise
    expand a thousandfold in the judge, which has no memory limit."""
    try:
        records = zipfile.ZipFile(io.BytesIO(blob)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ChannelError(f"a message is not a torch.save archive ({e})") from None
    if packed := [r.filename for r in records if r.compress_type != zipfile.ZIP_STORED]:
        raise ChannelError(f"a message holds compressed records ({', '.join(packed[:3])}): torch.save writes none")
    if (total := sum(r.file_size for r in records)) > len(blob):
        raise ChannelError(f"a message's records claim {total:,} bytes in a message of {len(blob):,}")


def receive(stream: IO[bytes]) -> dict:
    (size,) = HEADER.unpack(_read_exactly(stream, HEADER.size))
    if size > MAX_MESSAGE:
        raise ChannelError(f"a message of {size:,} bytes exceeds the limit of {MAX_MESSAGE:,}")
    blob = _read_exactly(stream, size)
    _check_archive(blob)
    try:
        message = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as e:  # the restricted unpickler refuses anything but data, in many ways
        raise ChannelError(f"a message could not be decoded as data ({type(e).__name__}: {e})") from None
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        raise ChannelError(f"a message is a {type(message).__name__} without a 'kind'")
    return message


def process_wire() -> tuple[BinaryIO, BinaryIO]:
    """(in, out) for a child process whose parent talks to it over stdin and stdout: the wire is
    the original stdout, and whatever else the process prints goes to stderr."""
    import os
    import sys

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, out


def limit_memory(limit: int | None) -> None:
    """Cap this process's data (heap and private writable mappings) at `limit` bytes, soft and
    hard, so code run later cannot raise it. Unlike an address-space limit it leaves alone the
    large never-written reservations torch's libraries make."""
    if limit:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (int(limit), int(limit)))
