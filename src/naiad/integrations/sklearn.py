"""scikit-learn: one call records a fitted estimator with its parameters, test scores, diagnostic
charts and the pickled model.

>>> from naiad.integrations.sklearn import log_classifier
>>> log_classifier(run, model, X_train, X_test, y_train, y_test)

Layout (under ``base_namespace``, default ``"summary"``, as neptune-sklearn used)::

    all_params/…                 estimator.get_params() (nested estimators as strings)
    pickled_model                the fitted estimator (File, .pkl)
    test/scores/<metric>         accuracy, precision/recall/F1 (macro), ROC-AUC, log loss | MAE, RMSE, R²
    diagnostics_charts/<chart>   confusion matrix, ROC and precision-recall curves | residuals,
                                 predicted vs. true (PNG)

An unfitted estimator is fitted on the training data first.  Needs scikit-learn and matplotlib
(``pip install "naiad[demo]"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from naiad.neptune_compat.utils import stringify_unsupported
from naiad.tracking.files import File


def _params(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    params = model.get_params(deep=True)
    for key, value in params.items():
        if any(k.startswith(key + "__") for k in params):
            continue  # a nested estimator: its own parameters are listed under key/…
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key.replace("__", "/")] = "None" if value is None else value
        else:
            out[key.replace("__", "/")] = stringify_unsupported(value)
    return out


def _figure(draw: Any) -> File:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    try:
        draw(ax)
        fig.tight_layout()
        return File.as_image(fig)
    finally:
        plt.close(fig)


def _start(run: Any, model: Any, X_train: Any, y_train: Any, base_namespace: str) -> tuple[Any, Any]:
    """Fit if needed, record the parameters; the fitted model and the handle to log under."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        model.fit(X_train, y_train)
    ns = base_namespace.strip("/")
    handle = run[ns] if ns else run
    handle["all_params"] = _params(model)
    return model, handle


def _finite(scores: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in scores.items() if v is not None and math.isfinite(float(v))}


def log_classifier(run: Any, model: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any, *,
                   base_namespace: str = "summary", log_charts: bool = True) -> Any:
    """Record a classifier: parameters, test scores, confusion matrix / ROC / PR charts, the model.

    Returns the fitted model.
    """
    from sklearn import metrics

    model, handle = _start(run, model, X_train, y_train, base_namespace)
    y_pred = model.predict(X_test)
    classes = getattr(model, "classes_", np.unique(y_train))
    scores: dict[str, float] = {
        "accuracy": metrics.accuracy_score(y_test, y_pred),
        "precision": metrics.precision_score(y_test, y_pred, average="macro", zero_division=0),
        "recall": metrics.recall_score(y_test, y_pred, average="macro", zero_division=0),
        "f1": metrics.f1_score(y_test, y_pred, average="macro", zero_division=0),
    }
    proba = model.predict_proba(X_test) if hasattr(model, "predict_proba") else None
    if proba is not None:
        scores["log_loss"] = metrics.log_loss(y_test, proba, labels=classes)
        if len(classes) == 2:
            scores["roc_auc"] = metrics.roc_auc_score(y_test, proba[:, 1])
        elif len(np.unique(y_test)) == len(classes):
            scores["roc_auc"] = metrics.roc_auc_score(y_test, proba, multi_class="ovr", labels=classes)
    handle["test/scores"] = _finite(scores)
    if log_charts:
        charts = handle["diagnostics_charts"]
        charts["confusion_matrix"].upload(_figure(
            lambda ax: metrics.ConfusionMatrixDisplay.from_predictions(y_test, y_pred, ax=ax, colorbar=False)))
        if proba is not None:
            charts["roc_curve"].upload(_figure(lambda ax: _curves(ax, y_test, proba, classes, roc=True)))
            charts["precision_recall"].upload(_figure(lambda ax: _curves(ax, y_test, proba, classes, roc=False)))
    handle["pickled_model"].upload(File.as_pickle(model))
    return model


def _curves(ax: Any, y_true: Any, proba: np.ndarray, classes: Any, roc: bool) -> None:
    from sklearn import metrics

    y_true = np.asarray(y_true)
    targets = [(classes[1], proba[:, 1])] if len(classes) == 2 else list(zip(classes, proba.T, strict=True))
    for label, score in targets:
        positive = y_true == label
        if positive.all() or not positive.any():
            continue
        if roc:
            fpr, tpr, _ = metrics.roc_curve(positive, score)
            ax.plot(fpr, tpr, label=f"{label} (AUC {metrics.auc(fpr, tpr):.3f})")
        else:
            precision, recall, _ = metrics.precision_recall_curve(positive, score)
            ax.plot(recall, precision, label=str(label))
    if roc:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
    ax.legend(fontsize="small")


def log_regressor(run: Any, model: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any, *,
                  base_namespace: str = "summary", log_charts: bool = True) -> Any:
    """Record a regressor: parameters, MAE / RMSE / R² / explained variance, residual charts, the model.

    Returns the fitted model.
    """
    from sklearn import metrics

    model, handle = _start(run, model, X_train, y_train, base_namespace)
    y_pred = np.asarray(model.predict(X_test), dtype=float)
    y_true = np.asarray(y_test, dtype=float)
    handle["test/scores"] = _finite({
        "mae": metrics.mean_absolute_error(y_true, y_pred),
        "rmse": math.sqrt(metrics.mean_squared_error(y_true, y_pred)),
        "r2": metrics.r2_score(y_true, y_pred),
        "explained_variance": metrics.explained_variance_score(y_true, y_pred),
    })
    if log_charts:
        charts = handle["diagnostics_charts"]

        def predicted_vs_true(ax: Any) -> None:
            ax.scatter(y_true, y_pred, s=8, alpha=0.6)
            lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
            ax.plot([lo, hi], [lo, hi], linestyle="--", color="grey")
            ax.set_xlabel("true")
            ax.set_ylabel("predicted")

        def residuals(ax: Any) -> None:
            ax.scatter(y_pred, y_true - y_pred, s=8, alpha=0.6)
            ax.axhline(0, linestyle="--", color="grey")
            ax.set_xlabel("predicted")
            ax.set_ylabel("residual (true - predicted)")

        charts["prediction_error"].upload(_figure(predicted_vs_true))
        charts["residuals"].upload(_figure(residuals))
    handle["pickled_model"].upload(File.as_pickle(model))
    return model


__all__ = ["log_classifier", "log_regressor"]
