"""Helpers shared by the contract tests: they build ops and batches, and talk only to the Store protocol."""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch, Op
from naiad.store.base import ApplyResult, ContainerInfo, FieldValue, Store

T0 = 1_700_000_000.0  # a fixed epoch so timestamps are reproducible


def new_uuid() -> str:
    return _uuid.uuid4().hex


def assign(path: str, ftype: str, value: Any) -> Op:
    return (O.ASSIGN, path, ftype, value)


def points(path: str, steps: Sequence[float] | np.ndarray, values: Sequence[Any] | np.ndarray,
           ts: Sequence[float] | np.ndarray | None = None, ftype: str | None = None) -> Op:
    """A POINTS op; a list of str makes a StringSeries, anything else a FloatSeries."""
    steps_arr = np.asarray(steps, dtype=np.float64)
    ts_arr = T0 + steps_arr * 0.25 if ts is None else np.asarray(ts, dtype=np.float64)
    if isinstance(values, list) and all(isinstance(v, str) for v in values) and values:
        return (O.POINTS, path, ftype or F.STRING_SERIES, steps_arr, ts_arr, list(values))
    return (O.POINTS, path, ftype or F.FLOAT_SERIES, steps_arr, ts_arr, np.asarray(values, dtype=np.float64))


def manifest_entry(path: str, content_hash: str, size: int = 10) -> dict[str, Any]:
    return {"file_path": path, "file_hash": content_hash, "type": "Local", "size": size,
            "metadata": {"file_path": f"file:///data/{path}", "last_modified": "2024-01-01 00:00:00"}}


def file_ref(digest: str, size: int = 3) -> dict[str, Any]:
    return {"hash": digest, "size": size, "mtime": T0}


@dataclass
class Handle:
    """A container plus its own writer, numbering batches 1, 2, 3… like a client session does."""

    store: Store
    info: ContainerInfo
    writer: str
    seq: int = 0

    @property
    def uuid(self) -> str:
        return self.info.uuid

    @property
    def short_id(self) -> str:
        return self.info.short_id

    def apply(self, *ops: Op) -> ApplyResult:
        self.seq += 1
        return self.store.apply(Batch(self.uuid, self.writer, self.seq, list(ops)))

    def fields(self, *paths: str) -> dict[str, FieldValue]:
        return self.store.read_fields(self.uuid, list(paths) if paths else None)

    def value(self, path: str) -> Any:
        return self.store.read_fields(self.uuid, [path])[path].value

    def errors(self) -> int:
        found = self.store.read_fields(self.uuid, ["sys/errors"]).get("sys/errors")
        return 0 if found is None else int(found.value)

    def last_error(self) -> str:
        found = self.store.read_fields(self.uuid, ["sys/last_error"]).get("sys/last_error")
        return "" if found is None else str(found.value)
