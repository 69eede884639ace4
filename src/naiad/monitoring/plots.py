"""Evaluation plots as PNG bytes (matplotlib, Agg backend): ROC, precision–recall, confusion matrix and
calibration for classifiers; predicted-vs-actual and residuals for regressors.

Curves are computed here with numpy (no scikit-learn needed).  Without matplotlib the plots are
skipped with one notice; the metrics do not depend on them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (from the highest score down)."""
    order = np.argsort(-scores, kind="mergesort")
    s, pos = scores[order], positive[order].astype(float)
    cut = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp, fp = np.cumsum(pos)[cut], np.cumsum(1 - pos)[cut]
    return np.r_[0, fp / max(fp[-1], 1)], np.r_[0, tp / max(tp[-1], 1)]


def pr_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at every distinct threshold."""
    order = np.argsort(-scores, kind="mergesort")
    s, pos = scores[order], positive[order].astype(float)
    cut = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(pos)[cut]
    predicted = cut + 1.0
    return tp / max(pos.sum(), 1), tp / predicted


def evaluation_plots(task: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
                     classes: list[Any] | None) -> Iterator[tuple[str, bytes]]:
    """``(name, png bytes)`` of each plot that applies."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from naiad.core.fields import warn_once

        warn_once("evaluation plots need matplotlib (pip install \"naiad[monitor]\"); they were skipped.")
        return

    def png(fig: Any) -> bytes:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=96)
        plt.close(fig)
        return buf.getvalue()

    if task == "regression":
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(y, pred, s=4, alpha=0.4)
        lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
        ax.set(xlabel="actual", ylabel="predicted", title="predicted vs actual")
        yield "predicted_vs_actual", png(fig)
        fig, ax = plt.subplots(figsize=(4.5, 3.5))
        ax.hist(pred - y, bins=50)
        ax.set(xlabel="prediction − actual", ylabel="rows", title="residuals")
        yield "residuals", png(fig)
        return
    labels = [str(c) for c in (classes or [])]
    k = len(labels)
    conf = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    fig, ax = plt.subplots(figsize=(1.5 + 0.45 * k, 1.2 + 0.45 * k))
    ax.imshow(conf, cmap="Blues")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title="confusion matrix")
    ax.set_xticklabels(labels, rotation=90 if k > 6 else 0)
    ax.set_yticklabels(labels)
    if k <= 12:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if conf[i, j] > conf.max() / 2 else "black")
    yield "confusion_matrix", png(fig)
    if proba is None:
        return
    shown = [1] if k == 2 else list(range(k))
    for key, curve, axes in (("roc", roc_curve, ("false positive rate", "true positive rate")),
                             ("pr", pr_curve, ("recall", "precision"))):
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        for c in shown:
            if 0 < (y == c).sum() < len(y):
                xs, ys = curve(proba[:, c], y == c)
                ax.plot(xs, ys, lw=1.2, label=labels[c] if k > 2 else None)
        if key == "roc":
            ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set(xlabel=axes[0], ylabel=axes[1], title="ROC" if key == "roc" else "precision–recall",
               xlim=(0, 1), ylim=(0, 1.02))
        if k > 2 and k <= 12:
            ax.legend(fontsize=7)
        yield key, png(fig)
    # calibration: predicted probability of the predicted class vs how often it was right, 10 bins
    confidence = proba.max(axis=1)
    right = (pred == y).astype(float)
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, 9)
    counts = np.bincount(which, minlength=10)
    mean_conf = np.bincount(which, confidence, minlength=10) / np.maximum(counts, 1)
    accuracy = np.bincount(which, right, minlength=10) / np.maximum(counts, 1)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.plot(mean_conf[counts > 0], accuracy[counts > 0], marker="o")
    ax.set(xlabel="predicted probability", ylabel="observed accuracy", title="calibration", xlim=(0, 1), ylim=(0, 1))
    yield "calibration", png(fig)
