"""`naiad import mlflow`: a tracking store made by the real mlflow client (SQLite backend)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import naiad
from naiad.importers.mlflow import import_mlflow
from naiad.store import open_store

mlflow = pytest.importorskip("mlflow")


def make_store(folder: Path) -> str:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with warnings.catch_warnings():  # mlflow's own deprecation warnings are not ours
        warnings.simplefilter("ignore")
        client = mlflow.tracking.MlflowClient(tracking_uri=uri)
        exp = client.create_experiment("defects", artifact_location=str(folder / "artifacts"))
        good = client.create_run(exp, run_name="resnet", tags={"team": "cv", "mlflow.note.content": "baseline"})
        rid = good.info.run_id
        client.log_param(rid, "lr", "0.001")
        client.log_param(rid, "optimizer", "adam")
        client.log_param(rid, "epochs", "30")
        client.log_param(rid, "wd", "1e-4")
        for step in range(5):
            client.log_metric(rid, "loss", 1.0 / (step + 1), timestamp=1_700_000_000_000 + step * 1000, step=step)
        client.log_metric(rid, "loss", 0.19, timestamp=1_700_000_009_000, step=4)  # again at step 4
        client.log_metric(rid, "acc", 0.9, step=0)
        (folder / "model.txt").write_text("weights")
        (folder / "plots").mkdir()
        (folder / "plots" / "roc.png").write_bytes(b"\x89PNG roc")
        client.log_artifact(rid, str(folder / "model.txt"))
        client.log_artifacts(rid, str(folder / "plots"), artifact_path="plots")
        client.set_terminated(rid, "FINISHED")
        other = client.create_experiment("ablations", artifact_location=str(folder / "artifacts2"))
        bad = client.create_run(other, run_name="crashed-one")
        client.log_param(bad.info.run_id, "lr", "0.1")
        client.set_terminated(bad.info.run_id, "FAILED")
    return uri


def _run(project: str) -> naiad.Run:
    ids = naiad.init_project(project=project, mode="read-only").fetch_runs_table().to_pandas()["sys/id"]
    assert len(ids) == 1
    return naiad.init_run(with_id=ids.iloc[0], mode="read-only")


def test_params_metric_history_tags_and_artifacts_are_imported(tmp_path: Path) -> None:
    uri = make_store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = import_mlflow(open_store(str(tmp_path / ".naiad")), uri)
    assert len(report.imported) == 2
    assert any("repeated step" in p for p in report.problems)
    run = _run("defects")
    assert run["sys/name"].fetch() == "resnet" and run["sys/description"].fetch() == "baseline"
    assert run["parameters/lr"].fetch() == 0.001 and run["parameters/epochs"].fetch() == 30
    assert run["parameters/optimizer"].fetch() == "adam"
    assert run["parameters/wd"].fetch() == "1e-4"  # kept as written: "1e-4" is not 0.0001's own spelling
    loss = run["metrics/loss"].fetch_values()
    assert loss["step"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert loss["value"].tolist()[-1] == 0.19  # the last value logged at step 4
    assert run["mlflow/tags/team"].fetch() == "cv"
    assert run["sys/state"].fetch() == "finished" and run["mlflow/status"].fetch() == "FINISHED"
    names = {e.name for e in run["artifacts"].list_fileset_files()}
    assert names == {"model.txt", "plots"}
    assert [e.name for e in run["artifacts"].list_fileset_files("plots")] == ["roc.png"]
    failed = _run("ablations")
    assert failed["sys/state"].fetch() == "failed" and failed["sys/failed"].fetch() is True


def test_importing_twice_changes_nothing_and_the_cli_reports(tmp_path: Path) -> None:
    uri = make_store(tmp_path)
    env = {"NAIAD_URI": str(tmp_path / ".naiad"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "naiad", "import", "mlflow", uri, "--project", "migrated"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert first.returncode == 0, first.stderr
    assert "2 run(s) imported" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert "0 run(s) imported, 2 already there" in second.stdout, second.stdout
    assert len(naiad.init_project(project="migrated", mode="read-only").fetch_runs_table()) == 2
