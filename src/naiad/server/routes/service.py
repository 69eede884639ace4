"""``/api/v1``: health and who is asking."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from naiad.version import __version__

from ..context import API, Api
from ..schema import errors


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    who, call = api.who, api.call

    @app.get(f"{API}/health", tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness: answers without a token."""
        return {"status": "ok", "version": __version__}

    @app.get(f"{API}/whoami", tags=["service"], responses=errors())
    async def whoami(request: Request) -> dict[str, Any]:
        p = await call(who, request)
        return {"name": p.name, "admin": p.admin, "roles": p.roles, "anonymous": p.anonymous}
