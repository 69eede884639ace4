"""The real neptune 1.x client (``neptune==1.14.0.post2``, unmodified) logs into a naiad server: only
``NEPTUNE_API_TOKEN`` changes.  Each test runs the client in a fresh interpreter against a throw-away
server and checks what landed through naiad's own store reads (issue 20; docs/neptune-wire.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import run_script
from naiad.server.neptune.tokens import neptune_token
from neptune_client import PROJECT, client_env, neptune
from services import TeamServer, team_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    with team_server(tmp_path_factory.mktemp("neptune-wire"),
                     [("nell", PROJECT, "contributor"), ("vic", PROJECT, "viewer")]) as found:
        yield found


LOGGING = """
import neptune
run = neptune.init_run(name="wire", tags=["a", "b"], capture_hardware_metrics=False, capture_stdout=False,
                       capture_stderr=False, capture_traceback=False, source_files=[], git_ref=False,
                       custom_run_id="wire-1")
run["parameters"] = {"lr": 0.01, "depth": 7, "opt": "adam", "nesterov": True}
for i in range(250):
    run["train/loss"].append(1.0 / (i + 1))
    run["val/acc"].append(i / 250, step=i * 2)
run["notes"].append("first")
run["notes"].append("second")
run["sys/tags"].add("c")
run["gone"] = 1
del run["gone"]
run.sync()
print("ID", run["sys/id"].fetch())
print("LR", run["parameters/lr"].fetch())
print("TAGS", sorted(run["sys/tags"].fetch()))
values = run["train/loss"].fetch_values()
print("N", len(values), values["value"].iloc[-1])
run.stop()
"""


@pytest.fixture(params=["embedded", "postgres"])
def any_server(request: pytest.FixtureRequest, server: TeamServer,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """The module's embedded server, or one over PostgreSQL (its own, for this test)."""
    if request.param == "embedded":
        yield server
        return
    with team_server(tmp_path_factory.mktemp("neptune-wire-pg"), [("nell", PROJECT, "contributor")],
                     postgres=True) as found:
        yield found


def test_the_real_client_logs_a_run(any_server: TeamServer, tmp_path: Path) -> None:
    server = any_server
    out = neptune(LOGGING, server, "nell", tmp_path)
    store = server.store
    short_id = next(line.split()[1] for line in out.splitlines() if line.startswith("ID "))
    info = store.get_container(short_id=short_id)
    assert info.project == PROJECT and info.kind == "run" and info.custom_run_id == "wire-1"
    fields = store.read_fields(info.uuid)
    assert fields["sys/owner"].value == "nell"  # the account the token belongs to, not a claim
    assert fields["parameters/lr"].value == 0.01 and fields["parameters/depth"].value == 7
    assert fields["parameters/opt"].value == "adam" and fields["parameters/nesterov"].value is True
    assert fields["sys/name"].value == "wire" and fields["sys/tags"].value == {"a", "b", "c"}
    assert "gone" not in fields
    loss = store.read_series(info.uuid, "train/loss")
    assert loss.steps.tolist() == [float(i) for i in range(250)]  # no step sent: the server numbers them
    assert loss.values[-1] == pytest.approx(1 / 250)
    acc = store.read_series(info.uuid, "val/acc")
    assert acc.steps.tolist() == [float(i * 2) for i in range(250)]
    assert store.read_series(info.uuid, "notes").values == ["first", "second"]
    assert "LR 0.01" in out and "TAGS ['a', 'b', 'c']" in out and "N 250 0.004" in out
    assert _state_soon(store, info.uuid, "finished")  # stop() closed the signals channel cleanly
    # the same custom run id resumes the same run
    again = neptune("import neptune\nrun = neptune.init_run(custom_run_id='wire-1', capture_hardware_metrics="
                    "False, capture_stdout=False, capture_stderr=False, source_files=[], git_ref=False)\n"
                    "print('ID', run['sys/id'].fetch())\nrun.stop()\n", server, "nell", tmp_path)
    assert f"ID {short_id}" in again


def test_a_viewer_reads_but_cannot_log_and_a_revoked_token_is_refused(server: TeamServer, tmp_path: Path) -> None:
    before = server.store.count_containers(PROJECT, "run")
    result = run_script("import neptune\nneptune.init_run(capture_hardware_metrics=False, source_files=[], "
                        "git_ref=False)\n", env=client_env(server, "vic", tmp_path), timeout=120, cwd=tmp_path)
    assert result.returncode != 0 and "Forbidden" in result.stderr  # the client's own class for a 403
    from naiad.store.accounts import Accounts

    accounts = Accounts(server.store)
    token = accounts.create_token("nell")
    accounts.revoke_token(token.split("_")[1])
    env = client_env(server, "nell", tmp_path) | {"NEPTUNE_API_TOKEN": neptune_token(token, server.url)}
    result = run_script("import neptune\nneptune.init_run(capture_hardware_metrics=False, source_files=[], "
                        "git_ref=False)\n", env=env, timeout=120, cwd=tmp_path)
    assert result.returncode != 0 and "Unauthorized" in result.stderr  # its class for a 401
    assert server.store.count_containers(PROJECT, "run") == before


def test_an_access_token_in_use_stops_working_when_its_api_token_is_revoked(server: TeamServer) -> None:
    """The signature of an access token is checked once per server process; its API token's revocation
    is still read on every request, so a token already in use is refused at once."""
    from naiad.store.accounts import Accounts

    accounts = Accounts(server.store)
    token = accounts.create_token("nell")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        access = http.get("/api/backend/v1/authorization/oauth-token",
                          headers={"X-Neptune-Api-Token": neptune_token(token, server.url)}).json()["accessToken"]
        http.headers["authorization"] = f"Bearer {access}"
        for _ in range(2):  # the second request finds the signature checked already
            assert http.get("/api/backend/v1/projects/get", params={"projectIdentifier": PROJECT}).status_code == 200
        accounts.revoke_token(token.split("_")[1])
        refused = http.get("/api/backend/v1/projects/get", params={"projectIdentifier": PROJECT})
        assert refused.status_code == 401 and "revoked" in refused.json()["message"]


def test_token_create_prints_one_neptune_token_line(server: TeamServer, tmp_path: Path) -> None:
    """`naiad token create --neptune URL` prints exactly one line, the NEPTUNE_API_TOKEN value; with it the
    unmodified client logs a run as that account."""
    import subprocess
    import sys

    folder = Path(server.store.location) if Path(server.store.location).exists() else None
    assert folder is not None
    made = subprocess.run([sys.executable, "-m", "naiad", "token", "create", "--user", "ci-bot", "--service",
                           "--project", PROJECT, "--role", "contributor", "--neptune", server.url,
                           "--store", str(folder)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert len(lines) == 1 and "NEPTUNE_API_TOKEN for ci-bot" in made.stderr
    env = client_env(server, "nell", tmp_path) | {"NEPTUNE_API_TOKEN": lines[0]}
    result = run_script("import neptune\nrun = neptune.init_run(capture_hardware_metrics=False, source_files=[], "
                        "git_ref=False)\nrun['x'] = 1\nprint('ID', run['sys/id'].fetch())\nrun.stop()\n",
                        env=env, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    short_id = result.stdout.split("ID ", 1)[1].split()[0]
    fields = server.store.read_fields(server.store.get_container(short_id=short_id).uuid)
    assert fields["sys/owner"].value == "ci-bot" and fields["x"].value == 1
    bad = subprocess.run([sys.executable, "-m", "naiad", "token", "create", "--user", "x", "--neptune", "naiad.local",
                          "--store", str(folder)], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "takes the server's URL" in bad.stderr


FILES = """
import numpy as np
import neptune
from neptune.types import File
run = neptune.init_run(capture_hardware_metrics=False)   # defaults otherwise: source files, stdout captured
run["model/weights"].upload("w-src.bin")
run["data/one"].upload_files(["a.csv"])
run["data/two"].upload_files(["a.csv", "b.csv"])
run["preview"].append(File.as_image(np.full((4, 4, 3), 0.5)))
run["preview"].append(File.as_image(np.zeros((4, 4, 3))))
print("hello from the script")
run.sync()
print("ID", run["sys/id"].fetch())
run["model/weights"].download("got.bin")
run["model/weights"].download()   # into the working folder, under the name the server gives
run["data/two"].download("two.zip")
print("EXT", run["model/weights"].fetch_extension())
run.stop()
"""


def test_files_file_sets_images_and_source_code(server: TeamServer, tmp_path: Path) -> None:
    import hashlib
    import os

    weights = os.urandom(300_000)
    (tmp_path / "w-src.bin").write_bytes(weights)
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("y\n2\n")
    (tmp_path / "train.py").write_text(FILES)
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "train.py"], env=os.environ | client_env(server, "nell", tmp_path),
                            capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "not served" not in result.stderr and "Error" not in result.stderr, result.stderr[-4000:]
    store = server.store
    short_id = result.stdout.split("ID ", 1)[1].split()[0]
    uuid = store.get_container(short_id=short_id).uuid
    fields = store.read_fields(uuid)

    def content(ref: dict[str, object]) -> bytes:
        with store.blobs.open(str(ref["hash"])) as fh:
            data: bytes = fh.read()
        return data

    weights_ref = fields["model/weights"].value
    assert weights_ref["hash"] == hashlib.sha256(weights).hexdigest() and weights_ref["ext"] == "bin"
    assert content(weights_ref) == weights
    assert sorted(fields["data/one"].value) == ["a.csv"]
    assert sorted(fields["data/two"].value) == ["a.csv", "b.csv"]
    assert content(fields["data/two"].value["b.csv"]) == b"y\n2\n"
    images = store.read_series(uuid, "preview")
    assert len(images.values) == 2 and all(content(json.loads(v))[:4] == b"\x89PNG" for v in images.values)
    assert fields["source_code/entrypoint"].value == "train.py"  # the client's source capture, by default
    assert content(fields["source_code/files"].value["train.py"]) == FILES.encode()
    assert any(p.startswith("monitoring/") and p.endswith("/stdout") for p in fields)
    # and back through the client: the file, the file set as a zip
    import zipfile

    assert (tmp_path / "got.bin").read_bytes() == weights and "EXT bin" in result.stdout
    assert (tmp_path / "weights.bin").read_bytes() == weights  # named by the field: weights + .bin
    with zipfile.ZipFile(tmp_path / "two.zip") as zf:
        assert sorted(zf.namelist()) == ["a.csv", "b.csv"] and zf.read("b.csv") == b"y\n2\n"


TABLE = """
import neptune
for i, lr in enumerate([0.01, 0.02, 0.03]):
    run = neptune.init_run(project="acme/tables", name=f"r{i}", tags=["sweep"] + (["best"] if i == 2 else []),
                           capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                           source_files=[], git_ref=False)
    run["parameters/lr"] = lr
    for s in range(3):
        run["val/acc"].append(lr * 10 + s)
    run.stop()
project = neptune.init_project(project="acme/tables", mode="read-only")
every = project.fetch_runs_table().to_pandas()
print("ALL", len(every), sorted(every["sys/name"]))
picked = project.fetch_runs_table(query="`parameters/lr`:float > 0.015", columns=["parameters/lr", "val/acc"],
                                  sort_by="parameters/lr", ascending=True).to_pandas()
print("PICKED", picked["parameters/lr"].tolist(), picked["val/acc"].tolist())
tagged = project.fetch_runs_table(tag="best", columns=["sys/name"]).to_pandas()
print("TAGGED", tagged["sys/name"].tolist())
limited = project.fetch_runs_table(limit=2, sort_by="parameters/lr", columns=["parameters/lr"]).to_pandas()
print("LIMITED", limited["parameters/lr"].tolist())
project.stop()
project = neptune.init_project(project="acme/tables")
project["notes"] = "the sweep of december"
project.stop()
"""


def test_fetch_runs_table_with_queries_columns_sorting_and_limits(server: TeamServer, tmp_path: Path) -> None:
    from naiad.store.accounts import Accounts

    Accounts(server.store).grant("nell", "acme/tables", "contributor")
    out = neptune(TABLE, server, "nell", tmp_path, timeout=180)
    assert "ALL 3 ['r0', 'r1', 'r2']" in out
    assert "PICKED [0.02, 0.03] [2.2, 2.3]" in out
    assert "TAGGED ['r2']" in out
    assert "LIMITED [0.03, 0.02]" in out
    ids = server.store.query_table("acme/tables", "project", columns=["notes"]).rows
    assert [row["notes"].value for row in ids] == ["the sweep of december"]  # the project's own fields


MODELS = """
import neptune
model = neptune.init_model(project="acme/vision", key="CLS", name="classifier")
model["description/text"] = "defect classifier"
model_id = model["sys/id"].fetch()
model.stop()
for i in range(2):
    version = neptune.init_model_version(model=model_id, project="acme/vision")
    version["metrics/acc"] = 0.8 + i / 10
    version.stop()
version = neptune.init_model_version(with_id=f"{model_id}-2", project="acme/vision")
version.change_stage("production")
version.wait()
print("STAGE", version["sys/stage"].fetch())
version.stop()
model = neptune.init_model(with_id=model_id, project="acme/vision", mode="read-only")
table = model.fetch_model_versions_table(columns=["metrics/acc", "sys/stage"]).to_pandas()
print("VERSIONS", sorted(zip(table["sys/id"], table["metrics/acc"], table["sys/stage"])))
model.stop()
project = neptune.init_project(project="acme/vision", mode="read-only")
print("MODELS", project.fetch_models_table(columns=["sys/name"]).to_pandas()["sys/id"].tolist())
try:
    neptune.init_model(project="acme/vision", key="CLS")
except neptune.exceptions.NeptuneModelKeyAlreadyExistsError:
    print("KEY TAKEN")
"""


def test_models_versions_stages_and_their_tables(server: TeamServer, tmp_path: Path) -> None:
    out = neptune(MODELS, server, "nell", tmp_path, timeout=180)
    model = "VIS-CLS"
    assert "STAGE production" in out
    assert f"VERSIONS [('{model}-1', 0.8, 'none'), ('{model}-2', 0.9, 'production')]" in out
    assert f"MODELS ['{model}']" in out and "KEY TAKEN" in out
    store = server.store
    events = [e for e in store.registry_events(PROJECT, model) if e.kind == "stage"]
    assert [(e.version, e.after, e.actor) for e in events] == [(f"{model}-2", "production", "nell")]
    fields = store.read_fields(store.get_container(short_id=f"{model}-1").uuid)
    assert fields["sys/model_id"].value == model and fields["metrics/acc"].value == 0.8


ARTIFACTS = """
import neptune
run = neptune.init_run(capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                       source_files=[], git_ref=False)
run["datasets/train"].track_files("data")
run.wait()
run["datasets/train"].track_files("extra.csv")   # a new version of the same field: the files added
run.wait()
print("HASH", run["datasets/train"].fetch_hash())
print("FILES", sorted(f.file_path for f in run["datasets/train"].fetch_files_list()))
print("ID", run["sys/id"].fetch())
run.stop()
"""


def test_track_files_lands_as_a_dataset_version(server: TeamServer, tmp_path: Path) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.csv").write_text("x\n1\n")
    (tmp_path / "data" / "sub" / "b.csv").write_text("y\n2\n")
    (tmp_path / "extra.csv").write_text("z\n3\n")
    out = neptune(ARTIFACTS, server, "nell", tmp_path, timeout=180)
    store = server.store
    short_id = out.split("ID ", 1)[1].split()[0]
    value = store.read_fields(store.get_container(short_id=short_id).uuid)["datasets/train"].value
    paths = sorted(e["file_path"] for e in value["files"])
    assert paths == ["a.csv", "extra.csv", "sub/b.csv"]
    assert f"HASH {value['hash']}" in out and "FILES ['a.csv', 'extra.csv', 'sub/b.csv']" in out
    uses = store.dataset_uses(PROJECT, value["hash"])
    assert [u.container for u in uses] == [short_id]  # naiad's datasets index knows the version


def _state_soon(store: Any, uuid: str, state: str, seconds: float = 10.0) -> bool:
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        if store.read_fields(uuid, ["sys/state"])["sys/state"].value == state:
            return True
        time.sleep(0.1)
    return False


KILLED = """
import os, signal, time
import neptune
run = neptune.init_run(capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                       source_files=[], git_ref=False, custom_run_id="{custom}")
run["x"] = 1
run.sync()
print("ID", run["sys/id"].fetch(), flush=True)
{ending}
"""


def test_sys_state_tells_finished_failed_and_killed_apart(server: TeamServer, tmp_path: Path) -> None:
    import time

    store = server.store
    ids = {}
    for custom, ending, ok in (("ends-well", "run.stop()", True),
                               ("raises", "raise RuntimeError('training diverged')", False),
                               ("killed", "time.sleep(2)\nos.kill(os.getpid(), signal.SIGKILL)", False)):
        result = run_script(KILLED.format(custom=custom, ending=ending), env=client_env(server, "nell", tmp_path),
                            timeout=120, cwd=tmp_path)
        assert (result.returncode == 0) == ok, result.stderr[-3000:]
        ids[custom] = store.get_container(short_id=result.stdout.split("ID ", 1)[1].split()[0]).uuid
    assert _state_soon(store, ids["ends-well"], "finished")
    assert _state_soon(store, ids["raises"], "failed")
    time.sleep(1)
    assert store.read_fields(ids["killed"], ["sys/state"])["sys/state"].value == "running"  # until pings are missed


def _access(server: TeamServer, who: str) -> httpx.Client:
    """An HTTP client holding ``who``'s access token, exchanged as the neptune client does."""
    http = httpx.Client(base_url=server.url, timeout=60)
    answer = http.get("/api/backend/v1/authorization/oauth-token",
                      headers={"X-Neptune-Api-Token": neptune_token(server.tokens[who], server.url)})
    assert answer.status_code == 200, answer.text
    http.headers["authorization"] = f"Bearer {answer.json()['accessToken']}"
    return http


@pytest.fixture(scope="module")
def two_projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    with team_server(tmp_path_factory.mktemp("neptune-wire-attack"),
                     [("nell", PROJECT, "contributor"), ("eve", "evil/proj", "contributor")]) as found:
        yield found


def test_an_access_token_cannot_be_forged_for_another_account(two_projects: TeamServer) -> None:
    """The signing key is the server's: eve's own secret does not let her sign one for the admin."""
    import hashlib

    import jwt

    server = two_projects
    with closing(_access(server, "eve")) as http:
        token = http.headers["authorization"].split(" ", 1)[1]
        claims = jwt.decode(token, options={"verify_signature": False})
        secret = server.tokens["eve"].split("_", 2)[2]
        for key in (hashlib.sha256(secret.encode()).hexdigest(), secret):  # what she could compute
            forged = jwt.encode({**claims, "sub": "nell"}, key, algorithm="HS256")
            answer = http.get("/api/backend/v1/projects/get", params={"projectIdentifier": PROJECT},
                              headers={"authorization": f"Bearer {forged}"})
            assert answer.status_code == 401, answer.text
        assert http.get("/api/backend/v1/myOrganizations").status_code == 200  # her own token works


def test_naming_a_hash_is_no_way_into_another_projects_files(two_projects: TeamServer, tmp_path: Path) -> None:
    """nell's file in acme/vision: eve (only in evil/proj) names its hash in an artifact's metadata over the
    neptune API and in a File field over /api/v1; neither gives her the bytes."""
    import hashlib
    import os
    import uuid as uuidlib

    from naiad.core import ops as O
    from naiad.core.ops import Batch, encode_batch
    from naiad.store import wire

    server = two_projects
    secret = b"acme secret " + os.urandom(16)
    digest = hashlib.sha256(secret).hexdigest()
    with closing(_access(server, "nell")) as nell:
        run = nell.post("/api/leaderboard/v1/experiments", json={"projectIdentifier": PROJECT, "type": "run"}).json()
        assert nell.post("/api/leaderboard/v1/attributes/upload", params={
            "experimentIdentifier": run["id"], "attribute": "model", "ext": "bin"}, content=secret).status_code == 200
    eve = _access(server, "eve")
    mine = eve.post("/api/leaderboard/v1/experiments", json={"projectIdentifier": "evil/proj", "type": "run"}).json()
    eve.post("/api/artifacts/v2/artifacts/metadata", params={"projectIdentifier": "evil/proj", "hash": "h" * 40},
             json={"files": [{"filePath": "x", "fileHash": digest, "type": "Local", "size": 1,
                              "metadata": [{"key": "blob", "value": digest}]}]})
    eve.post("/api/leaderboard/v1/experiments/operations", params={"experimentId": mine["id"]},
             json=[{"path": "data", "assignArtifact": {"hash": "h" * 40}}])
    eve.close()
    v1 = {"authorization": f"Bearer {server.tokens['eve']}"}
    assert httpx.get(f"{server.url}/api/v1/blobs/{digest}", headers=v1).status_code == 404
    batch = Batch(uuidlib.uuid4().hex, "eve-w", 1, [(O.CREATE, "", {"project": "evil/proj", "kind": "run"}),
                                                   (O.ASSIGN, "f", "File", {"hash": digest, "size": len(secret),
                                                                            "ext": "bin", "name": None})])
    answer = httpx.post(f"{server.url}/api/v1/batches", content=encode_batch(batch),
                        headers={**v1, "content-type": wire.BATCH_MEDIA_TYPE})
    assert answer.status_code == 404 and "upload the file first" in answer.text
    assert httpx.get(f"{server.url}/api/v1/blobs/{digest}", headers=v1).status_code == 404
    # sending the bytes herself is what lets her refer to them (she holds the content)
    assert httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=secret, headers=v1).status_code == 200
    answer = httpx.post(f"{server.url}/api/v1/batches", content=encode_batch(batch),
                        headers={**v1, "content-type": wire.BATCH_MEDIA_TYPE})
    assert answer.status_code == 200, answer.text


def test_malformed_operations_are_said_and_the_run_stays_readable(two_projects: TeamServer) -> None:
    server = two_projects
    nell = _access(server, "nell")
    run = nell.post("/api/leaderboard/v1/experiments", json={"projectIdentifier": PROJECT, "type": "run"}).json()
    bad = [{"path": "i", "assignInt": {"value": "abc"}}, {"path": "b", "assignBool": {"value": "yes"}},
           {"path": "d", "assignDatetime": {"valueMilliseconds": "x"}}, {"path": "s", "logFloats": {"entries": 5}},
           {"path": "s", "logFloats": {"entries": [7, {"value": "nan?", "step": "x"}]}},
           {"path": "t", "insertStrings": {"values": 3}}, {"path": "big", "assignInt": {"value": 2**70}},
           {"path": "a/../../b", "assignString": {"value": "x"}}, {"path": "ok", "assignFloat": {"value": 1.5}},
           {"path": "sys/stage", "assignString": "prod"}, "not an operation"]
    answer = nell.post("/api/leaderboard/v1/experiments/operations", params={"experimentId": run["id"]}, json=bad)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()) >= 8  # each refusal said
    fields = server.store.read_fields(run["id"])
    assert fields["ok"].value == 1.5 and "i" not in fields and "b" not in fields
    table = nell.post("/api/leaderboard/v1/leaderboard/entries", params={"projectIdentifier": PROJECT, "type": "run"},
                      json={"pagination": {"limit": 50, "offset": 0}})
    assert table.status_code == 200
    for params in ({"pagination": {"limit": "x"}}, {"query": "plain"}, {"pagination": {"offset": 1e20, "limit": 1}}):
        answer = nell.post("/api/leaderboard/v1/leaderboard/entries",
                           params={"projectIdentifier": PROJECT, "type": "run"}, json=params)
        assert answer.status_code in (200, 400), (params, answer.text)
    for kind in ("datetime", "stringSet"):
        answer = nell.get(f"/api/leaderboard/v1/attributes/{kind}", params={"experimentId": run["id"],
                                                                             "attribute": "ok"})
        assert answer.status_code == 404, answer.text
    nell.close()


PAGED = """
import neptune
run = neptune.init_run(capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                       source_files=[], git_ref=False)
run["long"].extend([i * 0.001 for i in range(25_000)])
run["words"].extend([f"w{i}" for i in range(12_000)])
run.sync()
values = run["long"].fetch_values()
words = run["words"].fetch_values()
print("LONG", len(values), values["step"].iloc[0], values["step"].iloc[-1], values["value"].iloc[-1])
print("WORDS", len(words), words["value"].iloc[10_001])
run.stop()
"""


def test_fetch_values_pages_through_a_long_series(server: TeamServer, tmp_path: Path) -> None:
    """The client reads 10,000 points a request; each page is read from the chunks it touches."""
    out = neptune(PAGED, server, "nell", tmp_path)
    assert "LONG 25000 0.0 24999.0 24.999" in out and "WORDS 12000 w10001" in out


BIG = """
import hashlib, os
import neptune
data = os.urandom(2 * (8 << 20) + 4321)    # three parts of the blob store's size, the last ragged
open("big.bin", "wb").write(data)
print("SHA", hashlib.sha256(data).hexdigest())
run = neptune.init_run(capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                       source_files=[], git_ref=False)
run["model/weights"].upload("big.bin")
run["data/set"].upload_files(["big.bin"])
run.sync()
print("ID", run["sys/id"].fetch())
run["model/weights"].download("back.bin")
print("BACK", hashlib.sha256(open("back.bin", "rb").read()).hexdigest())
run.stop()
"""


def test_a_file_over_the_single_part_size_is_sent_in_parts(server: TeamServer, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Above ``NAIAD_NEPTUNE_SINGLE_PART`` (256 MiB; 1 MiB here) the client sends a file in 8 MiB parts;
    the blob is named by its SHA-256 when they are joined, and is the same blob a single upload makes."""
    monkeypatch.setenv("NAIAD_NEPTUNE_SINGLE_PART", str(1 << 20))
    out = neptune(BIG, server, "nell", tmp_path, timeout=180)
    digest = out.split("SHA ", 1)[1].split()[0]
    assert f"BACK {digest}" in out
    short_id = out.split("ID ", 1)[1].split()[0]
    fields = server.store.read_fields(server.store.get_container(short_id=short_id).uuid)
    assert fields["model/weights"].value["hash"] == digest and fields["model/weights"].value["ext"] == "bin"
    assert fields["data/set"].value["big.bin"]["hash"] == digest
    assert server.store.blobs.size(digest) == 2 * (8 << 20) + 4321


READS = """
import os
import numpy as np
import neptune
from neptune.types import File
os.makedirs("data/sub", exist_ok=True)
open("data/a.csv", "w").write("a,b\\n1,2\\n")
open("data/sub/b.csv", "w").write("x\\n" * 100)
run = neptune.init_run(capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                       source_files=[], git_ref=False)
run["params/lr"] = 0.25
run["params/name"] = "resnet"
run["copy/lr"] = run["params/lr"]          # copies: the client reads the source and assigns it
run["copy/name"] = run["params/name"]
run["data"].upload_files("data")
for value in (0.0, 0.5, 1.0):
    run["preview"].append(File.as_image(np.full((4, 4, 3), value)))
run.sync()
print("COPY", run["copy/lr"].fetch(), run["copy/name"].fetch())
print("TOP", sorted((e.name, e.file_type, e.size) for e in run["data"].list_fileset_files()))
print("SUB", [(e.name, e.size) for e in run["data"].list_fileset_files(path="data/sub")])
run["preview"].download("images")
print("IMAGES", sorted(os.listdir("images")))
run["preview"].download_last("last")
print("LAST", sorted(os.listdir("last")))
run.stop()
"""


def test_copies_file_set_listings_and_image_series_downloads(server: TeamServer, tmp_path: Path) -> None:
    out = neptune(READS, server, "nell", tmp_path)
    assert "COPY 0.25 resnet" in out
    assert "TOP [('data', 'directory', 208)]" in out  # the client uploads the folder under its own name
    assert "SUB [('b.csv', 200)]" in out
    assert "IMAGES ['0.png', '1.png', '2.png']" in out and "LAST ['2.png']" in out
    assert (tmp_path / "images" / "1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
