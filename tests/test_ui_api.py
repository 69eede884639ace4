"""What the web UI reads and writes, over real HTTP on loopback: the projects overview, a project's field
paths, series points as JSON, JSON edits, saved views, the UI's own files, and the ``naiad ui`` command.

Most tests serve an embedded store with ``anonymous_role="owner"`` (as ``naiad ui`` does), in the folder
the SDK of the test writes to; the permission tests share one team server with accounts.
"""

from __future__ import annotations

import math
import os
import select
import socket
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

import naiad
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.server.app import create_app
from naiad.server.ui import mount_ui
from naiad.store import wire
from naiad.store.base import MODEL, RUN, ContainerInfo, Store
from naiad.store.blobs import LocalBlobs
from naiad.store.postgres import PostgresStore
from naiad.store.sql import SqlStore
from naiad.store.sqlite import SqliteStore
from services import TeamServer, admin_token, assert_envelope, postgres_store_dsn, serve_in_thread, team_server

API = "/api/v1"
ALPHA, BETA, GAMMA = "team/alpha", "team/beta", "team/gamma"
T0 = 1_700_000_000.0
OVERVIEW_KEYS = {"id", "name", "key", "created", "runs", "models", "last_activity"}


# ----------------------------------------------------------------------------------------------- helpers
def new_uuid() -> str:
    return uuidlib.uuid4().hex


def series(path: str, values: list[Any], steps: list[float] | None = None) -> O.Op:
    """A POINTS op: a list of str makes a StringSeries, anything else a FloatSeries."""
    steps_arr = np.arange(len(values), dtype=np.float64) if steps is None else np.asarray(steps, dtype=np.float64)
    ts = T0 + steps_arr
    if all(isinstance(v, str) for v in values):
        return (O.POINTS, path, F.STRING_SERIES, steps_arr, ts, list(values))
    return (O.POINTS, path, F.FLOAT_SERIES, steps_arr, ts, np.asarray(values, dtype=np.float64))


def write(store: Store, info: ContainerInfo, *ops: O.Op) -> None:
    result = store.apply(O.Batch(info.uuid, "w-" + new_uuid(), 1, list(ops)))
    assert result.errors == []


@dataclass
class Local:
    """An embedded store served as ``naiad ui`` serves it: no accounts, everyone an owner."""

    store: Store
    url: str
    api: httpx.Client
    project: str = "defects"  # the test's own project (a shared store gives each test new ones)
    other: str = "vision"

    def run(self, project: str | None = None, kind: str = RUN, **kwargs: Any) -> ContainerInfo:
        return self.store.create_container(project or self.project, kind, new_uuid(), **kwargs)

    def write(self, info: ContainerInfo, *ops: O.Op) -> None:
        write(self.store, info, *ops)

    def edit(self, info: ContainerInfo, *ops: dict[str, Any], **extra: Any) -> httpx.Response:
        return self.api.post(f"/containers/{info.uuid}/edit", json={"ops": list(ops), **extra})

    def points(self, info: ContainerInfo, path: str, **params: Any) -> httpx.Response:
        return self.api.get(f"/containers/{info.uuid}/points", params={"path": path, **params})

    def save_view(self, project: str, name: str, view: dict[str, Any] | None) -> httpx.Response:
        return self.api.put("/projects/views", json={"project": project, "name": name, "view": view})

    def views(self, project: str) -> httpx.Response:
        return self.api.get("/projects/views", params={"project": project})

    def value(self, info: ContainerInfo, path: str) -> Any:
        found = self.store.read_fields(info.uuid, [path]).get(path)
        return None if found is None else found.value


@contextmanager
def served(store: Store) -> Iterator[Local]:
    try:
        with serve_in_thread(create_app(store, anonymous_role="owner", ui=False)) as url, \
                httpx.Client(base_url=url + API, timeout=30) as api:
            yield Local(store, url, api)
    finally:
        store.close()


@pytest.fixture(scope="module")
def shared_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Local]]:
    folder = tmp_path_factory.mktemp("ui-local") / ".naiad"
    with served(SqliteStore(folder)) as found:
        yield folder, found


@pytest.fixture
def local(shared_local: tuple[Path, Local], monkeypatch: pytest.MonkeyPatch) -> Local:
    """A store served with everyone an owner (shared by the module: each test has projects of its own);
    the SDK of the test writes to it too."""
    folder, found = shared_local
    monkeypatch.setenv("NAIAD_URI", str(folder))
    tag = new_uuid()[:8]
    return Local(found.store, found.url, found.api, project=f"defects-{tag}", other=f"vision-{tag}")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Local]:
    """A store of the test's own, served with everyone an owner (for what looks at the whole store)."""
    with served(SqliteStore(tmp_path / "fresh")) as found:
        yield found


# ------------------------------------------------------------------------------------- a team server
@dataclass
class Team:
    server: TeamServer
    alpha: ContainerInfo
    beta: ContainerInfo

    def client(self, who: str | None) -> httpx.Client:
        headers = {} if who is None else {"authorization": f"Bearer {self.server.tokens[who]}"}
        return httpx.Client(base_url=self.server.url + API, headers=headers, timeout=30)

    def new_alpha_run(self) -> ContainerInfo:
        return self.server.store.create_container(ALPHA, RUN, new_uuid())


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """Viewer "vera" and contributor "carl" of alpha, viewer "olga" of beta; gamma is the admin's alone."""
    grants = [("vera", ALPHA, "viewer"), ("carl", ALPHA, "contributor"), ("olga", BETA, "viewer")]
    with team_server(tmp_path_factory.mktemp("ui-team"), grants) as server:
        store = server.store
        alpha = store.create_container(ALPHA, RUN, new_uuid())
        write(store, alpha, (O.ASSIGN, "params/lr", F.FLOAT, 0.1), series("train/loss", [3.0, 2.0, 1.0]))
        beta = store.create_container(BETA, RUN, new_uuid())
        write(store, beta, (O.ASSIGN, "params/beta_secret", F.STRING, "beta only"), series("beta/loss", [1.0]))
        store.create_container(GAMMA, RUN, new_uuid())
        yield Team(server, alpha, beta)


# ------------------------------------------------------------------------------------ projects overview
def test_overview_lists_each_project_with_its_runs_models_and_last_activity(fresh: Local) -> None:
    local = fresh
    first = local.run("defects", created=T0)
    second = local.run("defects", created=T0 + 10)
    local.run("defects", kind=MODEL, key="CLS")
    vision = local.run("vision")
    local.write(first, (O.ASSIGN, "params/lr", F.FLOAT, 0.1))  # the last change of defects
    local.store.get_or_create_project("empty")

    response = local.api.get("/projects/overview")
    assert response.status_code == 200, response.text
    found = {p["name"]: p for p in response.json()}
    assert set(found) == {"defects", "vision", "empty"}
    for name, entry in found.items():
        assert set(entry) == OVERVIEW_KEYS
        project = local.store.get_project(name)
        assert (entry["id"], entry["key"], entry["created"]) == (project.id, project.key, project.created)
    assert (found["defects"]["runs"], found["defects"]["models"]) == (2, 1)
    assert (found["vision"]["runs"], found["vision"]["models"]) == (1, 0)
    assert (found["empty"]["runs"], found["empty"]["models"], found["empty"]["last_activity"]) == (0, 0, None)

    def modified(info: ContainerInfo) -> float:
        return float(local.value(info, "sys/modification_time"))

    assert found["defects"]["last_activity"] == max(modified(first), modified(second)) == modified(first)
    assert found["vision"]["last_activity"] == modified(vision)


def test_overview_of_an_empty_store_is_an_empty_list(fresh: Local) -> None:
    response = fresh.api.get("/projects/overview")
    assert response.status_code == 200
    assert response.json() == []


def test_overview_lists_only_the_projects_the_caller_has_a_role_in(team: Team) -> None:
    seen = {}
    for who in ("admin", "vera", "carl", "olga"):
        with team.client(who) as api:
            response = api.get("/projects/overview")
        assert response.status_code == 200, response.text
        seen[who] = sorted(p["name"] for p in response.json())
    assert seen == {"admin": [ALPHA, BETA, GAMMA], "vera": [ALPHA], "carl": [ALPHA], "olga": [BETA]}


def test_overview_on_a_team_server_needs_a_token(team: Team) -> None:
    with team.client(None) as api:
        assert_envelope(api.get("/projects/overview"), 401, "unauthenticated")


# ---------------------------------------------------------------------------------------- field paths
def test_fields_give_every_path_of_the_projects_runs_with_its_type(local: Local) -> None:
    run = local.run(local.project)
    local.write(run, (O.ASSIGN, "params/lr", F.FLOAT, 0.1), (O.ASSIGN, "params/batch", F.INTEGER, 32),
                series("train/loss", [0.5, 0.4]), series("train/log", ["a"]), (O.ADD, "sys/tags", ["cnn"]))
    model = local.run(local.project, kind=MODEL, key="CLS")
    local.write(model, (O.ASSIGN, "model/arch", F.STRING, "resnet"))

    response = local.api.get("/projects/fields", params={"project": local.project})
    assert response.status_code == 200, response.text
    found = response.json()
    assert found == local.store.field_paths(local.project, RUN)
    assert list(found) == sorted(found)
    assert {k: found[k] for k in ("params/lr", "params/batch", "train/loss", "train/log", "sys/tags")} == {
        "params/lr": F.FLOAT, "params/batch": F.INTEGER, "train/loss": F.FLOAT_SERIES,
        "train/log": F.STRING_SERIES, "sys/tags": F.STRING_SET}
    assert "model/arch" not in found

    models = local.api.get("/projects/fields", params={"project": local.project, "kind": "model"}).json()
    assert models["model/arch"] == F.STRING
    assert "params/lr" not in models


def test_fields_of_an_unknown_project_is_a_404_envelope(local: Local) -> None:
    local.run(local.project)
    error = assert_envelope(local.api.get("/projects/fields", params={"project": "nope"}), 404, "project_not_found")
    assert "nope" in error["message"]


def test_fields_refuse_an_unknown_kind_or_a_missing_project(local: Local) -> None:
    local.run(local.project)
    assert_envelope(local.api.get("/projects/fields", params={"project": local.project, "kind": "tables"}),
                    422, "bad_request")
    assert_envelope(local.api.get("/projects/fields"), 422, "bad_request")


def test_fields_need_a_role_in_the_project(team: Team) -> None:
    with team.client("vera") as api:
        mine = api.get("/projects/fields", params={"project": ALPHA})
        assert mine.status_code == 200, mine.text
        assert mine.json()["params/lr"] == F.FLOAT
        error = assert_envelope(api.get("/projects/fields", params={"project": BETA}), 404, "project_not_found")
        assert "beta_secret" not in error["message"]
    with team.client("olga") as api:
        assert_envelope(api.get("/projects/fields", params={"project": ALPHA}), 404, "project_not_found")
        assert api.get("/projects/fields", params={"project": BETA}).json()["params/beta_secret"] == F.STRING


# ------------------------------------------------------------------------------------------ series points
def test_points_give_a_page_of_a_float_series(local: Local) -> None:
    run = local.run()
    local.write(run, series("train/loss", [5.0, 4.0, 3.0, 2.0, 1.0], steps=[0, 10, 20, 30, 40]))
    response = local.points(run, "train/loss")
    assert response.status_code == 200, response.text
    assert response.json() == {"total": 5, "offset": 0, "steps": [0.0, 10.0, 20.0, 30.0, 40.0],
                               "timestamps": [T0, T0 + 10, T0 + 20, T0 + 30, T0 + 40],
                               "values": [5.0, 4.0, 3.0, 2.0, 1.0]}
    page = local.points(run, "train/loss", offset=1, limit=2).json()
    assert page == {"total": 5, "offset": 1, "steps": [10.0, 20.0], "timestamps": [T0 + 10, T0 + 20],
                    "values": [4.0, 3.0]}


def test_a_negative_offset_counts_from_the_end(local: Local) -> None:
    run = local.run()
    local.write(run, series("train/loss", [5.0, 4.0, 3.0, 2.0, 1.0]))
    last_two = local.points(run, "train/loss", offset=-2).json()
    assert (last_two["total"], last_two["offset"], last_two["steps"], last_two["values"]) == (
        5, 3, [3.0, 4.0], [2.0, 1.0])
    middle = local.points(run, "train/loss", offset=-4, limit=2).json()
    assert (middle["offset"], middle["values"]) == (1, [4.0, 3.0])
    everything = local.points(run, "train/loss", offset=-100).json()
    assert (everything["offset"], everything["values"]) == (0, [5.0, 4.0, 3.0, 2.0, 1.0])


def test_an_offset_past_the_end_gives_no_points(local: Local) -> None:
    run = local.run()
    local.write(run, series("train/loss", [1.0, 2.0]))
    assert local.points(run, "train/loss", offset=7).json() == {
        "total": 2, "offset": 2, "steps": [], "timestamps": [], "values": []}


def test_points_of_a_string_series_are_its_lines(local: Local) -> None:
    run = local.run()
    local.write(run, series("monitoring/stdout", ["epoch 0", "epoch 1", "done"]))
    assert local.points(run, "monitoring/stdout").json()["values"] == ["epoch 0", "epoch 1", "done"]
    tail = local.points(run, "monitoring/stdout", offset=-1).json()
    assert (tail["total"], tail["offset"], tail["steps"], tail["values"]) == (3, 2, [2.0], ["done"])


def test_infinite_values_come_as_strings(local: Local) -> None:
    run = local.run()
    local.write(run, series("grad/up", [1.0, math.inf, 2.0]), series("grad/down", [-math.inf, 0.5]))
    assert local.points(run, "grad/up").json()["values"] == [1.0, "Infinity", 2.0]
    assert local.points(run, "grad/down").json()["values"] == ["-Infinity", 0.5]


def test_nan_values_come_as_NaN(tmp_path: Path) -> None:
    # the embedded SQLite store cannot hold a NaN point; a PostgreSQL store can
    with served(PostgresStore(postgres_store_dsn(tmp_path / "pg"), LocalBlobs(tmp_path / "blobs"))) as pg:
        run = pg.run()
        pg.write(run, series("train/loss", [1.0, math.nan, 0.5]))
        response = pg.points(run, "train/loss")
        assert response.status_code == 200, response.text
        assert response.json()["values"] == [1.0, "NaN", 0.5]


def test_points_of_a_field_that_is_not_a_series_are_not_found(local: Local) -> None:
    run = local.run()
    local.write(run, (O.ASSIGN, "params/lr", F.FLOAT, 0.1))
    assert_envelope(local.points(run, "params/lr"), 404, "missing_field")
    assert_envelope(local.points(run, "train/missing"), 404, "missing_field")


def test_points_of_an_unknown_container_are_not_found(local: Local) -> None:
    response = local.api.get(f"/containers/{new_uuid()}/points", params={"path": "train/loss"})
    assert_envelope(response, 404, "container_not_found")


def test_points_refuse_a_limit_out_of_range(local: Local) -> None:
    run = local.run()
    local.write(run, series("train/loss", [1.0]))
    assert_envelope(local.points(run, "train/loss", limit=0), 422, "bad_request")
    assert_envelope(local.points(run, "train/loss", limit=100_001), 422, "bad_request")


def test_points_of_a_run_in_a_project_without_a_role_are_not_found(team: Team) -> None:
    with team.client("vera") as api:
        mine = api.get(f"/containers/{team.alpha.uuid}/points", params={"path": "train/loss"})
        assert mine.status_code == 200 and mine.json()["values"] == [3.0, 2.0, 1.0]
        theirs = api.get(f"/containers/{team.beta.uuid}/points", params={"path": "beta/loss"})
        assert_envelope(theirs, 404, "container_not_found")


# ------------------------------------------------------------------------------------------------- edits
def test_edit_adds_and_removes_tags_assigns_and_deletes_fields(local: Local) -> None:
    run = local.run()
    local.write(run, (O.ADD, "sys/tags", ["old", "keep"]), (O.ASSIGN, "params/obsolete", F.FLOAT, 1.0))
    response = local.edit(
        run,
        {"op": "add", "path": "sys/tags", "values": ["new", "best"]},
        {"op": "remove", "path": "sys/tags", "values": ["old"]},
        {"op": "assign", "path": "sys/description", "type": "String", "value": "the good one"},
        {"op": "assign", "path": "params/epochs", "type": "Integer", "value": 12},
        {"op": "assign", "path": "params/ratio", "type": "Float", "value": 3},
        {"op": "assign", "path": "params/augment", "type": "Boolean", "value": True},
        {"op": "delete", "path": "params/obsolete"})
    assert response.status_code == 200, response.text
    assert response.json() == {"seq": 1, "errors": []}
    got = local.store.read_fields(run.uuid)
    assert got["sys/tags"].value == {"keep", "new", "best"}
    assert got["sys/description"].value == "the good one"
    assert (got["params/epochs"].type, got["params/epochs"].value) == (F.INTEGER, 12)
    assert (got["params/ratio"].type, got["params/ratio"].value) == (F.FLOAT, 3.0)
    assert (got["params/augment"].type, got["params/augment"].value) == (F.BOOLEAN, True)
    assert "params/obsolete" not in got


def test_edits_are_visible_to_the_sdk(local: Local) -> None:
    run = naiad.init_run(project=local.project, name="first name", tags=["keep", "old"])
    run["params/obsolete"] = 1.0
    run_id = run["sys/id"].fetch()
    run.stop()
    info = local.store.get_container(short_id=run_id)
    response = local.edit(
        info,
        {"op": "add", "path": "sys/tags", "values": ["best"]},
        {"op": "remove", "path": "sys/tags", "values": ["old"]},
        {"op": "assign", "path": "sys/name", "type": "String", "value": "renamed"},
        {"op": "assign", "path": "sys/description", "type": "String", "value": "from the UI"},
        {"op": "delete", "path": "params/obsolete"})
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == []

    again = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        assert again["sys/tags"].fetch() == {"keep", "best"}
        assert again["sys/name"].fetch() == "renamed"
        assert again["sys/description"].fetch() == "from the UI"
        assert not again.exists("params/obsolete")
    finally:
        again.stop()


@pytest.mark.parametrize(("path", "op"), [
    ("sys/state", {"op": "assign", "type": "String", "value": "inactive"}),
    ("sys/id", {"op": "assign", "type": "String", "value": "DEF-999"}),
    ("sys/owner", {"op": "assign", "type": "String", "value": "mallory"}),
    ("sys/creation_time", {"op": "delete"}),
    ("sys/stage", {"op": "assign", "type": "String", "value": "production"}),
    ("sys/trashed", {"op": "assign", "type": "Boolean", "value": True}),
    ("sys/aliases", {"op": "add", "values": ["prod"]}),
    ("sys", {"op": "delete"}),
])
def test_naiads_own_sys_fields_cannot_be_edited(local: Local, path: str, op: dict[str, Any]) -> None:
    run = local.run()
    before = local.store.read_fields(run.uuid)
    response = local.edit(run, {"op": "add", "path": "sys/tags", "values": ["sneaky"]}, {**op, "path": path})
    error = assert_envelope(response, 400, "bad_request")
    assert f"'{path}'" in error["message"]
    assert local.store.read_fields(run.uuid) == before  # the whole edit is refused, the tag too


def test_a_writer_without_a_seq_or_a_seq_without_a_writer_is_refused(local: Local) -> None:
    run = local.run()
    tag = {"op": "add", "path": "sys/tags", "values": ["x"]}
    for extra in ({"writer": "ui-tab-1"}, {"seq": 1}):
        error = assert_envelope(local.edit(run, tag, **extra), 400, "bad_request")
        assert "writer" in error["message"] and "seq" in error["message"]
    assert local.value(run, "sys/tags") is None


def test_the_same_writer_and_seq_apply_once(local: Local) -> None:
    run = local.run()
    add = {"op": "add", "path": "sys/tags", "values": ["flaky"]}
    first = local.edit(run, add, writer="ui-tab-1", seq=1)
    assert first.json() == {"seq": 1, "errors": []}
    assert local.value(run, "sys/tags") == {"flaky"}
    removed = local.edit(run, {"op": "remove", "path": "sys/tags", "values": ["flaky"]}, writer="ui-tab-1", seq=2)
    assert removed.json() == {"seq": 2, "errors": []}
    replayed = local.edit(run, add, writer="ui-tab-1", seq=1)  # a retry of the first edit, arriving late
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["seq"] == 2
    assert local.value(run, "sys/tags") == set()  # the tag stays removed
    assert local.store.writer_seq("ui-tab-1", run.uuid) == 2


def test_edits_without_a_writer_each_apply(local: Local) -> None:
    run = local.run()
    for name in ("a", "b", "c"):
        response = local.edit(run, {"op": "add", "path": "sys/tags", "values": [name]})
        assert response.json() == {"seq": 1, "errors": []}
    assert local.value(run, "sys/tags") == {"a", "b", "c"}


def test_edits_that_do_not_say_enough_are_refused(local: Local) -> None:
    run = local.run()
    for op in ({"op": "assign", "path": "params/x", "type": "String"},
               {"op": "assign", "path": "params/x", "value": "text"},
               {"op": "add", "path": "sys/tags", "values": []},
               {"op": "remove", "path": "sys/tags"}):
        error = assert_envelope(local.edit(run, op), 400, "bad_request")
        assert error["message"].startswith("op 0:"), error
    assert_envelope(local.edit(run, {"op": "assign", "path": "params//x", "type": "String", "value": "v"}),
                    400, "bad_request")
    assert_envelope(local.edit(run, {"op": "rename", "path": "params/x"}), 422, "bad_request")
    assert_envelope(local.edit(run, {"op": "assign", "path": "params/x", "type": "FloatSeries", "value": 1}),
                    422, "bad_request")
    assert_envelope(local.api.post(f"/containers/{run.uuid}/edit", json={"ops": []}), 422, "bad_request")
    assert "params/x" not in local.store.read_fields(run.uuid)


def test_an_edit_the_store_refuses_is_reported_in_errors(local: Local) -> None:
    run = local.run()
    local.write(run, series("train/loss", [1.0, 0.5]))
    response = local.edit(run, {"op": "assign", "path": "train/loss", "type": "Float", "value": 0.0})
    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert "train/loss" in error
    assert local.store.read_fields(run.uuid)["train/loss"].type == F.FLOAT_SERIES


def test_an_edit_of_an_unknown_container_is_not_found(local: Local) -> None:
    response = local.api.post(f"/containers/{new_uuid()}/edit",
                              json={"ops": [{"op": "add", "path": "sys/tags", "values": ["x"]}]})
    assert_envelope(response, 404, "container_not_found")


def test_a_viewer_cannot_edit_and_a_contributor_can(team: Team) -> None:
    run = team.new_alpha_run()
    tag = {"ops": [{"op": "add", "path": "sys/tags", "values": ["reviewed"]}]}
    with team.client("vera") as api:
        error = assert_envelope(api.post(f"/containers/{run.uuid}/edit", json=tag), 403, "permission_denied")
        assert "contributor" in error["message"]
    assert "sys/tags" not in team.server.store.read_fields(run.uuid)
    with team.client("carl") as api:
        response = api.post(f"/containers/{run.uuid}/edit", json=tag)
        assert response.status_code == 200, response.text
    assert team.server.store.read_fields(run.uuid)["sys/tags"].value == {"reviewed"}


def test_an_edit_of_a_run_in_a_project_without_a_role_is_not_found(team: Team) -> None:
    before = team.server.store.read_fields(team.beta.uuid)
    with team.client("carl") as api:
        response = api.post(f"/containers/{team.beta.uuid}/edit",
                            json={"ops": [{"op": "delete", "path": "params/beta_secret"}]})
        assert_envelope(response, 404, "container_not_found")
    assert team.server.store.read_fields(team.beta.uuid) == before


# ------------------------------------------------------------------------------------------- saved views
def test_saved_views_are_listed_by_name(local: Local) -> None:
    local.run(local.project)
    assert local.views(local.project).json() == {}
    wide = {"columns": ["params/lr", "train/loss"], "sort": {"by": "train/loss", "ascending": True}}
    saved = local.save_view(local.project, "wide", wide)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"wide": wide}
    best = {"query": "`sys/tags`:stringSet CONTAINS \"best\"", "columns": []}
    assert local.save_view(local.project, "best", best).json() == {"wide": wide, "best": best}
    listed = local.views(local.project)
    assert listed.status_code == 200
    assert listed.json() == {"wide": wide, "best": best}
    # saving under a name again replaces that view
    assert local.save_view(local.project, "wide", {"columns": []}).json() == {"wide": {"columns": []}, "best": best}


def test_a_view_saved_as_null_is_deleted(local: Local) -> None:
    local.run(local.project)
    local.save_view(local.project, "keep", {"columns": ["a"]})
    local.save_view(local.project, "drop", {"columns": ["b"]})
    deleted = local.save_view(local.project, "drop", None)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"keep": {"columns": ["a"]}}
    assert local.views(local.project).json() == {"keep": {"columns": ["a"]}}


def test_deleting_a_view_that_is_not_there_is_not_found(local: Local) -> None:
    local.run(local.project)
    error = assert_envelope(local.save_view(local.project, "ghost", None), 404, "not_found")
    assert "ghost" in error["message"]
    local.save_view(local.project, "real", {"a": 1})
    assert_envelope(local.save_view(local.project, "ghost", None), 404, "not_found")
    assert local.views(local.project).json() == {"real": {"a": 1}}


def test_views_of_an_unknown_project_are_not_found(local: Local) -> None:
    local.run(local.project)
    assert_envelope(local.views("nope"), 404, "project_not_found")
    assert_envelope(local.save_view("nope", "v", {"a": 1}), 404, "project_not_found")
    assert "nope" not in [p.name for p in local.store.list_projects()]


def test_views_are_kept_per_project(local: Local) -> None:
    local.run(local.project)
    local.run(local.other)
    local.save_view(local.project, "mine", {"p": local.project})
    assert local.views(local.other).json() == {}
    local.save_view(local.other, "mine", {"p": local.other})
    assert local.views(local.project).json() == {"mine": {"p": local.project}}
    assert local.views(local.other).json() == {"mine": {"p": local.other}}


def test_saved_views_are_not_runs(local: Local) -> None:
    run = local.run(local.project)
    local.write(run, (O.ASSIGN, "params/lr", F.FLOAT, 0.1))
    fields_before = local.api.get("/projects/fields", params={"project": local.project}).json()
    local.save_view(local.project, "v", {"columns": ["params/lr"]})
    [entry] = [p for p in local.api.get("/projects/overview").json() if p["name"] == local.project]
    assert (entry["runs"], entry["models"]) == (1, 0)
    assert local.api.get("/projects/fields", params={"project": local.project}).json() == fields_before
    assert local.store.query_table(local.project, RUN).ids == [run.short_id]
    key = local.store.get_project(local.project).key
    assert run.short_id == f"{key}-1"
    assert local.store.create_container(local.project, RUN, new_uuid()).short_id == f"{key}-2"


def test_saved_views_sit_beside_the_projects_own_fields(local: Local) -> None:
    project = naiad.init_project(project=local.project)
    project["info/owner"] = "ann"
    project.stop()
    assert local.save_view(local.project, "v", {"columns": []}).status_code == 200
    again = naiad.init_project(project=local.project, mode="read-only")
    try:
        assert again["info/owner"].fetch() == "ann"
    finally:
        again.stop()
    assert local.views(local.project).json() == {"v": {"columns": []}}


def test_a_viewer_reads_views_but_cannot_save_or_delete_them(team: Team) -> None:
    name = "by-carl-" + new_uuid()[:8]
    with team.client("carl") as api:
        saved = api.put("/projects/views", json={"project": ALPHA, "name": name, "view": {"columns": ["x"]}})
        assert saved.status_code == 200, saved.text
    with team.client("vera") as api:
        assert api.get("/projects/views", params={"project": ALPHA}).json()[name] == {"columns": ["x"]}
        for view in ({"columns": ["y"]}, None):
            refused = api.put("/projects/views", json={"project": ALPHA, "name": name, "view": view})
            assert_envelope(refused, 403, "permission_denied")
        assert api.get("/projects/views", params={"project": ALPHA}).json()[name] == {"columns": ["x"]}
        assert_envelope(api.get("/projects/views", params={"project": BETA}), 404, "project_not_found")


# ------------------------------------------------------------------------------------- the UI's own files
INDEX = "<!doctype html><title>naiad</title><div id=app></div>"
SCRIPT = "console.log('naiad ui');"


@contextmanager
def ui_server(folder: Path, dist: Path) -> Iterator[httpx.Client]:
    """An app built without the UI, with ``dist`` mounted as its UI by hand."""
    store = SqliteStore(folder / "ui-store")
    try:
        app = create_app(store, anonymous_role="owner", ui=False)
        mount_ui(app, dist)
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client
    finally:
        store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server with a built UI (index.html, a hashed asset, a favicon) and a secret beside the build
    that must never be served."""
    folder = tmp_path_factory.mktemp("ui-built")
    dist = folder / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "app-abc.js").write_text(SCRIPT)
    (dist / "favicon.ico").write_bytes(b"\x00\x00\x01\x00icon")
    (folder / "secret.txt").write_text("TOP-SECRET")
    with ui_server(folder, dist) as client:
        yield client


def raw_get(base: str, target: str) -> tuple[int, bytes]:
    """A GET written byte for byte (no client normalises ``..``); returns the status and the body."""
    parts = urlsplit(base)
    assert parts.hostname and parts.port
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(1 << 16):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_page_path_answers_index_html_that_is_not_cached(site: httpx.Client) -> None:
    for page in ("/", "/p/demo/runs", "/p/demo/runs?q=%60params%2Flr%60%3E0.1", "/p/team/vision/runs/VIS-3"):
        response = site.get(page)
        assert response.status_code == 200, page
        assert response.text == INDEX
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"


def test_hashed_assets_are_cached_for_good(site: httpx.Client) -> None:
    response = site.get("/assets/app-abc.js")
    assert response.status_code == 200
    assert response.text == SCRIPT
    assert "immutable" in response.headers["cache-control"]
    assert "javascript" in response.headers["content-type"]
    missing = site.get("/assets/app-def.js")
    assert missing.status_code == 404
    assert missing.text != INDEX


def test_a_file_at_the_top_of_the_build_is_served_as_itself(site: httpx.Client) -> None:
    response = site.get("/favicon.ico")
    assert response.status_code == 200
    assert response.content == b"\x00\x00\x01\x00icon"


def test_an_unknown_api_path_is_a_json_404_not_the_page(site: httpx.Client) -> None:
    for path in ("/api/v1/nope", "/api/v1/projects/nope/deeper", "/api/v2/anything"):
        error = assert_envelope(site.get(path), 404, "not_found")
        assert "no such API endpoint" in error["message"]
    health = site.get("/api/v1/health")
    assert health.status_code == 200
    assert health.headers["content-type"].startswith("application/json")


def test_page_paths_never_read_files_outside_the_build(site: httpx.Client) -> None:
    base = str(site.base_url)
    for target in ("/../secret.txt", "/..%2Fsecret.txt", "/%2E%2E/secret.txt", "/assets/../../secret.txt",
                   "/assets/..%2F..%2Fsecret.txt", "/p/..%2F..%2F..%2Fsecret.txt"):
        status, body = raw_get(base, target)
        assert b"TOP-SECRET" not in body, target
        assert status in (200, 400, 404), (target, status)


def test_without_a_built_ui_pages_say_how_to_build_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty-dist"
    empty.mkdir()
    with ui_server(tmp_path, empty) as client:
        for page in ("/", "/p/demo/runs"):
            response = client.get(page)
            assert response.status_code == 503
            assert response.headers["content-type"].startswith("text/html")
            assert "scripts/build-ui" in response.text
        assert client.get("/api/v1/health").status_code == 200  # the API works either way
        assert_envelope(client.get("/api/v1/nope"), 404, "not_found")


def test_an_app_without_the_ui_has_no_pages(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "no-ui")
    try:
        with serve_in_thread(create_app(store, ui=False)) as url:
            assert_envelope(httpx.get(url + "/p/demo/runs"), 404, "not_found")
    finally:
        store.close()


# --------------------------------------------------------------------------------------- `naiad ui`
def cli_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}


def read_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "naiad ui printed nothing"
    return proc.stdout.readline()


def wait_for(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_naiad_ui_serves_an_existing_store_on_a_free_port(naiad_env: Path, tmp_path: Path) -> None:
    run = naiad.init_run(project="demo")
    run["params/lr"] = 0.1
    run.stop()
    proc = subprocess.Popen([sys.executable, "-m", "naiad", "ui", "--store", str(naiad_env), "--port", "0",
                             "--no-open"], cwd=tmp_path, env=cli_env() | {"PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc)
        [url] = [word for word in line.split() if word.startswith("http://")]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), line
        assert int(urlsplit(url).port or 0) > 0
        health = wait_for(url + "api/v1/health")
        assert health.status_code == 200, health.text
        overview = httpx.get(url + "api/v1/projects/overview", timeout=30)
        assert overview.status_code == 200, overview.text
        [demo] = overview.json()
        assert (demo["name"], demo["runs"], demo["models"]) == ("demo", 1, 0)
        fields = httpx.get(url + "api/v1/projects/fields", params={"project": "demo"}, timeout=30).json()
        assert fields["params/lr"] == F.FLOAT
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_naiad_ui_on_a_missing_folder_says_to_run_a_tracked_script_first(tmp_path: Path) -> None:
    missing = tmp_path / "no-store-here"
    proc = subprocess.run([sys.executable, "-m", "naiad", "ui", "--store", str(missing), "--port", "0", "--no-open"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "run a tracked script" in proc.stderr
    assert str(missing) in proc.stderr
    assert not missing.exists()


def test_naiad_ui_refuses_a_server_address(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "naiad", "ui", "--store", "http://127.0.0.1:9/", "--no-open"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "naiad server" in proc.stderr


# ------------------------------------------------------------------------- the runs table by column
# POST /table with "layout": "columns": the UI's windowed runs table (SqlStore.table_columns), and
# wire.table_to_columns, the same answer the server builds from query_table for a store that is not SQL.
TABLE_COLUMNS = ["sys/name", "sys/state", "sys/tags", "params/lr", "params/batch", "params/augment", "train/loss",
                 "train/log", "files/notes", "params/never"]


def fill_table(store: Store, project: str) -> list[ContainerInfo]:
    """Five runs (created T0, T0+1, …): every common field type, fields missing here and there, a
    cleared series, an emptied tag set, infinities, one finished run; and a model, which no runs table shows."""
    runs = [store.create_container(project, RUN, new_uuid(), created=T0 + i) for i in range(5)]
    first, second, third, fourth, fifth = runs
    write(store, first, (O.ASSIGN, "sys/name", F.STRING, "alpha"), (O.ASSIGN, "params/lr", F.FLOAT, 0.1),
          (O.ASSIGN, "params/batch", F.INTEGER, 32), (O.ASSIGN, "params/augment", F.BOOLEAN, True),
          (O.ADD, "sys/tags", ["cnn", "best"]), series("train/loss", [0.9, 0.2, 0.5]),
          series("train/log", ["epoch 0", "epoch 1"]),
          (O.ASSIGN, "files/notes", F.FILE, {"hash": "a" * 64, "size": 3, "mtime": T0}))
    write(store, second, (O.ASSIGN, "sys/name", F.STRING, "beta"), (O.ASSIGN, "params/lr", F.FLOAT, math.inf),
          (O.ASSIGN, "params/augment", F.BOOLEAN, False), (O.ADD, "sys/tags", ["cnn"]),
          series("train/loss", [math.inf, 0.1]))
    write(store, third, (O.ASSIGN, "sys/name", F.STRING, "gamma"), (O.ASSIGN, "params/lr", F.FLOAT, 0.01),
          series("train/loss", [5.0, 6.0]), (O.ADD, "sys/tags", ["gone"]))
    write(store, third, (O.CLEAR, "train/loss"), (O.REMOVE, "sys/tags", ["gone"]))
    write(store, fourth, (O.ASSIGN, "sys/name", F.STRING, "delta"), (O.ASSIGN, "params/batch", F.INTEGER, 8),
          series("train/loss", [-1.5, 2.0, 0.0]), (O.ASSIGN, "sys/state", F.STRING, "finished"))
    write(store, fifth, (O.ASSIGN, "sys/name", F.STRING, "epsilon"))
    write(store, store.create_container(project, MODEL, new_uuid(), key="CLS"), (O.ASSIGN, "params/lr", F.FLOAT, 0.5))
    return runs


def table_window(api: httpx.Client, project: str, columns: list[str] | None, **body: Any) -> httpx.Response:
    return api.post("/table", json={"project": project, "columns": columns, "layout": "columns", **body})


def test_the_columns_layout_answers_the_stores_table_columns(local: Local) -> None:
    runs = fill_table(local.store, local.project)
    assert isinstance(local.store, SqliteStore)
    for body in ({}, {"sort_by": "params/lr", "ascending": True}, {"query": "params/lr > 0.05"},
                 {"sort_by": "train/loss:min", "offset": 1, "limit": 2}, {"sort_by": "sys/id", "offset": 4}):
        response = table_window(local.api, local.project, TABLE_COLUMNS, **body)
        assert response.status_code == 200, response.text
        assert response.json() == local.store.table_columns(local.project, RUN, columns=TABLE_COLUMNS, **body), body
    first = table_window(local.api, local.project, ["sys/name", "params/batch"], sort_by="sys/id", ascending=True,
                         limit=2).json()
    assert first == {"total": 5, "offset": 0, "ids": [runs[0].short_id, runs[1].short_id],
                     "columns": {"sys/name": {"type": F.STRING, "values": ["alpha", "beta"]},
                                 "params/batch": {"type": F.INTEGER, "values": [32, None]}}}


def test_the_columns_layout_gives_each_type_in_its_json_form(local: Local) -> None:
    fill_table(local.store, local.project)
    got = table_window(local.api, local.project, TABLE_COLUMNS, sort_by="sys/id", ascending=True).json()
    cols = got["columns"]
    assert cols["sys/tags"] == {"type": F.STRING_SET, "values": [["best", "cnn"], ["cnn"], [], None, None]}
    assert cols["params/lr"] == {"type": F.FLOAT, "values": [0.1, "Infinity", 0.01, None, None]}
    assert cols["params/augment"] == {"type": F.BOOLEAN, "values": [True, False, None, None, None]}
    assert cols["train/loss"] == {"type": F.FLOAT_SERIES, "values": [0.5, 0.1, None, 0.0, None],
                                  "count": [3, 2, 0, 3, None], "min": [0.2, 0.1, None, -1.5, None],
                                  "max": [0.9, "Infinity", None, 2.0, None]}
    assert cols["train/log"] == {"type": F.STRING_SERIES, "values": ["epoch 1", None, None, None, None],
                                 "count": [2, None, None, None, None]}
    assert cols["files/notes"]["values"][0] == {"hash": "a" * 64, "size": 3, "mtime": T0}
    assert cols["sys/state"]["values"] == ["running", "running", "running", "finished", "running"]
    assert cols["params/never"] == {"type": None, "values": [None] * 5}


def test_the_columns_layout_pages_through_the_runs(local: Local) -> None:
    runs = fill_table(local.store, local.project)
    seen: list[str] = []
    names: list[str] = []
    for offset in range(0, 6, 2):
        page = table_window(local.api, local.project, ["sys/name"], sort_by="sys/id", ascending=False,
                            offset=offset, limit=2).json()
        assert (page["total"], page["offset"]) == (5, offset)
        seen += page["ids"]
        names += page["columns"]["sys/name"]["values"]
    assert seen == [r.short_id for r in reversed(runs)]
    assert names == ["epsilon", "delta", "gamma", "beta", "alpha"]
    past = table_window(local.api, local.project, ["sys/name"], offset=50, limit=10).json()
    assert past == {"total": 5, "offset": 50, "ids": [], "columns": {"sys/name": {"type": None, "values": []}}}


def test_the_columns_layout_sorts_by_a_series_min_or_max(local: Local) -> None:
    first, second, third, fourth, fifth = fill_table(local.store, local.project)
    by_min = table_window(local.api, local.project, ["train/loss"], sort_by="train/loss:min", ascending=True).json()
    by_max = table_window(local.api, local.project, ["train/loss"], sort_by="train/loss:max", ascending=False).json()
    # mins: first 0.2, second 0.1, fourth -1.5; maxes: first 0.9, second inf, fourth 2.0; no points last
    assert by_min["ids"][:3] == [fourth.short_id, second.short_id, first.short_id]
    assert by_max["ids"][:3] == [second.short_id, fourth.short_id, first.short_id]
    assert set(by_min["ids"][3:]) == set(by_max["ids"][3:]) == {third.short_id, fifth.short_id}
    assert by_min["columns"]["train/loss"]["min"][:3] == [-1.5, 0.1, 0.2]


def test_the_columns_layout_with_no_columns_gives_the_ids_and_the_total(local: Local) -> None:
    runs = fill_table(local.store, local.project)
    response = table_window(local.api, local.project, [], sort_by="sys/id", ascending=True, limit=1)
    assert response.status_code == 200, response.text
    assert response.json() == {"total": 5, "offset": 0, "ids": [runs[0].short_id], "columns": {}}


def test_the_columns_layout_without_the_list_of_columns_is_a_bad_request(local: Local) -> None:
    fill_table(local.store, local.project)
    error = assert_envelope(local.api.post("/table", json={"project": local.project, "layout": "columns"}),
                            400, "bad_request")
    assert "columns" in error["message"]
    assert_envelope(table_window(local.api, local.project, None, offset=2), 400, "bad_request")


def test_an_offset_is_refused_in_the_rows_layout(local: Local) -> None:
    fill_table(local.store, local.project)
    error = assert_envelope(local.api.post("/table", json={"project": local.project, "offset": 1}), 400, "bad_request")
    assert "offset" in error["message"]
    refused = local.api.post("/table", json={"project": local.project, "layout": "rows", "columns": ["sys/name"],
                                             "offset": 3})
    assert_envelope(refused, 400, "bad_request")
    rows = local.api.post("/table", json={"project": local.project, "layout": "rows", "offset": 0, "limit": 2})
    assert rows.status_code == 200, rows.text
    assert set(rows.json()) == {"columns", "ids", "rows"}
    assert len(rows.json()["ids"]) == 2


def test_the_table_refuses_an_unknown_layout_or_a_negative_offset_or_limit(local: Local) -> None:
    fill_table(local.store, local.project)
    assert_envelope(local.api.post("/table", json={"project": local.project, "layout": "cells", "columns": []}),
                    422, "bad_request")
    assert_envelope(table_window(local.api, local.project, ["sys/name"], offset=-1), 422, "bad_request")
    assert_envelope(table_window(local.api, local.project, ["sys/name"], limit=-1), 422, "bad_request")


def test_the_columns_layout_reports_an_invalid_query_or_an_unknown_project(local: Local) -> None:
    fill_table(local.store, local.project)
    assert_envelope(table_window(local.api, local.project, ["sys/name"], query="params/lr >"), 400, "invalid_query")
    error = assert_envelope(table_window(local.api, "nope", ["sys/name"]), 404, "project_not_found")
    assert "nope" in error["message"]


def test_the_columns_layout_needs_a_role_in_the_project(team: Team) -> None:
    with team.client("vera") as api:
        mine = table_window(api, ALPHA, ["params/lr", "train/loss"])
        assert mine.status_code == 200, mine.text
        found = mine.json()
        assert team.alpha.short_id in found["ids"]
        row = found["ids"].index(team.alpha.short_id)
        assert found["columns"]["params/lr"]["values"][row] == 0.1
        assert found["columns"]["train/loss"]["values"][row] == 1.0
        error = assert_envelope(table_window(api, BETA, ["params/beta_secret"]), 404, "project_not_found")
        assert "beta only" not in error["message"]
    with team.client(None) as api:
        assert_envelope(table_window(api, ALPHA, ["params/lr"]), 401, "unauthenticated")


def test_a_server_over_a_store_that_is_not_sql_answers_the_columns_layout_the_same(tmp_path: Path) -> None:
    """A server whose store is a RemoteStore (no table_columns) builds the layout with wire.table_to_columns."""
    from naiad.store.remote import RemoteStore

    backing = SqliteStore(tmp_path / "backing")
    try:
        fill_table(backing, "defects")
        with serve_in_thread(create_app(backing, ui=False)) as inner_url:
            remote = RemoteStore(inner_url, admin_token(backing))
            with served(remote) as outer:
                assert not isinstance(outer.store, SqlStore)
                for body in ({}, {"sort_by": "train/loss:max", "ascending": True, "offset": 1, "limit": 3},
                             {"query": 'sys/tags CONTAINS "cnn"', "sort_by": "sys/name"}):
                    response = table_window(outer.api, "defects", TABLE_COLUMNS, **body)
                    assert response.status_code == 200, response.text
                    assert response.json() == backing.table_columns("defects", RUN, columns=TABLE_COLUMNS, **body)
    finally:
        backing.close()


# ---------------------------------------------------------------------------------- wire.table_to_columns
@pytest.fixture
def filled(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "filled")
    try:
        fill_table(store, "defects")
        yield store
    finally:
        store.close()


def via_wire(store: SqliteStore, columns: list[str], *, offset: int = 0, limit: int | None = None,
             **query: Any) -> dict[str, Any]:
    return wire.table_to_columns(store.query_table("defects", RUN, columns=columns, **query), columns, offset, limit)


def test_table_to_columns_gives_what_table_columns_gives(filled: SqliteStore) -> None:
    for query in ({}, {"sort_by": "sys/id", "ascending": True}, {"sort_by": "params/lr", "ascending": False},
                  {"sort_by": "train/loss:min", "ascending": True}, {"sort_by": "train/loss", "ascending": True},
                  {"query": "params/lr < 1"}, {"query": 'sys/state = "finished"'}, {"query": 'sys/name = "nobody"'}):
        for offset, limit in ((0, None), (0, 2), (1, 3), (4, 10), (7, 1), (0, 0)):
            expected = filled.table_columns("defects", RUN, columns=TABLE_COLUMNS, offset=offset, limit=limit, **query)
            got = via_wire(filled, TABLE_COLUMNS, offset=offset, limit=limit, **query)
            assert got == expected, (query, offset, limit)


def test_table_to_columns_normalizes_and_deduplicates_the_columns_like_table_columns(filled: SqliteStore) -> None:
    columns = ["/params//lr/", "params/lr", "params", "train/loss"]
    got = via_wire(filled, columns)
    assert list(got["columns"]) == ["params/lr", "params", "train/loss"]
    assert got == filled.table_columns("defects", RUN, columns=columns)


def test_table_to_columns_marks_the_types_of_a_column_whose_rows_disagree(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "mixed")
    try:
        runs = [store.create_container("defects", RUN, new_uuid(), created=T0 + i) for i in range(4)]
        write(store, runs[0], (O.ASSIGN, "score", F.FLOAT, 0.5))
        write(store, runs[1], (O.ASSIGN, "score", F.STRING, "high"))
        write(store, runs[2], series("score", [1.0, 2.0]))  # and the last run has no score
        got = via_wire(store, ["score"], sort_by="sys/id", ascending=True)["columns"]["score"]
        assert got["types"] == [F.FLOAT, F.STRING, F.FLOAT_SERIES, None]
        assert got["values"] == [0.5, "high", 2.0, None]
        assert (got["count"], got["min"], got["max"]) == ([None, None, 2, None], [None, None, 1.0, None],
                                                          [None, None, 2.0, None])
        sql = store.table_columns("defects", RUN, columns=["score"], sort_by="sys/id", ascending=True)
        assert {k: v for k, v in got.items() if k != "type"} == \
            {k: v for k, v in sql["columns"]["score"].items() if k != "type"}
        assert via_wire(store, ["score"], sort_by="sys/id", ascending=True, offset=1, limit=1)["columns"]["score"] == {
            "type": F.STRING, "values": ["high"]}  # one row: no disagreement
    finally:
        store.close()


def test_table_to_columns_and_table_columns_name_the_same_type_for_a_mixed_column(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "mixed")
    try:
        older, newer = (store.create_container("defects", RUN, new_uuid(), created=T0 + i) for i in range(2))
        write(store, older, (O.ASSIGN, "score", F.FLOAT, 0.5))
        write(store, newer, (O.ASSIGN, "score", F.STRING, "high"))
        assert via_wire(store, ["score"]) == store.table_columns("defects", RUN, columns=["score"])
    finally:
        store.close()


def test_naiad_ui_runs_without_the_server_extra(tmp_path: Path) -> None:
    """The demo's venv has the ui extra only (no pyjwt, no orjson): `naiad ui` serves the UI and the API
    all the same, and a neptune client that reaches it is told what to install."""
    from services import free_port

    folder = tmp_path / ".naiad"
    run = naiad.init_run(project="demo", capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False)
    run["val/acc"] = 0.9
    run.stop()
    port = free_port()
    code = ("import sys; sys.modules['jwt'] = None; sys.modules['orjson'] = None\n"
            "from naiad.cli.main import main\n"
            f"sys.argv = ['naiad', 'ui', '--store', {str(folder)!r}, '--port', '{port}', '--no-open']\n"
            "main()\n")
    log = tmp_path / "ui.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                httpx.get(url + "/", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.time() < deadline, log.read_text()
                time.sleep(0.2)
        assert httpx.get(url + "/").status_code == 200
        projects = httpx.get(url + "/api/v1/projects", timeout=10)
        assert projects.status_code == 200 and "demo" in projects.text, projects.text
        answer = httpx.get(url + "/api/backend/v1/clients/config", timeout=10)
        assert answer.status_code == 501 and "pip install 'naiad[server]'" in answer.json()["message"]
    finally:
        proc.terminate()
        proc.wait(30)
