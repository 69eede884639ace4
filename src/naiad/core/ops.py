"""The operation vocabulary: what a client can ask a store to do, and its byte encoding.

One vocabulary serves the SDK, the op log on disk, the stores and the HTTP API.  An op is a tuple
whose first item names it:

============================================================  ==========================================
``(ASSIGN, path, type, value)``                               set an atom / File / FileSet / Artifact
``(POINTS, path, type, steps, timestamps, values)``           append series points (numpy arrays; str
                                                              series carry a list of str)
``(CLEAR, path)``                                             empty a series or a string set
``(ADD, path, [str...])`` / ``(REMOVE, path, [str...])``      string set members
``(DELETE, path)``                                            delete a field or a whole namespace
``(FILES, path, {name: fileref}, reset)``                     add files to a FileSet (reset: replace)
``(DELETE_FILES, path, [name...])``                           remove files from a FileSet
``(TRACK, path, [entry...], reset)``                          add artifact entries (manifest lines)
``(CREATE, "", {...})``                                       create the container (offline runs)
``(ERROR, "", message)``                                      count a client-side failure in sys/errors
============================================================  ==========================================

A :class:`Batch` groups ops for one container and carries ``(writer, seq)``; a store applies a
batch at most once per ``(writer, seq)``, so replays and retries are safe.

Encoding: ``u32 header length · JSON header · for each array: u8 kind · u64 nbytes · raw bytes``.
Arrays are little-endian float64; the header refers to them as ``{"$a": index}``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ASSIGN = "assign"
POINTS = "points"
CLEAR = "clear"
ADD = "add"
REMOVE = "remove"
DELETE = "delete"
FILES = "files"
DELETE_FILES = "delete_files"
TRACK = "track"
CREATE = "create"
ERROR = "error"

OP_KINDS = frozenset({ASSIGN, POINTS, CLEAR, ADD, REMOVE, DELETE, FILES, DELETE_FILES, TRACK, CREATE, ERROR})

Op = tuple[Any, ...]

_F64 = np.dtype("<f8")


@dataclass
class Batch:
    """Ops for one container, identified for idempotency by ``(writer, seq)``."""

    container: str  # the container's uuid
    writer: str
    seq: int
    ops: list[Op] = field(default_factory=list)
    span: tuple[int, int] | None = field(default=None, compare=False, repr=False)
    """The part of its writer's journal the batch holds (kept in the op log, never sent to a store)."""

    def point_count(self) -> int:
        return sum(len(op[3]) for op in self.ops if op[0] == POINTS)


def encode_batch(batch: Batch) -> bytes:
    """Serialize a batch (numpy arrays out of band, no copies beyond one join)."""
    return b"".join(encode_batch_parts(batch))


def encode_batch_parts(batch: Batch) -> list[bytes | memoryview]:
    """:func:`encode_batch` as the pieces whose concatenation it is, the arrays' own memory included:
    a writer can checksum and write them one by one, with no copy of a large batch (each copy of a
    million-point batch is a C call that holds the GIL for milliseconds)."""
    arrays: list[np.ndarray] = []

    def ref(arr: Any) -> dict[str, int]:
        arrays.append(np.ascontiguousarray(arr, dtype=_F64))
        return {"$a": len(arrays) - 1}

    ops: list[list[Any]] = []
    for op in batch.ops:
        if op[0] == POINTS:
            values = op[5]
            enc_values = values if isinstance(values, list) else ref(values)
            ops.append([POINTS, op[1], op[2], ref(op[3]), ref(op[4]), enc_values])
        else:
            ops.append(list(op))
    header = json.dumps(
        {"c": batch.container, "w": batch.writer, "s": batch.seq, "ops": ops},
        separators=(",", ":"), allow_nan=False,
    ).encode()
    parts: list[bytes | memoryview] = [struct.pack("<I", len(header)), header]
    for arr in arrays:
        raw = memoryview(arr.data).cast("B")  # the array's own bytes, not a copy
        parts.append(struct.pack("<BQ", 1, raw.nbytes))
        parts.append(raw)
    return parts


def decode_batch(data: bytes | memoryview) -> Batch:
    """Inverse of :func:`encode_batch`; raises ValueError on malformed input."""
    view = memoryview(data)
    if len(view) < 4:
        raise ValueError("batch is truncated")
    (hlen,) = struct.unpack_from("<I", view, 0)
    header = json.loads(bytes(view[4 : 4 + hlen]))
    pos = 4 + hlen
    arrays: list[np.ndarray] = []
    while pos < len(view):
        _kind, nbytes = struct.unpack_from("<BQ", view, pos)
        pos += 9
        if pos + nbytes > len(view):
            raise ValueError("batch array is truncated")
        arrays.append(np.frombuffer(view[pos : pos + nbytes], dtype=_F64).copy())
        pos += nbytes

    def deref(item: Any) -> Any:
        if isinstance(item, dict) and "$a" in item:
            return arrays[item["$a"]]
        return item

    ops: list[Op] = []
    for raw in header["ops"]:
        if raw[0] == POINTS:
            ops.append((POINTS, raw[1], raw[2], deref(raw[3]), deref(raw[4]), deref(raw[5])))
        elif raw[0] not in OP_KINDS:
            raise ValueError(f"unknown operation {raw[0]!r}")
        else:
            ops.append(tuple(raw))
    return Batch(container=header["c"], writer=header["w"], seq=int(header["s"]), ops=ops)


# --------------------------------------------------------------------------------------- validation
_ASSIGNABLE = {"Float", "Integer", "Boolean", "String", "Datetime", "File", "FileSet", "Artifact"}
_SERIES = {"FloatSeries", "StringSeries", "FileSeries"}
_CONTAINER_KINDS = {"run", "model", "model_version", "project"}


def unstorable(value: Any, *, nul_ok: bool = False) -> str | None:
    """Why a store cannot take ``value`` (an op, or any part of one), or None: text with a lone surrogate
    (UTF-8 cannot carry it) or NUL (PostgreSQL's text cannot; ``nul_ok`` where the text goes into a
    binary chunk, as a string series' points do)."""
    if isinstance(value, str):
        if not nul_ok and "\x00" in value:
            return "its text holds NUL"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "its text holds a lone surrogate (not UTF-8)"
        return None
    if isinstance(value, dict):
        items: Any = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, np.ndarray) and value.dtype == object:
        items = value.tolist()
    else:
        return None
    for item in items:
        problem = unstorable(item, nul_ok=nul_ok)
        if problem:
            return problem
    return None


def without_unstorable(batch: Batch) -> tuple[Batch, list[str]]:
    """``batch`` with each op a store cannot take replaced by an ERROR op that says so (counted in
    ``sys/errors``), and those messages: one bad op must not hold up the others, nor later batches."""
    ops: list[Op] = []
    dropped: list[str] = []
    for op in batch.ops:
        problem = unstorable(op, nul_ok=op[0] == POINTS)
        if problem:
            message = f"a write to '{op[1] if len(op) > 1 else ''}' was dropped: {problem}"
            dropped.append(message)
            ops.append((ERROR, "", message))
        else:
            ops.append(op)
    return (Batch(batch.container, batch.writer, batch.seq, ops, batch.span) if dropped else batch), dropped


def validate_batch(batch: Batch) -> None:
    """Check a batch from an untrusted client (the HTTP API) op by op; ValueError says what is wrong.

    The store checks meaning (types of existing fields, step order); this checks shape, so that a
    malformed request is refused as such instead of failing inside the store.
    """
    from naiad.core.fields import normalize_path

    if not isinstance(batch.container, str) or not 0 < len(batch.container) <= 100:
        raise ValueError("the batch's container id must be a string of 1 to 100 characters")
    if not isinstance(batch.writer, str) or not 0 < len(batch.writer) <= 200:
        raise ValueError("the batch's writer id must be a string of 1 to 200 characters")
    for what, ident in (("container", batch.container), ("writer", batch.writer)):
        if not ident.isprintable():  # NUL, a control character or a lone surrogate: no store keeps it
            raise ValueError(f"the batch's {what} id holds a character that is not printable text "
                             "(NUL, a control character or a lone surrogate)")
    if isinstance(batch.seq, bool) or not isinstance(batch.seq, int) or batch.seq < 1:
        raise ValueError("the batch's seq must be a positive integer")
    for i, op in enumerate(batch.ops):
        where = f"op {i}"
        try:
            _validate_op(op, normalize_path)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise ValueError(f"{where} ({op[0] if op else '?'}): {exc}") from None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _validate_op(op: Op, normalize_path: Any) -> None:
    kind = op[0]
    arity = {ASSIGN: 4, POINTS: 6, CLEAR: 2, ADD: 3, REMOVE: 3, DELETE: 2, FILES: 4, DELETE_FILES: 3,
             TRACK: 4, CREATE: 3, ERROR: 3}
    if kind not in arity or len(op) != arity[kind]:
        raise ValueError(f"expected {arity.get(kind, '?')} items, got {len(op)}")
    path = op[1]
    if kind in (CREATE, ERROR):
        if kind == CREATE:
            spec = op[2]
            if not isinstance(spec, dict) or not isinstance(spec.get("project"), str) or not spec["project"]:
                raise ValueError("create needs a project name")
            if spec.get("kind") not in _CONTAINER_KINDS:
                raise ValueError(f"unknown container kind {spec.get('kind')!r}")
        elif not isinstance(op[2], str):
            raise ValueError("an error op carries a message string")
        return
    if not isinstance(path, str) or (path and normalize_path(path) != path):
        raise ValueError(f"invalid field path {path!r}")
    if kind == ASSIGN:
        ftype, value = op[2], op[3]
        if ftype not in _ASSIGNABLE:
            raise ValueError(f"cannot assign a {ftype!r}")
        ok = {"Float": _is_num(value), "Integer": _is_num(value), "Datetime": _is_num(value),
              "Boolean": isinstance(value, bool), "String": isinstance(value, str)}.get(ftype, isinstance(value, dict))
        if not ok:
            raise ValueError(f"{type(value).__name__} is not a {ftype} value")
        if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
            raise ValueError(f"{value} does not fit in 64 bits")
    elif kind == POINTS:
        ftype, steps, ts, values = op[2], op[3], op[4], op[5]
        if ftype not in _SERIES:
            raise ValueError(f"{ftype!r} is not a series type")
        if not isinstance(steps, np.ndarray) or not isinstance(ts, np.ndarray) or len(steps) != len(ts):
            raise ValueError("steps and timestamps must be arrays of one length")
        if ftype == "FloatSeries":
            if not isinstance(values, np.ndarray) or len(values) != len(steps):
                raise ValueError("float series values must be an array as long as the steps")
        elif not isinstance(values, list) or len(values) != len(steps) or \
                not all(isinstance(v, str) for v in values):
            raise ValueError("string series values must be a list of strings as long as the steps")
    elif kind in (ADD, REMOVE, DELETE_FILES):
        if not isinstance(op[2], list) or not all(isinstance(v, str) for v in op[2]):
            raise ValueError("expected a list of strings")
    elif kind == FILES:
        if not isinstance(op[2], dict) or not all(isinstance(k, str) and isinstance(v, dict)
                                                  for k, v in op[2].items()):
            raise ValueError("expected a mapping of file names to file references")
        if not isinstance(op[3], bool):
            raise ValueError("the reset flag must be a boolean")
    elif kind == TRACK:
        entries = op[2]
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("file_path"), str) and isinstance(e.get("file_hash"), str)
                and _is_num(e.get("size")) and isinstance(e.get("type"), str) for e in entries):
            raise ValueError("artifact entries need file_path, file_hash, size and type")
        if not isinstance(op[3], bool):
            raise ValueError("the reset flag must be a boolean")
