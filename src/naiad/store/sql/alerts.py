"""Monitoring alerts: the degradation_detected / drift_detected events, sent by the store only.

A client never posts these (a contributor could otherwise page the on-call team, or silence nothing
and cry wolf in CI).  ``naiad monitor run`` asks the store to *check* an evaluation that is stored;
the store runs the judge it is given (the model's degradation rule and drift verdict, see
:mod:`naiad.monitoring.alerts`) over its own data, then records each alert with who asked, once per
evaluation and event, and queues its event in the same transaction.  A server runs its own judge
whatever a client sends, so an alert's content always comes from stored evaluations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from naiad.errors import InvalidValueError
from naiad.store.sql.outbox import enqueue

if TYPE_CHECKING:
    from naiad.store.sql.catalog import Catalog

ALERT_EVENTS = ("degradation_detected", "drift_detected")

# judge(store, model, evaluation) -> [(event, payload)]: what the stored evaluation calls for
Judge = Callable[[Any, str, str], list[tuple[str, dict[str, Any]]]]


def check(store: Catalog, model: str, evaluation: str, judge: Judge, actor: str, actor_role: str) -> list[str]:
    """Judge ``evaluation`` (a run of ``model``'s project) and queue the alerts it calls for that were not
    sent before; returns the events queued now."""
    alerts = judge(store, model, evaluation)
    unknown = [event for event, _ in alerts if event not in ALERT_EVENTS]
    if unknown:
        raise InvalidValueError(f"a monitoring judge may only raise {', '.join(ALERT_EVENTS)} (got {unknown}).")
    sent: list[str] = []
    if not alerts:
        return sent
    now = time.time()
    with store._tx() as conn:
        row = conn.execute("SELECT c.cid, p.name FROM containers c JOIN projects p ON p.id = c.project_id "
                           "WHERE c.short_id = ?", (evaluation,)).fetchone()
        if row is None:
            raise InvalidValueError(f"no run {evaluation!r} to check.")
        ecid, project = int(row[0]), str(row[1])
        for event, payload in alerts:
            new = conn.execute(
                "INSERT INTO monitoring_alerts(evaluation_cid, event, model, actor, actor_role, recorded) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING evaluation_cid",
                (ecid, event, model, actor, actor_role, now)).fetchone()
            if new is not None:  # each evaluation alerts once per event, however often it is checked
                enqueue(conn, project, event, {**payload, "actor": actor}, now)
                sent.append(event)
    return sent
