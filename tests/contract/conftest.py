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
from services import postgres_store_dsn

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


StoreFactory = Callable[[Path], AbstractContextManager[Store]]

# One entry per implementation.
STORE_FACTORIES: list[object] = [
    pytest.param(sqlite_store, id="sqlite"),
    pytest.param(postgres_store, id="postgres"),
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
