"""Shrinking a batch before it is written: a writer's ops, merged without changing their meaning."""

from __future__ import annotations

from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O


def compact(ops: list[O.Op]) -> list[O.Op]:
    """Shrink a batch without changing its meaning: points for one series are merged into one op,
    and of several ASSIGNs to one path only the last is kept.  Any other op (clear, delete, files…)
    is a barrier across which nothing moves."""
    if len(ops) < 2:
        return ops
    merged: list[Any] = []
    points_at: dict[str, int] = {}
    for op in ops:
        if op[0] == O.POINTS:
            i = points_at.get(op[1])
            if i is None:
                points_at[op[1]] = len(merged)
                merged.append([op])
            else:
                merged[i].append(op)
        elif op[0] == O.ASSIGN:
            merged.append(op)
        else:
            points_at.clear()
            merged.append(op)
    out: list[O.Op] = []
    for item in merged:
        if isinstance(item, list):
            first = item[0]
            if len(item) == 1:
                out.append(first)
                continue
            vals: Any = (np.concatenate([p[5] for p in item]) if first[2] == F.FLOAT_SERIES
                         else [v for p in item for v in p[5]])
            out.append((O.POINTS, first[1], first[2], np.concatenate([p[3] for p in item]),
                        np.concatenate([p[4] for p in item]), vals))
        else:
            out.append(item)
    later: set[str] = set()
    keep: list[O.Op] = []
    for op in reversed(out):
        if op[0] == O.ASSIGN:
            if op[1] in later:
                continue
            later.add(op[1])
        elif op[0] != O.POINTS:
            later.clear()
        keep.append(op)
    keep.reverse()
    return keep
