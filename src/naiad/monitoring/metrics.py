"""Evaluation metrics with confidence intervals, computed with numpy alone.

Every metric comes with a confidence interval that names its method:

- accuracy, precision, recall, F1: a **Poisson bootstrap** (each example weighted by a Poisson(1)
  draw per replicate — the streaming form of resampling with replacement), percentile intervals, a
  fixed seed; drawn per confusion-matrix cell, which is exact and costs nothing at any size;
- log-loss, MAE, RMSE, R²: the same bootstrap up to ``EXACT_ROWS`` examples, and above that normal
  intervals (central limit theorem; the delta method for RMSE and R²), which agree with it there;
- binary ROC-AUC: **DeLong's** variance (a normal interval); multiclass ROC-AUC (one-vs-rest, macro):
  the Poisson bootstrap on the weighted AUC, DeLong per class above ``EXACT_ROWS``.

Replicates are formed in blocks, so memory stays bounded for millions of examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HIGHER_IS_BETTER = {"accuracy": True, "precision": True, "recall": True, "f1": True, "roc_auc": True,
                    "log_loss": False, "mae": False, "rmse": False, "r2": True}
_BLOCK = 1 << 21  # replicate × row cells per block (about 16 MB of float64)
EXACT_ROWS = 20_000  # up to this many examples, every interval is a bootstrap one


@dataclass(frozen=True)
class Metric:
    """A metric's value, its confidence interval and how the interval was made."""

    name: str
    value: float
    low: float
    high: float
    level: float
    method: str

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER.get(self.name.rsplit("/", 1)[-1], True)

    @property
    def stderr(self) -> float:
        """The sampling error the interval implies (its half-width over the normal quantile)."""
        z = _z(self.level)
        return (self.high - self.low) / (2 * z) if z > 0 else math.nan


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def _poisson_sums(columns: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted column sums and weight totals for ``n_boot`` Poisson-bootstrap replicates."""
    rng = np.random.default_rng(seed)
    n = columns.shape[0]
    sums = np.zeros((n_boot, columns.shape[1]))
    totals = np.zeros(n_boot)
    rows = max(1, _BLOCK // max(n_boot, 1))
    for start in range(0, n, rows):
        block = columns[start:start + rows]
        w = rng.poisson(1.0, size=(n_boot, block.shape[0])).astype(np.float64)
        sums += w @ block
        totals += w.sum(axis=1)
    return sums, totals


def _interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _class_stats(conf: np.ndarray, k: int, binary: bool) -> dict[str, np.ndarray]:
    """accuracy, precision, recall and F1 from confusion matrices (..., k*k) laid out true-major."""
    c = conf.reshape(*conf.shape[:-1], k, k)
    total = c.sum(axis=(-2, -1))
    true = c.sum(axis=-1)
    pred = c.sum(axis=-2)
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    precision = _safe_div(tp, pred)
    recall = _safe_div(tp, true)
    f1 = _safe_div(2 * tp, pred + true)
    out = {"accuracy": _safe_div(tp.sum(axis=-1), total)}
    if binary:  # the positive class: the second of the two
        out.update(precision=precision[..., 1], recall=recall[..., 1], f1=f1[..., 1])
    else:  # macro averages over the classes present in the true labels
        present = true > 0
        for name, arr in (("precision", precision), ("recall", recall), ("f1", f1)):
            vals = np.where(present, np.nan_to_num(arr, nan=0.0), 0.0)
            out[name] = vals.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)
    return out


def _mean_metric(name: str, values: np.ndarray, n_boot: int, level: float, seed: int) -> Metric:
    """The mean of per-example values: Poisson bootstrap up to ``EXACT_ROWS`` examples, the normal
    interval of the central limit theorem above (where the two agree to well under a percent)."""
    mean = float(values.mean())
    if len(values) <= EXACT_ROWS:
        sums, totals = _poisson_sums(values[:, None], n_boot, seed)
        low, high = _interval(_safe_div(sums[:, 0], totals), level)
        return Metric(name, mean, low, high, level, _boot_method(n_boot, seed))
    half = _z(level) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return Metric(name, mean, mean - half, mean + half, level, "normal interval (central limit theorem)")


def _boot_method(n_boot: int, seed: int) -> str:
    return f"percentile bootstrap (Poisson), {n_boot} resamples, seed {seed}"


def classification(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, n_classes: int, *,
                   n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, Metric]:
    """Metrics of a classifier.  Labels are class indices ``0..n_classes-1``; ``proba`` (n × k), when
    given, adds ROC-AUC and log-loss.

    Accuracy, precision, recall and F1 depend on the confusion matrix only, and a Poisson bootstrap of
    the examples is exactly a Poisson draw per confusion cell (a sum of Poisson(1) weights is Poisson),
    so their intervals cost the same for a hundred examples or a hundred million.
    """
    k = n_classes
    binary = k == 2
    conf = np.bincount(y_true * k + y_pred, minlength=k * k).astype(np.float64)
    point = _class_stats(conf, k, binary)
    rng = np.random.default_rng(seed)
    boot = _class_stats(rng.poisson(conf, size=(n_boot, k * k)).astype(np.float64), k, binary)
    out = {}
    for name in ("accuracy", "precision", "recall", "f1"):
        low, high = _interval(boot[name], level)
        out[name] = Metric(name, float(point[name]), low, high, level, _boot_method(n_boot, seed))
    if proba is not None:
        p_true = np.clip(proba[np.arange(len(y_true)), y_true], 1e-15, 1.0)
        out["log_loss"] = _mean_metric("log_loss", -np.log(p_true), n_boot, level, seed)
        out["roc_auc"] = _roc_auc(y_true, proba, k, n_boot, level, seed)
    return out


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, k: int, n_boot: int, level: float, seed: int) -> Metric:
    z = _z(level)
    if k == 2:
        auc, var = delong(proba[:, 1], y_true == 1)
        if not math.isfinite(auc):
            return Metric("roc_auc", math.nan, math.nan, math.nan, level, "undefined: one class only")
        half = z * math.sqrt(var) if math.isfinite(var) else math.nan
        return Metric("roc_auc", auc, max(0.0, auc - half), min(1.0, auc + half), level,
                      "DeLong variance, normal interval")
    present = [c for c in range(k) if 0 < (y_true == c).sum() < len(y_true)]
    if not present:
        return Metric("roc_auc", math.nan, math.nan, math.nan, level, "undefined: one class only")
    if len(y_true) > EXACT_ROWS:
        per_class = [delong(proba[:, c], y_true == c) for c in present]
        point = float(np.mean([a for a, _ in per_class]))
        half = z * math.sqrt(sum(v for _, v in per_class)) / len(per_class)
        return Metric("roc_auc", point, point - half, point + half, level,
                      "one-vs-rest macro; DeLong variance per class (covariances ignored), normal interval")
    point = float(np.mean([weighted_auc(proba[:, c], y_true == c, np.ones((1, len(y_true))))[0] for c in present]))
    rng = np.random.default_rng(seed + 1)
    reps = np.zeros(n_boot)
    rows = max(1, _BLOCK // max(len(y_true), 1))
    for start in range(0, n_boot, rows):
        w = rng.poisson(1.0, size=(min(rows, n_boot - start), len(y_true))).astype(np.float64)
        reps[start:start + len(w)] = np.mean([weighted_auc(proba[:, c], y_true == c, w) for c in present], axis=0)
    low, high = _interval(reps, level)
    return Metric("roc_auc", point, low, high, level, "one-vs-rest macro; " + _boot_method(n_boot, seed + 1))


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC for each row of ``weights`` (replicates × examples); ties count one half."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    pos = positive[order].astype(float)
    w = weights[:, order]
    wp, wn = w * pos, w * (1 - pos)
    # group tied scores: negatives strictly below, plus half the tied negatives
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    neg_group = np.add.reduceat(wn, starts, axis=1)
    pos_group = np.add.reduceat(wp, starts, axis=1)
    below = np.cumsum(neg_group, axis=1) - neg_group
    num = (pos_group * (below + 0.5 * neg_group)).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    return _safe_div(num, den)


def delong(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """ROC-AUC and its variance by DeLong et al. (1988), via midranks (Sun & Xu's fast algorithm)."""
    from scipy.stats import rankdata

    pos = scores[positive]
    neg = scores[~positive]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return math.nan, math.nan
    r_all = rankdata(np.concatenate([pos, neg]))
    r_pos, r_neg = rankdata(pos), rankdata(neg)
    auc = (r_all[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (r_all[:m] - r_pos) / n          # per positive: share of negatives below it
    v01 = 1 - (r_all[m:] - r_neg) / m      # per negative: share of positives above it
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    return float(auc), float(var)


def regression(y_true: np.ndarray, y_pred: np.ndarray, *, n_boot: int = 1000, level: float = 0.95,
               seed: int = 0) -> dict[str, Metric]:
    """MAE, RMSE and R² of a regressor: Poisson-bootstrap intervals up to ``EXACT_ROWS`` examples,
    normal intervals from the metrics' influence functions (the delta method) above."""
    err = y_pred - y_true
    n = len(y_true)
    mae, mse = float(np.abs(err).mean()), float((err ** 2).mean())
    centred = y_true - y_true.mean()  # centred first: no cancellation for targets far from zero
    constant = bool(np.ptp(y_true) == 0) if n else True
    spread = 0.0 if constant else float((centred ** 2).mean())
    point = {"mae": mae, "rmse": math.sqrt(mse), "r2": math.nan if constant else 1 - mse / spread}
    out = {}
    if n <= EXACT_ROWS:
        table = np.column_stack([np.abs(err), err ** 2, centred, centred ** 2])
        sums, totals = _poisson_sums(table, n_boot, seed)
        b_mse = _safe_div(sums[:, 1], totals)
        b_spread = _safe_div(sums[:, 3], totals) - _safe_div(sums[:, 2], totals) ** 2
        b_r2 = np.full(n_boot, np.nan) if constant else 1 - _safe_div(b_mse, b_spread)
        boot = {"mae": _safe_div(sums[:, 0], totals), "rmse": np.sqrt(b_mse), "r2": b_r2}
        for name in ("mae", "rmse", "r2"):
            low, high = _interval(boot[name], level)
            out[name] = Metric(name, point[name], low, high, level, _boot_method(n_boot, seed))
        return out
    z = _z(level)
    sq = err ** 2
    dev = centred ** 2
    influence = {
        "mae": np.abs(err) - mae,
        "rmse": (sq - mse) / (2 * math.sqrt(mse)) if mse > 0 else np.zeros(n),
        "r2": np.full(n, np.nan) if constant else -(sq - mse) / spread + mse * (dev - spread) / spread ** 2,
    }
    for name, inf in influence.items():
        half = z * float(np.std(inf, ddof=1)) / math.sqrt(n)
        out[name] = Metric(name, point[name], point[name] - half, point[name] + half, level,
                           "normal interval (delta method)")
    return out
