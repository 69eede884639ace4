"""Data drift and training–serving skew with known answers: profiles equal to pandas' numbers (streamed
from DataFrames, CSV, Parquet row groups and column groups, folders; merged; JSON round trips), the drift
rule (significant for the sample sizes *and* an effect above the floor) on synthetic shifts of known
size, Benjamini–Hochberg against a hand-computed example, drift recorded by ``naiad.evaluate`` against a
version's training profile (a real scikit-learn model on breast-cancer data), serving profiles and skew
(distribution, feature, code), ``naiad monitor drift|skew|run --fail-on-drift`` — on the embedded store
and on a real ``naiad server`` (uvicorn on loopback).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import pickle
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2, chi2_contingency, ks_2samp
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import naiad
import naiad.store
from naiad import errors as E
from naiad.cli.main import main as cli_main
from naiad.data.drift import (
    CHI2_CONVENTION,
    JS_CONVENTION,
    KS_CONVENTION,
    W_CONVENTION,
    DriftReport,
    benjamini_hochberg,
    compare,
)
from naiad.data.profile import COLUMN_GROUP, Profile, profile
from services import TeamServer, team_server

PROJECT = "defects"  # key DEF


@pytest.fixture(autouse=True)
def _drift_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_OWNER", "ana")
    monkeypatch.setenv("NAIAD_PROJECT", PROJECT)


def cli(*args: str) -> Result:
    return CliRunner().invoke(cli_main, list(args), catch_exceptions=False)


# ------------------------------------------------------------------------------------------ synthetic data
def mixed(n: int, seed: int, *, shift: float = 0.0,
          cat_p: tuple[float, float, float] = (0.5, 0.3, 0.2)) -> pd.DataFrame:
    """Three numeric columns (a ~ N(10, 2) moved by ``shift`` of its σ, b ~ N(0, 1), c ~ Exp(1)) and one
    categorical column with proportions ``cat_p``."""
    r = np.random.default_rng(seed)
    return pd.DataFrame({"a": r.normal(10 + 2 * shift, 2, n), "b": r.normal(0, 1, n), "c": r.exponential(1, n),
                         "cat": r.choice(["x", "y", "z"], n, p=list(cat_p))})


def wide(n: int, seed: int) -> pd.DataFrame:
    """20 numeric columns (more than one Parquet column group), NaNs in x3, a categorical with missing
    values and an integer column."""
    r = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": r.normal(i, 1 + i, n) for i in range(20)})
    df.loc[r.random(n) < 0.1, "x3"] = np.nan
    df["cat"] = r.choice(np.array(["a", "b", "c", None], dtype=object), n)
    df["k"] = r.integers(0, 5, n)
    return df


def assert_same_numbers(got: Profile, want: Profile, *, exact_sketch: bool = False) -> None:
    """Counts exact, mean/std to 1e-9, categorical frequencies exact (quantiles: the same sketch when
    ``exact_sketch``)."""
    assert got.rows == want.rows
    assert sorted(got.columns) == sorted(want.columns)
    for name, w in want.columns.items():
        g = got.columns[name]
        assert (g.kind, g.count, g.missing) == (w.kind, w.count, w.missing), name
        if w.kind == "numeric":
            assert g.mean == pytest.approx(w.mean, rel=1e-9, abs=1e-9), name
            assert g.std == pytest.approx(w.std, rel=1e-9, abs=1e-9), name
            if exact_sketch:
                qs = np.linspace(0, 1, 21)
                np.testing.assert_array_equal(g.quantiles(qs), w.quantiles(qs))
        else:
            assert g.frequencies() == w.frequencies(), name


def within_rank_error(col: Any, values: np.ndarray) -> None:
    """Every quantile the sketch gives lies at a true rank within the sketch's own rank error."""
    x = np.sort(values[~np.isnan(values)])
    qs = np.linspace(0.01, 0.99, 99)
    err = col.rank_error()
    assert 0 < err < 0.01  # k=400: well under 1 %
    for q, v in zip(qs, col.quantiles(qs), strict=True):
        lo, hi = np.searchsorted(x, v, side="left") / len(x), np.searchsorted(x, v, side="right") / len(x)
        assert lo - err - 1 / len(x) <= q <= hi + err + 1 / len(x), (q, v, lo, hi, err)


# ------------------------------------------------------------------------------------------ profiles
def test_profile_numbers_equal_pandas() -> None:
    df = wide(30_000, 0)
    df["flag"] = df["x0"] > 0
    p = profile(df)
    assert p.rows == 30_000
    for name in [f"x{i}" for i in range(20)] + ["k"]:
        col = p.columns[name]
        assert col.kind == "numeric"
        assert (col.count, col.missing) == (int(df[name].count()), int(df[name].isna().sum()))
        assert col.mean == pytest.approx(df[name].mean(), rel=1e-12)
        assert col.std == pytest.approx(df[name].std(), rel=1e-12)  # sample std (ddof=1), as pandas
    assert p.columns["x3"].missing == int(df["x3"].isna().sum()) > 2500
    within_rank_error(p.columns["x7"], df["x7"].to_numpy())
    cat = p.columns["cat"]
    assert cat.kind == "categorical"
    assert cat.frequencies() == df["cat"].value_counts().to_dict()  # exact: 3 distinct values
    assert (cat.count, cat.missing) == (int(df["cat"].count()), int(df["cat"].isna().sum()))
    flag = p.columns["flag"]  # bool → categorical
    assert flag.kind == "categorical"
    assert flag.frequencies() == {"True": int(df["flag"].sum()), "False": int((~df["flag"]).sum())}
    nullable = profile(pd.DataFrame({"b": pd.array([True, None, False, True], dtype="boolean")})).columns["b"]
    assert (nullable.kind, nullable.count, nullable.missing, nullable.frequencies()) == (
        "categorical", 3, 1, {"True": 2, "False": 1})
    # a column of one value: std 0; an empty profile column: no sketch, no frequencies
    const = profile(pd.DataFrame({"z": [3.0] * 10, "s": [None] * 10})).columns
    assert (const["z"].mean, const["z"].std) == (3.0, 0.0)
    assert (const["s"].count, const["s"].missing, const["s"].frequencies()) == (0, 10, {})


def test_rank_error_of_every_column() -> None:
    """ColumnProfile.rank_error() is public: numeric sketches give their bound (0 while exact); a
    categorical column has no ranks, and must not raise."""
    p = profile(pd.DataFrame({"x": np.arange(100.0), "s": ["a", "b"] * 50}))
    assert p.columns["x"].rank_error() == 0.0  # 100 values: the sketch still holds them all
    assert profile(pd.DataFrame({"x": np.arange(50_000.0)})).columns["x"].rank_error() > 0
    assert p.columns["s"].rank_error() == 0.0


@pytest.mark.parametrize("unit", ["ns", "us", "ms", "s"])
def test_datetimes_are_numeric_epoch_seconds(unit: str) -> None:
    """Whatever the resolution pandas gives the column (pandas 3 parses strings to microseconds)."""
    times = [dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 2, 6, tzinfo=dt.timezone.utc),
             None, dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)]
    seconds = [t.timestamp() for t in times if t is not None]
    naive = pd.Series([None if t is None else np.datetime64(t.replace(tzinfo=None)) for t in times]) \
        .astype(np.dtype(f"datetime64[{unit}]"))
    aware = naive.dt.tz_localize("UTC")
    for series in (naive, aware):
        col = profile(pd.DataFrame({"t": series})).columns["t"]
        assert (col.kind, col.count, col.missing) == ("numeric", 3, 1)
        assert col.mean == pytest.approx(np.mean(seconds), rel=1e-12), series.dtype
        assert col.std == pytest.approx(np.std(seconds, ddof=1), rel=1e-9), series.dtype
        assert list(col.quantiles(np.array([0.0, 1.0]))) == pytest.approx([min(seconds), max(seconds)])


def test_merged_halves_equal_the_whole() -> None:
    df = wide(40_000, 1)
    whole = profile(df)
    first, second = profile(df.iloc[:13_001]), profile(df.iloc[13_001:])
    merged = first.merge(second)
    assert merged is first and merged.rows == 40_000
    assert_same_numbers(merged, whole)
    for name in ("x0", "x3", "x19", "k"):  # the merged sketch: every quantile within its rank error
        within_rank_error(merged.columns[name], df[name].to_numpy(dtype=float))
    # many small batches, merged one by one (a service's log_profile calls), give the same numbers
    batched = Profile()
    for start in range(0, 40_000, 3_000):
        batched.merge(profile(df.iloc[start:start + 3_000]))
    assert_same_numbers(batched, whole)
    # update() streams batches into one profile
    streamed = Profile()
    for start in range(0, 40_000, 7_000):
        streamed.update(df.iloc[start:start + 7_000])
    assert_same_numbers(streamed, whole)


def test_a_column_present_in_some_batches_counts_the_others_as_missing() -> None:
    r = np.random.default_rng(2)
    b1 = pd.DataFrame({"a": r.normal(size=100), "b": r.normal(size=100)})
    b2 = pd.DataFrame({"a": r.normal(size=70)})
    b3 = pd.DataFrame({"a": r.normal(size=30), "b": [np.nan] * 5 + list(r.normal(size=25)),
                       "c": list("uvw") * 10})
    streamed = Profile().update(b1).update(b2).update(b3)
    merged = profile(b1).merge(profile(b2)).merge(profile(b3))
    whole = profile(pd.concat([b1, b2, b3], ignore_index=True))  # concat fills the gaps with NaN
    for p in (streamed, merged):
        assert p.rows == 200
        assert {k: (c.count, c.missing) for k, c in p.columns.items()} == {
            "a": (200, 0), "b": (125, 75), "c": (30, 170)}
        assert p.columns["b"].mean == pytest.approx(whole.columns["b"].mean, rel=1e-12)
        assert p.columns["c"].frequencies() == {"u": 10, "v": 10, "w": 10}
    # merged the other way round: the column the first profile lacks is counted missing for its rows
    back = profile(b3).merge(profile(b2)).merge(profile(b1))
    assert {k: (c.count, c.missing) for k, c in back.columns.items()} == {"a": (200, 0), "b": (125, 75),
                                                                          "c": (30, 170)}
    with pytest.raises(E.InvalidValueError, match="numeric in one profile and categorical"):
        profile(pd.DataFrame({"a": [1.0]})).merge(profile(pd.DataFrame({"a": ["one"]})))


def test_a_batch_whose_numeric_column_is_all_missing() -> None:
    """A service's batch built from JSON records where a numeric feature was never sent: pandas gives the
    column dtype object (all None).  It holds no values, so it adds missing values, not a new kind."""
    first = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1, 2, 3, 4]})
    empty = pd.DataFrame.from_records([{"x": None, "y": 5}, {"x": None, "y": 6}])
    assert empty["x"].dtype == object
    want = {"x": ("numeric", 4, 2), "y": ("numeric", 6, 0)}
    streamed = Profile().update(first).update(empty)
    assert {k: (c.kind, c.count, c.missing) for k, c in streamed.columns.items()} == want
    merged = profile(first).merge(profile(empty))
    assert {k: (c.kind, c.count, c.missing) for k, c in merged.columns.items()} == want
    # a current profile with no values in a column is not "numbers became text": there is nothing to test
    ref = profile(pd.DataFrame({"x": np.random.default_rng(0).normal(size=1000)}))
    none = compare(ref, profile(pd.DataFrame({"x": [None] * 1000}))).column("x")
    assert (none.n_current, none.verdict) == (0, "not enough data")


def test_profile_json_round_trip() -> None:
    df = wide(5_000, 3)
    p = profile(df)
    text = json.dumps(p.to_json())
    back = Profile.from_json(json.loads(text))
    assert_same_numbers(back, p, exact_sketch=True)
    for name, col in p.columns.items():
        assert back.columns[name].m2 == col.m2
        if col.kind == "numeric":
            assert back.columns[name].rank_error() == col.rank_error() > 0
    stored = json.loads(text)
    assert stored["format"] == "naiad-profile/1" and stored["rows"] == 5_000
    assert stored["columns"]["cat"]["top"] == df["cat"].value_counts().to_dict()
    x5 = np.sort(df["x5"].to_numpy())
    deciles = stored["columns"]["x5"]["deciles"]
    assert len(deciles) == 9  # for a person reading the JSON: each at its true rank within the sketch's error
    assert [np.searchsorted(x5, v) / len(x5) for v in deciles] == pytest.approx(
        np.linspace(0.1, 0.9, 9), abs=p.columns["x5"].rank_error() + 1e-3)
    # a profile read back compares exactly as the original
    cur = profile(mixed(3_000, 4, shift=0.5))
    ref = profile(mixed(3_000, 5))
    ref_back = Profile.from_json(json.loads(json.dumps(ref.to_json())))
    assert compare(ref_back, cur).to_json() == compare(ref, cur).to_json()
    with pytest.raises(E.InvalidValueError, match="not a naiad profile"):
        Profile.from_json({"format": "something-else/2", "rows": 0, "columns": {}})


def test_files_and_folders_give_the_dataframes_numbers(tmp_path: Path) -> None:
    df = wide(30_000, 4)
    want = profile(df)
    assert len(df.columns) > COLUMN_GROUP
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=7_000)
    assert pq.ParquetFile(path).num_row_groups == 5
    assert_same_numbers(profile(path), want)
    assert_same_numbers(profile(str(path), columns=["x1", "x18", "cat"]), profile(df[["x1", "x18", "cat"]]))
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    assert_same_numbers(profile(csv), want)
    tsv = tmp_path / "data.tsv"
    df.to_csv(tsv, sep="\t", index=False)
    assert_same_numbers(profile(tsv), want)
    # a folder of shards in both formats (and a file that is not data, skipped)
    folder = tmp_path / "shards"
    (folder / "more").mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(df.iloc[:12_000], preserve_index=False), folder / "part-0.parquet",
                   row_group_size=5_000)
    df.iloc[12_000:20_000].to_csv(folder / "part-1.csv", index=False)
    pq.write_table(pa.Table.from_pandas(df.iloc[20_000:], preserve_index=False), folder / "more" / "part-2.pq")
    (folder / "README.txt").write_text("not data\n")
    assert_same_numbers(profile(folder), want)
    # shards whose columns differ: the missing ones are counted missing
    gaps = tmp_path / "gaps"
    gaps.mkdir()
    df[["x0", "x1"]].iloc[:1000].to_csv(gaps / "a.csv", index=False)
    pq.write_table(pa.Table.from_pandas(df[["x0"]].iloc[1000:1500], preserve_index=False), gaps / "b.parquet")
    got = profile(gaps)
    assert got.rows == 1500 and (got.columns["x1"].count, got.columns["x1"].missing) == (1000, 500)


def test_only_csv_and_parquet_can_be_profiled(tmp_path: Path) -> None:
    other = tmp_path / "data.json"
    other.write_text("[]")
    with pytest.raises(E.FileError, match=r"only \.csv, \.tsv and \.parquet"):
        profile(other)
    with pytest.raises(E.FileError, match="no such file"):
        profile(tmp_path / "nowhere.csv")
    with pytest.raises(E.InvalidValueError, match="DataFrame or a CSV/Parquet path"):
        profile([1, 2, 3])


# ------------------------------------------------------------------------------------------ the drift rule
def test_identical_distributions_do_not_drift() -> None:
    df = mixed(5_000, 1)
    same = compare(profile(df), profile(df))
    assert [(c.column, c.verdict) for c in same.columns] == [(k, "no drift") for k in ("a", "b", "c", "cat")]
    # the same rows: D is 0; the Wasserstein distance only shows the two sketches' own (randomised) compaction
    assert all(c.statistic == 0 and c.p_adjusted == 1.0 and c.effect_size < 0.04 for c in same.columns)
    assert same.verdict == "no drift" and same.share_drifted == 0 and same.drifted == []
    fresh = compare(profile(df), profile(mixed(5_000, 2)))  # another sample of the same distributions
    assert fresh.drifted == [] and fresh.verdict == "no drift"
    assert all(c.effect_size < 0.06 and c.p_adjusted > 0.5 for c in fresh.columns)


def test_half_sigma_shift_drifts_with_effect_half() -> None:
    rep = compare(profile(mixed(5_000, 1)), profile(mixed(5_000, 2, shift=0.5)))
    a = rep.column("a")
    assert (a.kind, a.test, a.effect, a.verdict) == ("numeric", "ks", "wasserstein_norm", "drift")
    assert a.effect_size == pytest.approx(0.5, abs=0.05)
    assert a.p_adjusted < 1e-20 and a.floor == 0.1 and (a.n_reference, a.n_current) == (5_000, 5_000)
    assert [c.column for c in rep.drifted] == ["a"]
    assert {c.column: c.verdict for c in rep.columns} == {"a": "drift", "b": "no drift", "c": "no drift",
                                                         "cat": "no drift"}
    assert rep.share_drifted == 0.25 and rep.verdict == "no drift"  # 1 of 4 < share 0.5


def test_a_million_rows_do_not_flag_a_tiny_shift() -> None:
    r = np.random.default_rng(5)
    base = r.normal(0, 1, 1_000_000)
    ref = profile(pd.DataFrame({"x": base}))
    tiny = r.normal(0.02, 1, 1_000_000)
    assert ks_2samp(base, tiny).pvalue < 1e-10  # the exact two-sample test calls 0.02σ significant
    c = compare(ref, profile(pd.DataFrame({"x": tiny}))).column("x")
    # the sketches' randomised compaction spreads the estimate: over 60 profiles of these data its standard
    # deviation was 0.006 (0.014 to 0.038); the bound is 6 of them either side
    assert c.effect_size == pytest.approx(0.02, abs=0.036)
    assert c.verdict == "no drift"  # below the 0.1 floor (the sketch-corrected KS does not see it at all)
    small = compare(ref, profile(pd.DataFrame({"x": r.normal(0.05, 1, 1_000_000)}))).column("x")
    assert small.p_adjusted < 1e-6  # significant for a million rows…
    assert small.effect_size == pytest.approx(0.05, abs=0.036) and small.verdict == "no drift"  # …but too small


def test_two_hundred_rows_of_noise_are_not_drift() -> None:
    ref = profile(mixed(5_000, 1))
    rep = compare(ref, profile(mixed(200, 7)))
    assert rep.drifted == [] and rep.verdict == "no drift"
    assert all(c.p_adjusted > 0.05 for c in rep.columns)
    # and over many seeds the columns flagged by chance stay rare (5 % FDR per report, a floor on top)
    flagged = sum(len(compare(ref, profile(mixed(200, 100 + s))).drifted) for s in range(40))
    assert flagged <= 4  # of 160 column tests


def test_categorical_drift_needs_a_large_enough_change() -> None:
    ref = profile(mixed(20_000, 1))
    strong = compare(ref, profile(mixed(20_000, 2, cat_p=(0.2, 0.3, 0.5)))).column("cat")
    assert (strong.kind, strong.test, strong.effect, strong.verdict) == ("categorical", "chi2", "js_distance", "drift")
    # the Jensen–Shannon distance of the two true distributions, base 2
    assert strong.effect_size == pytest.approx(jensenshannon([0.5, 0.3, 0.2], [0.2, 0.3, 0.5], base=2), abs=0.02)
    mild = compare(ref, profile(mixed(20_000, 3, cat_p=(0.46, 0.32, 0.22)))).column("cat")
    assert mild.p_adjusted < 0.05  # significant at 20,000 rows…
    assert mild.effect_size < 0.1 and mild.verdict == "no drift"  # …but below the floor
    # a category that appears only now
    new = compare(ref, profile(pd.DataFrame({"cat": ["x"] * 500 + ["new"] * 500}))).column("cat")
    assert new.verdict == "drift" and new.effect_size > 0.5
    # the chi-square statistic of the 2 × k table, by hand
    r = profile(pd.DataFrame({"cat": ["x"] * 60 + ["y"] * 40}))
    c = profile(pd.DataFrame({"cat": ["x"] * 40 + ["y"] * 60}))
    got = compare(r, c).column("cat")
    assert got.statistic == pytest.approx(8.0)  # expected 50 in each cell: 4 × 10² / 50
    assert got.p_value == pytest.approx(chi2.sf(8.0, 1))


def test_high_cardinality_categories_of_the_same_distribution_do_not_drift() -> None:
    """2,000 equally likely ids, 50,000 rows on each side, the same distribution: the exact chi-square test
    finds nothing (p ≈ 0.56).  The frequent-items sketch lists only some ids once it is past its exact
    capacity (~750 values); ids listed on one side only must not read as categories that vanished."""
    r = np.random.default_rng(0)
    a, b = r.integers(0, 2000, 50_000).astype(str), r.integers(0, 2000, 50_000).astype(str)
    counts = pd.concat([pd.Series(a).value_counts(), pd.Series(b).value_counts()], axis=1).fillna(0).to_numpy().T
    assert chi2_contingency(counts)[1] > 0.3
    got = compare(profile(pd.DataFrame({"id": a})), profile(pd.DataFrame({"id": b}))).column("id")
    assert got.verdict == "no drift", (got.statistic, got.p_value, got.effect_size)


def test_too_few_rows_is_not_enough_data_and_outside_the_share() -> None:
    ref = mixed(5_000, 1)
    cur = mixed(5_000, 2, shift=2.0)
    cur.loc[25:, "b"] = np.nan  # 25 values of b (fewer than the 30 a verdict needs)
    cur.loc[10:, "cat"] = None
    rep = compare(profile(ref), profile(cur))
    b, cat = rep.column("b"), rep.column("cat")
    assert (b.verdict, b.n_current, cat.verdict, cat.n_current) == ("not enough data", 25, "not enough data", 10)
    assert math.isnan(b.p_value) and math.isnan(b.effect_size) and math.isnan(b.p_adjusted)
    assert [c.column for c in rep.tested] == ["a", "c"] and [c.column for c in rep.drifted] == ["a"]
    assert rep.share_drifted == 0.5 and rep.verdict == "drift"
    assert compare(profile(ref), profile(cur), min_rows=10).column("cat").verdict == "no drift"
    few = compare(profile(ref.iloc[:20]), profile(cur.iloc[:20]))
    assert few.tested == [] and few.verdict == "not enough data" and few.share_drifted == 0


def test_a_changed_type_is_drift() -> None:
    ref = mixed(1_000, 1)
    cur = ref.copy()
    cur["b"] = cur["b"].map(lambda v: f"{v:.2f}")  # numbers now arrive as text
    rep = compare(profile(ref), profile(cur))
    b = rep.column("b")
    assert (b.kind, b.test, b.effect, b.effect_size, b.verdict) == ("categorical", "type", "type_changed", 1.0, "drift")
    assert b.conventions == {"type": "was numeric, now categorical"}
    assert [c.column for c in rep.drifted] == ["b"] and len(rep.tested) == 4 and rep.share_drifted == 0.25
    back = compare(profile(cur), profile(ref)).column("b")
    assert (back.test, back.verdict, back.conventions["type"]) == ("type", "drift", "was categorical, now numeric")


def test_dataset_verdict_follows_the_share() -> None:
    ref = profile(mixed(3_000, 1))
    two = mixed(3_000, 2, shift=1.0)
    two["b"] += 1.0  # a and b drift: 2 of 4
    rep = compare(ref, profile(two))
    assert [c.column for c in rep.drifted] == ["a", "b"] and rep.share_drifted == 0.5
    assert rep.verdict == "drift"  # share_drifted ≥ share
    assert compare(ref, profile(two), share=0.6).verdict == "no drift"
    one = compare(ref, profile(mixed(3_000, 3, shift=1.0)))
    assert (one.share_drifted, one.verdict) == (0.25, "no drift")
    assert compare(ref, profile(mixed(3_000, 3, shift=1.0)), share=0.25).verdict == "drift"
    # columns= limits the report; a name missing on either side is left out
    only = compare(ref, profile(two), columns=["b", "nope"])
    assert [c.column for c in only.columns] == ["b"] and only.verdict == "drift"
    # a stricter floor keeps a 1σ shift; a looser alpha does not flag noise with no effect
    assert compare(ref, profile(two), numeric_floor=2.0).drifted == []
    out = rep.to_json()
    assert out["verdict"] == "drift" and out["share"] == 0.5 and out["alpha"] == 0.05
    assert [(c["column"], c["drifted"]) for c in out["columns"]] == [("a", True), ("b", True), ("c", False),
                                                                     ("cat", False)]
    json.dumps(out)  # plain JSON


def test_benjamini_hochberg_by_hand() -> None:
    # sorted: 0.001·5/1 = 0.005, 0.011·5/2 = 0.0275, 0.03·5/3 = 0.05, 0.04·5/4 = 0.05, 0.2·5/5 = 0.2
    assert benjamini_hochberg([0.04, 0.001, 0.03, 0.2, 0.011]) == pytest.approx([0.05, 0.005, 0.05, 0.2, 0.0275])
    # step-up: a later rank lowers an earlier one (0.02·3 = 0.06 > 0.021·3/2 = 0.0315)
    assert benjamini_hochberg([0.02, 0.021, 0.9]) == pytest.approx([0.0315, 0.0315, 0.9])
    assert benjamini_hochberg([0.5]) == [0.5]
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.01, 0.01]) == pytest.approx([0.01, 0.01])
    # compare() adjusts over the tested columns: p_adjusted is BH of the p-values
    rep = compare(profile(mixed(2_000, 1)), profile(mixed(2_000, 2, shift=0.1)))
    assert [c.p_adjusted for c in rep.columns] == pytest.approx(benjamini_hochberg([c.p_value for c in rep.columns]))


def test_conventions_name_the_statistics() -> None:
    rep = compare(profile(mixed(1_000, 1)), profile(mixed(1_000, 2)))
    assert rep.column("a").conventions == {"ks": KS_CONVENTION, "wasserstein_norm": W_CONVENTION}
    assert rep.column("cat").conventions == {"chi2": CHI2_CONVENTION, "js_distance": JS_CONVENTION}
    assert "Kolmogorov–Smirnov" in KS_CONVENTION and "rank error" in KS_CONVENTION
    assert "Wasserstein-1" in W_CONVENTION and "reference standard deviation" in W_CONVENTION
    assert "chi-square" in CHI2_CONVENTION and "Jensen–Shannon" in JS_CONVENTION and "base 2" in JS_CONVENTION


# ------------------------------------------------------------------------------------------ evaluations
@dataclass
class Cancer:
    estimator: Any
    train: pd.DataFrame  # features + label
    test: pd.DataFrame
    features: list[str]


@pytest.fixture(scope="module")
def cancer() -> Cancer:
    data = load_breast_cancer(as_frame=True)
    x_tr, x_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.3, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_tr, y_tr)
    train = x_tr.reset_index(drop=True).assign(label=y_tr.to_numpy())
    test = x_te.reset_index(drop=True).assign(label=y_te.to_numpy())
    return Cancer(model, train, test, list(data.data.columns))


def register(key: str, tmp_path: Path, **kwargs: Any) -> str:
    """A training run with weights, registered as a version of a new model ``DEF-<key>``."""
    if not naiad_model_exists(f"DEF-{key}"):
        naiad.init_model(key=key, name=key.lower(), project=PROJECT).stop()
    weights = tmp_path / f"{key}.pkl"
    weights.write_bytes(pickle.dumps({"key": key}))
    run = naiad.init_run(project=PROJECT, name=f"train {key}")
    run["model/weights"].upload(str(weights))
    for field, folder in kwargs.pop("track", {}).items():
        run[field].track_files(str(folder))
    run.wait()
    mv = naiad.register_model_version(run, model=f"DEF-{key}", **kwargs)
    version = str(mv["sys/id"].fetch())
    mv.stop()
    run.stop()
    return version


def naiad_model_exists(model: str) -> bool:
    try:
        naiad.init_model(with_id=model, mode="read-only").stop()
        return True
    except Exception:
        return False


def fields(run_id: str, namespace: str) -> Any:
    run = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        return run[namespace].fetch() if run.exists(namespace) else None
    finally:
        run.stop()


def structure(run_id: str) -> dict[str, Any]:
    run = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        return run.get_structure()
    finally:
        run.stop()


SHIFTED = ["mean texture", "worst smoothness"]


def test_evaluation_drift_against_the_training_profile(cancer: Cancer, tmp_path: Path) -> None:
    version = register("CANCER", tmp_path, training_data=cancer.train)
    train_profile = naiad.read_profile(version, "train")
    assert_same_numbers(train_profile, profile(cancer.train))
    columns = [*cancer.features, "label"]

    test = cancer.test
    ev = naiad.evaluate(version, test, "label", cancer.estimator.predict(test[cancer.features]), plots=False)
    assert ev.drift == {"verdict": "no drift", "share_drifted": 0.0, "columns_drifted": 0,
                        "columns_tested": len(columns), "drifted": []}
    summary = fields(ev.run, "drift/summary")
    assert summary == {"verdict": "no drift", "share_drifted": 0.0, "columns_drifted": 0,
                       "columns_tested": len(columns), "alpha": 0.05, "share": 0.5}
    per_column = fields(ev.run, "drift/columns")
    assert sorted(per_column) == sorted(columns)
    assert {c: v["verdict"] for c, v in per_column.items()} == dict.fromkeys(columns, "no drift")
    radius = per_column["mean radius"]
    assert (radius["test"], radius["effect"], radius["n_reference"], radius["n_current"]) == (
        "ks", "wasserstein_norm", len(cancer.train), len(test))
    assert radius["convention"] == f"ks: {KS_CONVENTION}; wasserstein_norm: {W_CONVENTION}"
    # the stored numbers are compare()'s on the same profiles
    direct = compare(train_profile, profile(test))
    for c in direct.columns:
        got = per_column[c.column]
        assert (got["statistic"], got["p_value"], got["p_adjusted"], got["effect_size"], got["floor"]) == \
            pytest.approx((c.statistic, c.p_value, c.p_adjusted, c.effect_size, c.floor)), c.column
    assert sorted(structure(ev.run)["profiles"]) == ["data", "predictions"]
    assert fields(ev.run, "drift/predictions") is None  # the version's first evaluation: nothing to compare with

    shifted = test.copy()
    for col in SHIFTED:
        shifted[col] += 2 * cancer.train[col].std()
    ev2 = naiad.evaluate(version, shifted, "label", cancer.estimator.predict(shifted[cancer.features]), plots=False)
    assert sorted(ev2.drift["drifted"]) == sorted(SHIFTED)
    assert ev2.drift["columns_drifted"] == 2 and ev2.drift["verdict"] == "no drift"
    assert ev2.drift["share_drifted"] == pytest.approx(2 / len(columns))
    per_column = fields(ev2.run, "drift/columns")
    assert {c: v["verdict"] for c, v in per_column.items() if v["verdict"] == "drift"} == dict.fromkeys(SHIFTED,
                                                                                                       "drift")
    for col in SHIFTED:  # a 2σ shift of the whole column: the normalised Wasserstein distance is about 2
        assert per_column[col]["effect_size"] == pytest.approx(2.0, abs=0.35)
    # the predictions against those of the first evaluation
    pred = fields(ev2.run, "drift/predictions")
    assert set(pred) == {"summary", "columns"} and list(pred["columns"]) == ["prediction"]
    assert pred["columns"]["prediction"]["test"] == "chi2"
    assert pred["columns"]["prediction"]["n_reference"] == len(test)
    assert pred["summary"]["columns_tested"] == 1

    # reused: the stored summary
    again = naiad.evaluate(version, shifted, "label", cancer.estimator.predict(shifted[cancer.features]),
                           plots=False)
    assert again.reused and again.run == ev2.run
    assert again.drift["verdict"] == "no drift" and again.drift["columns_drifted"] == 2

    long = naiad.fetch_drift("DEF-CANCER")
    assert list(long.columns) == ["time", "run", "version", "column", "test", "statistic", "p_adjusted", "effect",
                                  "effect_size", "verdict"]
    assert len(long) == 2 * len(columns)
    assert list(long["run"]) == [ev.run] * len(columns) + [ev2.run] * len(columns)
    assert set(long["version"]) == {version} and set(long["test"]) == {"ks"}
    assert sorted(long.loc[long["verdict"] == "drift", "column"]) == sorted(SHIFTED)
    assert str(long["time"].dt.tz) == "UTC"
    assert list(long["time"].drop_duplicates().map(lambda t: t.timestamp())) == pytest.approx(
        [ev.created, ev2.created], abs=1e-3)
    row = long[(long["run"] == ev2.run) & (long["column"] == SHIFTED[0])].iloc[0]
    assert row["effect_size"] == pytest.approx(per_column[SHIFTED[0]]["effect_size"])

    timeline = naiad.fetch_evaluations("DEF-CANCER")
    assert list(timeline["drift"]) == ["no drift", "no drift"]
    assert list(timeline["drift_share"]) == pytest.approx([0.0, 2 / len(columns)])


def test_a_version_without_a_training_profile_has_no_drift(cancer: Cancer, tmp_path: Path) -> None:
    version = register("PLAIN", tmp_path)
    ev = naiad.evaluate(version, cancer.test, "label", cancer.estimator.predict(cancer.test[cancer.features]),
                        plots=False)
    assert ev.drift == {}
    assert "drift" not in structure(ev.run)
    with pytest.raises(E.MissingFieldError, match="has no profiles/train"):
        naiad.read_profile(version, "train")
    assert naiad.fetch_drift("DEF-PLAIN").empty
    timeline = naiad.fetch_evaluations("DEF-PLAIN")
    assert timeline["drift"].isna().all()
    # drift=False: neither profiles nor drift, even with a training profile
    profiled = register("PLAIN", tmp_path, training_data=cancer.train)
    off = naiad.evaluate(profiled, cancer.test, "label", cancer.estimator.predict(cancer.test[cancer.features]),
                         plots=False, drift=False)
    assert off.drift == {} and "drift" not in structure(off.run)


def test_register_profiles_the_runs_tracked_train_files(cancer: Cancer, tmp_path: Path) -> None:
    folder = tmp_path / "data" / "train"
    folder.mkdir(parents=True)
    cancer.train.iloc[:200].to_csv(folder / "part-0.csv", index=False)
    cancer.train.iloc[200:].to_parquet(folder / "part-1.parquet", index=False)
    val = tmp_path / "data" / "val"
    val.mkdir()
    cancer.test.to_csv(val / "val.csv", index=False)
    version = register("AUTO", tmp_path, track={"datasets/train": folder, "datasets/val": val})
    got = naiad.read_profile(version, "train")
    assert got.rows == len(cancer.train)  # the training rows, not the validation ones
    assert_same_numbers(got, profile(cancer.train))
    mv = naiad.init_model_version(with_id=version, mode="read-only")
    try:
        assert sorted(mv.get_structure()["profiles"]) == ["train"]
    finally:
        mv.stop()
    ev = naiad.evaluate(version, cancer.test, "label", cancer.estimator.predict(cancer.test[cancer.features]),
                        plots=False)
    assert ev.drift["verdict"] == "no drift" and ev.drift["columns_tested"] == len(cancer.features) + 1


# ------------------------------------------------------------------------------------------ skew
def test_serving_profiles_merge_over_batches_and_show_skew(cancer: Cancer, tmp_path: Path) -> None:
    version = register("SRV", tmp_path, training_data=cancer.train)
    serving = cancer.test.copy()
    serving["worst area"] *= 1.8  # the service computes this feature differently
    batches = [serving.iloc[i:i + 40] for i in range(0, len(serving), 40)]
    for i, batch in enumerate(batches):
        returned = naiad.log_profile(version, batch)
        assert returned.rows == min(40 * (i + 1), len(serving))
    stored = naiad.read_profile(version, "serving")
    assert_same_numbers(stored, profile(serving))
    report = naiad.distribution_skew(version)
    assert isinstance(report, DriftReport)
    assert [c.column for c in report.drifted] == ["worst area"]
    assert report.column("worst area").effect_size > 0.5
    # merge=False starts over; another role is kept apart
    naiad.log_profile(version, cancer.test.iloc[:60], merge=False)
    assert naiad.read_profile(version, "serving").rows == 60
    naiad.log_profile(version, cancer.test, role="canary")
    assert naiad.distribution_skew(version, serving="canary").drifted == []
    assert naiad.distribution_skew(version, serving="canary", numeric_floor=0.0, alpha=1.0).drifted != []
    with pytest.raises(E.MissingFieldError, match="profiles/shadow"):
        naiad.distribution_skew(version, serving="shadow")
    with pytest.raises(E.InvalidValueError, match="role"):
        naiad.log_profile(version, cancer.test, role="a/b")
    # on a run too (by id)
    run = naiad.init_run(project=PROJECT, name="service")
    run_id = str(run["sys/id"].fetch())
    run.stop()
    naiad.log_profile(run_id, batches[0])
    naiad.log_profile(run_id, batches[1])
    assert_same_numbers(naiad.read_profile(run_id, "serving"), profile(pd.concat(batches[:2])))


def test_feature_skew_counts_mismatches_exactly() -> None:
    serving = pd.DataFrame({
        "request_id": [1, 2, 3, 4, 5, 6, 7],
        "amount": [10.0, 20.0, 30.0, np.nan, np.nan, 60.0, 70.0],
        "country": ["de", "fr", "fr", None, "it", "es", "pt"],
        "age": [30, 40, 50, 60, 70, 80, 90],
    })
    recomputed = pd.DataFrame({
        "request_id": [7, 6, 5, 4, 3, 2, 1, 99],  # another order; 99 was never served
        "amount": [70.0, 60.0 * (1 + 1e-12), 5.0, np.nan, 30.0 + 1e-6, 20.0, 10.0, 1.0],
        "country": ["pt", "ES", "it", None, "fr", None, "de", "xx"],
        "age": [90, 80, 70, 60, 50, 41, 30, 0],
        "only_here": [0] * 8,
    })
    got = naiad.feature_skew(serving, recomputed, key="request_id")
    assert list(got.columns) == ["feature", "rows", "mismatches", "mismatch_rate"]
    rows = {r["feature"]: (r["rows"], r["mismatches"]) for r in got.to_dict("records")}
    # amount: 5 (NaN vs 5.0) and 3 (1e-6 off) differ; 6 (1e-12 relative) is equal; 4 is missing on both sides
    # country: 6 ("es" vs "ES") and 2 (missing on one side) differ; age: request 2
    assert rows == {"amount": (7, 2), "country": (7, 2), "age": (7, 1)}
    assert list(got["mismatch_rate"]) == pytest.approx([2 / 7, 2 / 7, 1 / 7])
    loose = naiad.feature_skew(serving, recomputed, key="request_id", features=["amount"], tolerance=1e-3)
    assert loose.to_dict("records") == [{"feature": "amount", "rows": 7, "mismatches": 1, "mismatch_rate": 1 / 7}]
    with pytest.raises(E.InvalidValueError, match="no key column 'id'"):
        naiad.feature_skew(serving, recomputed, key="id")


def test_code_skew_compares_inference_files(tmp_path: Path) -> None:
    code = tmp_path / "serve"
    (code / "lib").mkdir(parents=True)
    (code / "predict.py").write_text("def predict(x):\n    return x > 0\n")
    (code / "lib" / "features.py").write_text("def clean(row):\n    return row\n")
    version = register("CODE", tmp_path, inference=[str(code)])
    assert naiad.code_skew(version, code) == {}
    running = tmp_path / "running"
    shutil.copytree(code, running)
    (running / "__pycache__").mkdir()
    (running / "__pycache__" / "predict.cpython-312.pyc").write_bytes(b"\x00compiled")
    (running / "lib" / "features.cpython-312.pyc").write_bytes(b"\x00compiled")
    assert naiad.code_skew(version, running) == {}

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    registered = sha(code / "lib" / "features.py")
    (running / "lib" / "features.py").write_text("def clean(row):\n    return [v for v in row]\n")
    assert naiad.code_skew(version, running) == {
        "lib/features.py": {"registered": registered, "running": sha(running / "lib" / "features.py")}}
    (running / "extra.py").write_text("X = 1\n")
    diff = naiad.code_skew(version, running)
    assert sorted(diff) == ["extra.py", "lib/features.py"]
    assert diff["extra.py"] == {"registered": None, "running": sha(running / "extra.py")}
    # as the service reports it: {path: sha256}; a file it lacks shows running None
    reported = {"predict.py": sha(code / "predict.py")}
    assert naiad.code_skew(version, reported) == {"lib/features.py": {"registered": registered, "running": None}}
    without = register("CODE", tmp_path)
    with pytest.raises(E.MissingFieldError, match="no 'inference' code"):
        naiad.code_skew(without, code)


def test_code_skew_of_code_registered_from_a_runs_file_set(tmp_path: Path) -> None:
    """The usual way (tests/test_registry.py): the training run uploads its serving code as a FileSet and
    register_model_version copies it; FileSet names are relative to the working directory
    (``serve/predict.py``).  The service runs that same folder: no skew."""
    serve = tmp_path / "serve"
    serve.mkdir()
    (serve / "predict.py").write_text("def predict(x):\n    return x > 0\n")
    weights = tmp_path / "w.pkl"
    weights.write_bytes(b"weights")
    naiad.init_model(key="FS", project=PROJECT).stop()
    run = naiad.init_run(project=PROJECT, name="train")
    run["model/weights"].upload(str(weights))
    run["code/inference"].upload_files(str(serve / "*.py"))
    run.wait()
    mv = naiad.register_model_version(run, model="DEF-FS", inference="code/inference")
    version = str(mv["sys/id"].fetch())
    mv.stop()
    run.stop()
    assert naiad.code_skew(version, serve) == {}


# ------------------------------------------------------------------------------------------ CLI
def two_features(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    df = pd.DataFrame({"f1": r.normal(shift, 1, n), "f2": r.normal(5 + shift, 1, n), "f3": r.normal(0, 1, n)})
    df["label"] = (df["f3"] > 0).astype(int)
    df["served"] = df["label"]  # right every time: never degraded
    return df


def test_cli_monitor_drift_table_and_json(tmp_path: Path) -> None:
    train = two_features(2_000, 1)
    version = register("CLID", tmp_path, training_data=train.drop(columns="served"))
    assert cli("monitor", "drift", "--model", "DEF-CLID").output.strip() == (
        "DEF-CLID has no drift results yet (evaluations of versions with a training profile have them).")
    e1 = naiad.evaluate(version, two_features(500, 2), "label", "served", plots=False)
    e2 = naiad.evaluate(version, two_features(500, 3, shift=1.0), "label", "served", plots=False)
    assert e1.drift["verdict"] == "no drift" and sorted(e2.drift["drifted"]) == ["f1", "f2"]
    long = naiad.fetch_drift("DEF-CLID")
    lines = [json.loads(line) for line in cli("monitor", "drift", "--model", "DEF-CLID", "--json").output.splitlines()]
    assert len(lines) == len(long) == 8  # 2 runs × f1, f2, f3, label
    assert [(r["run"], r["column"], r["verdict"]) for r in lines] == list(
        zip(long["run"], long["column"], long["verdict"], strict=True))
    assert [r["effect_size"] for r in lines] == pytest.approx(list(long["effect_size"]))
    assert all(dt.datetime.fromisoformat(r["time"]).tzinfo is not None for r in lines)

    table = cli("monitor", "drift", "--model", "DEF-CLID")
    assert table.exit_code == 0, table.output
    text = table.output
    assert "DEF-CLID — drift effect size per column (* drifted)" in " ".join(text.split())  # (title wrapped)
    assert e1.run in text and e2.run in text
    cell = {(r["run"], r["column"]): r for r in lines}
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in text.splitlines() if line.count("│") >= 4}
    for column in ("f1", "f2", "f3", "label"):
        want = []
        for run in (e1.run, e2.run):
            r = cell[(run, column)]
            want.append(f"{r['effect_size']:.3f}{' *' if r['verdict'] == 'drift' else ''}")
        assert rows[column] == want, (column, text)
    assert rows["f1"][1].endswith(" *") and not rows["f3"][1].endswith("*")


def test_cli_monitor_skew_output_and_exit_codes(cancer: Cancer, tmp_path: Path) -> None:
    code = tmp_path / "serve"
    code.mkdir()
    (code / "predict.py").write_text("def predict(x):\n    return x\n")
    version = register("SKW", tmp_path, training_data=cancer.train, inference=[str(code / "*.py")])
    none_yet = cli("monitor", "skew", version, "--code", str(code))
    assert none_yet.exit_code == 0, none_yet.output
    lines = none_yet.output.splitlines()
    assert lines[0].startswith(f"distribution skew: not measured ({version}") and "profiles/serving" in lines[0]
    assert lines[1] == "code skew: none (every file matches)"

    naiad.log_profile(version, cancer.test)
    fine = cli("monitor", "skew", version, "--code", str(code))
    assert fine.exit_code == 0, fine.output
    assert fine.output.splitlines() == [
        f"distribution skew: 0 of {len(cancer.features) + 1} columns differ from training (dataset verdict: no drift)",
        "code skew: none (every file matches)"]

    skewed = cancer.test.copy()
    skewed["mean area"] *= 3
    naiad.log_profile(version, skewed, role="v2")
    report = naiad.distribution_skew(version, serving="v2")
    c = report.column("mean area")
    out = cli("monitor", "skew", version, "--serving", "v2")
    assert out.exit_code == 1, out.output
    assert out.output.splitlines() == [
        f"distribution skew: 1 of {len(cancer.features) + 1} columns differ from training (dataset verdict: no drift)",
        f"  mean area: wasserstein_norm {c.effect_size:.3f} (p adj. {c.p_adjusted:.2g})"]

    before = hashlib.sha256((code / "predict.py").read_bytes()).hexdigest()
    (code / "predict.py").write_text("def predict(x):\n    return -x\n")
    after = hashlib.sha256((code / "predict.py").read_bytes()).hexdigest()
    changed = cli("monitor", "skew", version, "--code", str(code))
    assert changed.exit_code == 1, changed.output
    assert changed.output.splitlines()[1:] == ["code skew: 1 file(s) differ",
                                               f"  predict.py: registered {before[:12]}, running {after[:12]}"]


def test_cli_monitor_run_fails_on_drift_only_when_asked(tmp_path: Path) -> None:
    train = two_features(2_000, 1)
    version = register("RUN", tmp_path, training_data=train.drop(columns="served"))
    path = tmp_path / "drifted.parquet"
    two_features(600, 4, shift=1.5).to_parquet(path, index=False)
    base = ["monitor", "run", "--model", "DEF-RUN", "--version", version, "--data", str(path), "--target", "label",
            "--predictions", "served"]
    plain = cli(*base)
    assert plain.exit_code == 0, plain.output  # drifted, but not degraded: fine unless asked
    assert "drift against the training data: drift — 2 of 4 columns drifted (f1, f2)" in plain.output
    assert plain.output.splitlines()[-1].startswith("OK: accuracy 1")
    strict = cli(*base, "--fail-on-drift", "--json")  # the stored evaluation, judged again
    assert strict.exit_code == 1, strict.output
    got = json.loads(strict.output)
    assert got["reused"] and got["status"] == "ok" and got["drift"]["verdict"] == "drift"
    assert got["drift"]["columns_drifted"] == 2 and got["drift"]["share_drifted"] == 0.5
    calm = tmp_path / "calm.parquet"
    two_features(600, 5).to_parquet(calm, index=False)
    ok = cli(*[a if a != str(path) else str(calm) for a in base], "--fail-on-drift")
    assert ok.exit_code == 0, ok.output
    assert "drift against the training data: no drift — 0 of 4 columns drifted" in ok.output


# ------------------------------------------------------------------------------------------ on a server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    with team_server(tmp_path_factory.mktemp("drift-server")) as found:
        yield found


def test_drift_and_skew_on_a_server(server: TeamServer, cancer: Cancer, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    naiad.store.forget_store(server.url)
    monkeypatch.setenv("NAIAD_URI", server.url)
    monkeypatch.setenv("NAIAD_API_TOKEN", server.token)
    version = register("NET", tmp_path, training_data=cancer.train)
    assert server.store.get_container(short_id=version).kind == "model_version"
    assert_same_numbers(naiad.read_profile(version, "train"), profile(cancer.train))

    serving = cancer.test.copy()
    serving["worst area"] *= 1.8
    naiad.log_profile(version, serving.iloc[:90])
    naiad.log_profile(version, serving.iloc[90:])
    assert_same_numbers(naiad.read_profile(version, "serving"), profile(serving))
    assert [c.column for c in naiad.distribution_skew(version).drifted] == ["worst area"]

    shifted = cancer.test.copy()
    for col in SHIFTED:
        shifted[col] += 2 * cancer.train[col].std()
    ev = naiad.evaluate(version, shifted, "label", cancer.estimator.predict(shifted[cancer.features]), plots=False)
    assert sorted(ev.drift["drifted"]) == sorted(SHIFTED)
    assert fields(ev.run, "drift/summary")["columns_drifted"] == 2
    long = naiad.fetch_drift("DEF-NET")
    assert sorted(long.loc[long["verdict"] == "drift", "column"]) == sorted(SHIFTED)
    # a second evaluation: its predictions are compared with the first one's profile, read from the server
    ev2 = naiad.evaluate(version, cancer.test, "label", cancer.estimator.predict(cancer.test[cancer.features]),
                         plots=False)
    assert ev2.drift["verdict"] == "no drift" and ev2.drift["drifted"] == []
    assert fields(ev2.run, "drift/predictions/summary")["columns_tested"] == 1
    assert list(naiad.fetch_evaluations("DEF-NET")["drift"]) == ["no drift", "no drift"]
    table = cli("monitor", "drift", "--model", "DEF-NET", "--uri", server.url)
    assert table.exit_code == 0 and ev.run in table.output
    skew = cli("monitor", "skew", version, "--uri", server.url)
    assert skew.exit_code == 1 and "  worst area: wasserstein_norm" in skew.output
