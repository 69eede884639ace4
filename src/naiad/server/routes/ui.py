"""``/api/v1`` routes the web UI needs beyond the SDK's: a projects overview, the field paths of a
project, saved views of the runs table, series points as JSON, and field edits in JSON (tags,
description).  Any client may use them; they are added to the app by :func:`register`.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid as uuidlib
from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import Field

from naiad import errors as E
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.store import wire

from ..context import API, Api
from ..schema import Body, ContainerId, FieldPath, errors

VIEWS_PREFIX = "sys/ui/views/"  # on the project's container: one saved view of the runs table per field


class EditOp(Body):
    op: str = Field(pattern="^(assign|add|remove|delete|clear)$")
    path: str = Field(min_length=1, max_length=1024)
    type: str | None = Field(default=None, pattern="^(Float|Integer|Boolean|String|Datetime)$")  # assign
    value: float | int | bool | str | None = None  # assign
    values: list[str] | None = Field(default=None, max_length=1000)  # add, remove


class EditIn(Body):
    """Field edits in JSON (the UI's twin of a binary batch): tags, description, name, own fields."""

    ops: list[EditOp] = Field(min_length=1, max_length=1000)
    writer: str | None = Field(default=None, min_length=1, max_length=200)  # with seq: retries apply once
    seq: int | None = Field(default=None, ge=1)


class ViewIn(Body):
    project: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=80)
    view: dict[str, Any] | None = None  # None deletes the view


def register(app: FastAPI, api: Api) -> None:
    """Add the UI's routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call = api.store, api.who, api.call
    canonical, discreet, require_container = api.canonical, api.discreet, api.require_container

    @app.get(f"{API}/projects/overview", tags=["projects"], responses=errors())
    async def projects_overview(request: Request) -> list[dict[str, Any]]:
        """Each project the caller can see, with its number of runs and the time of its last change."""
        p = await call(who, request)

        def work() -> list[dict[str, Any]]:
            out = []
            for info in store.list_projects():
                if not p.can_see(info.name):
                    continue
                latest = store.query_table(info.name, "run", columns=["sys/modification_time"],
                                           sort_by="sys/modification_time", limit=1)
                last = latest.rows[0].get("sys/modification_time") if latest.rows else None
                out.append(wire.project_to_json(info) | {
                    "runs": store.count_containers(info.name, "run"),
                    "models": store.count_containers(info.name, "model"),
                    "last_activity": last.value if last is not None else None})
            return out

        result: list[dict[str, Any]] = await call(work)
        return result

    @app.get(f"{API}/projects/fields", tags=["projects"], responses=errors(403, 404))
    async def field_paths(request: Request, project: str = Query(..., max_length=200),
                          kind: str = Query("run", pattern="^(run|model|model_version)$")) -> dict[str, str]:
        """Every field path of the project's runs (or models, versions) with its type."""
        p = await call(who, request)

        def work() -> dict[str, str]:
            p.require(canonical(project), "viewer")
            found: dict[str, str] = discreet(p, lambda: store.field_paths(project, kind), project)
            return found

        result: dict[str, str] = await call(work)
        return result

    def project_container(name: str, create: bool) -> str | None:
        """The uuid of the project's own container (where ``init_project`` keeps project fields)."""
        uid = uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"naiad-project:{name}").hex
        try:
            store.get_container(uuid=uid)
        except E.ContainerNotFound:
            if not create:
                return None
            store.create_container(name, "project", uid)
        return uid

    def views_of(uid: str | None) -> dict[str, Any]:
        if uid is None:
            return {}
        views: dict[str, Any] = {}
        for path, fv in store.read_fields(uid).items():
            if path.startswith(VIEWS_PREFIX) and fv.type == "String":
                try:
                    views[urllib.parse.unquote(path[len(VIEWS_PREFIX):])] = json.loads(fv.value)
                except ValueError:
                    continue  # not a view naiad wrote
        return views

    @app.get(f"{API}/projects/views", tags=["projects"], responses=errors(403, 404))
    async def list_views(request: Request, project: str = Query(..., max_length=200)) -> dict[str, Any]:
        """The project's saved views of the runs table (columns, query, sort), by name."""
        p = await call(who, request)

        def work() -> dict[str, Any]:
            p.require(canonical(project), "viewer")
            info = discreet(p, lambda: store.get_project(project), project)
            return views_of(project_container(info.name, create=False))

        result: dict[str, Any] = await call(work)
        return result

    @app.put(f"{API}/projects/views", tags=["projects"], responses=errors(403, 404, 413))
    async def save_view(body: ViewIn, request: Request) -> dict[str, Any]:
        """Save (or with ``view: null`` delete) one named view; returns all views."""
        p = await call(who, request)

        def work() -> dict[str, Any]:
            p.require(canonical(body.project), "contributor")
            info = discreet(p, lambda: store.get_project(body.project), body.project)
            uid = project_container(info.name, create=True)
            if uid is None:  # create=True makes it
                raise E.StoreError(f"project {info.name} has no container for its views")
            path = VIEWS_PREFIX + urllib.parse.quote(body.name, safe="")  # a view per field: saves never collide
            if body.view is None:
                if body.name not in views_of(uid):
                    raise E.NotFoundError(f"project {info.name} has no saved view {body.name!r}.")
                op: Any = (O.DELETE, path)
            else:
                text = json.dumps(body.view, sort_keys=True)
                if len(text) > F.MAX_STRING_LENGTH:
                    raise E.RequestError(f"a saved view is at most {F.MAX_STRING_LENGTH} characters of JSON.")
                op = (O.ASSIGN, path, "String", text)
            store.apply(O.Batch(uid, f"views:{uuidlib.uuid4().hex}", 1, [op]))
            return views_of(uid)

        result: dict[str, Any] = await call(work)
        return result

    @app.get(f"{API}/containers/{{uuid}}/points", tags=["containers"], responses=errors(403, 404))
    async def series_points(uuid: ContainerId, request: Request, path: FieldPath,
                            offset: int = Query(0),
                            limit: int = Query(10_000, ge=1, le=100_000),
                            every: int = Query(1, ge=1)) -> dict[str, Any]:
        """Points of a series as JSON, ``limit`` from ``offset`` (negative: from the end, so
        ``offset=-100`` is the last hundred), every ``every``-th one: the log viewer's and the image
        slider's read, and (with ``every``) a sample of step → wall time for a chart's time axis."""
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")

        def work() -> dict[str, Any]:
            data = store.read_series(uuid, path)
            total = len(data.steps)
            start = max(0, total + offset) if offset < 0 else min(offset, total)
            end = min(total, start + limit * every)
            values = data.values[start:end:every]
            return {"total": total, "offset": start,
                    "steps": [wire.num_out(float(x)) for x in data.steps[start:end:every]],
                    "timestamps": [float(x) for x in data.timestamps[start:end:every]],
                    "values": list(values) if isinstance(values, list) else [wire.num_out(float(x)) for x in values]}

        result: dict[str, Any] = await call(work)
        return result

    @app.post(f"{API}/containers/{{uuid}}/edit", tags=["writes"], responses=errors(403, 404, 409, 413))
    async def edit(uuid: ContainerId, body: EditIn, request: Request) -> dict[str, Any]:
        """Change fields in JSON: set an atom, add or remove tags (any string set), delete a field.
        naiad's own ``sys/`` fields (state, ids, times, registry) cannot be edited."""
        p = await call(who, request)
        await call(require_container, p, uuid, "contributor")  # who may edit, before what the edit says
        ops: list[Any] = []
        for i, e in enumerate(body.ops):
            if e.path in F.READ_ONLY_SYS or e.path == "sys":
                raise E.RequestError(f"op {i}: '{e.path}' is written by naiad itself and cannot be edited")
            if e.op == "assign":
                if e.type is None or e.value is None:
                    raise E.RequestError(f"op {i}: assign needs a type (Float, Integer, Boolean, String, "
                                         "Datetime) and a value")
                ops.append((O.ASSIGN, e.path, e.type, e.value))
            elif e.op in ("add", "remove"):
                if not e.values:
                    raise E.RequestError(f"op {i}: {e.op} needs a non-empty list of values")
                ops.append((O.ADD if e.op == "add" else O.REMOVE, e.path, list(e.values)))
            else:
                ops.append((O.DELETE if e.op == "delete" else O.CLEAR, e.path))
        if (body.writer is None) != (body.seq is None):
            raise E.RequestError("give both writer and seq (for a retry-safe edit), or neither")
        batch = O.Batch(uuid, body.writer or f"edit:{uuidlib.uuid4().hex}", body.seq or 1, ops)
        try:
            O.validate_batch(batch)
        except ValueError as exc:
            raise E.RequestError(f"bad edit: {exc}") from None

        result = await call(store.apply, batch)
        return {"seq": result.seq, "errors": result.errors}
