"""naiad.monitoring.metrics against known answers: scikit-learn's point values, a slow DeLong reference, interval
properties, coverage of the true value on simulated data, and a loose speed bound."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from naiad.monitoring import metrics as M

BIG = 50_000
assert BIG > M.EXACT_ROWS  # the large cases must reach the normal / DeLong interval branch


# --------------------------------------------------------------------------------------------- data


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _classifier_data(n: int, k: int, seed: int, *, sep: float = 1.0, ties: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, argmax predictions and probabilities (rows sum to one) of a noisy k-class classifier."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += sep
    proba = _softmax(logits)
    if ties:  # few distinct scores: many ties within and across the classes
        proba = np.round(proba, 1)
        proba = np.clip(proba, 0.05, None)
        proba /= proba.sum(axis=1, keepdims=True)
    return y, proba.argmax(axis=1), proba


def _binary_cases() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    cases = {}
    for n in (50, BIG):
        cases[f"random-{n}"] = _classifier_data(n, 2, seed=n)
        cases[f"ties-{n}"] = _classifier_data(n, 2, seed=n + 1, ties=True)
        y, _, proba = _classifier_data(n, 2, seed=n + 2)
        cases[f"positive-never-predicted-{n}"] = (y, np.zeros(n, dtype=np.int64), proba)
        y = np.random.default_rng(n + 3).integers(0, 2, n)
        s = np.where(y == 1, 0.6 + 0.3 * np.random.default_rng(n + 4).random(n), 0.4)
        cases[f"perfect-{n}"] = (y, y.copy(), np.column_stack([1 - s, s]))
    # imbalanced, positive class rare
    rng = np.random.default_rng(7)
    y = (rng.random(400) < 0.1).astype(np.int64)
    s = 1 / (1 + np.exp(-(rng.normal(size=400) + 1.5 * y - 1)))
    cases["imbalanced-400"] = (y, (s > 0.5).astype(np.int64), np.column_stack([1 - s, s]))
    return cases


def _multiclass_cases() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    cases = {}
    for n in (50, BIG):
        y, pred, proba = _classifier_data(n, 4, seed=10 + n)
        cases[f"random-{n}"] = (y, pred, proba, 4)
        y, pred, proba = _classifier_data(n, 3, seed=11 + n, ties=True)
        cases[f"ties-{n}"] = (y, pred, proba, 3)
        y, pred, proba = _classifier_data(n, 4, seed=12 + n)
        pred = np.where(pred == 2, 0, pred)  # class 2 is never predicted
        cases[f"class-never-predicted-{n}"] = (y, pred, proba, 4)
        y = np.random.default_rng(13 + n).integers(0, 3, n)
        cases[f"perfect-{n}"] = (y, y.copy(), _softmax(5.0 * np.eye(3)[y]), 3)
    return cases


BINARY = _binary_cases()
MULTICLASS = _multiclass_cases()


# ------------------------------------------------------------------------------------ point values


@pytest.mark.parametrize("case", sorted(BINARY))
def test_binary_point_values_equal_sklearn(case: str) -> None:
    y, pred, proba = BINARY[case]
    res = M.classification(y, pred, proba, 2, n_boot=200)
    assert set(res) == {"accuracy", "precision", "recall", "f1", "log_loss", "roc_auc"}
    # naiad leaves an undefined precision (nothing predicted positive) undefined: nan
    expected = {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, pos_label=1, zero_division=np.nan),
        "recall": recall_score(y, pred, pos_label=1, zero_division=np.nan),
        "f1": f1_score(y, pred, pos_label=1, zero_division=np.nan),
        "log_loss": log_loss(y, proba, labels=[0, 1]),
        "roc_auc": roc_auc_score(y, proba[:, 1]),
    }
    for name, value in expected.items():
        assert res[name].name == name
        if math.isnan(value):
            assert math.isnan(res[name].value), name
        else:
            assert res[name].value == pytest.approx(value, rel=1e-9, abs=1e-12), name
    if case.startswith("perfect"):
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            assert res[name].value == 1.0
            assert res[name].low == res[name].high == 1.0, name
    if case.startswith("positive-never-predicted"):
        assert math.isnan(res["precision"].value)
        assert res["recall"].value == 0.0
        assert res["f1"].value == 0.0


@pytest.mark.parametrize("case", sorted(MULTICLASS))
def test_multiclass_point_values_equal_sklearn(case: str) -> None:
    y, pred, proba, k = MULTICLASS[case]
    assert set(np.unique(y)) == set(range(k))
    res = M.classification(y, pred, proba, k, n_boot=100)
    labels = list(range(k))
    expected = {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, labels=labels, average="macro", zero_division=0),
        "recall": recall_score(y, pred, labels=labels, average="macro", zero_division=0),
        "f1": f1_score(y, pred, labels=labels, average="macro", zero_division=0),
        "log_loss": log_loss(y, proba, labels=labels),
        "roc_auc": roc_auc_score(y, proba, multi_class="ovr", average="macro"),
    }
    for name, value in expected.items():
        assert res[name].value == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("n", [50, BIG])
def test_multiclass_macro_is_over_classes_present_in_the_true_labels(n: int) -> None:
    y, pred, proba = _classifier_data(n, 4, seed=99)
    y = np.where(y == 3, 0, y)  # class 3 never occurs in y (but is predicted, and has a probability column)
    assert (pred == 3).any()
    res = M.classification(y, pred, proba, 4, n_boot=100)
    present = [0, 1, 2]
    for name, fn in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        want = fn(y, pred, labels=present, average="macro", zero_division=0)
        assert res[name].value == pytest.approx(want, rel=1e-9), name
    want_auc = np.mean([roc_auc_score(y == c, proba[:, c]) for c in present])
    assert res["roc_auc"].value == pytest.approx(want_auc, rel=1e-9)
    assert res["accuracy"].value == pytest.approx(accuracy_score(y, pred))


def _regression_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    cases = {}
    for n in (50, BIG):
        rng = np.random.default_rng(20 + n)
        y = rng.normal(10, 3, n)
        cases[f"random-{n}"] = (y, y + rng.normal(0, 1.5, n))
        cases[f"heavy-tailed-{n}"] = (y, y + rng.standard_t(3, n))
        cases[f"biased-{n}"] = (y, 0.5 * y + 7 + rng.normal(0, 0.5, n))
        yi = rng.integers(0, 5, n).astype(float)  # ties and exact hits
        cases[f"integers-{n}"] = (yi, np.clip(yi + rng.integers(-1, 2, n), 0, 4).astype(float))
    return cases


REGRESSION = _regression_cases()


@pytest.mark.parametrize("case", sorted(REGRESSION))
def test_regression_point_values_equal_sklearn(case: str) -> None:
    y, pred = REGRESSION[case]
    res = M.regression(y, pred, n_boot=200)
    assert set(res) == {"mae", "rmse", "r2"}
    assert res["mae"].value == pytest.approx(mean_absolute_error(y, pred), rel=1e-9)
    assert res["rmse"].value == pytest.approx(math.sqrt(mean_squared_error(y, pred)), rel=1e-9)
    assert res["r2"].value == pytest.approx(r2_score(y, pred), rel=1e-9)


@pytest.mark.parametrize("n", [50, BIG])
def test_regression_perfect_prediction(n: int) -> None:
    y = np.random.default_rng(n).normal(size=n)
    res = M.regression(y, y.copy(), n_boot=100)
    assert res["mae"].value == res["mae"].low == res["mae"].high == 0.0
    assert res["rmse"].value == res["rmse"].low == res["rmse"].high == 0.0
    assert res["r2"].value == res["r2"].low == res["r2"].high == 1.0


@pytest.mark.parametrize("n", [50, BIG])
@pytest.mark.parametrize("constant", [0.0, 0.1, 0.3, 1234.5])
def test_r2_of_a_constant_target_is_nan(n: int, constant: float) -> None:
    """R² is undefined when the target does not vary, whatever float rounding does to its mean."""
    y = np.full(n, constant)
    pred = y + np.random.default_rng(n).normal(size=n)
    res = M.regression(y, pred, n_boot=100)
    assert math.isnan(res["r2"].value), res["r2"]
    assert math.isnan(res["r2"].low) and math.isnan(res["r2"].high), res["r2"]
    assert res["mae"].value == pytest.approx(mean_absolute_error(y, pred))


# ------------------------------------------------------------------------------------------ DeLong


def _delong_reference(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """DeLong, DeLong & Clarke-Pearson (1988) from the definition: structural components
    V10(X_i) = mean_j psi(X_i, Y_j), V01(Y_j) = mean_i psi(X_i, Y_j), psi = 1, 1/2, 0 for >, =, <."""
    x = [float(s) for s in scores[positive]]
    y = [float(s) for s in scores[~positive]]
    m, n = len(x), len(y)
    psi = [[1.0 if xi > yj else 0.5 if xi == yj else 0.0 for yj in y] for xi in x]
    v10 = [sum(row) / n for row in psi]
    v01 = [sum(psi[i][j] for i in range(m)) / m for j in range(n)]
    auc = sum(v10) / m
    s10 = sum((v - auc) ** 2 for v in v10) / (m - 1)
    s01 = sum((v - auc) ** 2 for v in v01) / (n - 1)
    return auc, s10 / m + s01 / n


@pytest.mark.parametrize("seed", range(6))
def test_delong_matches_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = [30, 120, 250, 9, 60, 200][seed]
    positive = rng.random(n) < [0.5, 0.3, 0.7, 0.5, 0.1, 0.5][seed]
    positive[:2] = [True, False]
    positive[2:4] = [True, False]  # at least two of each
    if seed in (1, 3):  # heavy ties: a handful of distinct scores
        scores = rng.integers(0, 4, n).astype(float) + positive * rng.integers(0, 2, n)
    elif seed == 5:  # continuous scores with every value duplicated once
        base = rng.normal(size=n // 2) + 0.0
        scores = np.concatenate([base, base])[:n] + 0.8 * positive
    else:
        scores = rng.normal(size=n) + 0.7 * positive
    auc, var = M.delong(scores, positive)
    want_auc, want_var = _delong_reference(scores, positive)
    assert auc == pytest.approx(roc_auc_score(positive, scores), rel=1e-12)
    assert auc == pytest.approx(want_auc, rel=1e-12)
    assert var == pytest.approx(want_var, rel=1e-9)
    assert var > 0


def test_delong_degenerate_inputs() -> None:
    scores = np.arange(6, dtype=float)
    auc, var = M.delong(scores, np.array([False, False, False, True, True, True]))
    assert auc == 1.0 and var == 0.0  # perfect separation: no sampling error
    auc, var = M.delong(scores, np.array([True, True, True, False, False, False]))
    assert auc == 0.0 and var == 0.0
    auc, var = M.delong(np.ones(6), np.array([True, False] * 3))
    assert auc == 0.5 and var == 0.0  # all tied
    for positive in (np.ones(6, dtype=bool), np.zeros(6, dtype=bool)):
        auc, var = M.delong(scores, positive)
        assert math.isnan(auc) and math.isnan(var)


def test_delong_on_large_data_equals_sklearn_and_the_binormal_variance() -> None:
    rng = np.random.default_rng(5)
    positive = rng.random(BIG) < 0.4
    scores = rng.normal(size=BIG) + positive
    auc, var = M.delong(scores, positive)
    assert auc == pytest.approx(roc_auc_score(positive, scores), rel=1e-12)
    # Hanley-McNeil's approximation of the AUC variance, good to a few percent here
    m, n = positive.sum(), (~positive).sum()
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    hm = (auc * (1 - auc) + (m - 1) * (q1 - auc**2) + (n - 1) * (q2 - auc**2)) / (m * n)
    assert var == pytest.approx(hm, rel=0.1)


# ------------------------------------------------------------------------------------ weighted AUC


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_auc_with_unit_weights_equals_sklearn(ties: bool) -> None:
    rng = np.random.default_rng(3)
    positive = rng.random(500) < 0.35
    scores = rng.normal(size=500) + positive
    if ties:
        scores = np.round(scores)
    got = M.weighted_auc(scores, positive, np.ones((3, 500)))
    assert got.shape == (3,)
    assert np.allclose(got, roc_auc_score(positive, scores), rtol=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_auc_with_integer_weights_equals_repeated_rows(ties: bool) -> None:
    rng = np.random.default_rng(4)
    n = 300
    positive = rng.random(n) < 0.5
    scores = rng.normal(size=n) + 0.6 * positive
    if ties:
        scores = np.round(scores * 2) / 2
    weights = rng.poisson(1.0, size=(5, n)).astype(float)  # zeros included: rows left out
    weights[0] = rng.integers(1, 6, n)
    got = M.weighted_auc(scores, positive, weights)
    for r, w in enumerate(weights):
        reps = w.astype(int)
        want = roc_auc_score(np.repeat(positive, reps), np.repeat(scores, reps))
        assert got[r] == pytest.approx(want, rel=1e-12), r
        assert got[r] == pytest.approx(roc_auc_score(positive, scores, sample_weight=w), rel=1e-12)


def test_weighted_auc_without_a_class_is_nan() -> None:
    scores = np.arange(4.0)
    positive = np.array([True, True, False, False])
    w = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    got = M.weighted_auc(scores, positive, w)
    assert math.isnan(got[0]) and math.isnan(got[1])
    assert got[2] == 0.0


# --------------------------------------------------------------------------------- interval shape


def _regression_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, n)
    return y, y + rng.normal(0, 1.5, n)


def _all_metrics(n: int, seed: int = 0, level: float = 0.95, n_boot: int = 300) -> dict[str, M.Metric]:
    out: dict[str, M.Metric] = {}
    y, pred, proba = _classifier_data(n, 2, seed=1)
    for name, m in M.classification(y, pred, proba, 2, n_boot=n_boot, level=level, seed=seed).items():
        out[f"binary/{name}"] = m
    y, pred, proba = _classifier_data(n, 3, seed=2)
    for name, m in M.classification(y, pred, proba, 3, n_boot=n_boot, level=level, seed=seed).items():
        out[f"multiclass/{name}"] = m
    y, pred = _regression_data(n)
    for name, m in M.regression(y, pred, n_boot=n_boot, level=level, seed=seed).items():
        out[f"regression/{name}"] = m
    return out


@pytest.fixture(scope="module")
def intervals() -> dict[tuple[int, float, int], dict[str, M.Metric]]:
    return {(n, level, seed): _all_metrics(n, seed, level)
            for n in (300, BIG) for level, seed in ((0.95, 0), (0.95, 0), (0.99, 0), (0.8, 0), (0.95, 1))}


@pytest.mark.parametrize("n", [300, BIG])
def test_intervals_contain_the_point_and_carry_their_level(intervals, n: int) -> None:
    for level in (0.8, 0.95, 0.99):
        for key, m in intervals[(n, level, 0)].items():
            assert m.level == level, key
            assert math.isfinite(m.value) and math.isfinite(m.low) and math.isfinite(m.high), (key, m)
            assert m.low <= m.value <= m.high, (key, m)
            assert m.low < m.high, (key, m)


@pytest.mark.parametrize("n", [300, BIG])
def test_higher_level_gives_wider_intervals(intervals, n: int) -> None:
    wide, mid, narrow = intervals[(n, 0.99, 0)], intervals[(n, 0.95, 0)], intervals[(n, 0.8, 0)]
    for key in wide:
        assert wide[key].low <= mid[key].low <= narrow[key].low, key
        assert wide[key].high >= mid[key].high >= narrow[key].high, key
        assert wide[key].high - wide[key].low > 1.3 * (narrow[key].high - narrow[key].low), key


@pytest.mark.parametrize("n", [300, BIG])
def test_seed_fixes_bootstrap_intervals(n: int, intervals) -> None:
    again = _all_metrics(n, 0, 0.95)
    other = intervals[(n, 0.95, 1)]
    for key, m in intervals[(n, 0.95, 0)].items():
        assert again[key] == m, key  # same seed, same everything
        assert other[key].value == m.value, key
        if "bootstrap" in m.method:
            assert (other[key].low, other[key].high) != (m.low, m.high), key
            assert other[key].method != m.method  # the method names its seed
        else:  # DeLong and normal intervals draw nothing
            assert other[key] == m, key


def test_methods_name_themselves(intervals) -> None:
    small, big = intervals[(300, 0.95, 0)], intervals[(BIG, 0.95, 0)]
    for res in (small, big):
        for task in ("binary", "multiclass"):
            for name in ("accuracy", "precision", "recall", "f1"):
                assert "bootstrap" in res[f"{task}/{name}"].method
                assert "300 resamples" in res[f"{task}/{name}"].method
                assert "seed 0" in res[f"{task}/{name}"].method
        assert "DeLong" in res["binary/roc_auc"].method
    for key in ("binary/log_loss", "multiclass/log_loss", "multiclass/roc_auc",
                "regression/mae", "regression/rmse", "regression/r2"):
        assert "bootstrap" in small[key].method, key
    for key in ("binary/log_loss", "multiclass/log_loss", "regression/mae", "regression/rmse", "regression/r2"):
        assert "normal" in big[key].method, key
        assert "bootstrap" not in big[key].method, key
    assert "DeLong" in big["multiclass/roc_auc"].method
    assert "one-vs-rest" in big["multiclass/roc_auc"].method and "one-vs-rest" in small["multiclass/roc_auc"].method


@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
def test_stderr_matches_interval_width(intervals, level: float) -> None:
    z = norm.ppf(0.5 + level / 2)
    for n in (300, BIG):
        for key, m in intervals[(n, level, 0)].items():
            assert m.stderr == pytest.approx((m.high - m.low) / (2 * z), rel=1e-9), key
    # where the interval is point ± z·se, stderr is that se
    y, _, proba = _classifier_data(BIG, 2, seed=1)
    big = intervals[(BIG, level, 0)]
    _, var = M.delong(proba[:, 1], y == 1)
    assert big["binary/roc_auc"].stderr == pytest.approx(math.sqrt(var), rel=1e-9)
    assert big["binary/roc_auc"].value - big["binary/roc_auc"].low == pytest.approx(z * math.sqrt(var), rel=1e-9)
    p_true = proba[np.arange(BIG), y]
    assert big["binary/log_loss"].stderr == pytest.approx(np.std(-np.log(p_true), ddof=1) / math.sqrt(BIG), rel=1e-9)
    yr, pr = _regression_data(BIG)
    err = pr - yr
    assert big["regression/mae"].stderr == pytest.approx(np.std(np.abs(err), ddof=1) / math.sqrt(BIG), rel=1e-9)
    rmse = math.sqrt(np.mean(err**2))
    assert big["regression/rmse"].stderr == pytest.approx(
        np.std(err**2, ddof=1) / (2 * rmse) / math.sqrt(BIG), rel=1e-9)
    # the bootstrap's spread agrees with the binomial standard error of an accuracy
    for n in (300, BIG):
        acc = intervals[(n, level, 0)]["binary/accuracy"]
        assert acc.stderr == pytest.approx(math.sqrt(acc.value * (1 - acc.value) / n), rel=0.2)


def test_bootstrap_and_normal_intervals_agree_at_exact_rows() -> None:
    """Either side of EXACT_ROWS the two interval methods give about the same width."""
    n = M.EXACT_ROWS
    rng = np.random.default_rng(8)
    y = rng.normal(0, 3, n + 1)
    pred = y + rng.laplace(0, 1.5, n + 1)
    below = M.regression(y[:n], pred[:n], n_boot=400)
    above = M.regression(y, pred, n_boot=400)
    for name in ("mae", "rmse", "r2"):
        assert "bootstrap" in below[name].method and "normal" in above[name].method
        assert above[name].stderr == pytest.approx(below[name].stderr, rel=0.15), name
    yc, pc, proba = _classifier_data(n + 1, 3, seed=8)
    below = M.classification(yc[:n], pc[:n], proba[:n], 3, n_boot=200)
    above = M.classification(yc, pc, proba, 3, n_boot=200)
    for name in ("log_loss", "roc_auc"):
        assert above[name].stderr == pytest.approx(below[name].stderr, rel=0.25), name


def test_r2_interval_is_shift_invariant() -> None:
    """R² does not change when target and prediction move together; neither may its interval
    (a one-pass E[y²] - E[y]² variance in the bootstrap loses every digit to cancellation)."""
    rng = np.random.default_rng(9)
    y = rng.normal(size=500)
    pred = y + rng.normal(0, 0.5, 500)
    base = M.regression(y, pred, n_boot=300)["r2"]
    for offset in (1e4, 1e8):
        moved = M.regression(y + offset, pred + offset, n_boot=300)["r2"]
        assert moved.value == pytest.approx(base.value, abs=1e-6), offset
        assert moved.low == pytest.approx(base.low, abs=1e-3), (offset, moved, base)
        assert moved.high == pytest.approx(base.high, abs=1e-3), (offset, moved, base)


def test_binary_auc_with_one_class_is_undefined_with_no_interval() -> None:
    y = np.zeros(40, dtype=np.int64)
    proba = np.column_stack([np.full(40, 0.7), np.full(40, 0.3)])
    auc = M.classification(y, y.copy(), proba, 2, n_boot=50)["roc_auc"]
    assert math.isnan(auc.value)
    # an undefined AUC must not come with the interval [0, 1] (and a finite stderr the monitor would use)
    assert math.isnan(auc.low) and math.isnan(auc.high), auc
    assert math.isnan(auc.stderr)


# -------------------------------------------------------------------------------------- coverage


def _coverage(draw: Callable[[int], M.Metric], truth: float, reps: int) -> float:
    hits = 0
    for i in range(reps):
        m = draw(i)
        hits += m.low <= truth <= m.high
    return hits / reps


def test_accuracy_bootstrap_covers_a_known_accuracy() -> None:
    p, n = 0.8, 300

    def draw(i: int) -> M.Metric:
        rng = np.random.default_rng(1000 + i)
        y = rng.integers(0, 2, n)
        pred = np.where(rng.random(n) < p, y, 1 - y)
        return M.classification(y, pred, None, 2, n_boot=400, seed=i)["accuracy"]

    assert 0.90 <= _coverage(draw, p, 200) <= 0.99


def test_recall_bootstrap_covers_a_known_recall() -> None:
    # 3 classes, each true label predicted right with probability 0.7: macro recall 0.7
    n = 300

    def draw(i: int) -> M.Metric:
        rng = np.random.default_rng(2000 + i)
        y = rng.integers(0, 3, n)
        pred = np.where(rng.random(n) < 0.7, y, (y + rng.integers(1, 3, n)) % 3)
        return M.classification(y, pred, None, 3, n_boot=400, seed=i)["recall"]

    assert 0.90 <= _coverage(draw, 0.7, 200) <= 0.99


def _binormal(rng: np.random.Generator, n: int, d: float, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Labels and (unnormalised) probability columns: column c is sigmoid(N(0,1) + d·[y == c]), so every
    one-vs-rest AUC is Φ(d/√2)."""
    y = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + d * (y[:, None] == np.arange(k))
    return y, 1 / (1 + np.exp(-z))


def test_delong_covers_a_binormal_auc() -> None:
    d = 1.0
    truth = norm.cdf(d / math.sqrt(2))

    def draw(i: int) -> M.Metric:
        y, proba = _binormal(np.random.default_rng(3000 + i), 300, d)
        return M.classification(y, proba.argmax(axis=1), proba, 2, n_boot=20, seed=i)["roc_auc"]

    assert 0.90 <= _coverage(draw, truth, 200) <= 0.99


def test_multiclass_auc_covers_the_truth_both_ways() -> None:
    d = 1.2
    truth = norm.cdf(d / math.sqrt(2))

    def draw_small(i: int) -> M.Metric:  # bootstrap
        y, proba = _binormal(np.random.default_rng(4000 + i), 200, d, k=3)
        return M.classification(y, proba.argmax(axis=1), proba, 3, n_boot=200, seed=i)["roc_auc"]

    def draw_big(i: int) -> M.Metric:  # DeLong per class
        y, proba = _binormal(np.random.default_rng(5000 + i), M.EXACT_ROWS + 5000, d, k=3)
        return M.classification(y, proba.argmax(axis=1), proba, 3, n_boot=20, seed=i)["roc_auc"]

    assert 0.90 <= _coverage(draw_small, truth, 100) <= 0.99
    assert 0.90 <= _coverage(draw_big, truth, 100) <= 0.99


def test_log_loss_covers_a_known_expectation() -> None:
    # the true class gets probability U ~ Uniform(0, 1): E[-log U] = 1
    def draw(n: int) -> Callable[[int], M.Metric]:
        def f(i: int) -> M.Metric:
            rng = np.random.default_rng(6000 + n + i)
            y = rng.integers(0, 2, n)
            u = rng.random(n)
            proba = np.where(y[:, None] == 1, np.column_stack([1 - u, u]), np.column_stack([u, 1 - u]))
            return M.classification(y, proba.argmax(axis=1), proba, 2, n_boot=400, seed=i)["log_loss"]
        return f

    assert 0.90 <= _coverage(draw(300), 1.0, 200) <= 0.99
    assert 0.90 <= _coverage(draw(M.EXACT_ROWS + 5000), 1.0, 200) <= 0.99


def test_regression_intervals_cover_known_values() -> None:
    # y ~ N(0, 3²), error ~ Laplace(0, b=1.5) independent: MAE = b, RMSE = b·√2, R² = 1 - 2b²/9 = 0.5
    b = 1.5
    truth = {"mae": b, "rmse": b * math.sqrt(2), "r2": 1 - 2 * b**2 / 9}
    for n, reps in ((300, 200), (M.EXACT_ROWS + 5000, 200)):
        hits = dict.fromkeys(truth, 0)
        for i in range(reps):
            rng = np.random.default_rng(7000 + n + i)
            y = rng.normal(0, 3, n)
            res = M.regression(y, y + rng.laplace(0, b, n), n_boot=400, seed=i)
            assert ("bootstrap" in res["mae"].method) == (n <= M.EXACT_ROWS)
            for name, value in truth.items():
                hits[name] += res[name].low <= value <= res[name].high
        for name in truth:
            assert 0.90 <= hits[name] / reps <= 0.99, (n, name, hits[name] / reps)


# -------------------------------------------------------------------------------------------- speed


def test_a_million_rows_binary_with_probabilities_is_fast() -> None:
    n = 1_000_000
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, n)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 0.75)))
    proba = np.column_stack([1 - s, s])
    start = time.perf_counter()
    res = M.classification(y, (s > 0.5).astype(np.int64), proba, 2)
    elapsed = time.perf_counter() - start
    assert elapsed < 15, elapsed
    assert res["roc_auc"].value == pytest.approx(roc_auc_score(y, s), rel=1e-9)
    assert res["accuracy"].low < res["accuracy"].value < res["accuracy"].high
