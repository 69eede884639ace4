"""A year of MLOps level 1 on real weather: monitor, retrain, gate, promote — one command.

    pip install "naiad[examples]"
    python examples/pipeline/pipeline.py                 # 12 months from 2012-04, into ./.naiad
    python examples/pipeline/pipeline.py --months 4 --start 2012-05 --project weather

The data is Seattle's daily weather 2012–2015 (the ``vega_datasets`` package ships it); the model says
whether it will rain tomorrow from today's precipitation, temperatures and wind.  Seattle's rain is
seasonal — it rains on two days in three in winter and one in ten in July — so a model trained on one
season degrades in the next: real drift, not a simulation.

Every month: the month's labelled data arrives and is tracked as a dataset version; the production model
is evaluated on it (metrics with intervals, drift against its training data) and judged by the model's
degradation rule.  When it has degraded or the data drifted, a model is retrained on the three months
before, registered with its training data, gated against production on this month (the spec is
``gate.yaml`` beside this file) and promoted when the gate passes.  Everything lands in the store: runs,
dataset versions, model versions with their stage history, evaluations, gate decisions.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import naiad

HERE = Path(__file__).resolve().parent
FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]
TARGET = "rain_tomorrow"
MODEL_KEY = "RAIN"
WINDOW = 3  # months of data a model is trained on


def load_weather() -> pd.DataFrame:
    """Daily weather with the label: did it rain (any precipitation) the next day."""
    from vega_datasets import data

    df = data.seattle_weather()
    df[TARGET] = (df["precipitation"].shift(-1) > 0).astype(int)
    df = df.iloc[:-1].copy()
    df["month"] = df["date"].dt.strftime("%Y-%m")
    return df


def _months_before(months: list[str], month: str, n: int) -> list[str]:
    i = months.index(month)
    return months[max(0, i - n):i]


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame[[*FEATURES, TARGET]].to_csv(path, index=False)
    return path


def train(project: str, model_id: str, df: pd.DataFrame, months: list[str], work: Path) -> str:
    """Fit on ``months``, log the run with its dataset version, register a version; returns its id."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = df[df["month"].isin(months)]
    data_file = _write(rows, work / "data" / f"train-{months[0]}-to-{months[-1]}" / "train.csv")
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=1.0)).fit(rows[FEATURES], rows[TARGET])
    with naiad.init_run(project=project, name=f"train {months[0]}..{months[-1]}", tags=["pipeline", "train"],
                        capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                        source_files=[]) as run:
        run["parameters"] = {"model": "logistic regression", "C": 1.0, "features": ",".join(FEATURES),
                             "months": ",".join(months)}
        run["datasets/train"].track_files(str(data_file.parent), upload=True)
        run["train/accuracy"] = float(estimator.score(rows[FEATURES], rows[TARGET]))
        run["train/rows"] = len(rows)
        run["model/weights"].upload(naiad.File.from_content(pickle.dumps(estimator), extension="pkl"))
    mv = naiad.register_model_version(run, model=model_id, weights="model/weights",
                                      inference=[str(HERE / "predict.py")], metrics=["train/accuracy"],
                                      training_data=str(data_file))
    version = str(mv["sys/id"].fetch())
    mv.stop()
    return version


class Models:
    """Estimators loaded from the store by version id — what a service would do, cached."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def get(self, version: str) -> Any:
        if version not in self._loaded:
            with tempfile.TemporaryDirectory(prefix="naiad-pipeline-") as tmp:
                mv = naiad.init_model_version(with_id=version, mode="read-only")
                try:
                    target = os.path.join(tmp, "weights.pkl")
                    mv["weights"].download(target)
                finally:
                    mv.stop()
                with open(target, "rb") as fh:
                    self._loaded[version] = pickle.load(fh)
        return self._loaded[version]

    def predict(self, features: pd.DataFrame, version: str) -> np.ndarray:
        return np.asarray(self.get(version).predict_proba(features[FEATURES]))


@dataclass
class Month:
    month: str
    production: str
    rows: int
    accuracy: float
    status: str
    drift: str
    action: str = ""
    gate: str | None = None
    promoted: str | None = None


@dataclass
class Report:
    model: str
    months: list[Month] = field(default_factory=list)


def run_pipeline(project: str = "weather", start: str = "2012-04", months: int = 12,
                 work: Path | None = None, out: Any = sys.stdout) -> Report:
    from naiad.gate.promote import run_gate
    from naiad.gate.spec import load_spec
    from naiad.monitoring.monitor import get_degradation_rule, judge, list_evaluations

    df = load_weather()
    all_months = sorted(df["month"].unique())
    if start not in all_months or all_months.index(start) < WINDOW:
        raise SystemExit(f"start must be a month from {all_months[WINDOW]} to {all_months[-1]}")
    run_months = all_months[all_months.index(start):all_months.index(start) + months]
    work = work or Path(tempfile.mkdtemp(prefix="naiad-pipeline-"))
    spec, spec_text = load_spec(HERE / "gate.yaml")
    models = Models()

    try:
        naiad.init_model(key=MODEL_KEY, name="rain tomorrow", project=project).stop()
    except naiad.exceptions.NeptuneModelKeyAlreadyExistsError:
        pass
    key = naiad.init_project(project=project, mode="read-only").key
    model_id = f"{key}-{MODEL_KEY}"
    naiad.set_degradation_rule(model_id, metric="accuracy", floor=0.6, sigmas=2.0, min_rows=20)
    report = Report(model_id)

    with naiad.init_model(with_id=model_id, mode="read-only") as model:
        production = model.version(stage="production")
    if production is None:  # the first model: trained on the months before the start, promoted as it is
        production = train(project, model_id, df, _months_before(all_months, start, WINDOW), work)
        with naiad.init_model_version(with_id=production) as mv:
            mv.change_stage("production", reason="the first model of the pipeline")
        print(f"{production}: trained on {', '.join(_months_before(all_months, start, WINDOW))}, in production",
              file=out)

    store, _ = naiad.tracking.container.store_for("read-only")
    for month in run_months:
        batch = df[df["month"] == month]
        batch_dir = _write(batch, work / "data" / f"month-{month}" / "batch.csv").parent
        version = production

        def served(features: pd.DataFrame, v: str = version) -> np.ndarray:
            return models.predict(features, v)

        ev = naiad.evaluate(version, str(batch_dir), TARGET, served, dataset_role=f"production-{month}",
                            classes=[0, 1])
        first = [e for e in list_evaluations(store, naiad.init_project(project=project, mode="read-only").name,
                                             model_id) if e.model_version == version]
        verdict = judge(ev, get_degradation_rule(model_id), first[0] if first else None)
        entry = Month(month, version, ev.n, ev.metrics["accuracy"].value, verdict.status,
                      ev.drift.get("verdict", "not measured"))
        if verdict.status == "degraded" or entry.drift == "drift":
            candidate = train(project, model_id, df, _months_before(all_months, month, WINDOW), work)
            result = run_gate(model_id, candidate, version, str(batch_dir), TARGET, spec, spec_text=spec_text,
                              predictions=models.predict, dataset_role=f"production-{month}",
                              promote="production")
            entry.action = f"retrained {candidate}, gate {result.verdict}"
            entry.gate = result.run
            if result.promoted:
                entry.promoted = candidate
                production = candidate
        report.months.append(entry)
        print(f"{month}  {version:<12} {ev.n:>3} rows  accuracy {entry.accuracy:.2f}  {entry.status:<17} "
              f"drift: {entry.drift:<14} {entry.action}", file=out)
    print(f"\n{model_id} in production now: {production}.  Look at it:", file=out)
    print(f"  naiad monitor timeline --model {model_id}\n  naiad models history {model_id}\n"
          f"  naiad monitor drift --model {model_id}", file=out)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default="weather")
    parser.add_argument("--start", default="2012-04", help="the first month monitored (YYYY-MM)")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--work", type=Path, help="folder for the monthly data files (default: a temporary one)")
    args = parser.parse_args(argv)
    run_pipeline(args.project, args.start, args.months, args.work)


if __name__ == "__main__":
    main()
