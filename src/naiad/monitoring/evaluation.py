"""``naiad.evaluate``: evaluate a model version on a dataset and record it as an evaluation run.

>>> ev = evaluate(model_version="DEF-CLS-3", data="samples/2026-11.parquet", target="label",
...                     predictions="served_label", dataset_role="production-2026-11", slices=["region"])
>>> ev.metrics["accuracy"]
Metric(name='accuracy', value=0.912, low=0.897, high=0.926, level=0.95, method='percentile bootstrap …')

The evaluation run is linked to the model version (``eval/model_version``) and to the dataset
version (``datasets/<role>``, its content hash in ``eval/dataset_hash``); it holds every metric with its
confidence interval (``metrics/<m>``, ``ci/<m>/low|high|method``), per-slice metrics
(``slices/<column>=<value>/…``), plots (``plots/…``) and the per-example predictions as Parquet
(``predictions``), which later paired comparisons need.  The same version evaluated on the same
dataset hash again returns the stored result unless ``force=True``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from naiad.errors import ConfigError, FileError, InvalidValueError, MissingFieldError
from naiad.monitoring import metrics as M
from naiad.registry.model import init_model_version
from naiad.store.base import MODEL_VERSION, RUN, Store
from naiad.tracking.files import File
from naiad.tracking.run import init_run

if TYPE_CHECKING:
    import pandas as pd

TASKS = ("classification", "regression")
MAX_SLICE_VALUES = 50  # per slice column; the rest are left out (with a notice)


@dataclass
class Evaluation:
    """The result of :func:`evaluate` (or a stored one it returned)."""

    run: str
    model_version: str
    model: str
    dataset_hash: str
    dataset_role: str
    task: str
    n: int
    metrics: dict[str, M.Metric]
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage: str = "none"
    created: float = 0.0
    reused: bool = False
    drift: dict[str, Any] = field(default_factory=dict)  # drift/summary: verdict, share_drifted, columns_drifted…


# ------------------------------------------------------------------------------------------ inputs
def load_data(data: Any) -> tuple[pd.DataFrame, Path | None]:
    """A DataFrame, or a CSV / Parquet file or a folder of them; returns the frame and the path (if any)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), None
    if not isinstance(data, (str, os.PathLike)):
        raise InvalidValueError(f"data must be a pandas DataFrame or the path of a CSV/Parquet file or folder "
                                f"(was {type(data).__name__}).")
    path = Path(data)
    if not path.exists():
        raise FileError(f"data {os.fspath(path)!r}: no such file or folder.")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    frames = []
    for f in files:
        suffix = f.suffix.lower()
        if suffix in (".parquet", ".pq"):
            frames.append(pd.read_parquet(f))
        elif suffix in (".csv", ".tsv"):
            frames.append(pd.read_csv(f, sep="\t" if suffix == ".tsv" else ","))
        elif not path.is_dir():
            raise FileError(f"data {os.fspath(f)!r}: only .csv, .tsv and .parquet files can be read.")
    if not frames:
        raise FileError(f"data {os.fspath(path)!r}: no .csv or .parquet files in the folder.")
    return pd.concat(frames, ignore_index=True), path


def dataset_hash(path: Path) -> str:
    """The dataset version hash ``track_files`` records for ``path`` (the same manifest, the same hash)."""
    from naiad.store.sql import artifact_hash
    from naiad.tracking.files import local_manifest

    return artifact_hash(local_manifest(os.fspath(path), None))


def _predictions(predictions: Any, df: pd.DataFrame, target: str) -> Any:
    """The raw predictions: labels, scores or an n × k probability matrix."""
    if predictions is None:
        if "prediction" not in df.columns:
            raise InvalidValueError("no predictions: pass predictions= (a column name, a list of probability "
                                    "columns, an array, or a function of the features), or add a 'prediction' "
                                    "column to the data.")
        predictions = "prediction"
    if isinstance(predictions, str):
        if predictions not in df.columns:
            raise InvalidValueError(f"predictions={predictions!r} is not a column of the data (columns: "
                                    f"{', '.join(map(str, df.columns[:20]))}).")
        return df[predictions].to_numpy()
    if isinstance(predictions, (list, tuple)) and predictions and all(isinstance(c, str) for c in predictions):
        missing = [c for c in predictions if c not in df.columns]
        if missing:
            raise InvalidValueError(f"probability columns {missing} are not in the data.")
        return df[list(predictions)].to_numpy(dtype=float)
    if callable(predictions):
        return predictions(df.drop(columns=[target]))
    return np.asarray(predictions)


def _classes_and_codes(y_raw: np.ndarray, pred: np.ndarray, classes: Sequence[Any] | None
                       ) -> tuple[list[Any], np.ndarray, np.ndarray, np.ndarray | None]:
    """Class list, true and predicted class indices, and probabilities (n × k) if the model gave them."""
    pred = np.asarray(pred)
    proba = None
    if pred.ndim == 2:
        proba = pred.astype(float)
    elif pred.dtype.kind == "f" and len(pred) and np.nanmin(pred) >= 0 and np.nanmax(pred) <= 1 \
            and not np.isin(pred, (0.0, 1.0)).all() and len(np.unique(y_raw)) <= 2:
        proba = np.column_stack([1 - pred, pred])  # one score per row: the positive class' probability
    if classes is None:
        known = np.unique(y_raw) if proba is not None else np.unique(np.concatenate([y_raw, pred]))
        if proba is not None and len(known) != proba.shape[1]:
            if proba.shape[1] == 2 and len(known) == 1:
                known = np.unique(np.concatenate([known, [1 - known[0]] if known.dtype.kind in "iub" else known]))
            if len(known) != proba.shape[1]:
                raise InvalidValueError(f"the predictions have {proba.shape[1]} probability columns but the target "
                                        f"has {len(known)} classes; pass classes=[...] in column order.")
        classes = list(known.tolist())
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}

    def codes(values: np.ndarray, what: str) -> np.ndarray:
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values.tolist()):
            code = index.get(v)
            if code is None:
                raise InvalidValueError(f"{what} value {v!r} is not one of the classes {classes[:20]}.")
            out[i] = code
        return out

    y = codes(y_raw, "target")
    if proba is not None:
        if proba.shape != (len(y), len(classes)):
            raise InvalidValueError(f"probabilities have shape {proba.shape}; expected ({len(y)}, {len(classes)}).")
        return classes, y, proba.argmax(axis=1), proba
    return classes, y, codes(pred, "prediction"), None


def _infer_task(y: np.ndarray, raw: Any) -> str:
    """Regression for a non-integral float target, or for fractional predictions that are not
    probabilities (a regressor on a whole-number target: counts, prices in whole units…)."""
    if y.dtype.kind == "f" and not np.all(np.isclose(y[np.isfinite(y)], np.round(y[np.isfinite(y)]))):
        return "regression"
    pred = np.asarray(raw)
    if pred.ndim == 1 and pred.dtype.kind == "f" and len(pred):
        fractional = not np.all(np.isclose(pred, np.round(pred)))
        probabilities = bool(np.nanmin(pred) >= 0 and np.nanmax(pred) <= 1) and len(np.unique(y)) <= 2
        if fractional and not probabilities:
            return "regression"
    return "classification"


# ------------------------------------------------------------------------------------------ evaluate
def evaluate(
    model_version: str, data: Any, target: str, predictions: Any = None, *, task: str | None = None,
    slices: Sequence[str] | None = None, dataset_role: str = "evaluation", classes: Sequence[Any] | None = None,
    n_boot: int = 1000, level: float = 0.95, seed: int = 0, upload: bool = True, force: bool = False,
    plots: bool = True, name: str | None = None, min_rows: int = 1, drift: bool = True,
) -> Evaluation:
    """Evaluate ``model_version`` on ``data`` and record an evaluation run linked to both.

    ``predictions``: a column of ``data``, a list of probability columns (class order = ``classes``),
    an array (labels, or n × k probabilities), or a function called with the features (``data``
    without the target) returning either.  Default: the ``prediction`` column.
    ``task``: ``classification`` or ``regression`` (default: regression for a non-integral float target).
    ``slices``: columns whose values each get their own metrics.  ``upload``: store the dataset's bytes
    with its version (so the evaluation can be reproduced).  ``force``: evaluate again even if this
    version was already evaluated on this dataset hash from the same predictions (other predictions —
    another column, a fixed predict function — are always evaluated).  ``drift``: when the version has a
    training profile (``profiles/train``), test every shared column (the target too) for drift against it and the
    predictions against the version's first evaluation (:mod:`naiad.data.drift`; results in ``drift/…``).
    Each new evaluation also appends its metrics and column drift to series of the model version
    (``monitoring/<metric>``, ``monitoring/drift/<column>/<effect>``), stamped with its time.
    """

    if task is not None and task not in TASKS:
        raise InvalidValueError(f"task {task!r} is not one of {', '.join(TASKS)}.")
    if not 0 < level < 1:
        raise InvalidValueError(f"level must be between 0 and 1 (was {level}).")
    df, path = load_data(data)
    if target not in df.columns:
        raise InvalidValueError(f"target {target!r} is not a column of the data (columns: "
                                f"{', '.join(map(str, df.columns[:20]))}).")
    for col in slices or []:
        if col not in df.columns:
            raise InvalidValueError(f"slice column {col!r} is not in the data.")
    if len(df) < max(1, min_rows):
        raise InvalidValueError(f"{len(df)} rows is not enough data to evaluate on (at least {max(1, min_rows)}).")

    mv = init_model_version(with_id=model_version, mode="read-only")
    try:
        info = mv._info
        assert info is not None and mv._store is not None
        store: Store = mv._store
        values = store.read_fields(info.uuid, ["sys/model_id", "sys/stage"])
        model = str(values["sys/model_id"].value)
        stage = str(values["sys/stage"].value) if "sys/stage" in values else "none"
        reference = _training_profile(mv) if drift else None
    finally:
        mv.stop()
    if info.kind != MODEL_VERSION:
        raise InvalidValueError(f"{model_version} is not a model version.")

    with tempfile.TemporaryDirectory(prefix="naiad-eval-") as tmp:
        if path is None:  # a DataFrame: its version is the Parquet file it is stored as
            path = Path(tmp) / "data" / "data.parquet"
            path.parent.mkdir()
            _to_parquet(df, path)
            path = path.parent
        digest = dataset_hash(path)
        # a stored evaluation is reused only for the same predictions on the same data: other columns, other
        # arrays or another predict function (a fixed bug) are evaluated again.  Predictions are read (a
        # predict function run) to know that; the metrics, intervals and plots are what reuse saves.
        raw = _predictions(predictions, df, target)
        fingerprint = predictions_hash(raw)
        if not force:
            found = stored_evaluation(store, info.project, model_version, digest, fingerprint)
            if found is not None:
                return found
        y_raw = df[target].to_numpy()
        task = task or _infer_task(np.asarray(y_raw), raw)
        result = _compute(task, y_raw, raw, classes, df, slices or [], n_boot, level, seed)
        if drift:
            result.drift = _drift(store, info.project, model_version, reference, df, result)
        return _record(info.project, model, model_version, stage, digest, dataset_role, path, upload, df,
                       target, task, result, plots, name, n_boot, level, seed, Path(tmp), fingerprint)


def predictions_hash(raw: Any) -> str:
    """SHA-256 of predictions (labels, scores or n × k probabilities), by value: what a stored evaluation
    is keyed on besides the dataset."""
    array = np.asarray(raw)
    digest = hashlib.sha256(f"{array.shape}|".encode())
    if array.dtype.kind in "biuf":
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    else:
        digest.update(json.dumps([str(v) for v in array.ravel().tolist()]).encode())
    return digest.hexdigest()


@dataclass
class _Computed:
    metrics: dict[str, M.Metric]
    slices: dict[str, dict[str, Any]]
    frame: pd.DataFrame  # per-example predictions
    classes: list[Any] | None
    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None
    drift: _Drift | None = None


@dataclass
class _Drift:
    data_profile: Any  # Profile of the evaluation data
    predictions_profile: Any
    columns: Any = None  # DriftReport of the data against the training profile
    predictions: Any = None  # DriftReport of the predictions against the version's first evaluation


def _training_profile(mv: Any) -> Any:
    from naiad.registry.profiles import read_stored

    if not mv.exists("profiles/train"):
        return None
    try:
        return read_stored(mv, "train")
    except ConfigError:  # no datasketches: drift is skipped, the metrics are not
        return None


def _drift(store: Store, project: str, version: str, reference: Any, df: pd.DataFrame,
           result: _Computed) -> _Drift | None:
    from naiad.data.drift import compare
    from naiad.data.profile import profile
    from naiad.registry.skew import read_profile

    try:
        current = profile(df)
        predicted = result.frame[["prediction"]]
        if result.classes is not None:  # class labels are categories, whatever their type
            predicted = predicted.astype(str)
        preds = profile(predicted)
    except ConfigError as exc:
        from naiad.core.fields import warn_once

        warn_once(f"drift was not measured: {exc}")
        return None
    out = _Drift(current, preds)
    if reference is not None:
        out.columns = compare(reference, current)
    first = store.query_table(project, RUN, query=f'`eval/model_version`:string = "{version}" AND '
                              '`sys/trashed`:bool = false', columns=["sys/id"], sort_by="sys/creation_time",
                              ascending=True, limit=1)
    if first.ids:  # the predictions against those of the version's first evaluation
        try:
            out.predictions = compare(read_profile(first.ids[0], "predictions"), preds)
        except MissingFieldError:  # an evaluation made without drift has no predictions profile
            out.predictions = None
    return out


def _metrics_for(task: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, k: int, n_boot: int,
                 level: float, seed: int) -> dict[str, M.Metric]:
    if task == "classification":
        return M.classification(y, pred, proba, k, n_boot=n_boot, level=level, seed=seed)
    return M.regression(y.astype(float), pred.astype(float), n_boot=n_boot, level=level, seed=seed)


def _compute(task: str, y_raw: np.ndarray, raw: Any, classes: Sequence[Any] | None, df: pd.DataFrame,
             slices: Sequence[str], n_boot: int, level: float, seed: int) -> _Computed:
    import pandas as pd

    raw = np.asarray(raw)
    if len(raw) != len(y_raw):
        raise InvalidValueError(f"{len(raw)} predictions for {len(y_raw)} rows.")
    if pd.isna(y_raw).any() or (raw.dtype.kind in "fO" and pd.isna(raw).any()):
        raise InvalidValueError("the target and the predictions must not contain NaN or infinity (missing "
                                "values); drop or fill those rows first.")
    frame = pd.DataFrame({"row": np.arange(len(y_raw)), "target": y_raw})
    if task == "classification":
        class_list, y, pred, proba = _classes_and_codes(np.asarray(y_raw), raw, classes)
        frame["prediction"] = np.asarray(class_list, dtype=object)[pred] if class_list else pred
        frame["correct"] = y == pred
        if proba is not None:
            for i, c in enumerate(class_list):
                frame[f"proba_{c}"] = proba[:, i]
        k = len(class_list)
    else:
        class_list, proba, k = None, None, 0
        y = np.asarray(y_raw, dtype=float)
        pred = raw.astype(float)
        if pred.ndim != 1:
            raise InvalidValueError("regression predictions must be one number per row.")
        frame["prediction"] = pred
        frame["error"] = pred - y
    if not np.all(np.isfinite(y.astype(float))) or (task == "regression" and not np.all(np.isfinite(pred))):
        raise InvalidValueError("the target and the predictions must not contain NaN or infinity; drop or fill "
                                "those rows first.")
    metrics = _metrics_for(task, y, pred, proba, k, n_boot, level, seed)
    sliced: dict[str, dict[str, Any]] = {}
    for col in slices:
        values = df[col]
        frame[col] = values.to_numpy()
        counts = values.value_counts(dropna=False)
        if len(counts) > MAX_SLICE_VALUES:
            from naiad.core.fields import warn_once

            warn_once(f"slice column {col!r} has {len(counts)} values; metrics are kept for the "
                      f"{MAX_SLICE_VALUES} most frequent.")
        for value in counts.index[:MAX_SLICE_VALUES]:
            mask = (values.isna() if pd.isna(value) else values == value).to_numpy()
            sub = _metrics_for(task, y[mask], pred[mask], None if proba is None else proba[mask], k,
                               n_boot, level, seed)
            label = "missing" if pd.isna(value) else str(value).replace("/", "_")
            sliced[f"{col}={label}"] = {"n": int(mask.sum()), "metrics": sub}
    return _Computed(metrics, sliced, frame, class_list, y, pred, proba)


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    try:
        frame.to_parquet(path, index=False)
    except ImportError:
        raise ConfigError("storing evaluation data and predictions needs pyarrow: pip install \"naiad[monitor]\"") \
            from None


def _record(project: str, model: str, version: str, stage: str, digest: str, role: str, path: Path,
            upload: bool, df: pd.DataFrame, target: str, task: str, result: _Computed, plots: bool,
            name: str | None, n_boot: int, level: float, seed: int, tmp: Path, fingerprint: str) -> Evaluation:
    run = init_run(project=project, name=name or f"evaluation of {version} on {role}",
                         tags=["evaluation", role], capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False, source_files=[])
    try:
        run["eval"] = {"model": model, "model_version": version, "stage": stage, "task": task, "target": target,
                       "n_rows": len(df), "dataset_hash": digest, "dataset_role": role, "level": level,
                       "n_boot": n_boot, "seed": seed, "predictions_hash": fingerprint}
        if result.classes is not None:
            run["eval/classes"] = json.dumps([str(c) for c in result.classes])
        _write_metrics(run, "", result.metrics)
        for label, sl in result.slices.items():
            run[f"slices/{label}/n"] = sl["n"]
            _write_metrics(run, f"slices/{label}/", sl["metrics"])
        run[f"datasets/{role}"].track_files(os.fspath(path), upload=upload)
        pred_path = tmp / "predictions.parquet"
        _to_parquet(result.frame, pred_path)
        run["predictions"].upload(os.fspath(pred_path))
        if result.drift is not None:
            _write_drift(run, result.drift)
        if plots:
            from naiad.monitoring.plots import evaluation_plots

            for key, figure in evaluation_plots(task, result.y, result.pred, result.proba, result.classes):
                run[f"plots/{key}"].upload(File.from_content(figure, extension="png"))
        run.wait()
        run_id = str(run["sys/id"].fetch())
        created = run["sys/creation_time"].fetch().timestamp()
    finally:
        run.stop()
    _append_series(version, result, created)
    summary: dict[str, Any] = {}
    if result.drift is not None and result.drift.columns is not None:
        report = result.drift.columns
        summary = {"verdict": report.verdict, "share_drifted": report.share_drifted,
                   "columns_drifted": len(report.drifted), "columns_tested": len(report.tested),
                   "drifted": [c.column for c in report.drifted]}
    return Evaluation(run_id, version, model, digest, role, task, len(df), result.metrics, result.slices, stage,
                      created, False, summary)


def _append_series(version: str, result: _Computed, at: float) -> None:
    """The evaluation as points of series on the model version — ``monitoring/<metric>`` and
    ``monitoring/drift/<column>/<effect>`` — so the version's page charts them over time like any metric."""
    from naiad.errors import NaiadError

    try:
        with init_model_version(with_id=version) as mv:
            for name, m in result.metrics.items():
                if math.isfinite(m.value):
                    mv[f"monitoring/{name}"].append(m.value, timestamp=at)
            report = result.drift.columns if result.drift is not None else None
            if report is not None:
                mv["monitoring/drift/share_drifted"].append(report.share_drifted, timestamp=at)
                for c in report.columns:
                    if math.isfinite(c.effect_size) and c.test != "type":
                        mv[f"monitoring/drift/{c.column.replace('/', '_')}/{c.effect}"].append(c.effect_size,
                                                                                              timestamp=at)
    except NaiadError as exc:  # the evaluation run holds everything; the series are a view of it
        from naiad.core.fields import warn_once

        warn_once(f"{version}: the evaluation was recorded, but its series on the version were not ({exc}).")


def _write_drift(run: Any, found: _Drift) -> None:
    for role, prof in (("data", found.data_profile), ("predictions", found.predictions_profile)):
        run[f"profiles/{role}"].upload(File.from_content(json.dumps(prof.to_json()), extension="json"))
    for prefix, report in (("drift", found.columns), ("drift/predictions", found.predictions)):
        if report is None:
            continue
        run[f"{prefix}/summary"] = {"verdict": report.verdict, "share_drifted": report.share_drifted,
                                    "columns_drifted": len(report.drifted), "columns_tested": len(report.tested),
                                    "alpha": report.alpha, "share": report.share}
        for c in report.columns:
            key = f"{prefix}/columns/{c.column.replace('/', '_')}"
            run[key] = {"test": c.test, "effect": c.effect, "verdict": c.verdict, "n_reference": c.n_reference,
                        "n_current": c.n_current}
            for name, value in (("statistic", c.statistic), ("p_value", c.p_value), ("p_adjusted", c.p_adjusted),
                                ("effect_size", c.effect_size), ("floor", c.floor)):
                if math.isfinite(value):
                    run[f"{key}/{name}"] = float(value)
            if c.conventions:
                run[f"{key}/convention"] = "; ".join(f"{k}: {v}" for k, v in c.conventions.items())


def _write_metrics(run: Any, prefix: str, metrics: dict[str, M.Metric]) -> None:
    for name, m in metrics.items():
        if not math.isfinite(m.value):
            continue
        run[f"{prefix}metrics/{name}"] = m.value
        if math.isfinite(m.low) and math.isfinite(m.high):
            run[f"{prefix}ci/{name}/low"] = m.low
            run[f"{prefix}ci/{name}/high"] = m.high
        if not prefix:
            run[f"ci/{name}/method"] = m.method


# ------------------------------------------------------------------------------------------ stored results
EVAL_COLUMNS = ["eval", "metrics", "ci", "slices", "drift/summary", "sys/creation_time"]


def stored_evaluation(store: Store, project: str, version: str, digest: str,
                      predictions: str | None = None) -> Evaluation | None:
    """The newest evaluation of ``version`` on dataset ``digest`` (and, given, of predictions whose
    :func:`predictions_hash` is ``predictions``), if there is one."""
    query = (f'`eval/model_version`:string = "{version}" AND `eval/dataset_hash`:string = "{digest}" AND '
             '`sys/trashed`:bool = false')
    if predictions is not None:
        query += f' AND `eval/predictions_hash`:string = "{predictions}"'
    table = store.query_table(project, RUN, query=query, columns=EVAL_COLUMNS, limit=1)
    if not table.ids:
        return None
    return evaluation_from_row(table.ids[0], {p: fv.value for p, fv in table.rows[0].items()}, reused=True)


def evaluation_from_row(run_id: str, row: dict[str, Any], *, reused: bool = False) -> Evaluation:
    """An :class:`Evaluation` from the fields of an evaluation run (a runs-table row: path → value)."""
    level = float(row.get("eval/level") or 0.95)
    metrics = {}
    for path, value in row.items():
        if path.startswith("metrics/") and isinstance(value, (int, float)):
            metric = path[len("metrics/"):]
            metrics[metric] = M.Metric(metric, float(value), float(row.get(f"ci/{metric}/low", math.nan)),
                                       float(row.get(f"ci/{metric}/high", math.nan)), level,
                                       str(row.get(f"ci/{metric}/method", "")))
    slices: dict[str, dict[str, Any]] = {}
    for path, value in row.items():
        if path.startswith("slices/") and path.endswith("/n"):
            label = path[len("slices/"):-len("/n")]
            prefix = f"slices/{label}/"
            sub = {}
            for p, v in row.items():
                if p.startswith(prefix + "metrics/"):
                    metric = p[len(prefix + "metrics/"):]
                    sub[metric] = M.Metric(metric, float(v), float(row.get(f"{prefix}ci/{metric}/low", math.nan)),
                                           float(row.get(f"{prefix}ci/{metric}/high", math.nan)), level, "")
            slices[label] = {"n": int(value), "metrics": sub}
    created = row.get("sys/creation_time")
    created_ts = created if isinstance(created, (int, float)) else (created.timestamp() if created else 0.0)
    drift = {p[len("drift/summary/"):]: v for p, v in row.items() if p.startswith("drift/summary/")}
    return Evaluation(run_id, str(row.get("eval/model_version")), str(row.get("eval/model")),
                      str(row.get("eval/dataset_hash")), str(row.get("eval/dataset_role")), str(row.get("eval/task")),
                      int(row.get("eval/n_rows") or 0), metrics, slices, str(row.get("eval/stage") or "none"),
                      float(created_ts), reused, drift)

