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
IGNORED_PATHS = frozenset({"sys/hostname"})
"""Written by the client, kept by naiad elsewhere: the host is in ``monitoring/<hash>/hostname`` too."""


def translate(items: list[dict[str, Any]], structure: dict[str, str], last_step: Callable[[str], float | None],
              put: Callable[[bytes], tuple[str, int]],
              manifest: Callable[[str], list[dict[str, Any]] | None]) -> tuple[list[O.Op], list[str]]:
    """naiad ops for the client's operations, and a description of each one that cannot be applied.
    ``structure`` is the container's fields (path → type) before the batch; ``last_step(path)`` the last
    step of a stored series (for points the client sends without a step)."""
    ops: list[O.Op] = []
    errors: list[str] = []
    next_step: dict[str, float] = {}
    known = dict(structure)
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            errors.append(f"an operation is not {{'path': ..., '<kind>': {{...}}}}: {str(item)[:120]}")
            continue
        path = item["path"]
        kinds = [k for k in item if k != "path"]
        if len(kinds) != 1 or not isinstance(item[kinds[0]], dict):
            errors.append(f"'{path}': an operation names one kind with its payload (got {kinds[:3]})")
            continue
        kind, body = kinds[0], item[kinds[0]]
        if path in IGNORED_PATHS:
            continue
        if kind in ATOMS:
            ops.append((O.ASSIGN, path, ATOMS[kind], body.get("value")))
            known[path] = ATOMS[kind]
        elif kind == "assignDatetime":
            ops.append((O.ASSIGN, path, F.DATETIME, float(body.get("valueMilliseconds") or 0) / 1000.0))
            known[path] = F.DATETIME
        elif kind in SERIES or kind == "logImages":
            ftype = SERIES.get(kind, F.FILE_SERIES)
            entries = body.get("entries") or []
            steps, stamps, values = [], [], []
            step = next_step.get(path)
            if step is None:
                last = last_step(path) if known.get(path) == ftype else None
                step = 0.0 if last is None else last + 1.0
            for entry in entries:
                given = entry.get("step")
                step = float(given) if given is not None else step
                steps.append(step)
                stamps.append(float(entry.get("timestampMilliseconds") or time.time() * 1000) / 1000.0)
                values.append(_image(entry.get("value"), put) if ftype == F.FILE_SERIES else entry.get("value"))
                step += 1.0
            next_step[path] = step
            if entries:
                vals: Any = np.asarray(values, dtype=np.float64) if ftype == F.FLOAT_SERIES else \
                    [str(v) for v in values]
                prev = ops[-1] if ops else None
                if prev is not None and prev[0] == O.POINTS and prev[1] == path and prev[2] == ftype:
                    # the client sends one operation a point: consecutive ones of a series become one op
                    vals = np.concatenate([prev[5], vals]) if ftype == F.FLOAT_SERIES else [*prev[5], *vals]
                    ops[-1] = (O.POINTS, path, ftype, np.concatenate([prev[3], steps]),
                               np.concatenate([prev[4], stamps]), vals)
                else:
                    ops.append((O.POINTS, path, ftype, np.asarray(steps), np.asarray(stamps), vals))
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
                errors.append(f"'{path}': artifact {str(body.get('hash'))[:16]} was never announced to this server; "
                              "the field was not stored")
            else:
                ops.append((O.TRACK, path, files, True))
                known[path] = F.ARTIFACT
        elif kind == "configFloatSeries":
            continue  # a chart's range and unit: naiad draws from the data (docs/neptune-compat.md)
        else:
            errors.append(f"'{path}': the operation {kind!r} is not served by this naiad server yet; "
                          "the value was not stored")
    return ops, errors


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
