"""The op log: a writer's durable record of batches not yet known to be in the store.

One file per writer, ``<store>/oplog/<container-uuid>.<writer-uuid>.log`` (offline runs use
``<store>/offline/``).  Records are ``u32 length · u32 crc32 · encoded batch``; a torn record at the
end (the process died mid-write) is ignored.  A record whose length has its top bit set ends in
``u64 start · u64 end``: the part of the writer's journal the batch holds (see :mod:`naiad.core.journal`),
checked by the same crc32.  The live writer holds an exclusive ``flock`` on its
file, so whoever can take the lock knows the writer is gone and may replay the file.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from naiad.core.ops import Batch, decode_batch, encode_batch_parts

_HEAD = struct.Struct("<II")
_SPAN = struct.Struct("<QQ")
_SPANNED = 0x80000000
_IOV_MAX = 1024  # Linux's limit on the buffers of one writev


def _write_all(fd: int, chunks: list[Any]) -> None:
    """Write ``chunks`` (bytes-like) in order with as few ``writev`` calls as the kernel allows."""
    views = [memoryview(c).cast("B") for c in chunks if len(c)]
    i = 0
    while i < len(views):
        n = os.writev(fd, views[i:i + _IOV_MAX])
        while n and i < len(views):
            if n >= len(views[i]):
                n -= len(views[i])
                i += 1
            else:
                views[i] = views[i][n:]
                n = 0


class OpLog:
    """Append-only, locked op log of one writer."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # lock under a temporary name, then rename: recovery never sees an unlocked live log
        tmp = path.with_name("." + path.name + ".tmp")
        # appended with one writev per record (no copy, nothing buffered); readable for read_at
        self._fh = open(tmp, "a+b", buffering=0)
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(tmp, path)
        self._fsync = fsync
        self.closed = False

    def append(self, batch: Batch) -> int:
        """Write ``batch`` (and its journal span) as one record; returns the offset it starts at (for
        :meth:`read_at`)."""
        start = self._fh.tell()
        try:
            _write_all(self._fh.fileno(), record_parts(batch))
            if self._fsync:
                os.fsync(self._fh.fileno())
        except OSError:  # a full disk: no part of this record may stay, or later ones would follow a torn one
            os.ftruncate(self._fh.fileno(), start)
            os.lseek(self._fh.fileno(), start, os.SEEK_SET)
            raise
        return start

    def read_at(self, offset: int) -> Batch:
        """The batch of the record at ``offset`` (one :meth:`append` returned), read back from the file:
        a writer keeps in memory only what fits its budget, the rest waits here."""
        fd = self._fh.fileno()
        length, crc = _HEAD.unpack(os.pread(fd, _HEAD.size, offset))
        payload = os.pread(fd, length & ~_SPANNED, offset + _HEAD.size)
        if len(payload) != length & ~_SPANNED or zlib.crc32(payload) != crc:
            raise ValueError(f"the op log {self.path} is damaged at byte {offset}: the batch there cannot be "
                             "read back. The file is kept for inspection.")
        return _decode(payload, bool(length & _SPANNED))

    def size(self) -> int:
        return self._fh.tell()

    def truncate(self) -> None:
        """Forget every record: call only when the store holds all of them."""
        self._fh.truncate(0)
        self._fh.seek(0)

    def close(self, delete: bool) -> None:
        if self.closed:
            return
        self.closed = True
        if delete:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        self._fh.close()


def record_parts(batch: Batch) -> list[Any]:
    """The pieces of ``batch``'s op-log record, written one by one: no copy of the batch is made."""
    parts: list[Any] = encode_batch_parts(batch)
    length = sum(len(p) for p in parts)
    if length + _SPAN.size >= _SPANNED:
        raise ValueError(f"a batch of {length:,} bytes is too big for one op-log record (under 2 GiB)")
    if batch.span is not None:
        parts.append(_SPAN.pack(*batch.span))
        length = (length + _SPAN.size) | _SPANNED
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return [_HEAD.pack(length, crc), *parts]


def _decode(payload: bytes, spanned: bool) -> Batch:
    if not spanned:
        return decode_batch(payload)
    if len(payload) < _SPAN.size:
        raise ValueError("an op-log record is too short for its journal span")
    batch = decode_batch(memoryview(payload)[:-_SPAN.size])
    batch.span = _SPAN.unpack_from(payload, len(payload) - _SPAN.size)
    return batch


def append_to(fd: int, batch: Batch, at: int) -> int:
    """Append ``batch`` to the op log open (and locked) as ``fd`` at offset ``at`` — the end of its last
    whole record: a record the kill cut is cut off first, so none is left in the middle — then make it
    durable; returns the offset after it.  Recovery writes what a dead writer's journal held this way
    before it replays the log."""
    os.ftruncate(fd, at)
    end = at
    os.lseek(fd, at, os.SEEK_SET)
    try:
        _write_all(fd, record_parts(batch))
        os.fsync(fd)
    except OSError:
        os.ftruncate(fd, end)
        raise
    return os.lseek(fd, 0, os.SEEK_CUR)


def read_records(path: Path, *, live: bool = False) -> Iterator[Batch]:
    """The intact batches of an op log, in order.

    A torn last record is what a writer killed mid-write leaves, and is ignored (so are zeros after
    a power loss); a record that fails its check with more data after it is damage (a disk error, an
    edit): the batches before it are yielded, then ValueError says where the log is damaged, so that
    it is kept and reported.  The log of a ``live`` writer may end in a record being written: it is
    never called damaged.
    """
    for batch, _end in read_with_ends(path, live=live):
        yield batch


def read_with_ends(path: Path, *, live: bool = False) -> Iterator[tuple[Batch, int]]:
    """:func:`read_records`, each batch with the offset after its record."""
    with open(path, "rb") as fh:
        data = fh.read()
    pos = 0
    while pos + _HEAD.size <= len(data):
        length, crc = _HEAD.unpack_from(data, pos)
        spanned = bool(length & _SPANNED)
        length &= ~_SPANNED
        end = pos + _HEAD.size + length
        if end > len(data):
            return  # torn: the writer died (or, live, is) in the middle of this record
        payload = data[pos + _HEAD.size:end]
        batch = None
        if zlib.crc32(payload) == crc:
            try:
                batch = _decode(payload, spanned)
            except (ValueError, KeyError, TypeError, IndexError):
                pass
        if batch is None:
            if live or end == len(data) or not data[pos:].strip(b"\0"):
                return  # the last record, or zeros after a power loss: a torn write
            raise ValueError(f"the op log is damaged at byte {pos} of {len(data)}: the batches before it are "
                             "stored, the rest cannot be read. The file is kept for inspection; delete it "
                             "once you no longer need it.")
        yield batch, end
        pos = end


def try_lock(path: Path) -> int | None:
    """Open and lock an op log whose writer may be gone; a file descriptor, or None if it is alive."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def is_locked(path: Path) -> bool:
    fd = try_lock(path)
    if fd is None:
        return path.exists()
    os.close(fd)
    return False


def container_of(path: Path) -> str:
    return path.name.split(".", 1)[0]
