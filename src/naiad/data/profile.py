"""Data profiles: what drift is measured against, small enough to store with a model version.

A :class:`Profile` holds, per column: the count, the missing count and either (numeric) the exact
mean and variance plus a KLL quantile sketch (Apache DataSketches, k=400: ranks within about 0.7 %),
or (categorical) a frequent-items sketch (exact up to about 750 distinct values).  Profiles are built
in one streaming pass — a DataFrame, a CSV read in chunks, Parquet read batch by batch — and two
profiles of the same columns merge into the profile of both (``a.merge(b)``), so a service can
profile each batch it serves and a large file never has to fit in memory.

Stored as JSON (``naiad-profile/1``) with the sketches in base64.
"""

from __future__ import annotations

import base64
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from naiad.errors import ConfigError, FileError, InvalidValueError

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "naiad-profile/1"
KLL_K = 400
FREQ_LG_MAP = 10  # frequent items: a map of 2^10 slots, exact while distinct values ≤ 0.75 × 1024
CHUNK_ROWS = 200_000  # CSV rows per chunk
COLUMN_GROUP = 16  # Parquet columns read together


def _ds() -> Any:
    try:
        import datasketches
    except ImportError:
        raise ConfigError("profiles and drift need Apache DataSketches: pip install \"naiad[monitor]\"") from None
    return datasketches


@dataclass
class ColumnProfile:
    name: str
    kind: str  # numeric | categorical
    count: int = 0  # non-missing values
    missing: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations (Chan et al.'s mergeable form)
    sketch: Any = None

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0

    def update(self, values: pd.Series) -> None:
        import pandas as pd

        ds = _ds()
        isna = values.isna().to_numpy()
        self.missing += int(isna.sum())
        present = values[~isna]
        if not len(present):
            return
        if self.kind == "numeric":
            arr = _as_float(present)
            n_b, mean_b = len(arr), float(arr.mean())
            m2_b = float(((arr - mean_b) ** 2).sum())
            n = self.count + n_b
            delta = mean_b - self.mean
            self.mean += delta * n_b / n
            self.m2 += m2_b + delta * delta * self.count * n_b / n
            self.count = n
            if self.sketch is None:
                self.sketch = ds.kll_doubles_sketch(KLL_K)
            self.sketch.update(np.require(arr, dtype=np.float64, requirements=["C", "W"]))
        else:
            if self.sketch is None:
                self.sketch = ds.frequent_strings_sketch(FREQ_LG_MAP)
            counts = pd.Series(present.astype(str)).value_counts()
            for value, c in counts.items():
                self.sketch.update(str(value), int(c))
            self.count += len(present)

    def merge(self, other: ColumnProfile) -> None:
        if self.count == 0 and self.sketch is None:  # nothing but missing values so far: the other says the kind
            self.kind = other.kind
        if other.count == 0 and other.sketch is None:
            self.missing += other.missing
            return
        if other.kind != self.kind:
            raise InvalidValueError(f"column {self.name!r} is {self.kind} in one profile and {other.kind} in the "
                                    "other; profiles merge only column by column of the same kind.")
        self.missing += other.missing
        if other.count == 0:
            return
        if self.kind == "numeric":
            n = self.count + other.count
            delta = other.mean - self.mean
            self.m2 += other.m2 + delta * delta * self.count * other.count / n
            self.mean += delta * other.count / n
        self.count += other.count
        if self.sketch is None:
            self.sketch = _copy_sketch(self.kind, other.sketch)
        else:
            self.sketch.merge(other.sketch)

    # ------------------------------------------------------------------ reads
    def rank_error(self) -> float:
        """The sketch's bound on the error of a rank (0 while it still holds every value; 0 for categories)."""
        if self.kind != "numeric" or self.sketch is None or not self.sketch.is_estimation_mode():
            return 0.0
        return float(self.sketch.normalized_rank_error(False))

    def quantiles(self, qs: np.ndarray) -> np.ndarray:
        return np.asarray(self.sketch.get_quantiles(list(map(float, qs))), dtype=float)

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """F(x) = share of values ≤ x at each (sorted) point."""
        return np.asarray(self.sketch.get_cdf(list(map(float, points)), True)[:-1], dtype=float)

    def frequencies(self) -> dict[str, int]:
        ds = _ds()
        if self.sketch is None:
            return {}
        items = self.sketch.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        return {str(item): int(est) for item, est, *_ in items}

    # ------------------------------------------------------------------ storage
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "count": self.count, "missing": self.missing}
        if self.kind == "numeric":
            out.update(mean=self.mean, m2=self.m2)
            if self.sketch is not None:
                qs = self.quantiles(np.linspace(0.1, 0.9, 9))
                out["deciles"] = [float(q) for q in qs]
        else:
            top = sorted(self.frequencies().items(), key=lambda kv: -kv[1])[:20]
            out["top"] = dict(top)
        if self.sketch is not None:
            out["sketch"] = base64.b64encode(self.sketch.serialize()).decode()
        return out

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> ColumnProfile:
        ds = _ds()
        col = cls(name, data["kind"], int(data["count"]), int(data["missing"]), float(data.get("mean", 0.0)),
                  float(data.get("m2", 0.0)))
        raw = data.get("sketch")
        if raw:
            kind = ds.kll_doubles_sketch if col.kind == "numeric" else ds.frequent_strings_sketch
            col.sketch = kind.deserialize(base64.b64decode(raw))
        return col


def _copy_sketch(kind: str, sketch: Any) -> Any:
    ds = _ds()
    cls = ds.kll_doubles_sketch if kind == "numeric" else ds.frequent_strings_sketch
    return cls.deserialize(sketch.serialize())


def _as_float(values: pd.Series) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):  # any resolution (ns, us, ms, s), with or without a zone
        return (values - pd.Timestamp(0, tz=values.dt.tz)).dt.total_seconds().to_numpy(dtype=float)
    return values.to_numpy(dtype=float)


def column_kind(values: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return "categorical"
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return "numeric"
    return "categorical"


@dataclass
class Profile:
    """Per-column profiles of a dataset (or of many batches of one)."""

    rows: int = 0
    columns: dict[str, ColumnProfile] = field(default_factory=dict)

    def update(self, frame: pd.DataFrame) -> Profile:
        """Add a batch of rows (columns not seen before are added)."""
        self._add_columns(frame)
        self._count_rows(len(frame), {str(c) for c in frame.columns})
        return self

    def _count_rows(self, n: int, present: set[str]) -> None:
        """``n`` more rows were added, with values for the columns in ``present`` only."""
        for key, col in self.columns.items():
            if key not in present:
                col.missing += n
        self.rows += n

    def _add_columns(self, frame: pd.DataFrame) -> None:
        """The values of some columns of a batch (its rows are counted by ``_count_rows``)."""
        for name in frame.columns:
            key = str(name)
            values = frame[name]
            if key not in self.columns:
                self.columns[key] = ColumnProfile(key, column_kind(values))
                self.columns[key].missing += self.rows  # rows before the column appeared lacked it
            col = self.columns[key]
            present = int(values.notna().sum())
            if present == 0:  # a batch with no values here (all None) says nothing of the column's kind
                col.missing += len(values)
                continue
            kind = column_kind(values.dropna().infer_objects() if values.dtype == object else values)
            if col.count == 0 and col.sketch is None:
                col.kind = kind
            elif col.kind == "numeric" and kind != "numeric":
                raise InvalidValueError(f"column {key!r} was numeric and now holds {values.dtype} values.")
            col.update(values)

    def merge(self, other: Profile) -> Profile:
        """Fold ``other`` in: the result profiles the rows of both."""
        for key, col in other.columns.items():
            if key in self.columns:
                self.columns[key].merge(col)
            else:
                mine = ColumnProfile(key, col.kind, missing=self.rows)
                mine.merge(col)
                self.columns[key] = mine
        for key, col in self.columns.items():
            if key not in other.columns:
                col.missing += other.rows
        self.rows += other.rows
        return self

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "rows": self.rows,
                "columns": {k: c.to_json() for k, c in self.columns.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        if data.get("format") != FORMAT:
            raise InvalidValueError(f"not a naiad profile (format {data.get('format')!r}, expected {FORMAT}).")
        return cls(int(data["rows"]), {k: ColumnProfile.from_json(k, v) for k, v in data["columns"].items()})


def _files(data: Any) -> list[Path]:
    if not isinstance(data, (str, os.PathLike)):
        raise InvalidValueError(f"data must be a DataFrame or a CSV/Parquet path (was {type(data).__name__}).")
    path = Path(data)
    if not path.exists():
        raise FileError(f"{os.fspath(path)!r}: no such file or folder.")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    usable = [f for f in files if f.suffix.lower() in (".parquet", ".pq", ".csv", ".tsv")]
    if not path.is_dir() and not usable:
        raise FileError(f"{os.fspath(path)!r}: only .csv, .tsv and .parquet files can be profiled.")
    return usable


def _parquet(out: Profile, path: Path, columns: list[str] | None) -> None:
    """Row group by row group, a few columns at a time, handing memory back after each row group: the
    peak stays near one row group's share of a column group, whatever the file's size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pool = pa.default_memory_pool()
    f = pq.ParquetFile(path, pre_buffer=False)
    names = [n for n in f.schema_arrow.names if columns is None or n in columns]
    for group in range(f.num_row_groups):
        for start in range(0, len(names), COLUMN_GROUP):
            table = f.read_row_group(group, columns=names[start:start + COLUMN_GROUP])
            out._add_columns(table.to_pandas(split_blocks=True, self_destruct=True))
            del table
        out._count_rows(f.metadata.row_group(group).num_rows, set(names))
        pool.release_unused()


def profile(data: Any, columns: list[str] | None = None) -> Profile:
    """The profile of a DataFrame or of CSV / Parquet files (one streaming pass, bounded memory)."""
    import pandas as pd

    out = Profile()
    if isinstance(data, pd.DataFrame):
        return out.update(data if columns is None else data[columns])
    for f in _files(data):
        if f.suffix.lower() in (".parquet", ".pq"):
            _parquet(out, f, columns)
        else:
            for chunk in pd.read_csv(f, sep="\t" if f.suffix.lower() == ".tsv" else ",", chunksize=CHUNK_ROWS,
                                     usecols=columns):
                out.update(chunk)
    return out
