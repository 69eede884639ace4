"""The model registry as its users meet it: neptune 1.x ``init_model`` / ``init_model_version``, versions
registered from a real (tiny) training run, a promotion history with rollbacks, "what was in production at
time T", lineage from a deployed version to its run and dataset versions (and back), deployment bundles
checked against their hashes, and the ``naiad models`` commands — on the embedded store and on a real
``naiad server`` (uvicorn on loopback) with accounts, roles and API tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

import naiad
import naiad.store
from naiad import errors as E
from naiad import exceptions as NE
from naiad.cli.main import main as cli_main
from naiad.registry.bundle import MANIFEST, verify_bundle
from naiad.tracking.files import File
from services import TeamServer, as_user, team_server

PROJECT = "defects"  # key DEF
OWNER = "ana"


@pytest.fixture(autouse=True)
def _registry_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_OWNER", OWNER)  # the actor recorded for changes made on the embedded store
    monkeypatch.setenv("NAIAD_PROJECT", PROJECT)


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local time zone far from UTC (+05:30), so that "a time without a zone is local time" is tested."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ------------------------------------------------------------------------------------------ helpers
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pause() -> float:
    """A moment strictly between two registry changes."""
    time.sleep(0.02)
    now = time.time()
    time.sleep(0.02)
    return now


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli_main, list(args), env=env, catch_exceptions=False)


@dataclass
class Trained:
    """What a training script left behind: the run and the local files it logged."""

    run: Any
    run_id: str
    weights: Path  # weights.npy, uploaded as a File to model/weights
    config: Path  # with weights.npy in the FileSet model/checkpoint
    serve: dict[str, Path]  # inference code, uploaded to the FileSet code/inference: name there → local file
    data: dict[str, Path]  # role folder → local folder tracked at datasets/<role>
    val_acc: float
    hashes: dict[str, str] = field(default_factory=dict)  # datasets/<role> → dataset version hash


def make_data(folder: Path, seed: int, n: int = 160) -> dict[str, Path]:
    """A linearly separable-ish problem written as CSV shards: data/train and data/val."""
    rng = np.random.default_rng(seed)
    w_true = np.array([1.5, -2.0, 0.5, 1.0])
    out = {}
    for role, rows in (("train", n), ("val", n // 4)):
        x = rng.normal(size=(rows, 4))
        y = (x @ w_true + 0.3 * rng.normal(size=rows) > 0).astype(float)
        target = folder / "data" / role
        target.mkdir(parents=True, exist_ok=True)
        for shard in range(2):
            part = slice(shard * rows // 2, (shard + 1) * rows // 2)
            np.savetxt(target / f"part-{shard}.csv", np.column_stack([x[part], y[part]]), delimiter=",", fmt="%.6f")
        out[role] = target
    return out


def load(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.vstack([np.loadtxt(p, delimiter=",") for p in sorted(folder.glob("*.csv"))])
    return table[:, :4], table[:, 4]


def train(workdir: Path, *, seed: int, name: str, epochs: int = 30, lr: float = 0.5, upload: bool = True) -> Trained:
    """A real (tiny) training script: logistic regression by gradient descent, tracked with naiad; the
    datasets' bytes go into the store with ``upload``."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = make_data(workdir, seed)
    serve = workdir / "serve"
    serve.mkdir(exist_ok=True)
    code = {"predict.py": f"# model {name}\ndef predict(w, x):\n    return (x @ w[:-1] + w[-1]) > 0\n",
            "preprocess.py": "def clean(row):\n    return [float(v) for v in row]\n"}
    for fname, text in code.items():
        (serve / fname).write_text(text)
    run = naiad.init_run(project=PROJECT, name=name)
    run["parameters"] = {"lr": lr, "epochs": epochs, "seed": seed}
    run["datasets/train"].track_files(str(data["train"]), upload=upload)
    run["datasets/val"].track_files(str(data["val"]), upload=upload)
    x, y = load(data["train"])
    xv, yv = load(data["val"])
    w = np.zeros(5)
    acc = 0.0
    for _ in range(epochs):
        z = x @ w[:-1] + w[-1]
        p = 1 / (1 + np.exp(-z))
        grad = np.append(x.T @ (p - y), np.sum(p - y)) / len(y)
        w -= lr * grad
        loss = float(-np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)))
        acc = float(np.mean(((xv @ w[:-1] + w[-1]) > 0) == yv))
        run["train/loss"].append(loss)
        run["val/acc"].append(acc)
    weights = workdir / "weights.npy"
    np.save(weights, w)
    config = workdir / "config.json"
    config.write_text(json.dumps({"name": name, "features": 4}))
    run["model/weights"].upload(str(weights))
    run["model/checkpoint"].upload_files([str(weights), str(config)])
    run["code/inference"].upload_files(str(serve / "*.py"))
    run.wait()
    run_id = run["sys/id"].fetch()
    hashes = {f"datasets/{r}": run[f"datasets/{r}"].fetch_hash() for r in ("train", "val")}
    # FileSet names are relative to the working directory when the files lie inside it (neptune's rule)
    names = {(serve / k).relative_to(Path.cwd()).as_posix(): serve / k for k in code}
    return Trained(run, run_id, weights, config, names, data, acc, hashes)


def history_rows(model: Any) -> list[tuple[Any, ...]]:
    frame = model.fetch_stage_history()
    cols = ["version", "kind", "name", "from", "to", "actor", "reason"]
    return [tuple(None if pd.isna(v) else v for v in r) for r in frame[cols].itertuples(index=False)]


# ------------------------------------------------------------------------------------------ neptune 1.x API
def test_ids_follow_neptune_and_versions_count_per_model(tmp_path: Path) -> None:
    cls = naiad.init_model(key="CLS", name="defect classifier", project=PROJECT)
    seg = naiad.init_model(key="SEG", name="segmenter")
    assert (cls["sys/id"].fetch(), seg["sys/id"].fetch()) == ("DEF-CLS", "DEF-SEG")
    assert cls["sys/name"].fetch() == "defect classifier"
    cls["notes"] = "trained weekly"
    ids = []
    for model in ("DEF-CLS", "DEF-CLS", "DEF-SEG", "DEF-CLS"):
        mv = naiad.init_model_version(model=model, name=f"v-{len(ids)}")
        ids.append(mv["sys/id"].fetch())
        assert mv["sys/model_id"].fetch() == model
        assert mv["sys/stage"].fetch() == "none"
        assert mv["sys/aliases"].fetch() == set()
        mv.stop()
    assert ids == ["DEF-CLS-1", "DEF-CLS-2", "DEF-SEG-1", "DEF-CLS-3"]
    cls.stop()
    seg.stop()

    # with_id resumes what is there; the project comes from the id
    again = naiad.init_model(with_id="DEF-CLS")
    assert again["notes"].fetch() == "trained weekly"
    assert again["sys/name"].fetch() == "defect classifier"  # not reset to "Untitled"
    again.stop()
    mv = naiad.init_model_version(with_id="DEF-CLS-2")
    assert mv["sys/name"].fetch() == "v-1"
    assert mv.model_id == "DEF-CLS"
    mv["extra"] = 7
    mv.stop()
    ro = naiad.init_model_version(with_id="DEF-CLS-2", mode="read-only")
    assert ro["extra"].fetch() == 7
    with pytest.raises(E.ConfigError, match="read-only"):
        ro.change_stage("staging")
    ro.stop()

    # versions of one model only; query= and columns= as in fetch_runs_table
    model = naiad.init_model(with_id="DEF-CLS", mode="read-only")
    table = model.fetch_model_versions_table().to_pandas()
    assert sorted(table["sys/id"]) == ["DEF-CLS-1", "DEF-CLS-2", "DEF-CLS-3"]
    assert set(table["sys/model_id"]) == {"DEF-CLS"}
    picked = model.fetch_model_versions_table(query='sys/name = "v-1"', columns=["sys/name", "extra"]).to_pandas()
    assert list(picked["sys/id"]) == ["DEF-CLS-2"]
    assert picked.loc[0, "extra"] == 7 and picked.loc[0, "sys/name"] == "v-1"
    assert "sys/stage" not in picked.columns
    newest_first = model.fetch_model_versions_table(columns=["sys/name"], limit=2).to_pandas()
    assert list(newest_first["sys/id"]) == ["DEF-CLS-3", "DEF-CLS-2"]
    model.stop()

    project = naiad.init_project(project=PROJECT, mode="read-only")
    models = project.fetch_models_table(columns=["sys/name"], ascending=True).to_pandas()
    assert list(models["sys/id"]) == ["DEF-CLS", "DEF-SEG"]
    assert list(models["sys/name"]) == ["defect classifier", "segmenter"]
    project.stop()


def test_neptune_errors_for_wrong_ids_keys_modes_and_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = naiad.init_run(project=PROJECT)
    run_id = run["sys/id"].fetch()
    run.stop()
    model = naiad.init_model(key="CLS", project=PROJECT)
    mv = naiad.init_model_version(model="DEF-CLS")

    with pytest.raises(NE.ModelNotFound, match=f"{run_id} is a run, not a model"):
        naiad.init_model(with_id=run_id)
    with pytest.raises(NE.ModelVersionNotFound, match=f"{run_id} is a run, not a model version"):
        naiad.init_model_version(with_id=run_id)
    with pytest.raises(NE.ModelVersionNotFound, match="DEF-CLS is a model, not a model version"):
        naiad.init_model_version(with_id="DEF-CLS")
    with pytest.raises(NE.ModelNotFound, match="DEF-CLS-1 is a model version, not a model"):
        naiad.init_model(with_id="DEF-CLS-1")
    with pytest.raises(NE.ModelNotFound):
        naiad.init_model(with_id="DEF-NOPE")
    with pytest.raises(NE.ModelVersionNotFound):
        naiad.init_model_version(with_id="DEF-CLS-99")
    with pytest.raises(NE.ModelNotFound, match="DEF-NOPE"):
        naiad.init_model_version(model="DEF-NOPE")

    with pytest.raises(NE.NeptuneModelKeyAlreadyExistsError) as taken:
        naiad.init_model(key="CLS", project=PROJECT)
    assert isinstance(taken.value, E.ModelKeyTakenError)
    with pytest.raises(E.ConfigError, match='key="CLS"'):
        naiad.init_model(project=PROJECT)
    with pytest.raises(E.ConfigError, match='model="DEF-CLS"'):
        naiad.init_model_version()
    with pytest.raises(E.ConfigError, match="offline"):
        naiad.init_model(key="OFF", project=PROJECT, mode="offline")
    with pytest.raises(E.ConfigError, match="offline"):
        naiad.init_model_version(model="DEF-CLS", mode="offline")
    monkeypatch.setenv("NEPTUNE_MODE", "offline")  # neptune's variable is honoured too
    with pytest.raises(E.ConfigError, match="offline"):
        naiad.init_model_version(with_id="DEF-CLS-1")
    monkeypatch.delenv("NEPTUNE_MODE")
    with pytest.raises(E.ConfigError, match="with_id"):
        naiad.init_model(mode="read-only")

    # the stage moves only through change_stage
    with pytest.raises(NE.NeptuneCannotChangeStageManually) as manual:
        mv["sys/stage"] = "production"
    assert isinstance(manual.value, E.ProtectedPathError)
    assert "change_stage" in str(manual.value)
    with pytest.raises(ValueError, match="'prod' is not one of none, staging, production, archived"):
        mv.change_stage("prod")
    mv.change_stage("Staging")  # neptune accepts any case
    mv.wait()
    assert mv["sys/stage"].fetch() == "staging"
    with pytest.raises(E.InvalidValueError):
        mv.set_alias("production")  # named like a stage
    with pytest.raises(E.InvalidValueError):
        mv.set_alias("-bad alias")
    assert [(e.version, e.kind, e.before, e.after) for e in model.fetch_registry_events()] == [
        ("DEF-CLS-1", "stage", "none", "staging")]
    mv.stop()
    model.stop()


# ------------------------------------------------------------------------------------------ registering
def test_register_model_version_from_a_training_run(tmp_path: Path) -> None:
    t = train(tmp_path / "job", seed=1, name="baseline")
    assert t.val_acc > 0.8  # it did learn
    model = naiad.init_model(key="CLS", name="defect classifier", project=PROJECT)
    mv = naiad.register_model_version(t.run, model="DEF-CLS", weights="model/weights", inference="code/inference",
                                      metrics=["val/acc", "parameters/lr"], name="baseline v1")
    mv.wait()
    assert mv["sys/id"].fetch() == "DEF-CLS-1"
    assert mv["sys/name"].fetch() == "baseline v1"
    assert mv["run/id"].fetch() == t.run_id
    assert mv["run/name"].fetch() == "baseline"
    assert mv["metrics/val/acc"].fetch() == pytest.approx(t.val_acc)  # a series gives its last value
    assert mv["metrics/parameters/lr"].fetch() == 0.5
    # datasets: every Artifact of the run by default, role = path without "datasets/"
    assert {r: mv[f"datasets/{r}"].fetch_hash() for r in ("train", "val")} == {
        "train": t.hashes["datasets/train"], "val": t.hashes["datasets/val"]}
    assert set(mv.get_structure()["datasets"]) == {"train", "val"}
    # weights and inference come back byte for byte
    mv["weights"].download(str(tmp_path / "w.npy"))
    assert sha256(tmp_path / "w.npy") == sha256(t.weights)
    mv["inference"].download(str(tmp_path / "code.zip"))  # a FileSet downloads as a zip, as in neptune
    with zipfile.ZipFile(tmp_path / "code.zip") as zf:
        got = {name: hashlib.sha256(zf.read(name)).hexdigest() for name in zf.namelist()}
    assert got == {k: sha256(v) for k, v in t.serve.items()}
    assert sorted(got) == ["job/serve/predict.py", "job/serve/preprocess.py"]
    mv.stop()

    # by run id, with a FileSet as weights, named datasets, local inference globs, a stage and aliases
    t.run.stop()
    other = tmp_path / "serving"
    other.mkdir()
    (other / "handler.py").write_text("def handle(req):\n    return req\n")
    mv2 = naiad.register_model_version(t.run_id, model="DEF-CLS", weights="model/checkpoint",
                                       inference=[str(other / "*.py")], datasets={"training": "datasets/train"},
                                       stage="staging", aliases=["shadow"], reason="first look")
    mv2.wait()
    assert mv2["sys/id"].fetch() == "DEF-CLS-2"
    assert mv2["run/id"].fetch() == t.run_id
    assert mv2["sys/stage"].fetch() == "staging"
    assert mv2["sys/aliases"].fetch() == {"shadow"}
    assert set(mv2.get_structure()["datasets"]) == {"training"}
    assert mv2["datasets/training"].fetch_hash() == t.hashes["datasets/train"]
    mv2["weights"].download(str(tmp_path / "ckpt.zip"))
    with zipfile.ZipFile(tmp_path / "ckpt.zip") as zf:
        got = {name: hashlib.sha256(zf.read(name)).hexdigest() for name in zf.namelist()}
    assert got == {"job/weights.npy": sha256(t.weights), "job/config.json": sha256(t.config)}
    bundle = mv2.download_bundle(tmp_path / "bundle2")
    # local inference files are named relative to their common folder: where the serving code expects them
    assert sorted(f["path"] for f in bundle["files"]) == [
        "inference/handler.py", "weights/job/config.json", "weights/job/weights.npy"]
    assert bundle["name"] == mv2["sys/name"].fetch() == "baseline"  # the run's name by default
    assert verify_bundle(tmp_path / "bundle2") == []
    assert sha256(tmp_path / "bundle2" / "weights" / "job" / "weights.npy") == sha256(t.weights)
    assert bundle["stage"] == "staging" and bundle["aliases"] == ["shadow"]
    assert bundle["datasets"] == {"training": {"hash": t.hashes["datasets/train"], "files": 2,
                                               "size": sum(p.stat().st_size for p in t.data["train"].iterdir())}}
    mv2.stop()
    events = model.fetch_registry_events()
    assert [(e.version, e.kind, e.name, e.before, e.after, e.actor, e.reason) for e in events] == [
        ("DEF-CLS-2", "alias", "shadow", None, "DEF-CLS-2", OWNER, "first look"),
        ("DEF-CLS-2", "stage", "", "none", "staging", OWNER, "first look")]
    model.stop()


def test_register_refuses_a_missing_field_without_leaving_a_version(tmp_path: Path) -> None:
    t = train(tmp_path / "job", seed=2, name="broken", epochs=3)
    model = naiad.init_model(key="CLS", project=PROJECT)
    with pytest.raises(E.MissingFieldError, match="model/nope"):
        naiad.register_model_version(t.run, model="DEF-CLS", weights="model/nope")
    with pytest.raises(E.InvalidValueError, match="namespace"):
        naiad.register_model_version(t.run, model="DEF-CLS", weights="model")
    with pytest.raises(E.MissingFieldError, match="not a tracked dataset"):
        naiad.register_model_version(t.run, model="DEF-CLS", datasets={"train": "train/loss"})
    assert len(model.fetch_model_versions_table().to_pandas()) == 0
    assert naiad.register_model_version(t.run, model="DEF-CLS")["sys/id"].fetch() == "DEF-CLS-1"
    t.run.stop()
    model.stop()


def test_register_checks_everything_before_the_version_exists(tmp_path: Path) -> None:
    """A wrong metric path or inference glob is reported before the version is made: nothing half-made."""
    t = train(tmp_path / "job", seed=2, name="broken", epochs=3)
    model = naiad.init_model(key="CLS", project=PROJECT)
    with pytest.raises(E.MissingFieldError, match="val/nope"):
        naiad.register_model_version(t.run, model="DEF-CLS", metrics=["val/nope"])
    with pytest.raises(E.FileError, match="no file matches"):
        naiad.register_model_version(t.run, model="DEF-CLS", inference=[str(tmp_path / "nowhere" / "*.py")])
    with pytest.raises(E.InvalidValueError, match="metrics are numbers"):
        naiad.register_model_version(t.run, model="DEF-CLS", metrics=["model/weights"])
    assert len(model.fetch_model_versions_table().to_pandas()) == 0
    mv = naiad.register_model_version(t.run, model="DEF-CLS", metrics=["val/acc"])
    assert mv["sys/id"].fetch() == "DEF-CLS-1"  # numbering did not skip: no version was made before
    for c in (mv, t.run, model):
        c.stop()


def test_register_weights_from_a_file_series_takes_the_last_checkpoint(tmp_path: Path) -> None:
    run = naiad.init_run(project=PROJECT, name="checkpoints")
    for epoch in range(3):
        run["model/checkpoints"].append(File.from_content(f"weights after epoch {epoch}"))
    run.wait()
    model = naiad.init_model(key="CLS", project=PROJECT)
    mv = naiad.register_model_version(run, model="DEF-CLS", weights="model/checkpoints", stage="production")
    manifest = model.download(tmp_path / "bundle")
    assert [f["path"] for f in manifest["files"]] == ["weights/weights.txt"]
    assert (tmp_path / "bundle" / "weights" / "weights.txt").read_text() == "weights after epoch 2"
    assert manifest["datasets"] == {} and manifest["run"] == run["sys/id"].fetch()
    for c in (mv, model, run):
        c.stop()


def test_register_from_a_stopped_run_object(tmp_path: Path) -> None:
    """``run.stop()`` then ``register_model_version(run, ...)`` — what a script does at its end."""
    t = train(tmp_path / "job", seed=3, name="stopped", epochs=3)
    t.run.stop()
    model = naiad.init_model(key="CLS", project=PROJECT)
    mv = naiad.register_model_version(t.run, model="DEF-CLS")
    assert mv["run/id"].fetch() == t.run_id and mv["sys/name"].fetch() == "stopped"
    assert list(model.fetch_model_versions_table().to_pandas()["sys/id"]) == ["DEF-CLS-1"]
    mv.stop()
    model.stop()


# ------------------------------------------------------------------------------------------ promotions, time T
@dataclass
class Flow:
    """Two trained runs, two versions, a promotion history and the times between its steps."""

    a: Trained
    b: Trained
    times: dict[str, float]


def promotion_flow(tmp_path: Path, *, upload: bool = True) -> Flow:
    a = train(tmp_path / "a", seed=11, name="run-a", upload=upload)
    b = train(tmp_path / "b", seed=12, name="run-b", upload=upload)
    model = naiad.init_model(key="CLS", name="defect classifier", project=PROJECT)
    v1 = naiad.register_model_version(a.run, model="DEF-CLS", inference="code/inference", metrics=["val/acc"])
    v2 = naiad.register_model_version(b.run, model="DEF-CLS", inference="code/inference", metrics=["val/acc"])
    times = {"before": pause()}
    v1.change_stage("staging", reason="candidate")
    times["v1 staging"] = pause()
    v1.change_stage("production", reason="beats baseline")
    v1.set_alias("champion")
    times["v1 production"] = pause()
    v2.change_stage("staging")
    times["v2 staging"] = pause()
    v2.change_stage("production", reason="better on March data")
    model.set_alias("champion", "DEF-CLS-2")
    v1.set_alias("shadow")
    times["v2 production"] = pause()
    v1.change_stage("production", reason="rollback: v2 misfires")
    model.set_alias("champion", "DEF-CLS-1", reason="rollback")
    model.remove_alias("shadow")
    times["rollback"] = pause()
    for c in (v1, v2, model):
        c.stop()
    return Flow(a, b, times)


EXPECTED_HISTORY = [
    ("DEF-CLS-1", "stage", "", "none", "staging", OWNER, "candidate"),
    ("DEF-CLS-1", "stage", "", "staging", "production", OWNER, "beats baseline"),
    ("DEF-CLS-1", "alias", "champion", None, "DEF-CLS-1", OWNER, ""),
    ("DEF-CLS-2", "stage", "", "none", "staging", OWNER, ""),
    ("DEF-CLS-1", "stage", "", "production", "archived", OWNER, "replaced in production by DEF-CLS-2"),
    ("DEF-CLS-2", "stage", "", "staging", "production", OWNER, "better on March data"),
    ("DEF-CLS-2", "alias", "champion", "DEF-CLS-1", "DEF-CLS-2", OWNER, ""),
    ("DEF-CLS-1", "alias", "shadow", None, "DEF-CLS-1", OWNER, ""),
    ("DEF-CLS-2", "stage", "", "production", "archived", OWNER, "replaced in production by DEF-CLS-1"),
    ("DEF-CLS-1", "stage", "", "archived", "production", OWNER, "rollback: v2 misfires"),
    ("DEF-CLS-1", "alias", "champion", "DEF-CLS-2", "DEF-CLS-1", OWNER, "rollback"),
    ("DEF-CLS-1", "alias", "shadow", "DEF-CLS-1", None, OWNER, ""),
]

# (time label) → (production holder, every stage, aliases)
EXPECTED_STATES = {
    "before": (None, {}, {}),
    "v1 staging": (None, {"DEF-CLS-1": "staging"}, {}),
    "v1 production": ("DEF-CLS-1", {"DEF-CLS-1": "production"}, {"champion": "DEF-CLS-1"}),
    "v2 staging": ("DEF-CLS-1", {"DEF-CLS-1": "production", "DEF-CLS-2": "staging"}, {"champion": "DEF-CLS-1"}),
    "v2 production": ("DEF-CLS-2", {"DEF-CLS-1": "archived", "DEF-CLS-2": "production"},
                      {"champion": "DEF-CLS-2", "shadow": "DEF-CLS-1"}),
    "rollback": ("DEF-CLS-1", {"DEF-CLS-1": "production", "DEF-CLS-2": "archived"}, {"champion": "DEF-CLS-1"}),
}


def check_history(model: Any, flow: Flow, actor: str = OWNER) -> None:
    """History rows, and the registry at every captured time, through the SDK."""
    expected = [(*row[:5], actor, row[6]) for row in EXPECTED_HISTORY]
    assert history_rows(model) == expected
    frame = model.fetch_stage_history()
    assert list(frame.columns) == ["time", "model", "version", "kind", "name", "from", "to", "actor", "reason"]
    assert set(frame["model"]) == {"DEF-CLS"}
    assert str(frame["time"].dt.tz) == "UTC"
    stamps = [ts.timestamp() for ts in frame["time"]]
    assert stamps == sorted(stamps)
    assert flow.times["before"] < stamps[0] and stamps[-1] < flow.times["rollback"]
    for label, (production, stages, aliases) in EXPECTED_STATES.items():
        t = flow.times[label]
        as_utc = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)
        as_local_naive = dt.datetime.fromtimestamp(t)
        for when in (t, as_utc, as_local_naive, as_utc.isoformat(), as_local_naive.isoformat(),
                     as_utc.isoformat().replace("+00:00", "Z")):
            assert model.version_at(when) == production, (label, when)
        state = model.registry_at(as_utc.isoformat())
        assert (state.stages, state.aliases) == (stages, aliases), label
        assert model.version_at(t, alias="champion") == aliases.get("champion")
        assert model.version_at(t, stage="archived") == next((v for v, s in stages.items() if s == "archived"), None)
    assert model.version_at(dt.date(2000, 1, 1)) is None
    assert model.registry_at().aliases == {"champion": "DEF-CLS-1"}  # now
    with pytest.raises(E.InvalidValueError, match="not a time"):
        model.version_at("last tuesday")


@pytest.mark.usefixtures("local_tz")
def test_promotion_history_rollback_and_production_at_time_t(tmp_path: Path) -> None:
    flow = promotion_flow(tmp_path)
    model = naiad.init_model(with_id="DEF-CLS", mode="read-only")
    check_history(model, flow)
    assert model.version(stage="production") == "DEF-CLS-1"
    assert model.version(alias="champion") == "DEF-CLS-1"
    assert model.version(alias="shadow") is None
    assert model.version(stage="archived") == "DEF-CLS-2"
    table = model.fetch_model_versions_table(columns=["sys/stage", "sys/aliases"], ascending=True).to_pandas()
    assert list(table["sys/stage"]) == ["production", "archived"]
    assert list(table["sys/aliases"]) == ["champion", ""]
    model.stop()

    # no event for a change that changes nothing
    v1 = naiad.init_model_version(with_id="DEF-CLS-1")
    v1.change_stage("production")
    v1.set_alias("champion")
    v1.stop()
    m = naiad.init_model(with_id="DEF-CLS")
    assert len(m.fetch_registry_events()) == len(EXPECTED_HISTORY)
    other = naiad.init_model(key="OTHER", project=PROJECT)
    ov = naiad.init_model_version(model="DEF-OTHER")
    with pytest.raises(E.InvalidValueError):
        m.set_alias("champion", "DEF-OTHER-1")  # a version of another model
    with pytest.raises(E.InvalidValueError):
        ov.remove_alias("champion")
    assert other.fetch_registry_events() == []
    for c in (ov, other, m):
        c.stop()


# ------------------------------------------------------------------------------------------ lineage
def test_lineage_from_production_to_run_and_datasets_and_back(tmp_path: Path) -> None:
    flow = promotion_flow(tmp_path)
    model = naiad.init_model(with_id="DEF-CLS", mode="read-only")
    at_v2 = model.version_at(flow.times["v2 production"])
    assert at_v2 == "DEF-CLS-2"
    version = naiad.init_model_version(with_id=at_v2, mode="read-only")
    run_id = version["run/id"].fetch()
    assert run_id == flow.b.run_id
    run = naiad.init_run(with_id=run_id, mode="read-only")
    assert run["sys/name"].fetch() == "run-b"
    for role in ("train", "val"):
        assert version[f"datasets/{role}"].fetch_hash() == run[f"datasets/{role}"].fetch_hash() == \
            flow.b.hashes[f"datasets/{role}"]
    assert flow.a.hashes["datasets/train"] != flow.b.hashes["datasets/train"]  # other data, other version
    run.stop()
    version.stop()
    model.stop()

    project = naiad.init_project(project=PROJECT, mode="read-only")
    train_b = flow.b.hashes["datasets/train"]
    uses = project.fetch_dataset_uses(train_b[:8])
    assert sorted(zip(uses["container"], uses["kind"], uses["path"], uses["role"], strict=True)) == [
        (flow.b.run_id, "run", "datasets/train", "train"),
        ("DEF-CLS-2", "model_version", "datasets/train", "train")]
    assert set(uses["hash"]) == {train_b}
    assert set(uses["files"]) == {2}
    versions = project.fetch_dataset_versions().set_index("hash")
    assert len(versions) == 4
    assert versions.loc[train_b, "model_versions"] == "DEF-CLS-2"
    assert versions.loc[train_b, "runs"] == flow.b.run_id
    assert versions.loc[flow.a.hashes["datasets/val"], "roles"] == "validation"
    assert versions.loc[flow.a.hashes["datasets/val"], "model_versions"] == "DEF-CLS-1"
    diff = project.diff_datasets(flow.a.hashes["datasets/train"], f"{flow.b.run_id}:datasets/train")
    assert [o["file_path"] for o, _ in diff.changed] == ["part-0.csv", "part-1.csv"]
    assert not diff.added and not diff.removed and not diff.identical
    project.download_dataset(train_b[:10], str(tmp_path / "restored"))
    assert {p.name: sha256(p) for p in (tmp_path / "restored").iterdir()} == {
        p.name: sha256(p) for p in flow.b.data["train"].iterdir()}
    project.stop()

    # the same lineage on the command line
    out = cli("models", "history", "DEF-CLS", "--at", dt.datetime.fromtimestamp(
        flow.times["v2 production"], tz=dt.timezone.utc).isoformat(), "--json")
    assert out.exit_code == 0, out.output
    state = json.loads(out.output)
    assert state["production"] == "DEF-CLS-2"
    assert state["lineage"] == {"version": "DEF-CLS-2", "run": flow.b.run_id,
                                "datasets": {"train": train_b, "val": flow.b.hashes["datasets/val"]}}


# ------------------------------------------------------------------------------------------ deployment bundles
def check_bundle(dest: Path, manifest: dict[str, Any], t: Trained, version: str, stage: str) -> None:
    assert manifest == json.loads((dest / MANIFEST).read_text())
    assert manifest["format"] == "naiad-model-bundle/1"
    assert (manifest["version"], manifest["model"], manifest["project"], manifest["stage"], manifest["run"]) == (
        version, "DEF-CLS", PROJECT, stage, t.run_id)
    assert manifest["datasets"] == {
        role: {"hash": t.hashes[f"datasets/{role}"], "files": 2,
               "size": sum(p.stat().st_size for p in t.data[role].iterdir())} for role in ("train", "val")}
    originals = {"weights/weights.npy": t.weights, **{f"inference/{k}": v for k, v in t.serve.items()}}
    job = t.weights.parent.name  # the training script's folder, under the working directory
    assert {f["path"] for f in manifest["files"]} == {
        "weights/weights.npy", f"inference/{job}/serve/predict.py", f"inference/{job}/serve/preprocess.py"}
    assert {f["path"]: (f["sha256"], f["size"]) for f in manifest["files"]} == {
        rel: (sha256(p), p.stat().st_size) for rel, p in originals.items()}
    on_disk = {str(p.relative_to(dest)): sha256(p) for p in dest.rglob("*") if p.is_file()}
    assert on_disk == {MANIFEST: sha256(dest / MANIFEST), **{rel: sha256(p) for rel, p in originals.items()}}
    assert verify_bundle(dest) == []


def test_download_bundles_verified_against_hashes(tmp_path: Path) -> None:
    flow = promotion_flow(tmp_path)
    empty = naiad.init_model(key="NEW", project=PROJECT)
    naiad.init_model_version(model="DEF-NEW").stop()
    with pytest.raises(E.NotFoundError, match="DEF-NEW has no version in production"):
        empty.download(tmp_path / "none")
    assert not (tmp_path / "none").exists()
    empty.stop()
    model = naiad.init_model(with_id="DEF-CLS", mode="read-only")
    prod = model.download(tmp_path / "prod")  # default: production (DEF-CLS-1 after the rollback)
    check_bundle(tmp_path / "prod", prod, flow.a, "DEF-CLS-1", "production")
    assert prod["aliases"] == ["champion"]
    check_bundle(tmp_path / "arch", model.download(tmp_path / "arch", stage="archived"), flow.b, "DEF-CLS-2",
                 "archived")
    check_bundle(tmp_path / "champ", model.download(tmp_path / "champ", alias="champion"), flow.a, "DEF-CLS-1",
                 "production")
    check_bundle(tmp_path / "v2", model.download(tmp_path / "v2", version="DEF-CLS-2"), flow.b, "DEF-CLS-2",
                 "archived")
    with pytest.raises(E.NotFoundError, match="staging"):
        model.download(tmp_path / "stg", stage="staging")
    with pytest.raises(E.NotFoundError, match="shadow"):
        model.download(tmp_path / "shadow", alias="shadow")
    with pytest.raises(E.InvalidValueError):
        model.download(tmp_path / "x", version="DEF-OTHER-1")
    with pytest.raises(E.InvalidValueError):
        model.download(tmp_path / "x", stage="production", alias="champion")
    model.stop()

    # tampering is found
    dest = tmp_path / "prod"
    (dest / "inference" / "a" / "serve" / "predict.py").write_text("import os; os.system('curl evil')\n")
    (dest / "weights" / "weights.npy").unlink()
    problems = verify_bundle(dest)
    assert len(problems) == 2
    assert problems[0] == "weights/weights.npy: missing"
    assert problems[1].startswith("inference/a/serve/predict.py: content differs")


def test_a_bundle_downloaded_over_an_older_one_keeps_no_stale_files(tmp_path: Path) -> None:
    """``naiad models download DEF-CLS ./serve`` run again after a new promotion (a deploy job): the old
    version's files must not stay next to the new ones unnoticed (reported as a bug when this fails)."""
    promotion_flow(tmp_path)
    dest = tmp_path / "serve"
    model = naiad.init_model(with_id="DEF-CLS")
    model.download(dest, version="DEF-CLS-2")  # its inference code is named b/serve/*.py
    manifest = model.download(dest)  # production: DEF-CLS-1, inference a/serve/*.py
    model.stop()
    assert manifest["version"] == "DEF-CLS-1"
    stale = sorted(str(p.relative_to(dest)) for p in dest.rglob("*.py") if p.parts[-3] == "b")
    problems = verify_bundle(dest)
    assert stale == [] or any("b/serve/predict.py" in p for p in problems), (stale, problems)


def test_cli_download_and_verify(tmp_path: Path) -> None:
    flow = promotion_flow(tmp_path)
    dest = tmp_path / "serve"
    out = cli("models", "download", "DEF-CLS", str(dest))
    assert out.exit_code == 0, out.output
    size = flow.a.weights.stat().st_size + sum(p.stat().st_size for p in flow.a.serve.values())
    assert out.output.strip() == (f"DEF-CLS-1 (production, run {flow.a.run_id}): 3 file(s), {size:,} B, "
                                  f"hashes verified → {dest}")
    check_bundle(dest, json.loads((dest / MANIFEST).read_text()), flow.a, "DEF-CLS-1", "production")
    ok = cli("models", "verify", str(dest))
    assert (ok.exit_code, ok.output.strip()) == (0, "OK DEF-CLS-1: 3 file(s) match their hashes.")
    for flag, value, version in (("--version", "DEF-CLS-2", "DEF-CLS-2"), ("--stage", "archived", "DEF-CLS-2"),
                                 ("--alias", "champion", "DEF-CLS-1")):
        other = tmp_path / f"by{flag}"
        got = cli("models", "download", "DEF-CLS", str(other), flag, value)
        assert got.exit_code == 0 and got.output.startswith(f"{version} ("), got.output
        assert json.loads((other / MANIFEST).read_text())["version"] == version
    missing = cli("models", "download", "DEF-CLS", str(tmp_path / "nope"), "--stage", "staging")
    assert missing.exit_code == 1
    assert "DEF-CLS has no version in staging; promote one with `naiad models promote DEF-CLS-N --stage staging`" \
        in missing.output

    with open(dest / "weights" / "weights.npy", "ab") as fh:
        fh.write(b"\0")
    bad = CliRunner().invoke(cli_main, ["models", "verify", str(dest)])
    assert bad.exit_code == 1
    assert bad.stdout == ""
    assert bad.stderr.startswith("FAIL weights/weights.npy: content differs (sha256 ")


# ------------------------------------------------------------------------------------------ CLI
@pytest.mark.usefixtures("local_tz")
def test_cli_models_commands(tmp_path: Path) -> None:
    flow = promotion_flow(tmp_path)
    seg = naiad.init_model(key="SEG", name="segmenter", project=PROJECT)
    naiad.init_model_version(model="DEF-SEG").stop()
    seg.stop()

    ls = cli("models", "ls", "--json")
    assert ls.exit_code == 0, ls.output
    assert [json.loads(line) for line in ls.output.splitlines()] == [
        {"id": "DEF-CLS", "name": "defect classifier", "versions": 2, "production": "DEF-CLS-1", "staging": [],
         "aliases": {"champion": "DEF-CLS-1"}},
        {"id": "DEF-SEG", "name": "segmenter", "versions": 1, "production": None, "staging": [], "aliases": {}}]
    table = cli("models", "ls")
    assert "defects — 2 model(s)" in table.output
    cls_line = next(line for line in table.output.splitlines() if "DEF-CLS " in line)
    assert "defect classifier" in cls_line and "champion→DEF-CLS-1" in cls_line

    show = cli("models", "show", "DEF-CLS", "--json")
    rows = [json.loads(line) for line in show.output.splitlines()]
    assert [(r["id"], r["sys/stage"], r["sys/aliases"], r["run/id"], r["sys/owner"]) for r in rows] == [
        ("DEF-CLS-1", "production", ["champion"], flow.a.run_id, OWNER),
        ("DEF-CLS-2", "archived", [], flow.b.run_id, OWNER)]
    shown = cli("models", "show", "DEF-CLS").output
    assert "DEF-CLS — 2 version(s)" in shown
    v2_line = next(line for line in shown.splitlines() if "DEF-CLS-2" in line)
    assert "archived" in v2_line and flow.b.run_id in v2_line
    not_model = cli("models", "show", "DEF-CLS-1")
    assert not_model.exit_code == 2 and "DEF-CLS-1 is a model version, not a model" in not_model.output

    promote = cli("models", "promote", "DEF-CLS-2", "--stage", "production", "--reason", "fixed the misfire")
    assert promote.exit_code == 0, promote.output
    assert promote.output.splitlines() == [
        f"DEF-CLS-1: production → archived (by {OWNER}: replaced in production by DEF-CLS-2)",
        f"DEF-CLS-2: archived → production (by {OWNER}: fixed the misfire)"]
    again = cli("models", "promote", "DEF-CLS-2", "--stage", "production")
    assert again.output.strip() == "DEF-CLS-2 is already in production; nothing changed."
    bad_stage = cli("models", "promote", "DEF-CLS-2", "--stage", "prod")
    assert bad_stage.exit_code == 2 and "'prod' is not one of" in bad_stage.output
    nope = cli("models", "promote", "DEF-CLS-9", "--stage", "staging")
    assert nope.exit_code == 1 and nope.output.startswith("Error: ")

    alias = cli("models", "alias", "DEF-CLS", "champion", "DEF-CLS-2", "--reason", "live again")
    assert alias.output.strip() == f"alias 'champion' → DEF-CLS-2 (from DEF-CLS-1) (by {OWNER}: live again)"
    removed = cli("models", "alias", "DEF-CLS", "champion", "--remove")
    assert removed.output.strip() == f"alias 'champion' removed from DEF-CLS-2 (by {OWNER})"
    nothing = cli("models", "alias", "DEF-CLS", "champion", "--remove")
    assert nothing.output.strip() == "champion already points nowhere; nothing changed."
    both = cli("models", "alias", "DEF-CLS", "champion", "DEF-CLS-2", "--remove")
    assert both.exit_code == 2
    stage_named = cli("models", "alias", "DEF-CLS", "staging", "DEF-CLS-2")
    assert stage_named.exit_code == 1 and stage_named.output.startswith("Error: ")

    hist = cli("models", "history", "DEF-CLS")
    lines = hist.output.splitlines()
    assert len(lines) == len(EXPECTED_HISTORY) + 4
    assert lines[0].endswith(f"  DEF-CLS-1: none → staging (by {OWNER}: candidate)")
    first = dt.datetime.strptime(lines[0][:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    assert flow.times["before"] - 1 < first.timestamp() <= flow.times["v1 staging"]  # UTC, to the second
    assert lines[-1].endswith(f"  alias 'champion' removed from DEF-CLS-2 (by {OWNER})")
    as_json = json.loads(cli("models", "history", "DEF-CLS", "--json").output)
    assert [(e["version"], e["kind"], e["name"], e["from"], e["to"], e["actor"], e["reason"]) for e in as_json][
        :len(EXPECTED_HISTORY)] == EXPECTED_HISTORY
    assert [e["id"] for e in as_json] == sorted(e["id"] for e in as_json)
    assert dt.datetime.fromisoformat(as_json[0]["time"]).timestamp() == pytest.approx(
        flow.times["v1 staging"], abs=0.05)

    at = dt.datetime.fromtimestamp(flow.times["v2 production"], tz=dt.timezone.utc).isoformat()
    at_text = cli("models", "history", "DEF-CLS", "--at", at)
    assert at_text.output.splitlines() == [
        f"DEF-CLS at {at}:",
        "  production: DEF-CLS-2",
        f"    trained by run {flow.b.run_id}",
        f"    dataset train: {flow.b.hashes['datasets/train']}",
        f"    dataset val: {flow.b.hashes['datasets/val']}",
        "  alias champion: DEF-CLS-2",
        "  alias shadow: DEF-CLS-1",
        "  DEF-CLS-1: archived"]
    before = dt.datetime.fromtimestamp(flow.times["before"]).isoformat()  # naive: local time
    assert cli("models", "history", "DEF-CLS", "--at", before).output.splitlines() == [
        f"DEF-CLS at {before}:", "  production: no version"]
    at_json = json.loads(cli("models", "history", "DEF-CLS", "--at", before, "--json").output)
    assert at_json == {"model": "DEF-CLS", "at": before, "production": None, "stages": {}, "aliases": {},
                       "lineage": None}
    garbage = cli("models", "history", "DEF-CLS", "--at", "yesterday-ish")
    assert garbage.exit_code == 1 and "is not a time" in garbage.output
    empty = cli("models", "history", "DEF-SEG")
    assert empty.output.strip() == "DEF-SEG has no stage or alias changes yet."


# ------------------------------------------------------------------------------------------ on a server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """Contributor "carl" and viewer "vera" of the project."""
    grants = [("carl", PROJECT, "contributor"), ("vera", PROJECT, "viewer")]
    with team_server(tmp_path_factory.mktemp("registry-server"), grants) as found:
        yield found


def test_registry_flow_on_a_server(server: TeamServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(server, "carl", monkeypatch)
    # trains, registers, promotes and rolls back through the server (datasets tracked without upload: see
    # test_track_files_with_upload_on_a_server)
    flow = promotion_flow(tmp_path, upload=False)
    assert flow.a.run_id == "DEF-1"
    model = naiad.init_model(with_id="DEF-CLS", mode="read-only")
    check_history(model, flow, actor="carl")  # the server records who the token belongs to, not NAIAD_OWNER
    check_bundle(tmp_path / "sdk", model.download(tmp_path / "sdk"), flow.a, "DEF-CLS-1", "production")
    model.stop()
    # the server's own store holds the same
    assert [e.actor for e in server.store.registry_events(PROJECT, "DEF-CLS")] == ["carl"] * len(EXPECTED_HISTORY)

    project = naiad.init_project(project=PROJECT, mode="read-only")
    uses = project.fetch_dataset_uses(flow.a.hashes["datasets/train"])
    assert sorted(uses["container"]) == ["DEF-1", "DEF-CLS-1"]
    project.stop()

    # the CLI against the server: --uri and NAIAD_API_TOKEN
    uri = ["--uri", server.url]
    promote = cli("models", "promote", "DEF-CLS-2", "--stage", "staging", "--reason", "retry", *uri)
    assert promote.output.strip() == "DEF-CLS-2: archived → staging (by carl: retry)"
    alias = cli("models", "alias", "DEF-CLS", "shadow", "DEF-CLS-2", *uri)
    assert alias.output.strip() == "alias 'shadow' → DEF-CLS-2 (by carl)"
    shown = [json.loads(line) for line in cli("models", "show", "DEF-CLS", "--json", *uri).output.splitlines()]
    assert [(r["id"], r["sys/stage"], r["sys/aliases"]) for r in shown] == [
        ("DEF-CLS-1", "production", ["champion"]), ("DEF-CLS-2", "staging", ["shadow"])]
    at = dt.datetime.fromtimestamp(flow.times["v1 production"], tz=dt.timezone.utc).isoformat()
    state = json.loads(cli("models", "history", "DEF-CLS", "--at", at, "--json", *uri).output)
    assert (state["production"], state["aliases"], state["lineage"]["run"]) == (
        "DEF-CLS-1", {"champion": "DEF-CLS-1"}, flow.a.run_id)
    events = json.loads(cli("models", "history", "DEF-CLS", "--json", *uri).output)
    assert {e["actor"] for e in events} == {"carl"} and len(events) == len(EXPECTED_HISTORY) + 2
    dest = tmp_path / "cli-bundle"
    got = cli("models", "download", "DEF-CLS", str(dest), "--alias", "shadow", *uri)
    assert got.exit_code == 0 and got.output.startswith(f"DEF-CLS-2 (staging, run {flow.b.run_id}): 3 file(s)")
    assert cli("models", "verify", str(dest)).exit_code == 0
    (dest / "inference" / "b" / "serve" / "preprocess.py").write_text("tampered\n")
    assert cli("models", "verify", str(dest)).exit_code == 1


def test_a_viewer_reads_the_registry_but_cannot_change_it(server: TeamServer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(server, "carl", monkeypatch)
    naiad.init_model(key="VIEW", project=PROJECT).stop()
    naiad.init_model_version(model="DEF-VIEW").stop()

    as_user(server, "vera", monkeypatch)
    mv = naiad.init_model_version(with_id="DEF-VIEW-1")
    assert mv["sys/stage"].fetch() == "none"
    with pytest.raises(E.PermissionDeniedError, match="contributor"):
        mv.change_stage("production")
    with pytest.raises(E.PermissionDeniedError):
        mv.set_alias("champion")
    mv.stop()
    model = naiad.init_model(with_id="DEF-VIEW", mode="read-only")
    assert model.fetch_stage_history().empty
    assert model.version_at(time.time()) is None
    model.stop()
    denied = cli("models", "promote", "DEF-VIEW-1", "--stage", "production", "--uri", server.url)
    assert denied.exit_code == 1 and "Error: " in denied.output and "contributor" in denied.output
    assert server.store.registry_events(PROJECT, "DEF-VIEW") == []
    with pytest.raises(E.PermissionDeniedError):
        naiad.init_model(key="VIEWER", project=PROJECT)


def test_track_files_with_upload_on_a_server(server: TeamServer, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A dataset tracked with upload=True through a server: its bytes reach the server's store and the
    version's dataset comes back from there."""
    as_user(server, "carl", monkeypatch)
    data = make_data(tmp_path / "up", seed=5)
    run = naiad.init_run(project=PROJECT, name="uploaded")
    run["datasets/train"].track_files(str(data["train"]), upload=True)
    run.wait()
    digest = run["datasets/train"].fetch_hash()
    run.stop()
    project = naiad.init_project(project=PROJECT, mode="read-only")
    project.download_dataset(digest[:12], str(tmp_path / "back"))
    project.stop()
    back = tmp_path / "back"
    assert {p.name: sha256(p) for p in back.iterdir()} == {p.name: sha256(p) for p in data["train"].iterdir()}
    assert not any(p.is_symlink() for p in back.iterdir())  # copies from the store, not links to the originals
