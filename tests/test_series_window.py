"""A window of a series (``read_series_window``): what the neptune wire pages through, read chunk by
chunk — the same points as slicing the whole series, at any offset, across chunk edges (SQLite and
PostgreSQL stores; the neptune client's paging over the wire is in test_neptune_wire.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import naiad
from naiad.store import open_store
from naiad.store.chunks import CHUNK_POINTS


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        return store_uri
    from services import postgres_store_dsn

    dsn = postgres_store_dsn(tmp_path / "pg")
    monkeypatch.setenv("NAIAD_URI", dsn)
    monkeypatch.setenv("NAIAD_BLOBS", str(tmp_path / "blobs"))
    return dsn


def test_a_window_is_the_slice_of_the_whole_series(any_store: str) -> None:
    run = naiad.init_run(project="acme/window")
    sizes = [1, CHUNK_POINTS - 1, 3, CHUNK_POINTS + 5, 700]  # batches that fill, straddle and top up chunks
    start = 0
    for size in sizes:
        run["loss"].extend(list(np.arange(start, start + size) * 0.5), steps=list(range(start, start + size)))
        run["note"].extend([f"n{i}" for i in range(start, start + size)], steps=list(range(start, start + size)))
        run.wait()
        start += size
    short_id = run["sys/id"].fetch()
    run.stop()
    store = open_store(any_store)
    uuid = store.get_container(short_id=short_id).uuid
    for path in ("loss", "note"):
        whole = store.read_series(uuid, path)
        assert len(whole.steps) == start
        for offset, limit in [(0, 10), (0, start), (CHUNK_POINTS - 2, 5), (CHUNK_POINTS, CHUNK_POINTS),
                              (start - 3, 100), (start, 10), (start + 5, 10), (17, 0), (2 * CHUNK_POINTS - 1, 2)]:
            window, total = store.read_series_window(uuid, path, offset, limit)
            assert total == start
            assert window.steps.tolist() == whole.steps[offset:offset + limit].tolist()
            assert window.timestamps.tolist() == whole.timestamps[offset:offset + limit].tolist()
            assert list(window.values) == list(whole.values[offset:offset + limit])


def test_an_empty_series_has_an_empty_window(tmp_path: Path) -> None:
    run = naiad.init_run(project="acme/window")
    run["loss"].append(1.0)
    run["loss"].clear()
    run.wait()
    short_id = run["sys/id"].fetch()
    run.stop()
    store = open_store(str(tmp_path / ".naiad"))
    window, total = store.read_series_window(store.get_container(short_id=short_id).uuid, "loss", 0, 10)
    assert total == 0 and len(window.steps) == 0
    with pytest.raises(naiad.exceptions.MissingFieldException):
        store.read_series_window(store.get_container(short_id=short_id).uuid, "absent", 0, 10)
