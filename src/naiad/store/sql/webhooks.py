"""The SQL side of webhooks: subscriptions, the outbox of deliveries, claiming and recording attempts.

Events are queued in the transaction that makes them (a stage change and its delivery rows commit
together or not at all), then delivered by :mod:`naiad.store.webhook_delivery` — right away by the process that
made them when it is embedded, by every ``naiad server`` process's dispatcher in a team (claiming rows
with ``FOR UPDATE SKIP LOCKED``, so two servers never send the same delivery at once).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from naiad.errors import InvalidValueError, NotFoundError, PermissionDeniedError
from naiad.store.sql.outbox import EVENTS, enqueue
from naiad.store.webhook_targets import check_host

if TYPE_CHECKING:
    from naiad.store.sql.catalog import Catalog

BACKOFF = (10.0, 30.0, 120.0, 600.0, 3600.0, 6 * 3600.0)  # seconds before attempt 2, 3, …
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = 60.0  # a claimed delivery is not claimed again for this long (its sender may be slow)


def check_events(events: list[str] | str) -> str:
    names = [e.strip() for e in (events.split(",") if isinstance(events, str) else events) if e.strip()]
    if not names or names == ["*"]:
        return "*"
    unknown = [e for e in names if e not in EVENTS]
    if unknown:
        raise InvalidValueError(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENTS)} (or *).")
    return ",".join(sorted(set(names)))


def add_webhook(store: Catalog, project: str, url: str, secret: str, events: list[str] | str,
                actor: str) -> dict[str, Any]:
    if not re.match(r"^https?://[^\s/]+", url or ""):
        raise InvalidValueError(f"webhook URL {url!r} must be an http:// or https:// URL.")
    import httpx

    try:
        parsed = httpx.URL(url)
    except Exception as exc:  # httpx.InvalidURL and its relatives
        raise InvalidValueError(f"webhook URL {url!r} is not a valid URL: {exc}.") from None
    if not parsed.host:
        raise InvalidValueError(f"webhook URL {url!r} has no host.")
    check_host(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
    if not secret or len(secret) < 16:
        raise InvalidValueError("a webhook secret must have at least 16 characters (it signs every delivery).")
    if project != "*":
        project = store.get_project(project).name
    chosen = check_events(events)
    now = time.time()
    with store._tx() as conn:
        (hid,) = conn.execute("INSERT INTO webhooks(project, url, secret, events, created, created_by) "
                              "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                              (project, url, secret, chosen, now, actor)).fetchone()
    return {"id": int(hid), "project": project, "url": url, "events": chosen, "created": now, "created_by": actor}


def list_webhooks(store: Catalog, project: str | None) -> list[dict[str, Any]]:
    sql = "SELECT id, project, url, events, created, created_by FROM webhooks"
    params: list[Any] = []
    if project is not None:
        sql += " WHERE project = ? OR project = '*'"
        params.append(project)
    rows = store.conn().execute(sql + " ORDER BY id", params).fetchall()
    return [{"id": int(r[0]), "project": r[1], "url": r[2], "events": r[3], "created": float(r[4]),
             "created_by": r[5]} for r in rows]


def remove_webhook(store: Catalog, hook_id: int) -> None:
    with store._tx() as conn:
        found = conn.execute("DELETE FROM webhooks WHERE id = ? RETURNING id", (hook_id,)).fetchone()
        if found is None:
            raise NotFoundError(f"no webhook {hook_id}; list them with `naiad webhooks ls`.")
        conn.execute("UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook removed' "
                     "WHERE webhook_id = ? AND status = 'pending'", (hook_id,))


# events the store itself queues, in the transaction of what they announce: never posted by a client
# (a contributor could otherwise tell every CI and deploy hook that a gate passed)
STORE_EVENTS = frozenset({"version_created", "stage_changed", "alias_changed", "policy_changed", "gate_passed",
                          "gate_failed", "degradation_detected", "drift_detected"})


def emit(store: Catalog, project: str, event: str, payload: dict[str, Any]) -> int:
    if event not in EVENTS:
        raise InvalidValueError(f"unknown event type {event!r}; known: {', '.join(EVENTS)}.")
    if event in STORE_EVENTS:
        raise PermissionDeniedError(
            f"{event} is sent by naiad itself, in the same transaction as what it announces (a version made, a "
            "stage, alias or policy changed, a gate decision recorded, a stored evaluation judged degraded or "
            "drifted: `naiad monitor run`); it cannot be posted. Events that may be "
            f"posted: {', '.join(e for e in EVENTS if e not in STORE_EVENTS)}.")
    name = store.get_project(project).name
    with store._tx() as conn:
        return enqueue(conn, name, event, payload)


def claim(store: Catalog, limit: int = 50, now: float | None = None) -> list[dict[str, Any]]:
    """Due deliveries, each leased for :data:`LEASE` seconds to this caller."""
    now = time.time() if now is None else now
    with store._tx() as conn:
        rows = conn.execute(
            "SELECT d.id, d.webhook_id, d.event, d.payload, d.attempts, h.url, h.secret FROM webhook_deliveries d "
            "JOIN webhooks h ON h.id = d.webhook_id WHERE d.status = 'pending' AND d.next_attempt <= ? "
            "ORDER BY d.id LIMIT ?" + store.SKIP_LOCKED, (now, limit)).fetchall()
        if rows:
            in_sql, in_params = store._in("id", [int(r[0]) for r in rows])
            conn.execute(f"UPDATE webhook_deliveries SET next_attempt = ? WHERE {in_sql}", [now + LEASE, *in_params])
    return [{"id": int(r[0]), "webhook_id": int(r[1]), "event": r[2], "payload": r[3], "attempts": int(r[4]),
             "url": r[5], "secret": r[6]} for r in rows]


def finish(store: Catalog, delivery: int, ok: bool, status: int | None, error: str | None,
           now: float | None = None) -> str:
    """Record one attempt; returns the delivery's status (delivered, pending: retried later, failed)."""
    now = time.time() if now is None else now
    with store._tx() as conn:
        row = conn.execute("SELECT attempts, status FROM webhook_deliveries WHERE id = ?", (delivery,)).fetchone()
        if row is None:
            raise NotFoundError(f"no webhook delivery {delivery}.")
        if row[1] != "pending":  # settled meanwhile (its webhook was removed): keep what it says
            return str(row[1])
        attempts = int(row[0]) + 1
        if ok:
            state, next_at = "delivered", now
        elif attempts >= MAX_ATTEMPTS:
            state, next_at = "failed", now
        else:
            state, next_at = "pending", now + BACKOFF[attempts - 1]
        conn.execute("UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt = ?, last_status = ?, "
                     "last_error = ?, delivered = ? WHERE id = ?",
                     (state, attempts, next_at, status, (error or "")[:2000] or None, now if ok else None, delivery))
    return state


def deliveries(store: Catalog, project: str | None, limit: int = 100) -> list[dict[str, Any]]:
    sql = ("SELECT d.id, d.webhook_id, d.url, d.event, d.status, d.attempts, d.next_attempt, d.last_status, "
           "d.last_error, d.created, d.delivered, d.payload FROM webhook_deliveries d")
    params: list[Any] = []
    if project is not None:  # this project's events only, whichever subscription carried them
        sql += " WHERE d.project = ?"
        params.append(project)
    rows = store.conn().execute(sql + " ORDER BY d.id DESC LIMIT ?", [*params, limit]).fetchall()
    keys = ["id", "webhook_id", "url", "event", "status", "attempts", "next_attempt", "last_status", "last_error",
            "created", "delivered", "payload"]
    return [dict(zip(keys, r, strict=True)) for r in rows]
