"""Caller-side state of a container's series — where its points go in the journal, the last step — and
the series type a first value implies.

Below the field tree and the handlers (both use it), so a value appended through a handle is typed
here once and never travels back up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naiad.core import fields as F
from naiad.core.journal import Journal
from naiad.tracking.files import File, is_figure_like

_NUMBER_TYPES = (int, float)


class SeriesState:
    """Caller-side state of one series: its writer's journal, its name index there, its last step."""

    __slots__ = ("index", "is_float", "journal", "last_step", "type")

    def __init__(self, journal: Journal, index: int, ftype: str, last_step: float) -> None:
        self.journal = journal
        self.index = index
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
