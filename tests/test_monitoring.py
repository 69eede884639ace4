"""Production monitoring as its users meet it: a test team evaluating model versions with
``naiad.evaluate`` (real scikit-learn models on data scikit-learn ships: breast cancer, wine, diabetes),
the evaluation run it leaves (metrics equal to scikit-learn's, intervals, dataset version, predictions
as Parquet, plots), stored results reused, the timeline with the version in production at each time,
the degradation rule's verdicts on synthetic data whose accuracy / RMSE / log-loss is known exactly,
and a cron job's ``naiad monitor run|timeline|rule`` — on the embedded store and on a real
``naiad server`` (uvicorn on loopback).
"""

from __future__ import annotations

import datetime
import json
import math
import pickle
import re
import shutil
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import naiad
import naiad.store
from naiad import errors as E
from naiad.cli.main import main as cli_main
from naiad.monitoring.monitor import DegradationRule
from registry_kit import controlled, new_model, promote
from services import TeamServer, team_server

PROJECT = "defects"  # key DEF
PNG = b"\x89PNG\r\n\x1a\n"
BOOT = "percentile bootstrap (Poisson), 1000 resamples, seed 0"
FIRST = "(no reference yet: this is the version's first evaluation)"
NO_DRIFT = "drift: not measured (the version has no training profile: register it with training data)"


@pytest.fixture(autouse=True)
def _monitor_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_OWNER", "ana")
    monkeypatch.setenv("NAIAD_PROJECT", PROJECT)


# ------------------------------------------------------------------------------------------ sklearn tasks
@dataclass
class Task:
    estimator: Any  # fitted scikit-learn model
    frame: pd.DataFrame  # held-out features + target column
    features: list[str]
    target: str

    @property
    def x(self) -> pd.DataFrame:
        return self.frame[self.features]

    @property
    def y(self) -> np.ndarray:
        return self.frame[self.target].to_numpy()


@pytest.fixture(scope="module")
def binary() -> Task:
    """Breast cancer (0 = malignant, 1 = benign), scaled logistic regression, 171 held-out rows."""
    data = load_breast_cancer(as_frame=True)
    x_tr, x_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.3, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_tr, y_tr)
    frame = x_te.reset_index(drop=True).copy()
    frame["label"] = y_te.to_numpy()
    return Task(model, frame, list(data.data.columns), "label")


@pytest.fixture(scope="module")
def multiclass() -> Task:
    """Wine with the cultivars' names as labels (strings), 72 held-out rows, all three classes present."""
    data = load_wine(as_frame=True)
    names = np.asarray(data.target_names)[data.target.to_numpy()]
    x_tr, x_te, y_tr, y_te = train_test_split(data.data, names, test_size=0.4, random_state=1, stratify=names)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000)).fit(x_tr, y_tr)
    frame = x_te.reset_index(drop=True).copy()
    frame["cultivar"] = y_te
    return Task(model, frame, list(data.data.columns), "cultivar")


@pytest.fixture(scope="module")
def regression() -> Task:
    """Diabetes progression (integral floats, 25..346), ridge regression, 111 held-out rows."""
    data = load_diabetes(as_frame=True)
    x_tr, x_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.25, random_state=2)
    model = Ridge(alpha=0.1).fit(x_tr, y_tr)
    frame = x_te.reset_index(drop=True).copy()
    frame["progression"] = y_te.to_numpy()
    return Task(model, frame, list(data.data.columns), "progression")


# ------------------------------------------------------------------------------------------ helpers
def fields(run_id: str, namespace: str) -> Any:
    run = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        return run[namespace].fetch()
    finally:
        run.stop()


def download(run_id: str, path: str, dest: Path) -> None:
    run = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        run[path].download(str(dest))
    finally:
        run.stop()


def run_structure(run_id: str) -> dict[str, Any]:
    run = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        return run.get_structure()
    finally:
        run.stop()


def evaluation_runs(model: str) -> list[str]:
    """Ids of the project's runs that evaluated ``model`` (the runs table, as a user would list them)."""
    project = naiad.init_project(project=PROJECT, mode="read-only")
    try:
        table = project.fetch_runs_table(tag="evaluation", columns=["eval/model"]).to_pandas()
    finally:
        project.stop()
    if table.empty:
        return []
    return sorted(table.loc[table["eval/model"] == model, "sys/id"])


def with_rmse(n: int, rmse: float, seed: int) -> pd.DataFrame:
    """A regression task whose predictions have exactly this RMSE."""
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, n)
    z = rng.normal(size=n)
    return pd.DataFrame({"y": y, "pred": y + z * rmse / math.sqrt(np.mean(z ** 2))})


def with_log_loss(n: int, low: float, high: float, seed: int) -> pd.DataFrame:
    """A binary task whose probability of the true class is uniform in [low, high]."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p_true = rng.uniform(low, high, n)
    p1 = np.where(y == 1, p_true, 1 - p_true)
    return pd.DataFrame({"label": y, "p0": 1 - p1, "p1": p1})


def sk_classification(y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None = None,
                      labels: list[Any] | None = None) -> dict[str, float]:
    """scikit-learn's numbers for the same predictions (binary: positive = the second class)."""
    binary = len(np.unique(y)) == 2
    avg = "binary" if binary else "macro"
    out = {"accuracy": skm.accuracy_score(y, pred),
           "precision": skm.precision_score(y, pred, average=avg, zero_division=0),
           "recall": skm.recall_score(y, pred, average=avg, zero_division=0),
           "f1": skm.f1_score(y, pred, average=avg, zero_division=0)}
    if proba is not None:
        out["log_loss"] = skm.log_loss(y, proba, labels=labels)
        out["roc_auc"] = (skm.roc_auc_score(y, proba[:, 1]) if binary else
                          skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels))
    return out


def sk_regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"mae": skm.mean_absolute_error(y, pred), "rmse": math.sqrt(skm.mean_squared_error(y, pred)),
            "r2": skm.r2_score(y, pred)}


def assert_metrics(ev: naiad.Evaluation, expected: dict[str, float]) -> None:
    assert set(ev.metrics) == set(expected)
    for name, value in expected.items():
        m = ev.metrics[name]
        assert m.name == name
        assert m.value == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert m.low <= m.value <= m.high, (name, m)
        assert m.level == 0.95


def cli(*args: str) -> Result:
    return CliRunner().invoke(cli_main, list(args), catch_exceptions=False)


def monitor_lines(ev_run: str) -> list[str]:
    """The metric lines `naiad monitor run` prints, from the evaluation run's own fields."""
    values, ci = fields(ev_run, "metrics"), fields(ev_run, "ci")
    return [f"  {name:<10} {values[name]:.4g}  [{ci[name]['low']:.4g}, {ci[name]['high']:.4g}]"
            for name in sorted(values)]


# ------------------------------------------------------------------------------------------ naiad.evaluate
def test_binary_evaluation_run_holds_metrics_dataset_predictions_slices_and_plots(binary: Task, tmp_path: Path) -> None:
    [version] = new_model("CLS")
    df = binary.frame.copy()
    proba = binary.estimator.predict_proba(binary.x)
    df["p_malignant"], df["p_benign"] = proba[:, 0], proba[:, 1]
    df["size"] = np.where(df["mean radius"] > df["mean radius"].median(), "large", "small")
    pred = proba.argmax(axis=1)
    y = binary.y

    ev = naiad.evaluate(version, df, "label", ["p_malignant", "p_benign"], slices=["size"],
                        dataset_role="holdout-2026")
    assert isinstance(ev, naiad.Evaluation)
    assert (ev.model, ev.model_version, ev.task, ev.n, ev.dataset_role, ev.stage, ev.reused) == (
        "DEF-CLS", version, "classification", len(df), "holdout-2026", "none", False)
    assert abs(ev.created - time.time()) < 60
    assert_metrics(ev, sk_classification(y, pred, proba))
    methods = {name: m.method for name, m in ev.metrics.items()}
    assert methods == {"accuracy": BOOT, "precision": BOOT, "recall": BOOT, "f1": BOOT, "log_loss": BOOT,
                       "roc_auc": "DeLong variance, normal interval"}
    # the interval is about as wide as the binomial one: stderr ≈ sqrt(p(1-p)/n)
    acc = ev.metrics["accuracy"]
    assert acc.stderr == pytest.approx(math.sqrt(acc.value * (1 - acc.value) / len(df)), rel=0.3)

    # the run: eval/*, metrics, intervals
    stored_eval = fields(ev.run, "eval")
    assert re.fullmatch(r"[0-9a-f]{64}", stored_eval.pop("predictions_hash"))  # what reuse is keyed on
    assert stored_eval == {
        "model": "DEF-CLS", "model_version": version, "stage": "none", "task": "classification", "target": "label",
        "n_rows": len(df), "dataset_hash": ev.dataset_hash, "dataset_role": "holdout-2026", "level": 0.95,
        "n_boot": 1000, "seed": 0, "classes": '["0", "1"]'}
    assert fields(ev.run, "metrics") == pytest.approx({k: m.value for k, m in ev.metrics.items()})
    assert fields(ev.run, "ci") == {k: {"low": pytest.approx(m.low), "high": pytest.approx(m.high),
                                        "method": m.method} for k, m in ev.metrics.items()}
    assert set(fields(ev.run, "sys/tags")) == {"evaluation", "holdout-2026"}
    assert fields(ev.run, "sys/name") == f"evaluation of {version} on holdout-2026"

    # the dataset version: its hash everywhere, its bytes in the store (a DataFrame is data.parquet)
    run = naiad.init_run(with_id=ev.run, mode="read-only")
    assert run["datasets/holdout-2026"].fetch_hash() == ev.dataset_hash == fields(ev.run, "eval/dataset_hash")
    assert [f.file_path for f in run["datasets/holdout-2026"].fetch_files_list()] == ["data.parquet"]
    run["datasets/holdout-2026"].download(str(tmp_path / "restored"))
    run["predictions"].download(str(tmp_path / "predictions.parquet"))
    plots = sorted(run.get_structure()["plots"])
    for key in plots:
        run[f"plots/{key}"].download(str(tmp_path / "plots" / f"{key}.png"))
    run.stop()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "restored" / "data.parquet"), df)

    # per-example predictions
    got = pd.read_parquet(tmp_path / "predictions.parquet")
    assert list(got.columns) == ["row", "target", "prediction", "correct", "proba_0", "proba_1", "size"]
    assert list(got["row"]) == list(range(len(df)))
    assert list(got["target"]) == list(y)
    assert list(got["prediction"]) == list(pred)
    assert list(got["correct"]) == list(pred == y)
    np.testing.assert_allclose(got[["proba_0", "proba_1"]].to_numpy(), proba)
    assert list(got["size"]) == list(df["size"])

    # plots: PNG images, the probability ones too
    assert plots == ["calibration", "confusion_matrix", "pr", "roc"]
    for key in plots:
        data = (tmp_path / "plots" / f"{key}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 1000, key

    # slices: scikit-learn's numbers on each subset
    assert sorted(ev.slices) == ["size=large", "size=small"]
    for value in ("large", "small"):
        mask = (df["size"] == value).to_numpy()
        sl = ev.slices[f"size={value}"]
        assert sl["n"] == mask.sum() == fields(ev.run, f"slices/size={value}/n")
        expected = sk_classification(y[mask], pred[mask], proba[mask])
        assert {k: m.value for k, m in sl["metrics"].items()} == pytest.approx(expected, rel=1e-9)
        assert fields(ev.run, f"slices/size={value}/metrics") == pytest.approx(expected, rel=1e-9)
        stored_ci = fields(ev.run, f"slices/size={value}/ci")
        for name, m in sl["metrics"].items():
            assert m.low <= m.value <= m.high
            assert stored_ci[name] == {"low": pytest.approx(m.low), "high": pytest.approx(m.high)}


def test_every_form_of_predictions_gives_sklearns_numbers(binary: Task, multiclass: Task) -> None:
    """Column of labels, probability columns, labels array, n × k array, 1-D positive-class
    probabilities, a function of the features (without the target), the default 'prediction' column."""
    [bv, mv] = new_model("FORMS", versions=2)

    # multiclass wine, string labels
    est, x, y = multiclass.estimator, multiclass.x, multiclass.y
    classes = list(est.classes_)
    proba = est.predict_proba(x)
    labels = est.predict(x)
    df = multiclass.frame.copy()
    df["served"] = labels
    proba_cols = [f"p_{c}" for c in classes]
    for i, col in enumerate(proba_cols):
        df[col] = proba[:, i]
    seen: list[list[str]] = []

    def predict_proba(features: pd.DataFrame) -> np.ndarray:
        seen.append(list(features.columns))
        assert len(features) == len(df)
        return est.predict_proba(features[multiclass.features])

    def predict_labels(features: pd.DataFrame) -> np.ndarray:
        assert "cultivar" not in features.columns
        return est.predict(features[multiclass.features])

    by_labels = sk_classification(y, labels)
    by_proba = sk_classification(y, np.asarray(classes)[proba.argmax(axis=1)], proba, classes)
    assert by_labels["accuracy"] > 0.9  # the model did learn
    forms: list[tuple[str, Any, dict[str, float]]] = [
        ("column", "served", by_labels), ("proba columns", proba_cols, by_proba), ("labels array", labels, by_labels),
        ("n×k array", proba, by_proba), ("callable → proba", predict_proba, by_proba),
        ("callable → labels", predict_labels, by_labels)]
    for what, predictions, expected in forms:
        ev = naiad.evaluate(mv, df, "cultivar", predictions, force=True, plots=False)
        assert ev.task == "classification", what
        assert_metrics(ev, expected)
        assert fields(ev.run, "eval/classes") == json.dumps(classes), what
        if "log_loss" in expected:
            assert ev.metrics["roc_auc"].method == ("one-vs-rest macro; percentile bootstrap (Poisson), 1000 "
                                                    "resamples, seed 1")
    assert seen == [[c for c in df.columns if c != "cultivar"]]  # every column but the target
    default = df.rename(columns={"served": "prediction"})
    assert_metrics(naiad.evaluate(mv, default, "cultivar", plots=False), by_labels)

    # binary breast cancer: 1-D probabilities of the positive class, labels array, callable
    est, x, y = binary.estimator, binary.x, binary.y
    proba = est.predict_proba(x)
    p_pos = proba[:, 1]
    assert not np.isin(p_pos, (0.0, 1.0)).all()
    bdf = binary.frame
    ev = naiad.evaluate(bv, bdf, "label", p_pos, plots=False)
    assert_metrics(ev, sk_classification(y, (p_pos > 0.5).astype(int), proba))
    ev = naiad.evaluate(bv, bdf, "label", est.predict(x), force=True, plots=False)
    assert_metrics(ev, sk_classification(y, est.predict(x)))
    ev = naiad.evaluate(bv, bdf, "label", lambda f: est.predict_proba(f), force=True, plots=False)
    assert_metrics(ev, sk_classification(y, est.predict(x), proba))


def test_multiclass_and_regression_plots_and_predictions(multiclass: Task, regression: Task, tmp_path: Path) -> None:
    [cls_v] = new_model("WINE")
    [reg_v] = new_model("DIAB")
    # multiclass, labels only: a confusion matrix and nothing that needs probabilities
    labels_only = naiad.evaluate(cls_v, multiclass.frame, "cultivar", multiclass.estimator.predict(multiclass.x))
    assert sorted(run_structure(labels_only.run)["plots"]) == ["confusion_matrix"]
    download(labels_only.run, "predictions", tmp_path / "labels.parquet")
    got = pd.read_parquet(tmp_path / "labels.parquet")
    assert list(got.columns) == ["row", "target", "prediction", "correct"]
    # with probabilities: one column per class, named after it
    with_proba = naiad.evaluate(cls_v, multiclass.frame, "cultivar", multiclass.estimator.predict_proba(multiclass.x),
                                force=True)
    assert sorted(run_structure(with_proba.run)["plots"]) == ["calibration", "confusion_matrix", "pr", "roc"]
    download(with_proba.run, "predictions", tmp_path / "proba.parquet")
    got = pd.read_parquet(tmp_path / "proba.parquet")
    assert list(got.columns) == ["row", "target", "prediction", "correct", "proba_class_0", "proba_class_1",
                                 "proba_class_2"]
    assert list(got["prediction"]) == list(multiclass.estimator.predict(multiclass.x))
    for key in ("calibration", "confusion_matrix", "pr", "roc"):
        download(with_proba.run, f"plots/{key}", tmp_path / f"mc-{key}.png")
        assert (tmp_path / f"mc-{key}.png").read_bytes().startswith(PNG)

    # regression: MAE / RMSE / R² as scikit-learn computes them, per slice too
    df = regression.frame.copy()
    pred = regression.estimator.predict(regression.x)
    df["served"] = pred
    df["sex"] = np.where(df["sex"] > 0, "a", "b")
    y = regression.y
    ev = naiad.evaluate(reg_v, df, "progression", "served", task="regression", slices=["sex"])
    assert ev.task == "regression"
    assert_metrics(ev, sk_regression(y, pred))
    assert {m.method for m in ev.metrics.values()} == {BOOT}
    assert "eval/classes" not in {f"eval/{k}" for k in fields(ev.run, "eval")}
    for value in ("a", "b"):
        mask = (df["sex"] == value).to_numpy()
        assert ev.slices[f"sex={value}"]["n"] == mask.sum()
        assert {k: m.value for k, m in ev.slices[f"sex={value}"]["metrics"].items()} == pytest.approx(
            sk_regression(y[mask], pred[mask]), rel=1e-9)
    assert sorted(run_structure(ev.run)["plots"]) == ["predicted_vs_actual", "residuals"]
    for key in ("predicted_vs_actual", "residuals"):
        download(ev.run, f"plots/{key}", tmp_path / f"reg-{key}.png")
        assert (tmp_path / f"reg-{key}.png").read_bytes().startswith(PNG)
    download(ev.run, "predictions", tmp_path / "reg.parquet")
    got = pd.read_parquet(tmp_path / "reg.parquet")
    assert list(got.columns) == ["row", "target", "prediction", "error", "sex"]
    np.testing.assert_allclose(got["error"], pred - y)
    no_plots = naiad.evaluate(reg_v, df, "progression", "served", task="regression", plots=False, force=True)
    assert "plots" not in run_structure(no_plots.run)


def test_a_regressor_on_an_integer_valued_target_is_evaluated_as_regression(regression: Task) -> None:
    """Diabetes progression is stored as whole numbers (151.0, 75.0, …); a regressor's predictions are not.
    Left to infer the task, evaluate should not treat ~100 distinct target values as classes."""
    [version] = new_model("INFER")
    df = regression.frame.iloc[:60].copy()  # small: the wrong (classification) path is slow with many classes
    assert np.all(df["progression"] == np.round(df["progression"]))
    df["prediction"] = regression.estimator.predict(df[regression.features])
    ev = naiad.evaluate(version, df, "progression", plots=False, n_boot=50)
    assert ev.task == "regression", f"inferred {ev.task} with metrics {sorted(ev.metrics)}"
    assert ev.metrics["rmse"].value == pytest.approx(sk_regression(df["progression"], df["prediction"])["rmse"])


def test_data_as_csv_parquet_or_folder_is_a_tracked_dataset_version(binary: Task, tmp_path: Path) -> None:
    [version] = new_model("FILES")
    df = binary.frame.copy()
    df["prediction"] = binary.estimator.predict(binary.x)
    expected = sk_classification(binary.y, df["prediction"].to_numpy())
    csv = tmp_path / "sample.csv"
    df.to_csv(csv, index=False)
    parquet = tmp_path / "sample.parquet"
    df.to_parquet(parquet, index=False)
    folder = tmp_path / "shards"
    folder.mkdir()
    df.iloc[:100].to_csv(folder / "part-0.csv", index=False)
    df.iloc[100:].to_csv(folder / "part-1.csv", index=False)
    (folder / "README.txt").write_text("not data")  # other files in a folder are skipped (but tracked)

    # the hash track_files gives each of them, from an ordinary run
    tracker = naiad.init_run(project=PROJECT, name="tracker")
    for name, path in (("csv", csv), ("parquet", parquet), ("folder", folder)):
        tracker[f"datasets/{name}"].track_files(str(path))
    tracker.wait()
    hashes = {name: tracker[f"datasets/{name}"].fetch_hash() for name in ("csv", "parquet", "folder")}
    tracker.stop()
    assert len(set(hashes.values())) == 3

    evs = {}
    for name, path in (("csv", csv), ("parquet", parquet), ("folder", folder)):
        ev = naiad.evaluate(version, path, "label", dataset_role=f"sample-{name}", plots=False)
        assert ev.n == len(df)
        assert_metrics(ev, expected)
        assert ev.dataset_hash == hashes[name] == fields(ev.run, "eval/dataset_hash")
        evs[name] = ev
    run = naiad.init_run(with_id=evs["folder"].run, mode="read-only")
    assert run["datasets/sample-folder"].fetch_hash() == hashes["folder"]
    assert sorted(f.file_path for f in run["datasets/sample-folder"].fetch_files_list()) == [
        "README.txt", "part-0.csv", "part-1.csv"]
    run.stop()

    # upload=True (the default): the data comes back from the store once the file is gone
    run = naiad.init_run(with_id=evs["csv"].run, mode="read-only")
    [entry] = run["datasets/sample-csv"].fetch_files_list()
    assert entry.metadata.get("blob")  # the bytes' hash in the blob store
    run.stop()
    original = csv.read_bytes()
    csv.unlink()
    download(evs["csv"].run, "datasets/sample-csv", tmp_path / "back")
    assert (tmp_path / "back" / "sample.csv").read_bytes() == original
    assert not (tmp_path / "back" / "sample.csv").is_symlink()
    shutil.rmtree(folder)
    download(evs["folder"].run, "datasets/sample-folder", tmp_path / "back-folder")
    assert sorted(p.name for p in (tmp_path / "back-folder").iterdir()) == ["README.txt", "part-0.csv", "part-1.csv"]
    pd.testing.assert_frame_equal(pd.concat([pd.read_csv(tmp_path / "back-folder" / f"part-{i}.csv")
                                             for i in (0, 1)], ignore_index=True), df)

    # upload=False: the version is recorded (same hash) but its bytes are not stored
    parquet2 = tmp_path / "kept-out" / "sample.parquet"
    parquet2.parent.mkdir()
    shutil.copy(parquet, parquet2)
    ev = naiad.evaluate(version, parquet2, "label", dataset_role="not-uploaded", upload=False, plots=False, force=True)
    assert ev.dataset_hash == hashes["parquet"]
    run = naiad.init_run(with_id=ev.run, mode="read-only")
    [entry] = run["datasets/not-uploaded"].fetch_files_list()
    assert not entry.metadata.get("blob")
    run.stop()


def test_errors_say_what_is_wrong(binary: Task, tmp_path: Path) -> None:
    [version] = new_model("ERR")
    df = binary.frame.copy()
    df["prediction"] = binary.estimator.predict(binary.x)
    runs_before = evaluation_runs("DEF-ERR")

    with pytest.raises(E.InvalidValueError, match="target 'diagnosis' is not a column of the data"):
        naiad.evaluate(version, df, "diagnosis")
    with pytest.raises(E.InvalidValueError, match="predictions='served' is not a column of the data"):
        naiad.evaluate(version, df, "label", "served")
    with pytest.raises(E.InvalidValueError, match=r"probability columns \['p_x'\] are not in the data"):
        naiad.evaluate(version, df, "label", ["p_x"])
    with pytest.raises(E.InvalidValueError, match=r"no predictions: pass predictions="):
        naiad.evaluate(version, df.drop(columns=["prediction"]), "label")
    with pytest.raises(E.InvalidValueError, match=f"{len(df) - 1} predictions for {len(df)} rows"):
        naiad.evaluate(version, df, "label", df["prediction"].to_numpy()[1:])
    with pytest.raises(E.InvalidValueError, match=r"prediction value 7 is not one of the classes \[0, 1\]"):
        naiad.evaluate(version, df, "label", np.r_[7, df["prediction"].to_numpy()[1:]], classes=[0, 1])
    with pytest.raises(E.InvalidValueError, match=r"target value 1 is not one of the classes \[0, 2\]"):
        naiad.evaluate(version, df, "label", classes=[0, 2])
    with pytest.raises(E.InvalidValueError, match=r"have 3 probability columns but the target has 2 classes"):
        naiad.evaluate(version, df, "label", np.full((len(df), 3), 1 / 3))
    with pytest.raises(E.InvalidValueError, match="slice column 'region' is not in the data"):
        naiad.evaluate(version, df, "label", slices=["region"])
    with pytest.raises(E.InvalidValueError, match="task 'clustering' is not one of classification, regression"):
        naiad.evaluate(version, df, "label", task="clustering")
    with pytest.raises(E.InvalidValueError, match="level must be between 0 and 1"):
        naiad.evaluate(version, df, "label", level=95)
    with pytest.raises(E.InvalidValueError, match=f"{len(df)} rows is not enough data to evaluate on"):
        naiad.evaluate(version, df, "label", min_rows=1000)
    with pytest.raises(E.InvalidValueError, match="data must be a pandas DataFrame or the path"):
        naiad.evaluate(version, df.to_dict("list"), "label")
    with pytest.raises(E.FileError, match="no such file or folder"):
        naiad.evaluate(version, tmp_path / "nope.parquet", "label")
    (tmp_path / "sample.json").write_text("{}")
    with pytest.raises(E.FileError, match=r"only \.csv, \.tsv and \.parquet files can be read"):
        naiad.evaluate(version, tmp_path / "sample.json", "label")
    (tmp_path / "empty").mkdir()
    with pytest.raises(E.FileError, match=r"no \.csv or \.parquet files in the folder"):
        naiad.evaluate(version, tmp_path / "empty", "label")
    # a model id, a run id or an unknown id where a version is expected
    with pytest.raises(E.ModelVersionNotFound, match="DEF-ERR is a model, not a model version"):
        naiad.evaluate("DEF-ERR", df, "label")
    naiad.init_run(project=PROJECT, name="training").stop()
    with pytest.raises(E.ModelVersionNotFound, match="DEF-1 is a run, not a model version"):
        naiad.evaluate("DEF-1", df, "label")
    with pytest.raises(E.ModelVersionNotFound):
        naiad.evaluate("DEF-ERR-9", df, "label")
    # NaN in a regression target or its predictions
    reg = pd.DataFrame({"y": [1.5, 2.5, np.nan, 4.5], "prediction": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(E.InvalidValueError, match="must not contain NaN or infinity"):
        naiad.evaluate(version, reg, "y")
    reg = pd.DataFrame({"y": [1.5, 2.5, 3.5, 4.5], "prediction": [1.0, np.inf, 3.0, 4.0]})
    with pytest.raises(E.InvalidValueError, match="must not contain NaN or infinity"):
        naiad.evaluate(version, reg, "y", task="regression")
    assert evaluation_runs("DEF-ERR") == runs_before == []  # nothing half-recorded


def test_a_missing_classification_label_is_reported_as_missing(binary: Task) -> None:
    """A NaN in a class-label target (a row whose label never arrived) should get the NaN message, not
    'target value nan is not one of the classes [0.0, 1.0, nan]'."""
    [version] = new_model("NAN")
    df = binary.frame.copy()
    df["prediction"] = binary.estimator.predict(binary.x)
    df["label"] = df["label"].astype(float)
    df.loc[5, "label"] = np.nan
    with pytest.raises(E.InvalidValueError) as err:
        naiad.evaluate(version, df, "label", task="classification")
    assert "NaN" in str(err.value), str(err.value)


# ------------------------------------------------------------------------------------------ reuse
def test_same_version_and_data_reuses_the_stored_evaluation(binary: Task) -> None:
    v1, v2 = new_model("REUSE", versions=2)
    df = binary.frame.copy()
    df["prediction"] = binary.estimator.predict(binary.x)
    df["size"] = np.where(df["mean radius"] > 14, "large", "small")

    first = naiad.evaluate(v1, df, "label", slices=["size"], plots=False)
    assert evaluation_runs("DEF-REUSE") == [first.run]
    again = naiad.evaluate(v1, df, "label", slices=["size"], plots=False)
    assert again.reused is True and first.reused is False
    assert again.run == first.run and again.dataset_hash == first.dataset_hash
    assert (again.model, again.model_version, again.task, again.n, again.dataset_role, again.stage) == (
        first.model, first.model_version, first.task, first.n, first.dataset_role, first.stage)
    assert again.created == pytest.approx(first.created, abs=1e-3)
    assert {k: m.method for k, m in again.metrics.items()} == {k: m.method for k, m in first.metrics.items()}
    for name, m in first.metrics.items():  # approx compares flat collections only (pytest 9.2)
        assert (again.metrics[name].value, again.metrics[name].low, again.metrics[name].high) == pytest.approx(
            (m.value, m.low, m.high)), name
    assert {k: s["n"] for k, s in again.slices.items()} == {k: s["n"] for k, s in first.slices.items()}
    for key, sl in first.slices.items():
        assert {m: x.value for m, x in again.slices[key]["metrics"].items()} == pytest.approx(
            {m: x.value for m, x in sl["metrics"].items()}), key
    assert evaluation_runs("DEF-REUSE") == [first.run]  # no new run

    # the same frame again — a copy, another index, read back from Parquet — has the same hash
    relabelled = df.copy()
    relabelled.index = relabelled.index + 1000
    assert naiad.evaluate(v1, relabelled, "label", slices=["size"], plots=False).run == first.run
    assert naiad.evaluate(v1, df.copy(), "label", slices=["size"], plots=False).reused

    forced = naiad.evaluate(v1, df, "label", force=True, plots=False)
    assert forced.reused is False and forced.run != first.run and forced.dataset_hash == first.dataset_hash
    # the newest of the two is what comes back now
    assert naiad.evaluate(v1, df, "label", plots=False).run in {forced.run, first.run}

    changed = df.copy()
    changed.loc[0, "mean radius"] += 0.001
    other_data = naiad.evaluate(v1, changed, "label", plots=False)
    assert not other_data.reused and other_data.dataset_hash != first.dataset_hash
    other_version = naiad.evaluate(v2, df, "label", plots=False)
    assert not other_version.reused and other_version.dataset_hash == first.dataset_hash
    assert evaluation_runs("DEF-REUSE") == sorted([first.run, forced.run, other_data.run, other_version.run])


# ------------------------------------------------------------------------------------------ timeline
def train_and_register(binary: Task, tmp_path: Path, c: float, name: str) -> str:
    """A training run that logs a scikit-learn model, registered as a version of DEF-CANCER."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    model.fit(binary.x, binary.y)  # (held-out rows here: this is about the registry, not generalisation)
    weights = tmp_path / f"{name}.pkl"
    weights.write_bytes(pickle.dumps(model))
    run = naiad.init_run(project=PROJECT, name=name)
    run["parameters/C"] = c
    run["model/weights"].upload(str(weights))
    run.wait()
    mv = naiad.register_model_version(run, model="DEF-CANCER", name=name)
    version = str(mv["sys/id"].fetch())
    mv.stop()
    run.stop()
    return version


def test_timeline_knows_what_was_in_production_at_each_evaluation(binary: Task, tmp_path: Path) -> None:
    naiad.init_model(key="CANCER", project=PROJECT).stop()
    v1 = train_and_register(binary, tmp_path, 0.01, "weak")
    v2 = train_and_register(binary, tmp_path, 1.0, "strong")
    assert naiad.fetch_evaluations("DEF-CANCER").empty
    frame = binary.frame
    months = [frame.iloc[:85], frame.iloc[85:], frame.iloc[40:130]]

    def served_by(version: str, part: pd.DataFrame) -> np.ndarray:
        mv = naiad.init_model_version(with_id=version, mode="read-only")
        mv["weights"].download(str(tmp_path / "w.pkl"))
        mv.stop()
        return pickle.loads((tmp_path / "w.pkl").read_bytes()).predict(part[binary.features])

    promote(v1)
    e1 = naiad.evaluate(v1, months[0], "label", served_by(v1, months[0]), dataset_role="2026-10", plots=False)
    promote(v2)
    e2 = naiad.evaluate(v2, months[1], "label", served_by(v2, months[1]), dataset_role="2026-11", plots=False)
    # the archived version, evaluated in the shadow afterwards
    e3 = naiad.evaluate(v1, months[2], "label", served_by(v1, months[2]), dataset_role="2026-11", plots=False)
    assert (e1.stage, e2.stage, e3.stage) == ("production", "production", "archived")
    assert fields(e3.run, "eval/stage") == "archived"

    got = naiad.fetch_evaluations("DEF-CANCER")
    assert list(got.columns)[:13] == ["time", "run", "version", "production_then", "dataset_role", "dataset_hash",
                                      "n", "metric", "value", "ci_low", "ci_high", "status", "reason"]
    assert list(got["run"]) == [e1.run, e2.run, e3.run]
    assert list(got["version"]) == [v1, v2, v1]
    assert list(got["production_then"]) == [v1, v2, v2]
    assert list(got["dataset_role"]) == ["2026-10", "2026-11", "2026-11"]
    assert list(got["dataset_hash"]) == [e1.dataset_hash, e2.dataset_hash, e3.dataset_hash]
    assert list(got["n"]) == [85, len(frame) - 85, 90]
    assert list(got["metric"]) == ["accuracy"] * 3
    evs = [e1, e2, e3]
    assert list(got["value"]) == pytest.approx([e.metrics["accuracy"].value for e in evs])
    assert list(got["ci_low"]) == pytest.approx([e.metrics["accuracy"].low for e in evs])
    assert list(got["ci_high"]) == pytest.approx([e.metrics["accuracy"].high for e in evs])
    assert got["time"].is_monotonic_increasing and str(got["time"].dt.tz) == "UTC"
    assert list(got["time"].map(lambda t: t.timestamp())) == pytest.approx([e.created for e in evs], abs=1e-3)
    # v2's first evaluation is its own reference; v1's later one is judged against v1's first
    assert got["reason"][0] == f"accuracy {e1.metrics['accuracy'].value:.4g} {FIRST}"
    assert got["reason"][1] == f"accuracy {e2.metrics['accuracy'].value:.4g} {FIRST}"
    assert "reference" in got["reason"][2] and f"{e1.metrics['accuracy'].value:.4g}" in got["reason"][2]

    # the same timeline on another metric; other models' evaluations are not in it
    f1 = naiad.fetch_evaluations("DEF-CANCER", metric="f1")
    assert list(f1["metric"]) == ["f1"] * 3
    assert list(f1["value"]) == pytest.approx([e.metrics["f1"].value for e in evs])
    [other] = new_model("OTHER")
    naiad.evaluate(other, months[0].assign(prediction=served_by(v1, months[0])), "label", plots=False)
    assert len(naiad.fetch_evaluations("DEF-CANCER")) == 3
    with pytest.raises(E.InvalidValueError, match="has no 'brier' metric"):
        naiad.fetch_evaluations("DEF-CANCER", metric="brier")
    with pytest.raises(E.InvalidValueError, match=f"{v1} is a model version, not a model"):
        naiad.fetch_evaluations(v1)


# ------------------------------------------------------------------------------------------ verdicts
def test_sigma_rule_on_exactly_known_accuracies() -> None:
    v1, v2 = new_model("SIG", versions=2)
    assert naiad.get_degradation_rule("DEF-SIG") == DegradationRule(None, None, 3.0, None, 30)
    evs = [naiad.evaluate(v1, controlled(2000, acc, seed), "label", "served", plots=False)
           for acc, seed in ((0.95, 1), (0.94, 2), (0.80, 3))]
    evs.append(naiad.evaluate(v2, controlled(2000, 0.80, 4), "label", "served", plots=False))
    assert [e.metrics["accuracy"].value for e in evs] == [0.95, 0.94, 0.80, 0.80]
    for e in evs:  # the sampling error the interval implies is the binomial one
        p = e.metrics["accuracy"].value
        assert e.metrics["accuracy"].stderr == pytest.approx(math.sqrt(p * (1 - p) / 2000), rel=0.15)
    se80 = evs[2].metrics["accuracy"].stderr
    got = naiad.fetch_evaluations("DEF-SIG")
    assert list(got["status"]) == ["ok", "ok", "degraded", "ok"]
    assert list(got["reason"]) == [
        f"accuracy 0.95 {FIRST}",
        "accuracy 0.94 (reference 0.95, within 3σ)",
        f"accuracy 0.8 is below the reference 0.95 by 0.15, more than 3σ ({3 * se80:.3g}) of its sampling error",
        f"accuracy 0.8 {FIRST}"]  # a version is compared with its own first evaluation

    # a wider tolerance lets the 80% through; a tighter one flags the 94%
    naiad.set_degradation_rule("DEF-SIG", sigmas=20)
    assert list(naiad.fetch_evaluations("DEF-SIG")["status"]) == ["ok", "ok", "ok", "ok"]
    se94 = evs[1].metrics["accuracy"].stderr
    naiad.set_degradation_rule("DEF-SIG", sigmas=0.01 / se94 * 0.9)
    assert list(naiad.fetch_evaluations("DEF-SIG")["status"]) == ["ok", "degraded", "degraded", "ok"]


def test_each_evaluation_is_a_point_of_the_versions_monitoring_series() -> None:
    """The version's own page charts its evaluations: monitoring/<metric> gets one point per new evaluation,
    stamped with the evaluation's time; a reused result adds none."""
    [v] = new_model("SER")
    first = naiad.evaluate(v, controlled(1000, 0.95, 40), "label", "served", dataset_role="oct", plots=False)
    second = naiad.evaluate(v, controlled(1000, 0.90, 41), "label", "served", dataset_role="nov", plots=False)
    again = naiad.evaluate(v, controlled(1000, 0.90, 41), "label", "served", dataset_role="nov", plots=False)
    assert again.reused
    mv = naiad.init_model_version(with_id=v, mode="read-only")
    points = mv["monitoring/accuracy"].fetch_values()
    assert list(points["value"]) == pytest.approx([0.95, 0.90])
    # fetch_values gives naive local times (as neptune did): the evaluations' own times, to the millisecond
    expected = [datetime.datetime.fromtimestamp(e.created) for e in (first, second)]
    got = list(points["timestamp"].dt.to_pydatetime())
    assert [abs((g - e).total_seconds()) < 0.002 for g, e in zip(got, expected, strict=True)] == [True, True]
    assert list(mv["monitoring/f1"].fetch_values()["value"]) == pytest.approx(
        [first.metrics["f1"].value, second.metrics["f1"].value])
    mv.stop()


def test_floor_and_fixed_reference_rules() -> None:
    [v] = new_model("FLOOR")
    evs = [naiad.evaluate(v, controlled(2000, acc, seed), "label", "served", plots=False)
           for acc, seed in ((0.95, 5), (0.94, 6))]
    rule = naiad.set_degradation_rule("DEF-FLOOR", floor=0.945)
    assert rule == naiad.get_degradation_rule("DEF-FLOOR") == DegradationRule(None, 0.945, 3.0, None, 30)
    got = naiad.fetch_evaluations("DEF-FLOOR")
    assert list(got["status"]) == ["ok", "degraded"]
    assert got["reason"][1] == "accuracy 0.94 is below the floor 0.945"  # within 3σ of 0.95, but under the floor

    # a fixed reference instead of the version's first evaluation
    naiad.set_degradation_rule("DEF-FLOOR", reference=0.99)
    assert naiad.get_degradation_rule("DEF-FLOOR").floor is None  # set_degradation_rule sets the whole rule
    got = naiad.fetch_evaluations("DEF-FLOOR")
    assert list(got["status"]) == ["degraded", "degraded"]
    se = evs[0].metrics["accuracy"].stderr
    assert got["reason"][0] == (f"accuracy 0.95 is below the reference 0.99 by 0.04, more than 3σ ({3 * se:.3g}) "
                                "of its sampling error")
    naiad.set_degradation_rule("DEF-FLOOR", reference=0.955)
    got = naiad.fetch_evaluations("DEF-FLOOR")
    assert list(got["status"]) == ["ok", "ok"]
    assert got["reason"][0] == "accuracy 0.95 (reference 0.955, within 3σ)"

    for bad in ({"sigmas": 0}, {"sigmas": -1.0}, {"min_rows": 0}, {"min_rows": 2.5}):
        with pytest.raises(E.InvalidValueError):
            naiad.set_degradation_rule("DEF-FLOOR", **bad)  # type: ignore[arg-type]
    assert naiad.get_degradation_rule("DEF-FLOOR").reference == 0.955  # unchanged by the refusals
    with pytest.raises(E.ModelNotFound):
        naiad.set_degradation_rule("DEF-FLOOR-1", floor=0.9)
    with pytest.raises(E.InvalidValueError, match="is a model version, not a model"):
        naiad.get_degradation_rule("DEF-FLOOR-1")


def test_lower_is_better_metrics_degrade_upwards() -> None:
    # RMSE on a regressor (the default metric for regression)
    [r] = new_model("RMSE")
    evs = [naiad.evaluate(r, with_rmse(2000, s, seed), "y", "pred", plots=False)
           for s, seed in ((1.0, 1), (1.5, 2), (0.8, 3))]
    assert [e.task for e in evs] == ["regression"] * 3
    assert [e.metrics["rmse"].value for e in evs] == pytest.approx([1.0, 1.5, 0.8])
    got = naiad.fetch_evaluations("DEF-RMSE")
    assert list(got["metric"]) == ["rmse"] * 3
    assert list(got["status"]) == ["ok", "degraded", "ok"]  # better (lower) is never degraded
    se = evs[1].metrics["rmse"].stderr
    assert got["reason"][1] == (f"rmse 1.5 is above the reference 1 by 0.5, more than 3σ ({3 * se:.3g}) of its "
                                "sampling error")
    assert got["reason"][2] == "rmse 0.8 (reference 1, within 3σ)"
    naiad.set_degradation_rule("DEF-RMSE", floor=0.9)
    assert list(naiad.fetch_evaluations("DEF-RMSE")["status"]) == ["degraded", "degraded", "ok"]
    assert naiad.fetch_evaluations("DEF-RMSE")["reason"][0] == "rmse 1 is above the floor 0.9"
    # R² is higher-is-better: the worse evaluation goes down
    naiad.set_degradation_rule("DEF-RMSE", metric="r2")
    r2 = naiad.fetch_evaluations("DEF-RMSE")
    assert list(r2["status"]) == ["ok", "degraded", "ok"] and "is below the reference" in r2["reason"][1]

    # log-loss on a classifier's probabilities
    [c] = new_model("LOSS")
    parts = [with_log_loss(2000, 0.75, 0.95, 7), with_log_loss(2000, 0.45, 0.75, 8), with_log_loss(2000, 0.8, 0.99, 9)]
    evs = [naiad.evaluate(c, p, "label", ["p0", "p1"], plots=False) for p in parts]
    expected = [skm.log_loss(p["label"], p[["p0", "p1"]].to_numpy()) for p in parts]
    assert [e.metrics["log_loss"].value for e in evs] == pytest.approx(expected)
    naiad.set_degradation_rule("DEF-LOSS", metric="log_loss")
    got = naiad.fetch_evaluations("DEF-LOSS")
    assert list(got["status"]) == ["ok", "degraded", "ok"]
    ref, worse = evs[0].metrics["log_loss"], evs[1].metrics["log_loss"]
    assert got["reason"][1] == (f"log_loss {worse.value:.4g} is above the reference {ref.value:.4g} by "
                                f"{worse.value - ref.value:.4g}, more than 3σ ({3 * worse.stderr:.3g}) of its "
                                "sampling error")
    naiad.set_degradation_rule("DEF-LOSS", metric="log_loss", floor=0.3)
    got = naiad.fetch_evaluations("DEF-LOSS")
    assert list(got["status"]) == ["ok", "degraded", "ok"]
    assert got["reason"][1] == f"log_loss {worse.value:.4g} is above the floor 0.3"


def test_too_few_rows_is_insufficient_data_not_a_verdict() -> None:
    [v] = new_model("FEW")
    big = naiad.evaluate(v, controlled(2000, 0.95, 10), "label", "served", plots=False)
    small = naiad.evaluate(v, controlled(20, 0.5, 11), "label", "served", plots=False)
    got = naiad.fetch_evaluations("DEF-FEW")
    assert list(got["status"]) == ["ok", "insufficient data"]  # 50% on 20 rows would be "degraded" otherwise
    assert got["reason"][1] == "20 rows, fewer than the 30 the rule needs"
    naiad.set_degradation_rule("DEF-FEW", min_rows=5000)
    got = naiad.fetch_evaluations("DEF-FEW")
    assert list(got["status"]) == ["insufficient data"] * 2
    assert got["reason"][0] == "2000 rows, fewer than the 5000 the rule needs"
    naiad.set_degradation_rule("DEF-FEW", min_rows=10)
    assert list(naiad.fetch_evaluations("DEF-FEW")["status"]) == ["ok", "degraded"]
    assert (big.n, small.n) == (2000, 20)


# ------------------------------------------------------------------------------------------ the CLI
def test_cli_monitor_run_exit_codes_and_summaries(tmp_path: Path) -> None:
    [v1] = new_model("CRON")
    promote(v1)
    paths = {}
    for name, n, acc, seed in (("oct", 2000, 0.95, 20), ("nov", 2000, 0.94, 21), ("dec", 2000, 0.80, 22),
                               ("jan", 20, 0.95, 23)):
        paths[name] = tmp_path / f"{name}.parquet"
        controlled(n, acc, seed).to_parquet(paths[name], index=False)
    base = ["monitor", "run", "--model", "DEF-CRON", "--target", "label", "--predictions", "served"]

    def expected(result: Result, status_line: str, n: int, reused: bool = False) -> tuple[str, list[str]]:
        """The run the summary names (the newest one unless reused) and the lines it should have."""
        timeline = naiad.fetch_evaluations("DEF-CRON")
        run = str(timeline["run"].iloc[-1]) if not reused else result.stdout.split("evaluation ")[1].split(" ")[0]
        digest = timeline.loc[timeline["run"] == run, "dataset_hash"].iloc[0]
        head = (f"{v1} on production-sample ({n} rows, dataset {digest[:12]}): evaluation {run}"
                + (" (stored earlier; --force to redo)" if reused else ""))
        return run, [head, *monitor_lines(run), NO_DRIFT, status_line]

    ok = cli(*base, "--data", str(paths["oct"]))
    assert ok.exit_code == 0, ok.output
    oct_run, lines = expected(ok, f"OK: accuracy 0.95 {FIRST}", 2000)
    assert ok.stdout.splitlines() == lines
    assert lines[1:-2] == [line for line in lines if line.startswith("  ")]
    assert [line.split()[0] for line in lines[1:-2]] == ["accuracy", "f1", "precision", "recall"]

    within = cli(*base, "--data", str(paths["nov"]))
    assert within.exit_code == 0, within.output
    assert within.stdout.splitlines()[-1] == "OK: accuracy 0.94 (reference 0.95, within 3σ)"

    degraded = cli(*base, "--data", str(paths["dec"]))
    assert degraded.exit_code == 1, degraded.output
    dec = naiad.fetch_evaluations("DEF-CRON").iloc[-1]
    se = (dec["ci_high"] - dec["ci_low"]) / (2 * 1.959963984540054)
    dec_run, lines = expected(degraded, f"DEGRADED: accuracy 0.8 is below the reference 0.95 by 0.15, more than 3σ "
                                        f"({3 * se:.3g}) of its sampling error", 2000)
    assert degraded.stdout.splitlines() == lines

    few = cli(*base, "--data", str(paths["jan"]))
    assert few.exit_code == 2, few.output
    assert few.stdout.splitlines()[-1] == "INSUFFICIENT DATA: 20 rows, fewer than the 30 the rule needs"

    # the same data again: the stored evaluation, the same verdict, no new run
    runs = evaluation_runs("DEF-CRON")
    assert len(runs) == 4
    again = cli(*base, "--data", str(paths["dec"]))
    assert again.exit_code == 1
    assert again.stdout.splitlines() == expected(again, lines[-1], 2000, reused=True)[1]
    assert again.stdout.split("evaluation ")[1].split(" ")[0] == dec_run
    assert evaluation_runs("DEF-CRON") == runs
    forced = cli(*base, "--data", str(paths["dec"]), "--force", "--json")
    assert forced.exit_code == 1
    out = json.loads(forced.stdout)
    assert out["run"] not in runs and out["reused"] is False
    assert len(evaluation_runs("DEF-CRON")) == 5

    # --json
    as_json = cli(*base, "--data", str(paths["oct"]), "--json")
    assert as_json.exit_code == 0
    out = json.loads(as_json.stdout)
    oct_row = naiad.fetch_evaluations("DEF-CRON").iloc[0]
    assert {k: out[k] for k in ("model", "version", "run", "reused", "dataset_hash", "n", "status", "reason",
                                "metric", "value", "reference")} == {
        "model": "DEF-CRON", "version": v1, "run": oct_run, "reused": True, "dataset_hash": oct_row["dataset_hash"],
        "n": 2000, "status": "ok", "reason": f"accuracy 0.95 {FIRST}", "metric": "accuracy", "value": 0.95,
        "reference": None}
    assert sorted(out["metrics"]) == ["accuracy", "f1", "precision", "recall"]
    assert out["metrics"]["accuracy"] == pytest.approx({"value": 0.95, "low": oct_row["ci_low"],
                                                        "high": oct_row["ci_high"]})
    deg = json.loads(cli(*base, "--data", str(paths["dec"]), "--json").stdout)
    assert (deg["status"], deg["value"], deg["reference"]) == ("degraded", 0.8, 0.95)

    # a rule set from the CLI changes the verdict on the same stored evaluation
    assert cli("monitor", "rule", "DEF-CRON", "--min-rows", "10").exit_code == 0
    assert cli(*base, "--data", str(paths["jan"])).exit_code == 0  # 95% on 20 rows: fine now
    assert cli("monitor", "rule", "DEF-CRON", "--floor", "0.96").exit_code == 0
    floor = cli(*base, "--data", str(paths["oct"]))
    assert floor.exit_code == 1 and floor.stdout.splitlines()[-1] == "DEGRADED: accuracy 0.95 is below the floor 0.96"


def test_cli_prediction_sources_and_version_selection(binary: Task, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    v1, v2, v3 = new_model("SRC", versions=3)
    promote(v1)
    promote(v2, "staging")
    mv = naiad.init_model_version(with_id=v3)
    mv.set_alias("champion")
    mv.stop()
    est = binary.estimator
    df = binary.frame.copy()
    proba = est.predict_proba(binary.x)
    df["served"] = est.predict(binary.x)
    df["p_malignant"], df["p_benign"] = proba[:, 0], proba[:, 1]
    data = tmp_path / "batch.csv"
    df.to_csv(data, index=False)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(est))
    (tmp_path / "serve_cancer.py").write_text(textwrap.dedent(f"""
        import pickle

        FEATURES = {binary.features!r}
        with open("model.pkl", "rb") as f:
            MODEL = pickle.load(f)
        SEEN = []

        def predict(features):
            SEEN.append(list(features.columns))
            return MODEL.predict_proba(features[FEATURES])
    """))
    monkeypatch.chdir(tmp_path)  # the CLI imports --predict modules from the working directory
    monkeypatch.syspath_prepend(str(tmp_path))  # (and forget it afterwards)
    base = ["monitor", "run", "--model", "DEF-SRC", "--data", str(data), "--target", "label", "--json"]
    labels = sk_classification(binary.y, df["served"].to_numpy())
    probs = sk_classification(binary.y, proba.argmax(axis=1), proba)

    def run(*extra: str, code: int = 0) -> dict[str, Any]:
        result = cli(*base, *extra)
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)

    out = run("--predictions", "served")
    assert out["version"] == v1 and out["metrics"]["accuracy"]["value"] == pytest.approx(labels["accuracy"])
    assert fields(out["run"], "eval/stage") == "production"
    out = run("--proba", "p_malignant,p_benign", "--stage", "staging")
    assert out["version"] == v2
    assert {k: v["value"] for k, v in out["metrics"].items()} == pytest.approx(probs)
    out = run("--predict", "serve_cancer:predict", "--alias", "champion", "--role", "batch 7", "--slices",
              "served")
    assert out["version"] == v3 and fields(out["run"], "eval/dataset_role") == "batch-7"
    assert {k: v["value"] for k, v in out["metrics"].items()} == pytest.approx(probs)
    import serve_cancer  # type: ignore[import-not-found]

    seen: list[list[str]] = serve_cancer.SEEN
    assert seen == [[c for c in df.columns if c != "label"]]  # the features, without the target
    assert sorted(naiad.evaluate(v3, data, "label", "served", force=True, plots=False, slices=["served"]).slices) == [
        "served=0", "served=1"]
    download(out["run"], "predictions", tmp_path / "p.parquet")
    assert "served" in pd.read_parquet(tmp_path / "p.parquet").columns
    # --version names one; the same data with another version is a new evaluation
    out = run("--version", v1, "--predictions", "served", "--force")
    assert out["version"] == v1 and fields(out["run"], "eval/model_version") == v1
    # a regression through --task
    reg = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0] * 10, "prediction": [1.1, 2.2, 2.7, 4.4] * 10})
    reg.to_csv(tmp_path / "reg.csv", index=False)
    result = cli("monitor", "run", "--model", "DEF-SRC", "--data", str(tmp_path / "reg.csv"), "--target", "y",
                 "--task", "regression", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["metric"], sorted(out["metrics"])) == ("rmse", ["mae", "r2", "rmse"])

    # mistakes: exit 3 (could not evaluate), never 1 (degraded) or 2 (not enough data)
    both = cli(*base, "--predictions", "served", "--proba", "p_malignant,p_benign")
    assert both.exit_code == 3 and "give one of --predictions, --proba and --predict" in both.output
    bad = cli(*base, "--predict", "serve_cancer")
    assert bad.exit_code == 3 and "write it as module:function" in bad.output
    missing = cli(*base, "--predict", "no_such_module:predict")
    assert missing.exit_code == 3 and "cannot load no_such_module:predict" in missing.output
    column = cli(*base, "--predictions", "nope")  # checked before a stored evaluation could hide the typo
    assert column.exit_code == 3 and "Error: predictions='nope' is not a column of the data" in column.output
    two = cli(*base, "--stage", "staging", "--alias", "champion")
    assert two.exit_code == 3 and "give one of stage=, alias= and version=" in two.output
    other = cli(*base, "--version", "DEF-OTHER-1")
    assert other.exit_code == 3 and "DEF-OTHER-1 is not a version of DEF-SRC" in other.output
    nothing = cli(*base, "--alias", "shadow")
    assert nothing.exit_code == 3 and "DEF-SRC has no alias 'shadow'" in nothing.output


def test_cli_monitor_run_without_a_production_version(binary: Task, tmp_path: Path) -> None:
    new_model("NOPROD", versions=2)
    data = tmp_path / "batch.parquet"
    binary.frame.assign(prediction=binary.estimator.predict(binary.x)).to_parquet(data)
    result = cli("monitor", "run", "--model", "DEF-NOPROD", "--data", str(data), "--target", "label")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith("Error: DEF-NOPROD has no version in production"), result.stderr
    assert "naiad models promote DEF-NOPROD-N --stage production" in result.stderr
    assert evaluation_runs("DEF-NOPROD") == []
    unknown = cli("monitor", "run", "--model", "DEF-GHOST", "--data", str(data), "--target", "label")
    assert unknown.exit_code == 3 and unknown.stderr.startswith("Error: ")


def test_cli_monitor_run_errors_never_read_as_insufficient_data(tmp_path: Path) -> None:
    """Exit 0 fine, 1 degraded, 2 insufficient data, 3 could not evaluate: a cron job must not read a
    missing data file as "insufficient data" or as "degraded"."""
    [v] = new_model("EXIT")
    promote(v)
    result = cli("monitor", "run", "--model", "DEF-EXIT", "--data", str(tmp_path / "not-there.parquet"),
                 "--target", "label")
    assert "not-there.parquet" in result.output
    assert result.exit_code == 3, result.output


def test_cli_timeline_and_rule(tmp_path: Path) -> None:
    [v1, v2] = new_model("TL", versions=2)
    assert cli("monitor", "timeline", "--model", "DEF-TL").stdout.strip() == (
        "DEF-TL has no evaluations yet; record one with `naiad monitor run` or naiad.evaluate().")
    assert cli("monitor", "timeline", "--model", "DEF-TL", "--json").stdout == ""
    promote(v1)
    e1 = naiad.evaluate(v1, controlled(2000, 0.95, 30), "label", "served", dataset_role="oct", plots=False)
    e2 = naiad.evaluate(v1, controlled(2000, 0.80, 31), "label", "served", dataset_role="nov", plots=False)
    promote(v2)
    e3 = naiad.evaluate(v2, controlled(25, 0.92, 32), "label", "served", dataset_role="dec", plots=False)

    as_json = cli("monitor", "timeline", "--model", "DEF-TL", "--json")
    assert as_json.exit_code == 0
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    frame = naiad.fetch_evaluations("DEF-TL")
    assert [(r["run"], r["version"], r["production_then"], r["dataset_role"], r["n"], r["status"]) for r in rows] == [
        (e1.run, v1, v1, "oct", 2000, "ok"), (e2.run, v1, v1, "nov", 2000, "degraded"),
        (e3.run, v2, v2, "dec", 25, "insufficient data")]
    assert [r["reason"] for r in rows] == list(frame["reason"])
    assert [r["value"] for r in rows] == pytest.approx([0.95, 0.80, 0.92])
    assert [pd.Timestamp(r["time"]) for r in rows] == list(frame["time"])
    f1 = [json.loads(line) for line in cli("monitor", "timeline", "--model", "DEF-TL", "--metric", "f1",
                                           "--json").stdout.splitlines()]
    assert [r["metric"] for r in f1] == ["f1"] * 3
    assert [r["value"] for r in f1] == pytest.approx([e.metrics["f1"].value for e in (e1, e2, e3)])

    table = cli("monitor", "timeline", "--model", "DEF-TL")
    assert table.exit_code == 0
    text = table.stdout
    assert "DEF-TL — 3 evaluation(s), accuracy" in text
    header = next(line for line in text.splitlines() if "┃" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "time", "run", "version", "in production", "data", "rows", "value", "95% CI", "status"]
    cells = [[c.strip() for c in line.strip().strip("│").split("│")] for line in text.splitlines()
             if line.startswith("│")]
    expected = []
    for ev, status in ((e1, "ok"), (e2, "degraded"), (e3, "insufficient data")):
        acc = ev.metrics["accuracy"]
        when = pd.Timestamp(ev.created, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
        expected.append([when, ev.run, ev.model_version, ev.model_version, ev.dataset_role, str(ev.n),
                         f"{acc.value:.4g}", f"[{acc.low:.4g}, {acc.high:.4g}]", status])
    assert cells == expected

    # the rule: shown, then changed one option at a time; the others are kept
    shown = cli("monitor", "rule", "DEF-TL")
    assert shown.stdout.strip() == ("DEF-TL: metric accuracy (classifiers) / rmse (regressors), floor -, 3σ below "
                                    "the version’s first evaluation, at least 30 rows")
    assert cli("monitor", "rule", "DEF-TL", "--floor", "0.85").stdout.strip() == (
        "DEF-TL: metric accuracy (classifiers) / rmse (regressors), floor 0.85, 3σ below the version’s first "
        "evaluation, at least 30 rows")
    assert cli("monitor", "rule", "DEF-TL", "--metric", "f1").stdout.strip() == (
        "DEF-TL: metric f1, floor 0.85, 3σ below the version’s first evaluation, at least 30 rows")
    assert cli("monitor", "rule", "DEF-TL", "--sigmas", "2.5", "--min-rows", "20").stdout.strip() == (
        "DEF-TL: metric f1, floor 0.85, 2.5σ below the version’s first evaluation, at least 20 rows")
    assert cli("monitor", "rule", "DEF-TL", "--reference", "0.9").stdout.strip() == (
        "DEF-TL: metric f1, floor 0.85, 2.5σ below 0.9, at least 20 rows")
    assert naiad.get_degradation_rule("DEF-TL") == DegradationRule("f1", 0.85, 2.5, 0.9, 20)
    assert cli("monitor", "rule", "DEF-TL").stdout.strip() == (
        "DEF-TL: metric f1, floor 0.85, 2.5σ below 0.9, at least 20 rows")
    frame = naiad.fetch_evaluations("DEF-TL")
    assert list(frame["metric"]) == ["f1"] * 3
    assert list(frame["status"]) == ["ok", "degraded", "ok"]  # 25 rows ≥ 20: a verdict now
    assert list(frame["reason"]) == [f"f1 {e1.metrics['f1'].value:.4g} (reference 0.9, within 2.5σ)",
                                     f"f1 {e2.metrics['f1'].value:.4g} is below the floor 0.85",
                                     f"f1 {e3.metrics['f1'].value:.4g} (reference 0.9, within 2.5σ)"]
    bad = cli("monitor", "rule", "DEF-TL", "--sigmas", "0")
    assert bad.exit_code == 1 and "sigmas must be a positive number" in bad.output
    assert naiad.get_degradation_rule("DEF-TL") == DegradationRule("f1", 0.85, 2.5, 0.9, 20)
    assert cli("monitor", "rule", "DEF-TL-1").exit_code == 1


# ------------------------------------------------------------------------------------------ on a server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    with team_server(tmp_path_factory.mktemp("monitor-server")) as found:
        yield found


def test_monitoring_flow_on_a_server(server: TeamServer, binary: Task, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    naiad.store.forget_store(server.url)
    monkeypatch.setenv("NAIAD_URI", server.url)
    monkeypatch.setenv("NAIAD_API_TOKEN", server.token)
    v1, v2 = new_model("SRV", versions=2)
    promote(v1)
    df = binary.frame.copy()
    proba = binary.estimator.predict_proba(binary.x)
    df["prediction"] = proba.argmax(axis=1)
    df["size"] = np.where(df["mean radius"] > 14, "large", "small")

    ev = naiad.evaluate(v1, df, "label", proba, slices=["size"], dataset_role="holdout")
    assert_metrics(ev, sk_classification(binary.y, proba.argmax(axis=1), proba))
    assert ev.stage == "production"
    assert fields(ev.run, "eval/dataset_hash") == ev.dataset_hash
    assert sorted(run_structure(ev.run)["plots"]) == ["calibration", "confusion_matrix", "pr", "roc"]
    download(ev.run, "datasets/holdout", tmp_path / "back")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "back" / "data.parquet"), df)
    download(ev.run, "predictions", tmp_path / "p.parquet")
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == len(df)
    # the server's own store holds the run
    assert server.store.get_container(short_id=ev.run).kind == "run"

    again = naiad.evaluate(v1, df, "label", proba, slices=["size"], dataset_role="holdout")
    assert again.reused and again.run == ev.run
    assert {k: s["n"] for k, s in again.slices.items()} == {k: s["n"] for k, s in ev.slices.items()}
    assert evaluation_runs("DEF-SRV") == [ev.run]
    forced = naiad.evaluate(v1, df, "label", proba, force=True, plots=False)
    assert forced.run != ev.run

    promote(v2)
    worse = controlled(200, 0.5, 40)
    ev2 = naiad.evaluate(v2, controlled(2000, 0.95, 41), "label", "served", plots=False)
    assert ev2.stage == "production"
    naiad.set_degradation_rule("DEF-SRV", sigmas=3, min_rows=30)
    timeline = naiad.fetch_evaluations("DEF-SRV")
    assert list(timeline["run"]) == [ev.run, forced.run, ev2.run]
    assert list(timeline["production_then"]) == [v1, v1, v2]
    assert list(timeline["status"]) == ["ok", "ok", "ok"]

    # the CLI against the server: --uri and NAIAD_API_TOKEN
    uri = ["--uri", server.url]
    path = tmp_path / "worse.parquet"
    worse.to_parquet(path)
    result = cli("monitor", "run", "--model", "DEF-SRV", "--data", str(path), "--target", "label", "--predictions",
                 "served", *uri)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1].startswith("DEGRADED: accuracy 0.5 is below the reference 0.95 by 0.45, "
                                                      "more than 3σ (")
    fine = tmp_path / "fine"  # the frame evaluated above, written as naiad stores a DataFrame
    fine.mkdir()
    controlled(2000, 0.95, 41).to_parquet(fine / "data.parquet", index=False)
    reused = cli("monitor", "run", "--model", "DEF-SRV", "--data", str(fine), "--target", "label", "--predictions",
                 "served", "--json", *uri)
    assert reused.exit_code == 0, reused.output
    assert json.loads(reused.stdout)["run"] == ev2.run  # the DataFrame evaluated earlier, as a file: the same hash
    rows = [json.loads(line) for line in cli("monitor", "timeline", "--model", "DEF-SRV", "--json", *uri)
            .stdout.splitlines()]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "degraded"]
    assert cli("monitor", "rule", "DEF-SRV", "--floor", "0.9", *uri).exit_code == 0
    assert naiad.get_degradation_rule("DEF-SRV") == DegradationRule(None, 0.9, 3.0, None, 30)


def test_cli_feature_skew_counts_mismatching_rows_per_feature(tmp_path: Path) -> None:
    """The service's logged features against the training pipeline's, matched on the request id (rows in
    another order, one request only on one side, numbers within tolerance, a missing value on one side)."""
    served = pd.DataFrame({"request_id": [1, 2, 3, 4, 5], "age": [30.0, 41.0, 52.0, 63.0, 70.0],
                           "city": ["Oslo", "Rome", "Lima", "Pune", "Oslo"], "score": [0.5, 0.25, None, 1.0, 0.1]})
    recomputed = pd.DataFrame({"request_id": [4, 3, 2, 1, 9], "age": [63.0, 52.0, 41.0 + 1e-12, 31.0, 0.0],
                               "city": ["Pune", "Lima", "Roma", "Oslo", "Oslo"], "score": [1.0, None, 0.25, 0.7, 0.0]})
    served.to_parquet(tmp_path / "served.parquet")
    recomputed.to_csv(tmp_path / "recomputed.csv", index=False)
    result = cli("monitor", "feature-skew", str(tmp_path / "served.parquet"), str(tmp_path / "recomputed.csv"),
                 "--key", "request_id")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split()[:4] for line in lines[:3]] == [["age", "1", "of", "4"], ["city", "1", "of", "4"],
                                                       ["score", "1", "of", "4"]]
    assert lines[-1] == "feature skew: worst mismatch rate 25.00% (allowed 0.00%)"
    frame = naiad.feature_skew(served, recomputed, key="request_id", features=["age"], tolerance=1e-3)
    assert frame.to_dict("records") == [{"feature": "age", "rows": 4, "mismatches": 1, "mismatch_rate": 0.25}]
    allowed = cli("monitor", "feature-skew", str(tmp_path / "served.parquet"), str(tmp_path / "recomputed.csv"),
                  "--key", "request_id", "--max-rate", "0.3")
    assert allowed.exit_code == 0
