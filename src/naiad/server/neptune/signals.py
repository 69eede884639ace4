"""The client's signals channel: a websocket each run holds open while it lives, closed cleanly by
``stop()``.  That close is the one thing the neptune client says when a run ends, so it is what makes
``sys/state`` truthful: a clean close is ``finished`` (``failed`` when the client recorded
``sys/failed``), a connection that just drops (the process was killed) leaves the run ``running`` until
its pings are missed and it reads as crashed.  naiad sends no stop/abort signals yet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from naiad import errors as E
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.store.base import RUN

CLEAN = (1000, 1001)  # a normal closure, or "going away" (the process ends after stop())


def final_state(failed: Any) -> str:
    return "failed" if failed else "finished"


def register(app: FastAPI, store: Any, principal_of: Callable[[str], Any], find: Callable[..., Any],
             write: Callable[..., list[str]], release: Callable[[], None]) -> None:

    def open_run(authorization: str, run_id: str) -> Any:
        try:
            return find(principal_of(authorization), run_id, "contributor")
        finally:
            release()

    def ended(info: Any) -> None:
        try:
            failed = store.read_fields(info.uuid, ["sys/failed"]).get("sys/failed")
            write(info, [(O.ASSIGN, "sys/state", F.STRING, final_state(failed is not None and failed.value))])
        finally:
            release()

    @app.websocket("/api/notifications/v1/runs/{project:path}/{run_id}/signal")
    async def signals(websocket: WebSocket, project: str, run_id: str) -> None:
        try:
            info = await run_in_threadpool(open_run, websocket.headers.get("authorization", ""), run_id)
        except E.NaiadError:
            await websocket.close(code=1008)  # policy violation: no such run for this token
            return
        await websocket.accept()
        code = 1006
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect as exc:
            code = exc.code
        if info.kind == RUN and code in CLEAN:
            await run_in_threadpool(ended, info)
