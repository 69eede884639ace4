"""The journal: every write a caller makes, in a shared file mapping, before the call returns.

A process killed with SIGKILL loses none of its calls that returned: the kernel keeps the dirty pages of a
shared file mapping whatever happens to the process, so what the caller copied into a mapped journal
segment reaches the file.  The journal is also the writer's only buffer: the writer thread reads it to
build each batch, and the op log records which part of the journal every batch covers.  Recovery folds
whatever part of a dead writer's journal no op-log batch covers into its op log, then replays that.
Callers write without a lock because ``mmap.write`` is one C call under the GIL (a free-threaded CPython
build would need one).

Files, next to the writer's op log ``<container>.<writer>.log`` (``<base>`` = that name less ``.log``):

``<base>.journal``         a header — magic, version, and the *durable* position: every record before
                           it is in a batch the op log (or the store) holds — then side records: the
                           field path of each name index, and the ops a record cannot hold (text,
                           string sets, arrays of ``extend()``, deletes…), each referred to by an ``OP``
                           record at its place in the order;
``<base>.journal.<k>``     segment k, 32-byte records ``f64 step · f64 time · f64 value · u32 name ·
                           u32 kind``.  ``struct`` zeroes a record's bytes and then writes its fields in
                           order, so the kind, written last, says that the record is whole: a record the
                           kill cut reads as the end.  Segments grow from 256 KiB to 8 MiB and are
                           allocated before they are mapped (a write into a mapped sparse file on a full
                           disk would kill the process with SIGBUS); when the disk refuses, a segment
                           lives in memory and is said so.

A writer holds one file open (the header's); a segment's descriptor is closed once it is mapped.

A record is a float series point (``POINT``), a number, integer or boolean assigned to a field
(``FLOAT_ATOM``…), or a reference to the side op numbered ``step`` (``OP``).
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import threading
import weakref
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O

RECORD = struct.Struct("<dddII")
"""step, time, value, name index, kind."""
RECORD_SIZE = RECORD.size  # 32
DTYPE = np.dtype([("step", "<f8"), ("ts", "<f8"), ("value", "<f8"), ("name", "<u4"), ("kind", "<u4")])

_KIND = 0x4E4A0000  # "NJ": a kind is never 0, which is what an unwritten record reads
POINT = _KIND | 1
FLOAT_ATOM = _KIND | 2
INT_ATOM = _KIND | 3
BOOL_ATOM = _KIND | 4
OP = _KIND | 5
ATOM_KINDS = {FLOAT_ATOM: F.FLOAT, INT_ATOM: F.INTEGER, BOOL_ATOM: F.BOOLEAN}
ATOM_KIND_OF = {F.FLOAT: FLOAT_ATOM, F.INTEGER: INT_ATOM, F.BOOLEAN: BOOL_ATOM}

SEGMENT_MIN = 256 << 10
SEGMENT_MAX = 8 << 20
READ_CHUNK = 64 << 10
"""Records the writer decodes at a time (2 MiB): between two chunks the training thread gets the GIL."""

_HEADER = struct.Struct("<8sIIQ")  # magic, version, 1 + the last segment kept in memory (0: none), durable
_MAGIC = b"naiadjnl"
_VERSION = 1
_SIDE_HEAD = struct.Struct("<IIBQ")  # payload length, crc32 of kind·number·payload, kind, number
_NAME, _OP, _LOST = 1, 2, 3


def segment_size(k: int) -> int:
    return min(SEGMENT_MIN << k, SEGMENT_MAX)


def segment_start(k: int) -> int:
    return sum(segment_size(i) for i in range(k))


def journal_files(base: Path) -> list[Path]:
    """Every file of the journal at ``base`` that exists (a prefix match: a glob of a new name each
    time compiled a new pattern, ~1 ms of every run's stop)."""
    prefix = base.name + ".journal"
    try:
        names = os.listdir(base.parent)
    except OSError:
        return []
    return sorted(base.parent / name for name in names if name.startswith(prefix))


@dataclass
class _Segment:
    number: int
    start: int
    size: int
    mm: mmap.mmap
    path: Path | None  # None: in memory (the disk refused the file)


class _Elsewhere:
    """What a forked child's journals write to: nothing (the mapping is its parent's), said once."""

    said = False

    def write(self, record: bytes) -> int:
        if not _Elsewhere.said:
            _Elsewhere.said = True
            print(f"[naiad] process {os.getpid()} (a fork) wrote to a run its parent opened: such writes are not "
                  "stored. Open the run in the child (init_run(with_id=...)) to log from there.", file=sys.stderr)
        return len(record)

    def tell(self) -> int:
        return 1


_LIVE: weakref.WeakSet[Journal] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for journal in list(_LIVE):
        journal.inherited = True
        journal._lock = threading.Lock()  # another thread of the parent may have held it
        journal.mm = _Elsewhere()  # type: ignore[assignment]


os.register_at_fork(after_in_child=_after_fork_in_child)


class Journal:
    """The live journal of one writer.  Callers write records with ``journal.mm.write(record)`` (one C
    call, atomic under the GIL, no lock); :meth:`append` is the way round when that segment is full."""

    def __init__(self, base: Path, *, notice: Callable[[str, OSError], None]) -> None:
        """``notice(message, error)`` is told, once a condition, when the disk refuses the journal."""
        self.base = base
        self._notice = notice
        self._lock = threading.Lock()
        self.closed = False
        self.paths: list[str] = []           # name index → field path
        self.names: dict[str, int] = {}      # field path → name index
        self._fd = os.open(self._file(""), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(self._fd, _HEADER.pack(_MAGIC, _VERSION, 0, 0))
        self._size = _HEADER.size  # where the next side record goes
        self._names_blob = bytearray()  # the names' side records, for a rewrite of the file
        self._ops: dict[int, bytes] = {}  # side records of ops not known to be durable, by op number
        self._in_memory = 0  # 1 + the last segment kept in memory (the header says it)
        self.inherited = False  # True in a child process made by fork(): the journal is its parent's
        self.durable = 0
        self._segments: list[_Segment] = [self._new_segment(0, 0)]
        self.mm = self._segments[0].mm  # where callers write
        _LIVE.add(self)

    def _file(self, suffix: str) -> Path:
        return self.base.with_name(self.base.name + ".journal" + suffix)

    def _new_segment(self, number: int, start: int) -> _Segment:
        size = segment_size(number)
        path: Path | None = self._file(f".{number}")
        assert path is not None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _allocate(fd, size)  # blocks now, or ENOSPC now — never SIGBUS later
                mm = mmap.mmap(fd, size)
            finally:
                os.close(fd)
        except OSError as exc:
            try:
                path.unlink()
            except OSError:
                pass
            path = None
            mm = mmap.mmap(-1, size)
            self._in_memory = number + 1
            try:  # the header's own block needs no new space: recovery learns that this one is gone
                os.pwrite(self._fd, struct.pack("<I", number + 1), 12)
            except OSError:
                pass
            self._notice(f"the journal next to the op log ({self.base.parent}) cannot grow ({exc}): writes are "
                         "kept in memory until they reach the op log; a crash before that would lose them.", exc)
        return _Segment(number, start, size, mm, path)

    # ------------------------------------------------------------------ callers
    def append(self, record: bytes) -> None:
        """Write ``record`` when ``mm.write`` refused it: the segment is full (map the next one)."""
        if self.inherited:
            self.mm.write(record)
            return
        with self._lock:
            if self.closed:
                raise ValueError("the journal is closed")
            while True:
                try:
                    self.mm.write(record)
                    return
                except ValueError:
                    last = self._segments[-1]
                    seg = self._new_segment(last.number + 1, last.start + last.size)
                    self._segments.append(seg)
                    self.mm = seg.mm

    def name_index(self, path: str) -> int:
        """The index records use for ``path`` (recorded in the side records the first time)."""
        if self.inherited:  # a forked child's records go nowhere: no index is recorded
            return 0
        self.name_indexes([path])
        return self.names[path]

    def name_indexes(self, paths: list[str]) -> None:
        """Give each of ``paths`` its index, in one write of the side records (a dict of a million new
        fields: one write, not a million)."""
        if self.inherited or not paths:
            return
        with self._lock:
            parts = []
            for path in paths:
                if path not in self.names:
                    i = len(self.paths)
                    parts.append(_side_record(_NAME, i, path.encode("utf-8", "surrogatepass")))
                    self.paths.append(path)
                    self.names[path] = i
            if parts:
                data = b"".join(parts)
                self._size = _append_side(self._fd, self._size, data, self._notice)
                self._names_blob += data

    def write_op(self, number: int, op: O.Op) -> None:
        """Put ``op`` in the side records as number ``number``, then its OP record in the journal
        (the caller holds the writer's lock, so op numbers and their records keep one order)."""
        if self.inherited:
            self.mm.write(b"")
            return
        kind, payload = _side_payload(number, op)
        data = _side_record(kind, number, payload)
        with self._lock:
            self._size = _append_side(self._fd, self._size, data, self._notice)
            self._ops[number] = data
        record = RECORD.pack(float(number), 0.0, 0.0, 0, OP)
        try:
            self.mm.write(record)
        except ValueError:
            self.append(record)

    # ------------------------------------------------------------------ the writer
    def position(self) -> int:
        """The position after the last whole record."""
        seg = self._segments[-1]
        return seg.start + seg.mm.tell()

    def read(self, pos: int, limit: int | None = None) -> tuple[bytes, int]:
        """Records from ``pos`` on (at most ``limit`` bytes, within one segment), and the position after."""
        if limit is None:
            limit = READ_CHUNK * RECORD_SIZE
        with self._lock:
            if self.closed:
                return b"", pos
            for seg in self._segments:
                if seg.start <= pos < seg.start + seg.size:
                    end = seg.mm.tell() if seg is self._segments[-1] else seg.size
                    off = pos - seg.start
                    n = max(0, min(end - off, limit))
                    return seg.mm[off:off + n], pos + n
        return b"", pos

    def set_durable(self, pos: int, ops_upto: int, *, fsync: bool = False) -> None:
        """Everything before ``pos`` — and every side op numbered below ``ops_upto`` — is in the op log or
        the store: say so in the header, drop the segments wholly before it, and once the side records
        of durable ops outweigh the rest, rewrite the file without them."""
        if self.closed or self.inherited:
            return
        if fsync:
            self.sync()
        with self._lock:
            if pos > self.durable:
                os.pwrite(self._fd, struct.pack("<Q", pos), 16)
                self.durable = pos
            while len(self._segments) > 1 and self._segments[0].start + self._segments[0].size <= self.durable:
                _drop(self._segments.pop(0))
            for number in [n for n in self._ops if n < ops_upto]:
                del self._ops[number]
            live = _HEADER.size + len(self._names_blob) + sum(len(d) for d in self._ops.values())
            if self._size > max(2 * live, 1 << 20):
                self._rewrite()

    def _rewrite(self) -> None:
        """The header, the names and the side records still needed, as a new file put in the old one's
        place at once (a kill sees one or the other, whole)."""
        tmp = self._file(".tmp")
        data = b"".join([_HEADER.pack(_MAGIC, _VERSION, self._in_memory, self.durable), self._names_blob,
                         *(self._ops[n] for n in sorted(self._ops))])
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if os.pwrite(fd, data, 0) != len(data):
                raise OSError(28, "No space left on device")
            os.replace(tmp, self._file(""))
        except OSError:  # no room for the copy: the old file stays, longer than it needs to be
            os.close(fd)
            try:
                tmp.unlink()
            except OSError:
                pass
            return
        os.close(self._fd)
        self._fd = fd
        self._size = len(data)

    def sync(self) -> None:
        """For power loss (``NAIAD_FSYNC``): the mapped segments and the side files on disk."""
        for seg in list(self._segments):
            if seg.path is not None:
                try:
                    seg.mm.flush()
                except ValueError:  # dropped meanwhile
                    pass
        os.fsync(self._fd)

    def close(self, delete: bool) -> None:
        if self.inherited:  # a forked child leaves its parent's journal alone
            return
        with self._lock:
            if self.closed:
                return
            self.closed = True
            for seg in self._segments:
                if delete:
                    _drop(seg)
                else:
                    try:
                        seg.mm.close()
                    except BufferError:
                        pass
            os.close(self._fd)
            if delete:
                for path in journal_files(self.base):
                    try:
                        path.unlink()
                    except OSError:
                        pass


def _allocate(fd: int, size: int) -> None:
    """Give the file ``size`` bytes of real blocks (not a sparse hole)."""
    allocate = getattr(os, "posix_fallocate", None)  # not on macOS
    if allocate is not None:
        allocate(fd, 0, size)
        return
    zeros = bytes(1 << 20)
    for offset in range(0, size, len(zeros)):
        n = min(len(zeros), size - offset)
        if os.pwrite(fd, zeros[:n], offset) != n:
            raise OSError(28, "No space left on device")


def _drop(seg: _Segment) -> None:
    if seg.path is not None:
        try:
            seg.path.unlink()
        except OSError:
            pass
    try:
        seg.mm.close()  # a caller that still holds it gets ValueError and writes through append()
    except BufferError:
        pass


def _side_payload(number: int, op: O.Op) -> tuple[int, bytes]:
    if op[0] in O.OP_KINDS:
        try:
            return _OP, O.encode_batch(O.Batch("", "", number, [op]))
        except (ValueError, TypeError, UnicodeError):
            pass  # not encodable: the writer drops and reports it anyway
    what = {"_upload": "an upload to", "_upload_pts": "files appended to", "_upload_files": "files uploaded to",
            "_track": "files tracked in"}.get(op[0], f"a write ({op[0]}) to")
    return _LOST, f"{what} '{op[1]}'".encode("utf-8", "replace")


def _side_record(kind: int, number: int, payload: bytes) -> bytes:
    return _SIDE_HEAD.pack(len(payload), _side_crc(kind, number, payload), kind, number) + payload


def _append_side(fd: int, size: int, data: bytes, notice: Callable[[str, OSError], None]) -> int:
    """Write a side record at ``size`` (the file's end); the new end."""
    try:
        if os.pwrite(fd, data, size) != len(data):
            raise OSError(28, "No space left on device")
        return size + len(data)
    except OSError as exc:
        try:
            os.ftruncate(fd, size)  # no torn record may stay before later ones
        except OSError:
            pass
        notice(f"the journal cannot record a write ({exc}); it is kept in memory until it reaches the op log, "
               "and a crash before that would lose it.", exc)
        return size


def _side_crc(kind: int, number: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(bytes([kind]) + number.to_bytes(8, "little")))


def _read_side(data: bytes) -> Iterable[tuple[int, int, bytes]]:
    pos = _HEADER.size
    while pos + _SIDE_HEAD.size <= len(data):
        length, crc, kind, number = _SIDE_HEAD.unpack_from(data, pos)
        payload = data[pos + _SIDE_HEAD.size:pos + _SIDE_HEAD.size + length]
        if len(payload) != length or _side_crc(kind, number, payload) != crc:
            return  # torn by the kill, or lost with the power: the end
        yield kind, number, payload
        pos += _SIDE_HEAD.size + length


# ---------------------------------------------------------------------- records → ops

def to_ops(data: bytes, paths: list[str] | dict[int, str], side_op: Callable[[int], O.Op | None]) -> list[O.Op]:
    """The ops of whole records ``data``, in their order (points of a series between two side ops become
    one POINTS op; of several assignments to one field only the last is kept)."""
    rec = np.frombuffer(data, DTYPE, count=len(data) // RECORD_SIZE)
    if not len(rec):
        return []
    kinds = rec["kind"]
    cuts = np.flatnonzero(kinds == OP).tolist()
    ops: list[O.Op] = []
    start = 0
    for cut in [*cuts, len(rec)]:
        if cut > start:
            ops.extend(_piece(rec[start:cut], paths))
        if cut < len(rec):
            op = side_op(int(rec["step"][cut]))
            if op is not None:
                ops.append(op)
        start = cut + 1
    return ops


def _piece(rec: np.ndarray, paths: list[str] | dict[int, str]) -> list[O.Op]:
    """Ops of records with no OP among them: grouped by series (order among series does not matter)."""
    kinds = rec["kind"]
    is_point = kinds == POINT
    out: list[O.Op] = []
    points = rec if is_point.all() else rec[is_point]
    if len(points):
        names = points["name"]
        if (names == names[0]).all():
            groups = [(int(names[0]), points)]
        else:
            order = np.argsort(names, kind="stable")
            ordered = points[order]
            uniq, first = np.unique(ordered["name"], return_index=True)
            groups = list(zip(uniq.tolist(), np.split(ordered, first[1:]), strict=True))
        for name, group in groups:
            path = _path(paths, name)
            if path is not None:
                out.append((O.POINTS, path, F.FLOAT_SERIES, group["step"].copy(), group["ts"].copy(),
                            group["value"].copy()))
            else:
                out.append((O.ERROR, "", f"{len(group)} point(s) of an unknown series were lost in a crash"))
    if len(points) < len(rec):
        atoms = rec[~is_point]
        backwards = atoms[::-1]
        _, last = np.unique(backwards["name"], return_index=True)  # the last assignment of each field
        for i in sorted((len(atoms) - 1 - last).tolist()):
            kind = int(atoms["kind"][i])
            ftype = ATOM_KINDS.get(kind)
            path = _path(paths, int(atoms["name"][i]))
            if ftype is None or path is None:
                out.append((O.ERROR, "", "a journal record could not be read back after a crash"))
                continue
            value: Any = float(atoms["value"][i])
            if ftype == F.INTEGER:
                value = int(value)
            elif ftype == F.BOOLEAN:
                value = bool(value)
            out.append((O.ASSIGN, path, ftype, value))
    return out


def _path(paths: list[str] | dict[int, str], i: int) -> str | None:
    if isinstance(paths, dict):
        return paths.get(i)
    return paths[i] if i < len(paths) else None


__all__ = ["DTYPE", "OP", "POINT", "RECORD", "Journal", "journal_files", "to_ops"]
