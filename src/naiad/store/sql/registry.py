"""The SQL side of the model registry: stages, aliases, the promotion policy, their history, and the
gate decisions a policy takes as evidence.

A stage or alias change is one transaction that holds the model's lock: it reads who holds the stage
or alias now, moves it, mirrors the result in the versions' ``sys/stage`` / ``sys/aliases`` fields
and appends one event per version touched, so the history and the current state never disagree and
two promotions never both win.

Under a policy (``sys/policy/require_gate``) a version goes to production only with a gate decision
that the store recorded (:func:`record_gate_decision`; a server records the account that called it):
passing, about this version, compared with the version in production now, recorded by a maintainer,
owner or admin of the project or by an account the policy names, and younger than
``NAIAD_GATE_MAX_AGE``.  A run's fields are never evidence: anyone who may log a run could write them.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.errors import InvalidValueError, ModelNotFound, ModelVersionNotFound, PolicyError
from naiad.store.base import MODEL, MODEL_VERSION, STAGES, GateDecision, RegistryEvent
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
        if stage == "production" and _requires_gate(store, conn, mcid):
            why = _no_evidence(store, conn, model, mcid, version, vcid)
            if why:
                raise PolicyError(
                    f"{model} requires a passing `naiad gate` decision before a version goes to production, and "
                    f"{why}. Run `naiad gate --model {model} --candidate {version} --baseline stage:production …` "
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


def set_policy(store: Catalog, model: str, require_gate: bool | None, gate_accounts: list[str] | None, actor: str,
               reason: str) -> list[RegistryEvent]:
    """Require (or stop requiring) a passing gate decision before a version of ``model`` goes to production;
    name the accounts whose decisions count besides the project's maintainers, owners and admins."""
    if gate_accounts is not None:
        bad = [a for a in gate_accounts if not isinstance(a, str) or not ACCOUNT_RE.fullmatch(a)]
        if bad:
            raise InvalidValueError(f"gate account(s) {', '.join(map(repr, bad))} are not account names "
                                    "(letters, digits, '_', '.', '@', '-').")
    with store._tx() as conn:
        mcid, project_id = _container(conn, model, MODEL)
        store._lock(conn, store.LOCK_CONTAINER, mcid)
        now = time.time()
        ids = []
        before = _requires_gate(store, conn, mcid)
        if require_gate is not None and before != require_gate:
            store._put_atom(conn, mcid, store._pid(conn, "sys/policy/require_gate"), F.BOOLEAN, require_gate)
            ids.append(_event(conn, project_id, mcid, mcid, "policy", "require_gate", str(before).lower(),
                              str(require_gate).lower(), actor, reason, now))
        old_accounts = _gate_accounts(store, conn, mcid)
        if gate_accounts is not None and set(gate_accounts) != old_accounts:
            pid = store._pid(conn, "sys/policy/gate_accounts")
            conn.execute("INSERT INTO fields(cid, pid, type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         (mcid, pid, F.STRING_SET))
            conn.execute("DELETE FROM set_members WHERE cid=? AND pid=?", (mcid, pid))
            conn.executemany("INSERT INTO set_members(cid, pid, value) VALUES (?, ?, ?)",
                             [(mcid, pid, a) for a in sorted(set(gate_accounts))])
            ids.append(_event(conn, project_id, mcid, mcid, "policy", "gate_accounts",
                              ",".join(sorted(old_accounts)), ",".join(sorted(set(gate_accounts))), actor, reason,
                              now))
        if not ids:
            return []
        _touch(store, conn, mcid, now)
        found = _events_in(store, conn, ids)
        _notify(conn, project_id, "policy_changed", found)
    return found


def _gate_accounts(store: Catalog, conn: Conn, model_cid: int) -> set[str]:
    return {r[0] for r in conn.execute("SELECT value FROM set_members WHERE cid=? AND pid=?",
                                       (model_cid, store._pid(conn, "sys/policy/gate_accounts")))}


# ------------------------------------------------------------------------------------------ gate decisions
GATE_ROLES = ("maintainer", "owner", "admin", "local")  # whose decisions count, besides the named accounts
VERDICTS = ("pass", "fail", "insufficient data")
ACCOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,199}")
_HASH_RE = re.compile(r"[0-9a-f]{64}")


def record_gate_decision(store: Catalog, model: str, candidate: str, baseline: str | None, *, dataset_hash: str,
                         n: int, verdict: str, reason: str, run: str, details: dict[str, Any], actor: str,
                         actor_role: str) -> GateDecision:
    """Store one gate decision, append-only, and queue its gate_passed / gate_failed event in the same
    transaction (so no client can announce a decision the store does not hold)."""
    if verdict not in VERDICTS:
        raise InvalidValueError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}.")
    if not isinstance(dataset_hash, str) or not _HASH_RE.fullmatch(dataset_hash):
        raise InvalidValueError(f"dataset hash {str(dataset_hash)[:80]!r} is not a SHA-256 (64 lowercase hex digits).")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidValueError(f"the number of rows judged must be a non-negative integer (got {n!r}).")
    body = json.dumps(details or {}, sort_keys=True, default=str)
    with store._tx() as conn:
        mcid, project_id = _container(conn, model, MODEL)
        ccid = _version_of(store, conn, candidate, model)
        bcid = None if baseline is None else _version_of(store, conn, baseline, model)
        now = time.time()
        (did,) = conn.execute(
            "INSERT INTO gate_decisions(project_id, model_cid, candidate_cid, baseline_cid, dataset_hash, n, verdict, "
            "reason, run, details, actor, actor_role, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id", (project_id, mcid, ccid, bcid, dataset_hash, n, verdict, reason[:4000], run or "", body,
                             actor, actor_role, now)).fetchone()
        (project,) = conn.execute("SELECT name FROM projects WHERE id = ?", (project_id,)).fetchone()
        extra = details or {}
        enqueue(conn, project, "gate_passed" if verdict == "pass" else "gate_failed", {
            "model": model, "candidate": candidate, "baseline": baseline, "verdict": verdict, "reason": reason,
            "decision": run or None, "decision_id": int(did), "dataset_hash": dataset_hash, "n": n,
            "commit": extra.get("commit"), "ci_url": extra.get("ci_url"), "actor": actor}, now)
    return GateDecision(int(did), model, candidate, baseline, dataset_hash, n, verdict, reason[:4000], run or "",
                        json.loads(body), actor, actor_role, now)


_DECISION_SQL = ("SELECT d.id, m.short_id, c.short_id, b.short_id, d.dataset_hash, d.n, d.verdict, d.reason, d.run, "
                 "d.details, d.actor, d.actor_role, d.recorded FROM gate_decisions d "
                 "JOIN containers m ON m.cid = d.model_cid JOIN containers c ON c.cid = d.candidate_cid "
                 "LEFT JOIN containers b ON b.cid = d.baseline_cid WHERE ")


def gate_decisions(store: Catalog, project: str, model: str | None) -> list[GateDecision]:
    proj = store.get_project(project)
    conn = store.conn()
    if model is None:
        where, params = "d.project_id = ?", [proj.id]
    else:
        mcid, project_id = _container(conn, model, MODEL)
        if project_id != proj.id:
            raise ModelNotFound(f"{model} is not a model of project {proj.name!r}.")
        where, params = "d.model_cid = ?", [mcid]
    rows = conn.execute(_DECISION_SQL + where + " ORDER BY d.id", params).fetchall()
    return [GateDecision(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], json.loads(r[9] or "{}"),
                         r[10], r[11], float(r[12])) for r in rows]


def _version_of(store: Catalog, conn: Conn, version: str, model: str) -> int:
    vcid, _ = _container(conn, version, MODEL_VERSION)
    owner = _model_of(store, conn, vcid)
    if owner != model:
        raise InvalidValueError(f"{version} is a version of {owner}, not of {model}.")
    return vcid


def _no_evidence(store: Catalog, conn: Conn, model: str, mcid: int, version: str, vcid: int) -> str | None:
    """None when a recorded decision lets ``version`` go to production now; otherwise why not (a clause)."""
    rows = conn.execute(
        "SELECT d.id, d.verdict, b.short_id, d.actor, d.actor_role, d.recorded FROM gate_decisions d "
        "LEFT JOIN containers b ON b.cid = d.baseline_cid WHERE d.candidate_cid = ? AND d.model_cid = ? "
        "ORDER BY d.id DESC", (vcid, mcid)).fetchall()
    if not rows:
        return f"{version} has none"
    production = [sid for cid, sid in _versions_with(store, conn, model, "sys/stage", "production", is_set=False)
                  if cid != vcid]
    current = production[0] if production else None
    accounts = _gate_accounts(store, conn, mcid)
    max_age = SETTINGS.gate_max_age.get()
    now = time.time()
    passes = [r for r in rows if r[1] == "pass"]
    for _id, _verdict, baseline, actor, role, at in passes:
        if baseline == current and (role in GATE_ROLES or actor in accounts) and at >= now - max_age:
            return None
    if not passes:
        return f"{version}'s gate decisions did not pass (the last one: {rows[0][1]})"
    did, _verdict, baseline, actor, role, at = passes[0]
    why = []
    if baseline != current:
        why.append(f"it compared {version} with {baseline or 'no baseline'}, but "
                   f"{current + ' is' if current else 'no version is'} in production now")
    if not (role in GATE_ROLES or actor in accounts):
        named = f" or by {', '.join(sorted(accounts))}" if accounts else ""
        why.append(f"{actor} ({role}) recorded it, and decisions count when made by a maintainer, owner or "
                   f"admin{named} (`naiad models policy {model} --gate-account NAME`)")
    if at < now - max_age:
        why.append(f"it is {(now - at) / 86400:.1f} days old, older than NAIAD_GATE_MAX_AGE "
                   f"({max_age / 86400:.3g} days)")
    return f"{version}'s passing decision #{did} does not count: " + "; ".join(why)


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
