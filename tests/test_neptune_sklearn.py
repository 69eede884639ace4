"""neptune-sklearn and neptune-lightgbm, unchanged, log into a naiad server through the real client
(issue 20).  Both need scipy<1.12 (their plots come from scikit-plot, which imports ``scipy.interp``) and
so numpy 1.x: they cannot sit beside the test extra, so the test makes them a venv of their own from
requirements/neptune-sklearn.txt (hash-pinned; the client side only — naiad is the server here)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neptune_client import client_env, contributor_server
from services import TeamServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def old_scipy_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("neptune-sklearn") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-r",
                           str(ROOT / "requirements" / "neptune-sklearn.txt")], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"could not make the neptune-sklearn venv from the registry: {done.stderr[-2000:]}"
    return python


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    yield from contributor_server(tmp_path_factory, "neptune-sklearn-server")


SCRIPT = """
import neptune
import neptune.integrations.sklearn as npt_utils          # neptune-sklearn
import lightgbm as lgb
from neptune_lightgbm import NeptuneCallback, create_booster_summary
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

X, y = make_classification(n_samples=200, n_features=6, random_state=0)
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
run = neptune.init_run(capture_hardware_metrics=False, source_files=[], git_ref=False)
rfc = RandomForestClassifier(n_estimators=5, random_state=0).fit(Xtr, ytr)
run["rfc_summary"] = npt_utils.create_classifier_summary(rfc, Xtr, Xte, ytr, yte)
booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, lgb.Dataset(Xtr, ytr),
                    num_boost_round=5, valid_sets=[lgb.Dataset(Xte, yte)], valid_names=["valid"],
                    callbacks=[NeptuneCallback(run=run, base_namespace="lgbm")])
run["lgbm_summary"] = create_booster_summary(booster=booster, log_trees=False)  # trees need graphviz's dot
print("ID", run["sys/id"].fetch())
run.stop()
"""


def test_neptune_sklearn_and_lightgbm_log_their_summaries(old_scipy_python: Path, server: TeamServer,
                                                           tmp_path: Path) -> None:
    env = client_env(server, "nell", tmp_path) | {"MPLBACKEND": "Agg", "PYTHONPATH": ""}
    result = subprocess.run([str(old_scipy_python), "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    short_id = result.stdout.split("ID ", 1)[1].split()[0]
    info = server.store.get_container(short_id=short_id)
    fields = server.store.read_fields(info.uuid)
    assert fields["rfc_summary/all_params/n_estimators"].value == 5
    assert 0.5 < fields["rfc_summary/test/scores/class_0/precision"].value <= 1.0
    for chart in ("ROC_AUC", "confusion_matrix", "classification_report"):
        ref = fields[f"rfc_summary/diagnostics_charts/{chart}"]
        assert ref.type == "File" and server.store.blobs.size(ref.value["hash"]) > 1000
    assert fields["rfc_summary/pickled_model"].type == "File"
    assert fields["lgbm/params/num_leaves"].value == 4 and fields["lgbm/train_set/num_rows"].value == 150
    assert len(server.store.read_series(info.uuid, "lgbm/valid/binary_logloss").values) == 5
    assert fields["lgbm_summary/pickled_model"].type == "File"
    assert fields["source_code/integrations/neptune-lightgbm"].value == "2.0.0"
