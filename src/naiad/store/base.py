"""The store protocol: one write primitive (``apply``) and the reads every front end needs.

Implementations are chosen by URI (:func:`naiad.store.open_store`).  ``tests/contract`` is the
definition of a store: every implementation must pass it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import numpy as np

from naiad.ops import Batch

RUN = "run"
MODEL = "model"
MODEL_VERSION = "model_version"


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    key: str
    created: float


@dataclass(frozen=True)
class ContainerInfo:
    uuid: str
    short_id: str
    kind: str
    project: str
    custom_run_id: str | None
    created: float
    is_new: bool = False


@dataclass
class ApplyResult:
    """What ``Store.apply`` did: the writer's high-water mark, and the ops it had to refuse."""

    seq: int
    errors: list[str]


@dataclass
class FieldValue:
    """One field as read from a store: its type and its value in Python form.

    Atoms carry their value; StringSet a ``set``; series the last value; File/FileSet/Artifact the
    stored reference (a dict); series add ``count``.
    """

    type: str
    value: Any
    count: int | None = None


@dataclass
class SeriesData:
    steps: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray | list[str]


@dataclass
class Buckets:
    """A downsampled view of a float series: one row per bucket, extremes kept."""

    step_lo: np.ndarray
    step_hi: np.ndarray
    min: np.ndarray
    max: np.ndarray
    first: np.ndarray
    last: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.count)


@dataclass
class TableResult:
    columns: list[str]
    rows: list[dict[str, FieldValue]]
    ids: list[str]


class BlobStore(Protocol):
    def put_bytes(self, data: bytes) -> tuple[str, int]: ...
    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]: ...
    def exists(self, digest: str) -> bool: ...
    def open(self, digest: str) -> BinaryIO: ...
    def copy_to(self, digest: str, dest: str | os.PathLike[str]) -> None: ...


class Store(Protocol):
    @property
    def uri(self) -> str: ...
    @property
    def blobs(self) -> BlobStore: ...

    # projects and containers
    def get_or_create_project(self, name: str) -> ProjectInfo: ...
    def get_project(self, name: str) -> ProjectInfo: ...
    def list_projects(self) -> list[ProjectInfo]: ...
    def count_containers(self, project: str, kind: str) -> int: ...
    def create_container(
        self, project: str, kind: str, uuid: str, *, custom_run_id: str | None = None,
        created: float | None = None, owner: str = "",
    ) -> ContainerInfo: ...
    def get_container(self, *, short_id: str | None = None, uuid: str | None = None,
                      project: str | None = None) -> ContainerInfo: ...

    # the one write primitive
    def apply(self, batch: Batch) -> ApplyResult: ...
    def writer_seq(self, writer: str) -> int: ...

    # reads
    def structure(self, uuid: str) -> dict[str, str]: ...
    def series_last_steps(self, uuid: str) -> dict[str, float]: ...
    def read_fields(self, uuid: str, paths: list[str] | None = None) -> dict[str, FieldValue]: ...
    def read_series(self, uuid: str, path: str) -> SeriesData: ...
    def series_buckets(self, uuid: str, path: str, n: int = 1000, *, step_min: float | None = None,
                       step_max: float | None = None) -> Buckets: ...
    def query_table(
        self, project: str, kind: str, *, query: str | None = None, columns: list[str] | None = None,
        sort_by: str = "sys/creation_time", ascending: bool = False, limit: int | None = None,
    ) -> TableResult: ...
    def close(self) -> None: ...
