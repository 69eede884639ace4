"""A container's field tree as this process knows it (path → type, namespaces, series state) and
everything a field handle asks of it: typed writes handed to the writer, series appends, and reads.

:class:`~naiad.tracking.handler.Handler` (``run["a/b"]``) works on a :class:`FieldTree`;
:class:`~naiad.tracking.container.Container` is a field tree with handles and a lifecycle.  One
``run["x"].append(v)`` goes handler → the series state here (:class:`~naiad.tracking.series.SeriesState`,
its buffer) → the writer thread → the op log → the store, each step once.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from typing import Any

import numpy as np

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.fields import StepOrderWarning, warn_once
from naiad.errors import (
    ConfigError,
    FieldTypeError,
    InactiveContainerError,
    InvalidValueError,
    MissingFieldError,
    NamespaceConflictError,
    ProtectedPathError,
    StageChangeError,
    StepOrderError,
)
from naiad.store.base import ContainerInfo, FieldValue, Store
from naiad.tracking import values as T
from naiad.tracking.files import File, check_readable, is_figure_like, to_file
from naiad.tracking.series import SeriesState, value_kind_for_append
from naiad.tracking.writer import UPLOAD_POINTS, Writer


class FieldTree:
    """The field tree of one container, its writes and its reads (see the module docstring)."""

    def __init__(self) -> None:
        self._types: dict[str, str] = {}
        self._namespaces: dict[str, int] = {}  # namespace path → number of fields under it
        self._series: dict[str, SeriesState] = {}
        self._state = "created"
        self._writer: Writer | None = None
        # set while started in a threaded mode: writes may go straight into its op list
        self._fast_writer: Writer | None = None
        self._store: Store | None = None
        self._info: ContainerInfo | None = None
        self._uuid = ""
        self._mode = "async"
        self._read_only_warned = False
        self._step_warned: set[str] = set()  # series already warned about a dropped point

    def __getitem__(self, key: str) -> Any:
        """The handle of ``key`` (a :class:`~naiad.tracking.handler.Handler`; made by the container)."""
        raise NotImplementedError

    def _load_structure(self) -> None:
        """Add the fields the store has and this process does not know yet (all of them on open)."""
        assert self._store is not None
        new = {p: t for p, t in self._store.structure(self._uuid).items() if p not in self._types}
        for path, ftype in new.items():
            self._register(path, ftype)
        if self._writer is not None and any(t in F.SERIES for t in new.values()):
            lasts = self._store.series_last_steps(self._uuid)  # appends continue above the stored steps
            for path, ftype in new.items():
                if ftype in F.SERIES:
                    self._series_state(path, ftype, lasts.get(path, -math.inf))

    def _register(self, path: str, ftype: str) -> None:
        self._types[path] = ftype
        ns = self._namespaces
        i = path.find("/")
        while i >= 0:
            ns[path[:i]] = ns.get(path[:i], 0) + 1
            i = path.find("/", i + 1)

    def _unregister(self, path: str) -> None:
        del self._types[path]
        self._series.pop(path, None)
        parts = path.split("/")
        for i in range(1, len(parts)):
            key = "/".join(parts[:i])
            self._namespaces[key] -= 1
            if self._namespaces[key] <= 0:
                del self._namespaces[key]

    def _series_state(self, path: str, ftype: str, last_step: float = -math.inf) -> SeriesState:
        assert self._writer is not None
        journal = self._writer.journal
        st = SeriesState(journal, journal.name_index(path), ftype, last_step)
        if self._mode == "sync":
            st.is_float = False  # sync mode: every append goes the slow way and is stored at once
        self._series[path] = st
        return st

    def wait(self, *, disk_only: bool = False) -> None:
        """Block until every write made so far is in the store (or, offline, on disk)."""
        if self._writer is not None and self._state == "started":
            self._writer.wait()
            self._writer.check_errors()

    def _label(self) -> str:
        return self._info.short_id if self._info is not None else f"offline run {self._uuid}"

    def sync(self, *, wait: bool = True) -> None:
        """Wait for pending writes, then reload the field tree from the store (other writers' fields)."""
        if wait:
            self.wait()
        if self._store is not None and self._info is not None and self._mode != "offline":
            self._load_structure()

    def _raise_inactive(self) -> None:
        raise InactiveContainerError(
            f"{self._label()} is stopped; open it again to write or read: "
            f"naiad.init_run(with_id=\"{self._label()}\").")

    def _check_writable(self) -> bool:
        if self._state != "started":
            self._raise_inactive()
        return True

    def _submit(self, op: O.Op) -> None:
        if self._writer is None:
            if not self._read_only_warned:
                self._read_only_warned = True
                warn_once(f"{self._label()} was opened in read-only mode; writes are ignored. Open it "
                          "with mode=\"async\" to write.")
            return
        self._writer.submit(op)
        if self._mode in ("sync", "debug"):
            self._writer.check_errors()

    def _check_protected(self, path: str) -> None:
        if path == "sys/stage":
            raise StageChangeError("'sys/stage' cannot be written: move a model version with "
                                   "version.change_stage(\"production\") (or `naiad models promote`).")
        if path in F.READ_ONLY_SYS:
            raise ProtectedPathError(f"'{path}' is maintained by naiad and cannot be written.")

    def _define(self, path: str, ftype: str) -> None:
        """Make sure ``path`` is (or becomes) a field of ``ftype``; raise at the call site if not."""
        existing = self._types.get(path)
        if existing == ftype:
            return
        if existing is not None:
            raise FieldTypeError(
                f"field '{path}' is {existing}; it cannot be used as {ftype}. Delete it first "
                f"(del run['{path}']) to change its type, or write to another path.")
        if not path:
            raise InvalidValueError("a value needs a field path: run['path'] = value.")
        self._check_protected(path)
        if path in self._namespaces:
            raise NamespaceConflictError(
                f"'{path}' is a namespace (it has fields under it); a field cannot be created there.")
        types = self._types
        prefixes = []
        i = path.find("/")
        while i >= 0:
            prefix = path[:i]
            if prefix in types:
                raise NamespaceConflictError(
                    f"cannot create '{path}': '{prefix}' is a {types[prefix]} field, not a namespace.")
            prefixes.append(prefix)
            i = path.find("/", i + 1)
        types[path] = ftype
        ns = self._namespaces
        for prefix in prefixes:
            ns[prefix] = ns.get(prefix, 0) + 1

    def _require(self, path: str, types: tuple[str, ...], method: str) -> str:
        ftype = self._types.get(path)
        if ftype is None:
            raise MissingFieldError(f"there is no field at '{path}' to {method}().")
        if ftype not in types:
            raise FieldTypeError(f"{method}() is not available for '{path}', a {ftype} field.")
        return ftype

    def _assign(self, path: str, value: Any) -> None:
        if isinstance(value, T.StringifyValue):
            inner = value.value
            found = F.atom_of(inner)
            value = inner if found is not None and not (
                found[0] == F.FLOAT and not math.isfinite(found[1])) else str(inner)
        self._check_protected(path)
        existing = self._types.get(path)
        if isinstance(value, T.Value):
            self._assign_value_object(path, value, existing)
            return
        if isinstance(value, File) or is_figure_like(value):
            self[path].upload(value)
            return
        if existing in F.SERIES:
            if isinstance(value, (list, tuple)):
                self[path].clear()
                self._extend(path, list(value), None, None)
                return
            raise FieldTypeError(f"field '{path}' is a {existing}; assign a list to replace it, or "
                                 "append() a point.")
        if existing == F.STRING_SET:
            raise FieldTypeError(f"field '{path}' is a StringSet; use add()/remove(), or assign "
                                 "StringSet([...]) to replace it.")
        if existing in (F.FILE, F.FILE_SET, F.ARTIFACT):
            raise FieldTypeError(f"field '{path}' is a {existing}; use upload()/upload_files()/"
                                 "track_files() to change it.")
        if existing is not None:
            stored = F.coerce_atom(existing, value, path)
            self._submit((O.ASSIGN, path, existing, stored))
            return
        found = F.atom_of(value)
        if found is None:
            warn_once(f"'{path}': a value of type {type(value).__name__} is not supported and was "
                      "skipped; convert it (e.g. str(value)) or use stringify_unsupported().",
                      F.NaiadUnsupportedType)
            return
        ftype, stored = found
        if ftype == F.FLOAT and not math.isfinite(stored):
            self._skip_non_finite(path, stored)
            return
        stored = F.check_atom(ftype, stored, path)
        self._define(path, ftype)
        self._submit((O.ASSIGN, path, ftype, stored))

    def _assign_value_object(self, path: str, value: T.Value, existing: str | None) -> None:
        handle = self[path]
        if isinstance(value, T.StringSet):
            if existing is not None and existing != F.STRING_SET:
                self._define(path, F.STRING_SET)  # raises the type error
            if existing == F.STRING_SET:
                handle.clear()
            handle.add(value.values)
        elif isinstance(value, (T.FloatSeries, T.StringSeries, T.FileSeries)):
            if existing is not None:
                handle.clear()
            if value.values:
                handle.extend(value.values, steps=value.steps, timestamps=value.timestamps)
        elif isinstance(value, T.FileSet):
            handle._upload_files(value.file_globs, reset=True, wait=False)
        elif isinstance(value, T.Artifact):
            raise FieldTypeError("an Artifact is created by track_files(); it cannot be assigned.")
        elif isinstance(value, (T.Float, T.Integer, T.Boolean, T.String, T.Datetime)):
            stored = value.value
            if isinstance(value, T.Datetime):
                stored = F.datetime_to_epoch(value.value)
            ftype = value.type_name
            stored = F.check_atom(ftype, stored, path)
            self._define(path, ftype)
            self._submit((O.ASSIGN, path, ftype, stored))

    def _journal_append(self, record: bytes) -> None:
        """A record the journal's current segment had no room for (or the run is stopped)."""
        self._check_writable()
        assert self._writer is not None
        self._writer.journal.append(record)

    def _writer_overdue(self) -> None:
        if self._writer is not None:
            self._writer.flush_if_overdue()

    def _skip_non_finite(self, path: str, value: float) -> None:
        warn_once(f"'{path}': {value} cannot be stored and was skipped (NaN and infinity are not "
                  "kept; log a string or a sentinel value instead).", F.NaiadUnsupportedValue)

    def _check_step(self, path: str, step: Any, last: float) -> float | None:
        """The step as a float, or None when the point is dropped: a step not above the last one (a
        logger that logs ``epoch`` twice at one step) warns once per series and counts in
        ``sys/errors``; the run goes on.  ``NAIAD_STRICT`` raises StepOrderError instead."""
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            raise InvalidValueError(f"step for '{path}' must be an int or float (was "
                                    f"{type(step).__name__}).")
        step = float(step)
        if not math.isfinite(step):
            raise InvalidValueError(f"step for '{path}' must be finite (was {step}).")
        if step <= last:
            message = (f"step {step:g} for '{path}' is not above the last step {last:g}: steps must strictly "
                       "increase. Pass a larger step, or omit step= to use the last step + 1.")
            if SETTINGS.strict.get():
                raise StepOrderError(message)
            if path not in self._step_warned:  # once per series (warn_once keys on the text)
                self._step_warned.add(path)
                warn_once(f"'{path}': a point whose step is not above the series' last step was dropped (the "
                          f"first: step {step:g} after {last:g}); each one is counted in sys/errors. Set "
                          "NAIAD_STRICT=1 to raise instead.", StepOrderWarning)
            self._submit((O.ERROR, "", f"point dropped: {message}"))
            return None
        return step

    def _append_slow(self, path: str, value: Any, step: Any, timestamp: Any, kwargs: dict[str, Any]) -> None:
        self._check_writable()
        if isinstance(value, dict):
            for key, sub in value.items():
                self._append_slow(F.join_path(path, str(key)), sub, step, timestamp, kwargs)
            return
        if isinstance(value, T.StringifyValue):
            inner = value.value
            value = inner if value_kind_for_append(inner) == F.FLOAT_SERIES else str(inner)
        existing = self._types.get(path)
        kind = existing if existing in F.SERIES else value_kind_for_append(value)
        if kind is None:
            if existing is not None:
                raise FieldTypeError(f"field '{path}' is {existing}; append() needs a series field.")
            warn_once(f"'{path}': append() cannot take a {type(value).__name__} (lists are not spread "
                      "into points; use extend()); the value was skipped.", F.NaiadUnsupportedType)
            return
        if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, (int, float))):
            raise InvalidValueError(f"timestamp for '{path}' must be Unix seconds as an int or float.")
        self._extend(path, [value], None if step is None else [step],
                     None if timestamp is None else [timestamp])

    def _extend(self, path: str, values: Any, steps: Any, timestamps: Any) -> None:
        if not isinstance(values, (list, tuple, set, frozenset)):
            if hasattr(values, "tolist") and getattr(values, "ndim", 1) == 1:
                values = values.tolist()
            else:
                raise InvalidValueError(f"extend() on '{path}' needs a list or tuple of values "
                                        f"(was {type(values).__name__}).")
        values = list(values)
        if not values:
            return
        n = len(values)
        for name, given in (("steps", steps), ("timestamps", timestamps)):
            if given is not None and len(given) != n:
                raise InvalidValueError(f"extend() on '{path}': {n} values but {len(given)} {name}.")
        existing = self._types.get(path)
        kind = existing if existing in F.SERIES else value_kind_for_append(values[0])
        if kind is None or (existing is not None and existing not in F.SERIES):
            if existing is not None:
                raise FieldTypeError(f"field '{path}' is {existing}; points can only be appended to a "
                                     "series (delete the field first to make it a series).")
            warn_once(f"'{path}': cannot make a series of {type(values[0]).__name__} values; skipped.",
                      F.NaiadUnsupportedType)
            return
        if kind == F.FLOAT_SERIES and steps is None and self._writer is not None and self._extend_array(
                path, values, timestamps):
            return
        clean = self._coerce_points(path, kind, values)
        keep = [i for i, v in enumerate(clean) if v is not None]
        st = self._series.get(path)
        last = st.last_step if st is not None else -math.inf
        if steps is None:
            base = 0.0 if last == -math.inf else last + 1.0
            step_list = [base + i for i in range(len(keep))]
        else:
            step_list = []
            kept = []
            prev = last
            for i in keep:
                checked = self._check_step(path, steps[i], prev)
                if checked is None:  # dropped (warned, counted)
                    continue
                prev = checked
                kept.append(i)
                step_list.append(prev)
            keep = kept
        now = time.time()
        ts_list = [now] * len(keep) if timestamps is None else [float(timestamps[i]) for i in keep]
        if not keep:
            return
        if self._writer is None:
            self._submit((O.POINTS, path))  # read-only: warns once, stores nothing
            return
        self._define(path, kind)
        if kind == F.FILE_SERIES:
            self._submit((UPLOAD_POINTS, path, [clean[i] for i in keep], step_list, ts_list))
            if st is None:
                st = self._series_state(path, kind)
            st.last_step = step_list[-1]
            return
        if st is None:
            st = self._series_state(path, kind)
        points: Any = [clean[i] for i in keep]
        if kind == F.FLOAT_SERIES:
            points = np.array(points, dtype=np.float64)
        st.last_step = step_list[-1]
        self._writer.submit((O.POINTS, path, kind, np.array(step_list, dtype=np.float64),
                             np.array(ts_list, dtype=np.float64), points))
        if self._mode == "sync":
            self._writer.check_errors()

    def _extend_array(self, path: str, values: list[Any], timestamps: Any) -> bool:
        """``extend`` of plain numbers, vectorised; False when the values need the careful path."""
        arr = np.array(values)
        if arr.ndim != 1 or arr.dtype.kind not in "fiub":
            return False
        arr = arr.astype(np.float64)
        ts = (np.full(len(arr), time.time()) if timestamps is None
              else np.array(timestamps, dtype=np.float64))
        finite = np.isfinite(arr)
        if not finite.all():
            self._skip_non_finite(path, float(arr[~finite][0]))
            arr, ts = arr[finite], ts[finite]
        if not len(arr):
            return True
        self._define(path, F.FLOAT_SERIES)
        st = self._series.get(path) or self._series_state(path, F.FLOAT_SERIES)
        base = 0.0 if st.last_step == -math.inf else st.last_step + 1.0
        steps = base + np.arange(len(arr), dtype=np.float64)
        assert self._writer is not None
        self._writer.submit_points(path, F.FLOAT_SERIES, steps, ts, arr)
        st.last_step = float(steps[-1])
        if self._mode == "sync":
            self._writer.check_errors()
        return True

    def _coerce_points(self, path: str, kind: str, values: list[Any]) -> list[Any]:
        out: list[Any] = []
        if kind == F.FLOAT_SERIES:
            for v in values:
                if isinstance(v, (str, list, tuple, dict)) or v is None:
                    raise InvalidValueError(
                        f"'{path}' is a float series; {v!r} is not a number. Convert it with float(), "
                        "or log text to another path (a string series).")
                try:
                    f = float(v)
                except (TypeError, ValueError):
                    raise InvalidValueError(f"'{path}' is a float series; {v!r} is not a number.") from None
                if not math.isfinite(f):
                    self._skip_non_finite(path, f)
                    out.append(None)
                else:
                    out.append(f)
        elif kind == F.STRING_SERIES:
            for v in values:
                if not isinstance(v, str):
                    raise FieldTypeError(f"'{path}' is a string series; {v!r} is not a str. Use str(v) "
                                         "or log numbers to another path.")
                v = F.clean_text(v, path, keep_nul=True)  # a series' points are binary chunks
                if len(v) > F.MAX_SERIES_STRING_LENGTH:
                    warn_once(f"'{path}': entries longer than {F.MAX_SERIES_STRING_LENGTH} characters are "
                              "truncated.", F.NaiadUnsupportedValue)
                    v = v[: F.MAX_SERIES_STRING_LENGTH]
                out.append(v)
        else:
            for v in values:
                file = to_file(v)
                check_readable(file)
                out.append(file)
        return out

    def _set_values(self, path: str, values: Any) -> list[str]:
        if isinstance(values, str):
            return [F.clean_text(values, path)]
        if isinstance(values, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in values):
            return [F.clean_text(v, path) for v in values]
        raise InvalidValueError(f"'{path}': add()/remove() take a str or a list/set/tuple of str.")

    def _delete(self, path: str) -> None:
        self._check_writable()
        if path in F.READ_ONLY_SYS or path == "sys":
            raise ProtectedPathError(f"'{path}' is maintained by naiad and cannot be deleted.")
        hits = [p for p in self._types if p == path or p.startswith(path + "/") or not path]
        if not hits:
            raise MissingFieldError(f"there is no field or namespace '{path}' to delete.")
        for p in hits:
            self._unregister(p)
        self._submit((O.DELETE, path))

    def _store_read(self) -> Store:
        if self._state == "stopped":
            self._raise_inactive()
        if self._mode == "offline" or self._store is None or self._info is None:
            raise ConfigError(f"{self._label()} is in offline mode: nothing can be fetched until "
                              "`naiad sync` has stored it.")
        if self._writer is not None and self._state == "started":
            self._writer.wait()
        return self._store

    def _read_type(self, path: str) -> str | None:
        self._store_read()
        ftype = self._types.get(path)
        if ftype is None and path not in self._namespaces:
            self.sync(wait=False)
            ftype = self._types.get(path)
            if ftype is None and path not in self._namespaces and path:
                raise MissingFieldError(f"there is no field '{path}' in {self._label()}.")
        return ftype

    def _require_read(self, path: str, types: tuple[str, ...], method: str) -> str:
        self._read_type(path)
        return self._require(path, types, method)

    def _read_values(self, paths: list[str]) -> dict[str, FieldValue]:
        values = self._store_read().read_fields(self._uuid, paths)
        for p in paths:
            if p not in values:
                raise MissingFieldError(f"there is no field '{p}' in {self._label()}.")
        return values

    @staticmethod
    def _python_value(ftype: str, value: Any) -> Any:
        if ftype == F.DATETIME and value is not None:
            return _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc)
        return value

    def _fetch_namespace(self, path: str) -> dict[str, Any]:
        values = self._store_read().read_fields(self._uuid, None)
        out: dict[str, Any] = {}
        prefix = path + "/" if path else ""
        for full, fv in values.items():
            if not full.startswith(prefix) or (fv.type not in F.ATOMS and fv.type != F.STRING_SET):
                continue
            node = out
            parts = full[len(prefix):].split("/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = self._python_value(fv.type, fv.value)
        return out
