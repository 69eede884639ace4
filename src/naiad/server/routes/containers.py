"""``/api/v1``: containers: make and look up runs, models and versions; read their fields and series."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import Field

from naiad import errors as E
from naiad.store import wire

from ..context import API, Api
from ..schema import Body, ContainerId, FieldPath, errors


class ContainerIn(Body):
    project: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(run|model|model_version|project)$")
    uuid: str = Field(min_length=1, max_length=100)
    custom_run_id: str | None = Field(default=None, max_length=200)
    created: float | None = None
    owner: str = ""
    key: str | None = Field(default=None, max_length=100)  # the store says what a key may be
    parent: str | None = Field(default=None, max_length=200)


class FieldsIn(Body):
    paths: list[str] | None = None


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, canonical, unseen = api.store, api.who, api.call, api.canonical, api.unseen
    require_container, require_existing, discreet = api.require_container, api.require_existing, api.discreet

    @app.post(f"{API}/containers", tags=["containers"], responses=errors(403, 404, 409, 413))
    async def create_container(body: ContainerIn, request: Request) -> dict[str, Any]:
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(body.project), "contributor")
            require_existing(p, body.uuid, "contributor")  # not a way into another project's container
            return store.create_container(body.project, body.kind, body.uuid, custom_run_id=body.custom_run_id,
                                          created=body.created,
                                          owner=body.owner if (p.anonymous or p.admin) else p.name,
                                          key=body.key, parent=body.parent)

        return wire.container_to_json(await call(work))

    @app.get(f"{API}/containers/lookup", tags=["containers"], responses=errors(403, 404))
    async def get_container(request: Request, uuid: str | None = Query(None, min_length=1, max_length=200),
                            short_id: str | None = Query(None, min_length=1, max_length=200),
                            project: str | None = Query(None, max_length=200)) -> dict[str, Any]:
        p = await call(who, request)
        if (uuid is None) == (short_id is None):
            raise E.RequestError("give exactly one of uuid and short_id")

        def work() -> Any:
            what = str(uuid or short_id)
            info = discreet(p, lambda: store.get_container(uuid=uuid, short_id=short_id, project=project), what)
            if not p.can_see(info.project):
                raise unseen(what)
            return info

        return wire.container_to_json(await call(work))

    @app.get(f"{API}/containers/{{uuid}}/structure", tags=["containers"], responses=errors(403, 404))
    async def structure(uuid: ContainerId, request: Request) -> dict[str, str]:
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")
        result: dict[str, str] = await call(store.structure, uuid)
        return result

    @app.get(f"{API}/containers/{{uuid}}/series-last-steps", tags=["containers"], responses=errors(403, 404))
    async def series_last_steps(uuid: ContainerId, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")
        steps = await call(store.series_last_steps, uuid)
        return {k: wire.num_out(v) for k, v in steps.items()}

    @app.post(f"{API}/containers/{{uuid}}/fields", tags=["containers"], responses=errors(403, 404, 413))
    async def read_fields(uuid: ContainerId, body: FieldsIn, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")
        return wire.fields_to_json(await call(store.read_fields, uuid, body.paths))

    @app.get(f"{API}/containers/{{uuid}}/series", tags=["containers"],
             responses={**errors(403, 404), 200: {"content": {wire.BATCH_MEDIA_TYPE: {}}}})
    async def read_series(uuid: ContainerId, request: Request, path: FieldPath) -> Response:
        """All points of a series, in the binary batch format (one points op)."""
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")

        def work() -> bytes:
            ftype = store.structure(uuid).get(path)
            if ftype is None:
                raise E.MissingFieldError(f"'{path}' is not a series of this container.")
            return wire.series_to_bytes(path, ftype, store.read_series(uuid, path))

        return Response(await call(work), media_type=wire.BATCH_MEDIA_TYPE)

    @app.get(f"{API}/containers/{{uuid}}/buckets", tags=["containers"], responses=errors(403, 404))
    async def series_buckets(uuid: ContainerId, request: Request, path: FieldPath,
                             n: int = Query(1000, ge=1, le=100_000), step_min: float | None = None,
                             step_max: float | None = None) -> dict[str, Any]:
        """A float series downsampled to at most ``n`` buckets (min, max, first, last, count each)."""
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")
        b = await call(store.series_buckets, uuid, path, n, step_min=step_min, step_max=step_max)
        return wire.buckets_to_json(b)
