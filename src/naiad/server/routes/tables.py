"""``/api/v1``: the runs table, by row (the SDK) or by column (the UI)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from pydantic import Field

from naiad import errors as E
from naiad.store import wire
from naiad.store.sql import SqlStore

from ..context import API, Api
from ..schema import Body, errors


class TableIn(Body):
    project: str
    kind: str = "run"
    query: str | None = None
    columns: list[str] | None = None
    sort_by: str = "sys/creation_time"
    ascending: bool = False
    limit: int | None = Field(default=None, ge=0)
    layout: str = Field(default="rows", pattern="^(rows|columns)$")  # columns: the UI's compact form
    offset: int = Field(default=0, ge=0)  # layout columns: the first row whose cells come back


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, canonical, discreet = api.store, api.who, api.call, api.canonical, api.discreet

    @app.post(f"{API}/table", tags=["tables"], responses=errors(403, 404, 413))
    async def query_table(body: TableIn, request: Request) -> dict[str, Any]:
        """The runs table: rows matching ``query`` (naiad's query language), projected on ``columns``."""
        p = await call(who, request)

        if body.layout == "columns" and body.columns is None:
            raise E.RequestError("layout 'columns' needs the list of columns")
        if body.offset and body.layout != "columns":
            raise E.RequestError("offset pages the 'columns' layout only")

        def work() -> Any:
            p.require(canonical(body.project), "viewer")
            if body.layout == "columns":
                return discreet(p, lambda: table_columns(body), body.project)
            return wire.table_to_json(discreet(p, lambda: store.query_table(
                body.project, body.kind, query=body.query, columns=body.columns, sort_by=body.sort_by,
                ascending=body.ascending, limit=body.limit), body.project))

        result: dict[str, Any] = await call(work)
        return result

    def table_columns(body: TableIn) -> dict[str, Any]:
        columns = body.columns or []
        if isinstance(store, SqlStore):
            return store.table_columns(body.project, body.kind, columns=columns, query=body.query,
                                       sort_by=body.sort_by, ascending=body.ascending, offset=body.offset,
                                       limit=body.limit)
        table = store.query_table(body.project, body.kind, query=body.query, columns=columns, sort_by=body.sort_by,
                                  ascending=body.ascending)
        return wire.table_to_columns(table, columns, body.offset, body.limit)
