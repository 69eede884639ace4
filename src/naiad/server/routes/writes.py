"""``/api/v1``: writes: batches of operations from a client's op log, and each writer's high-water mark."""

from __future__ import annotations

import struct
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request

from naiad import errors as E
from naiad.core import ops as O
from naiad.store import wire

from ..context import API, Api
from ..schema import errors


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, canonical = api.store, api.who, api.call, api.canonical
    require_container, require_existing = api.require_container, api.require_existing

    @app.post(f"{API}/batches", tags=["writes"],
              openapi_extra={"requestBody": {"required": True, "content": {
                  wire.BATCH_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
              responses=errors(403, 404, 409, 413))
    async def apply(request: Request) -> dict[str, Any]:
        """Apply one batch of operations, at most once per (writer, seq); returns the writer's
        high-water mark and the ops the store refused."""
        p = await call(who, request)
        raw = await request.body()
        try:
            batch = O.decode_batch(raw)
            O.validate_batch(batch)
        except (ValueError, KeyError, TypeError, IndexError, struct.error, RecursionError) as exc:
            raise E.RequestError(f"malformed batch: {str(exc)[:300]}") from None

        def work() -> Any:
            creates = [op for op in batch.ops if op[0] == O.CREATE]
            for create in creates:  # each one: a later create op may name another project
                p.require(canonical(create[2]["project"]), "contributor")
                if not (p.anonymous or p.admin):  # admins (imports, services) may name the owner
                    create[2]["owner"] = p.name
            if creates:  # a create op naming a container that exists writes into that container
                require_existing(p, batch.container, "contributor")
            else:
                require_container(p, batch.container, "contributor")
            api.require_referable(p, batch.ops)
            return store.apply(batch)

        result = await call(work)
        return {"seq": result.seq, "errors": result.errors}

    @app.get(f"{API}/writers/{{writer}}", tags=["writes"], responses=errors(403, 404))
    async def writer_seq(writer: Annotated[str, Path(min_length=1, max_length=200)], request: Request,
                         container: str = Query(..., min_length=1, max_length=200)) -> dict[str, int]:
        """The last ``seq`` the store applied from ``writer`` to ``container`` (contributor there); 0 when
        none, or when that writer writes to another container."""
        p = await call(who, request)

        def work() -> int:
            require_container(p, container, "contributor")
            return store.writer_seq(writer, container)

        return {"seq": await call(work)}
