"""The webhook outbox: an event queued for its subscribers inside the transaction that makes it.

Below the catalog and the registry (both queue events: a version made, a stage moved) and below
:mod:`naiad.store.sql.webhooks` (subscriptions, claiming, attempts), so none of them imports another
back.
"""

from __future__ import annotations

import json
import time
from typing import Any

from naiad.store.sql.base import Conn

EVENTS = ("version_created", "stage_changed", "alias_changed", "policy_changed", "gate_passed", "gate_failed",
          "degradation_detected", "drift_detected", "test")


def enqueue(conn: Conn, project: str, event: str, payload: dict[str, Any], now: float | None = None) -> int:
    """Queue ``event`` for every subscriber of ``project`` (inside the caller's transaction)."""
    now = time.time() if now is None else now
    hooks = conn.execute("SELECT id, events, url FROM webhooks WHERE project = ? OR project = '*' ORDER BY id",
                         (project,)).fetchall()
    count = 0
    for hid, events, url in hooks:
        if event != "test" and events != "*" and event not in events.split(","):  # a test reaches everyone
            continue
        body = json.dumps({"event": event, "project": project, "time": now, **payload}, sort_keys=True,
                          default=str, separators=(",", ":"))
        conn.execute("INSERT INTO webhook_deliveries(webhook_id, project, url, event, payload, status, attempts, "
                     "next_attempt, created) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                     (int(hid), project, url, event, body, now, now))
        count += 1
    return count
