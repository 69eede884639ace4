"""``/api/v1``: the model registry: stages, aliases, the promotion policy and their history."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field

from naiad import errors as E
from naiad.store import wire

from ..context import API, Api


class StageIn(BaseModel):
    version: str = Field(min_length=1, max_length=200)
    stage: str = Field(max_length=20)
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)  # kept only from anonymous callers: others are who they are


class AliasIn(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    alias: str = Field(max_length=200)  # the store says what an alias may be
    version: str | None = Field(default=None, max_length=200)
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)


class PolicyIn(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    require_gate: bool
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, canonical = api.store, api.who, api.call, api.canonical
    discreet, actor_of, require_short_id = api.discreet, api.actor_of, api.require_short_id

    @app.post(f"{API}/registry/stage", tags=["registry"])
    async def change_stage(body: StageIn, request: Request) -> list[dict[str, Any]]:
        """Move a model version to a stage (production archives the version there before); the
        events recorded.  Needs contributor."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.version, "contributor", E.ModelVersionNotFound)
            return store.change_stage(body.version, body.stage, actor=actor_of(p, body.actor), reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.post(f"{API}/registry/alias", tags=["registry"])
    async def set_alias(body: AliasIn, request: Request) -> list[dict[str, Any]]:
        """Point a model's alias at a version (``version: null`` removes it).  Needs contributor."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.model, "contributor", E.ModelNotFound)
            return store.set_alias(body.model, body.alias, body.version, actor=actor_of(p, body.actor),
                                   reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.post(f"{API}/registry/policy", tags=["registry"])
    async def set_policy(body: PolicyIn, request: Request) -> list[dict[str, Any]]:
        """Require (or not) a passing gate decision before a version goes to production.  Needs maintainer."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.model, "maintainer", E.ModelNotFound)
            return store.set_policy(body.model, require_gate=body.require_gate, actor=actor_of(p, body.actor),
                                    reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.get(f"{API}/registry/events", tags=["registry"])
    async def registry_events(request: Request, project: str = Query(..., max_length=200),
                              model: str | None = Query(None, max_length=200)) -> list[dict[str, Any]]:
        """The append-only history of stage and alias changes (of one model, or of the project)."""
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.registry_events(project, model), model or project)

        return [wire.event_to_json(e) for e in await call(work)]
