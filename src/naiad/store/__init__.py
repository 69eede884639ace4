"""Stores, chosen by URI: a folder path is the embedded store (SQLite + blob folder).

``open_store`` also finishes what crashed writers left behind (``naiad.store.recovery``).

Layer 2. May import: ``naiad.core`` and layer 0 (``errors``, ``config``, ``version``). Nothing above.
"""

from __future__ import annotations

import os
import threading

from naiad.config import SETTINGS
from naiad.errors import ConfigError
from naiad.store.base import BlobStore, Store
from naiad.store.blobs import LocalBlobs
from naiad.store.recovery import SyncReport, recover_oplogs
from naiad.store.sqlite import SqliteStore

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def open_store(uri: str, *, recover: bool = True) -> Store:
    """The store at ``uri`` (cached per process); replays op logs of dead writers when ``recover``.

    ``uri`` is a folder (the embedded store), ``http(s)://host:port`` (a naiad server; token from
    NAIAD_API_TOKEN) or ``postgresql://…`` (a team catalog used directly; files in NAIAD_BLOBS).
    """
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        key = uri.rstrip("/")
    elif scheme in ("postgresql", "postgres"):
        key = uri
    elif scheme in ("", "file"):
        key = os.path.abspath(uri[len("file://"):] if scheme == "file" else uri)
    else:
        raise ConfigError(f"NAIAD_URI={uri!r}: {scheme}:// is not a store naiad knows; use a folder (the "
                          "embedded store, default ./.naiad), http(s)://host:port (a naiad server) or "
                          "postgresql://user@host/db.")
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = _make_store(scheme, key)
            if recover:
                recover_oplogs(store)
    return store


def _make_store(scheme: str, key: str) -> Store:
    if scheme in ("http", "https"):
        from naiad.store.remote import RemoteStore

        return RemoteStore(key)
    if scheme in ("postgresql", "postgres"):
        from naiad.store.postgres import PostgresStore, redact

        return PostgresStore(key, open_blobs(SETTINGS.blobs.get(), for_uri=redact(key)))
    return SqliteStore(key)


def open_blobs(location: str, *, for_uri: str = "") -> BlobStore:
    """The blob store at ``location``: ``s3://bucket/prefix`` or a folder."""
    if not location:
        raise ConfigError(f"the store {for_uri or 'in use'} keeps files elsewhere: set NAIAD_BLOBS (or "
                          "--blobs) to s3://bucket/prefix or a folder.")
    if location.startswith("s3://"):
        from naiad.store.s3blobs import S3Blobs

        return S3Blobs(location)
    return LocalBlobs(location)


def forget_store(uri: str) -> None:
    """Drop a store from the per-process cache (a throw-away debug store being deleted)."""
    with _lock:
        store = _stores.pop(uri, None) or _stores.pop(os.path.abspath(uri), None)
    if store is not None:
        store.close()


__all__ = ["SqliteStore", "Store", "SyncReport", "forget_store", "open_blobs", "open_store", "recover_oplogs"]
