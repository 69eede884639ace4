"""neptune's ``neptune.utils`` helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naiad.tracking.values import StringifyValue


def stringify_unsupported(value: Any, expand: bool = False) -> Any:
    """Make any value loggable: mappings stay dicts (keys → str), other values are stored as their
    ``str()`` unless naiad supports their type.  ``expand=True`` turns lists into ``{"0": …}`` dicts.

    >>> run["config"] = stringify_unsupported({"layers": [64, 32], "act": None})
    """
    if isinstance(value, Mapping):
        return {str(k): stringify_unsupported(v, expand) for k, v in value.items()}
    if expand and isinstance(value, (list, tuple, set)):
        return {str(i): stringify_unsupported(v, expand) for i, v in enumerate(value)}
    return StringifyValue(value)


__all__ = ["stringify_unsupported"]
