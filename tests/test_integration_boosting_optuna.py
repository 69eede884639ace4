"""LightGBM, XGBoost and Optuna integrations with the real libraries on small data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import naiad
from naiad.integrations.boosting import lightgbm_callback, log_booster, xgboost_callback

lgb = pytest.importorskip("lightgbm")
xgb = pytest.importorskip("xgboost")
optuna = pytest.importorskip("optuna")


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    return X[:400], y[:400], X[400:], y[400:]


def test_lightgbm_rounds_params_importance_and_model(tmp_path: Path) -> None:
    X, y, Xv, yv = _data()
    run = naiad.init_run(project="gbm")
    train = lgb.Dataset(X, y)
    valid = lgb.Dataset(Xv, yv, reference=train)
    booster = lgb.train({"objective": "binary", "metric": ["binary_logloss", "auc"], "verbose": -1,
                         "num_leaves": 7}, train, num_boost_round=12, valid_sets=[train, valid],
                        valid_names=["train", "valid"], callbacks=[lightgbm_callback(run)])
    log_booster(run, booster)
    auc = run["training/valid/auc"].fetch_values()
    assert auc["step"].tolist() == [float(i) for i in range(12)]
    assert 0.5 < auc["value"].iloc[-1] <= 1.0
    assert run["training/train/binary_logloss"].fetch_last() < run["training/train/binary_logloss"].fetch_values(
    )["value"].iloc[0]
    assert run["training/params/num_leaves"].fetch() == 7
    importance = run["training/feature_importance"].fetch()
    assert len(importance) == X.shape[1] and max(importance.values()) > 0
    run["training/model"].download(str(tmp_path / "model.txt"))
    restored = lgb.Booster(model_file=str(tmp_path / "model.txt"))
    assert np.allclose(restored.predict(Xv), booster.predict(Xv))
    run.stop()


def test_xgboost_rounds_and_model(tmp_path: Path) -> None:
    X, y, Xv, yv = _data()
    run = naiad.init_run(project="gbm")
    dtrain, dvalid = xgb.DMatrix(X, label=y), xgb.DMatrix(Xv, label=yv)
    booster = xgb.train({"objective": "binary:logistic", "eval_metric": ["logloss", "auc"], "max_depth": 3},
                        dtrain, num_boost_round=10, evals=[(dtrain, "train"), (dvalid, "valid")],
                        verbose_eval=False, callbacks=[xgboost_callback(run, base_namespace="xgb")])
    log_booster(run, booster, base_namespace="xgb")
    logloss = run["xgb/valid/logloss"].fetch_values()
    assert logloss["step"].tolist() == [float(i) for i in range(10)]
    assert run["xgb/params/objective"].fetch() == "binary:logistic"
    run["xgb/model"].download(str(tmp_path / "model.json"))
    assert "learner" in json.loads((tmp_path / "model.json").read_text())
    restored = xgb.Booster()
    restored.load_model(str(tmp_path / "model.json"))
    assert np.allclose(restored.predict(dvalid), booster.predict(dvalid))
    run.stop()


def test_optuna_study_trials_best_value_and_a_run_per_trial() -> None:
    from naiad.integrations.optuna import NaiadOptunaCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = naiad.init_run(project="tune")
    study = optuna.create_study(study_name="quadratic", direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        if trial.number == 3:
            raise optuna.TrialPruned()
        return (x - 2) ** 2

    study.optimize(objective, n_trials=8,
                   callbacks=[NaiadOptunaCallback(run, run_per_trial=True, project="tune-trials")])
    values = run["trials/value"].fetch_values()
    assert len(values) == 7 and 3.0 not in values["step"].tolist()
    best = run["best/value"].fetch_values()["value"].tolist()
    assert best == sorted(best, reverse=True) and best[-1] == pytest.approx(study.best_value)
    assert run["best/params/x"].fetch() == pytest.approx(study.best_params["x"])
    assert run["trials/3/state"].fetch() == "pruned"
    assert run["study/direction"].fetch() == "minimize"
    trials = naiad.init_project(project="tune-trials", mode="read-only").fetch_runs_table(
        tag="quadratic", sort_by="value", ascending=True).to_pandas()
    assert len(trials) == 7 and trials["value"].iloc[0] == pytest.approx(study.best_value)
    run.stop()
