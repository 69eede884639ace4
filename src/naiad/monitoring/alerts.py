"""What a stored evaluation alerts about: the judge the store runs before it sends
degradation_detected or drift_detected (see :mod:`naiad.store.sql.alerts`).

The payload is built from stored data only — the evaluation, the model's degradation rule and the
version's first evaluation — so an alert says what the store holds, not what a client claimed.
"""

from __future__ import annotations

from typing import Any

from naiad.data.drift import DRIFT
from naiad.errors import InvalidValueError
from naiad.monitoring.monitor import DEGRADED, judge, list_evaluations, model_info, rule_of
from naiad.store.base import Store


def alerts_for(store: Store, model: str, evaluation: str) -> list[tuple[str, dict[str, Any]]]:
    """The events the stored ``evaluation`` (a run) of ``model`` calls for, with their payloads."""
    info = model_info(store, model)
    history = list_evaluations(store, info.project, model)
    ev = next((e for e in history if e.run == evaluation), None)
    if ev is None:
        raise InvalidValueError(f"{evaluation} is not an evaluation of {model} (naiad.evaluate / `naiad monitor "
                                "run` make them); nothing to check.")
    first = next(e for e in history if e.model_version == ev.model_version)
    verdict = judge(ev, rule_of(store, info), first)
    out: list[tuple[str, dict[str, Any]]] = []
    if verdict.status == DEGRADED:
        out.append(("degradation_detected", {
            "model": model, "version": ev.model_version, "evaluation": ev.run, "metric": verdict.metric,
            "value": verdict.value, "reference": verdict.reference, "reason": verdict.reason,
            "dataset_hash": ev.dataset_hash, "n": ev.n}))
    if ev.drift.get("verdict") == DRIFT:
        out.append(("drift_detected", {
            "model": model, "version": ev.model_version, "evaluation": ev.run,
            "share_drifted": ev.drift.get("share_drifted"), "drifted": _drifted_columns(store, ev.run),
            "dataset_hash": ev.dataset_hash, "n": ev.n}))
    return out


def _drifted_columns(store: Store, run: str) -> list[str]:
    """The columns the stored evaluation found drifted (``drift/columns/<column>/verdict``)."""
    prefix, suffix = "drift/columns/", "/verdict"
    fields = store.read_fields(store.get_container(short_id=run).uuid)
    return sorted(p[len(prefix):-len(suffix)] for p, fv in fields.items()
                  if p.startswith(prefix) and p.endswith(suffix) and p.count("/") == 3 and fv.value == DRIFT)


def check(store: Store, model: str, evaluation: str, *, actor: str = "") -> list[str]:
    """Have the store judge ``evaluation`` and send what it calls for (once per evaluation and event);
    returns the events sent now.  Embedded, the store runs :func:`alerts_for`; a server runs its own."""
    return store.check_monitoring(model, evaluation, alerts_for, actor=actor)
