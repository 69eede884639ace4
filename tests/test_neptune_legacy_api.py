"""neptune-client 0.x's session API on the embedded store (issue 20): a 2020 script runs with
``import naiad as neptune``, and what it logs is an ordinary naiad run, laid out as neptune 1.x's own
``neptune.legacy`` lays it out (parameters/, properties/, logs/, artifacts/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import naiad
from conftest import run_script
from naiad import errors as E

SEED_2020 = """
import os
os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np
import naiad as neptune
from naiad.integrations.keras import NeptuneMonitor   # was: from neptunecontrib.monitoring.keras import …

neptune.init(project_qualified_name="seed/defects", api_token="ANONYMOUS")
neptune.create_experiment(name="cnn-baseline", params={"lr": 0.01, "epochs": 2, "arch": "mlp"},
                          tags=["baseline"], upload_source_files=["train.py"])
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4)).astype("float32")
y = (X[:, 0] > 0).astype("float32")
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(X, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0, callbacks=[NeptuneMonitor()])
neptune.log_text("notes", "trained on the seed data")
neptune.log_image("predictions", np.zeros((4, 4)))
model.save("model.keras")
neptune.send_artifact("model.keras")
neptune.set_property("data_version", "v1")
neptune.append_tag("keras")
print("ID", neptune.get_experiment().id)
neptune.stop()
"""


def test_the_seeds_2020_script_runs_with_naiad_as_neptune(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("# the training script\n")
    result = run_script(SEED_2020, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    short_id = result.stdout.split("ID ", 1)[1].split()[0]
    run = naiad.init_run(with_id=short_id, project="seed/defects", mode="read-only")
    assert run["sys/name"].fetch() == "cnn-baseline" and run["sys/tags"].fetch() == {"baseline", "keras"}
    assert run["parameters/lr"].fetch() == 0.01 and run["parameters/epochs"].fetch() == 2
    assert run["parameters/arch"].fetch() == "mlp" and run["properties/data_version"].fetch() == "v1"
    # NeptuneMonitor: a point a batch (3 training batches an epoch) and a point an epoch
    assert len(run["logs/batch_loss"].fetch_values()) == 6
    assert len(run["logs/epoch_loss"].fetch_values()) == 2
    assert len(run["logs/epoch_val_accuracy"].fetch_values()) == 2
    assert run["logs/notes"].fetch_last() == "trained on the seed data"
    assert run["logs/predictions"].type == "FileSeries" and run["artifacts/model.keras"].type == "File"
    assert {entry.name for entry in run["source_code/files"].list_fileset_files()} == {"train.py"}
    assert run["sys/state"].fetch() == "finished"


def test_channels_take_both_forms_and_read_back() -> None:
    naiad.init(project_qualified_name="acme/legacy")
    exp = naiad.create_experiment(name="forms", params={"depth": 3, "schedule": [1, 2]},
                                  properties={"owner_team": 7})
    exp.log_metric("loss", 0.5)            # a value: the step is the next one
    exp.log_metric("loss", 0.25)
    exp.log_metric("acc", 10, 0.9)         # a step and a value
    naiad.log_metric("acc", 20, 0.95)      # the module-level form: the current experiment
    naiad.send_text("notes", "first")
    assert exp.get_parameters() == {"depth": 3, "schedule": "[1, 2]"}  # 0.x kept unsupported values as text
    assert exp.get_properties() == {"owner_team": "7"}
    values = exp.get_numeric_channels_values("loss", "acc")
    assert values["x"].tolist() == [0.0, 1.0, 10.0, 20.0]
    assert values["loss"].tolist()[:2] == [0.5, 0.25] and values["acc"].tolist()[2:] == [0.9, 0.95]
    assert exp.get_logs() == {"acc": 0.95, "loss": 0.25, "notes": "first"}
    naiad.remove_property("owner_team")
    exp.reset_log("notes")
    assert exp.get_properties() == {} and exp.run["logs/notes"].fetch_values().empty
    assert naiad.get_experiment() is exp and naiad.project is not None and naiad.project.full_id == "acme/legacy"
    naiad.stop()
    with pytest.raises(E.ConfigError, match="create_experiment"):
        naiad.log_metric("loss", 1.0)  # no experiment running: said, with what to do
    assert exp.state == "succeeded"


def test_artifacts_files_folders_and_streams(tmp_path: Path) -> None:
    import io

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "a.bin").write_bytes(b"A" * 10)
    (tmp_path / "ckpt" / "sub").mkdir()
    (tmp_path / "ckpt" / "sub" / "b.bin").write_bytes(b"B" * 5)
    (tmp_path / "model.pt").write_bytes(b"weights")
    project = naiad.init("acme/legacy")
    with project.create_experiment(name="art") as exp:
        exp.send_artifact("model.pt")
        exp.send_artifact("ckpt")                               # a folder: each file under its name
        exp.send_artifact(io.BytesIO(b"{}"), destination="config.json")
        with pytest.raises(E.InvalidValueError, match="destination"):
            exp.send_artifact(io.BytesIO(b"x"))
        with pytest.raises(E.FileError, match="neither a file nor a folder"):
            exp.send_artifact("missing.pt")
        exp.run.wait()
        exp.download_artifact("ckpt/sub/b.bin", "out")
        assert (tmp_path / "out" / "b.bin").read_bytes() == b"B" * 5
        exp.delete_artifacts("config.json")
        fields = {path for path in ("artifacts/model.pt", "artifacts/ckpt/a.bin", "artifacts/ckpt/sub/b.bin",
                                    "artifacts/config.json") if exp.run.exists(path)}
        assert fields == {"artifacts/model.pt", "artifacts/ckpt/a.bin", "artifacts/ckpt/sub/b.bin"}


def test_a_failure_marks_the_experiment_failed_and_the_project_lists_it() -> None:
    project = naiad.init("acme/legacy")
    ok = project.create_experiment(name="ok", tags=["good"])
    ok.log_metric("loss", 0.1)
    ok.stop()
    with pytest.raises(RuntimeError), project.create_experiment(name="boom", tags=["bad"]) as exp:
        exp.log_metric("loss", float(np.float32(0.2)))
        raise RuntimeError("diverged")
    assert exp.state == "failed"
    again = naiad.init_run(with_id=exp.id, project="acme/legacy", mode="read-only")
    traceback = again[f"{exp.run.monitoring_namespace}/traceback"].fetch_values()["value"].tolist()
    assert any("diverged" in line for line in traceback)
    assert [e.id for e in project.get_experiments(tag="bad")] == [exp.id]
    assert {e.id for e in project.get_experiments(state="succeeded")} == {ok.id, exp.id}  # not running
    board = project.get_leaderboard()
    assert board["id"].tolist() == [ok.id, exp.id] and board["channel_loss"].tolist() == pytest.approx([0.1, 0.2])
    assert board["name"].tolist() == ["ok", "boom"]


def test_init_without_a_project_says_what_to_do() -> None:
    with pytest.raises(E.MissingProjectError, match="project_qualified_name"):
        naiad.init()
