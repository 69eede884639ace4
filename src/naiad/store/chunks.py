"""Compressed chunks of series points: the storage unit of every series in every store.

A chunk holds up to :data:`CHUNK_POINTS` points as three columns.  Steps that advance by a fixed
amount (the common case) cost 16 bytes per chunk; timestamps are kept at millisecond precision as
zig-zag deltas; float values are byte-shuffled before zlib, which lets the high (sign/exponent)
bytes of similar values compress.  String values (StringSeries, FileSeries refs) are a JSON list.

Layout: ``u8 version · u8 flags · u32 n · steps section · ts section · values section`` where each
section is ``u32 length · bytes``.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

CHUNK_POINTS = 8192
OPEN_PIECES = 16  # a series' last, not yet full chunks: merged into full ones when they would be more
BLOCK_POINTS = 512  # resolution of the stored per-block summaries (16 blocks per full chunk)
_VERSION = 1
_FLAG_STRINGS = 1
_FLAG_ARITH_STEPS = 2
_F64 = np.dtype("<f8")
_I64 = np.dtype("<i8")


def _section(raw: bytes) -> bytes:
    return struct.pack("<I", len(raw)) + raw


def _shuffle(arr: np.ndarray) -> bytes:
    return np.ascontiguousarray(arr.view(np.uint8).reshape(-1, arr.dtype.itemsize).T).tobytes()


def _unshuffle(raw: bytes, n: int, dtype: np.dtype) -> np.ndarray:
    size = dtype.itemsize
    return np.frombuffer(raw, dtype=np.uint8).reshape(size, n).T.copy().view(dtype).reshape(n)


def encode_chunk(steps: np.ndarray, ts: np.ndarray, values: np.ndarray | list[str]) -> bytes:
    n = len(steps)
    flags = 0
    steps = np.asarray(steps, dtype=_F64)
    if n >= 2:
        diffs = np.diff(steps)
        first = diffs[0]
        arith = bool(np.all(diffs == first)) and np.array_equal(steps, steps[0] + first * np.arange(n))
    else:
        arith, first = True, 1.0
    if arith:
        flags |= _FLAG_ARITH_STEPS
        step_raw = struct.pack("<dd", float(steps[0]) if n else 0.0, float(first))
    else:
        step_raw = zlib.compress(_shuffle(steps), 1)
    ms = np.round(np.asarray(ts, dtype=_F64) * 1000.0).astype(_I64)
    deltas = np.diff(ms, prepend=np.int64(0))
    zigzag = ((deltas << 1) ^ (deltas >> 63)).astype(_I64)
    ts_raw = zlib.compress(_shuffle(zigzag), 1)
    if isinstance(values, list):
        flags |= _FLAG_STRINGS
        val_raw = zlib.compress(json.dumps(values, separators=(",", ":")).encode(), 1)
    else:
        val_raw = zlib.compress(_shuffle(np.asarray(values, dtype=_F64)), 1)
    return b"".join([
        struct.pack("<BBI", _VERSION, flags, n),
        _section(step_raw), _section(ts_raw), _section(val_raw),
    ])


def decode_chunk(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | list[str]]:
    version, flags, n = struct.unpack_from("<BBI", blob, 0)
    if version != _VERSION:
        raise ValueError(f"unknown chunk version {version}")
    pos = 6
    sections = []
    for _ in range(3):
        (length,) = struct.unpack_from("<I", blob, pos)
        pos += 4
        sections.append(blob[pos : pos + length])
        pos += length
    step_raw, ts_raw, val_raw = sections
    if flags & _FLAG_ARITH_STEPS:
        start, delta = struct.unpack("<dd", step_raw)
        steps = start + delta * np.arange(n, dtype=_F64)
    else:
        steps = _unshuffle(zlib.decompress(step_raw), n, _F64)
    zigzag = _unshuffle(zlib.decompress(ts_raw), n, _I64)
    deltas = (zigzag >> 1) ^ -(zigzag & 1)
    ts = np.cumsum(deltas).astype(_F64) / 1000.0
    values: np.ndarray | list[str]
    if flags & _FLAG_STRINGS:
        values = json.loads(zlib.decompress(val_raw))
    else:
        values = _unshuffle(zlib.decompress(val_raw), n, _F64)
    return steps, ts, values


def block_summaries(steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-block ``count, step_lo, step_hi, min, max, first, last`` rows (float64, shape k×7).

    Stored beside each chunk so a chart of any range reads summaries, not points, down to
    :data:`BLOCK_POINTS` points per bucket.
    """
    n = len(steps)
    if n == 0:
        return np.zeros((0, 7))
    starts = np.arange(0, n, BLOCK_POINTS)
    ends = np.minimum(starts + BLOCK_POINTS, n) - 1
    values = np.asarray(values, dtype=np.float64)
    return np.column_stack([
        (ends - starts + 1).astype(np.float64), steps[starts], steps[ends],
        np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts),
        values[starts], values[ends],
    ])
