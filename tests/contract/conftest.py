"""The store contract: every Store implementation runs every test in this folder.

To put a new implementation under contract, add one entry to ``STORE_FACTORIES``: a context manager
that takes an empty folder and yields a ready, empty store (start a server, create a database schema…)
and cleans up afterwards.  The tests use only the protocol in ``naiad.store.base``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from naiad.store.base import RUN, Store
from naiad.store.blobs import LocalBlobs
from naiad.store.postgres import PostgresStore
from naiad.store.sqlite import SqliteStore
from services import admin_token, postgres_store_dsn, serve_in_thread

from .support import Handle, new_uuid


@contextmanager
def sqlite_store(folder: Path) -> Iterator[Store]:
    store = SqliteStore(folder / "s")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def postgres_store(folder: Path) -> Iterator[Store]:
    """A database of its own on the session's PostgreSQL server, blobs in the folder."""
    store = PostgresStore(postgres_store_dsn(folder), LocalBlobs(folder / "blobs"))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def remote_store(folder: Path) -> Iterator[Store]:
    """A real ``naiad server`` app (embedded store in the folder) on loopback, reached over HTTP."""
    from naiad.server.app import create_app
    from naiad.store.remote import RemoteStore

    backing = SqliteStore(folder / "s")
    with serve_in_thread(create_app(backing)) as url:
        store = RemoteStore(url, admin_token(backing))
        try:
            yield store
        finally:
            store.close()
            backing.close()


StoreFactory = Callable[[Path], AbstractContextManager[Store]]

# One entry per implementation.
STORE_FACTORIES: list[object] = [
    pytest.param(sqlite_store, id="sqlite"),
    pytest.param(postgres_store, id="postgres"),
    pytest.param(remote_store, id="remote"),
]


@pytest.fixture(params=STORE_FACTORIES)
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    factory: StoreFactory = request.param
    return factory


@pytest.fixture
def store(store_factory: StoreFactory, tmp_path: Path) -> Iterator[Store]:
    with store_factory(tmp_path) as opened:
        yield opened


MakeRun = Callable[..., Handle]


@pytest.fixture
def make_run(store: Store) -> MakeRun:
    """``make_run(project="proj", kind=RUN, **create_kwargs)`` → a Handle on a new container."""

    def make(project: str = "proj", kind: str = RUN, **kwargs: object) -> Handle:
        uuid = new_uuid()
        info = store.create_container(project, kind, uuid, **kwargs)  # type: ignore[arg-type]
        return Handle(store, info, writer="w-" + new_uuid())

    return make


@pytest.fixture
def run(make_run: MakeRun) -> Handle:
    return make_run()
