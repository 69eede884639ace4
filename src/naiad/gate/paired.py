"""Paired comparisons of two models on the same examples: the difference of a metric, its confidence
interval and a one-sided p-value, by the method the question calls for.

- ``bootstrap`` — the paired bootstrap: both models' results resampled with the same example weights
  (Poisson(1) per example).  For accuracy, precision, recall and F1 it is drawn per cell of the joint
  (truth, candidate's prediction, baseline's prediction) table — exact, and as fast at 10⁸ rows as at
  10²; for means of per-example values (log-loss, MAE) and for RMSE, R² and ROC-AUC it weights the rows
  (up to :data:`naiad.monitoring.metrics.EXACT_ROWS`; above that, normal intervals from the paired influence
  functions, or DeLong for ROC-AUC).  The seed and the number of resamples are recorded.
- ``mcnemar`` — accuracy only: the exact McNemar test on the discordant pairs with the matching exact
  (Clopper–Pearson) interval for superiority; against a margin, the Wald interval of the paired
  difference of proportions and its z-test.
- ``delong`` — binary ROC-AUC only: DeLong's covariance of two correlated AUCs, a normal interval.

``delta`` is oriented so that **positive means the candidate is better** (for log-loss, MAE and RMSE it
is baseline − candidate).  Superiority passes when the interval's lower end is above 0, non-inferiority
when it is above −margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from naiad.errors import InvalidValueError
from naiad.monitoring import metrics as M

METHODS = ("bootstrap", "mcnemar", "delong")
_LABEL_METRICS = ("accuracy", "precision", "recall", "f1")


@dataclass(frozen=True)
class Comparison:
    metric: str
    candidate: float
    baseline: float
    delta: float  # candidate better by this much (oriented: positive = better)
    low: float
    high: float
    p_value: float  # one-sided: H0 says the candidate is not better (superiority) / worse by the margin
    method: str
    level: float
    margin: float = 0.0


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def _normal_p(delta: float, se: float, margin: float) -> float:
    from statistics import NormalDist

    if not se > 0:
        return 0.0 if delta + margin > 0 else 1.0
    return 1 - NormalDist().cdf((delta + margin) / se)


def _boot_result(metric: str, cand: float, base: float, sign: float, reps: np.ndarray, level: float, margin: float,
                 method: str) -> Comparison:
    deltas = sign * reps[np.isfinite(reps)]
    delta = sign * (cand - base)
    if deltas.size == 0:
        return Comparison(metric, cand, base, delta, math.nan, math.nan, math.nan, method, level, margin)
    tail = (1 - level) / 2
    low, high = (float(x) for x in np.quantile(deltas, [tail, 1 - tail]))
    p = (np.count_nonzero(deltas <= -margin) + 1) / (deltas.size + 1)
    return Comparison(metric, cand, base, delta, low, high, float(p), method, level, margin)


def _normal_result(metric: str, cand: float, base: float, sign: float, se: float, level: float, margin: float,
                   method: str) -> Comparison:
    delta = sign * (cand - base)
    half = _z(level) * se
    return Comparison(metric, cand, base, delta, delta - half, delta + half, _normal_p(delta, se, margin), method,
                      level, margin)


def classification(metric: str, y: np.ndarray, pred_c: np.ndarray, pred_b: np.ndarray, proba_c: np.ndarray | None,
                   proba_b: np.ndarray | None, k: int, *, method: str = "bootstrap", level: float = 0.95,
                   resamples: int = 10_000, seed: int = 0, margin: float = 0.0) -> Comparison:
    """Candidate vs baseline on one classification metric (labels are class indices 0..k-1)."""
    if method not in METHODS:
        raise InvalidValueError(f"method {method!r} is not one of {', '.join(METHODS)}.")
    binary = k == 2
    if metric in _LABEL_METRICS:
        if method == "delong":
            raise InvalidValueError("the DeLong method compares ROC-AUC only; use bootstrap or mcnemar for "
                                    f"{metric}.")
        if method == "mcnemar":
            if metric != "accuracy":
                raise InvalidValueError(f"McNemar's test compares accuracy only; use bootstrap for {metric}.")
            return _mcnemar(y == pred_c, y == pred_b, level, margin)
        cells = np.bincount((y * k + pred_c) * k + pred_b, minlength=k ** 3).astype(np.float64)

        def stat(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            t = table.reshape(*table.shape[:-1], k, k, k)
            return (M._class_stats(t.sum(axis=-1).reshape(*t.shape[:-3], k * k), k, binary)[metric],
                    M._class_stats(t.sum(axis=-2).reshape(*t.shape[:-3], k * k), k, binary)[metric])

        cand, base = (float(v) for v in stat(cells))
        draws = np.random.default_rng(seed).poisson(cells, size=(resamples, k ** 3)).astype(np.float64)
        rc, rb = stat(draws)
        return _boot_result(metric, cand, base, 1.0, rc - rb, level, margin,
                            f"paired bootstrap (Poisson, per joint cell), {resamples} resamples, seed {seed}")
    if proba_c is None or proba_b is None:
        raise InvalidValueError(f"{metric} needs both models' class probabilities.")
    if metric == "log_loss":
        if method != "bootstrap":
            raise InvalidValueError(f"log_loss is compared by the paired bootstrap, not {method}.")
        n = len(y)
        loss_c = -np.log(np.clip(proba_c[np.arange(n), y], 1e-15, 1.0))
        loss_b = -np.log(np.clip(proba_b[np.arange(n), y], 1e-15, 1.0))
        return _mean_difference(metric, loss_c, loss_b, -1.0, level, resamples, seed, margin)
    if metric == "roc_auc":
        if method == "mcnemar":
            raise InvalidValueError("McNemar's test compares accuracy only; use delong or bootstrap for roc_auc.")
        if binary and (method == "delong" or len(y) > M.EXACT_ROWS):
            return _delong_paired(y == 1, proba_c[:, 1], proba_b[:, 1], level, margin)
        if method == "delong":
            raise InvalidValueError("the DeLong method needs a binary task; use bootstrap for multiclass roc_auc.")
        return _auc_bootstrap(y, proba_c, proba_b, k, level, resamples, seed, margin)
    raise InvalidValueError(f"no paired comparison for metric {metric!r} (classification metrics: "
                            f"{', '.join((*_LABEL_METRICS, 'log_loss', 'roc_auc'))}).")


def _mcnemar(right_c: np.ndarray, right_b: np.ndarray, level: float, margin: float) -> Comparison:
    from scipy.stats import binomtest

    n = len(right_c)
    b = int(np.count_nonzero(right_c & ~right_b))  # the candidate right where the baseline was wrong
    c = int(np.count_nonzero(~right_c & right_b))
    cand, base = float(right_c.mean()), float(right_b.mean())
    delta = (b - c) / n
    se = math.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n
    half = _z(level) * se
    if margin == 0.0:  # exact throughout: the interval is Clopper–Pearson's on the discordant pairs, so its
        # lower end is above 0 exactly when the one-sided exact test rejects at (1 − level) / 2
        if b + c:
            test = binomtest(b, b + c, 0.5, alternative="greater")
            p = float(test.pvalue)
            ci = binomtest(b, b + c, 0.5).proportion_ci(confidence_level=level, method="exact")
            scale = (b + c) / n
            low, high = scale * (2 * ci.low - 1), scale * (2 * ci.high - 1)
        else:
            p, low, high = 1.0, 0.0, 0.0
        return Comparison("accuracy", cand, base, delta, low, high, p,
                          "McNemar exact test (one-sided), Clopper–Pearson interval on the discordant pairs", level,
                          margin)
    else:
        p = _normal_p(delta, se, margin)
        method = "Wald z-test of the paired difference against the margin; Wald interval"
    return Comparison("accuracy", cand, base, delta, delta - half, delta + half, p, method, level, margin)


def _delong_paired(positive: np.ndarray, score_c: np.ndarray, score_b: np.ndarray, level: float,
                   margin: float) -> Comparison:
    from scipy.stats import rankdata

    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise InvalidValueError("ROC-AUC needs at least two examples of each class.")
    comps = []
    aucs = []
    for s in (score_c, score_b):
        pos, neg = s[positive], s[~positive]
        r_all = rankdata(np.concatenate([pos, neg]))
        v10 = (r_all[:m] - rankdata(pos)) / n
        v01 = 1 - (r_all[m:] - rankdata(neg)) / m
        aucs.append(float((r_all[:m].sum() - m * (m + 1) / 2) / (m * n)))
        comps.append((v10, v01))
    s10 = np.cov(np.vstack([comps[0][0], comps[1][0]]))
    s01 = np.cov(np.vstack([comps[0][1], comps[1][1]]))
    cov = s10 / m + s01 / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return _normal_result("roc_auc", aucs[0], aucs[1], 1.0, math.sqrt(max(var, 0.0)), level, margin,
                          "DeLong covariance of the paired AUCs, normal interval")


def _auc_bootstrap(y: np.ndarray, proba_c: np.ndarray, proba_b: np.ndarray, k: int, level: float, resamples: int,
                   seed: int, margin: float) -> Comparison:
    classes = [1] if k == 2 else [c for c in range(k) if 0 < (y == c).sum() < len(y)]
    ones = np.ones((1, len(y)))

    def auc(proba: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.mean([M.weighted_auc(proba[:, c], y == c, w) for c in classes], axis=0)

    cand, base = float(auc(proba_c, ones)[0]), float(auc(proba_b, ones)[0])
    rng = np.random.default_rng(seed)
    reps = np.empty(resamples)
    rows = max(1, M._BLOCK // max(len(y), 1))
    for start in range(0, resamples, rows):
        w = rng.poisson(1.0, size=(min(rows, resamples - start), len(y))).astype(np.float64)
        reps[start:start + len(w)] = auc(proba_c, w) - auc(proba_b, w)
    return _boot_result("roc_auc", cand, base, 1.0, reps, level, margin,
                        f"paired bootstrap (Poisson), {resamples} resamples, seed {seed}")


def _mean_difference(metric: str, values_c: np.ndarray, values_b: np.ndarray, sign: float, level: float,
                     resamples: int, seed: int, margin: float) -> Comparison:
    cand, base = float(values_c.mean()), float(values_b.mean())
    diff = values_c - values_b
    if len(diff) > M.EXACT_ROWS:
        return _normal_result(metric, cand, base, sign, float(diff.std(ddof=1)) / math.sqrt(len(diff)), level,
                              margin, "normal interval of the paired mean difference (central limit theorem)")
    sums, totals = M._poisson_sums(np.column_stack([values_c, values_b]), resamples, seed)
    reps = M._safe_div(sums[:, 0] - sums[:, 1], totals)
    return _boot_result(metric, cand, base, sign, reps, level, margin,
                        f"paired bootstrap (Poisson), {resamples} resamples, seed {seed}")


def regression(metric: str, y: np.ndarray, pred_c: np.ndarray, pred_b: np.ndarray, *, method: str = "bootstrap",
               level: float = 0.95, resamples: int = 10_000, seed: int = 0, margin: float = 0.0) -> Comparison:
    """Candidate vs baseline on MAE, RMSE or R² (paired bootstrap; normal intervals above EXACT_ROWS)."""
    if method != "bootstrap":
        raise InvalidValueError(f"regression metrics are compared by the paired bootstrap, not {method}.")
    err_c, err_b = pred_c - y, pred_b - y
    if metric == "mae":
        return _mean_difference(metric, np.abs(err_c), np.abs(err_b), -1.0, level, resamples, seed, margin)
    if metric not in ("rmse", "r2"):
        raise InvalidValueError(f"no paired comparison for metric {metric!r} (regression metrics: mae, rmse, r2).")
    centred = y - y.mean()
    sq_c, sq_b, dev = err_c ** 2, err_b ** 2, centred ** 2
    mse_c, mse_b, spread = float(sq_c.mean()), float(sq_b.mean()), float(dev.mean())
    if metric == "r2" and not np.ptp(y) > 0:
        raise InvalidValueError("R² is undefined for a constant target.")
    sign = -1.0 if metric == "rmse" else 1.0

    def value(mse: float) -> float:
        return math.sqrt(mse) if metric == "rmse" else 1 - mse / spread

    cand, base = value(mse_c), value(mse_b)
    if len(y) > M.EXACT_ROWS:
        if metric == "rmse":
            inf = ((sq_c - mse_c) / (2 * math.sqrt(mse_c)) if mse_c > 0 else 0.0) - \
                  ((sq_b - mse_b) / (2 * math.sqrt(mse_b)) if mse_b > 0 else 0.0)
        else:
            inf = -(sq_c - sq_b - (mse_c - mse_b)) / spread + (mse_c - mse_b) * (dev - spread) / spread ** 2
        se = float(np.std(inf, ddof=1)) / math.sqrt(len(y))
        return _normal_result(metric, cand, base, sign, se, level, margin,
                              "normal interval of the paired difference (delta method)")
    sums, totals = M._poisson_sums(np.column_stack([sq_c, sq_b, centred, dev]), resamples, seed)
    b_mse_c, b_mse_b = M._safe_div(sums[:, 0], totals), M._safe_div(sums[:, 1], totals)
    if metric == "rmse":
        reps = np.sqrt(b_mse_c) - np.sqrt(b_mse_b)
    else:
        b_spread = M._safe_div(sums[:, 3], totals) - M._safe_div(sums[:, 2], totals) ** 2
        reps = M._safe_div(b_mse_b - b_mse_c, b_spread)
    return _boot_result(metric, cand, base, sign, reps, level, margin,
                        f"paired bootstrap (Poisson), {resamples} resamples, seed {seed}")
