"""Who may call what: every operation of the served OpenAPI document × every kind of caller, with the
answer each must get (issue 19, "prove the promises").

Callers: no token, a bad token, an account of another project only (``olga``), and in the project a
viewer, a contributor, a maintainer, an owner, and an admin.  The rules the table spells out:

- without a (valid) token: 401, everywhere but ``/health``;
- a project you have no role in does not exist for you: 404, never a 403 that would confirm it —
  its containers, models and files included;
- a role too low in the project: 403, saying which role it takes;
- a route that belongs to no project (who am I, the projects I see, uploading bytes) takes an account.

A route the document lists and the table does not fails the test: a new route comes with its row.
Every request a caller may make is a real one with a real effect (a run made, a batch stored, a
webhook added); the resources it needs are made for each call.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store import wire
from naiad.store.base import MODEL, MODEL_VERSION, RUN
from naiad.store.sql.datasets import summary
from registry_kit import PROJECT
from services import TeamServer, team_server

pytestmark = pytest.mark.trust

CALLERS = ("anon", "bad", "olga", "vera", "carl", "mona", "otto", "admin")
ROLES = {"vera": "viewer", "carl": "contributor", "mona": "maintainer", "otto": "owner"}


@dataclass
class World:
    """What the requests name: made once, by the store itself."""

    server: TeamServer
    run: Any = None
    model: str = ""
    versions: list[str] = field(default_factory=list)
    blob: str = ""
    dataset: str = ""
    document: dict[str, Any] = field(default_factory=dict)  # the served OpenAPI document

    def url(self, path: str) -> str:
        return f"{self.server.url}/api/v1{path}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    grants = [(name, PROJECT, role) for name, role in ROLES.items()] + [("olga", "other", "owner")]
    with team_server(tmp_path_factory.mktemp("authz"), grants) as server:
        store = server.store
        w = World(server)
        w.run = store.create_container(PROJECT, RUN, uuid.uuid4().hex)
        w.blob, size = store.blobs.put_bytes(b"the project's weights")
        manifest = [{"file_path": "train.csv", "file_hash": "7" * 64, "type": "Local", "size": 3, "metadata": {}}]
        store.apply(Batch(w.run.uuid, "authz-setup", 1, [
            (O.ASSIGN, "weights", F.FILE, {"hash": w.blob, "size": size, "ext": "bin", "name": "w"}),
            (O.POINTS, "loss", F.FLOAT_SERIES, np.arange(5.0), np.arange(5.0) + 1e9, np.linspace(1, 0, 5)),
            (O.TRACK, "datasets/train", manifest, False), (O.ASSIGN, "params/lr", F.FLOAT, 0.1)]))
        w.dataset = store.read_fields(w.run.uuid, ["datasets/train"])["datasets/train"].value["hash"]
        assert summary({"hash": w.dataset, "files": manifest})[0] == w.dataset
        store.create_container(PROJECT, MODEL, uuid.uuid4().hex, key="MTX")
        w.model = "DEF-MTX"
        for _ in range(3):
            w.versions.append(store.create_container(PROJECT, MODEL_VERSION, uuid.uuid4().hex, parent=w.model).short_id)
        store.change_stage(w.versions[0], "production", actor="setup")
        store.get_or_create_project("other")
        yield w


def headers(w: World, who: str) -> dict[str, str]:
    if who == "anon":
        return {}
    if who == "bad":
        return {"authorization": "Bearer naiad_0_nottherealsecret"}
    return {"authorization": f"Bearer {w.server.tokens[who]}"}


def batch_body(w: World) -> bytes:
    return O.encode_batch(Batch(w.run.uuid, "authz-" + uuid.uuid4().hex, 1, [(O.ASSIGN, "notes/x", F.FLOAT, 1.0)]))


def new_hook(w: World) -> int:
    return int(w.server.store.add_webhook(PROJECT, "http://hooks.invalid/naiad", "s" * 32, "test", actor="setup")["id"])


def own_upload(w: World, who: str, *, sent: bool = False) -> str:
    """An upload begun by ``who`` (by the contributor when ``who`` may not begin one); ``sent``: with its
    one part sent, ready to complete."""
    data = os.urandom(16)
    body = {"digest": hashlib.sha256(data).hexdigest(), "size": len(data)}
    owner = who if who in ("olga", "carl", "mona", "otto", "admin") else "carl"
    began = httpx.post(w.url("/blobs/uploads"), json=body, headers=headers(w, owner))
    upload = str(began.json()["upload_id"])
    if sent:
        put = httpx.put(w.url(f"/blobs/uploads/{upload}/parts/0"), content=data, headers=headers(w, owner))
        assert put.status_code == 200, put.text
    return upload


# method, path template → (expected status for each of CALLERS, the request)
Request = Callable[[World, str], tuple[str, str, dict[str, Any]]]
PUBLIC = (200,) * 8
ACCOUNT = (401, 401, 200, 200, 200, 200, 200, 200)
VIEWER = (401, 401, 404, 200, 200, 200, 200, 200)
CONTRIBUTOR = (401, 401, 404, 403, 200, 200, 200, 200)
MAINTAINER = (401, 401, 404, 403, 403, 200, 200, 200)
WRITER = (401, 401, 200, 403, 200, 200, 200, 200)  # contributor somewhere (olga owns her project)
ADMIN = (401, 401, 403, 403, 403, 403, 403, 200)


def q(route: str, **params: Any) -> Callable[[World, str], tuple[str, str, dict[str, Any]]]:
    """A GET of ``route`` with query ``params`` (both may name the world's things: ``{w.run.uuid}``)."""
    return lambda w, who: ("GET", route.format(w=w), {"params": {k: v.format(w=w) if isinstance(v, str) else v
                                                                     for k, v in params.items()}})


MATRIX: dict[tuple[str, str], tuple[tuple[int, ...], Request]] = {
    ("get", "/health"): (PUBLIC, q("/health")),
    ("get", "/whoami"): (ACCOUNT, q("/whoami")),
    ("get", "/projects"): (ACCOUNT, q("/projects")),
    ("post", "/projects"): (CONTRIBUTOR, lambda w, who: ("POST", "/projects", {"json": {"name": PROJECT}})),
    ("get", "/projects/lookup"): (VIEWER, q("/projects/lookup", name=PROJECT)),
    ("get", "/projects/count"): (VIEWER, q("/projects/count", project=PROJECT)),
    ("get", "/projects/overview"): (ACCOUNT, q("/projects/overview")),
    ("get", "/projects/fields"): (VIEWER, q("/projects/fields", project=PROJECT)),
    ("get", "/projects/views"): (VIEWER, q("/projects/views", project=PROJECT)),
    ("put", "/projects/views"): (CONTRIBUTOR, lambda w, who: ("PUT", "/projects/views", {"json": {
        "project": PROJECT, "name": f"view-{who}", "view": {"columns": ["params/lr"]}}})),
    ("post", "/containers"): (CONTRIBUTOR, lambda w, who: ("POST", "/containers", {"json": {
        "project": PROJECT, "kind": "run", "uuid": uuid.uuid4().hex}})),
    ("get", "/containers/lookup"): (VIEWER, lambda w, who: ("GET", "/containers/lookup",
                                                            {"params": {"short_id": w.run.short_id}})),
    ("get", "/containers/{uuid}/structure"): (VIEWER, q("/containers/{w.run.uuid}/structure")),
    ("get", "/containers/{uuid}/series-last-steps"): (VIEWER, q("/containers/{w.run.uuid}/series-last-steps")),
    ("post", "/containers/{uuid}/fields"): (VIEWER, lambda w, who: ("POST", f"/containers/{w.run.uuid}/fields",
                                                                    {"json": {"paths": ["params/lr"]}})),
    ("get", "/containers/{uuid}/series"): (VIEWER, q("/containers/{w.run.uuid}/series", path="loss")),
    ("get", "/containers/{uuid}/buckets"): (VIEWER, q("/containers/{w.run.uuid}/buckets", path="loss", n=10)),
    ("get", "/containers/{uuid}/points"): (VIEWER, q("/containers/{w.run.uuid}/points", path="loss")),
    ("post", "/containers/{uuid}/edit"): (CONTRIBUTOR, lambda w, who: ("POST", f"/containers/{w.run.uuid}/edit", {
        "json": {"ops": [{"op": "add", "path": "sys/tags", "values": [f"by-{who}"]}]}})),
    ("post", "/batches"): (CONTRIBUTOR, lambda w, who: ("POST", "/batches", {
        "content": batch_body(w), "headers": {"content-type": wire.BATCH_MEDIA_TYPE}})),
    ("get", "/writers/{writer}"): (CONTRIBUTOR, q("/writers/authz-setup", container="{w.run.uuid}")),
    ("post", "/table"): (VIEWER, lambda w, who: ("POST", "/table", {"json": {"project": PROJECT,
                                                                             "columns": ["params/lr"]}})),
    ("get", "/models/timeline"): (VIEWER, q("/models/timeline", model="{w.model}")),
    ("get", "/models/drift"): (VIEWER, q("/models/drift", model="{w.model}")),
    ("get", "/models/gate-decisions"): (VIEWER, q("/models/gate-decisions", model="{w.model}")),
    # an ordinary run, not an evaluation: past the role check the request is refused for what it names
    ("get", "/models/histogram"): ((401, 401, 404, 400, 400, 400, 400, 400),
                                   q("/models/histogram", run="{w.run.short_id}", column="params/lr")),
    # an ordinary run, not an evaluation: a contributor's check is refused for what it names
    ("post", "/models/checks"): ((401, 401, 404, 403, 400, 400, 400, 400), lambda w, who: ("POST", "/models/checks", {
        "json": {"model": w.model, "evaluation": w.run.short_id}})),
    ("post", "/registry/stage"): (CONTRIBUTOR, lambda w, who: ("POST", "/registry/stage", {
        "json": {"version": w.versions[1], "stage": "staging"}})),
    ("post", "/registry/alias"): (CONTRIBUTOR, lambda w, who: ("POST", "/registry/alias", {
        "json": {"model": w.model, "alias": "shadow", "version": w.versions[2]}})),
    ("post", "/registry/policy"): (MAINTAINER, lambda w, who: ("POST", "/registry/policy", {
        "json": {"model": w.model, "require_gate": False}})),
    ("get", "/registry/events"): (VIEWER, q("/registry/events", project=PROJECT, model="{w.model}")),
    ("post", "/registry/gate-decisions"): (CONTRIBUTOR, lambda w, who: ("POST", "/registry/gate-decisions", {
        "json": {"model": w.model, "candidate": w.versions[1], "baseline": w.versions[0], "dataset_hash": "a" * 64,
                 "n": 10, "verdict": "fail", "reason": "matrix"}})),
    ("get", "/registry/gate-decisions"): (VIEWER, q("/registry/gate-decisions", project=PROJECT)),
    ("get", "/datasets/uses"): (VIEWER, q("/datasets/uses", project=PROJECT)),
    ("get", "/datasets/manifest"): (VIEWER, q("/datasets/manifest", project=PROJECT, digest="{w.dataset}")),
    ("post", "/webhooks"): (MAINTAINER, lambda w, who: ("POST", "/webhooks", {"json": {
        "project": PROJECT, "url": "http://hooks.invalid/naiad", "secret": "s" * 32, "events": "test"}})),
    ("get", "/webhooks"): (MAINTAINER, q("/webhooks", project=PROJECT)),
    ("delete", "/webhooks/{hook_id}"): (MAINTAINER, lambda w, who: ("DELETE", f"/webhooks/{new_hook(w)}", {})),
    ("get", "/webhooks/deliveries"): (MAINTAINER, q("/webhooks/deliveries", project=PROJECT)),
    ("post", "/events"): (CONTRIBUTOR, lambda w, who: ("POST", "/events", {"json": {
        "project": PROJECT, "event": "test", "payload": {}}})),
    ("post", "/blobs/missing"): (ACCOUNT, lambda w, who: ("POST", "/blobs/missing", {"json": {"digests": [w.blob]}})),
    ("head", "/blobs/{digest}"): (VIEWER, lambda w, who: ("HEAD", f"/blobs/{w.blob}", {})),
    ("get", "/blobs/{digest}"): (VIEWER, lambda w, who: ("GET", f"/blobs/{w.blob}", {})),
    ("put", "/blobs/{digest}"): (WRITER, lambda w, who: ("PUT", f"/blobs/{w.blob}", {
        "content": b"the project's weights"})),
    ("post", "/blobs/uploads"): (WRITER, lambda w, who: ("POST", "/blobs/uploads", {"json": {
        "digest": hashlib.sha256(os.urandom(8)).hexdigest(), "size": 8}})),
    # an upload is its account's: the viewer, who may begin none, finds the contributor's not there
    ("get", "/blobs/uploads/{upload_id}"): ((401, 401, 200, 404, 200, 200, 200, 200),
                                            lambda w, who: ("GET", f"/blobs/uploads/{own_upload(w, who)}", {})),
    ("put", "/blobs/uploads/{upload_id}/parts/{number}"): (WRITER, lambda w, who: (
        "PUT", f"/blobs/uploads/{own_upload(w, who)}/parts/0", {"content": b"x" * 16})),
    ("post", "/blobs/uploads/{upload_id}/complete"): (WRITER, lambda w, who: (
        "POST", f"/blobs/uploads/{own_upload(w, who, sent=True)}/complete", {})),
    ("delete", "/blobs/uploads/{upload_id}"): (WRITER, lambda w, who: (
        "DELETE", f"/blobs/uploads/{own_upload(w, who)}", {})),
}


def operations(w: World) -> list[tuple[str, str]]:
    doc = httpx.get(w.url("/openapi.json")).json()
    return sorted((method, path.removeprefix("/api/v1")) for path, ops in doc["paths"].items() for method in ops)


def test_every_served_operation_has_its_row(world: World) -> None:
    served = set(operations(world))
    missing = sorted(served - set(MATRIX))
    assert not missing, f"routes without a row in the authorization matrix (add one): {missing}"
    gone = sorted(set(MATRIX) - served)
    assert not gone, f"rows for routes no longer served (remove them): {gone}"


@pytest.mark.parametrize("operation", sorted(MATRIX), ids=lambda op: f"{op[0].upper()} {op[1]}")
def test_each_caller_gets_the_answer_its_role_allows(world: World, operation: tuple[str, str]) -> None:
    expected, build = MATRIX[operation]
    got = {}
    for who in CALLERS:
        method, path, kwargs = build(world, who)
        extra = kwargs.pop("headers", {})
        answer = httpx.request(method, world.url(path), headers={**headers(world, who), **extra}, timeout=30, **kwargs)
        got[who] = answer.status_code
        if answer.status_code >= 400 and method != "HEAD":
            error = answer.json()["error"]  # the one envelope, whatever went wrong
            assert error["code"] and error["message"], (who, operation)
            if answer.status_code == 404 and who == "olga":
                assert PROJECT not in json.dumps(error) or "you have no role" in error["message"], (who, error)
    assert tuple(got[c] for c in CALLERS) == expected, {c: (got[c], e) for c, e in zip(CALLERS, expected, strict=True)}
    # and the document says so: every answer a caller got is a status the route documents
    documented = documented_statuses(world, operation)
    undocumented = {who: status for who, status in got.items() if str(status) not in documented}
    assert not undocumented, f"{operation} answered statuses its OpenAPI entry does not list: {undocumented}"


def documented_statuses(w: World, operation: tuple[str, str]) -> set[str]:
    if not w.document:
        w.document = httpx.get(w.url("/openapi.json")).json()
    method, path = operation
    return set(w.document["paths"]["/api/v1" + path][method]["responses"])
