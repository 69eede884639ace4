"""Caller-side state of a container's series — the buffer of points waiting for the writer, the last
step — and the series type a first value implies.

Below the field tree and the handlers (both use it), so a value appended through a handle is typed
here once and never travels back up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naiad.core import fields as F
from naiad.tracking.files import File, is_figure_like

_NUMBER_TYPES = (int, float)


class SeriesBuffer:
    """Points of one series waiting for the writer."""

    __slots__ = ("path", "steps", "taken", "ts", "type", "values")

    def __init__(self, path: str, ftype: str) -> None:
        self.path = path
        self.type = ftype
        self.values: list[Any] = []
        self.steps: list[float] = []
        self.ts: list[float] = []
        self.taken = 0  # points taken so far: a taker sees from it whether another took in between

    def take(self, limit: int | None = None) -> tuple[str, str, list[float], list[float], list[Any]]:
        """Remove and return the points buffered so far, or the first ``limit`` of them (called under
        the writer lock).

        The training thread appends without any lock: ``value``, then ``step``, then ``timestamp``,
        each one atomic.  Taking the first ``len(ts)`` items of each list and deleting them leaves
        a point that is half-appended at that moment in place, aligned, for the next take.
        """
        n = len(self.ts)
        if limit is not None and n > limit:
            n = limit
        taken = (self.path, self.type, self.steps[:n], self.ts[:n], self.values[:n])
        del self.values[:n], self.steps[:n], self.ts[:n]
        self.taken += n
        return taken


class SeriesState:
    """Caller-side state of one series: its buffer and its last step."""

    __slots__ = ("buf", "is_float", "last_step", "type")

    def __init__(self, buf: SeriesBuffer, ftype: str, last_step: float) -> None:
        self.buf = buf
        self.type = ftype
        self.is_float = ftype == F.FLOAT_SERIES
        self.last_step = last_step


def _is_seq(values: Any) -> bool:
    return isinstance(values, (list, tuple, set, frozenset))


def value_kind_for_append(value: Any) -> str | None:
    """Series type implied by the first appended value (None: unsupported)."""
    if isinstance(value, str):
        return F.STRING_SERIES
    if isinstance(value, File) or is_figure_like(value):
        return F.FILE_SERIES
    if isinstance(value, (bool, _NUMBER_TYPES)):
        return F.FLOAT_SERIES
    if _is_seq(value) or value is None or isinstance(value, Mapping):
        return None
    try:
        float(value)
    except (TypeError, ValueError):
        return None
    return F.FLOAT_SERIES
