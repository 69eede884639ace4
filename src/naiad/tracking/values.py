"""Value classes that pick a field type explicitly (neptune's ``neptune.types``, re-exported with ``File``
by :mod:`naiad.neptune_compat.types`).

>>> run["best"] = Float(3)                # a Float field, not an Integer
>>> run["sys/tags"] = StringSet(["a"])    # replace the whole set
>>> run["loss"] = FloatSeries([0.9, 0.5]) # replace the whole series
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any


class Value:
    """Base of the explicit value classes."""

    type_name = ""


class Float(Value):
    type_name = "Float"

    def __init__(self, value: Any) -> None:
        self.value = float(value)


class Integer(Value):
    type_name = "Integer"

    def __init__(self, value: Any) -> None:
        self.value = int(value)


class Boolean(Value):
    type_name = "Boolean"

    def __init__(self, value: Any) -> None:
        self.value = bool(value)


class String(Value):
    type_name = "String"

    def __init__(self, value: Any) -> None:
        self.value = str(value)


class Datetime(Value):
    type_name = "Datetime"

    def __init__(self, value: _dt.datetime) -> None:
        self.value = value


class StringSet(Value):
    type_name = "StringSet"

    def __init__(self, values: Iterable[str]) -> None:
        self.values = [str(v) for v in values]


class Namespace(Value):
    """A dict assigned as a namespace of fields (``run["cfg"] = Namespace({"lr": 0.1})``, as a plain dict
    does); empty keys cannot name a field and are dropped with a warning."""

    type_name = "Namespace"

    def __init__(self, value: Any) -> None:
        from collections.abc import Mapping

        if not isinstance(value, Mapping):
            from naiad.errors import InvalidValueError

            raise InvalidValueError(f"Namespace takes a dict of values, not {type(value).__name__}")
        empty = [k for k in value if not str(k).strip("/")]
        if empty:
            from naiad.core.fields import warn_once

            warn_once(f"Namespace keys {', '.join(repr(k) for k in empty)} cannot name fields; those values "
                      "were dropped.")
        self.value = {k: v for k, v in value.items() if str(k).strip("/")}


class _Series(Value):
    def __init__(self, values: Iterable[Any], *, steps: Iterable[float] | None = None,
                 timestamps: Iterable[float] | None = None, **_display: Any) -> None:
        self.values = list(values)
        self.steps = None if steps is None else list(steps)
        self.timestamps = None if timestamps is None else list(timestamps)


class FloatSeries(_Series):
    type_name = "FloatSeries"


class StringSeries(_Series):
    type_name = "StringSeries"


class FileSeries(_Series):
    type_name = "FileSeries"


class FileSet(Value):
    type_name = "FileSet"

    def __init__(self, file_globs: str | Iterable[str]) -> None:
        self.file_globs = [file_globs] if isinstance(file_globs, str) else list(file_globs)


class Artifact(Value):
    type_name = "Artifact"

    def __init__(self, hash: str | None = None) -> None:
        self.hash = hash


class GitRef:
    """Where to look for the git repository of a run: ``init_run(git_ref=GitRef("path"))``;
    ``GitRef.DISABLED`` (or ``git_ref=False``) records no git state."""

    DISABLED: GitRef

    def __init__(self, repository_path: str | None = None) -> None:
        self.repository_path = repository_path


GitRef.DISABLED = GitRef("<disabled>")


class StringifyValue:
    """A value to store as its ``str()`` when its type is not supported (see ``stringify_unsupported``)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"StringifyValue({self.value!r})"


__all__ = [
    "Artifact", "Boolean", "Datetime", "FileSeries", "FileSet", "Float", "FloatSeries",
    "GitRef", "Integer", "String", "StringSeries", "StringSet", "StringifyValue", "Value",
]
