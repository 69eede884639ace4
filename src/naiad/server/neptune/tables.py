"""The leaderboard search behind the client's ``fetch_runs_table``, ``fetch_models_table`` and
``fetch_model_versions_table``: its NQL query (naiad's query language reads it as it is), columns,
sorting and paging, answered from naiad's runs table."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request

from naiad import errors as E
from naiad.core import fields as F
from naiad.store.base import MODEL, MODEL_VERSION, RUN, FieldValue

from . import swagger

KINDS = {"run": RUN, "model": MODEL, "modelVersion": MODEL_VERSION}
TYPES = {F.FLOAT: "float", F.INTEGER: "int", F.BOOLEAN: "bool", F.STRING: "string", F.DATETIME: "datetime",
         F.STRING_SET: "stringSet", F.FLOAT_SERIES: "floatSeries", F.STRING_SERIES: "stringSeries",
         F.FILE_SERIES: "imageSeries", F.FILE: "file", F.FILE_SET: "fileSet", F.ARTIFACT: "artifact"}
MAX_PAGE = 10_000


def neptune_type(path: str, ftype: str) -> str:
    return "experimentState" if path == "sys/state" else TYPES.get(ftype, ftype)


def properties(path: str, fv: FieldValue) -> dict[str, Any]:
    value = fv.value
    if path == "sys/state":
        return {"value": "running" if value == "running" else "idle"}
    if fv.type == F.DATETIME and value is not None:
        return {"value": _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if fv.type in (F.FLOAT_SERIES, F.STRING_SERIES):
        return {"last": value}
    if fv.type == F.STRING_SET:
        return {"values": sorted(value or [])}
    if fv.type == F.ARTIFACT:
        return {"hash": (value or {}).get("hash")}
    if fv.type in (F.FILE, F.FILE_SET, F.FILE_SERIES):
        return {}
    return {"value": value}


def register(app: FastAPI, api: Any, guarded: Callable[..., Any], principal: Callable[[Request], Any]) -> None:
    store = api.store
    lb = f"{swagger.LEADERBOARD}/v1"

    def kind_of(types: list[str] | None) -> str:
        wanted = [KINDS[t] for t in types or ["run"] if t in KINDS]
        if len(wanted) != 1:
            raise E.InvalidValueError(f"this naiad server searches one kind at a time: run, model or modelVersion "
                                      f"(got {types})")
        return wanted[0]

    def visible(request: Request, project: str) -> str:
        p = principal(request)
        if not p.can_see(project):
            raise E.ProjectNotFound(f"project {project!r} does not exist or you have no role in it")
        return str(store.get_project(project).name)

    @app.post(f"{lb}/leaderboard/attributes", include_in_schema=False)
    async def attributes(request: Request, projectIdentifier: str,
                         type: Annotated[list[str] | None, Query()] = None,
                         search: str = "", params: Annotated[dict[str, Any] | None, Body()] = None) -> Any:
        def answer() -> dict[str, Any]:
            project = visible(request, projectIdentifier)
            paths = store.field_paths(project, kind_of(type))
            return {"entries": [{"name": path, "type": neptune_type(path, t)} for path, t in sorted(paths.items())
                                if search in path]}
        return await guarded(answer)

    @app.post(f"{lb}/leaderboard/entries", include_in_schema=False)
    async def entries(request: Request, projectIdentifier: str,
                      type: Annotated[list[str] | None, Query()] = None,
                      params: Annotated[dict[str, Any] | None, Body()] = None) -> Any:
        def answer() -> dict[str, Any]:
            project = visible(request, projectIdentifier)
            kind = kind_of(type)
            body = params or {}
            query = ((body.get("query") or {}).get("query") or "").strip() or None
            sorting = body.get("sorting") or {}
            sort_by = (sorting.get("sortBy") or {}).get("name") or "sys/creation_time"
            ascending = sorting.get("dir") == "ascending"
            page = body.get("pagination") or {}
            limit = max(0, min(int(page.get("limit") or 0), MAX_PAGE))
            offset = max(0, int(page.get("offset") or 0))
            columns = [f["path"] for f in body.get("attributeFilters") or [] if isinstance(f, dict) and "path" in f]
            every = store.query_table(project, kind, query=query, columns=["sys/id"], sort_by=sort_by,
                                      ascending=ascending)
            matching = len(every.ids)
            out: list[dict[str, Any]] = []
            if limit:
                table = store.query_table(project, kind, query=query, columns=columns or None, sort_by=sort_by,
                                          ascending=ascending, limit=offset + limit)
                for short_id, row in zip(table.ids[offset:], table.rows[offset:], strict=True):
                    uuid = store.get_container(short_id=short_id).uuid
                    out.append({"experimentId": uuid, "attributes": [
                        {"name": path, "type": neptune_type(path, fv.type),
                         f"{neptune_type(path, fv.type)}Properties": properties(path, fv)}
                        for path, fv in sorted(row.items())]})
            return {"matchingItemCount": matching, "totalItemCount": matching, "entries": out}
        return await guarded(answer)
