"""The data model's nouns: field types, paths, and how a Python value becomes a typed field value.

A field is a typed value at a ``/``-separated path.  The first write fixes the type; a later write
of another type is refused at the call site (see :func:`naiad.tracking.run`).  This module is shared by the
SDK, the op log, the stores and (later) the HTTP API.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

from naiad.errors import InvalidPathError, InvalidValueError

FLOAT = "Float"
INTEGER = "Integer"
BOOLEAN = "Boolean"
STRING = "String"
DATETIME = "Datetime"
STRING_SET = "StringSet"
FLOAT_SERIES = "FloatSeries"
STRING_SERIES = "StringSeries"
FILE_SERIES = "FileSeries"
FILE = "File"
FILE_SET = "FileSet"
ARTIFACT = "Artifact"

ATOMS = frozenset({FLOAT, INTEGER, BOOLEAN, STRING, DATETIME})
SERIES = frozenset({FLOAT_SERIES, STRING_SERIES, FILE_SERIES})

MAX_PATH_LENGTH = 1024
MAX_STRING_LENGTH = 65_536
MAX_SERIES_STRING_LENGTH = 16_384
MAX_EXACT_INT = 2**53

# Paths under sys/ that only naiad writes.
READ_ONLY_SYS = frozenset({
    "sys/id", "sys/state", "sys/owner", "sys/creation_time", "sys/modification_time",
    "sys/ping_time", "sys/custom_run_id", "sys/stage", "sys/aliases", "sys/model_id", "sys/errors",
    "sys/dropped", "sys/trashed", "sys/hostname", "sys/policy/require_gate", "sys/policy/gate_accounts",
})
REGISTRY_PATHS = frozenset({"sys/stage", "sys/aliases", "sys/model_id", "sys/policy/require_gate",
                            "sys/policy/gate_accounts"})
"""Moved only by the registry's own operations (with their history), never by a field write."""
STORE_MAINTAINED = READ_ONLY_SYS - REGISTRY_PATHS - {"sys/state", "sys/ping_time"}
"""Set by the store itself (who made a container, when, its id…): no batch writes them, so a client of a
server cannot forge them.  ``sys/state`` and ``sys/ping_time`` are the SDK's own lifecycle writes."""


class NaiadWarning(UserWarning):
    """A problem naiad worked around (value skipped, setting ignored); training goes on."""


class NaiadUnsupportedType(NaiadWarning):
    """A value whose type naiad cannot store was skipped."""


class NaiadUnsupportedValue(NaiadWarning):
    """A value naiad cannot store (NaN, out of range) was skipped."""


class StepOrderWarning(NaiadWarning):
    """A series point whose step is not above the last one was dropped (NAIAD_STRICT raises instead)."""


_warned: set[str] = set()


def warn_once(message: str, category: type[Warning] = NaiadWarning) -> None:
    """Emit ``message`` once per process (up to 1,000 distinct messages)."""
    if message in _warned or len(_warned) > 1000:
        return
    _warned.add(message)
    warnings.warn(message, category, stacklevel=3)


def normalize_path(path: object) -> str:
    """``"/a//b/"`` → ``"a/b"``; raise :class:`InvalidPathError` for what cannot be a field path.

    >>> normalize_path("train//loss/")
    'train/loss'
    """
    text = path if isinstance(path, str) else str(path)
    if (text.isprintable() and len(text) <= MAX_PATH_LENGTH and "//" not in text
            and text[:1] != "/" and text[-1:] != "/" and "." not in text):
        return text  # already normal: the common case, checked without splitting
    parts = [p for p in text.split("/") if p]
    if "." in parts or ".." in parts:
        raise InvalidPathError(
            f"field path {text!r} has a '.' or '..' segment; a field path names fields and namespaces, not "
            "folders — use a name such as 'up' or 'dot' instead.")
    out = "/".join(parts)
    if len(out) > MAX_PATH_LENGTH:
        raise InvalidPathError(
            f"field path is {len(out)} characters long; the limit is {MAX_PATH_LENGTH}. "
            "Use a shorter path (put long names in a String field instead)."
        )
    if not out.isascii():
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidPathError(f"field path {out!r} holds a lone surrogate (a name that is not UTF-8?); "
                                   "use text that UTF-8 can carry.") from None
    for ch in out:
        if ch < " " or ch == "\x7f":
            raise InvalidPathError(
                f"field path {out!r} contains the control character {ch!r}; "
                "use printable characters only."
            )
    return out


MAX_EXTENSION_LENGTH = 32
_EXTENSION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def is_extension(ext: object) -> bool:
    """A file extension naiad stores and downloads by: ``png``, ``tar.gz``; ``""`` for none.  Letters,
    digits, ``_+-`` and inner dots only, so that no extension can name a folder."""
    if not isinstance(ext, str):
        return False
    if not ext:
        return True
    return (len(ext) <= MAX_EXTENSION_LENGTH and set(ext) <= _EXTENSION_CHARS and ext[0] != "."
            and ext[-1] != "." and ".." not in ext)


def check_extension(ext: object) -> str:
    if not is_extension(ext):
        raise InvalidValueError(
            f"file extension {str(ext)[:80]!r} is not valid: use up to {MAX_EXTENSION_LENGTH} letters, digits, "
            "'_', '+', '-' and inner dots (png, tar.gz), with no '/', '\\' or '..'.")
    return str(ext)


def relative_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a file's name inside a file set or an artifact (None: it can): those names
    become paths under a download folder or in a zip, so they are relative, '/'-separated, and have no
    empty, '.' or '..' segment, no '\\' and no control character."""
    if not isinstance(name, str) or not name:
        return "it is empty"
    if len(name) > MAX_PATH_LENGTH:
        return f"it is longer than {MAX_PATH_LENGTH} characters"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "it is absolute"
    if "\\" in name or not name.isprintable():
        return "it has a '\\' or a control character"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "it has an empty, '.' or '..' segment"
    return None


def join_path(prefix: str, sub: object) -> str:
    sub_norm = normalize_path(sub)
    if not prefix:
        return sub_norm
    if not sub_norm:
        return prefix
    return normalize_path(prefix + "/" + sub_norm)


def datetime_to_epoch(value: _dt.datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as local time (as neptune does)."""
    return value.timestamp()


def atom_of(value: Any) -> tuple[str, Any] | None:
    """Type and stored form of a plain Python value assigned to a new path, or None if unsupported.

    bool → Boolean, int → Integer, float → Float, str → String, datetime → Datetime, and anything
    ``float()`` accepts (numpy scalars, Decimal, 0-d arrays) → Float.  numpy integer / bool scalars
    become Integer / Boolean (neptune 1.x made them Float; naiad keeps the type).
    """
    tp = type(value)
    if tp is float:
        return FLOAT, value
    if tp is int:
        return INTEGER, value
    if tp is str:
        return STRING, value
    if tp is bool:
        return BOOLEAN, value
    if isinstance(value, bool):
        return BOOLEAN, bool(value)
    if isinstance(value, _dt.datetime):
        return DATETIME, datetime_to_epoch(value)
    if isinstance(value, str):
        return STRING, str(value)
    mod = tp.__module__
    if mod == "numpy":
        kind = getattr(value, "dtype", None)
        ch = getattr(kind, "kind", "")
        if ch == "b":
            return BOOLEAN, bool(value)
        if ch in "iu" and getattr(value, "ndim", 0) == 0:
            return INTEGER, int(value)
    if isinstance(value, numbers.Integral):
        return INTEGER, int(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)) or value is None:
        return None
    try:
        return FLOAT, float(value)
    except (TypeError, ValueError):
        return None


def coerce_atom(field_type: str, value: Any, path: str) -> Any:
    """Stored form of ``value`` for an existing atom field of ``field_type``; raise if it cannot be.

    Lossless conversions are accepted (an int into a Float field); anything else is refused with a
    message that says how to proceed.
    """
    found = atom_of(value)
    if found is not None:
        vtype, stored = found
        if vtype == field_type:
            return check_atom(field_type, stored, path)
        if field_type == FLOAT and vtype in (INTEGER, BOOLEAN):
            return check_atom(FLOAT, float(stored), path)
        if field_type == INTEGER and vtype == BOOLEAN:
            return int(stored)
        if field_type == INTEGER and vtype == FLOAT and float(stored).is_integer():
            return check_atom(INTEGER, int(stored), path)
    shown = type(value).__name__
    raise _type_error(path, field_type, shown)


def _type_error(path: str, field_type: str, given: str) -> Exception:
    from naiad.errors import FieldTypeError

    return FieldTypeError(
        f"field '{path}' is {field_type}; a {given} cannot be written to it. Write a value of the "
        f"same type, or delete the field first (del run['{path}']) to change its type."
    )


def check_atom(field_type: str, stored: Any, path: str) -> Any:
    """Range checks shared by first writes and later writes; returns the value or raises."""
    if field_type in (FLOAT, DATETIME):
        if not math.isfinite(stored):
            raise InvalidValueError(
                f"field '{path}': {stored!r} cannot be stored in a {field_type} field; "
                "skip the value or store it as a string."
            )
    elif field_type == INTEGER:
        if not -MAX_EXACT_INT <= stored <= MAX_EXACT_INT:
            raise InvalidValueError(
                f"field '{path}': integer {stored} is outside ±2**53 and would lose precision; "
                "store it as a string (str(value)) or a float."
            )
    elif field_type == STRING:
        stored = clean_text(stored, path)
        if len(stored) > MAX_STRING_LENGTH:
            warn_once(
                f"field '{path}': string of {len(stored)} characters truncated to {MAX_STRING_LENGTH}; "
                "upload long text as a file (run[path].upload(File.from_content(text))).",
                NaiadUnsupportedValue,
            )
            return stored[:MAX_STRING_LENGTH]
    return stored


def clean_text(text: str, path: str, *, keep_nul: bool = False) -> str:
    """``text`` as a store can keep it: a lone surrogate (what ``os.fsdecode`` makes of a file name that
    is not UTF-8) and NUL become U+FFFD, with one warning per field — neither UTF-8 nor PostgreSQL's text
    can carry them, and an op the store cannot take would hold up every later write of the run.
    ``keep_nul``: the text goes into a series' binary chunks, which keep NUL."""
    nul = not keep_nul and "\x00" in text
    if text.isascii() and not nul:
        return text
    try:
        text.encode("utf-8")
        if not nul:
            return text
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if nul:
        text = text.replace("\x00", "\ufffd")
    warn_once(f"'{path}': a string held characters a store cannot keep (a lone surrogate, e.g. from a file name "
              "that is not UTF-8, or NUL); they were stored as U+FFFD.", NaiadUnsupportedValue)
    return text


def flatten(value: Mapping[Any, Any], prefix: str) -> list[tuple[str, Any]]:
    """Flatten a nested mapping into ``(path, leaf)`` pairs; keys are ``str()``-converted.  ``prefix``
    is a normalized path (a handler's)."""
    out: list[tuple[str, Any]] = []
    for key, leaf in value.items():
        key_text = key if type(key) is str else str(key)
        if not key_text.strip("/"):
            warn_once(f"an empty key under '{prefix}' was skipped; use a non-empty key.")
            continue
        sub = normalize_path(key_text)
        path = prefix + "/" + sub if prefix else sub  # two normal paths joined are normal …
        if len(path) > MAX_PATH_LENGTH:
            path = normalize_path(path)  # … unless too long: said by the check
        if isinstance(leaf, Mapping):
            out.extend(flatten(leaf, path))
        else:
            out.append((path, leaf))
    return out
