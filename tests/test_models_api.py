"""``/api/v1/models/*`` — a model's evaluation timeline, column drift, gate decisions and the drift
drill-down histograms — over real HTTP on loopback, checked against the SDK's own frames
(``naiad.fetch_evaluations``, ``fetch_drift``, ``fetch_gate_decisions``) that the same functions back;
``naiad.data.drift.histograms`` on profiles of known data; and the frames of a model with no evaluations.

One registry is made once for the module with the SDK (project "shop"): SHO-CLS with two versions
trained on the same data, v1 evaluated on a month like the training data and on one with ``x`` shifted
by 1.5σ and accuracy down from 0.9 to 0.75, then a gate v2 vs v1 that passes and promotes v2; SHO-IDLE,
a model with a version and nothing else; and a model in the project "other".  A team server serves it
with a viewer of "shop" and a viewer of "other".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import naiad
from naiad import errors as E
from naiad.data.drift import compare, histograms
from naiad.data.profile import profile
from registry_kit import controlled, shop_registry, writing_to
from services import TeamServer, as_user, assert_envelope, team_server

API = "/api/v1"
MODEL, IDLE = "SHO-CLS", "SHO-IDLE"
SHOP, OTHER = "shop", "other"
REGIONS = [f"r{i:02d}" for i in range(25)]  # more than the 20 categories a histogram names: "(other)" is not empty
WEIGHTS = np.linspace(2.0, 0.2, len(REGIONS)) / np.linspace(2.0, 0.2, len(REGIONS)).sum()
TIMELINE_COLUMNS = ["time", "run", "version", "production_then", "dataset_role", "dataset_hash", "n", "metric",
                    "value", "ci_low", "ci_high", "status", "reason", "drift", "drift_share"]
DRIFT_COLUMNS = ["time", "run", "version", "column", "test", "statistic", "p_adjusted", "effect", "effect_size",
                 "verdict"]
DECISION_COLUMNS = ["time", "run", "candidate", "baseline", "verdict", "reason", "n", "dataset_hash", "commit",
                    "ci_url", "actor", "actor_role", "decision"]
HISTOGRAM_KEYS = {"column", "kind", "reference_rows", "current_rows", "reference_missing", "current_missing",
                  "reference", "current", "run", "version"}


# ------------------------------------------------------------------------------------------------ data
def month(n: int, right: float, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """``controlled`` (x, label, served) plus y2 (never shifted), region (25 categories) and sparse (a
    number on 10 rows only: too few to test, so its drift statistics are NaN)."""
    frame = controlled(n, right, seed)
    rng = np.random.default_rng(seed + 100)
    frame["x"] = frame["x"] + shift
    frame["y2"] = rng.normal(size=n)
    frame["region"] = rng.choice(REGIONS, size=n, p=WEIGHTS)
    sparse = np.full(n, np.nan)
    sparse[:10] = rng.normal(size=10)
    frame["sparse"] = sparse
    return frame


@dataclass
class Site:
    server: TeamServer
    v1: str
    v2: str
    idle_version: str
    other_model: str
    first: str  # the evaluation of v1 on data like the training data
    second: str  # the degraded, drifted one
    gate_run: str
    holdout_runs: list[str]  # the gate's evaluations (no drift measured: no data profile)
    train: pd.DataFrame
    shifted: pd.DataFrame  # the data of ``second``
    folder: Path  # the embedded store the server serves

    def get(self, path: str, who: str = "admin", **params: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.server.tokens[who]}"}
        return httpx.get(self.server.url + API + path, params=params, headers=headers, timeout=30)

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()


def make_registry() -> dict[str, Any]:
    """:func:`registry_kit.shop_registry`, plus SHO-IDLE (a version and nothing else) and a model in "other"."""
    made = shop_registry(month)
    naiad.init_model(key="IDLE", name="idle", project=SHOP).stop()
    mv = naiad.init_model_version(model=IDLE)
    idle_version = str(mv["sys/id"].fetch())
    mv.stop()
    other = naiad.init_model(key="OTH", name="elsewhere", project=OTHER)
    other_model = str(other["sys/id"].fetch())
    other.stop()
    gate = made.pop("gate")
    del made["model"]  # MODEL
    return made | {"idle_version": idle_version, "other_model": other_model, "gate_run": gate.run,
                   "holdout_runs": [gate.evaluations["candidate"], gate.evaluations["baseline"]]}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("models-api")
    with writing_to(folder / "store"):  # the folder team_server serves
        made = make_registry()
    grants = [("vera", SHOP, "viewer"), ("olga", OTHER, "viewer")]
    with team_server(folder, grants) as server:
        yield Site(server, **made, folder=folder / "store")


@pytest.fixture
def sdk(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """The SDK of the test reads (and writes) through the site's server as its admin."""
    as_user(site.server, "admin", monkeypatch)
    return site


# ------------------------------------------------------------------------------------------------ helpers
def plain(value: Any) -> Any:
    """A frame's cell as JSON has it: NaN / None / NA are null, numpy scalars are Python ones."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def assert_records_equal_frame(records: list[dict[str, Any]], frame: pd.DataFrame, columns: list[str]) -> None:
    """The API's records are the frame's rows, in order, column for column (``time``: epoch seconds in
    the API, the same instant as a UTC Timestamp in the frame)."""
    assert list(frame.columns) == columns
    assert len(records) == len(frame)
    for record, (_, row) in zip(records, frame.iterrows(), strict=True):
        assert set(record) == set(columns)
        when = pd.to_datetime(pd.Series([record["time"]], dtype=float), unit="s", utc=True)[0]
        assert abs((when - row["time"]).total_seconds()) < 1e-6
        assert {c: record[c] for c in columns if c != "time"} == {c: plain(row[c]) for c in columns if c != "time"}


def assert_no_nan(value: Any) -> None:
    """Strict JSON: no float in the answer is NaN or infinite (httpx would have parsed NaN as a float)."""
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for v in value.values():
            assert_no_nan(v)
    elif isinstance(value, list):
        for v in value:
            assert_no_nan(v)


def category_shares(values: pd.Series) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.value_counts(normalize=True).items()}


# ------------------------------------------------------------------------------------------------ timeline
def test_timeline_records_are_fetch_evaluations_rows_with_the_rule(sdk: Site) -> None:
    body = sdk.ok("/models/timeline", model=MODEL)
    assert set(body) == {"rule", "evaluations"}
    assert body["rule"] == {"metric": None, "floor": None, "sigmas": 3.0, "reference": None, "min_rows": 30}
    evaluations = body["evaluations"]
    frame = naiad.fetch_evaluations(MODEL)
    assert_records_equal_frame(evaluations, frame, TIMELINE_COLUMNS)
    assert_no_nan(body)

    # the two monthly evaluations of v1, then the gate's two on its holdout: candidate v2 and baseline v1
    assert [e["run"] for e in evaluations] == [sdk.first, sdk.second, *sdk.holdout_runs]
    assert [e["version"] for e in evaluations] == [sdk.v1, sdk.v1, sdk.v2, sdk.v1]
    assert [e["production_then"] for e in evaluations] == [sdk.v1] * 4
    assert [e["dataset_role"] for e in evaluations] == ["2026-09", "2026-10", "holdout", "holdout"]
    assert [e["n"] for e in evaluations] == [600, 600, 800, 800]
    assert [e["metric"] for e in evaluations] == ["accuracy"] * 4
    assert [e["value"] for e in evaluations] == pytest.approx([0.9, 0.75, 1.0, 0.9])
    assert [e["status"] for e in evaluations] == ["ok", "degraded", "ok", "ok"]
    for e in evaluations:
        assert e["ci_low"] <= e["value"] <= e["ci_high"]
    times = [e["time"] for e in evaluations]
    assert times == sorted(times) and all(isinstance(t, float) and t > 1.7e9 for t in times)
    # drift was measured on the monthly data (v1 has a training profile), not on the gate's holdout
    assert evaluations[0]["drift"] in ("drift", "no drift") and evaluations[0]["drift_share"] == 0.0
    assert evaluations[1]["drift_share"] > 0.0
    assert [e["drift"] for e in evaluations[2:]] == [None, None]
    assert [e["drift_share"] for e in evaluations[2:]] == [None, None]


def test_fetch_evaluations_time_is_a_utc_timestamp_column(sdk: Site) -> None:
    frame = naiad.fetch_evaluations(MODEL)
    assert isinstance(frame["time"].dtype, pd.DatetimeTZDtype) and str(frame["time"].dt.tz) == "UTC"
    assert frame["time"].is_monotonic_increasing
    assert all(abs(pd.Timestamp.now(tz="UTC") - t) < pd.Timedelta(hours=1) for t in frame["time"])


def test_a_set_degradation_rule_shows_in_the_timeline_and_changes_its_verdicts(sdk: Site) -> None:
    try:
        naiad.set_degradation_rule(MODEL, floor=0.95, sigmas=2.0, min_rows=700)
        body = sdk.ok("/models/timeline", model=MODEL)
        assert body["rule"] == {"metric": None, "floor": 0.95, "sigmas": 2.0, "reference": None, "min_rows": 700}
        # 600 rows are fewer than 700: not a verdict; the holdout's 800 are judged against the floor
        assert [e["status"] for e in body["evaluations"]] == ["insufficient data", "insufficient data", "ok",
                                                             "degraded"]
        assert body["evaluations"][3]["reason"] == "accuracy 0.9 is below the floor 0.95"
        assert_records_equal_frame(body["evaluations"], naiad.fetch_evaluations(MODEL), TIMELINE_COLUMNS)

        naiad.set_degradation_rule(MODEL, metric="f1", reference=0.99)
        body = sdk.ok("/models/timeline", model=MODEL)
        assert body["rule"] == {"metric": "f1", "floor": None, "sigmas": 3.0, "reference": 0.99, "min_rows": 30}
        assert {e["metric"] for e in body["evaluations"]} == {"f1"}
        assert_records_equal_frame(body["evaluations"], naiad.fetch_evaluations(MODEL), TIMELINE_COLUMNS)
    finally:
        naiad.set_degradation_rule(MODEL)  # the defaults again, for the module's other tests
    assert sdk.ok("/models/timeline", model=MODEL)["rule"] == {"metric": None, "floor": None, "sigmas": 3.0,
                                                               "reference": None, "min_rows": 30}


def test_metric_parameter_switches_the_judged_metric(sdk: Site) -> None:
    body = sdk.ok("/models/timeline", model=MODEL, metric="f1")
    evaluations = body["evaluations"]
    assert {e["metric"] for e in evaluations} == {"f1"}
    frame = naiad.fetch_evaluations(MODEL, metric="f1")
    assert_records_equal_frame(evaluations, frame, TIMELINE_COLUMNS)
    accuracy = sdk.ok("/models/timeline", model=MODEL)["evaluations"]
    assert [e["run"] for e in evaluations] == [e["run"] for e in accuracy]
    assert [e["value"] for e in evaluations] != [e["value"] for e in accuracy]
    assert evaluations[2]["value"] == 1.0  # v2 is right on every holdout row
    for e in evaluations:
        assert e["ci_low"] <= e["value"] <= e["ci_high"]


def test_a_metric_the_evaluations_lack_is_invalid(site: Site) -> None:
    error = assert_envelope(site.get("/models/timeline", model=MODEL, metric="rmse"), 400, "invalid_value")
    assert "'rmse'" in error["message"]


@pytest.mark.parametrize("which", ["v1", "first", "gate_run"])
def test_timeline_of_a_version_or_a_run_is_invalid_value(site: Site, which: str) -> None:
    short_id = getattr(site, which)
    for path in ("/models/timeline", "/models/drift", "/models/gate-decisions"):
        error = assert_envelope(site.get(path, model=short_id), 400, "invalid_value")
        assert short_id in error["message"] and "not a model" in error["message"]


def test_an_unknown_model_is_model_not_found(site: Site) -> None:
    for path in ("/models/timeline", "/models/drift", "/models/gate-decisions"):
        assert_envelope(site.get(path, model="SHO-NOPE"), 404, "model_not_found")
        assert_envelope(site.get(path, model="NOPE-1"), 404, "model_not_found")


def test_a_viewer_of_another_project_cannot_see_the_model(site: Site) -> None:
    for path in ("/models/timeline", "/models/drift", "/models/gate-decisions"):
        hidden = assert_envelope(site.get(path, who="olga", model=MODEL), 404, "model_not_found")
        absent = assert_envelope(site.get(path, who="olga", model="SHO-NOPE"), 404, "model_not_found")
        assert hidden["message"] == absent["message"].replace("SHO-NOPE", MODEL)  # its existence is not told
        response = site.get(path, who="vera", model=MODEL)  # a viewer of shop
        assert response.status_code == 200, response.text
        assert site.get(path, who="olga", model=site.other_model).status_code == 200
        assert_envelope(site.get(path, who="vera", model=site.other_model), 404, "model_not_found")
    assert_envelope(site.get("/models/histogram", who="olga", run=site.second, column="x"), 404,
                    "container_not_found")
    assert site.get("/models/histogram", who="vera", run=site.second, column="x").status_code == 200


def test_the_model_views_need_a_token(site: Site) -> None:
    response = httpx.get(site.server.url + API + "/models/timeline", params={"model": MODEL}, timeout=30)
    assert_envelope(response, 401, "unauthenticated")


def test_a_model_with_no_evaluations_has_an_empty_timeline_drift_and_decisions(site: Site) -> None:
    assert site.ok("/models/timeline", model=IDLE) == {
        "rule": {"metric": None, "floor": None, "sigmas": 3.0, "reference": None, "min_rows": 30},
        "evaluations": []}
    assert site.ok("/models/drift", model=IDLE) == []
    assert site.ok("/models/gate-decisions", model=IDLE) == []


# ------------------------------------------------------------------------------------------------ drift
def test_drift_records_are_fetch_drift_rows_with_nan_as_null(sdk: Site) -> None:
    records = sdk.ok("/models/drift", model=MODEL)
    frame = naiad.fetch_drift(MODEL)
    assert_records_equal_frame(records, frame, DRIFT_COLUMNS)
    assert_no_nan(records)
    columns = ["label", "region", "sparse", "x", "y2"]  # the data's columns the training profile has, sorted
    assert [(r["run"], r["column"]) for r in records] == [(sdk.first, c) for c in columns] + \
        [(sdk.second, c) for c in columns]
    assert {r["version"] for r in records} == {sdk.v1}
    # 10 values are too few to test: no statistic (NaN in the frame, null in JSON)
    sparse = [r for r in records if r["column"] == "sparse"]
    assert [r["verdict"] for r in sparse] == ["not enough data"] * 2
    assert [r["statistic"] for r in sparse] == [None, None] and [r["p_adjusted"] for r in sparse] == [None, None]
    assert frame.loc[frame["column"] == "sparse", "statistic"].isna().all()
    tests = {r["column"]: (r["test"], r["effect"]) for r in records if r["run"] == sdk.second}
    assert tests["x"] == ("ks", "wasserstein_norm") and tests["region"] == ("chi2", "js_distance")


def test_the_shifted_column_drifts_and_the_others_do_not(site: Site) -> None:
    records = site.ok("/models/drift", model=MODEL)
    verdict = {(r["run"], r["column"]): r["verdict"] for r in records}
    assert verdict[(site.second, "x")] == "drift"
    assert verdict[(site.first, "x")] == "no drift"
    assert verdict[(site.second, "y2")] == "no drift"
    assert verdict[(site.first, "y2")] == "no drift"
    shifted = next(r for r in records if (r["run"], r["column"]) == (site.second, "x"))
    assert shifted["effect_size"] == pytest.approx(1.5, abs=0.2)  # a 1.5σ shift
    assert shifted["p_adjusted"] < 0.05


# ------------------------------------------------------------------------------------------------ gate
def test_gate_decision_records_are_fetch_gate_decisions_rows(sdk: Site) -> None:
    records = sdk.ok("/models/gate-decisions", model=MODEL)
    frame = naiad.fetch_gate_decisions(MODEL)
    assert_records_equal_frame(records, frame, DECISION_COLUMNS)
    [decision] = records
    assert (decision["run"], decision["candidate"], decision["baseline"]) == (sdk.gate_run, sdk.v2, sdk.v1)
    assert decision["verdict"] == "pass" and decision["n"] == 800
    assert decision["dataset_hash"] == sdk.ok("/models/timeline", model=MODEL)["evaluations"][2]["dataset_hash"]


def test_a_model_with_no_gate_decisions_answers_an_empty_list(sdk: Site) -> None:
    assert sdk.ok("/models/gate-decisions", model=IDLE) == []
    assert sdk.ok("/models/gate-decisions", model=sdk.other_model) == []
    assert naiad.fetch_gate_decisions(IDLE).empty


# ------------------------------------------------------------------------------------------------ histogram
def test_numeric_histogram_shows_the_shift_in_the_top_bins(site: Site) -> None:
    body = site.ok("/models/histogram", run=site.second, column="x")
    assert set(body) == HISTOGRAM_KEYS | {"edges"}
    assert_no_nan(body)
    assert (body["run"], body["version"], body["column"], body["kind"]) == (site.second, site.v1, "x", "numeric")
    assert (body["reference_rows"], body["current_rows"]) == (2000, 600)
    assert (body["reference_missing"], body["current_missing"]) == (0, 0)
    edges, ref, cur = body["edges"], body["reference"], body["current"]
    assert len(edges) == len(ref) + 1 == len(cur) + 1
    assert 20 <= len(ref) <= 22  # 20 reference-quantile bins, widened to the current data's range
    assert edges == sorted(edges) and len(set(edges)) == len(edges)
    assert sum(ref) == pytest.approx(1.0, abs=1e-6) and sum(cur) == pytest.approx(1.0, abs=1e-6)
    assert min(ref) >= 0 and min(cur) >= 0
    # the current data reaches past the reference's top: the bins are widened to it (approximately: see
    # test_histogram_edges_cover_the_whole_range_of_both_profiles)
    assert edges[-1] > site.train["x"].max()
    assert edges[-1] == pytest.approx(site.shifted["x"].max(), abs=0.5)
    # equal reference mass per bin; the shifted data piles up at the top
    inner = [s for s, lo in zip(ref, edges, strict=False) if site.train["x"].min() <= lo < site.train["x"].max()]
    assert max(inner) == pytest.approx(0.05, abs=0.02)
    top = 5
    assert sum(cur[-top:]) > 0.6 > 0.3 > sum(ref[-top:])
    assert sum(cur[:top]) < 0.05
    # each current share is the share of the shifted values in that bin (within the sketch's rank error;
    # the first and the last bin take whatever lies beyond them)
    counts, _ = np.histogram(site.shifted["x"], bins=np.asarray([-np.inf, *edges[1:-1], np.inf]))
    assert cur == pytest.approx(list(counts / counts.sum()), abs=0.02)


def test_bins_parameter_sets_the_number_of_numeric_bins(site: Site) -> None:
    body = site.ok("/models/histogram", run=site.first, column="y2", bins=5)
    assert 5 <= len(body["reference"]) <= 7
    assert len(body["edges"]) == len(body["reference"]) + 1
    assert sorted(body["reference"])[-4:] == pytest.approx([0.2] * 4, abs=0.03)  # 5 equal reference masses
    for bins in (1, 201, "many"):
        error = assert_envelope(site.get("/models/histogram", run=site.first, column="y2", bins=bins), 422,
                                "bad_request")
        assert "bins" in error["message"]


def test_a_missing_parameter_is_a_bad_request(site: Site) -> None:
    for path, params in (("/models/timeline", {}), ("/models/drift", {}), ("/models/gate-decisions", {}),
                         ("/models/histogram", {"run": site.second}), ("/models/histogram", {"column": "x"})):
        assert_envelope(site.get(path, **params), 422, "bad_request")


def test_categorical_histogram_shares_are_the_category_frequencies(site: Site) -> None:
    body = site.ok("/models/histogram", run=site.second, column="region")
    assert set(body) == HISTOGRAM_KEYS | {"labels"}
    assert body["kind"] == "categorical"
    labels, ref, cur = body["labels"], body["reference"], body["current"]
    assert labels[-1] == "(other)" and len(labels) == len(ref) == len(cur)
    assert set(labels[:-1]) <= set(REGIONS) and 20 <= len(labels) - 1 < len(REGIONS)
    assert sum(ref) == pytest.approx(1.0, abs=1e-9) and sum(cur) == pytest.approx(1.0, abs=1e-9)
    true_ref, true_cur = category_shares(site.train["region"]), category_shares(site.shifted["region"])
    for label, r, c in zip(labels[:-1], ref, cur, strict=False):
        assert r == pytest.approx(true_ref.get(label, 0.0), abs=0.02), label
        assert c == pytest.approx(true_cur.get(label, 0.0), abs=0.02), label
    unnamed = set(REGIONS) - set(labels)
    assert ref[-1] == pytest.approx(sum(true_ref.get(k, 0.0) for k in unnamed), abs=0.02)
    assert cur[-1] == pytest.approx(sum(true_cur.get(k, 0.0) for k in unnamed), abs=0.02)
    assert ref[-1] > 0  # 25 categories: the 5 least frequent are "(other)"
    combined = [r + c for r, c in zip(ref[:-1], cur[:-1], strict=True)]
    assert combined == sorted(combined, reverse=True)  # most frequent first


def test_a_column_with_missing_values_counts_them(site: Site) -> None:
    body = site.ok("/models/histogram", run=site.first, column="sparse")
    assert (body["reference_rows"], body["reference_missing"]) == (10, 1990)
    assert (body["current_rows"], body["current_missing"]) == (10, 590)
    assert sum(body["reference"]) == pytest.approx(1.0, abs=1e-6)


def test_histogram_of_an_unknown_column_is_invalid_value_naming_it(site: Site) -> None:
    error = assert_envelope(site.get("/models/histogram", run=site.second, column="no_such_col"), 400, "invalid_value")
    assert "no_such_col" in error["message"]
    # served is in the evaluation's data but not in the training profile
    error = assert_envelope(site.get("/models/histogram", run=site.second, column="served"), 400, "invalid_value")
    assert "served" in error["message"] and "reference" in error["message"]


def test_histogram_of_a_run_that_is_not_an_evaluation_is_invalid(site: Site) -> None:
    error = assert_envelope(site.get("/models/histogram", run=site.gate_run, column="x"), 400, "invalid_value")
    assert site.gate_run in error["message"] and "evaluation" in error["message"]
    for short_id in (MODEL, site.v1):  # a model, a model version
        error = assert_envelope(site.get("/models/histogram", run=short_id, column="x"), 400, "invalid_value")
        assert short_id in error["message"] and "not an evaluation run" in error["message"]
    assert_envelope(site.get("/models/histogram", run="SHO-9999", column="x"), 404, "container_not_found")


def test_histogram_of_an_evaluation_without_a_data_profile_is_missing_field(site: Site) -> None:
    # the gate evaluates without drift, so its evaluations have no profiles/data
    error = assert_envelope(site.get("/models/histogram", run=site.holdout_runs[0], column="x"), 404, "missing_field")
    assert "profiles/data" in error["message"]


# ---------------------------------------------------------------------------------------- naiad.data.drift.histograms
def normal_frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"num": rng.normal(size=n) + shift,
                         "cat": rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1]),
                         "const": np.full(n, 7.0)})


def test_histograms_of_identical_data_have_equal_shares() -> None:
    df = normal_frame(5000, 11)
    num = histograms(profile(df), profile(df), "num")
    assert num["kind"] == "numeric" and (num["reference_rows"], num["current_rows"]) == (5000, 5000)
    assert len(num["edges"]) == len(num["reference"]) + 1 == len(num["current"]) + 1
    assert 20 <= len(num["reference"]) <= 22  # the sketches' ends differ a little: a sliver bin at an end
    assert num["current"] == pytest.approx(num["reference"], abs=0.01)
    assert sorted(num["reference"])[-18:] == pytest.approx([0.05] * 18, abs=0.015)
    cat = histograms(profile(df), profile(df), "cat")
    assert cat["labels"] == ["a", "b", "c", "(other)"]
    assert cat["reference"] == cat["current"]
    assert cat["reference"][:3] == pytest.approx(list(df["cat"].value_counts(normalize=True)[["a", "b", "c"]]))
    assert cat["reference"][3] == pytest.approx(0.0, abs=1e-12)


def test_histograms_bins_and_a_shifted_current_profile() -> None:
    ref, cur = profile(normal_frame(4000, 1)), profile(normal_frame(4000, 2, shift=1.5))
    out = histograms(ref, cur, "num", bins=8)
    assert 8 <= len(out["reference"]) <= 10 and len(out["edges"]) == len(out["reference"]) + 1
    assert sum(out["reference"]) == pytest.approx(1.0) and sum(out["current"]) == pytest.approx(1.0)
    # the reference has 1/8 of its mass in each bin (its own quantiles); the shifted data piles up on top
    assert sum(out["reference"][-3:]) == pytest.approx(3 / 8, abs=0.03) and sum(out["current"][-3:]) > 0.6


def test_histogram_edges_cover_the_whole_range_of_both_profiles() -> None:
    ref, cur = normal_frame(5000, 7), normal_frame(5000, 8, shift=0.5)
    out = histograms(profile(ref), profile(cur), "num")
    assert out["edges"][0] <= min(ref["num"].min(), cur["num"].min())
    assert out["edges"][-1] >= max(ref["num"].max(), cur["num"].max())


def test_histograms_of_a_constant_column_is_one_bin() -> None:
    df = normal_frame(100, 3)
    out = histograms(profile(df), profile(df.iloc[:40]), "const")
    assert out["kind"] == "numeric"
    assert len(out["edges"]) == 2 and out["edges"][0] < 7.0 < out["edges"][1]
    assert out["reference"] == [1.0] and out["current"] == [1.0]
    # a constant current against a spread reference: all its mass in one bin
    spread = histograms(profile(normal_frame(1000, 4)), profile(pd.DataFrame({"num": np.zeros(50)})), "num")
    assert sum(spread["current"]) == pytest.approx(1.0) and max(spread["current"]) == pytest.approx(1.0)


def test_histograms_of_a_column_missing_from_one_profile_is_invalid_value() -> None:
    full, part = profile(normal_frame(100, 5)), profile(normal_frame(100, 6)[["num"]])
    with pytest.raises(E.InvalidValueError, match="'cat' is not in the current profile"):
        histograms(full, part, "cat")
    with pytest.raises(E.InvalidValueError, match="'cat' is not in the reference profile"):
        histograms(part, full, "cat")
    with pytest.raises(E.InvalidValueError, match="'nope'"):
        histograms(full, full, "nope")


def test_histograms_of_a_column_with_no_values_on_one_side_are_empty() -> None:
    ref = profile(pd.DataFrame({"n": np.arange(100.0), "c": ["a", "b"] * 50}))
    cur = profile(pd.DataFrame({"n": np.full(40, np.nan), "c": pd.Series([None] * 40, dtype="string")}))
    for column in ("n", "c"):
        out = histograms(ref, cur, column)
        assert (out["reference_rows"], out["current_rows"], out["current_missing"]) == (100, 0, 40)
        assert (out["reference"], out["current"]) == ([], [])


def test_histograms_of_a_numeric_column_with_only_none_now_are_empty_not_an_error() -> None:
    ref = profile(pd.DataFrame({"n": np.arange(100.0)}))
    cur = profile(pd.DataFrame({"n": [None] * 40, "m": np.arange(40.0)}))
    assert compare(ref, cur).column("n").verdict == "not enough data"
    out = histograms(ref, cur, "n")
    assert (out["current_rows"], out["current_missing"], out["current"]) == (0, 40, [])


def test_histograms_of_a_column_that_changed_kind_is_invalid_value() -> None:
    numbers = profile(pd.DataFrame({"c": np.arange(50, dtype=float)}))
    words = profile(pd.DataFrame({"c": [f"w{i % 3}" for i in range(50)]}))
    with pytest.raises(E.InvalidValueError, match="numeric in the reference and categorical now"):
        histograms(numbers, words, "c")


# ------------------------------------------------------------------------------------------------ the frames
def assert_empty_frame(frame: pd.DataFrame, columns: list[str]) -> None:
    assert frame.empty and list(frame.columns) == columns
    assert isinstance(frame["time"].dtype, pd.DatetimeTZDtype) and str(frame["time"].dt.tz) == "UTC"


def test_frames_of_a_model_with_no_evaluations_are_empty_with_their_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_PROJECT", SHOP)
    naiad.init_model(key="NEW", name="new", project=SHOP).stop()
    naiad.init_model_version(model="SHO-NEW").stop()
    assert_empty_frame(naiad.fetch_evaluations("SHO-NEW"), TIMELINE_COLUMNS)
    assert_empty_frame(naiad.fetch_evaluations("SHO-NEW", metric="f1"), TIMELINE_COLUMNS)
    assert_empty_frame(naiad.fetch_drift("SHO-NEW"), DRIFT_COLUMNS)
    assert_empty_frame(naiad.fetch_gate_decisions("SHO-NEW"), DECISION_COLUMNS)


def test_frames_over_the_server_match_the_frames_of_the_embedded_store(sdk: Site,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    remote = (naiad.fetch_evaluations(MODEL), naiad.fetch_drift(MODEL), naiad.fetch_gate_decisions(MODEL))
    monkeypatch.delenv("NAIAD_API_TOKEN")
    monkeypatch.setenv("NAIAD_URI", str(sdk.folder))
    local = (naiad.fetch_evaluations(MODEL), naiad.fetch_drift(MODEL), naiad.fetch_gate_decisions(MODEL))
    for a, b in zip(remote, local, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_fetch_functions_refuse_what_is_not_a_model(sdk: Site) -> None:
    for fetch in (naiad.fetch_evaluations, naiad.fetch_drift):
        with pytest.raises(E.InvalidValueError, match="is a model version, not a model"):
            fetch(sdk.v1)
        with pytest.raises(E.ContainerNotFound):
            fetch("SHO-NOPE")


def test_histograms_of_a_binary_column_have_one_bin_per_value() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"flag": (rng.random(3000) < 0.3).astype(float)})
    cur = pd.DataFrame({"flag": (rng.random(3000) < 0.6).astype(float)})
    out = histograms(profile(ref), profile(cur), "flag")
    assert out["values"] == [0.0, 1.0] and len(out["edges"]) == 3  # shares within the sketch's rank error:
    assert out["reference"] == pytest.approx([1 - ref["flag"].mean(), ref["flag"].mean()], abs=0.02)
    assert out["current"] == pytest.approx([1 - cur["flag"].mean(), cur["flag"].mean()], abs=0.02)
