"""``/api/v1``: webhooks: subscriptions, the delivery log, events queued by gates and monitors."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import Field

from naiad import errors as E

from ..context import API, Api
from ..schema import Body, errors


class WebhookIn(Body):
    project: str = Field(min_length=1, max_length=200)  # or "*": every project (admins only)
    url: str = Field(min_length=1, max_length=2000)
    secret: str = Field(max_length=500)
    events: str = Field(default="*", max_length=2000)


class EventIn(Body):
    project: str = Field(min_length=1, max_length=200)
    event: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, canonical = api.store, api.who, api.call, api.canonical
    discreet, actor_of, require_hooks = api.discreet, api.actor_of, api.require_hooks

    @app.post(f"{API}/webhooks", tags=["webhooks"], responses=errors(403, 404, 413))
    async def add_webhook(body: WebhookIn, request: Request) -> dict[str, Any]:
        """Subscribe a URL to a project's events (maintainer)."""
        p = await call(who, request)

        def work() -> Any:
            require_hooks(p, body.project)
            return store.add_webhook(body.project, body.url, body.secret, body.events, actor=p.name)

        result: dict[str, Any] = await call(work)
        return result

    @app.get(f"{API}/webhooks", tags=["webhooks"], responses=errors(403, 404))
    async def list_webhooks(request: Request, project: str | None = Query(None, max_length=200)) -> list[Any]:
        """Subscriptions (secrets are never returned)."""
        p = await call(who, request)

        def work() -> Any:
            if project is None:
                if not p.admin:
                    raise E.PermissionDeniedError("name a project (only admins list every subscription).")
            else:
                p.require(canonical(project), "maintainer")
            return store.list_webhooks(project)

        found: list[Any] = await call(work)
        return found

    @app.delete(f"{API}/webhooks/{{hook_id:int}}", tags=["webhooks"], responses=errors(403, 404))
    async def remove_webhook(hook_id: int, request: Request) -> dict[str, Any]:
        p = await call(who, request)

        def work() -> None:
            hook = next((h for h in store.list_webhooks(None) if h["id"] == hook_id), None)
            if hook is None or not (p.admin or hook["project"] == "*" or p.can_see(hook["project"])):
                raise E.NotFoundError(f"no webhook {hook_id} you can see.")
            require_hooks(p, hook["project"])
            store.remove_webhook(hook_id)

        await call(work)
        return {"removed": hook_id}

    @app.get(f"{API}/webhooks/deliveries", tags=["webhooks"], responses=errors(403, 404))
    async def list_deliveries(request: Request, project: str | None = Query(None, max_length=200),
                              limit: int = Query(100, ge=1, le=10_000)) -> list[Any]:
        """The delivery log, newest first (maintainer)."""
        p = await call(who, request)

        def work() -> Any:
            if project is None:
                if not p.admin:
                    raise E.PermissionDeniedError("name a project (only admins read every delivery).")
            else:
                p.require(canonical(project), "maintainer")
            return store.list_deliveries(project, limit)

        found: list[Any] = await call(work)
        return found

    @app.post(f"{API}/events", tags=["webhooks"], responses=errors(403, 404, 413))
    async def emit_event(body: EventIn, request: Request) -> dict[str, int]:
        """Queue an event (gate and monitoring results) for the project's subscribers (contributor)."""
        p = await call(who, request)

        def work() -> int:
            p.require(canonical(body.project), "contributor")
            payload = dict(body.payload) | {"actor": actor_of(p, str(body.payload.get("actor", "")))}
            return int(discreet(p, lambda: store.emit_event(body.project, body.event, payload), body.project))

        return {"queued": await call(work)}
