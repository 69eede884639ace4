"""``/api/v1/models/*``: a model's evaluation timeline, drift, gate decisions and drift drill-down, as
JSON for the UI's model pages (and any client).  The same functions back ``naiad.fetch_evaluations``,
``fetch_drift`` and ``fetch_gate_decisions``; these routes only add access checks and JSON.  And
``POST /models/checks``: the server judges a stored evaluation and sends its monitoring alerts.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import Field

from naiad import errors as E
from naiad.store.base import RUN, Store

from ..context import API, Api
from ..schema import Body, errors


def _clean(value: Any) -> Any:
    """JSON has no NaN: a missing number is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


class CheckIn(Body):
    model: str = Field(min_length=1, max_length=200)
    evaluation: str = Field(min_length=1, max_length=200)  # the evaluation run to judge


def read_profile(store: Store, uuid: str, role: str) -> Any:
    """``profiles/<role>`` of a container, straight from the store (no SDK container opened)."""
    from naiad.data.profile import Profile

    found = store.read_fields(uuid, [f"profiles/{role}"]).get(f"profiles/{role}")
    if found is None or not isinstance(found.value, dict):
        raise E.MissingFieldError(f"no profiles/{role} here: drift needs the training profile of the version "
                                  "(register_model_version(training_data=...)) and the evaluation's data profile.")
    with store.blobs.open(found.value["hash"]) as fh:
        return Profile.from_json(json.loads(fh.read()))


def register(app: FastAPI, api: Api) -> None:
    """Add the model views to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, require_short_id = api.store, api.who, api.call, api.require_short_id
    discreet, actor_of = api.discreet, api.actor_of

    def model_of(p: Any, model: str) -> Any:
        from naiad.monitoring.monitor import model_info

        require_short_id(p, model, "viewer", E.ModelNotFound)
        return model_info(store, model)

    @app.get(f"{API}/models/timeline", tags=["models"], responses=errors(403, 404))
    async def timeline(request: Request, model: str = Query(..., max_length=200),
                       metric: str | None = Query(None, max_length=100)) -> dict[str, Any]:
        """The model's evaluations over time: each one's metric with its CI, the version evaluated, the
        version in production then, and the degradation rule's verdict."""
        p = await call(who, request)

        def work() -> dict[str, Any]:
            from naiad.monitoring.monitor import rule_of
            from naiad.monitoring.monitor import timeline as rows

            info = model_of(p, model)
            rule = rule_of(store, info)
            return _clean({"rule": {"metric": rule.metric, "floor": rule.floor, "sigmas": rule.sigmas,
                                    "reference": rule.reference, "min_rows": rule.min_rows},
                           "evaluations": rows(store, info, metric=metric)})

        result: dict[str, Any] = await call(work)
        return result

    @app.get(f"{API}/models/drift", tags=["models"], responses=errors(403, 404))
    async def drift(request: Request, model: str = Query(..., max_length=200)) -> list[dict[str, Any]]:
        """Column drift of every evaluation of the model: one record per evaluation and column."""
        p = await call(who, request)

        def work() -> list[dict[str, Any]]:
            from naiad.monitoring.monitor import drift_rows

            found: list[dict[str, Any]] = _clean(drift_rows(store, model_of(p, model)))
            return found

        result: list[dict[str, Any]] = await call(work)
        return result

    @app.get(f"{API}/models/gate-decisions", tags=["models"], responses=errors(403, 404))
    async def gate_decisions(request: Request, model: str = Query(..., max_length=200)) -> list[dict[str, Any]]:
        """Every ``naiad gate`` decision about the model's versions, oldest first."""
        p = await call(who, request)

        def work() -> list[dict[str, Any]]:
            from naiad.gate.report import decision_rows

            found: list[dict[str, Any]] = _clean(decision_rows(store, model_of(p, model)))
            return found

        result: list[dict[str, Any]] = await call(work)
        return result

    @app.post(f"{API}/models/checks", tags=["models"], responses=errors(403, 404, 409, 413))
    async def check_monitoring(body: CheckIn, request: Request) -> dict[str, list[str]]:
        """Judge a stored evaluation of the model by its degradation rule and drift verdict, and send the
        degradation_detected / drift_detected events it calls for, once per evaluation (contributor).  The
        server judges with its own code from stored data and records the calling account."""
        p = await call(who, request)

        def work() -> list[str]:
            from naiad.monitoring.alerts import alerts_for

            require_short_id(p, body.model, "contributor", E.ModelNotFound)
            project = store.get_container(short_id=body.model).project
            run = discreet(p, lambda: store.get_container(short_id=body.evaluation), body.evaluation)
            if run.project != project or run.kind != RUN:
                raise E.InvalidValueError(f"{body.evaluation} is not a run of project {project!r}.")
            return store.check_monitoring(body.model, body.evaluation, alerts_for, actor=actor_of(p, ""),
                                          actor_role=p.role_in(project))

        return {"sent": await call(work)}

    @app.get(f"{API}/models/histogram", tags=["models"], responses=errors(403, 404))
    async def histogram(request: Request, run: str = Query(..., max_length=200),
                        column: str = Query(..., max_length=1000),
                        bins: int = Query(20, ge=2, le=200)) -> dict[str, Any]:
        """One column of an evaluation's data against the training data of the version it evaluated, as
        two histograms of shares (from the stored profiles)."""
        p = await call(who, request)

        def work() -> dict[str, Any]:
            try:
                from naiad.data.drift import histograms
            except ImportError:
                raise E.ConfigError("this server cannot read profiles: install naiad[monitor] on it.") from None
            require_short_id(p, run, "viewer", E.ContainerNotFound)
            info = store.get_container(short_id=run)
            if info.kind != RUN:
                raise E.InvalidValueError(f"{run} is a {info.kind.replace('_', ' ')}, not an evaluation run.")
            fields = store.read_fields(info.uuid, ["eval/model_version"])
            version = fields.get("eval/model_version")
            if version is None:
                raise E.InvalidValueError(f"{run} is not an evaluation run (it has no eval/model_version).")
            version_info = store.get_container(short_id=str(version.value))
            reference = read_profile(store, version_info.uuid, "train")
            current = read_profile(store, info.uuid, "data")
            out: dict[str, Any] = _clean(histograms(reference, current, column, bins=bins))
            return out | {"run": run, "version": version.value}

        result: dict[str, Any] = await call(work)
        return result
