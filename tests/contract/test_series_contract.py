"""Store contract for series: exact round trips through chunks, last steps, and downsampled buckets."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.errors import FieldTypeError, NotFoundError
from naiad.store.base import RUN, Buckets, Store

from .conftest import STORE_FACTORIES, MakeRun, StoreFactory
from .support import T0, Handle, assign, new_uuid, points

N_BIG = 1_000_000
SPIKE_AT, SPIKE = 654_321, 1.0e6
DIP_AT, DIP = 123_457, -1.0e6


def bits(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.uint64)


# -------------------------------------------------------------------------------------- round trips
def test_float_series_of_100k_points_in_uneven_batches_round_trips_exactly(run: Handle) -> None:
    rng = np.random.default_rng(7)
    n = 100_000
    # integer steps first, then irregular half steps (a chunk format cannot assume a fixed stride)
    steps = np.concatenate([np.arange(50_000, dtype=np.float64),
                            50_000 + np.cumsum(rng.integers(1, 4, 50_000)) * 0.5])
    # every exponent a training loop plausibly logs, plus bit patterns a lossy codec would change
    values = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 120, n)
    values[:6] = [-0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310, np.nextafter(1.0, 2.0)]
    values[77_777] = math.pi
    ts = T0 + np.cumsum(rng.uniform(0.0, 0.02, n))
    ts[60_000:] -= 3.7  # the clock stepped back: timestamps need not increase
    sizes = [1, 7, 8191, 8192, 30_000, 1, 2, 8189, 45_417]
    assert sum(sizes) == n
    start = 0
    for size in sizes:
        end = start + size
        run.apply(points("train/loss", steps[start:end], values[start:end], ts[start:end]))
        start = end
    data = run.store.read_series(run.uuid, "train/loss")
    assert np.array_equal(data.steps, steps)
    assert np.array_equal(bits(data.values), bits(values))
    assert len(data.timestamps) == n
    assert np.max(np.abs(data.timestamps - ts)) <= 0.001
    got = run.fields("train/loss")["train/loss"]
    assert (got.type, got.count) == (F.FLOAT_SERIES, n)
    assert bits([got.value]) == bits([values[-1]])
    assert run.store.series_last_steps(run.uuid)["train/loss"] == steps[-1]
    assert run.errors() == 0


def test_finite_extreme_floats_are_stored_without_warnings(run: Handle) -> None:
    values = [1.7976931348623157e308, -1.7976931348623157e308, 1e200, 1.5e154]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.apply(points("big", [1, 2, 3, 4], values))
    assert np.array_equal(bits(run.store.read_series(run.uuid, "big").values), bits(values))


def test_fractional_steps_round_trip_exactly(run: Handle) -> None:
    steps = np.arange(1, 2001) * 0.1  # 0.1, 0.2, … not exactly evenly spaced in binary
    values = np.sqrt(steps)
    run.apply(points("lr", steps[:999], values[:999]))
    run.apply(points("lr", steps[999:], values[999:]))
    run.apply(points("lr", [200.05, 200.0500001, 1e9 + 0.5], [1.0, 2.0, 3.0]))
    data = run.store.read_series(run.uuid, "lr")
    assert np.array_equal(data.steps, np.concatenate([steps, [200.05, 200.0500001, 1e9 + 0.5]]))
    assert np.array_equal(bits(data.values), bits(np.concatenate([values, [1.0, 2.0, 3.0]])))
    assert run.store.series_last_steps(run.uuid)["lr"] == 1e9 + 0.5


def test_negative_steps_and_a_single_point_round_trip(run: Handle) -> None:
    run.apply(points("a", [-5.5], [1.0]))
    run.apply(points("a", [-1, 0, 3], [2.0, 3.0, 4.0]))
    data = run.store.read_series(run.uuid, "a")
    assert data.steps.tolist() == [-5.5, -1.0, 0.0, 3.0]
    assert np.asarray(data.values).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_string_series_with_unicode_round_trips_across_chunks(run: Handle) -> None:
    samples = ["", "λ=0.1", "日本語のログ", "emoji 🚀🔥", 'quote " and \\ backslash', "line\nbreak\ttab",
               "nul\x00char", "x" * 10_000, "ünïcödé", "\u200b zero width", "𝔘𝔫𝔦"]
    n = 20_000
    values = [f"{samples[i % len(samples)]}#{i}" for i in range(n)]
    steps = np.arange(n, dtype=np.float64) * 2 + 1
    ts = T0 + np.arange(n) * 0.5
    for start, end in [(0, 1), (1, 8192), (8192, 8200), (8200, n)]:
        run.apply(points("logs/stdout", steps[start:end], values[start:end], ts[start:end]))
    data = run.store.read_series(run.uuid, "logs/stdout")
    assert data.values == values
    assert np.array_equal(data.steps, steps)
    assert np.max(np.abs(data.timestamps - ts)) <= 0.001
    got = run.fields("logs/stdout")["logs/stdout"]
    assert (got.type, got.value, got.count) == (F.STRING_SERIES, values[-1], n)


def test_reading_a_missing_series_raises_not_found(run: Handle) -> None:
    run.apply(assign("atom", F.FLOAT, 1.0))
    with pytest.raises(NotFoundError):
        run.store.read_series(run.uuid, "no/series")
    with pytest.raises(NotFoundError):
        run.store.series_buckets(run.uuid, "no/series")


def test_series_of_different_containers_and_paths_stay_apart(make_run: MakeRun) -> None:
    one, two = make_run(), make_run()
    one.apply(points("loss", [1, 2], [1.0, 2.0]), points("acc", [1], [0.5]))
    two.apply(points("loss", [7], [7.0]))
    assert np.asarray(one.store.read_series(one.uuid, "loss").values).tolist() == [1.0, 2.0]
    assert np.asarray(one.store.read_series(one.uuid, "acc").values).tolist() == [0.5]
    assert np.asarray(two.store.read_series(two.uuid, "loss").values).tolist() == [7.0]


# ------------------------------------------------------------------------------------ last steps
def test_series_last_steps_gives_the_last_step_of_every_series(run: Handle) -> None:
    assert run.store.series_last_steps(run.uuid) == {}
    run.apply(points("train/loss", [1, 2, 3.5], [1.0, 2.0, 3.0]), points("log", [10], ["x"]),
              points("img", [4], ['{"hash": "h"}'], ftype=F.FILE_SERIES), assign("atom", F.FLOAT, 1.0),
              (O.ADD, "tags", ["t"]))
    run.apply(points("train/loss", [7], [4.0]))
    assert run.store.series_last_steps(run.uuid) == {"train/loss": 7.0, "log": 10.0, "img": 4.0}


def test_series_last_steps_of_a_cleared_series_accepts_any_step(run: Handle) -> None:
    run.apply(points("loss", [5], [1.0]), points("keep", [3], [1.0]))
    run.apply((O.CLEAR, "loss"))
    last = run.store.series_last_steps(run.uuid)
    assert last.get("loss", -math.inf) == -math.inf
    assert last["keep"] == 3.0
    run.apply((O.DELETE, "keep"))
    assert "keep" not in run.store.series_last_steps(run.uuid)


# ---------------------------------------------------------------------------------------- buckets
@dataclass
class BigSeries:
    store: Store
    uuid: str
    steps: np.ndarray
    values: np.ndarray


@pytest.fixture(scope="module", params=STORE_FACTORIES)
def big(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigSeries]:
    """One million points with a single spike and a single dip, shared by the bucket tests."""
    factory: StoreFactory = request.param
    folder: Path = tmp_path_factory.mktemp("big")
    with factory(folder) as store:
        info = store.create_container("big", RUN, new_uuid())
        rng = np.random.default_rng(3)
        steps = np.arange(N_BIG, dtype=np.float64)
        values = np.sin(steps / 5000.0) + rng.uniform(-0.5, 0.5, N_BIG)
        values[SPIKE_AT], values[DIP_AT] = SPIKE, DIP
        ts = T0 + steps * 0.001
        for seq, start in enumerate(range(0, N_BIG, 250_000), 1):
            end = start + 250_000
            store.apply(Batch(info.uuid, "big-writer", seq,
                              [points("m", steps[start:end], values[start:end], ts[start:end])]))
        yield BigSeries(store, info.uuid, steps, values)


def assert_buckets_describe(b: Buckets, steps: np.ndarray, values: np.ndarray, n: int,
                            lo: float = -math.inf, hi: float = math.inf) -> None:
    """Each bucket is an ordered, disjoint step range whose stats are exactly those of its points."""
    in_range = (steps >= lo) & (steps <= hi)
    total = int(in_range.sum())
    assert len(b) <= n
    arrays = [b.step_lo, b.step_hi, b.min, b.max, b.first, b.last, b.count]
    assert all(len(a) == len(b) for a in arrays)
    assert int(np.sum(b.count)) == total
    if total == 0:
        assert len(b) == 0
        return
    assert len(b) >= min(n, total) // 4  # a usable resolution, not one bucket for everything
    assert np.all(b.step_lo <= b.step_hi)
    assert np.all(b.step_hi[:-1] < b.step_lo[1:])
    assert b.step_lo[0] >= lo and b.step_hi[-1] <= hi
    sel_steps, sel_values = steps[in_range], values[in_range]
    assert b.step_lo[0] == sel_steps[0] and b.step_hi[-1] == sel_steps[-1]
    assert b.first[0] == sel_values[0] and b.last[-1] == sel_values[-1]
    assert b.min.min() == sel_values.min() and b.max.max() == sel_values.max()
    for i in range(len(b)):
        a, z = np.searchsorted(sel_steps, [b.step_lo[i], b.step_hi[i]], side="left")
        seg = sel_values[a : z + 1]
        assert b.count[i] == len(seg), i
        assert (b.min[i], b.max[i], b.first[i], b.last[i]) == (seg.min(), seg.max(), seg[0], seg[-1]), i


@pytest.mark.parametrize("n", [1, 2, 10, 100, 121, 1000, 3000])
def test_buckets_cover_every_point_in_n_or_fewer_buckets(big: BigSeries, n: int) -> None:
    b = big.store.series_buckets(big.uuid, "m", n)
    assert_buckets_describe(b, big.steps, big.values, n)


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_a_single_spike_survives_downsampling_as_a_bucket_max(big: BigSeries, n: int) -> None:
    b = big.store.series_buckets(big.uuid, "m", n)
    assert b.max.max() == SPIKE
    assert b.min.min() == DIP
    hit = int(np.argmax(b.max))
    assert b.step_lo[hit] <= SPIKE_AT <= b.step_hi[hit]
    dip = int(np.argmin(b.min))
    assert b.step_lo[dip] <= DIP_AT <= b.step_hi[dip]
    assert int(np.sum(b.max == SPIKE)) == 1


def test_buckets_default_to_at_most_1000(big: BigSeries) -> None:
    b = big.store.series_buckets(big.uuid, "m")
    assert 250 <= len(b) <= 1000
    assert int(b.count.sum()) == N_BIG


@pytest.mark.parametrize(("lo", "hi", "n"), [
    (5000.5, 900_000.5, 50),       # a wide range cutting through the middle of stored chunks
    (5000.5, 900_000.5, 1000),
    (100_000, 100_999, 100),
    (SPIKE_AT - 3000, SPIKE_AT + 3000, 7),
    (999_990.0, None, 100),
    (None, 12.0, 100),
    (-50.0, 0.0, 10),
])
def test_buckets_in_a_step_range_stay_within_it_and_count_its_points(
        big: BigSeries, lo: float | None, hi: float | None, n: int) -> None:
    b = big.store.series_buckets(big.uuid, "m", n, step_min=lo, step_max=hi)
    assert_buckets_describe(b, big.steps, big.values, n, -math.inf if lo is None else lo,
                            math.inf if hi is None else hi)


def test_buckets_of_a_range_without_points_are_empty(big: BigSeries) -> None:
    assert len(big.store.series_buckets(big.uuid, "m", 100, step_min=2e6, step_max=3e6)) == 0
    assert len(big.store.series_buckets(big.uuid, "m", 100, step_min=10.25, step_max=10.75)) == 0


def test_zoomed_range_with_fewer_points_than_buckets_is_exact(big: BigSeries) -> None:
    lo, hi = SPIKE_AT - 20, SPIKE_AT + 20
    b = big.store.series_buckets(big.uuid, "m", 1000, step_min=lo, step_max=hi)
    want_steps = np.arange(lo, hi + 1, dtype=np.float64)
    want = big.values[lo : hi + 1]
    assert len(b) == 41
    assert np.array_equal(b.step_lo, want_steps) and np.array_equal(b.step_hi, want_steps)
    for arr in (b.min, b.max, b.first, b.last):
        assert np.array_equal(arr, want)
    assert b.count.tolist() == [1] * 41
    assert b.max[20] == SPIKE


def test_buckets_of_a_small_series_follow_its_points(run: Handle) -> None:
    run.apply(points("acc", [0.5, 1.5, 2.5, 3.5, 4.5], [0.1, 0.9, 0.3, 0.7, 0.5]))
    b = run.store.series_buckets(run.uuid, "acc", 1000)
    assert b.step_lo.tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert b.max.tolist() == [0.1, 0.9, 0.3, 0.7, 0.5]
    b2 = run.store.series_buckets(run.uuid, "acc", 2)
    steps, values = np.array([0.5, 1.5, 2.5, 3.5, 4.5]), np.array([0.1, 0.9, 0.3, 0.7, 0.5])
    assert_buckets_describe(b2, steps, values, 2)
    b1 = run.store.series_buckets(run.uuid, "acc", 1)
    assert (len(b1), b1.min[0], b1.max[0], b1.first[0], b1.last[0], b1.count[0]) == (1, 0.1, 0.9, 0.1, 0.5, 5)


def test_buckets_of_an_appended_series_match_its_points(run: Handle) -> None:
    rng = np.random.default_rng(11)
    steps = np.cumsum(rng.uniform(0.01, 2.0, 50_000))
    values = rng.standard_normal(50_000)
    for start, end in [(0, 3), (3, 9000), (9000, 9001), (9001, 50_000)]:
        run.apply(points("x", steps[start:end], values[start:end]))
    for n in (1, 5, 6, 13, 100, 10_000):
        assert_buckets_describe(run.store.series_buckets(run.uuid, "x", n), steps, values, n)
    lo, hi = float(steps[4321]) - 1e-9, float(steps[40_000]) + 1e-9
    assert_buckets_describe(run.store.series_buckets(run.uuid, "x", 4, step_min=lo, step_max=hi),
                            steps, values, 4, lo, hi)


def test_buckets_of_an_empty_series_are_empty(run: Handle) -> None:
    run.apply(points("x", [1, 2], [1.0, 2.0]))
    run.apply((O.CLEAR, "x"))
    b = run.store.series_buckets(run.uuid, "x", 10)
    assert len(b) == 0 and int(b.count.sum()) == 0


def test_buckets_of_a_string_series_are_refused(run: Handle) -> None:
    run.apply(points("log", [1], ["text"]))
    with pytest.raises(FieldTypeError):
        run.store.series_buckets(run.uuid, "log", 10)


def test_points_with_a_step_or_time_no_store_can_keep_are_dropped_and_said(run: Handle) -> None:
    """A raw batch (any HTTP client) may carry a NaN or infinite step, or a timestamp no millisecond count
    holds (found by fuzzing: it was cast to a garbage time); those points are dropped and counted, the
    others are stored."""
    steps = [0.0, math.nan, 2.0, math.inf, 4.0, 5.0]
    ts = [T0, T0, T0 + 2, T0, T0 + 4, 1e300]
    result = run.apply(points("loss", steps, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], ts=ts),
                       points("notes", [1.0, math.nan], ["kept", "dropped"], ts=[T0, T0]))
    assert len(result.errors) == 2 and "3 point(s) whose step is NaN" in result.errors[0]
    stored = run.store.read_series(run.uuid, "loss")
    assert list(stored.steps) == [0.0, 2.0, 4.0] and list(stored.values) == [0.0, 2.0, 4.0]
    assert list(stored.timestamps) == [T0, T0 + 2, T0 + 4]
    assert list(run.store.read_series(run.uuid, "notes").values) == ["kept"]
    assert run.errors() == 2 and "loss" in result.errors[0] and "notes" in run.last_error()
