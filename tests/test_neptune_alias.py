"""``naiad.install_as_neptune()``: integration packages that import the neptune client themselves run
unchanged on naiad's embedded store (issue 20).  Each script runs in a fresh interpreter, where the real
client is installed too: after the call, ``import neptune`` is naiad."""

from __future__ import annotations

from pathlib import Path

import pytest

import naiad
from conftest import run_script
from naiad.neptune_compat.types import Namespace

EMBEDDED = """
import naiad
naiad.install_as_neptune()
import neptune, optuna, numpy as np, xgboost as xgb
import neptune_optuna as npt_utils                       # unchanged packages of the neptune ecosystem
from neptune.integrations.xgboost import NeptuneCallback
from neptune.handler import Handler
from neptune.types import File
import neptune.new
optuna.logging.set_verbosity(optuna.logging.WARNING)
print("SAME", neptune is naiad, neptune.new is naiad, neptune.handler.Handler is naiad.Handler, File is naiad.File)
run = neptune.init_run(project="acme/embedded", capture_hardware_metrics=False)
print("HANDLER", isinstance(run["x"], Handler))
study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=5,
               callbacks=[npt_utils.NeptuneCallback(run, log_plot_contour=False)])
rng = np.random.default_rng(0)
X = rng.normal(size=(100, 3)); y = (X[:, 0] > 0).astype(int)
data = xgb.DMatrix(X, label=y)
xgb.train({"objective": "binary:logistic", "max_depth": 2}, data, num_boost_round=3, evals=[(data, "train")],
          callbacks=[NeptuneCallback(run=run, log_tree=None)])
print("ID", run["sys/id"].fetch(), "BEST", study.best_value)
run.stop()
try:
    import neptune.integrations.not_a_package
except ImportError as exc:
    print("MISSING", exc)
"""


def test_unchanged_integrations_log_into_the_embedded_store(store_uri: str, tmp_path: Path) -> None:
    result = run_script(EMBEDDED, env={"NAIAD_URI": store_uri}, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    assert "SAME True True True True" in out and "HANDLER True" in out
    assert "pip install neptune-not-a-package" in out
    short_id = out.split("ID ", 1)[1].split()[0]
    best = float(out.split("BEST ", 1)[1].split()[0])
    run = naiad.init_run(with_id=short_id, project="acme/embedded", mode="read-only")
    assert run["best/value"].fetch() == best and len(run["trials/values"].fetch_values()) == 5
    assert run["visualizations/plot_optimization_history"].type == "File"
    loss = run["training/train/logloss"].fetch_values()
    assert loss["step"].tolist() == [0.0, 1.0, 2.0] and loss["value"].is_monotonic_decreasing
    assert run["training/pickled_model"].type == "File"


def test_a_wrong_type_overwrite_is_also_a_value_error() -> None:
    """neptune raises ValueError there; naiad's FieldTypeError is one too (and still a TypeError)."""
    run = naiad.init_run(project="acme/embedded")
    run["x"] = 1.5
    with pytest.raises(ValueError, match="'x'"):
        run["x"] = "text"
    run.stop()


def test_a_namespace_value_is_assigned_as_its_dict() -> None:
    run = naiad.init_run(project="acme/embedded")
    run["cfg"] = Namespace({"lr": 0.1, "opt": {"name": "adam"}})
    assert run["cfg/lr"].fetch() == 0.1 and run["cfg/opt/name"].fetch() == "adam"
    with pytest.warns(UserWarning, match="cannot name fields"):
        run["more"] = Namespace({"": 1, "kept": 2})
    assert run["more"].fetch() == {"kept": 2}
    with pytest.raises(naiad.exceptions.NeptuneUserApiInputException, match="dict"):
        Namespace([1, 2])
    run.stop()
