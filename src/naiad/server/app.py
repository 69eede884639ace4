"""The HTTP API ``/api/v1`` over any store: what ``naiad server`` serves.

The app holds no state of its own beyond caches of immutable facts (which project a container is
in), so any number of server processes can serve one PostgreSQL + S3 store.  Every error is one JSON
envelope, ``{"error": {"code", "message", "details"}}``, whose ``code`` the SDK turns back into the
matching :mod:`naiad.errors` class.  The OpenAPI document is at ``/api/v1/openapi.json``.

This module assembles the app: the shared context (:mod:`~naiad.server.context`), the error envelope
and body limit (:mod:`~naiad.server.errors`), one module per route group (:mod:`naiad.server.routes`)
and the web UI.  A protocol adapter (another tool's wire protocol) is a subpackage of
:mod:`naiad.server` mounted here the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from naiad.store.accounts import Accounts
from naiad.store.base import Store
from naiad.store.sql import SqlStore
from naiad.version import __version__

from .auth import Authenticator
from .context import API, Api
from .errors import BodyLimit, NulGuard, install_handlers
from .routes import GROUPS
from .schema import tighten

DEFAULT_MAX_REQUEST = 256 << 20


def create_app(store: Store, *, anonymous_role: str | None = None,
               max_request_bytes: int = DEFAULT_MAX_REQUEST, ui: bool = True) -> FastAPI:
    """The ``/api/v1`` app over ``store``, and the web UI at ``/`` (unless ``ui=False``).  Without an
    accounts table (a non-SQL store), only anonymous access works."""
    accounts = Accounts(store) if isinstance(store, SqlStore) else None
    api = Api(store, Authenticator(accounts, anonymous_role))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """Webhooks are delivered by a background thread of each server process, not in requests."""
        dispatcher = None
        if isinstance(store, SqlStore):
            from naiad.config import SETTINGS
            from naiad.store.webhook_delivery import Dispatcher

            store.deliver_inline = False
            dispatcher = Dispatcher(store, SETTINGS.webhook_interval.get()).start()
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop()

    app = FastAPI(title="naiad", version=__version__, openapi_url=f"{API}/openapi.json",
                  docs_url=f"{API}/docs", redoc_url=None, lifespan=lifespan,
                  description="ML metadata store: runs, fields, series, files. Errors are "
                              "`{\"error\": {\"code\", \"message\", \"details\"}}`.")
    app.state.store = store
    app.add_middleware(NulGuard)  # inside the body limit: it reads JSON bodies whole
    app.add_middleware(BodyLimit, limit=max_request_bytes)
    install_handlers(app)
    for group in GROUPS:
        group.register(app, api)
    try:
        from .neptune import routes as neptune_routes
    except ImportError as exc:  # `naiad ui` with the ui extra only: the neptune wire needs the server extra
        _no_neptune_wire(app, exc.name or "pyjwt")
    else:
        neptune_routes.register(app, api)
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        """The document FastAPI makes, with the rules the edge enforces for every string written in."""
        if app.openapi_schema is None:
            app.openapi_schema = tighten(plain())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if ui:
        from .ui import mount_ui

        mount_ui(app)
    return app


def _no_neptune_wire(app: FastAPI, missing: str) -> None:
    """What a neptune client reaching this app hears when the server extra is not installed."""
    from fastapi.responses import JSONResponse

    message = (f"this naiad serves no neptune client: the neptune wire needs naiad's server extra ({missing} "
               "is missing) — pip install 'naiad[server]' and run `naiad server`.")

    async def answer(path: str) -> JSONResponse:
        return JSONResponse({"errorType": "NOT_IMPLEMENTED", "title": message, "message": message, "code": 501},
                            status_code=501)

    for prefix in ("/api/backend", "/api/leaderboard"):
        app.add_api_route(prefix + "/{path:path}", answer, methods=["GET", "POST", "PUT", "DELETE"],
                          include_in_schema=False)
