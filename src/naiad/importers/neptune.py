"""Import what ``neptune-exporter`` wrote: Parquet files of every run's values, plus their files.

Layout read (``neptune-exporter export --data-path DATA --files-path FILES``)::

    DATA/<project folder>/<run_id>_part_<n>.parquet     one row per value (see COLUMNS)
    FILES/<project folder>/…                            files, by ``file_value.path``

Every run becomes a naiad run in the project named by its ``project_id`` (or ``--project``), found
again by ``custom_run_id = "neptune/<run_id>"``, so importing twice changes nothing.  Mapping:

=====================  ====================================================================
neptune type           naiad field
=====================  ====================================================================
float int string bool  Float Integer String Boolean (same path)
datetime               Datetime
string_set             StringSet
float_series           FloatSeries, decimal steps kept (as float64), timestamps kept
string_series          StringSeries
histogram_series       StringSeries of JSON ``{"type", "edges", "values"}`` (no histogram type yet)
file / file_series     File / FileSeries, bytes copied into the blob store
=====================  ====================================================================

``sys/name``, ``sys/description``, ``sys/tags`` and ``sys/failed`` keep their place; every other
``sys/`` value (neptune's id, times, owner, fork parent …) is kept under ``neptune/sys/…``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import ConfigError, FileError, NaiadError
from naiad.importers.base import ImportReport, write_run
from naiad.store.base import Store

SYS_KEPT = {"sys/name", "sys/description", "sys/tags", "sys/failed"}
MARKER = "neptune/imported_from"


def run_parts(data_path: Path) -> dict[tuple[str, str], list[Path]]:
    """Parquet parts grouped by (project folder, run_id)."""
    if not data_path.is_dir():
        raise FileError(f"{data_path} is not a folder; give the --data-path that neptune-exporter wrote.")
    groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for part in sorted(data_path.rglob("*.parquet")):
        stem = part.stem
        run_id = stem.rsplit("_part_", 1)[0] if "_part_" in stem else stem
        groups[(str(part.parent.relative_to(data_path)), run_id)].append(part)
    for parts in groups.values():
        parts.sort(key=lambda p: int(p.stem.rsplit("_part_", 1)[1]) if "_part_" in p.stem else 0)
    return dict(groups)


def _rows(parts: list[Path]) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for part in parts:
        for batch in pq.ParquetFile(part).iter_batches(batch_size=65536):
            yield from batch.to_pylist()


def _target_path(path: str) -> str:
    if path.startswith("sys/") and path not in SYS_KEPT:
        return "neptune/" + path
    return path


def _epoch(value: Any) -> float:
    if hasattr(value, "timestamp"):
        if getattr(value, "tzinfo", None) is None:  # the exporter writes UTC
            import datetime as _dt

            value = value.replace(tzinfo=_dt.timezone.utc)
        return float(value.timestamp())
    return float(value)


class _RunImport:
    """Turns one run's rows into ops, series by series."""

    def __init__(self, files_root: Path | None, blobs: Any, report: ImportReport, run_label: str) -> None:
        self.files_root = files_root
        self.blobs = blobs
        self.report = report
        self.label = run_label
        self.ops: list[O.Op] = []
        self.series: dict[tuple[str, str], list[tuple[float, float, Any]]] = defaultdict(list)
        self.sys_values: dict[str, Any] = {}

    def problem(self, text: str) -> None:
        self.report.problems.append(f"{self.label}: {text}")

    def add(self, row: dict[str, Any]) -> None:
        kind = row.get("attribute_type")
        path = F.normalize_path(row["attribute_path"])
        target = _target_path(path)
        if path.startswith("sys/"):
            self.sys_values[path] = row
        step = row.get("step")
        step_f = float(step) if step is not None else math.nan
        ts = row.get("timestamp")
        ts_f = _epoch(ts) if ts is not None else math.nan
        if kind == "float":
            value = row.get("float_value")
            if value is not None and math.isfinite(value):
                self.ops.append((O.ASSIGN, target, F.FLOAT, float(value)))
        elif kind == "int":
            self.ops.append((O.ASSIGN, target, F.INTEGER, int(row["int_value"])))
        elif kind == "string":
            self.ops.append((O.ASSIGN, target, F.STRING, str(row["string_value"])))
        elif kind == "bool":
            self.ops.append((O.ASSIGN, target, F.BOOLEAN, bool(row["bool_value"])))
        elif kind == "datetime":
            self.ops.append((O.ASSIGN, target, F.DATETIME, _epoch(row["datetime_value"])))
        elif kind == "string_set":
            self.ops.append((O.ADD, target, [str(v) for v in (row.get("string_set_value") or [])]))
        elif kind == "float_series":
            value = row.get("float_value")
            if value is None or not math.isfinite(value):
                self.problem(f"'{path}' step {step}: non-finite value {value} skipped")
            else:
                self.series[(target, F.FLOAT_SERIES)].append((step_f, ts_f, float(value)))
        elif kind == "string_series":
            self.series[(target, F.STRING_SERIES)].append((step_f, ts_f, str(row.get("string_value"))))
        elif kind == "histogram_series":
            hist = row.get("histogram_value") or {}
            self.series[(target, F.STRING_SERIES)].append(
                (step_f, ts_f, json.dumps({"type": hist.get("type"), "edges": hist.get("edges"),
                                           "values": hist.get("values")}, separators=(",", ":"))))
        elif kind in ("file", "file_series"):
            ref = self._file(path, row)
            if ref is None:
                return
            if kind == "file":
                self.ops.append((O.ASSIGN, target, F.FILE, ref))
            else:
                self.series[(target, F.FILE_SERIES)].append((step_f, ts_f, json.dumps(ref)))
        else:
            self.problem(f"'{path}': attribute type {kind!r} is not known; skipped")

    def _file(self, path: str, row: dict[str, Any]) -> dict[str, Any] | None:
        rel = (row.get("file_value") or {}).get("path")
        if not rel:
            self.problem(f"'{path}': a file row without file_value.path; skipped")
            return None
        if self.files_root is None:
            self.problem(f"'{path}': no --files-path given; file {rel} skipped")
            return None
        full = self.files_root / rel
        if not full.is_file():
            self.problem(f"'{path}': file {full} is missing; skipped")
            return None
        digest, size = self.blobs.put_file(full)
        return {"hash": digest, "size": size, "ext": full.suffix.lstrip("."), "name": full.name}

    def finish(self) -> list[O.Op]:
        ops = list(self.ops)
        for (path, ftype), points in self.series.items():
            points.sort(key=lambda p: (math.isnan(p[0]), p[0]))
            steps = np.array([p[0] for p in points], dtype=np.float64)
            if np.isnan(steps).any():  # no step: number the points
                steps = np.arange(len(points), dtype=np.float64)
            keep = np.concatenate([[True], np.diff(steps) > 0])  # repeated steps: the first one wins
            if not keep.all():
                self.problem(f"'{path}': {int((~keep).sum())} point(s) with a repeated step skipped")
            ts = np.array([p[1] for p in points], dtype=np.float64)
            ts = np.where(np.isnan(ts), 0.0, ts)
            values: Any = [p[2] for p, k in zip(points, keep, strict=True) if k]
            if ftype == F.FLOAT_SERIES:
                values = np.array(values, dtype=np.float64)
            ops.append((O.POINTS, path, ftype, steps[keep], ts[keep], values))
        return ops


def import_neptune(store: Store, data_path: str | Path, files_path: str | Path | None = None, *,
                   project: str | None = None, progress: Callable[[str], None] | None = None) -> ImportReport:
    """Import every run under ``data_path`` into ``store``; runs imported before are skipped."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("importing neptune exports needs pyarrow: pip install \"naiad[import]\"") from None
    data_root = Path(data_path)
    files_base = Path(files_path) if files_path is not None else None
    report = ImportReport()
    for (folder, run_id), parts in sorted(run_parts(data_root).items()):
        label = f"{folder}/{run_id}"
        if progress is not None:
            progress(label)
        try:
            _import_run(store, parts, folder, run_id, files_base, project, report)
        except (NaiadError, OSError, ValueError, KeyError) as exc:  # one broken run never stops the rest
            report.problems.append(f"{label}: not imported ({exc})")
    return report


def _import_run(store: Store, parts: list[Path], folder: str, run_id: str, files_base: Path | None,
                project: str | None, report: ImportReport) -> None:
    label = f"{folder}/{run_id}"
    files_root = (files_base / folder) if files_base is not None else None
    job = _RunImport(files_root, store.blobs, report, label)
    project_id = None
    for row in _rows(parts):
        project_id = project_id or row.get("project_id")
        job.add(row)
    created = job.sys_values.get("sys/creation_time", {}).get("datetime_value")
    write_run(store, report, project=project or project_id or folder, source_id=f"neptune/{run_id}",
              marker=MARKER, label=f"{project_id or folder}/{run_id}", ops=job.finish(),
              created=_epoch(created) if created is not None else None,
              owner=str(job.sys_values.get("sys/owner", {}).get("string_value") or ""))


__all__ = ["ImportReport", "import_neptune"]
