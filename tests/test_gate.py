"""``naiad gate`` as its users meet it: paired comparisons with known answers (McNemar's exact test and
its Clopper–Pearson interval on constructed discordant counts, the paired bootstrap, DeLong's paired
covariance against a slow reference written from the 1988 paper, regression and log-loss deltas
oriented so that positive means "the candidate is better"), the spec and its error messages, the gate
end to end with real scikit-learn models on data scikit-learn ships (breast cancer: a depth-1 tree vs
logistic regression; two nearly identical logistic regressions), the decision run, its Markdown and
JSON, ``naiad gate`` exit codes, and the promotion policy — on the embedded store and on a real
``naiad server`` (uvicorn on loopback) with a contributor and a maintainer.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from scipy.stats import beta, binomtest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import naiad
import naiad.monitoring.metrics
import naiad.store
from naiad import errors as E
from naiad.cli.main import main as cli_main
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.gate import paired
from naiad.gate.promote import run_gate
from naiad.gate.report import markdown
from naiad.gate.spec import Rule, check_change, load_spec, parse_spec
from naiad.tracking.container import store_for
from registry_kit import new_model, promote
from services import TeamServer, as_user, team_server

PROJECT = "defects"  # key DEF
Z95 = NormalDist().inv_cdf(0.975)
CI_VARS = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILD_VCS_NUMBER", "GITHUB_RUN_ID", "GITHUB_REPOSITORY",
           "GITHUB_SERVER_URL", "CI_JOB_URL", "BUILD_URL", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "NAIAD_UI_URL",
           "NAIAD_API_TOKEN")


@pytest.fixture(autouse=True)
def _gate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_OWNER", "ana")
    monkeypatch.setenv("NAIAD_PROJECT", PROJECT)
    for name in CI_VARS:  # a CI run of these tests must not leak its own commit / run into the decisions
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------------------------------ data and models
@dataclass
class Cancer:
    """Breast cancer (0 = malignant, 1 = benign), 228 held-out rows, and real fitted classifiers."""

    frame: pd.DataFrame  # held-out features + "label"
    features: list[str]
    models: dict[str, Any]  # stump (depth-1 tree), lr (C=1), lr_weak (C=0.05): all scaled logistic / tree

    @property
    def x(self) -> pd.DataFrame:
        return self.frame[self.features]

    @property
    def y(self) -> np.ndarray:
        return self.frame["label"].to_numpy()

    def labels(self, name: str) -> np.ndarray:
        return np.asarray(self.models[name].predict(self.x))

    def proba(self, name: str) -> np.ndarray:
        return np.asarray(self.models[name].predict_proba(self.x))


@pytest.fixture(scope="module")
def cancer() -> Cancer:
    data = load_breast_cancer(as_frame=True)
    x_tr, x_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.4, random_state=0)
    models = {"stump": DecisionTreeClassifier(max_depth=1, random_state=0).fit(x_tr, y_tr),
              "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_tr, y_tr),
              "lr_weak": make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000)).fit(x_tr, y_tr)}
    frame = x_te.reset_index(drop=True).copy()
    frame["label"] = y_te.to_numpy()
    return Cancer(frame, list(data.data.columns), models)


def stage_of(version: str) -> str:
    mv = naiad.init_model_version(with_id=version, mode="read-only")
    try:
        return str(mv["sys/stage"].fetch())
    finally:
        mv.stop()


def predictor(cancer: Cancer, by_version: dict[str, str]) -> Any:
    """``predictions(features, version)`` for run_gate: the named model's class probabilities."""
    seen: list[tuple[str, list[str]]] = []

    def predict(features: pd.DataFrame, version: str) -> np.ndarray:
        seen.append((version, list(features.columns)))
        return np.asarray(cancer.models[by_version[version]].predict_proba(features[cancer.features]))

    predict.seen = seen  # type: ignore[attr-defined]
    return predict


def read_run(run_id: str, path: str) -> Any:
    run = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        return run[path].fetch()
    finally:
        run.stop()


def download(run_id: str, path: str, dest: Path) -> Path:
    run = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        run[path].download(str(dest))
    finally:
        run.stop()
    return dest


def runs_tagged(tag: str) -> list[str]:
    project = naiad.init_project(project=PROJECT, mode="read-only")
    try:
        table = project.fetch_runs_table(tag=tag, columns=["sys/id"]).to_pandas()
    finally:
        project.stop()
    return sorted(table["sys/id"]) if not table.empty else []


def cli(*args: str) -> Result:
    return CliRunner().invoke(cli_main, list(args), catch_exceptions=False)


def cli_caught(*args: str) -> Result:
    """The CLI as a shell sees it: an escaping exception is exit status 1 (which a CI job would read as
    "the gate failed")."""
    return CliRunner().invoke(cli_main, list(args), catch_exceptions=True)


def discordant(n: int, b: int, c: int, both_right: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary labels and two models' predictions with exactly ``b`` rows where only the candidate is right,
    ``c`` where only the baseline is, ``both_right`` where both are (the rest: both wrong)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right_c = np.zeros(n, bool)
    right_b = np.zeros(n, bool)
    right_c[:b] = True
    right_b[b:b + c] = True
    right_c[b + c:b + c + both_right] = right_b[b + c:b + c + both_right] = True
    order = rng.permutation(n)
    right_c, right_b = right_c[order], right_b[order]
    return y, np.where(right_c, y, 1 - y), np.where(right_b, y, 1 - y)


# ------------------------------------------------------------------------------------------ paired statistics
def test_mcnemar_is_the_exact_binomial_test_with_the_clopper_pearson_interval() -> None:
    y, pc, pb = discordant(2000, 30, 10, 1700)
    cmp = paired.classification("accuracy", y, pc, pb, None, None, 2, method="mcnemar")
    assert (cmp.candidate, cmp.baseline) == (1730 / 2000, 1710 / 2000)
    assert cmp.delta == pytest.approx(20 / 2000, abs=1e-15)
    assert cmp.p_value == pytest.approx(binomtest(30, 40, 0.5, alternative="greater").pvalue, rel=1e-12)
    # Clopper–Pearson for b / (b + c) from the beta quantiles, mapped to Δ = (b + c)/n · (2p − 1)
    lo_p, hi_p = beta.ppf(0.025, 30, 11), beta.ppf(0.975, 31, 10)
    assert cmp.low == pytest.approx(40 / 2000 * (2 * lo_p - 1), rel=1e-9)
    assert cmp.high == pytest.approx(40 / 2000 * (2 * hi_p - 1), rel=1e-9)
    assert cmp.low > 0 and cmp.method.startswith("McNemar exact test") and cmp.level == 0.95
    # 99 %: wider, from the 0.005 quantiles
    wide = paired.classification("accuracy", y, pc, pb, None, None, 2, method="mcnemar", level=0.99)
    assert wide.low == pytest.approx(40 / 2000 * (2 * beta.ppf(0.005, 30, 11) - 1), rel=1e-9)
    assert wide.p_value == cmp.p_value
    # the interval's lower end is above 0 exactly when the exact one-sided test rejects at 2.5 %
    for b, c in ((9, 1), (10, 2), (14, 4), (15, 4), (20, 9), (21, 9), (40, 30), (5, 0), (6, 0), (3, 7)):
        y, pc, pb = discordant(1000, b, c, 800, seed=b)
        cmp = paired.classification("accuracy", y, pc, pb, None, None, 2, method="mcnemar")
        assert cmp.p_value == pytest.approx(binomtest(b, b + c, 0.5, alternative="greater").pvalue, rel=1e-12)
        assert (cmp.low > 0) == (cmp.p_value < 0.025), (b, c, cmp)
    # no discordant pair: no evidence either way, so no superiority
    y, pc, pb = discordant(500, 0, 0, 450)
    none = paired.classification("accuracy", y, pc, pb, None, None, 2, method="mcnemar")
    assert (none.delta, none.low, none.high, none.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_better_by_a_point_estimate_is_not_superiority() -> None:
    y, pc, pb = discordant(1000, 40, 30, 820)  # 86 % vs 85 %
    strong_y, strong_c, strong_b = discordant(1000, 80, 20, 780)  # 86 % vs 80 %
    for method in ("mcnemar", "bootstrap"):
        point = paired.classification("accuracy", y, pc, pb, None, None, 2, method=method)
        assert (point.candidate, point.baseline) == (0.86, 0.85)
        assert point.delta == pytest.approx(0.01) and point.low <= 0 < point.high, (method, point)
        assert point.p_value > 0.05, method
        strong = paired.classification("accuracy", strong_y, strong_c, strong_b, None, None, 2, method=method)
        assert strong.delta == pytest.approx(0.06) and strong.low > 0 and strong.p_value < 0.001, (method, strong)
    assert paired.classification("accuracy", y, pc, pb, None, None, 2, method="mcnemar").p_value == pytest.approx(
        binomtest(40, 70, 0.5, alternative="greater").pvalue)


def test_non_inferiority_against_a_margin() -> None:
    n, margin = 2000, 0.02
    equal = discordant(n, 30, 30, 1700)
    worse = discordant(n, 10, 90, 1700)
    for (b, c), (y, pc, pb) in (((30, 30), equal), ((10, 90), worse)):
        cmp = paired.classification("accuracy", y, pc, pb, None, None, 2, method="mcnemar", margin=margin)
        delta = (b - c) / n
        se = math.sqrt(b + c - (b - c) ** 2 / n) / n  # Wald: the paired difference of proportions
        assert cmp.delta == pytest.approx(delta, abs=1e-15)
        assert (cmp.low, cmp.high) == pytest.approx((delta - Z95 * se, delta + Z95 * se), rel=1e-9)
        assert cmp.p_value == pytest.approx(1 - NormalDist().cdf((delta + margin) / se), rel=1e-9)
        assert cmp.margin == margin and cmp.method.startswith("Wald")
    ok = paired.classification("accuracy", *equal, None, None, 2, method="mcnemar", margin=margin)
    bad = paired.classification("accuracy", *worse, None, None, 2, method="mcnemar", margin=margin)
    assert ok.low > -margin and ok.p_value < 0.025
    assert bad.low < -margin and bad.p_value > 0.5
    for y, pc, pb, passes in ((*equal, True), (*worse, False)):  # the bootstrap reaches the same verdicts
        boot = paired.classification("accuracy", y, pc, pb, None, None, 2, margin=margin)
        assert (boot.low > -margin) is passes


def test_paired_bootstrap_accuracy_interval_agrees_with_mcnemar() -> None:
    y, pc, pb = discordant(5000, 150, 100, 4400, seed=3)
    exact = paired.classification("accuracy", y, pc, pb, None, None, 2, method="mcnemar")
    boot = paired.classification("accuracy", y, pc, pb, None, None, 2, method="bootstrap", resamples=20_000, seed=1)
    assert boot.delta == pytest.approx(50 / 5000, abs=1e-15) and exact.delta == pytest.approx(50 / 5000, abs=1e-15)
    assert boot.low == pytest.approx(exact.low, abs=0.005) and boot.high == pytest.approx(exact.high, abs=0.005)
    assert boot.method == "paired bootstrap (Poisson, per joint cell), 20000 resamples, seed 1"
    again = paired.classification("accuracy", y, pc, pb, None, None, 2, resamples=20_000, seed=1)
    assert again == boot  # the seed makes it reproducible
    # precision / recall / F1 through the same joint cells: the point values are scikit-learn's
    for metric, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        cmp = paired.classification(metric, y, pc, pb, None, None, 2, resamples=500)
        assert (cmp.candidate, cmp.baseline) == pytest.approx((fn(y, pc), fn(y, pb)), rel=1e-12)
        assert cmp.delta == pytest.approx(fn(y, pc) - fn(y, pb), rel=1e-9)
        assert cmp.low <= cmp.delta <= cmp.high


def delong_reference(positive: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> tuple[float, float, float]:
    """DeLong, DeLong & Clarke-Pearson (1988), written out: the structural components V10 (per positive)
    and V01 (per negative) of each AUC, their sample covariances S10, S01, and
    var(AUC1 − AUC2) = (S10₁₁ + S10₂₂ − 2 S10₁₂) / m + (S01₁₁ + S01₂₂ − 2 S01₁₂) / n."""
    v10, v01, aucs = [], [], []
    for s in (s1, s2):
        x, yneg = s[positive], s[~positive]
        psi = (x[:, None] > yneg[None, :]) + 0.5 * (x[:, None] == yneg[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(float(psi.mean()))
    m, n = int(positive.sum()), int((~positive).sum())
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return aucs[0], aucs[1], float(var)


def test_paired_delong_matches_the_structural_components(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    n = 400
    y = (rng.random(n) < 0.4).astype(int)
    latent = y * 1.2 + rng.normal(size=n)
    s1 = np.round(latent + 0.5 * rng.normal(size=n), 1)  # correlated through `latent`; ties from rounding
    s2 = np.round(latent + 1.2 * rng.normal(size=n), 1)
    p1, p2 = 1 / (1 + np.exp(-s1)), 1 / (1 + np.exp(-s2))
    proba1, proba2 = np.column_stack([1 - p1, p1]), np.column_stack([1 - p2, p2])
    a1, a2, var = delong_reference(y == 1, s1, s2)
    assert (a1, a2) == pytest.approx((skm.roc_auc_score(y, s1), skm.roc_auc_score(y, s2)), rel=1e-12)
    cmp = paired.classification("roc_auc", y, y, y, proba1, proba2, 2, method="delong")
    assert (cmp.candidate, cmp.baseline) == pytest.approx((a1, a2), rel=1e-12)
    assert cmp.delta == pytest.approx(skm.roc_auc_score(y, p1) - skm.roc_auc_score(y, p2), rel=1e-12)
    se = (cmp.high - cmp.low) / (2 * Z95)
    assert se ** 2 == pytest.approx(var, rel=1e-9)
    assert cmp.p_value == pytest.approx(1 - NormalDist().cdf(cmp.delta / se), rel=1e-9)
    assert cmp.low > 0 and cmp.method == "DeLong covariance of the paired AUCs, normal interval"
    flipped = paired.classification("roc_auc", y, y, y, proba2, proba1, 2, method="delong")
    assert (flipped.delta, flipped.low, flipped.high) == pytest.approx((-cmp.delta, -cmp.high, -cmp.low))
    # the paired bootstrap of the same AUCs: the same Δ, an interval close to DeLong's
    boot = paired.classification("roc_auc", y, y, y, proba1, proba2, 2, resamples=2000)
    assert boot.delta == pytest.approx(cmp.delta, rel=1e-12)
    assert (boot.low, boot.high) == pytest.approx((cmp.low, cmp.high), abs=0.012)
    # above EXACT_ROWS a binary AUC under "bootstrap" is compared by DeLong
    monkeypatch.setattr(naiad.monitoring.metrics, "EXACT_ROWS", 100)
    big = paired.classification("roc_auc", y, y, y, proba1, proba2, 2)
    assert big.method == cmp.method and (big.low, big.high) == pytest.approx((cmp.low, cmp.high), rel=1e-12)


def test_regression_deltas_are_oriented_and_equal_direct_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    y = rng.normal(50, 10, 3000)
    good = y + rng.normal(0, 4, len(y))
    bad = y + rng.normal(1, 6, len(y))
    direct = {name: (fn(y, good), fn(y, bad)) for name, fn in (
        ("mae", skm.mean_absolute_error), ("rmse", lambda a, b: math.sqrt(skm.mean_squared_error(a, b))),
        ("r2", skm.r2_score))}
    boot = {}
    for metric, (c, b) in direct.items():
        cmp = paired.regression(metric, y, good, bad, resamples=2000)
        boot[metric] = cmp
        assert (cmp.candidate, cmp.baseline) == pytest.approx((c, b), rel=1e-9)
        expected = (c - b) if metric == "r2" else (b - c)  # positive = the candidate is better
        assert cmp.delta == pytest.approx(expected, rel=1e-9) and cmp.delta > 0
        assert cmp.low > 0 and cmp.p_value < 0.001, (metric, cmp)
        swapped = paired.regression(metric, y, bad, good, resamples=2000)
        assert swapped.delta == pytest.approx(-cmp.delta, rel=1e-9) and swapped.high < 0
    # above EXACT_ROWS: normal intervals (CLT for MAE, delta method for RMSE and R²) that agree with the bootstrap
    monkeypatch.setattr(naiad.monitoring.metrics, "EXACT_ROWS", 1000)
    for metric, cmp in boot.items():
        normal = paired.regression(metric, y, good, bad)
        assert normal.method.startswith("normal interval"), normal.method
        assert normal.delta == pytest.approx(cmp.delta, rel=1e-12)
        width = cmp.high - cmp.low
        assert (normal.low, normal.high) == pytest.approx((cmp.low, cmp.high), abs=0.1 * width), metric


def test_log_loss_is_lower_is_better() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 600)
    p_sharp = np.where(y == 1, rng.uniform(0.6, 0.95, 600), rng.uniform(0.05, 0.4, 600))
    p_vague = np.clip(p_sharp * 0.5 + 0.25 + rng.normal(0, 0.05, 600), 0.01, 0.99)
    sharp, vague = np.column_stack([1 - p_sharp, p_sharp]), np.column_stack([1 - p_vague, p_vague])
    ll_sharp, ll_vague = skm.log_loss(y, sharp), skm.log_loss(y, vague)
    assert ll_sharp < ll_vague
    cmp = paired.classification("log_loss", y, y, y, sharp, vague, 2, resamples=2000)
    assert (cmp.candidate, cmp.baseline) == pytest.approx((ll_sharp, ll_vague), rel=1e-9)
    assert cmp.delta == pytest.approx(ll_vague - ll_sharp, rel=1e-9) and cmp.low > 0
    worse = paired.classification("log_loss", y, y, y, vague, sharp, 2, resamples=2000)
    assert worse.delta == pytest.approx(ll_sharp - ll_vague, rel=1e-9) and worse.high < 0 and worse.p_value > 0.99


def test_invalid_method_and_metric_combinations_are_refused() -> None:
    y, pc, pb = discordant(200, 10, 5, 150)
    proba = np.column_stack([1 - pc * 0.8, pc * 0.8]).astype(float)
    y3 = np.arange(90) % 3
    proba3 = np.full((90, 3), 1 / 3)
    cases = [
        (("accuracy", y, pc, pb, None, None, 2), {"method": "wald"}, "method 'wald' is not one of bootstrap, "
                                                                      "mcnemar, delong"),
        (("accuracy", y, pc, pb, None, None, 2), {"method": "delong"}, "DeLong method compares ROC-AUC only"),
        (("f1", y, pc, pb, None, None, 2), {"method": "mcnemar"}, "McNemar's test compares accuracy only"),
        (("roc_auc", y, pc, pb, proba, proba, 2), {"method": "mcnemar"}, "McNemar's test compares accuracy only"),
        (("roc_auc", y3, y3, y3, proba3, proba3, 3), {"method": "delong"}, "DeLong method needs a binary task"),
        (("roc_auc", y, pc, pb, None, proba, 2), {}, "roc_auc needs both models' class probabilities"),
        (("log_loss", y, pc, pb, proba, None, 2), {}, "log_loss needs both models' class probabilities"),
        (("mae", y, pc, pb, proba, proba, 2), {}, "no paired comparison for metric 'mae'"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(E.InvalidValueError, match=re.escape(message)):
            paired.classification(*args, **kwargs)
    yr = np.linspace(0, 1, 50)
    with pytest.raises(E.InvalidValueError, match="compared by the paired bootstrap, not mcnemar"):
        paired.regression("rmse", yr, yr, yr, method="mcnemar")
    with pytest.raises(E.InvalidValueError, match="no paired comparison for metric 'accuracy'"):
        paired.regression("accuracy", yr, yr, yr)
    with pytest.raises(E.InvalidValueError, match="R² is undefined for a constant target"):
        paired.regression("r2", np.ones(50), yr, yr)
    one_negative = np.array([1] * 20 + [0])
    with pytest.raises(E.InvalidValueError, match="at least two examples of each class"):
        paired.classification("roc_auc", one_negative, one_negative, one_negative, np.full((21, 2), 0.5),
                              np.full((21, 2), 0.5), 2, method="delong")


def test_log_loss_refuses_mcnemar_and_delong() -> None:
    """McNemar compares accuracy only and DeLong ROC-AUC only: a log-loss rule naming either must be refused,
    not silently bootstrapped (the report would say "mcnemar" for a bootstrap)."""
    y, pc, pb = discordant(200, 10, 5, 150)
    proba = np.column_stack([1 - pc * 0.8 - 0.1, pc * 0.8 + 0.1]).astype(float)
    for method in ("mcnemar", "delong"):
        with pytest.raises(E.InvalidValueError):
            paired.classification("log_loss", y, pc, pb, proba, proba, 2, method=method)


# ------------------------------------------------------------------------------------------ the spec
SPEC_ERRORS = [
    (["rules"], "a gate spec is a mapping with a 'rules' list."),
    ({"rules": [], "thresholds": 1, "extra": 2},
     "unknown key(s) in the gate spec: extra, thresholds (known: rules, min_rows)."),
    ({"rules": [], "min_rows": 0}, "min_rows must be a positive integer (was 0)."),
    ({"rules": [], "min_rows": "many"}, "min_rows must be a positive integer (was 'many')."),
    ({"rules": [], "min_rows": True}, "min_rows must be a positive integer (was True)."),
    ({"rules": ["accuracy"]}, "rule 1: a rule is a mapping with 'metric' and one of value/change/test."),
    ({"rules": [{"metric": "accuracy", "value": {"lower": 0.8}, "threshold": 1, "why": "x"}]},
     "rule 1: unknown key(s) threshold, why."),
    ({"rules": [{"metric": "acc", "value": {"lower": 0.8}}]},
     "rule 1: metric 'acc' is not one of accuracy, precision, recall, f1, roc_auc, log_loss, mae, rmse, r2."),
    ({"rules": [{"value": {"lower": 0.8}}]}, "rule 1: metric None is not one of"),
    ({"rules": [{"metric": "accuracy", "value": {"lower": 0.8}, "test": "superiority"}]},
     "rule 1: give exactly one of value, change and test (got value, test)."),
    ({"rules": [{"metric": "accuracy"}]}, "rule 1: give exactly one of value, change and test (got none)."),
    ({"rules": [{"metric": "accuracy", "value": {"lower": 0.8}},
                {"metric": "f1", "change": {"absolute": 0}, "value": {"upper": 1}}]},
     "rule 2: give exactly one of value, change and test (got value, change)."),
    ({"rules": [{"metric": "accuracy", "value": {"lower": 0.8}, "direction": "up"}]},
     "rule 1: direction must be higher_is_better or lower_is_better."),
    ({"rules": [{"metric": "accuracy", "value": {}}]},
     "rule 1: value takes lower and/or upper, e.g. value: {lower: 0.85}."),
    ({"rules": [{"metric": "accuracy", "value": {"min": 0.8}}]}, "rule 1: value takes lower and/or upper"),
    ({"rules": [{"metric": "accuracy", "value": 0.8}]}, "rule 1: value takes lower and/or upper"),
    ({"rules": [{"metric": "accuracy", "value": {"lower": "high"}}]},
     "rule 1: lower must be a number (was 'high')."),
    ({"rules": [{"metric": "accuracy", "value": {"lower": float("nan")}}]}, "rule 1: lower must be a number (was nan)"),
    ({"rules": [{"metric": "accuracy", "value": {"upper": True}}]}, "rule 1: upper must be a number (was True)."),
    ({"rules": [{"metric": "log_loss", "change": {"abs": 0.01}}]},
     "rule 1: change takes absolute and/or relative, e.g. change: {absolute: -0.01}."),
    ({"rules": [{"metric": "log_loss", "change": {}}]}, "rule 1: change takes absolute and/or relative"),
    ({"rules": [{"metric": "log_loss", "change": {"relative": "5%"}}]},
     "rule 1: relative must be a number (was '5%')."),
    ({"rules": [{"metric": "accuracy", "test": "better"}]},
     "rule 1: test must be superiority or non-inferiority (was 'better')."),
    ({"rules": [{"metric": "accuracy", "test": "non-inferiority"}]},
     "rule 1: a non-inferiority test needs a positive margin."),
    ({"rules": [{"metric": "accuracy", "test": "non-inferiority", "margin": -0.01}]},
     "rule 1: a non-inferiority test needs a positive margin."),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "method": "ttest"}]},
     "rule 1: method must be one of bootstrap, mcnemar, delong."),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "confidence": 1.0}]},
     "rule 1: confidence must be between 0.5 and 1 (was 1.0)."),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "confidence": 0.4}]},
     "rule 1: confidence must be between 0.5 and 1 (was 0.4)."),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "confidence": 95}]},
     "rule 1: confidence must be between 0.5 and 1 (was 95.0)."),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "confidence": "95%"}]},
     "rule 1: confidence must be a number (was '95%')."),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "resamples": 50}]},
     "rule 1: resamples must be an integer from 100 to 1,000,000 and seed an integer."),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "resamples": 2_000_000}]},
     "rule 1: resamples must be an integer from 100 to 1,000,000"),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "resamples": 1000.0}]},
     "rule 1: resamples must be an integer from 100 to 1,000,000"),
    ({"rules": [{"metric": "accuracy", "test": "superiority", "seed": "zero"}]},
     "rule 1: resamples must be an integer from 100 to 1,000,000 and seed an integer."),
]


@pytest.mark.parametrize(("spec", "message"), SPEC_ERRORS, ids=[str(i) for i in range(len(SPEC_ERRORS))])
def test_malformed_specs_are_refused_with_a_clear_message(spec: Any, message: str) -> None:
    with pytest.raises(E.InvalidValueError) as refused:
        parse_spec(spec)
    assert str(refused.value).startswith(message), str(refused.value)


def test_a_spec_parses_to_rules_with_defaults_and_directions() -> None:
    rules, min_rows = parse_spec({"rules": [
        {"metric": "accuracy", "value": {"lower": 0.85}},
        {"metric": "log_loss", "change": {"absolute": 0.01, "relative": 0.05}},
        {"metric": "accuracy", "test": "superiority", "method": "mcnemar"},
        {"metric": "roc_auc", "test": "non-inferiority", "margin": 0.01, "method": "delong", "confidence": 0.9,
         "resamples": 500, "seed": 3},
        {"metric": "accuracy", "value": {"upper": 0.99}, "direction": "lower_is_better"},
    ]})
    assert min_rows == 30
    assert rules == [
        Rule("accuracy", "value", lower=0.85),
        Rule("log_loss", "change", absolute=0.01, relative=0.05, higher_is_better=False),
        Rule("accuracy", "test", method="mcnemar"),
        Rule("roc_auc", "test", test="non-inferiority", margin=0.01, method="delong", confidence=0.9, resamples=500,
             seed=3),
        Rule("accuracy", "value", upper=0.99, higher_is_better=False),
    ]
    assert [r.describe() for r in rules] == [
        "value ≥ 0.85", "change Δ ≥ -0.01 and Δ/baseline ≥ -5.00%", "superiority, mcnemar, 95% CI",
        "non-inferiority (margin 0.01), delong, 90% CI", "value ≤ 0.99"]
    assert parse_spec({"min_rows": 500}) == ([], 500)
    assert parse_spec({}) == ([], 30)


def test_load_spec_reads_yaml_and_json(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        # the team's gate
        min_rows: 100
        rules:
          - metric: accuracy
            value: {lower: 0.9}
          - metric: roc_auc
            test: superiority
            method: delong
    """)
    expected = {"min_rows": 100, "rules": [{"metric": "accuracy", "value": {"lower": 0.9}},
                                           {"metric": "roc_auc", "test": "superiority", "method": "delong"}]}
    for name in ("gate.yaml", "gate.yml"):
        (tmp_path / name).write_text(text)
        assert load_spec(tmp_path / name) == (expected, text)
    (tmp_path / "gate.json").write_text(json.dumps(expected))
    assert load_spec(str(tmp_path / "gate.json")) == (expected, json.dumps(expected))
    (tmp_path / "empty.yaml").write_text("")
    assert load_spec(tmp_path / "empty.yaml") == ({}, "")
    (tmp_path / "bad.json").write_text("{rules: [}")
    with pytest.raises(E.InvalidValueError, match=r"bad\.json is not a valid gate spec"):
        load_spec(tmp_path / "bad.json")
    rules, min_rows = parse_spec(load_spec(tmp_path / "gate.yaml")[0])
    assert min_rows == 100 and [r.kind for r in rules] == ["value", "test"]


def test_malformed_yaml_is_an_invalid_spec(tmp_path: Path) -> None:
    """A YAML syntax error is a bad spec (InvalidValueError, CLI exit 3) like a JSON one — not a raw
    yaml.YAMLError (which is no ValueError, so load_spec lets it escape)."""
    (tmp_path / "bad.yaml").write_text("rules: [\n  - metric: {\n")
    with pytest.raises(E.InvalidValueError, match=r"bad\.yaml is not a valid gate spec"):
        load_spec(tmp_path / "bad.yaml")


def test_a_bound_left_empty_is_refused_not_a_rule_that_always_passes() -> None:
    """``value: {lower: }`` (YAML for lower = null) parses to a rule with no bound that passes every
    candidate; ``change: {absolute: }`` likewise. A gate rule that cannot fail must be refused."""
    for spec in ({"rules": [{"metric": "accuracy", "value": {"lower": None}}]},
                 {"rules": [{"metric": "accuracy", "change": {"absolute": None}}]}):
        with pytest.raises(E.InvalidValueError):
            parse_spec(spec)


def test_confidence_zero_is_refused_not_replaced_by_the_default() -> None:
    with pytest.raises(E.InvalidValueError, match=r"confidence must be between 0\.5 and 1"):
        parse_spec({"rules": [{"metric": "accuracy", "test": "superiority", "confidence": 0}]})


def test_relative_change_from_a_zero_baseline_keeps_its_sign() -> None:
    """R² can be 0 (a baseline predicting the mean): a candidate falling to −0.5 is not "+inf % better"."""
    ok, detail = check_change(Rule("r2", "change", relative=-0.1), -0.5, 0.0)
    assert not ok, detail
    ok, _ = check_change(Rule("r2", "change", relative=0.1), 0.2, 0.0)
    assert ok


# ------------------------------------------------------------------------------------------ run_gate end to end
def rule_rows(result: Any) -> list[tuple[Any, ...]]:
    return [(r.index, r.metric, r.kind, r.verdict) for r in result.rules]


def test_gate_end_to_end_decision_run_report_and_reuse(cancer: Cancer, tmp_path: Path) -> None:
    stump, lr = new_model("CLS", versions=2)
    predict = predictor(cancer, {stump: "stump", lr: "lr"})
    spec = {"min_rows": 100, "rules": [
        {"metric": "accuracy", "value": {"lower": 0.95}},
        {"metric": "accuracy", "test": "superiority", "method": "mcnemar"},
        {"metric": "roc_auc", "test": "superiority", "method": "delong"},
        {"metric": "log_loss", "change": {"absolute": 0.0}},
        {"metric": "f1", "test": "non-inferiority", "margin": 0.01, "resamples": 2000, "seed": 4}]}
    result = run_gate("DEF-CLS", lr, stump, cancer.frame, "label", spec, spec_text="# my spec\n", predictions=predict)
    assert result.verdict == "pass" and result.reason == "all 5 rule(s) passed"
    assert rule_rows(result) == [(1, "accuracy", "value", "pass"), (2, "accuracy", "test", "pass"),
                                 (3, "roc_auc", "test", "pass"), (4, "log_loss", "change", "pass"),
                                 (5, "f1", "test", "pass")]
    # the predictions function saw each version and the features without the target
    assert sorted(v for v, _ in predict.seen) == sorted([lr, stump])
    assert all(cols == cancer.features for _, cols in predict.seen)
    # both evaluations: the same dataset version, holdout role, tagged
    ev_c, ev_b = result.evaluations["candidate"], result.evaluations["baseline"]
    assert runs_tagged("evaluation") == sorted([ev_c, ev_b])
    for ev, version in ((ev_c, lr), (ev_b, stump)):
        assert read_run(ev, "eval/dataset_hash") == result.dataset_hash
        assert read_run(ev, "eval/model_version") == version and read_run(ev, "eval/dataset_role") == "holdout"
    # the numbers are scikit-learn's and the tests' own
    y = cancer.y
    acc_c, acc_b = skm.accuracy_score(y, cancer.labels("lr")), skm.accuracy_score(y, cancer.labels("stump"))
    r_acc, r_auc, r_ll = result.rules[1], result.rules[2], result.rules[3]
    assert (r_acc.candidate, r_acc.baseline) == pytest.approx((acc_c, acc_b))
    right_c, right_b = cancer.labels("lr") == y, cancer.labels("stump") == y
    b, c = int((right_c & ~right_b).sum()), int((~right_c & right_b).sum())
    assert r_acc.p_value == pytest.approx(binomtest(b, b + c, 0.5, alternative="greater").pvalue)
    auc_c, auc_b = skm.roc_auc_score(y, cancer.proba("lr")[:, 1]), skm.roc_auc_score(y, cancer.proba("stump")[:, 1])
    assert r_auc.delta == pytest.approx(auc_c - auc_b) and r_auc.method.startswith("DeLong")
    ll_c, ll_b = skm.log_loss(y, cancer.proba("lr")), skm.log_loss(y, cancer.proba("stump"))
    assert (r_ll.candidate, r_ll.baseline, r_ll.delta) == pytest.approx((ll_c, ll_b, ll_b - ll_c))
    assert result.rules[4].method == "paired bootstrap (Poisson, per joint cell), 2000 resamples, seed 4"
    assert result.training_drift is None  # neither version has a training profile

    # the decision run
    assert result.run is not None and result.run in runs_tagged("gate") and result.run in runs_tagged("pass")
    gate = read_run(result.run, "gate")
    assert {k: gate[k] for k in ("model", "candidate", "baseline", "dataset_hash", "n_rows", "verdict", "reason",
                                 "spec", "evaluations", "actor")} == {
        "model": "DEF-CLS", "candidate": lr, "baseline": stump, "dataset_hash": result.dataset_hash,
        "n_rows": len(cancer.frame), "verdict": "pass", "reason": result.reason, "spec": "# my spec\n",
        "evaluations": {"candidate": ev_c, "baseline": ev_b}, "actor": "ana"}
    assert gate["commit"] == "" and gate["ci_url"] == ""  # no CI variables (and tmp_path is no git checkout)
    rules = gate["rules"]
    assert sorted(rules) == ["1", "2", "3", "4", "5"]
    assert rules["1"] == {"metric": "accuracy", "kind": "value", "rule": "value ≥ 0.95", "verdict": "pass",
                          "detail": result.rules[0].detail, "candidate": pytest.approx(acc_c),
                          "baseline": pytest.approx(acc_b)}
    assert {k: rules["2"][k] for k in ("metric", "kind", "rule", "verdict", "method")} == {
        "metric": "accuracy", "kind": "test", "rule": "superiority, mcnemar, 95% CI", "verdict": "pass",
        "method": result.rules[1].method}
    for key in ("candidate", "baseline", "delta", "low", "high", "p_value"):
        assert rules["2"][key] == pytest.approx(getattr(result.rules[1], key)), key
    assert set(rules["4"]) == {"metric", "kind", "rule", "verdict", "detail", "candidate", "baseline", "delta"}
    stored = json.loads(download(result.run, "gate/result", tmp_path / "result.json").read_text())
    assert stored == json.loads(json.dumps(result.to_json(), default=str))
    report = download(result.run, "gate/report", tmp_path / "report.md").read_text()
    assert report.splitlines()[0] == "<!-- naiad-gate:DEF-CLS -->"
    assert f"decision `{result.run}`" in report
    assert report.split("UTC")[1] == markdown(result).split("UTC")[1]  # the same report, bar its minute

    # a second gate on the same data: the stored evaluations, a new decision
    again = run_gate("DEF-CLS", lr, stump, cancer.frame, "label", spec, predictions=predict)
    assert again.evaluations == result.evaluations and again.dataset_hash == result.dataset_hash
    assert runs_tagged("evaluation") == sorted([ev_c, ev_b])
    assert len(predict.seen) == 4  # asked again: the evaluations are reused for the same predictions only
    assert again.reused == ["candidate", "baseline"]
    assert again.run != result.run and [r.verdict for r in again.rules] == [r.verdict for r in result.rules]
    assert again.rules[1].p_value == result.rules[1].p_value
    assert read_run(again.run, "gate/spec") == json.dumps(spec)  # no spec text given: the spec as JSON

    decisions = naiad.fetch_gate_decisions("DEF-CLS")
    assert list(decisions.columns) == ["time", "run", "candidate", "baseline", "verdict", "reason", "n",
                                       "dataset_hash", "commit", "ci_url", "actor", "actor_role", "decision"]
    assert list(decisions["actor_role"]) == ["local", "local"]  # an embedded store has no accounts
    assert list(decisions["run"]) == [result.run, again.run]
    assert list(decisions["candidate"]) == [lr, lr] and list(decisions["baseline"]) == [stump, stump]
    assert list(decisions["verdict"]) == ["pass", "pass"] and list(decisions["n"]) == [228, 228]

    # other predictions for the candidate (a predict function fixed since) are evaluated, never judged by the
    # stored evaluation of the old ones (issue 19, hole 9); --force evaluates both again
    fixed = predictor(cancer, {stump: "stump", lr: "lr_weak"})
    other = run_gate("DEF-CLS", lr, stump, cancer.frame, "label", spec, predictions=fixed, record=False)
    assert other.reused == ["baseline"] and other.evaluations["candidate"] != result.evaluations["candidate"]
    assert other.rules[0].candidate != result.rules[0].candidate
    forced = run_gate("DEF-CLS", lr, stump, cancer.frame, "label", spec, predictions=predict, record=False, force=True)
    assert forced.reused == [] and set(forced.evaluations.values()).isdisjoint(result.evaluations.values())
    assert decisions["commit"].isna().all() and decisions["ci_url"].isna().all()
    assert decisions["time"].is_monotonic_increasing
    assert naiad.fetch_gate_decisions("DEF-CLS").equals(decisions)


def test_value_bounds_are_inclusive_and_change_rules_follow_tfx(cancer: Cancer) -> None:
    stump, lr = new_model("TFX", versions=2)
    predict = predictor(cancer, {stump: "stump", lr: "lr"})
    y = cancer.y
    right_lr, right_stump = int((cancer.labels("lr") == y).sum()), int((cancer.labels("stump") == y).sum())
    acc_lr, acc_stump = right_lr / len(y), right_stump / len(y)
    ll_lr, ll_stump = skm.log_loss(y, cancer.proba("lr")), skm.log_loss(y, cancer.proba("stump"))
    d_acc, d_ll = acc_lr - acc_stump, ll_lr - ll_stump  # d_ll < 0: the candidate's loss fell
    rel_acc, rel_ll = d_acc / acc_stump, d_ll / ll_stump

    def verdicts(candidate: str, baseline: str | None, rules: list[dict[str, Any]]) -> list[str]:
        result = run_gate("DEF-TFX", candidate, baseline, cancer.frame, "label", {"rules": rules},
                          predictions=predict, record=False)
        assert result.run is None
        return [r.verdict for r in result.rules]

    # value: both bounds inclusive — exactly the candidate's accuracy passes as lower and as upper bound
    assert verdicts(lr, None, [{"metric": "accuracy", "value": {"lower": acc_lr}},
                               {"metric": "accuracy", "value": {"upper": acc_lr}},
                               {"metric": "accuracy", "value": {"lower": acc_lr, "upper": acc_lr}},
                               {"metric": "accuracy", "value": {"lower": acc_lr + 1e-9}},
                               {"metric": "accuracy", "value": {"upper": acc_lr - 1e-9}},
                               {"metric": "log_loss", "value": {"upper": 0.1}},
                               {"metric": "log_loss", "value": {"upper": 0.05}}]) == [
        "pass", "pass", "pass", "fail", "fail", "pass" if ll_lr <= 0.1 else "fail", "fail"]
    # change, higher is better (accuracy): c − b ≥ absolute and (c − b)/|b| ≥ relative
    eps = 1e-6
    assert verdicts(lr, stump, [{"metric": "accuracy", "change": {"absolute": d_acc - eps}},
                                {"metric": "accuracy", "change": {"absolute": d_acc + eps}},
                                {"metric": "accuracy", "change": {"relative": rel_acc - eps}},
                                {"metric": "accuracy", "change": {"relative": rel_acc + eps}},
                                {"metric": "accuracy", "change": {"absolute": 0.0, "relative": rel_acc + eps}}]) == [
        "pass", "fail", "pass", "fail", "fail"]
    # the reverse: the stump as candidate may lose at most 0.05 / 5 % of accuracy — it loses more
    assert verdicts(stump, lr, [{"metric": "accuracy", "change": {"absolute": -0.05}},
                                {"metric": "accuracy", "change": {"absolute": -d_acc - eps}},
                                {"metric": "accuracy", "change": {"relative": -0.05}}]) == ["fail", "pass", "fail"]
    # change, lower is better (log-loss): c − b ≤ absolute and (c − b)/|b| ≤ relative
    assert verdicts(lr, stump, [{"metric": "log_loss", "change": {"absolute": d_ll + eps}},
                                {"metric": "log_loss", "change": {"absolute": d_ll - eps}},
                                {"metric": "log_loss", "change": {"relative": rel_ll + eps}},
                                {"metric": "log_loss", "change": {"relative": rel_ll - eps}}]) == [
        "pass", "fail", "pass", "fail"]
    assert verdicts(stump, lr, [{"metric": "log_loss", "change": {"absolute": 0.01}},  # rose by far more
                                {"metric": "log_loss", "change": {"absolute": -d_ll + eps}},
                                {"metric": "log_loss", "change": {"relative": 0.5}}]) == ["fail", "pass", "fail"]
    # Δ is reported oriented: positive = the candidate is better, for either direction
    result = run_gate("DEF-TFX", lr, stump, cancer.frame, "label",
                      {"rules": [{"metric": "log_loss", "change": {"absolute": 0.01}},
                                 {"metric": "accuracy", "change": {"relative": -0.02}}]},
                      predictions=predict, record=False)
    assert [r.delta for r in result.rules] == pytest.approx([-d_ll, d_acc])
    assert [r.description for r in result.rules] == ["change Δ ≥ -0.01", "change Δ/baseline ≥ -2.00%"]
    assert result.rules[0].detail == f"Δ {-d_ll:+.4g} ({-rel_ll:+.2%} of the baseline); change Δ ≥ -0.01"
    # direction: set against the metric flips the judgement
    assert verdicts(lr, stump, [{"metric": "accuracy", "change": {"absolute": 0.0},
                                 "direction": "lower_is_better"}]) == ["fail"]


def test_superiority_fails_for_a_candidate_better_only_by_a_point_estimate(cancer: Cancer) -> None:
    weak, lr, stump = new_model("PT", versions=3)
    predict = predictor(cancer, {weak: "lr_weak", lr: "lr", stump: "stump"})
    spec = {"rules": [{"metric": "accuracy", "test": "superiority", "method": "mcnemar"}]}
    y = cancer.y
    right_lr, right_weak = cancer.labels("lr") == y, cancer.labels("lr_weak") == y
    b, c = int((right_lr & ~right_weak).sum()), int((~right_lr & right_weak).sum())
    assert b > c  # the candidate is better by its point estimate …
    close = run_gate("DEF-PT", lr, weak, cancer.frame, "label", spec, predictions=predict)
    rule = close.rules[0]
    assert rule.delta == pytest.approx((b - c) / len(y)) and rule.delta > 0
    assert rule.p_value == pytest.approx(binomtest(b, b + c, 0.5, alternative="greater").pvalue)
    assert rule.p_value > 0.025 and rule.low <= 0  # … but not significantly
    assert (close.verdict, rule.verdict) == ("fail", "fail")
    assert close.reason == "1 of 1 rule(s) failed: rule 1 (accuracy superiority, mcnemar, 95% CI)"
    assert rule.detail.startswith(f"Δ {rule.delta:+.4g}, 95% CI [{rule.low:+.4g}, {rule.high:+.4g}] ≤ +0; one-sided p")
    assert read_run(close.run, "gate/verdict") == "fail" and close.run in runs_tagged("fail")
    clear = run_gate("DEF-PT", lr, stump, cancer.frame, "label", spec, predictions=predict)
    assert clear.verdict == "pass" and clear.rules[0].low > 0


def test_a_metric_that_was_not_computed_fails_its_rule(cancer: Cancer) -> None:
    stump, lr = new_model("MISS", versions=2)
    frame = cancer.frame.assign(cand=cancer.labels("lr"), base=cancer.labels("stump"))
    spec = {"rules": [{"metric": "accuracy", "value": {"lower": 0.5}},
                      {"metric": "roc_auc", "test": "superiority", "method": "delong"}]}
    labels = run_gate("DEF-MISS", lr, stump, frame, "label", spec, candidate_predictions="cand",
                      baseline_predictions="base")
    assert rule_rows(labels) == [(1, "accuracy", "value", "pass"), (2, "roc_auc", "test", "missing")]
    assert labels.rules[1].detail == "the candidate's evaluation has no roc_auc: a rule that cannot be checked fails"
    assert labels.verdict == "fail" and labels.reason.startswith("1 of 2 rule(s) failed: rule 2 (roc_auc")
    # the candidate with probabilities, the baseline with labels only
    stump2, lr2 = new_model("MISSB", versions=2)
    mixed = run_gate("DEF-MISSB", lr2, stump2, frame, "label", spec, candidate_predictions=cancer.proba("lr"),
                     baseline_predictions="base")
    assert [r.verdict for r in mixed.rules] == ["pass", "missing"]
    assert mixed.rules[1].detail == "the baseline's evaluation has no roc_auc" and mixed.verdict == "fail"
    # a rule the paired methods refuse (DeLong on accuracy) is "missing", never a pass
    refused = run_gate("DEF-MISSB", lr2, stump2, frame, "label",
                       {"rules": [{"metric": "accuracy", "test": "superiority", "method": "delong"}]},
                       candidate_predictions=cancer.proba("lr"), baseline_predictions="base")
    assert refused.verdict == "fail" and refused.rules[0].verdict == "missing"
    assert "DeLong method compares ROC-AUC only" in refused.rules[0].detail


def test_safety_rules_no_rules_no_baseline_and_too_few_rows(cancer: Cancer) -> None:
    stump, lr = new_model("SAFE", versions=2)
    predict = predictor(cancer, {stump: "stump", lr: "lr"})

    def gate(baseline: str | None, spec: dict[str, Any], data: pd.DataFrame = cancer.frame) -> Any:
        return run_gate("DEF-SAFE", lr, baseline, data, "label", spec, predictions=predict)

    empty = gate(stump, {"rules": []})
    assert (empty.verdict, empty.reason, empty.rules) == (
        "fail", "the spec has no rules: a gate without rules passes nothing", [])
    assert read_run(empty.run, "gate/verdict") == "fail"
    mixed = {"rules": [{"metric": "accuracy", "value": {"lower": 0.9}},
                       {"metric": "accuracy", "test": "superiority"},
                       {"metric": "f1", "change": {"absolute": 0.0}}]}
    alone = gate(None, mixed)
    assert [r.verdict for r in alone.rules] == ["pass", "skipped", "skipped"]
    assert alone.rules[1].detail == "no baseline: only value rules apply"
    assert (alone.verdict, alone.reason) == ("pass", "all 1 rule(s) passed (no baseline: value rules only)")
    assert alone.baseline is None and set(alone.evaluations) == {"candidate"}
    gate_fields = read_run(alone.run, "gate")
    assert gate_fields["baseline"] == "" and gate_fields["evaluations"] == {"candidate": alone.evaluations["candidate"]}
    assert [gate_fields["rules"][i]["verdict"] for i in ("1", "2", "3")] == ["pass", "skipped", "skipped"]
    md = markdown(alone)
    assert "vs none" in md and "no baseline: value rules only" in md and "➖ skipped" in md
    only_tests = gate(None, {"rules": mixed["rules"][1:]})
    assert (only_tests.verdict, only_tests.reason) == (
        "fail", "no baseline and no value rule: nothing could be checked")
    assert [r.verdict for r in only_tests.rules] == ["skipped", "skipped"]
    # too few rows: no verdict either way
    few = gate(stump, {"min_rows": 229, "rules": mixed["rules"]})
    assert (few.verdict, few.reason, few.rules, few.n) == (
        "insufficient data", "228 rows, fewer than the 229 the spec asks for", [], 228)
    assert read_run(few.run, "gate/verdict") == "insufficient data"
    assert markdown(few).splitlines()[1].startswith("## naiad gate ⚠️ INSUFFICIENT DATA")
    assert gate(stump, {"min_rows": 228, "rules": mixed["rules"]}).verdict == "pass"
    head = cancer.frame.head(20)
    assert gate(stump, {"rules": mixed["rules"]}, head).verdict == "insufficient data"  # the default: 30


URL_RE = re.compile(r"https?://[^\s)\]]+")


def test_context_from_ci_variables_links_and_the_markdown(cancer: Cancer, monkeypatch: pytest.MonkeyPatch) -> None:
    stump, lr = new_model("CTX", versions=2)
    predict = predictor(cancer, {stump: "stump", lr: "lr"})
    sha = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv("GITHUB_SHA", sha)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/defects")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("NAIAD_UI_URL", "https://naiad.example/")
    ci_url = "https://github.example/acme/defects/actions/runs/4242"
    spec = {"rules": [{"metric": "accuracy", "value": {"lower": 0.9}},
                      {"metric": "accuracy", "test": "superiority", "method": "mcnemar"},
                      {"metric": "roc_auc", "value": {"lower": 0.999}}]}
    result = run_gate("DEF-CTX", lr, stump, cancer.frame, "label", spec, predictions=predict)
    assert result.context == {"commit": sha, "ci_url": ci_url, "actor": "octocat"}
    gate = read_run(result.run, "gate")
    assert (gate["commit"], gate["ci_url"], gate["actor"]) == (sha, ci_url, "octocat")
    row = naiad.fetch_gate_decisions("DEF-CTX").iloc[-1]
    assert (row["commit"], row["ci_url"], row["actor"], row["verdict"]) == (sha, ci_url, "octocat", "fail")

    md = markdown(result)
    lines = md.splitlines()
    assert lines[0] == "<!-- naiad-gate:DEF-CTX -->"
    ui = "https://naiad.example/models/DEF-CTX/versions"
    assert lines[1] == f"## naiad gate ❌ FAIL: [{lr}]({ui}/{lr}) vs [{stump}]({ui}/{stump})"
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| #")]
    assert len(table) == 3
    assert [line.split(" | ")[0] for line in table] == ["| 1", "| 2", "| 3"]
    assert [line.rstrip(" |").rsplit("| ", 1)[1] for line in table] == ["✅ pass", "✅ pass", "❌ fail"]
    assert "| 2 | accuracy | superiority, mcnemar, 95% CI |" in table[1]
    assert f"{result.rules[1].delta:+.4g} [{result.rules[1].low:+.4g}, {result.rules[1].high:+.4g}]" in table[1]
    assert f"commit `{sha[:12]}`" in md and f"[CI run]({ci_url})" in md and "run by octocat" in md
    assert "![" not in md and "<img" not in md
    assert set(URL_RE.findall(md)) == {ci_url, f"{ui}/{lr}", f"{ui}/{stump}"}
    assert "```yaml\nrules:\n- metric: accuracy" in md

    # GitLab's variables; no UI: ids in backticks, no links at all
    for name in ("GITHUB_SHA", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_ACTOR",
                 "NAIAD_UI_URL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("CI_COMMIT_SHA", "feedface" * 5)
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.example/acme/defects/-/jobs/7")
    monkeypatch.setenv("GITLAB_USER_LOGIN", "gl-user")
    lab = run_gate("DEF-CTX", lr, stump, cancer.frame, "label", spec, predictions=predict)
    assert lab.context == {"commit": "feedface" * 5, "ci_url": "https://gitlab.example/acme/defects/-/jobs/7",
                           "actor": "gl-user"}
    md = markdown(lab)
    assert md.splitlines()[1] == f"## naiad gate ❌ FAIL: `{lr}` vs `{stump}`"
    assert URL_RE.findall(md) == ["https://gitlab.example/acme/defects/-/jobs/7"]


def test_promote_on_pass_moves_the_candidate_and_archives_the_old_one(cancer: Cancer) -> None:
    stump, weak, lr = new_model("PRO", versions=3)
    promote(stump)
    predict = predictor(cancer, {stump: "stump", weak: "lr_weak", lr: "lr"})
    superior = {"rules": [{"metric": "accuracy", "test": "superiority", "method": "mcnemar"}]}
    failed = run_gate("DEF-PRO", weak, lr, cancer.frame, "label", superior, predictions=predict,
                      promote="production")
    assert failed.verdict == "fail" and failed.promoted is None
    assert (stage_of(stump), stage_of(weak), stage_of(lr)) == ("production", "none", "none")
    passed = run_gate("DEF-PRO", lr, stump, cancer.frame, "label", superior, predictions=predict,
                      promote="production")
    assert passed.verdict == "pass" and passed.promoted == "production"
    assert (stage_of(stump), stage_of(lr)) == ("archived", "production")
    model = naiad.init_model(with_id="DEF-PRO", mode="read-only")
    events = model.fetch_registry_events()
    model.stop()
    assert [(e.version, e.before, e.after) for e in events] == [
        (stump, "none", "production"), (stump, "production", "archived"), (lr, "none", "production")]
    assert events[-1].reason.startswith(f"gate {passed.run} passed: all 1 rule(s) passed")
    assert "promoted to production" in markdown(passed)
    staging = run_gate("DEF-PRO", weak, None, cancer.frame, "label",
                       {"rules": [{"metric": "accuracy", "value": {"lower": 0.5}}]}, predictions=predict,
                       promote="staging")
    assert staging.promoted == "staging" and stage_of(weak) == "staging" and stage_of(lr) == "production"


def test_regression_gate_on_diabetes() -> None:
    data = load_diabetes(as_frame=True)
    x_tr, x_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.4, random_state=2)
    ridge, mean = Ridge(alpha=0.1).fit(x_tr, y_tr), DummyRegressor().fit(x_tr, y_tr)
    frame = x_te.reset_index(drop=True).assign(progression=y_te.to_numpy())
    frame["ridge"], frame["mean"] = ridge.predict(x_te), mean.predict(x_te)
    base, cand = new_model("REG", versions=2)
    spec = {"rules": [{"metric": "rmse", "test": "superiority", "resamples": 2000},
                      {"metric": "r2", "test": "superiority", "resamples": 2000},
                      {"metric": "mae", "change": {"absolute": -5.0}},
                      {"metric": "rmse", "value": {"upper": 60}}]}
    result = run_gate("DEF-REG", cand, base, frame, "progression", spec, candidate_predictions="ridge",
                      baseline_predictions="mean", task="regression")
    y = frame["progression"].to_numpy()
    rmse = {k: math.sqrt(skm.mean_squared_error(y, frame[k])) for k in ("ridge", "mean")}
    mae = {k: skm.mean_absolute_error(y, frame[k]) for k in ("ridge", "mean")}
    assert result.verdict == "pass", result.reason
    assert result.rules[0].delta == pytest.approx(rmse["mean"] - rmse["ridge"]) and result.rules[0].low > 0
    assert result.rules[1].delta == pytest.approx(skm.r2_score(y, frame["ridge"]) - skm.r2_score(y, frame["mean"]))
    assert result.rules[2].delta == pytest.approx(mae["mean"] - mae["ridge"])
    backwards = run_gate("DEF-REG", base, cand, frame, "progression", {"rules": spec["rules"][:3]},
                         candidate_predictions="mean", baseline_predictions="ridge", task="regression")
    assert [r.verdict for r in backwards.rules] == ["fail", "fail", "fail"]
    assert backwards.rules[0].delta == pytest.approx(rmse["ridge"] - rmse["mean"])


# ------------------------------------------------------------------------------------------ the CLI
PASS_SPEC = """\
min_rows: 100
rules:
  - metric: accuracy
    value: {lower: 0.9}
  - metric: accuracy
    test: superiority
    method: mcnemar
"""


@pytest.fixture
def holdout(cancer: Cancer, tmp_path: Path) -> Path:
    """The held-out rows with each model's labels as columns, as a Parquet file."""
    path = tmp_path / "holdout.parquet"
    cancer.frame.assign(stump=cancer.labels("stump"), lr=cancer.labels("lr"),
                        weak=cancer.labels("lr_weak")).to_parquet(path, index=False)
    return path


def gate_args(model: str, candidate: str, data: Path, spec: Path, *extra: str) -> list[str]:
    return ["gate", "--model", model, "--candidate", candidate, "--data", str(data), "--target", "label",
            "--spec", str(spec), *extra]


def test_cli_gate_exit_codes_reports_and_baselines(cancer: Cancer, holdout: Path, tmp_path: Path) -> None:
    stump, lr, weak = new_model("CLI", versions=3)
    promote(stump)
    mv = naiad.init_model_version(with_id=weak)
    mv.set_alias("champion")
    mv.stop()
    spec = tmp_path / "gate.yaml"
    spec.write_text(PASS_SPEC)

    # 0: pass, against the version in production (the default baseline)
    report, as_json = tmp_path / "out" / "gate.md", tmp_path / "gate.json"
    (tmp_path / "out").mkdir()
    ok = cli(*gate_args("DEF-CLI", lr, holdout, spec, "--candidate-predictions", "lr", "--baseline-predictions",
                        "stump", "--report", str(report), "--json", str(as_json)))
    assert ok.exit_code == 0, ok.output
    out = json.loads(as_json.read_text())
    assert (out["verdict"], out["model"], out["candidate"], out["baseline"], out["n"]) == ("pass", "DEF-CLI", lr,
                                                                                          stump, 228)
    assert [r["verdict"] for r in out["rules"]] == ["pass", "pass"] and out["promoted"] is None
    lines = ok.stdout.splitlines()
    assert lines[0] == (f"PASS: {lr} vs {stump} on 228 rows (dataset {out['dataset_hash'][:12]}) — all 2 rule(s) "
                        "passed")
    assert lines[1].startswith("  [pass] rule 1: accuracy value ≥ 0.9: accuracy 0.98")
    assert lines[2].startswith("  [pass] rule 2: accuracy superiority, mcnemar, 95% CI: Δ +")
    assert lines[3] == f"decision recorded as {out['run']}" and len(lines) == 4
    md = report.read_text()
    assert md.splitlines()[0] == "<!-- naiad-gate:DEF-CLI -->" and "![" not in md and "http" not in md
    assert md.split("UTC")[1] == markdown_of(out["run"], tmp_path).split("UTC")[1]
    assert read_run(out["run"], "gate/spec") == PASS_SPEC  # the file's text, comments and all
    assert read_run(out["evaluations"]["candidate"], "eval/dataset_role") == "holdout"
    assert stage_of(lr) == "none"  # no --promote

    # 1: fail (the near-twin is better by a point estimate only), against an explicit version
    fail = cli(*gate_args("DEF-CLI", lr, holdout, spec, "--baseline", weak, "--candidate-predictions", "lr",
                          "--baseline-predictions", "weak", "--json", str(as_json)))
    assert fail.exit_code == 1, fail.output
    out = json.loads(as_json.read_text())
    assert (out["verdict"], out["baseline"]) == ("fail", weak)
    assert fail.stdout.startswith(f"FAIL: {lr} vs {weak} on 228 rows")
    assert "  [fail] rule 2: accuracy superiority, mcnemar, 95% CI: Δ +" in fail.stdout
    # alias:champion is the same version: the same stored evaluations, the same verdict
    evaluations = runs_tagged("evaluation")
    champion = cli(*gate_args("DEF-CLI", lr, holdout, spec, "--baseline", "alias:champion", "--candidate-predictions",
                              "lr", "--baseline-predictions", "weak", "--json", str(as_json)))
    assert champion.exit_code == 1 and json.loads(as_json.read_text())["baseline"] == weak
    assert runs_tagged("evaluation") == evaluations

    # none: value rules only
    alone = cli(*gate_args("DEF-CLI", lr, holdout, spec, "--baseline", "none", "--candidate-predictions", "lr",
                           "--json", str(as_json)))
    assert alone.exit_code == 0, alone.output
    out = json.loads(as_json.read_text())
    assert out["baseline"] is None and [r["verdict"] for r in out["rules"]] == ["pass", "skipped"]
    assert alone.stdout.startswith(f"PASS: {lr} vs no baseline on 228 rows")
    assert "  [skipped] rule 2: accuracy superiority, mcnemar, 95% CI: no baseline: only value rules apply" in \
        alone.stdout

    # 2: not enough data
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"min_rows": 1000, "rules": [{"metric": "accuracy", "value": {"lower": 0.5}}]}))
    few = cli(*gate_args("DEF-CLI", lr, holdout, strict, "--candidate-predictions", "lr", "--baseline-predictions",
                         "stump"))
    assert few.exit_code == 2, few.output
    assert few.stdout.splitlines()[0].startswith(f"INSUFFICIENT DATA: {lr} vs {stump} on 228 rows")
    assert few.stdout.splitlines()[0].endswith("— 228 rows, fewer than the 1000 the spec asks for")

    # --promote: on a pass the candidate goes to production and the old one is archived
    promoted = cli(*gate_args("DEF-CLI", lr, holdout, spec, "--candidate-predictions", "lr", "--baseline-predictions",
                              "stump", "--promote", "--report", str(report)))
    assert promoted.exit_code == 0, promoted.output
    run = naiad.fetch_gate_decisions("DEF-CLI")["run"].iloc[-1]
    assert promoted.stdout.splitlines()[-1] == f"decision recorded as {run}; {lr} promoted to production"
    assert (stage_of(lr), stage_of(stump)) == ("production", "archived")
    assert "promoted to production" in report.read_text()
    # … and a failing gate with --promote-to staging moves nothing
    nope = cli(*gate_args("DEF-CLI", weak, holdout, spec, "--baseline", lr, "--candidate-predictions", "weak",
                          "--baseline-predictions", "lr", "--promote-to", "staging"))
    assert nope.exit_code == 1 and stage_of(weak) == "none"
    decisions = naiad.fetch_gate_decisions("DEF-CLI")
    assert list(decisions["verdict"]) == ["pass", "fail", "fail", "pass", "insufficient data", "pass", "fail"]


def markdown_of(run: str, tmp_path: Path) -> str:
    return download(run, "gate/report", tmp_path / f"{run}.md").read_text()


def test_cli_gate_with_a_predict_function(cancer: Cancer, holdout: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    stump, lr = new_model("FN", versions=2)
    promote(stump)
    models = tmp_path / "models"
    models.mkdir()
    for version, name in ((stump, "stump"), (lr, "lr")):
        (models / f"{version}.pkl").write_bytes(pickle.dumps(cancer.models[name]))
    (tmp_path / "gate_serving.py").write_text(textwrap.dedent(f"""
        import pickle

        FEATURES = {cancer.features!r}
        CALLS = []

        def predict(features, version):
            CALLS.append((version, list(features.columns)))
            with open(f"models/{{version}}.pkl", "rb") as f:
                return pickle.load(f).predict_proba(features[FEATURES])
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "auc.yaml"
    spec.write_text("rules:\n  - metric: roc_auc\n    test: superiority\n    method: delong\n"
                    "  - metric: log_loss\n    change: {absolute: 0}\n")
    result = cli(*gate_args("DEF-FN", lr, holdout, spec, "--predict", "gate_serving:predict", "--json", "out.json",
                            "--role", "golden-set"))
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "out.json").read_text())
    y = cancer.y
    auc = {k: skm.roc_auc_score(y, cancer.proba(k)[:, 1]) for k in ("lr", "stump")}
    assert out["rules"][0]["delta"] == pytest.approx(auc["lr"] - auc["stump"])
    assert out["rules"][1]["delta"] == pytest.approx(skm.log_loss(y, cancer.proba("stump")) -
                                                     skm.log_loss(y, cancer.proba("lr")))
    import gate_serving  # type: ignore[import-not-found]

    features = [c for c in pd.read_parquet(holdout).columns if c != "label"]
    assert sorted(gate_serving.CALLS) == sorted([(lr, features), (stump, features)])
    assert read_run(out["evaluations"]["baseline"], "eval/dataset_role") == "golden-set"
    bad = cli(*gate_args("DEF-FN", lr, holdout, spec, "--predict", "gate_serving"))
    assert bad.exit_code == 3 and "write it as module:function" in bad.output
    missing = cli(*gate_args("DEF-FN", lr, holdout, spec, "--predict", "no_such_module:predict"))
    assert missing.exit_code == 3 and "cannot load no_such_module:predict" in missing.output


def test_cli_gate_could_not_run_is_exit_3(holdout: Path, tmp_path: Path) -> None:
    stump, lr = new_model("ERR", versions=2)
    promote(stump)
    spec = tmp_path / "gate.yaml"
    spec.write_text(PASS_SPEC)
    bad_spec = tmp_path / "bad.yaml"
    bad_spec.write_text("rules:\n  - metric: accuracy\n    value: {lower: 0.9}\n    when: always\n")
    preds = ["--candidate-predictions", "lr", "--baseline-predictions", "stump"]
    cases = [
        (gate_args("DEF-ERR", lr, holdout, tmp_path / "nope.yaml", *preds), "does not exist"),
        (gate_args("DEF-ERR", lr, holdout, bad_spec, *preds), "Error: rule 1: unknown key(s) when."),
        (gate_args("DEF-ERR", "DEF-OTHER-1", holdout, spec, *preds), "DEF-OTHER-1 is not a version of DEF-ERR."),
        (gate_args("DEF-ERR", stump, holdout, spec, *preds),
         f"{stump} is the baseline itself (stage:production); nothing to compare."),
        (gate_args("DEF-ERR", lr, holdout, spec, "--baseline", lr, *preds), f"{lr} is the baseline itself"),
        (gate_args("DEF-ERR", lr, holdout, spec, "--baseline", "latest", *preds),
         "'latest': give stage:NAME, alias:NAME, a version of DEF-ERR or none."),
        (gate_args("DEF-GHOST", "DEF-GHOST-1", holdout, spec, *preds), "Error: "),
        (gate_args("DEF-GHOST", "DEF-GHOST-1", holdout, spec, "--baseline", "none", *preds), "Error: "),
        (gate_args("DEF-ERR", lr, holdout, spec, "--baseline", "DEF-ERR-9", *preds), "Error: "),
        (gate_args("DEF-ERR", lr, holdout, spec, "--promote", "--promote-to", "staging", *preds),
         "give --promote or --promote-to, not both."),
        (gate_args("DEF-ERR", lr, holdout, spec, "--candidate-predictions", "nope"),
         "predictions='nope' is not a column of the data"),
        (gate_args("DEF-ERR", lr, tmp_path / "missing.parquet", spec, *preds), "does not exist"),
        (["gate", "--model", "DEF-ERR", "--candidate", lr], "Missing option"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.exit_code == 3, (args, result.output)
        assert message in result.output, (args, result.output)
        assert result.stdout == "", (args, result.stdout)  # nothing that reads like a verdict
    assert runs_tagged("gate") == []
    assert (stage_of(stump), stage_of(lr)) == ("production", "none")


def test_cli_gate_with_malformed_yaml_is_exit_3(holdout: Path, tmp_path: Path) -> None:
    """Exit 1 means "the gate failed"; a spec that is not YAML must be "could not run" (3)."""
    stump, lr = new_model("YML", versions=2)
    promote(stump)
    spec = tmp_path / "broken.yaml"
    spec.write_text("rules: [\n  - metric: {\n")
    result = cli_caught(*gate_args("DEF-YML", lr, holdout, spec, "--candidate-predictions", "lr",
                                   "--baseline-predictions", "stump"))
    assert result.exit_code == 3, (result.exit_code, repr(result.exception))


# ------------------------------------------------------------------------------------------ promotion policy
def test_promotion_policy_on_the_embedded_store(cancer: Cancer, holdout: Path, tmp_path: Path) -> None:
    stump, lr, weak = new_model("POL", versions=3)
    promote(stump)
    shown = cli("models", "policy", "DEF-POL")
    assert shown.exit_code == 0 and shown.stdout == "DEF-POL: no promotion policy (any contributor may promote)\n"
    promote(lr)  # no policy: anyone may promote
    promote(stump)
    assert (stage_of(stump), stage_of(lr)) == ("production", "archived")

    on = cli("models", "policy", "DEF-POL", "--require-gate", "--reason", "evidence first")
    assert on.exit_code == 0, on.output
    policy_lines = ["DEF-POL: a version goes to production only with a passing gate decision",
                    "  decisions count when recorded by a maintainer, owner or admin, compared with the version "
                    "in production then, and younger than 30 days"]
    assert on.stdout.splitlines() == ["policy require_gate: false → true (by ana: evidence first)", *policy_lines]
    assert cli("models", "policy", "DEF-POL").stdout.splitlines() == policy_lines
    again = cli("models", "policy", "DEF-POL", "--require-gate")
    assert again.stdout.splitlines() == policy_lines
    model = naiad.init_model(with_id="DEF-POL", mode="read-only")
    policy_events = [e for e in model.fetch_registry_events() if e.kind == "policy"]
    model.stop()
    assert [(e.version, e.name, e.before, e.after, e.actor, e.reason) for e in policy_events] == [
        ("DEF-POL", "require_gate", "false", "true", "ana", "evidence first")]

    # no decision: refused, through the SDK and the CLI; other stages stay free
    mv = naiad.init_model_version(with_id=lr)
    with pytest.raises(E.PolicyError) as refused:
        mv.change_stage("production")
    assert isinstance(refused.value, E.PermissionDeniedError) and refused.value.code == "policy_refused"
    assert f"DEF-POL requires a passing `naiad gate` decision before a version goes to production, and {lr} has " \
           "none" in str(refused.value)
    mv.change_stage("staging")
    mv.stop()
    denied = cli("models", "promote", lr, "--stage", "production")
    assert denied.exit_code == 1 and "Error: DEF-POL requires a passing `naiad gate` decision" in denied.output
    assert (stage_of(stump), stage_of(lr)) == ("production", "staging")

    # a failing decision does not unlock it
    spec = tmp_path / "gate.yaml"
    spec.write_text(PASS_SPEC)
    strict = tmp_path / "strict.yaml"
    strict.write_text("rules:\n  - metric: accuracy\n    value: {lower: 0.999}\n")
    failed = cli(*gate_args("DEF-POL", lr, holdout, strict, "--candidate-predictions", "lr", "--baseline-predictions",
                            "stump"))
    assert failed.exit_code == 1, failed.output
    with pytest.raises(E.PolicyError):
        promote(lr)
    # nor does a passing decision about another version
    weak_pass = cli(*gate_args("DEF-POL", weak, holdout, spec, "--baseline", "none", "--candidate-predictions", "weak"))
    assert weak_pass.exit_code == 0, weak_pass.output
    with pytest.raises(E.PolicyError):
        promote(lr)
    # a passing `naiad gate` decision unlocks it
    passed = cli(*gate_args("DEF-POL", lr, holdout, spec, "--candidate-predictions", "lr", "--baseline-predictions",
                            "stump"))
    assert passed.exit_code == 0, passed.output
    promote(lr)
    assert (stage_of(stump), stage_of(lr)) == ("archived", "production")
    # a decision counts against the version in production now only: one without a baseline does not
    unmatched = cli(*gate_args("DEF-POL", weak, holdout, spec, "--baseline", "none", "--candidate-predictions", "weak",
                               "--promote"))
    assert unmatched.exit_code == 3  # the gate passed; the promotion could not be made
    assert f"it compared {weak} with no baseline, but {lr} is in production now" in unmatched.output
    assert stage_of(lr) == "production"
    # and `naiad gate --promote` against it passes and promotes under the policy in one step
    floor = tmp_path / "floor.yaml"
    floor.write_text("rules:\n  - metric: accuracy\n    value: {lower: 0.9}\n")
    back = cli(*gate_args("DEF-POL", weak, holdout, floor, "--candidate-predictions", "lr", "--baseline-predictions",
                          "lr", "--promote"))
    assert back.exit_code == 0 and back.stdout.splitlines()[-1].endswith(f"{weak} promoted to production"), back.output
    assert (stage_of(lr), stage_of(weak)) == ("archived", "production")

    # the registry fields cannot be written around the registry: the SDK refuses at the call …
    model = naiad.init_model(with_id="DEF-POL")
    with pytest.raises(E.ProtectedPathError, match="sys/policy/require_gate"):
        model["sys/policy/require_gate"] = False
    model.stop()
    # … and the store refuses such ops in a batch (counted in sys/errors), applying the rest
    store, _ = store_for("read-only")
    m_info, v_info = store.get_container(short_id="DEF-POL"), store.get_container(short_id=stump)
    result = store.apply(Batch(m_info.uuid, "forger", 1, [
        (O.ASSIGN, "sys/policy/require_gate", F.BOOLEAN, False), (O.DELETE, "sys/policy"), (O.DELETE, "sys"),
        (O.DELETE, ""), (O.ASSIGN, "notes/who", F.STRING, "forger")]))
    assert len(result.errors) == 4 and all("is moved by the registry only" in e for e in result.errors)
    assert "'sys/policy/require_gate'" in result.errors[0] and "'(everything)'" in result.errors[3]
    stage_batch = store.apply(Batch(v_info.uuid, "forger-2", 1, [
        (O.ASSIGN, "sys/stage", F.STRING, "production"), (O.ADD, "sys/aliases", ["champion"]),
        (O.ASSIGN, "sys/model_id", F.STRING, "DEF-OTHER")]))
    assert len(stage_batch.errors) == 3
    got = store.read_fields(m_info.uuid, ["sys/policy/require_gate", "sys/errors", "notes/who"])
    assert (got["sys/policy/require_gate"].value, got["sys/errors"].value, got["notes/who"].value) == (
        True, 4, "forger")
    got = store.read_fields(v_info.uuid, ["sys/stage", "sys/errors", "sys/aliases", "sys/model_id"])
    assert (got["sys/stage"].value, got["sys/errors"].value, got["sys/model_id"].value) == ("archived", 3, "DEF-POL")
    assert "sys/aliases" not in got or got["sys/aliases"].value == set()
    assert stage_of(weak) == "production"
    with pytest.raises(E.PolicyError):  # the policy holds
        promote(stump)

    off = cli("models", "policy", "DEF-POL", "--no-require-gate")
    assert off.stdout.splitlines() == ["policy require_gate: true → false (by ana)",
                                       "DEF-POL: no promotion policy (any contributor may promote)"]
    promote(stump)
    assert stage_of(stump) == "production"
    missing = cli("models", "policy", "DEF-NOPE", "--require-gate")
    assert missing.exit_code == 1 and "Error: " in missing.output


# ------------------------------------------------------------------------------------------ on a server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """Contributor "carl" and maintainer "mona" of the project."""
    grants = [("carl", PROJECT, "contributor"), ("mona", PROJECT, "maintainer")]
    with team_server(tmp_path_factory.mktemp("gate-server"), grants) as found:
        yield found


def test_promotion_policy_on_a_server(server: TeamServer, cancer: Cancer, monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(server, "carl", monkeypatch)
    stump, weak, lr = new_model("SRV", versions=3)
    promote(stump)
    # a contributor cannot set (or lift) the policy
    model = naiad.init_model(with_id="DEF-SRV")
    with pytest.raises(E.PermissionDeniedError, match="maintainer") as denied:
        model.set_promotion_policy(require_gate=True)
    assert not isinstance(denied.value, E.PolicyError)
    model.stop()
    by_cli = cli("models", "policy", "DEF-SRV", "--require-gate", "--uri", server.url)
    assert by_cli.exit_code == 1 and "maintainer" in by_cli.output
    assert [e for e in server.store.registry_events(PROJECT, "DEF-SRV") if e.kind == "policy"] == []
    # a maintainer can
    as_user(server, "mona", monkeypatch)
    model = naiad.init_model(with_id="DEF-SRV")
    model.set_promotion_policy(require_gate=True, reason="gate first")
    model.stop()
    [event] = [e for e in server.store.registry_events(PROJECT, "DEF-SRV") if e.kind == "policy"]
    assert (event.name, event.before, event.after, event.actor, event.reason) == (
        "require_gate", "false", "true", "mona", "gate first")

    # the contributor's promotion is refused: PolicyError in the SDK, 403 policy_refused on the wire
    as_user(server, "carl", monkeypatch)
    with pytest.raises(E.PolicyError, match="requires a passing `naiad gate` decision"):
        promote(lr)
    response = httpx.post(f"{server.url}/api/v1/registry/stage", json={"version": lr, "stage": "production"},
                          headers={"authorization": f"Bearer {server.tokens['carl']}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "policy_refused"
    assert f"{lr} has none" in response.json()["error"]["message"]
    # nor can the contributor write the policy away in a batch
    remote = naiad.store.open_store(server.url)
    info = remote.get_container(short_id="DEF-SRV")
    forged = remote.apply(Batch(info.uuid, "carl-forger", 1, [(O.ASSIGN, "sys/policy/require_gate", F.BOOLEAN,
                                                                 False)]))
    assert len(forged.errors) == 1 and "sys/policy/require_gate" in forged.errors[0]
    assert server.store.read_fields(info.uuid, ["sys/policy/require_gate"])["sys/policy/require_gate"].value is True

    # a failing gate decision (through the server) does not unlock it
    predict = predictor(cancer, {stump: "stump", weak: "lr_weak", lr: "lr"})
    superior = {"rules": [{"metric": "accuracy", "test": "superiority", "method": "mcnemar"}]}
    close = run_gate("DEF-SRV", lr, weak, cancer.frame, "label", superior, predictions=predict)
    assert close.verdict == "fail"
    with pytest.raises(E.PolicyError):
        promote(lr)
    # a passing one made by the contributor is recorded under their account, and does not count
    mine = run_gate("DEF-SRV", lr, stump, cancer.frame, "label", superior, predictions=predict)
    assert mine.verdict == "pass" and mine.decision_id is not None
    with pytest.raises(E.PolicyError, match=r"carl \(contributor\) recorded it"):
        promote(lr)
    # one made by a maintainer does; the decision lives in the server's store
    as_user(server, "mona", monkeypatch)
    clear = run_gate("DEF-SRV", lr, stump, cancer.frame, "label", superior, predictions=predict)
    assert clear.verdict == "pass"
    assert server.store.get_container(short_id=clear.run).kind == "run"
    decisions = naiad.fetch_gate_decisions("DEF-SRV")
    assert list(decisions["verdict"]) == ["fail", "pass", "pass"]
    assert list(zip(decisions["actor"], decisions["actor_role"], strict=True)) == [
        ("carl", "contributor"), ("carl", "contributor"), ("mona", "maintainer")]
    as_user(server, "carl", monkeypatch)
    promote(lr)
    assert (stage_of(stump), stage_of(lr)) == ("archived", "production")
    stage_events = [e for e in server.store.registry_events(PROJECT, "DEF-SRV") if e.kind == "stage"]
    assert [(e.version, e.after, e.actor) for e in stage_events][-2:] == [(stump, "archived", "carl"),
                                                                          (lr, "production", "carl")]
