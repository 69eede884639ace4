"""The SQL side of the model registry (stages, aliases, their history) and of the datasets index.

Used by :class:`~naiad.store.sql.SqlStore`, and by its writes for the datasets index.  A stage or
alias change is one transaction that holds the model's lock: it reads who holds the stage or alias
now, moves it, mirrors the result in the versions' ``sys/stage`` / ``sys/aliases`` fields and
appends one event per version touched, so the history and the current state never disagree and two
promotions never both win.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from naiad.core import fields as F
from naiad.errors import InvalidValueError, ModelNotFound, ModelVersionNotFound, NotFoundError, PolicyError
from naiad.store.base import MODEL, MODEL_VERSION, STAGES, DatasetUse, RegistryEvent
from naiad.store.sql.base import Conn
from naiad.store.sql.outbox import enqueue

if TYPE_CHECKING:
    from naiad.store.sql.catalog import Catalog

ALIAS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_stage(stage: Any) -> str:
    if not isinstance(stage, str) or stage.lower() not in STAGES:
        raise InvalidValueError(f"stage {stage!r} is not one of {', '.join(STAGES)}.")
    return stage.lower()


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias):
        raise InvalidValueError(f"alias {alias!r} is not valid: use 1 to 64 letters, digits, '_', '.' or '-', "
                                "starting with a letter or digit (e.g. champion, shadow).")
    if alias.lower() in STAGES:
        raise InvalidValueError(f"{alias!r} is a stage; change it with change_stage(), or pick another alias.")
    return alias


def _container(conn: Conn, short_id: str, kind: str) -> tuple[int, int]:
    row = conn.execute("SELECT cid, kind, project_id FROM containers WHERE short_id=?", (short_id,)).fetchone()
    what = "model version" if kind == MODEL_VERSION else "model"
    error = ModelVersionNotFound if kind == MODEL_VERSION else ModelNotFound
    if row is None:
        raise error(f"no {what} {short_id!r}; list them with `naiad models ls` / `naiad models show MODEL`.")
    if row[1] != kind:
        raise error(f"{short_id} is a {row[1].replace('_', ' ')}, not a {what}.")
    return int(row[0]), int(row[2])


def _model_of(store: Catalog, conn: Conn, vcid: int) -> str:
    row = conn.execute("SELECT txt FROM fields WHERE cid=? AND pid=?",
                       (vcid, store._pid(conn, "sys/model_id"))).fetchone()
    return str(row[0])


def _versions_with(store: Catalog, conn: Conn, model: str, path: str, value: str, *,
                   is_set: bool) -> list[tuple[int, str]]:
    """Versions of ``model`` whose ``path`` is ``value`` (or, for a set, contains it)."""
    model_pid, pid = store._pid(conn, "sys/model_id"), store._pid(conn, path)
    table = ("JOIN set_members s ON s.cid = c.cid AND s.pid = ? AND s.value = ?" if is_set
             else "JOIN fields s ON s.cid = c.cid AND s.pid = ? AND s.txt = ?")
    rows = conn.execute(
        f"SELECT c.cid, c.short_id FROM containers c {table} "
        "JOIN fields m ON m.cid = c.cid AND m.pid = ? AND m.txt = ? WHERE c.kind = ? ORDER BY c.cid",
        (pid, value, model_pid, model, MODEL_VERSION)).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def _touch(store: Catalog, conn: Conn, cid: int, now: float) -> None:
    store._put_atom(conn, cid, store._pid(conn, "sys/modification_time"), F.DATETIME, now)


def _event(conn: Conn, project_id: int, model_cid: int, version_cid: int, kind: str, name: str,
           before: str | None, after: str | None, actor: str, reason: str, now: float) -> int:
    (eid,) = conn.execute(
        "INSERT INTO registry_events(project_id, model_cid, version_cid, kind, name, from_value, to_value, "
        "actor, reason, occurred) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (project_id, model_cid, version_cid, kind, name, before, after, actor, reason, now)).fetchone()
    return int(eid)


def change_stage(store: Catalog, version: str, stage: str, actor: str, reason: str) -> list[RegistryEvent]:
    stage = check_stage(stage)
    with store._tx() as conn:
        vcid, project_id = _container(conn, version, MODEL_VERSION)
        model = _model_of(store, conn, vcid)
        mcid, _ = _container(conn, model, MODEL)
        store._lock(conn, store.LOCK_CONTAINER, mcid)  # one change per model at a time
        stage_pid = store._pid(conn, "sys/stage")
        row = conn.execute("SELECT txt FROM fields WHERE cid=? AND pid=?", (vcid, stage_pid)).fetchone()
        current = str(row[0]) if row and row[0] else "none"
        if current == stage:
            return []
        if stage == "production" and _requires_gate(store, conn, mcid) and not _gate_passed(store, conn, project_id,
                                                                                              version):
            raise PolicyError(f"{model} requires a passing `naiad gate` decision before a version goes to production, "
                              f"and {version} has none. Run `naiad gate --model {model} --candidate {version} …` "
                              f"(a maintainer can lift the policy: `naiad models policy {model} --no-require-gate`).")
        now = time.time()
        ids = []
        if stage == "production":  # at most one version in production: the one there now is archived
            for ocid, _ in _versions_with(store, conn, model, "sys/stage", "production", is_set=False):
                if ocid == vcid:
                    continue
                store._put_atom(conn, ocid, stage_pid, F.STRING, "archived")
                _touch(store, conn, ocid, now)
                ids.append(_event(conn, project_id, mcid, ocid, "stage", "", "production", "archived", actor,
                                  f"replaced in production by {version}", now))
        store._put_atom(conn, vcid, stage_pid, F.STRING, stage)
        _touch(store, conn, vcid, now)
        ids.append(_event(conn, project_id, mcid, vcid, "stage", "", current, stage, actor, reason, now))
        found = _events_in(store, conn, ids)
        _notify(conn, project_id, "stage_changed", found)
    return found


def _requires_gate(store: Catalog, conn: Conn, model_cid: int) -> bool:
    row = conn.execute("SELECT num FROM fields WHERE cid=? AND pid=?",
                       (model_cid, store._pid(conn, "sys/policy/require_gate"))).fetchone()
    return bool(row and row[0])


def _gate_passed(store: Catalog, conn: Conn, project_id: int, version: str) -> bool:
    """A gate run of this project judged ``version`` and passed it."""
    row = conn.execute(
        "SELECT 1 FROM fields a JOIN fields v ON v.cid = a.cid AND v.pid = ? AND v.txt = ? "
        "JOIN containers c ON c.cid = a.cid WHERE a.pid = ? AND a.txt = ? AND c.project_id = ? LIMIT 1",
        (store._pid(conn, "gate/verdict"), "pass", store._pid(conn, "gate/candidate"), version,
         project_id)).fetchone()
    return row is not None


def set_policy(store: Catalog, model: str, require_gate: bool, actor: str, reason: str) -> list[RegistryEvent]:
    """Require (or stop requiring) a passing gate decision before a version of ``model`` goes to production."""
    with store._tx() as conn:
        mcid, project_id = _container(conn, model, MODEL)
        store._lock(conn, store.LOCK_CONTAINER, mcid)
        before = _requires_gate(store, conn, mcid)
        if before == require_gate:
            return []
        now = time.time()
        store._put_atom(conn, mcid, store._pid(conn, "sys/policy/require_gate"), F.BOOLEAN, require_gate)
        _touch(store, conn, mcid, now)
        eid = _event(conn, project_id, mcid, mcid, "policy", "require_gate", str(before).lower(),
                     str(require_gate).lower(), actor, reason, now)
        found = _events_in(store, conn, [eid])
        _notify(conn, project_id, "policy_changed", found)
    return found


def set_alias(store: Catalog, model: str, alias: str, version: str | None, actor: str,
              reason: str) -> list[RegistryEvent]:
    alias = check_alias(alias)
    with store._tx() as conn:
        mcid, project_id = _container(conn, model, MODEL)
        store._lock(conn, store.LOCK_CONTAINER, mcid)
        vcid = None
        if version is not None:
            vcid, _ = _container(conn, version, MODEL_VERSION)
            if _model_of(store, conn, vcid) != model:
                raise InvalidValueError(f"{version} is a version of {_model_of(store, conn, vcid)}, not of {model}.")
        holders = _versions_with(store, conn, model, "sys/aliases", alias, is_set=True)
        if [c for c, _ in holders] == ([vcid] if vcid is not None else []):
            return []
        if vcid is None and not holders:
            return []
        aliases_pid = store._pid(conn, "sys/aliases")
        now = time.time()
        before = None
        for hcid, hsid in holders:  # one holder at most; the loop also heals an older duplicate
            conn.execute("DELETE FROM set_members WHERE cid=? AND pid=? AND value=?", (hcid, aliases_pid, alias))
            _touch(store, conn, hcid, now)
            before = hsid
        if vcid is not None:
            conn.execute("INSERT INTO fields(cid, pid, type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         (vcid, aliases_pid, F.STRING_SET))
            conn.execute("INSERT INTO set_members(cid, pid, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         (vcid, aliases_pid, alias))
            _touch(store, conn, vcid, now)
        subject = vcid if vcid is not None else holders[-1][0]
        eid = _event(conn, project_id, mcid, subject, "alias", alias, before, version, actor, reason, now)
        found = _events_in(store, conn, [eid])
        _notify(conn, project_id, "alias_changed", found)
    return found


_EVENT_SQL = ("SELECT e.id, m.short_id, v.short_id, e.kind, e.name, e.from_value, e.to_value, e.actor, e.reason, "
              "e.occurred FROM registry_events e JOIN containers m ON m.cid = e.model_cid "
              "JOIN containers v ON v.cid = e.version_cid WHERE ")


def _events(store: Catalog, where: str, params: list[Any]) -> list[RegistryEvent]:
    return _rows_to_events(store.conn().execute(_EVENT_SQL + where + " ORDER BY e.id", params).fetchall())


def _events_in(store: Catalog, conn: Conn, ids: list[int]) -> list[RegistryEvent]:
    """Events just written, read inside their own transaction."""
    in_sql, params = store._in("e.id", ids)
    return _rows_to_events(conn.execute(_EVENT_SQL + in_sql + " ORDER BY e.id", params).fetchall())


def _rows_to_events(rows: list[Any]) -> list[RegistryEvent]:
    return [RegistryEvent(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], float(r[9])) for r in rows]


def _notify(conn: Conn, project_id: int, kind: str, events: list[RegistryEvent]) -> None:
    """Queue the webhook deliveries of registry events, in the transaction that records them."""
    (project,) = conn.execute("SELECT name FROM projects WHERE id = ?", (project_id,)).fetchone()
    for e in events:
        enqueue(conn, project, kind, {"model": e.model, "version": e.version, "name": e.name, "from": e.before,
                                      "to": e.after, "actor": e.actor, "reason": e.reason, "event_id": e.id},
                e.at)


def registry_events(store: Catalog, project: str, model: str | None) -> list[RegistryEvent]:
    proj = store.get_project(project)
    if model is None:
        return _events(store, "e.project_id = ?", [proj.id])
    mcid, project_id = _container(store.conn(), model, MODEL)
    if project_id != proj.id:
        raise ModelNotFound(f"{model} is not a model of project {proj.name!r}.")
    return _events(store, "e.model_cid = ?", [mcid])


# ------------------------------------------------------------------------------------------ datasets
def summary(value: dict[str, Any]) -> tuple[str, int, int]:
    files = value.get("files") or []
    return str(value.get("hash", "")), len(files), sum(int(e.get("size") or 0) for e in files)


def note_dataset(conn: Conn, cid: int, pid: int, value: Any) -> None:
    """Index an Artifact field's dataset version (called whenever one is written)."""
    if not isinstance(value, dict) or not value.get("hash"):
        conn.execute("DELETE FROM dataset_uses WHERE cid=? AND pid=?", (cid, pid))
        return
    digest, files, size = summary(value)
    conn.execute("INSERT INTO dataset_uses(cid, pid, hash, files, bytes) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT(cid, pid) DO UPDATE SET hash=excluded.hash, files=excluded.files, "
                 "bytes=excluded.bytes", (cid, pid, digest, files, size))


def index_datasets(conn: Conn) -> None:
    """Fill the datasets index from the Artifact fields already stored (a store made before it)."""
    rows = conn.execute("SELECT cid, pid, txt FROM fields WHERE type = ? AND txt IS NOT NULL",
                        (F.ARTIFACT,)).fetchall()
    for cid, pid, txt in rows:
        note_dataset(conn, int(cid), int(pid), json.loads(txt))


def dataset_uses(store: Catalog, project: str, digest: str | None) -> list[DatasetUse]:
    proj = store.get_project(project)
    sql = ("SELECT d.hash, d.files, d.bytes, c.short_id, c.kind, p.path, c.created FROM dataset_uses d "
           "JOIN containers c ON c.cid = d.cid JOIN paths p ON p.pid = d.pid WHERE c.project_id = ?")
    params: list[Any] = [proj.id]
    if digest:
        if not re.fullmatch(r"[0-9a-f]{1,64}", digest):
            raise InvalidValueError(f"{digest!r} is not a dataset hash (hexadecimal, as `naiad datasets ls` "
                                    "shows it).")
        sql += " AND substr(d.hash, 1, ?) = ?"
        params += [len(digest), digest]
    rows = store.conn().execute(sql + " ORDER BY c.created, c.short_id, p.path", params).fetchall()
    return [DatasetUse(r[0], int(r[1]), int(r[2]), r[3], r[4], r[5], float(r[6])) for r in rows]


def dataset_manifest(store: Catalog, project: str, digest: str) -> list[dict[str, Any]]:
    """The manifest of dataset version ``digest`` (a full hash) as one of its fields holds it."""
    proj = store.get_project(project)
    # the same hash is the same files; a use that stored the bytes (upload=True) says where they are
    row = store.conn().execute(
        "SELECT f.txt FROM dataset_uses d JOIN containers c ON c.cid = d.cid "
        "JOIN fields f ON f.cid = d.cid AND f.pid = d.pid WHERE c.project_id = ? AND d.hash = ? "
        "ORDER BY CASE WHEN f.txt LIKE ? THEN 0 ELSE 1 END LIMIT 1",
        (proj.id, digest, '%"blob":%')).fetchone()
    if row is None:
        raise NotFoundError(f"no dataset version {digest[:12]} in project {proj.name!r}; list them with "
                                f"`naiad datasets ls --project {proj.name}`.")
    files: list[dict[str, Any]] = json.loads(row[0]).get("files", [])
    return files
