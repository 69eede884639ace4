"""``/api/v1``: projects: list, look up, make, count their containers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import Field

from naiad.store import wire

from ..context import API, Api
from ..schema import Body, errors


class ProjectIn(Body):
    name: str = Field(min_length=1, max_length=200)


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, canonical, discreet = api.store, api.who, api.call, api.canonical, api.discreet

    @app.get(f"{API}/projects", tags=["projects"], responses=errors())
    async def list_projects(request: Request) -> list[dict[str, Any]]:
        p = await call(who, request)
        found = await call(store.list_projects)
        return [wire.project_to_json(x) for x in found if p.can_see(x.name)]

    @app.post(f"{API}/projects", tags=["projects"], responses=errors(403, 404, 413))
    async def get_or_create_project(body: ProjectIn, request: Request) -> dict[str, Any]:
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(body.name), "contributor")
            return store.get_or_create_project(body.name)

        return wire.project_to_json(await call(work))

    @app.get(f"{API}/projects/lookup", tags=["projects"], responses=errors(404))
    async def get_project(request: Request, name: str = Query(..., max_length=200)) -> dict[str, Any]:
        p = await call(who, request)

        def work() -> Any:
            info = discreet(p, lambda: store.get_project(name), name)
            p.require(info.name, "viewer")
            return info

        return wire.project_to_json(await call(work))

    @app.get(f"{API}/projects/count", tags=["projects"], responses=errors(403, 404))
    async def count_containers(request: Request, project: str = Query(..., min_length=1, max_length=200),
                               kind: str = Query("run", pattern="^(run|model|model_version|project)$"),
                               ) -> dict[str, int]:
        p = await call(who, request)

        def work() -> int:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.count_containers(project, kind), project)

        return {"count": await call(work)}
