"""The neptune client's operations (``executeOperations``) as naiad ops.

Each item is ``{"path": ..., "<kind>": {...}}``; the kinds and their payloads are the client's (see
docs/neptune-wire.md).  What naiad keeps differently is said in docs/neptune-compat.md; an operation
naiad cannot apply yet comes back as an error description, which the client logs.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O

ATOMS = {"assignFloat": F.FLOAT, "assignInt": F.INTEGER, "assignBool": F.BOOLEAN, "assignString": F.STRING}
SERIES = {"logFloats": F.FLOAT_SERIES, "logStrings": F.STRING_SERIES}
CLEARS = ("clearFloatSeries", "clearStringSeries", "clearStringSet", "clearImageSeries", "clearArtifact")
RENAMED = {"sys/hostname": "environment/hostname"}
"""Paths the client writes that are naiad's own (read-only) under ``sys/``: kept where naiad records the same."""


def translate(items: list[dict[str, Any]], structure: dict[str, str], last_step: Callable[[str], float | None],
              put: Callable[[bytes], tuple[str, int]],
              manifest: Callable[[str], list[dict[str, Any]] | None]) -> tuple[list[O.Op], list[str]]:
    """naiad ops for the client's operations, and a description of each one that cannot be applied.
    ``structure`` is the container's fields (path → type) before the batch; ``last_step(path)`` the last
    step of a stored series (for points the client sends without a step)."""
    ops: list[Any] = []  # naiad ops, and _Points gathered into one op at the end
    errors: list[str] = []
    next_step: dict[str, float] = {}
    known = dict(structure)
    for item in items:
        try:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                errors.append(f"an operation is not {{'path': ..., '<kind>': {{...}}}}: {str(item)[:120]}")
                continue
            path = item["path"]
            kinds = [k for k in item if k != "path"]
            if len(kinds) != 1 or not isinstance(item[kinds[0]], dict):
                errors.append(f"'{path}': an operation names one kind with its payload (got {kinds[:3]})")
                continue
            kind, body = kinds[0], item[kinds[0]]
            path = str(RENAMED.get(path, path))
            if kind in ATOMS:
                atom = body.get("value")
                if kind == "assignFloat" and isinstance(atom, str):  # neptune.legacy sends parameters as text
                    atom = float(atom)
                ops.append((O.ASSIGN, path, ATOMS[kind], atom))
                known[path] = ATOMS[kind]
            elif kind == "assignDatetime":
                ops.append((O.ASSIGN, path, F.DATETIME, float(body.get("valueMilliseconds") or 0) / 1000.0))
                known[path] = F.DATETIME
            elif kind in SERIES or kind == "logImages":
                ftype = SERIES.get(kind, F.FILE_SERIES)
                entries = body.get("entries")
                entries = entries if isinstance(entries, list) else []
                step = next_step.get(path)
                if step is None:
                    last = last_step(path) if known.get(path) == ftype else None
                    step = 0.0 if last is None else last + 1.0
                prev = ops[-1] if ops else None
                if isinstance(prev, _Points) and prev.path == path and prev.ftype == ftype:
                    run = prev  # the client sends one operation a point: consecutive ones of a series are one op
                else:
                    run = _Points(path, ftype)
                    ops.append(run)
                if ftype == F.FLOAT_SERIES and _take_floats(entries, run):
                    next_step[path] = float(run.parts[-1][0][-1]) + 1.0
                    known[path] = ftype
                    continue
                for entry in entries:
                    try:
                        given = entry.get("step")
                        point_step = float(given) if given is not None else step
                        stamp = float(entry.get("timestampMilliseconds") or time.time() * 1000) / 1000.0
                        raw = entry.get("value")
                        value: Any = (_image(raw, put) if ftype == F.FILE_SERIES else
                                      float(raw) if ftype == F.FLOAT_SERIES else str(raw))
                    except (AttributeError, TypeError, ValueError):
                        errors.append(f"'{path}': a point {str(entry)[:120]} is not "
                                      "{value, step, timestampMilliseconds}; it was not stored")
                        continue
                    run.steps.append(point_step)
                    run.stamps.append(stamp)
                    run.values.append(value)
                    step = point_step + 1.0
                next_step[path] = step
                known[path] = ftype
            elif kind in CLEARS:
                if path in known:  # the client clears series it is about to start; nothing there is nothing to clear
                    ops.append((O.CLEAR, path))
            elif kind == "insertStrings":
                ops.append((O.ADD, path, [str(v) for v in body.get("values") or []]))
                known[path] = F.STRING_SET
            elif kind == "removeStrings":
                ops.append((O.REMOVE, path, [str(v) for v in body.get("values") or []]))
            elif kind == "deleteAttribute":
                if path in known:
                    ops.append((O.DELETE, path))
                    known.pop(path, None)
                    next_step.pop(path, None)
            elif kind == "assignArtifact":
                files = manifest(str(body.get("hash") or ""))
                if files is None:
                    errors.append(f"'{path}': artifact {str(body.get('hash'))[:16]} was never announced to this "
                                  "server; the field was not stored")
                else:
                    ops.append((O.TRACK, path, files, True))
                    known[path] = F.ARTIFACT
            elif kind == "configFloatSeries":
                continue  # a chart's range and unit: naiad draws from the data (docs/neptune-compat.md)
            else:
                errors.append(f"'{path}': the operation {kind!r} is not served by this naiad server yet; "
                              "the value was not stored")
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:  # a malformed payload
            errors.append(f"'{str(item.get('path') if isinstance(item, dict) else item)[:200]}': a malformed "
                          f"operation ({str(exc)[:200]}); it was not stored")

    out: list[O.Op] = []
    for op in ops:
        if isinstance(op, _Points):
            if op.parts or op.steps:
                out.append(op.op())
        else:
            out.append(op)
    return out, errors


def _take_floats(entries: list[Any], run: _Points) -> bool:
    """The common case at C speed: every entry a ``{value, step, timestampMilliseconds}`` of numbers (a
    time given).  False (nothing taken) when any entry is not, so the careful loop handles them."""
    if len(entries) < 8:
        return False  # a few points: the careful loop costs less than making arrays
    try:
        columns = [np.array([e[key] for e in entries]) for key in ("value", "step", "timestampMilliseconds")]
    except (KeyError, TypeError, ValueError):
        return False
    if any(c.dtype.kind not in "fi" or c.ndim != 1 for c in columns) or not columns[2].all():
        return False  # a missing step or time, a text or bool value: said point by point, or defaulted
    values, steps, stamps = (c.astype(np.float64, copy=False) for c in columns)
    run.add_arrays(steps, stamps / 1000.0, values)
    return True


class _Points:
    """Points of one series gathered from consecutive operations, made one POINTS op at the end."""

    __slots__ = ("ftype", "parts", "path", "stamps", "steps", "values")

    def __init__(self, path: str, ftype: str) -> None:
        self.path, self.ftype = path, ftype
        self.parts: list[tuple[np.ndarray, np.ndarray, Any]] = []  # arrays taken whole (values: list for text)
        self.steps: list[float] = []  # points added one by one (after the parts)
        self.stamps: list[float] = []
        self.values: list[Any] = []

    def _flush(self) -> None:
        if self.steps:
            values = np.asarray(self.values, dtype=np.float64) if self.ftype == F.FLOAT_SERIES else self.values
            self.parts.append((np.asarray(self.steps, dtype=np.float64), np.asarray(self.stamps, dtype=np.float64),
                               values))
            self.steps, self.stamps, self.values = [], [], []

    def add_arrays(self, steps: np.ndarray, stamps: np.ndarray, values: np.ndarray) -> None:
        self._flush()
        self.parts.append((steps, stamps, values))

    def op(self) -> O.Op:
        self._flush()
        values: Any
        if len(self.parts) == 1:
            steps, stamps, values = self.parts[0]
        else:
            steps = np.concatenate([p[0] for p in self.parts])
            stamps = np.concatenate([p[1] for p in self.parts])
            values = (np.concatenate([p[2] for p in self.parts]) if self.ftype == F.FLOAT_SERIES
                      else [v for p in self.parts for v in p[2]])
        return (O.POINTS, self.path, self.ftype, steps, stamps, values)


def _image(value: Any, put: Callable[[bytes], tuple[str, int]]) -> str:
    """An image point (base64 data, name, description) as a file series point: the bytes stored once."""
    value = value if isinstance(value, dict) else {}
    try:
        data = base64.b64decode(value.get("data") or "", validate=False)
    except (ValueError, TypeError):
        data = b""
    digest, size = put(data)
    ext = "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else ("jpeg" if data[:2] == b"\xff\xd8" else "bin")
    ref = {"hash": digest, "size": size, "ext": ext, "name": value.get("name") or None}
    if value.get("description"):
        ref["description"] = str(value["description"])
    return json.dumps(ref, separators=(",", ":"))
