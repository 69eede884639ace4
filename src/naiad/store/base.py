"""The store protocol: one write primitive (``apply``) and the reads every front end needs.

Implementations are chosen by URI (:func:`naiad.store.open_store`).  ``tests/contract`` is the
definition of a store: every implementation must pass it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from naiad.core.ops import Batch

RUN = "run"
MODEL = "model"
MODEL_VERSION = "model_version"
STAGES = ("none", "staging", "production", "archived")
"""The stages of a model version; at most one version of a model is in ``production``."""


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


@dataclass(slots=True)
class FieldValue:
    """One field as read from a store: its type and its value in Python form.

    Atoms carry their value; StringSet a ``set``; series the last value; File/FileSet/Artifact the
    stored reference (a dict); series add ``count``.  In a table, a float series also carries its
    ``(min, max)`` in ``stats`` (not part of equality: the same field read two ways is equal).
    """

    type: str
    value: Any
    count: int | None = None
    stats: tuple[float | None, float | None] | None = field(default=None, compare=False, repr=False)


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


@dataclass(frozen=True)
class RegistryEvent:
    """One change in the model registry, as the append-only history keeps it.

    ``kind`` is ``stage`` (``before``/``after`` are stages of ``version``), ``alias`` (``name`` is the
    alias; ``before``/``after`` are the versions that held it before and hold it now, None for nobody) or
    ``policy`` (``name`` is the policy, ``version`` the model itself, ``before``/``after`` "true"/"false").
    """

    id: int
    model: str
    version: str
    kind: str
    name: str
    before: str | None
    after: str | None
    actor: str
    reason: str
    at: float


@dataclass(frozen=True)
class GateDecision:
    """One ``naiad gate`` decision as the store recorded it: the only evidence a promotion policy takes.

    ``actor`` is who recorded it — on a server the authenticated account, whatever the client claims —
    and ``actor_role`` their role in the project at that moment (``admin``, ``owner``, ``maintainer``,
    ``contributor``; ``local`` on an embedded store, which has no accounts).  ``details`` holds the
    commit, the CI run, the evaluations, the spec and each rule's result.
    """

    id: int
    model: str
    candidate: str
    baseline: str | None
    dataset_hash: str
    n: int
    verdict: str
    reason: str
    run: str
    details: dict[str, Any]
    actor: str
    actor_role: str
    at: float


@dataclass(frozen=True)
class DatasetUse:
    """A dataset version (an Artifact field's manifest hash) as one field of one container holds it."""

    hash: str
    files: int
    size: int
    container: str
    kind: str
    path: str
    created: float


PART_SIZE = 8 << 20
"""Size of every part of a resumable upload but the last (S3 multipart needs at least 5 MiB)."""
MAX_PARTS = 100_000
"""Parts of one upload at most: a file uploaded in parts holds up to ``MAX_PARTS * PART_SIZE`` bytes (781 GiB)."""


class BlobStore(Protocol):
    """Content-addressed bytes: every blob is named by the SHA-256 of its content.

    Large files move in parts with bounded memory: ``begin_upload`` → ``upload_part`` (any order,
    any part again after a broken connection) → ``complete_upload``, which checks the content hash
    before the blob becomes visible.  ``uploaded_parts`` tells a client what to resend.  Upload ids
    carry all their state, so any server process of a team can continue an upload another began.
    """

    def put_bytes(self, data: bytes) -> tuple[str, int]: ...
    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]: ...
    def exists(self, digest: str) -> bool: ...
    def size(self, digest: str) -> int: ...
    def open(self, digest: str) -> BinaryIO: ...
    def read_range(self, digest: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of a blob, in pieces of at most 1 MiB."""
        ...
    def copy_to(self, digest: str, dest: str | os.PathLike[str]) -> None: ...

    def begin_upload(self, digest: str | None, size: int) -> str:
        """An upload of ``size`` bytes whose SHA-256 is ``digest``; None when the sender cannot know it
        before sending (the neptune client): ``complete_upload`` then names the blob by what arrived."""
        ...
    def upload_part(self, upload_id: str, number: int, chunks: Iterable[bytes]) -> int:
        """Store part ``number`` (0-based; ``PART_SIZE`` bytes except the last) from a stream of
        byte pieces; returns its size.  Sending a part again replaces it."""
        ...
    def uploaded_parts(self, upload_id: str) -> dict[int, int]: ...
    def complete_upload(self, upload_id: str) -> tuple[str, int]:
        """Join the parts, check size and SHA-256 against ``begin_upload``'s, publish the blob; returns
        its hash and size.  A mismatch raises ``IntegrityError`` and discards the upload."""
        ...
    def abort_upload(self, upload_id: str) -> None: ...


class Store(Protocol):
    @property
    def uri(self) -> str: ...
    @property
    def location(self) -> str:
        """How messages name the store (no password)."""
        ...
    @property
    def local_root(self) -> Path:
        """The local folder for this store's op logs and offline runs."""
        ...
    @property
    def blobs(self) -> BlobStore: ...

    # projects and containers
    def get_or_create_project(self, name: str) -> ProjectInfo: ...
    def get_project(self, name: str) -> ProjectInfo: ...
    def list_projects(self) -> list[ProjectInfo]: ...
    def count_containers(self, project: str, kind: str) -> int: ...
    def create_container(
        self, project: str, kind: str, uuid: str, *, custom_run_id: str | None = None,
        created: float | None = None, owner: str = "", key: str | None = None, parent: str | None = None,
    ) -> ContainerInfo:
        """A new container (or the existing one with this uuid / custom_run_id).  Runs are numbered
        ``KEY-n`` per project; a model is ``KEY-<key>``; a model version ``<model id>-n`` per model
        (``parent``: the model's id or uuid)."""
        ...
    def get_container(self, *, short_id: str | None = None, uuid: str | None = None,
                      project: str | None = None) -> ContainerInfo: ...

    # the one write primitive
    def apply(self, batch: Batch) -> ApplyResult: ...
    def writer_seq(self, writer: str, container: str) -> int:
        """The last ``seq`` applied from ``writer`` to ``container`` (a uuid); 0 when none (or when the
        writer writes elsewhere: a writer belongs to the one container it first wrote to)."""
        ...

    # reads
    def structure(self, uuid: str) -> dict[str, str]: ...
    def series_last_steps(self, uuid: str) -> dict[str, float]: ...
    def read_fields(self, uuid: str, paths: list[str] | None = None) -> dict[str, FieldValue]: ...
    def read_series(self, uuid: str, path: str) -> SeriesData: ...
    def read_series_window(self, uuid: str, path: str, offset: int, limit: int) -> tuple[SeriesData, int]:
        """Points ``offset … offset + limit`` of a series (in step order) and how many it has in all."""
        ...
    def series_buckets(self, uuid: str, path: str, n: int = 1000, *, step_min: float | None = None,
                       step_max: float | None = None) -> Buckets: ...
    def query_table(
        self, project: str, kind: str, *, query: str | None = None, columns: list[str] | None = None,
        sort_by: str = "sys/creation_time", ascending: bool = False, limit: int | None = None,
    ) -> TableResult: ...
    def field_paths(self, project: str, kind: str = "run") -> dict[str, str]: ...

    # model registry and datasets
    def change_stage(self, version: str, stage: str, *, actor: str = "", reason: str = "") -> list[RegistryEvent]:
        """Move model version ``version`` to ``stage``, atomically; promoting to production archives the
        version there before.  Returns the events recorded (none if it already was in that stage)."""
        ...
    def set_alias(self, model: str, alias: str, version: str | None, *, actor: str = "",
                  reason: str = "") -> list[RegistryEvent]:
        """Point ``alias`` of ``model`` at ``version`` (taking it from the version holding it), or remove it
        (``version=None``)."""
        ...
    def registry_events(self, project: str, model: str | None = None) -> list[RegistryEvent]: ...
    def set_policy(self, model: str, *, require_gate: bool | None = None, gate_accounts: list[str] | None = None,
                   actor: str = "", reason: str = "") -> list[RegistryEvent]:
        """Require a passing gate decision before any version of ``model`` moves to production
        (change_stage refuses otherwise); ``gate_accounts``: accounts whose decisions count besides
        maintainers, owners and admins (a CI service account).  None leaves that part as it is."""
        ...
    def record_gate_decision(self, model: str, candidate: str, baseline: str | None, *, dataset_hash: str, n: int,
                             verdict: str, reason: str, run: str = "", details: dict[str, Any] | None = None,
                             actor: str = "", actor_role: str = "local") -> GateDecision:
        """Record a gate decision (and queue its gate_passed / gate_failed event).  A server records the
        account that called it, not ``actor``."""
        ...
    def gate_decisions(self, project: str, model: str | None = None) -> list[GateDecision]:
        """The gate decisions of the project (or of ``model``'s versions), oldest first."""
        ...
    def check_monitoring(self, model: str, evaluation: str, judge: Any, *, actor: str = "",
                         actor_role: str = "local") -> list[str]:
        """Judge the stored ``evaluation`` of ``model`` with ``judge(store, model, evaluation)`` and send
        the degradation_detected / drift_detected events it calls for, once per evaluation; returns the
        events sent now.  A server judges with its own code and records the calling account."""
        ...
    def dataset_uses(self, project: str, digest: str | None = None) -> list[DatasetUse]:
        """Every Artifact field of the project's containers, with its dataset version (``digest``: only
        versions whose hash starts with it)."""
        ...
    def dataset_manifest(self, project: str, digest: str) -> list[dict[str, Any]]: ...

    # webhooks (naiad.store.webhook_delivery): subscriptions, events, the delivery log
    def add_webhook(self, project: str, url: str, secret: str, events: list[str] | str = "*", *,
                    actor: str = "") -> dict[str, Any]: ...
    def list_webhooks(self, project: str | None = None) -> list[dict[str, Any]]: ...
    def remove_webhook(self, hook_id: int) -> None: ...
    def emit_event(self, project: str, event: str, payload: dict[str, Any]) -> int:
        """Queue ``event`` for the project's subscribers; returns how many deliveries were queued."""
        ...
    def list_deliveries(self, project: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...
