"""Starting ``naiad server``: open the store it serves and run the app under uvicorn.

The server's options travel to its worker processes in ``NAIAD_SERVER_*`` environment variables, so
``--workers N`` starts N identical, stateless processes.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from naiad.config import SETTINGS
from naiad.errors import ConfigError
from naiad.store.base import Store

ENV_STORE = "NAIAD_SERVER_STORE"
ENV_BLOBS = "NAIAD_SERVER_BLOBS"
ENV_ANONYMOUS = "NAIAD_SERVER_ANONYMOUS"
ENV_MAX_REQUEST = "NAIAD_SERVER_MAX_REQUEST"


def is_team_uri(uri: str) -> bool:
    return uri.startswith(("postgresql://", "postgres://"))


def server_store(uri: str, blobs: str = "", *, catalog_only: bool = False) -> Store:
    """The store a server (or an admin command) works on: a folder, or PostgreSQL with ``blobs``.

    ``catalog_only``: the caller never touches files (account commands), so PostgreSQL needs no blobs.
    """
    if uri.startswith(("http://", "https://")):
        raise ConfigError(f"{uri} is itself a naiad server; a server serves a folder or postgresql://…")
    if is_team_uri(uri):
        from naiad.store import open_blobs
        from naiad.store.postgres import PostgresStore, redact

        location = blobs or SETTINGS.blobs.get()
        if catalog_only and not location:
            return PostgresStore(uri, _NoBlobs(redact(uri)))
        return PostgresStore(uri, open_blobs(location, for_uri=redact(uri)))
    from naiad.store.sqlite import SqliteStore

    if blobs:
        raise ConfigError("--blobs is for a PostgreSQL store; the embedded store keeps files in its folder.")
    return SqliteStore(uri)


def app_from_env() -> Any:
    """The ASGI app for one server process (uvicorn's factory)."""
    from naiad.server.app import DEFAULT_MAX_REQUEST, create_app

    store = server_store(os.environ.get(ENV_STORE) or SETTINGS.uri.get(), os.environ.get(ENV_BLOBS, ""))
    for problem in getattr(store, "durability_problems", list)():
        logging.getLogger("naiad.server").warning(problem)
    return create_app(store, anonymous_role=os.environ.get(ENV_ANONYMOUS) or None,
                      max_request_bytes=int(os.environ.get(ENV_MAX_REQUEST) or DEFAULT_MAX_REQUEST))


def serve(uri: str, blobs: str, host: str, port: int, *, workers: int = 1, anonymous: str | None = None,
          max_request_bytes: int | None = None, log_level: str = "info") -> None:
    import uvicorn

    os.environ[ENV_STORE] = uri
    os.environ[ENV_BLOBS] = blobs
    os.environ[ENV_ANONYMOUS] = anonymous or ""
    if max_request_bytes:
        os.environ[ENV_MAX_REQUEST] = str(max_request_bytes)
    logging.getLogger("naiad.server").setLevel(log_level.upper())
    uvicorn.run("naiad.server.main:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, proxy_headers=True, server_header=False)


class _NoBlobs:
    """Stands in for the blob store of a catalog opened for account management only."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __getattr__(self, name: str) -> Any:
        raise ConfigError(f"{self.where} was opened without its files; pass --blobs (or NAIAD_BLOBS).")
