"""A window of a series (``read_series_window``): what the neptune wire pages through, read chunk by
chunk — the same points as slicing the whole series, at any offset, across chunk edges (SQLite and
PostgreSQL stores; the neptune client's paging over the wire is in test_neptune_wire.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_small_appends_end_in_full_chunks_and_a_few_open_ones(any_store: str) -> None:
    """Appends of any size (one point, a hundred — the neptune client's requests —, more than a chunk)
    keep every point in order, and the series stays full chunks followed by at most OPEN_PIECES open
    ones: the pieces are merged as they would reach a chunk (or grow too many)."""
    import uuid as uuidlib

    from naiad.core import fields as F
    from naiad.core import ops as O
    from naiad.core.ops import Batch
    from naiad.store.chunks import OPEN_PIECES

    store = open_store(any_store)
    info = store.create_container("acme/window", "run", uuidlib.uuid4().hex)
    rng = np.random.default_rng(7)
    sizes = [1] * 40 + [100] * 90 + list(rng.integers(1, 3000, 12)) + [CHUNK_POINTS * 2 + 3] + [7] * 30
    start, expected = 0, []
    for seq, size in enumerate(sizes, start=1):
        steps = np.arange(start, start + size, dtype=np.float64)
        values = np.sin(steps)
        texts = [f"t{int(s)}" for s in steps]
        store.apply(Batch(info.uuid, "w", seq, [(O.POINTS, "loss", F.FLOAT_SERIES, steps, 1.7e9 + steps, values),
                                                (O.POINTS, "note", F.STRING_SERIES, steps, 1.7e9 + steps, texts)]))
        expected.extend(values.tolist())
        start += size
        if seq % 25 == 0 or seq == len(sizes):
            for path in ("loss", "note"):
                whole = store.read_series(info.uuid, path)
                assert whole.steps.tolist() == list(range(start))
                sizes_now = [int(n) for (n,) in store.conn().execute(
                    "SELECT c.n FROM chunks c JOIN series s ON s.sid = c.sid JOIN paths p ON p.pid = s.pid "
                    "WHERE s.cid = (SELECT cid FROM containers WHERE uuid = ?) AND p.path = ? ORDER BY c.seq",
                    (info.uuid, path)).fetchall()]
                open_ = [n for n in sizes_now if n < CHUNK_POINTS]
                assert len(open_) <= OPEN_PIECES and sizes_now[:len(sizes_now) - len(open_)] == \
                    [CHUNK_POINTS] * (len(sizes_now) - len(open_)), sizes_now
            assert store.read_series(info.uuid, "loss").values.tolist() == expected
            assert list(store.read_series(info.uuid, "note").values) == [f"t{i}" for i in range(start)]
    window, total = store.read_series_window(info.uuid, "loss", start - 150, 100)
    assert total == start and window.values.tolist() == expected[start - 150:start - 50]
    buckets = store.series_buckets(info.uuid, "loss", 50)
    assert int(buckets.count.sum()) == start
    assert float(buckets.min.min()) == min(expected) and float(buckets.max.max()) == max(expected)
    store.close()


def test_a_batch_of_many_series_with_clears_and_repeats_between_them(any_store: str) -> None:
    """The series of a batch's points are read ahead together; a clear, a delete or a second append to
    one series in the same batch still sees what the batch did before it."""
    import uuid as uuidlib

    from naiad.core import fields as F
    from naiad.core import ops as O
    from naiad.core.ops import Batch

    store = open_store(any_store)
    info = store.create_container("acme/window", "run", uuidlib.uuid4().hex)

    def pts(path: str, lo: int, hi: int) -> tuple[Any, ...]:
        steps = np.arange(lo, hi, dtype=np.float64)
        return (O.POINTS, path, F.FLOAT_SERIES, steps, 1.7e9 + steps, steps * 2.0)

    store.apply(Batch(info.uuid, "w", 1, [pts(f"s{k}", 0, 50) for k in range(6)]))
    store.apply(Batch(info.uuid, "w", 2, [
        pts("s0", 50, 60), (O.ASSIGN, "note", F.STRING, "between"), pts("s1", 50, 70), pts("s2", 50, 55),
        (O.CLEAR, "s1"), pts("s1", 0, 5), pts("s3", 50, 52), pts("s0", 60, 61),
        (O.DELETE, "s4"), pts("s4", 7, 9), pts("s5", 40, 45), pts("new", 0, 3), pts("s2", 55, 56)]))
    expect = {"s0": list(range(61)), "s1": list(range(5)), "s2": list(range(56)), "s3": list(range(52)),
              "s4": [7, 8], "s5": list(range(50)), "new": [0, 1, 2]}
    for path, steps in expect.items():
        got = store.read_series(info.uuid, path)
        assert got.steps.tolist() == [float(s) for s in steps], path
        assert got.values.tolist() == [s * 2.0 for s in steps], path
    fields = store.read_fields(info.uuid)
    assert fields["note"].value == "between" and fields["sys/errors"].value == 1  # s5's steps went back
    store.close()
