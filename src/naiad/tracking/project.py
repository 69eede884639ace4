"""``naiad.init_project(...)``: project-level fields and the runs table.

>>> project = naiad.init_project(project="defects", mode="read-only")
>>> df = project.fetch_runs_table(query="last(val/acc) > 0.9", columns=["parameters/lr"]).to_pandas()
"""

from __future__ import annotations

import datetime as _dt
import uuid as _uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from naiad.core import fields as F
from naiad.errors import ConfigError, InvalidValueError
from naiad.store.base import MODEL, RUN, FieldValue, TableResult
from naiad.tracking.container import Container, check_str_list, resolve_mode, resolve_project, store_for

if TYPE_CHECKING:
    import pandas as pd

    from naiad.tracking.datasets import DatasetDiff


class Project(Container):
    """A project: its own fields (``project["notes"] = ...``) and tables of its runs."""

    _kind = "project"

    def __init__(self, project: str | None = None, *, api_token: str | None = None,
                 mode: str | None = None, flush_period: float | None = None, proxies: Any = None,
                 async_lag_callback: Any = None, async_lag_threshold: float = 1800.0,
                 async_no_progress_callback: Any = None, async_no_progress_threshold: float = 300.0) -> None:
        super().__init__()
        mode = resolve_mode(mode)
        if mode == "offline":
            raise ConfigError("a project cannot be opened in offline mode; use mode=\"async\" or "
                              "\"read-only\".")
        name = resolve_project(project)
        store, root = store_for(mode)
        self._project = store.get_project(name) if mode == "read-only" else store.get_or_create_project(name)
        self._table_store = store
        uid = _uuid.uuid5(_uuid.NAMESPACE_URL, f"naiad-project:{self._project.name}").hex
        if mode == "read-only":
            try:
                info = store.get_container(uuid=uid)
            except Exception:
                info = None
        else:
            info = store.create_container(self._project.name, "project", uid)
        period = 1.0 if flush_period is None else float(flush_period)
        self._open(store, info, uid, mode, period, root / "oplog", store.blobs)

    @property
    def name(self) -> str:
        return self._project.name

    @property
    def key(self) -> str:
        return self._project.key

    def _label(self) -> str:
        return f"project {self._project.name}"

    def fetch_runs_table(
        self, *, query: str | None = None, id: str | list[str] | None = None,
        state: str | list[str] | None = None, owner: str | list[str] | None = None,
        tag: str | list[str] | None = None, columns: list[str] | None = None,
        trashed: bool | None = False, limit: int | None = None, sort_by: str = "sys/creation_time",
        ascending: bool = False, progress_bar: Any = None,
    ) -> Table:
        """Runs of the project as a :class:`Table` — filtered by ``query`` (NQL) or by id/state/owner/tag.

        ``columns`` lists field paths (a namespace takes every field under it); ``sys/id`` and the
        sort column are always included.  Without ``columns`` every field is returned.
        """
        if query is not None and any(v is not None for v in (id, state, owner, tag)):
            raise ValueError("give either query= or the id/state/owner/tag filters, not both.")
        if limit is not None and (not isinstance(limit, int) or limit <= 0):
            raise ValueError(f"limit must be a positive int (was {limit!r}).")
        clauses = []
        if query is not None and query.strip():
            clauses.append(f"({query})")
        for path, typ, op, values, join in (
            ("sys/id", "string", "=", check_str_list("id", id), " OR "),
            ("sys/owner", "string", "=", check_str_list("owner", owner), " OR "),
            ("sys/tags", "stringSet", "CONTAINS", check_str_list("tag", tag), " AND "),
        ):
            if values:
                clauses.append("(" + join.join(f'(`{path}`:{typ} {op} {_quoted(v)})' for v in values) + ")")
        states = check_str_list("state", state)
        if states:
            for s in states:
                if s.lower() not in ("active", "inactive", "running", "finished", "failed", "crashed"):
                    raise ValueError(f"state must be 'active' or 'inactive' (was {s!r}).")
            clauses.append("(" + " OR ".join(f'(`sys/state`:experimentState = "{s}")' for s in states) + ")")
        if trashed is not None:
            clauses.append(f"(`sys/trashed`:bool = {'true' if trashed else 'false'})")
        store = self._table_store
        if self._state == "stopped":
            self._raise_inactive()
        result = store.query_table(self._project.name, RUN, query=" AND ".join(clauses) or None,
                                   columns=None if columns is None else list(columns),
                                   sort_by=sort_by, ascending=ascending, limit=limit)
        return Table(result)


    def fetch_models_table(
        self, *, query: str | None = None, columns: list[str] | None = None, trashed: bool | None = False,
        limit: int | None = None, sort_by: str = "sys/creation_time", ascending: bool = False,
        progress_bar: Any = None,
    ) -> Table:
        """The project's models as a :class:`Table` (``sys/id`` is ``DEF-CLS``)."""
        if limit is not None and (not isinstance(limit, int) or limit <= 0):
            raise ValueError(f"limit must be a positive int (was {limit!r}).")
        clauses = [f"({query})"] if query is not None and query.strip() else []
        if trashed is not None:
            clauses.append(f"(`sys/trashed`:bool = {'true' if trashed else 'false'})")
        if self._state == "stopped":
            self._raise_inactive()
        result = self._table_store.query_table(self._project.name, MODEL, query=" AND ".join(clauses) or None,
                                               columns=None if columns is None else list(columns),
                                               sort_by=sort_by, ascending=ascending, limit=limit)
        return Table(result)

    # ------------------------------------------------------------------ datasets
    def fetch_dataset_versions(self) -> pd.DataFrame:
        """Every dataset version (tracked Artifact) seen in the project, oldest first: hash, files, size,
        first_seen, roles, and the runs and model versions that used it."""
        from naiad.tracking.datasets import versions_frame

        return versions_frame(self._table_store.dataset_uses(self._project.name))

    def fetch_dataset_uses(self, hash: str | None = None) -> pd.DataFrame:
        """Each use of a dataset version (of those whose hash starts with ``hash``): which container, which
        field, and in which role (train / validation / test / production sample)."""
        from naiad.tracking.datasets import uses_frame

        return uses_frame(self._table_store.dataset_uses(self._project.name, hash))

    def diff_datasets(self, a: str, b: str) -> DatasetDiff:
        """Files added, removed and changed from dataset version ``a`` to ``b``; each is a hash (prefix) or
        ``RUN-ID:field/path``."""
        from naiad.tracking.datasets import diff_manifests, resolve

        hash_a, files_a = resolve(self._table_store, self._project.name, a)
        hash_b, files_b = resolve(self._table_store, self._project.name, b)
        return diff_manifests(files_a, files_b, name_a=hash_a, name_b=hash_b)

    def download_dataset(self, ref: str, destination: str = ".") -> str:
        """Recreate dataset version ``ref`` (hash prefix or ``RUN-ID:field/path``) in ``destination``:
        files tracked with ``upload=True`` are copied from the store and hash-checked, others linked to (or,
        on S3, downloaded from) where they were tracked.  Returns the full hash."""
        from naiad.tracking.datasets import resolve
        from naiad.tracking.handler import _download_artifact

        digest, files = resolve(self._table_store, self._project.name, ref)
        _download_artifact(files, destination, self._table_store.blobs)
        return digest


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cell(fv: FieldValue) -> Any:
    if fv.type in (F.FILE, F.FILE_SET, F.FILE_SERIES):
        return None
    if fv.type == F.DATETIME and fv.value is not None:
        return _dt.datetime.fromtimestamp(fv.value, tz=_dt.timezone.utc).replace(tzinfo=None)
    if fv.type == F.STRING_SET:
        return ",".join(sorted(fv.value))
    if fv.type == F.ARTIFACT:
        return fv.value.get("hash") if fv.value else None
    return fv.value


_PLAIN = frozenset({F.FLOAT, F.INTEGER, F.BOOLEAN, F.STRING, F.FLOAT_SERIES, F.STRING_SERIES})


def _column(cells: list[FieldValue | None]) -> Any:
    """One DataFrame column from a table's cells: the values as they are where every cell's type needs
    no conversion, timestamps converted in one go, and cell by cell otherwise (as ``_cell`` says)."""
    types = {fv.type for fv in cells if fv is not None}
    if types <= _PLAIN:
        return [None if fv is None else fv.value for fv in cells]
    if types == {F.DATETIME}:
        import numpy as np

        seconds = np.array([np.nan if fv is None or fv.value is None else fv.value for fv in cells], dtype=float)
        # what datetime.fromtimestamp does to a float: whole seconds, and the fraction rounded half to even
        # to microseconds
        missing = np.isnan(seconds)
        frac, whole = np.modf(seconds)
        micros = np.where(missing, 0, whole * 1_000_000 + np.round(frac * 1_000_000)).astype(np.int64)
        out = micros.astype("datetime64[us]")
        out[missing] = np.datetime64("NaT")
        return out
    return [None if fv is None else _cell(fv) for fv in cells]


def _column_order(path: str) -> tuple[int, str]:
    if path.startswith("sys/"):
        return 0, path
    if path.startswith("monitoring/"):
        return 2, path
    return 1, path


class TableEntry:
    """One row of a :class:`Table`: ``entry["train/loss"].get()``."""

    def __init__(self, short_id: str, cells: dict[str, FieldValue]) -> None:
        self.id = short_id
        self._cells = cells

    def __getitem__(self, path: str) -> _Cell:
        return _Cell(self._cells.get(F.normalize_path(path)), path)

    def get_attribute_value(self, path: str) -> Any:
        return self[path].get()

    def get_attribute_type(self, path: str) -> str | None:
        fv = self._cells.get(F.normalize_path(path))
        return fv.type if fv is not None else None

    def __repr__(self) -> str:
        return f"<TableEntry {self.id}>"


class _Cell:
    def __init__(self, fv: FieldValue | None, path: str) -> None:
        self._fv = fv
        self._path = path

    def get(self) -> Any:
        if self._fv is None:
            return None
        if self._fv.type in (F.FILE, F.FILE_SET, F.FILE_SERIES):
            raise InvalidValueError(f"'{self._path}' is a {self._fv.type}; open the run to download it.")
        if self._fv.type == F.STRING_SET:
            return set(self._fv.value)
        return _cell(self._fv)


class Table:
    """Result of ``fetch_runs_table``: iterate over :class:`TableEntry` or convert with ``to_pandas()``.

    Unlike neptune's single-pass table, a naiad table can be iterated and converted any number of times.
    """

    def __init__(self, result: TableResult) -> None:
        self._result = result

    def __iter__(self) -> Iterator[TableEntry]:
        for short_id, cells in zip(self._result.ids, self._result.rows, strict=False):
            yield TableEntry(short_id, cells)

    def __len__(self) -> int:
        return len(self._result.ids)

    def to_rows(self) -> list[TableEntry]:
        return list(self)

    def to_pandas(self) -> pd.DataFrame:
        """One row per run, one column per field path (series → last value, sets → "a,b")."""
        import pandas as pd

        rows = self._result.rows
        if not self._result.ids:
            return pd.DataFrame()
        columns = sorted({p for row in rows for p, fv in row.items()
                          if fv.type not in (F.FILE, F.FILE_SET, F.FILE_SERIES)}, key=_column_order)
        return pd.DataFrame({col: _column([row.get(col) for row in rows]) for col in columns}, columns=columns)


init_project = Project
