"""``/api/v1``: datasets: where each dataset version is used, and its manifest."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request

from naiad.store import wire

from ..context import API, Api
from ..schema import errors


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, canonical, discreet = api.store, api.who, api.call, api.canonical, api.discreet

    @app.get(f"{API}/datasets/uses", tags=["datasets"], responses=errors(403, 404))
    async def dataset_uses(request: Request, project: str = Query(..., max_length=200),
                           digest: str | None = Query(None, max_length=200)) -> list[dict[str, Any]]:
        """Every tracked dataset version of the project's runs and model versions, one row per field."""
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.dataset_uses(project, digest), project)

        return [wire.use_to_json(u) for u in await call(work)]

    @app.get(f"{API}/datasets/manifest", tags=["datasets"], responses=errors(403, 404))
    async def dataset_manifest(request: Request, project: str = Query(..., max_length=200),
                               digest: str = Query(..., pattern="^[0-9a-f]{64}$")) -> list[dict[str, Any]]:
        """The file list (path, size, content hash) of one dataset version."""
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.dataset_manifest(project, digest), project)

        result: list[dict[str, Any]] = await call(work)
        return result
