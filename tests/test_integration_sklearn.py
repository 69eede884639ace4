"""scikit-learn integration with real estimators on the data sets scikit-learn ships."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import naiad
from naiad.integrations.sklearn import log_classifier, log_regressor


def _png(run: naiad.Run, path: str, folder: Path) -> bytes:
    target = folder / (path.replace("/", "_") + ".png")
    run[path].download(str(target))
    return target.read_bytes()


def test_a_binary_classifier_gets_scores_charts_params_and_its_pickle(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    run = naiad.init_run(project="sk")
    model = log_classifier(run, make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
                           X_train, X_test, y_train, y_test)
    scores = run["summary/test/scores"].fetch()
    assert scores["accuracy"] == model.score(X_test, y_test)
    assert 0.9 < scores["roc_auc"] <= 1.0 and scores["log_loss"] > 0
    assert set(scores) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
    assert run["summary/all_params/logisticregression/max_iter"].fetch() == 500
    for chart in ("confusion_matrix", "roc_curve", "precision_recall"):
        assert _png(run, f"summary/diagnostics_charts/{chart}", tmp_path).startswith(b"\x89PNG")
    run["summary/pickled_model"].download(str(tmp_path / "model.pkl"))
    restored = pickle.loads((tmp_path / "model.pkl").read_bytes())
    assert np.array_equal(restored.predict(X_test), model.predict(X_test))
    run.stop()


def test_an_unfitted_multiclass_classifier_is_fitted_first(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=1, stratify=y)
    run = naiad.init_run(project="sk")
    model = log_classifier(run, RandomForestClassifier(n_estimators=20, random_state=0), X_train, X_test,
                           y_train, y_test, base_namespace="rf")
    assert hasattr(model, "classes_")
    scores = run["rf/test/scores"].fetch()
    assert scores["accuracy"] > 0.8 and 0.8 < scores["roc_auc"] <= 1.0
    assert run["rf/all_params/n_estimators"].fetch() == 20
    assert run["rf/all_params/max_depth"].fetch() == "None"
    run.stop()


def test_a_regressor_gets_error_metrics_and_residual_charts(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    run = naiad.init_run(project="sk")
    model = log_regressor(run, LinearRegression(), X_train, X_test, y_train, y_test)
    scores = run["summary/test/scores"].fetch()
    assert abs(scores["r2"] - model.score(X_test, y_test)) < 1e-12
    assert scores["rmse"] >= scores["mae"] > 0
    for chart in ("prediction_error", "residuals"):
        assert _png(run, f"summary/diagnostics_charts/{chart}", tmp_path).startswith(b"\x89PNG")
    project = naiad.init_project(project="sk", mode="read-only")
    table = project.fetch_runs_table(query="summary/test/scores/r2 > 0.3", columns=["summary/test/scores"])
    assert table.to_pandas()["sys/id"].tolist() == [run["sys/id"].fetch()]
    run.stop()
