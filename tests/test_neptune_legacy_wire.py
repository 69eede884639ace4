"""The real client's other ways in (issue 20): ``neptune.legacy`` (the 0.x session API inside
``neptune==1.14.0.post2``), offline runs uploaded by the client's own ``neptune sync``, and the git state
the client sends with a new run — each against a throw-away naiad server, checked through naiad's store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neptune_client import PROJECT, client_env, contributor_server, neptune
from services import TeamServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    yield from contributor_server(tmp_path_factory, "neptune-legacy")


LEGACY = """
import neptune.legacy as neptune
import numpy as np
from PIL import Image
neptune.init(project_qualified_name="acme/vision")
exp = neptune.create_experiment(name="legacy", description="from 2020", params={"lr": 0.1, "opt": "adam"},
                                properties={"data": "v1"}, tags=["old"], upload_source_files=["train.py"])
print("ID", exp.id)
for i in range(5):
    neptune.log_metric("loss", 1.0 / (i + 1))
neptune.log_metric("acc", 3, 0.5)
neptune.log_text("notes", "hello")
neptune.log_image("preds", Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)))
neptune.send_artifact("model.txt")
neptune.set_property("data", "v2")
neptune.append_tag("new")
neptune.remove_tag("old")
neptune.stop()
project = neptune.project
again = project.get_experiments(id=exp.id)[0]
print("PARAMS", sorted(again.get_parameters().items()))
print("PROPS", again.get_properties())
print("TAGS", again.get_tags())
print("OWNER", again.get_system_properties()["owner"])
values = again.get_numeric_channels_values("loss", "acc")
print("LOSS", values["loss"].tolist())
print("LOGS", sorted(again.get_logs().items(), key=str))
board = project.get_leaderboard()
print("BOARD", board["id"].tolist(), board["channel_loss"].tolist())
print("MEMBERS", project.get_members())
print("MINE", [e.id for e in project.get_experiments(owner="nell", tag="new")])
print("NONE", [e.id for e in project.get_experiments(tag="absent")])
again.download_artifact("model.txt", "out")
print("ART", open("out/model.txt").read())
"""


def test_the_legacy_session_api_logs_and_reads_back(server: TeamServer, tmp_path: Path) -> None:
    (tmp_path / "model.txt").write_text("weights")
    (tmp_path / "train.py").write_text("print('training')\n")
    out = neptune(LEGACY, server, "nell", tmp_path, timeout=180)
    short_id = next(line.split()[1] for line in out.splitlines() if line.startswith("ID "))
    store = server.store
    info = store.get_container(short_id=short_id)
    fields = store.read_fields(info.uuid)
    # the field tree neptune 1.x's own legacy layer writes: parameters/, properties/, logs/, artifacts/
    assert fields["parameters/lr"].value == 0.1 and fields["parameters/opt"].value == "adam"
    assert fields["properties/data"].value == "v2" and fields["sys/tags"].value == {"new"}
    assert fields["sys/name"].value == "legacy" and fields["sys/description"].value == "from 2020"
    assert fields["sys/owner"].value == "nell" and fields["environment/hostname"].value
    assert store.read_series(info.uuid, "logs/loss").values.tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    acc = store.read_series(info.uuid, "logs/acc")
    assert acc.steps.tolist() == [3.0] and acc.values.tolist() == [0.5]
    assert store.read_series(info.uuid, "logs/notes").values == ["hello"]
    assert fields["logs/preds"].type == "FileSeries" and fields["artifacts/model.txt"].type == "File"
    assert set(fields["source_code/files"].value) == {"train.py"}
    assert "PARAMS [('lr', 0.1), ('opt', 'adam')]" in out and "PROPS {'data': 'v2'}" in out
    assert "TAGS ['new']" in out and "OWNER nell" in out and "LOSS [1.0, 0.5" in out
    assert "('notes', 'hello')" in out and "('loss', 0.2)" in out
    assert f"BOARD ['{short_id}'] [0.2]" in out and "MEMBERS ['nell']" in out
    assert f"MINE ['{short_id}']" in out and "NONE []" in out and "ART weights" in out
    assert store.read_fields(info.uuid, ["sys/state"])["sys/state"].value == "finished"


OFFLINE = """
import neptune
run = neptune.init_run(mode="offline", name="on the train", tags=["offline"], capture_hardware_metrics=False,
                       source_files=[], git_ref=False)
run["parameters"] = {"lr": 0.5, "epochs": 3}
for i in range(100):
    run["loss"].append(1.0 - i / 100)
run["notes"].append("no network here")
run.stop()
"""


def test_an_offline_run_is_uploaded_by_neptune_sync(server: TeamServer, tmp_path: Path) -> None:
    """`neptune sync` (the client's command line, as `neptune sync --project …` runs it) sends it once."""
    before = server.store.count_containers(PROJECT, "run")
    neptune(OFFLINE, server, "nell", tmp_path)
    assert server.store.count_containers(PROJECT, "run") == before  # nothing sent yet
    env = dict(os.environ) | client_env(server, "nell", tmp_path)
    sync = [sys.executable, "-c", "from neptune.cli.__main__ import main; main()", "sync", "--project", PROJECT]
    synced = subprocess.run(sync, capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)
    assert synced.returncode == 0, synced.stdout[-2000:] + synced.stderr[-4000:]
    assert "registered as acme/vision/" in synced.stdout and "completed" in synced.stdout
    short_id = synced.stdout.split("registered as acme/vision/", 1)[1].split()[0]
    info = server.store.get_container(short_id=short_id)
    fields = server.store.read_fields(info.uuid)
    assert fields["sys/name"].value == "on the train" and fields["sys/tags"].value == {"offline"}
    assert fields["parameters/lr"].value == 0.5 and fields["parameters/epochs"].value == 3
    loss = server.store.read_series(info.uuid, "loss")
    assert loss.steps.tolist() == [float(i) for i in range(100)] and loss.values[-1] == pytest.approx(0.01)
    assert server.store.read_series(info.uuid, "notes").values == ["no network here"]
    again = subprocess.run(sync, capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)
    assert again.returncode == 0 and server.store.count_containers(PROJECT, "run") == before + 1  # sent once


GIT = """
import neptune
run = neptune.init_run(capture_hardware_metrics=False, source_files=[])   # git_ref: the client's default
print("ID", run["sys/id"].fetch())
run.stop()
"""


def test_the_git_state_the_client_sends_lands_in_source_code_git(server: TeamServer, tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q", "-b", "feature")
    git("config", "user.email", "ada@example.com")
    git("config", "user.name", "Ada")
    (tmp_path / "train.py").write_text("print(1)\n")
    git("add", "train.py")
    git("commit", "-q", "-m", "first model")
    git("remote", "add", "origin", "https://example.com/ada/vision.git")
    (tmp_path / "train.py").write_text("print(2)\n")  # uncommitted: dirty
    out = neptune(GIT, server, "nell", tmp_path)
    short_id = next(line.split()[1] for line in out.splitlines() if line.startswith("ID "))
    fields = server.store.read_fields(server.store.get_container(short_id=short_id).uuid)
    assert fields["source_code/git/commit_id"].value == git("rev-parse", "HEAD")
    assert fields["source_code/git/message"].value == "first model"
    assert fields["source_code/git/author_name"].value == "Ada"
    assert fields["source_code/git/author_email"].value == "ada@example.com"
    assert fields["source_code/git/branch"].value == "feature" and fields["source_code/git/dirty"].value is True
    assert fields["source_code/git/remotes"].value == {"https://example.com/ada/vision.git"}
    assert fields["source_code/git/commit_date"].type == "Datetime"
