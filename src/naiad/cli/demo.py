"""``naiad demo``: a real, small training job tracked with naiad.

Trains scikit-learn's ``SGDClassifier`` on the handwritten digits shipped with scikit-learn, under
several hyper-parameter configurations, one run each: parameters, per-epoch loss and accuracy,
the dataset version (``track_files``), the confusion matrix as an image, and the model weights.
Needs the ``demo`` extra: ``pip install "naiad[demo]"``.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

import naiad
from naiad.errors import ConfigError

CONFIGS: list[dict[str, Any]] = [
    {"alpha": 1e-4, "eta0": 0.01, "learning_rate": "constant"},
    {"alpha": 1e-3, "eta0": 0.05, "learning_rate": "constant"},
    {"alpha": 1e-5, "eta0": 0.1, "learning_rate": "invscaling"},
    {"alpha": 1e-2, "eta0": 0.01, "learning_rate": "adaptive"},
    {"alpha": 3e-4, "eta0": 0.02, "learning_rate": "optimal"},
    {"alpha": 1e-3, "eta0": 0.2, "learning_rate": "invscaling"},
]


def _write_dataset(folder: str, X: np.ndarray, y: np.ndarray, split: np.ndarray) -> None:
    os.makedirs(folder, exist_ok=True)
    for name, mask in (("train", split), ("validation", ~split)):
        data = np.column_stack([X[mask], y[mask]])
        np.savetxt(os.path.join(folder, f"{name}.csv"), data, delimiter=",", fmt="%g",
                   header=",".join([f"px{i}" for i in range(X.shape[1])] + ["label"]), comments="")


def run_demo(project: str = "demo", epochs: int = 15, configs: int = 4, console: Any = None) -> list[str]:
    """Train ``configs`` configurations for ``epochs`` epochs each; return the run ids."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.datasets import load_digits
        from sklearn.linear_model import SGDClassifier
        from sklearn.metrics import accuracy_score, confusion_matrix, log_loss
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:
        raise ConfigError(f"the demo needs scikit-learn and matplotlib ({exc.name} is missing): "
                          "pip install \"naiad[demo]\"") from None

    def say(text: str) -> None:
        if console is not None:
            console.print(text, soft_wrap=True)

    digits = load_digits()
    X = StandardScaler().fit_transform(digits.data)
    y = digits.target
    rng = np.random.default_rng(0)
    split = rng.random(len(y)) < 0.8
    X_train, y_train, X_val, y_val = X[split], y[split], X[~split], y[~split]
    data_dir = os.path.join("naiad-demo-data", "digits")
    _write_dataset(data_dir, X, y, split)
    classes = np.unique(y)
    ids: list[str] = []
    for idx, cfg in enumerate(CONFIGS[: max(1, configs)]):
        params: dict[str, Any] = {"model": "SGDClassifier", "loss": "log_loss", "epochs": epochs, "batch_size": 64,
                  "seed": idx, **cfg}
        with naiad.init_run(project=project, name=f"sgd-{cfg['learning_rate']}-{idx}",
                            tags=["demo", "digits", str(cfg["learning_rate"])],
                            description="SGD logistic regression on the digits data",
                            dependencies="infer") as run:
            run["parameters"] = params
            run["data/train"].track_files(data_dir)
            model = SGDClassifier(loss="log_loss", alpha=cfg["alpha"], eta0=cfg["eta0"],
                                  learning_rate=cfg["learning_rate"], random_state=idx)
            order = np.random.default_rng(idx)
            best = 0.0
            for epoch in range(epochs):
                perm = order.permutation(len(y_train))
                for start in range(0, len(perm), params["batch_size"]):
                    batch = perm[start : start + params["batch_size"]]
                    model.partial_fit(X_train[batch], y_train[batch], classes=classes)
                    run["train/batch/loss"].append(
                        float(log_loss(y_train[batch], model.predict_proba(X_train[batch]), labels=classes)))
                train_acc = accuracy_score(y_train, model.predict(X_train))
                val_acc = accuracy_score(y_val, model.predict(X_val))
                run["train/loss"].append(float(log_loss(y_train, model.predict_proba(X_train))), step=epoch)
                run["train/acc"].append(float(train_acc), step=epoch)
                run["val/acc"].append(float(val_acc), step=epoch)
                best = max(best, float(val_acc))
            run["val/best_acc"] = best
            fig, ax = plt.subplots(figsize=(4, 4))
            ax.imshow(confusion_matrix(y_val, model.predict(X_val)), cmap="Blues")
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{run['sys/name'].fetch()} confusion matrix")
            run["eval/confusion_matrix"].upload(fig)
            plt.close(fig)
            run["model/weights"].upload(naiad.File.from_content(pickle.dumps(model), extension="pkl"))
            ids.append(run["sys/id"].fetch())
            say(f"  {ids[-1]}  {params['learning_rate']:<10} alpha={cfg['alpha']:<7g} val/acc={val_acc:.3f}")
    version = _register_best(project, data_dir, ids)
    say(f"  {version} registered from the best run and promoted to production")
    evaluation = _evaluate(version, data_dir)
    if evaluation is not None:
        m = evaluation.metrics["accuracy"]
        say(f"  {evaluation.run}  evaluation of {version} on the validation split: accuracy {m.value:.3f} "
            f"(95% CI {m.low:.3f}–{m.high:.3f}), drift: {evaluation.drift.get('verdict', 'not measured')}")
    say("")
    say(f"Tracked {len(ids)} runs into [bold]{naiad.config.SETTINGS.uri.get()}[/bold] (project {project!r}).")
    say("Look at them:")
    say(f"  naiad ui                      (the web UI: runs table, charts, compare — /p/{project}/runs)")
    say(f"  naiad runs ls --project {project} --columns val/acc,parameters/learning_rate "
        "--sort-by val/best_acc")
    say(f"  naiad runs ls --project {project} --query 'last(val/acc) > 0.9'")
    say(f"  naiad runs show {ids[0]}")
    model_id = version.rsplit("-", 1)[0]
    say(f"  naiad models show {model_id}            (versions, stages, the runs that trained them)")
    say(f"  naiad models download {model_id} ./serve  (weights + inference code, hash-checked)")
    say(f"  naiad monitor timeline --model {model_id}   (evaluations over time, judged by the model's rule)")
    say(f"or in Python: naiad.init_project(project={project!r}, mode='read-only')"
        ".fetch_runs_table().to_pandas()")
    return ids


_PREDICT = """\
\"\"\"Serve the digits classifier: python inference/predict.py weights/weights.pkl < rows.csv\"\"\"
import pickle
import sys

import numpy as np

model = pickle.load(open(sys.argv[1], "rb"))
rows = np.loadtxt(sys.stdin, delimiter=",", ndmin=2)
print("\\n".join(str(int(p)) for p in model.predict(rows)))
"""


def _has_sketches() -> bool:
    try:
        import datasketches  # noqa: F401
    except ImportError:
        return False
    return True


def _register_best(project: str, data_dir: str, ids: list[str]) -> str:
    """Register the run with the best validation accuracy as a new version of the DIGITS model and
    promote it to production (the version there before is archived); returns the version id."""
    from naiad.errors import ModelKeyTakenError

    table = naiad.init_project(project=project, mode="read-only").fetch_runs_table(
        id=ids, columns=["val/best_acc"], sort_by="val/best_acc", limit=1)
    best = next(iter(table)).id
    try:
        model = naiad.init_model(key="DIGITS", name="digits classifier", project=project)
    except ModelKeyTakenError:  # the demo ran before: add a version to the same model
        key = naiad.init_project(project=project, mode="read-only").key
        model = naiad.init_model(with_id=f"{key}-DIGITS", project=project)
    serve = os.path.join(os.path.dirname(data_dir), "serve")
    os.makedirs(serve, exist_ok=True)
    with open(os.path.join(serve, "predict.py"), "w") as fh:
        fh.write(_PREDICT)
    with naiad.register_model_version(best, model=model["sys/id"].fetch(), weights="model/weights",
                                      inference=[os.path.join(serve, "predict.py")], metrics=["val/best_acc"],
                                      training_data=os.path.join(data_dir, "train.csv")
                                      if _has_sketches() else None) as mv:
        mv.change_stage("production", reason=f"best val/acc of the demo runs ({best})")
        version = str(mv["sys/id"].fetch())
    model.stop()
    return version


def _evaluate(version: str, data_dir: str) -> Any:
    """Evaluate the production version on the validation split, as the test team would each month."""
    import pandas as pd

    from naiad.registry.model import ModelVersion

    try:
        import pyarrow  # noqa: F401  (the evaluation stores its data and predictions as Parquet)
    except ImportError:
        return None
    validation = pd.read_csv(os.path.join(data_dir, "validation.csv"))
    mv = ModelVersion(with_id=version, mode="read-only")
    try:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="naiad-demo-") as tmp:
            weights = os.path.join(tmp, "weights.pkl")
            mv["weights"].download(weights)
            with open(weights, "rb") as fh:
                model = pickle.load(fh)
    finally:
        mv.stop()
    return naiad.evaluate(version, validation, target="label",
                          predictions=lambda features: model.predict_proba(features.to_numpy()),
                          classes=list(range(10)), dataset_role="validation")
