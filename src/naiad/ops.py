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

    def point_count(self) -> int:
        return sum(len(op[3]) for op in self.ops if op[0] == POINTS)


def encode_batch(batch: Batch) -> bytes:
    """Serialize a batch (numpy arrays out of band, no copies beyond one join)."""
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
    parts = [struct.pack("<I", len(header)), header]
    for arr in arrays:
        raw = arr.tobytes()
        parts.append(struct.pack("<BQ", 1, len(raw)))
        parts.append(raw)
    return b"".join(parts)


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
