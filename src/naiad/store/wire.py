"""How store objects cross HTTP: the one encoding shared by ``naiad server`` and the remote store.

JSON everywhere except bulk numbers: batches and series travel in the op log's binary batch format
(``application/x-naiad-batch``; :func:`naiad.core.ops.encode_batch`).  JSON has no NaN or infinity, so a
non-finite float is sent as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``; a ``StringSet``
is a sorted list.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store.base import (
    Buckets,
    ContainerInfo,
    DatasetUse,
    FieldValue,
    GateDecision,
    ProjectInfo,
    RegistryEvent,
    SeriesData,
    TableResult,
)

BATCH_MEDIA_TYPE = "application/x-naiad-batch"
_NUMERIC = (F.FLOAT, F.INTEGER, F.DATETIME, F.FLOAT_SERIES)
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def num_out(value: Any) -> Any:
    """A number for JSON: non-finite floats as "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def field_to_json(fv: FieldValue) -> dict[str, Any]:
    value = fv.value
    if isinstance(value, set):
        value = sorted(value)
    elif fv.type in _NUMERIC:
        value = num_out(value)
    out: dict[str, Any] = {"type": fv.type, "value": value}
    if fv.count is not None:
        out["count"] = fv.count
    if fv.stats is not None:
        out["min"], out["max"] = (num_out(x) for x in fv.stats)
    return out


def field_from_json(data: dict[str, Any]) -> FieldValue:
    ftype, value = data["type"], data.get("value")
    if ftype == F.STRING_SET:
        value = set(value or ())
    elif ftype in _NUMERIC and isinstance(value, str):
        value = _NONFINITE.get(value, value)
    fv = FieldValue(ftype, value, data.get("count"))
    if "min" in data:
        fv.stats = (_num_in(data["min"]), _num_in(data["max"]))
    return fv


def _num_in(value: Any) -> Any:
    return _NONFINITE.get(value, value) if isinstance(value, str) else value


def fields_to_json(fields: dict[str, FieldValue]) -> dict[str, Any]:
    return {path: field_to_json(fv) for path, fv in fields.items()}


def fields_from_json(data: dict[str, Any]) -> dict[str, FieldValue]:
    return {path: field_from_json(d) for path, d in data.items()}


def project_to_json(info: ProjectInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def project_from_json(data: dict[str, Any]) -> ProjectInfo:
    return ProjectInfo(int(data["id"]), data["name"], data["key"], float(data["created"]))


def container_to_json(info: ContainerInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def container_from_json(data: dict[str, Any]) -> ContainerInfo:
    return ContainerInfo(data["uuid"], data["short_id"], data["kind"], data["project"],
                         data.get("custom_run_id"), float(data["created"]), bool(data.get("is_new", False)))


def buckets_to_json(b: Buckets) -> dict[str, Any]:
    return {name: [num_out(float(x)) for x in getattr(b, name)]
            for name in ("step_lo", "step_hi", "min", "max", "first", "last")} | {
        "count": [int(x) for x in b.count]}


def buckets_from_json(data: dict[str, Any]) -> Buckets:
    def arr(name: str) -> np.ndarray:
        return np.array([_NONFINITE.get(x, x) if isinstance(x, str) else x for x in data[name]],
                        dtype=np.float64)

    return Buckets(arr("step_lo"), arr("step_hi"), arr("min"), arr("max"), arr("first"), arr("last"),
                   np.array(data["count"], dtype=np.int64))


def table_to_json(t: TableResult) -> dict[str, Any]:
    return {"columns": t.columns, "ids": t.ids, "rows": [fields_to_json(r) for r in t.rows]}


def table_to_columns(t: TableResult, columns: list[str], offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """A table in the column layout of ``SqlStore.table_columns`` (for stores without their own)."""
    end = len(t.ids) if limit is None else offset + limit
    ids, rows = t.ids[offset:end], t.rows[offset:end]
    n = len(ids)
    out: dict[str, dict[str, Any]] = {}
    for path in dict.fromkeys(F.normalize_path(c) for c in columns):
        col: dict[str, Any] = {"type": None, "values": [None] * n}
        types: list[Any] = [None] * n
        for i, row in enumerate(rows):
            fv = row.get(path)
            if fv is None:
                continue
            cell = field_to_json(fv)
            types[i] = fv.type
            col["type"] = col["type"] or fv.type
            col["values"][i] = cell["value"]
            for key in ("count", "min", "max"):
                if key in cell:
                    col.setdefault(key, [None] * n)[i] = cell[key]
        if len({x for x in types if x is not None}) > 1:
            col["types"] = types
        out[path] = col
    return {"total": len(t.ids), "offset": offset, "ids": ids, "columns": out}


def table_from_json(data: dict[str, Any]) -> TableResult:
    return TableResult(columns=list(data["columns"]), ids=list(data["ids"]),
                       rows=[fields_from_json(r) for r in data["rows"]])


def series_to_bytes(path: str, ftype: str, data: SeriesData) -> bytes:
    return O.encode_batch(Batch("", "", 0, [(O.POINTS, path, ftype, data.steps, data.timestamps, data.values)]))


def series_from_bytes(raw: bytes) -> SeriesData:
    op = O.decode_batch(raw).ops[0]
    values = op[5]
    return SeriesData(np.asarray(op[3], dtype=np.float64), np.asarray(op[4], dtype=np.float64),
                      values if isinstance(values, list) else np.asarray(values, dtype=np.float64))


def event_to_json(e: RegistryEvent) -> dict[str, Any]:
    return dataclasses.asdict(e)


def event_from_json(data: dict[str, Any]) -> RegistryEvent:
    return RegistryEvent(int(data["id"]), data["model"], data["version"], data["kind"], data["name"],
                         data.get("before"), data.get("after"), data.get("actor", ""), data.get("reason", ""),
                         float(data["at"]))


def decision_to_json(d: GateDecision) -> dict[str, Any]:
    return dataclasses.asdict(d)


def decision_from_json(data: dict[str, Any]) -> GateDecision:
    return GateDecision(int(data["id"]), data["model"], data["candidate"], data.get("baseline"),
                        data["dataset_hash"], int(data["n"]), data["verdict"], data.get("reason", ""),
                        data.get("run", ""), dict(data.get("details") or {}), data.get("actor", ""),
                        data.get("actor_role", ""), float(data["at"]))


def use_to_json(u: DatasetUse) -> dict[str, Any]:
    return dataclasses.asdict(u)


def use_from_json(data: dict[str, Any]) -> DatasetUse:
    return DatasetUse(data["hash"], int(data["files"]), int(data["size"]), data["container"], data["kind"],
                      data["path"], float(data["created"]))
