"""Restoring a project from a naiad export: containers with their original ids, the fields no batch may
write, and the registry's history with its original times.

Only ``naiad import naiad`` calls these.  Everything a client may write is restored through the same
code path as a normal write (the ops of a batch, applied inside the container's transaction); only what
the store alone maintains (``sys/id``, ``sys/owner``, creation times, stages, aliases, policies, error
counts) is written directly, with the values the export holds.  Each container is restored in one
transaction, so an import cut short leaves whole containers, and running it again adds the rest.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from naiad.core import fields as F
from naiad.core.ops import Batch, Op
from naiad.errors import ConfigError, StoreError
from naiad.store.base import MODEL, MODEL_VERSION, RUN, ProjectInfo

if TYPE_CHECKING:
    from naiad.store.sql.apply import Writes

PROTECTED = F.STORE_MAINTAINED | F.REGISTRY_PATHS
"""Fields an import writes directly: no batch may write them (see :mod:`naiad.core.fields`)."""


def restore_project(store: Writes, name: str, key: str, created: float) -> ProjectInfo:
    """The project ``name`` with the key ``key`` (short ids keep their meaning): made if missing."""
    with store._tx() as conn:
        store._lock(conn, store.LOCK_PROJECTS, 0)
        row = conn.execute("SELECT id, name, key, created FROM projects WHERE name=?", (name,)).fetchone()
        if row is not None:
            found = ProjectInfo(int(row[0]), row[1], row[2], float(row[3]))
            if found.key != key:
                raise ConfigError(
                    f"project {name!r} already exists in {store.location} with key {found.key}, and the export's "
                    f"ids use key {key} ({key}-1, …); import into another project name (--project NEW).")
            return found
        taken = conn.execute("SELECT name FROM projects WHERE key=?", (key,)).fetchone()
        if taken is not None:
            raise ConfigError(
                f"key {key} is used by project {taken[0]!r} in {store.location}: the export's ids ({key}-1, …) would "
                "name that project's runs. Import into a store without that project.")
        (pid,) = conn.execute("INSERT INTO projects(name, key, created) VALUES (?, ?, ?) RETURNING id",
                              (name, key, created)).fetchone()
        return ProjectInfo(int(pid), name, key, created)


def project_uuids(store: Writes, project_id: int) -> set[str]:
    rows = store.conn().execute("SELECT uuid FROM containers WHERE project_id=?", (project_id,)).fetchall()
    return {str(r[0]) for r in rows}


def restore_container(store: Writes, project: ProjectInfo, record: dict[str, Any], ops: list[Op],
                      protected: dict[str, tuple[str, Any]]) -> bool:
    """Make the container ``record`` describes (uuid, short_id, kind, custom_run_id, created), apply
    ``ops`` to it and write ``protected`` fields as they are, in one transaction.  False if the
    container was there already (an import run again)."""
    uuid, short_id, kind = record["uuid"], record["short_id"], record["kind"]
    _check_identity(project, record, protected)
    with store._tx() as conn:
        store._lock(conn, store.LOCK_CREATE, project.id)
        if conn.execute("SELECT 1 FROM containers WHERE uuid=?", (uuid,)).fetchone():
            return False
        if kind == MODEL_VERSION and not conn.execute(
                "SELECT 1 FROM containers WHERE short_id=? AND kind=? AND project_id=?",
                (short_id.rsplit("-", 1)[0], MODEL, project.id)).fetchone():
            raise StoreError(f"version {short_id} belongs to model {short_id.rsplit('-', 1)[0]}, which the export does "
                             "not hold; export the project again.")
        clash = conn.execute("SELECT uuid FROM containers WHERE short_id=?", (short_id,)).fetchone()
        if clash is not None:
            raise ConfigError(f"{short_id} already names another container ({clash[0]}) in {store.location}; "
                              "import into a store where the project's ids are free.")
        (cid,) = conn.execute(
            "INSERT INTO containers(uuid, project_id, kind, short_id, custom_run_id, created) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING cid",
            (uuid, project.id, kind, short_id, record.get("custom_run_id") or None, float(record["created"]))
        ).fetchone()
        store._local.new_cids[uuid] = cid
        _keep_numbering(conn, project, kind, short_id)
        if ops:
            errors: list[str] = []
            client_errors: list[str] = []
            store._apply_ops(conn, Batch(uuid, f"import-{uuid}", 1, ops), errors, client_errors)
            if errors or client_errors:  # rolled back: nothing of this container is stored
                raise StoreError(f"{short_id}: the store refused part of the export ({'; '.join(errors[:3])}); "
                                 "nothing of this container was imported.")
        for path, (ftype, value) in sorted(protected.items()):
            pid = store._pid(conn, path)
            if ftype == F.STRING_SET:
                conn.execute("INSERT INTO fields(cid, pid, type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                             (cid, pid, F.STRING_SET))
                conn.execute("DELETE FROM set_members WHERE cid=? AND pid=?", (cid, pid))
                conn.executemany("INSERT INTO set_members(cid, pid, value) VALUES (?, ?, ?)",
                                 [(cid, pid, str(v)) for v in value])
            else:
                store._put_atom(conn, cid, pid, ftype, value)
    return True


def _check_identity(project: ProjectInfo, record: dict[str, Any], protected: dict[str, tuple[str, Any]]) -> None:
    """A container's ids must be ids of this project (its key) and agree with each other: an export edited
    by hand cannot take another project's ids, or a version another model's."""
    key, short_id, kind = re.escape(project.key), str(record.get("short_id")), record.get("kind")
    shapes = {"project": rf"{key}", MODEL: rf"{key}-[A-Z0-9]{{1,10}}", RUN: rf"{key}-[1-9]\d*",
              MODEL_VERSION: rf"{key}-[A-Z0-9]{{1,10}}-[1-9]\d*"}
    uuid = record.get("uuid")
    problem = ""
    if kind not in shapes:
        problem = f"kind {kind!r} is not one of {', '.join(shapes)}"
    elif not re.fullmatch(shapes[kind], short_id):
        problem = f"{short_id!r} is not the id of a {kind} of project {project.name!r} (key {project.key})"
    elif not isinstance(uuid, str) or not 0 < len(uuid) <= 100:
        problem = f"uuid {str(uuid)[:120]!r} is not a container's uuid"
    elif protected.get("sys/id", (None, short_id))[1] != short_id:
        problem = f"its sys/id {protected['sys/id'][1]!r} is not its id"
    elif kind == MODEL_VERSION and protected.get("sys/model_id", (None, ""))[1] != short_id.rsplit("-", 1)[0]:
        problem = f"its sys/model_id {protected.get('sys/model_id', (None, None))[1]!r} is not its model"
    elif (protected.get("sys/custom_run_id", (None, None))[1] or None) != (record.get("custom_run_id") or None):
        problem = "its sys/custom_run_id is not its custom run id"
    if problem:
        raise StoreError(f"the export's container {short_id[:120]!r} cannot be restored: {problem}; "
                         "the export was changed by hand or is damaged. Export the project again.")


def _keep_numbering(conn: Any, project: ProjectInfo, kind: str, short_id: str) -> None:
    """Runs made after the import go on from the highest number imported (PRJ-7 → the next is PRJ-8)."""
    match = re.fullmatch(r"(.+)-(\d+)", short_id)
    if match is None or kind not in (RUN, MODEL_VERSION):
        return
    num = int(match.group(2))
    if kind == RUN:
        conn.execute("UPDATE projects SET next_num = ? WHERE id = ? AND next_num <= ?", (num + 1, project.id, num))
    else:
        scope = match.group(1)
        conn.execute("INSERT INTO counters(scope, next) VALUES (?, 1) ON CONFLICT DO NOTHING", (scope,))
        conn.execute("UPDATE counters SET next = ? WHERE scope = ? AND next <= ?", (num + 1, scope, num))


def restore_history(store: Writes, project: ProjectInfo, events: list[dict[str, Any]],
                    decisions: list[dict[str, Any]]) -> tuple[int, int]:
    """Add the registry's events and gate decisions with their original actors and times, in their order,
    in one transaction; one the project holds already (an import run again) is not added twice.  Returns
    the rows written."""
    with store._tx() as conn:
        store._lock(conn, store.LOCK_PROJECTS, 0)
        cids = dict(conn.execute("SELECT short_id, cid FROM containers WHERE project_id=?", (project.id,)).fetchall())

        def cid(short_id: str | None, what: str) -> int | None:
            if short_id is None:
                return None
            if short_id not in cids:
                raise StoreError(f"the export's history names {what} {short_id}, which it does not hold; "
                                 "export the project again.")
            return int(cids[short_id])

        have_events = {tuple(r) for r in conn.execute(
            "SELECT model_cid, version_cid, kind, name, from_value, to_value, actor, reason, occurred "
            "FROM registry_events WHERE project_id=?", (project.id,)).fetchall()}
        have_decisions = {tuple(r) for r in conn.execute(
            "SELECT candidate_cid, verdict, actor, recorded FROM gate_decisions WHERE project_id=?",
            (project.id,)).fetchall()}
        added = [0, 0]
        for e in events:
            row = (cid(e["model"], "model"), cid(e["version"], "version"), e["kind"], e["name"], e["before"],
                   e["after"], e["actor"], e["reason"], float(e["at"]))
            if row in have_events:
                continue
            conn.execute(
                "INSERT INTO registry_events(project_id, model_cid, version_cid, kind, name, from_value, to_value, "
                "actor, reason, occurred) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (project.id, *row))
            added[0] += 1
        for d in decisions:
            candidate = cid(d["candidate"], "version")
            if (candidate, d["verdict"], d["actor"], float(d["at"])) in have_decisions:
                continue
            conn.execute(
                "INSERT INTO gate_decisions(project_id, model_cid, candidate_cid, baseline_cid, dataset_hash, n, "
                "verdict, reason, run, details, actor, actor_role, recorded) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (project.id, cid(d["model"], "model"), candidate, cid(d["baseline"], "version"), d["dataset_hash"],
                 int(d["n"]), d["verdict"], d["reason"], d["run"], json.dumps(d["details"], sort_keys=True,
                                                                               default=str),
                 d["actor"], d["actor_role"], float(d["at"])))
            added[1] += 1
    return added[0], added[1]
