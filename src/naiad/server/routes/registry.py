"""``/api/v1``: the model registry: stages, aliases, the promotion policy and their history."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import Field

from naiad import errors as E
from naiad.store import wire

from ..context import API, Api
from ..schema import Body, errors


class StageIn(Body):
    version: str = Field(min_length=1, max_length=200)
    stage: str = Field(max_length=20)
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)  # kept only from anonymous callers: others are who they are


class AliasIn(Body):
    model: str = Field(min_length=1, max_length=200)
    alias: str = Field(max_length=200)  # the store says what an alias may be
    version: str | None = Field(default=None, max_length=200)
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)


class PolicyIn(Body):
    model: str = Field(min_length=1, max_length=200)
    require_gate: bool | None = None  # None: unchanged
    gate_accounts: list[str] | None = Field(default=None, max_length=100)  # None: unchanged
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)


class GateDecisionIn(Body):
    model: str = Field(min_length=1, max_length=200)
    candidate: str = Field(min_length=1, max_length=200)
    baseline: str | None = Field(default=None, max_length=200)
    dataset_hash: str = Field(pattern="^[0-9a-f]{64}$")
    n: int = Field(ge=0, strict=True)
    verdict: str = Field(pattern="^(pass|fail|insufficient data)$")
    reason: str = Field(default="", max_length=4000)
    run: str = Field(default="", max_length=200)  # the decision run holding the report
    details: dict[str, Any] = Field(default_factory=dict)


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, canonical = api.store, api.who, api.call, api.canonical
    discreet, actor_of, require_short_id = api.discreet, api.actor_of, api.require_short_id

    @app.post(f"{API}/registry/stage", tags=["registry"], responses=errors(403, 404, 409, 413))
    async def change_stage(body: StageIn, request: Request) -> list[dict[str, Any]]:
        """Move a model version to a stage (production archives the version there before); the
        events recorded.  Needs contributor."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.version, "contributor", E.ModelVersionNotFound)
            return store.change_stage(body.version, body.stage, actor=actor_of(p, body.actor), reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.post(f"{API}/registry/alias", tags=["registry"], responses=errors(403, 404, 409, 413))
    async def set_alias(body: AliasIn, request: Request) -> list[dict[str, Any]]:
        """Point a model's alias at a version (``version: null`` removes it).  Needs contributor."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.model, "contributor", E.ModelNotFound)
            return store.set_alias(body.model, body.alias, body.version, actor=actor_of(p, body.actor),
                                   reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.post(f"{API}/registry/policy", tags=["registry"], responses=errors(403, 404, 413))
    async def set_policy(body: PolicyIn, request: Request) -> list[dict[str, Any]]:
        """Require (or not) a passing gate decision before a version goes to production.  Needs maintainer."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.model, "maintainer", E.ModelNotFound)
            return store.set_policy(body.model, require_gate=body.require_gate, gate_accounts=body.gate_accounts,
                                    actor=actor_of(p, body.actor), reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.post(f"{API}/registry/gate-decisions", tags=["registry"], responses=errors(403, 404, 409, 413))
    async def record_gate_decision(body: GateDecisionIn, request: Request) -> dict[str, Any]:
        """Record a ``naiad gate`` decision under the calling account (needs contributor).  A promotion
        policy counts it only when that account is a maintainer, owner or admin of the project, or one
        the policy names; the decision's gate_passed / gate_failed event is sent from here."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.model, "contributor", E.ModelNotFound)
            project = store.get_container(short_id=body.model).project
            if body.run:
                run = discreet(p, lambda: store.get_container(short_id=body.run), body.run)
                if run.project != project or run.kind != "run":
                    raise E.RequestError(f"{body.run} is not a run of project {project!r}; the decision run "
                                         "goes in the model's project.")
            return store.record_gate_decision(
                body.model, body.candidate, body.baseline, dataset_hash=body.dataset_hash, n=body.n,
                verdict=body.verdict, reason=body.reason, run=body.run, details=body.details,
                actor=actor_of(p, ""), actor_role=p.role_in(project))

        return wire.decision_to_json(await call(work))

    @app.get(f"{API}/registry/gate-decisions", tags=["registry"], responses=errors(403, 404))
    async def gate_decisions(request: Request, project: str = Query(..., max_length=200),
                             model: str | None = Query(None, max_length=200)) -> list[dict[str, Any]]:
        """The recorded gate decisions of the project (or of one model), oldest first."""
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.gate_decisions(project, model), model or project)

        return [wire.decision_to_json(d) for d in await call(work)]

    @app.get(f"{API}/registry/events", tags=["registry"], responses=errors(403, 404))
    async def registry_events(request: Request, project: str = Query(..., max_length=200),
                              model: str | None = Query(None, max_length=200)) -> list[dict[str, Any]]:
        """The append-only history of stage and alias changes (of one model, or of the project)."""
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.registry_events(project, model), model or project)

        return [wire.event_to_json(e) for e in await call(work)]
