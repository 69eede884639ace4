"""The SQL store: the catalog's semantics over any SQL engine, split by concern.

Layer 2 (the store): imports ``naiad.errors``, ``naiad.config``, ``naiad.core`` and the rest of
``naiad.store``.  Its modules, bottom to top, each importing only those below it:

========== ==============================================================================
base       connections, transactions, ids of paths and containers, atoms
outbox     the webhook outbox (an event queued inside the transaction that makes it)
alerts     monitoring alerts: an evaluation judged by the store, its events sent once
catalog    projects and containers: finding, creating, numbering
webhooks   subscriptions, claiming deliveries, recording attempts
registry   the registry: stages, aliases, the promotion policy, gate decisions, their history
datasets   the datasets index: which Artifact field holds which dataset version
blobrefs   which container refers to which blob (what a server authorizes file reads by)
fields     a container's fields: type and namespace checks, atoms in bulk, delete, clear, reads
series     series and their chunks: appends, reads, buckets
apply      writes: a batch of operations applied in one transaction, at most once
table      the runs table: selection, order, cells by row and by column
restore    a project from an export: original ids, store-maintained fields, the registry's history
========== ==============================================================================

:class:`SqlStore` assembles them; :class:`~naiad.store.sqlite.SqliteStore` and
:class:`~naiad.store.postgres.PostgresStore` supply connections, transactions, schema set-up and the
few SQL pieces that differ (a list as a parameter, locks).  SQL here uses ``?`` placeholders and syntax
both engines take (``ON CONFLICT``, ``RETURNING``, ``NULLS LAST``); the PostgreSQL connection adapter
rewrites the placeholders.
"""

from __future__ import annotations

from typing import Any

from naiad.core.ops import Op
from naiad.store.base import DatasetUse, GateDecision, ProjectInfo, RegistryEvent
from naiad.store.sql import alerts, blobrefs, datasets, registry, restore
from naiad.store.sql import webhooks as hooks
from naiad.store.sql.apply import Writes, artifact_hash
from naiad.store.sql.base import Conn, Cursor, SqlBase, statements
from naiad.store.sql.catalog import effective_state, project_key_candidates
from naiad.store.sql.series import bucket_points
from naiad.store.sql.table import Table

__all__ = ["Conn", "Cursor", "SqlBase", "SqlStore", "artifact_hash", "bucket_points", "effective_state",
           "project_key_candidates", "statements"]


class SqlStore(Writes, Table):
    """The catalog logic over any SQL engine; see the module docstring for what subclasses add."""

    def change_stage(self, version: str, stage: str, *, actor: str = "", reason: str = "") -> list[RegistryEvent]:
        return self._delivered(registry.change_stage(self, version, stage, actor, reason))

    def set_alias(self, model: str, alias: str, version: str | None, *, actor: str = "",
                  reason: str = "") -> list[RegistryEvent]:
        return self._delivered(registry.set_alias(self, model, alias, version, actor, reason))

    def registry_events(self, project: str, model: str | None = None) -> list[RegistryEvent]:
        return registry.registry_events(self, project, model)

    def set_policy(self, model: str, *, require_gate: bool | None = None, gate_accounts: list[str] | None = None,
                   actor: str = "", reason: str = "") -> list[RegistryEvent]:
        return self._delivered(registry.set_policy(self, model, require_gate, gate_accounts, actor, reason))

    def record_gate_decision(self, model: str, candidate: str, baseline: str | None, *, dataset_hash: str, n: int,
                             verdict: str, reason: str, run: str = "", details: dict[str, Any] | None = None,
                             actor: str = "", actor_role: str = "local") -> GateDecision:
        decision = registry.record_gate_decision(
            self, model, candidate, baseline, dataset_hash=dataset_hash, n=n, verdict=verdict, reason=reason,
            run=run, details=details or {}, actor=actor, actor_role=actor_role)
        self._delivered(True)  # its gate_passed / gate_failed event
        return decision

    def gate_decisions(self, project: str, model: str | None = None) -> list[GateDecision]:
        return registry.gate_decisions(self, project, model)

    def check_monitoring(self, model: str, evaluation: str, judge: Any, *, actor: str = "",
                         actor_role: str = "local") -> list[str]:
        return list(self._delivered(alerts.check(self, model, evaluation, judge, actor, actor_role)))

    def blob_projects(self, digests: list[str]) -> dict[str, set[str]]:
        """For each blob hash, the projects with a container that refers to it."""
        return blobrefs.blob_projects(self, digests)

    def note_claim(self, digest: str, account: str) -> None:
        blobrefs.note_claim(self, digest, account)

    def claimed(self, digests: list[str], account: str) -> set[str]:
        return blobrefs.claimed(self, digests, account)

    def note_upload(self, upload_id: str, account: str) -> None:
        blobrefs.note_upload(self, upload_id, account)

    def upload_owner(self, upload_id: str) -> str | None:
        return blobrefs.upload_owner(self, upload_id)

    def forget_upload(self, upload_id: str) -> None:
        blobrefs.forget_upload(self, upload_id)

    def expired_uploads(self, before: float) -> list[str]:
        return blobrefs.expired_uploads(self, before)

    def dataset_uses(self, project: str, digest: str | None = None) -> list[DatasetUse]:
        return datasets.dataset_uses(self, project, digest)

    def add_webhook(self, project: str, url: str, secret: str, events: list[str] | str = "*", *,
                    actor: str = "") -> dict[str, Any]:
        return hooks.add_webhook(self, project, url, secret, events, actor)

    def list_webhooks(self, project: str | None = None) -> list[dict[str, Any]]:
        return hooks.list_webhooks(self, project)

    def remove_webhook(self, hook_id: int) -> None:
        hooks.remove_webhook(self, hook_id)

    def emit_event(self, project: str, event: str, payload: dict[str, Any]) -> int:
        return int(self._delivered(hooks.emit(self, project, event, payload)))

    def claim_deliveries(self, limit: int = 50) -> list[dict[str, Any]]:
        return hooks.claim(self, limit)

    def finish_delivery(self, delivery: int, ok: bool, status: int | None, error: str | None) -> str:
        return hooks.finish(self, delivery, ok, status, error)

    def list_deliveries(self, project: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return hooks.deliveries(self, project, limit)

    def dataset_manifest(self, project: str, digest: str) -> list[dict[str, Any]]:
        return datasets.dataset_manifest(self, project, digest)

    def put_manifest(self, project: str, digest: str, files: list[dict[str, Any]]) -> None:
        datasets.put_manifest(self, project, digest, files)

    def get_manifest(self, project: str, digest: str) -> list[dict[str, Any]] | None:
        return datasets.get_manifest(self, project, digest)

    # restoring an export (naiad import naiad): see naiad.store.sql.restore
    def restore_project(self, name: str, key: str, created: float) -> ProjectInfo:
        return restore.restore_project(self, name, key, created)

    def project_uuids(self, project: ProjectInfo) -> set[str]:
        return restore.project_uuids(self, project.id)

    def restore_container(self, project: ProjectInfo, record: dict[str, Any], ops: list[Op],
                          protected: dict[str, tuple[str, Any]]) -> bool:
        return restore.restore_container(self, project, record, ops, protected)

    def restore_history(self, project: ProjectInfo, events: list[dict[str, Any]],
                        decisions: list[dict[str, Any]]) -> tuple[int, int]:
        return restore.restore_history(self, project, events, decisions)
