"""The HTTP API ``/api/v1`` of ``naiad server``, over real HTTP on loopback: who may do what, the one error
envelope, refused traversals and oversize bodies, the OpenAPI document, and tokens that stay secret.

Most tests share one app (an embedded store served by uvicorn in a thread); the log tests run the real
``naiad server`` command line in a subprocess, once for the module.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import uuid as uuidlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

import naiad
import naiad.store
from naiad import errors as E
from naiad.core import ops as O
from naiad.server.app import create_app
from naiad.store.accounts import Accounts
from naiad.store.base import PART_SIZE, ContainerInfo
from naiad.store.remote import RemoteStore
from naiad.store.sqlite import SqliteStore
from services import assert_envelope, free_port, serve_in_thread

API = "/api/v1"
MAX_REQUEST = 1 << 20  # the shared app's body limit (the real default is 256 MiB)
ALPHA, BETA = "team/alpha", "team/beta"
CODES = E.all_error_classes()


# ------------------------------------------------------------------------------------------ the shared app
@dataclass
class Team:
    """A store with two projects and accounts of every kind, served on loopback."""

    folder: Path
    store: SqliteStore
    url: str
    anon_url: str  # the same store, served with anonymous_role="viewer"
    tokens: dict[str, str]  # admin, viewer (of alpha only), contributor (of alpha only), revoked, expired
    alpha: ContainerInfo
    beta: ContainerInfo
    sentinel: Path  # a file next to the store that no request may ever read
    seqs: dict[str, int] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"authorization": f"Bearer {self.tokens[who]}"}

    def client(self, who: str | None = None, *, anonymous_server: bool = False) -> httpx.Client:
        return httpx.Client(base_url=(self.anon_url if anonymous_server else self.url) + API,
                            headers=self.headers(who), timeout=30)

    def remote(self, who: str) -> contextlib.closing[RemoteStore]:
        return contextlib.closing(RemoteStore(self.url, self.tokens[who]))


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    folder = tmp_path_factory.mktemp("team")
    sentinel = folder / "secret.txt"
    sentinel.write_text("TOP-SECRET-" + uuidlib.uuid4().hex)
    store = SqliteStore(folder / "store")
    accounts = Accounts(store)
    alpha = store.create_container(ALPHA, "run", uuidlib.uuid4().hex)
    beta = store.create_container(BETA, "run", uuidlib.uuid4().hex, custom_run_id="beta-run")
    store.apply(O.Batch(alpha.uuid, "setup", 1, [
        (O.ASSIGN, "params/lr", "Float", 0.1),
        (O.POINTS, "train/loss", "FloatSeries", np.arange(3.0), np.arange(3.0) + 1e9, np.array([3.0, 2.0, 1.0])),
        (O.POINTS, "train/log", "StringSeries", np.arange(2.0), np.arange(2.0) + 1e9, ["a", "b"]),
    ]))
    store.apply(O.Batch(beta.uuid, "setup-beta", 1, [(O.ASSIGN, "params/beta_secret", "String", "beta only")]))
    tokens: dict[str, str] = {}
    accounts.ensure_account("boss", admin=True)
    tokens["admin"] = accounts.create_token("boss")
    accounts.ensure_account("vera")
    accounts.grant("vera", ALPHA, "viewer")
    tokens["viewer"] = accounts.create_token("vera")
    accounts.ensure_account("carl")
    accounts.grant("carl", ALPHA, "contributor")
    tokens["contributor"] = accounts.create_token("carl")
    tokens["revoked"] = accounts.create_token("carl", label="leaked")
    accounts.revoke_token(tokens["revoked"].split("_")[1])
    tokens["expired"] = accounts.create_token("carl", expires_in=-1.0)  # expired a second ago
    with serve_in_thread(create_app(store, max_request_bytes=MAX_REQUEST)) as url, \
            serve_in_thread(create_app(store, anonymous_role="viewer")) as anon_url:
        yield Team(folder, store, url, anon_url, tokens, alpha, beta, sentinel)
    store.close()


def batch_bytes(team: Team, container: str, ops: list[tuple[Any, ...]], writer: str | None = None) -> bytes:
    writer = writer or "w-" + uuidlib.uuid4().hex
    team.seqs[writer] = team.seqs.get(writer, 0) + 1
    return O.encode_batch(O.Batch(container, writer, team.seqs[writer], ops))


def secret_of(token: str) -> str:
    """The secret part of ``naiad_<id>_<secret>`` (the whole string for anything else)."""
    return token.split("_", 2)[2] if token.startswith("naiad_") and token.count("_") >= 2 else token


def raw_http(url: str, method: str, target: str, headers: dict[str, str] | None = None,
             body: bytes = b"") -> tuple[int, bytes]:
    """One request written byte for byte (no client normalises ``../`` or checks the body length);
    returns the status and the response body."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        received = b""
        while chunk := sock.recv(1 << 16):
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


def raw_envelope(status: int, payload: bytes) -> dict[str, Any]:
    error = json.loads(payload)["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] in CODES, error
    return dict(error)


# ------------------------------------------------------------------------------------------ authentication
def test_health_answers_without_a_token(team: Team) -> None:
    with team.client() as client:
        response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", "/projects", {}),
    ("GET", "/whoami", {}),
    ("POST", "/table", {"json": {"project": ALPHA}}),
    ("POST", "/batches", {"content": b"whatever"}),
    ("POST", "/containers", {"json": {"project": ALPHA, "kind": "run", "uuid": "u1"}}),
    ("GET", f"/blobs/{'a' * 64}", {}),
])
def test_no_token_is_401_with_the_error_envelope(team: Team, method: str, path: str, kwargs: dict[str, Any]) -> None:
    with team.client() as client:
        response = client.request(method, path, **kwargs)
    error = assert_envelope(response, 401, "unauthenticated")
    assert "NAIAD_API_TOKEN" in error["message"] and "naiad token create" in error["message"]


def _bad_tokens(team: Team) -> dict[str, str]:
    real_id = team.tokens["viewer"].split("_")[1]
    return {
        "garbage": "garbage-token-SECRETPART1234567890",
        "unknown id": "naiad_000000000000_" + "S3cretUnknownId" * 3,
        "wrong secret": f"naiad_{real_id}_" + "S3cretWrongSecret" * 3,
        "revoked": team.tokens["revoked"],
        "expired": team.tokens["expired"],
    }


@pytest.mark.parametrize("kind", ["garbage", "unknown id", "wrong secret", "revoked", "expired", "basic scheme"])
def test_malformed_unknown_revoked_and_expired_tokens_are_401(team: Team, kind: str) -> None:
    if kind == "basic scheme":
        token = team.tokens["admin"]
        header = "Basic " + token
    else:
        token = _bad_tokens(team)[kind]
        header = "Bearer " + token
    with team.client() as client:
        response = client.get("/projects", headers={"authorization": header})
    error = assert_envelope(response, 401, "unauthenticated")
    assert secret_of(token) not in response.text and token not in response.text
    if kind in ("revoked", "expired"):
        assert kind in error["message"]


def test_the_sdk_turns_a_401_into_auth_error_without_echoing_the_token(team: Team) -> None:
    for token in _bad_tokens(team).values():
        with contextlib.closing(RemoteStore(team.url, token)) as remote, pytest.raises(E.AuthError) as caught:
            remote.list_projects()
        assert not isinstance(caught.value, E.PermissionDeniedError)
        assert token not in str(caught.value) and secret_of(token) not in str(caught.value)


def test_tokens_are_stored_hashed(team: Team) -> None:
    token = team.tokens["viewer"]
    token_id, secret = token.split("_")[1], secret_of(token)
    db = team.folder / "store" / "naiad.db"
    conn = sqlite3.connect(db)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(tokens)")]
        rows = conn.execute(f"SELECT {', '.join(columns)} FROM tokens").fetchall()
        row = dict(zip(columns, conn.execute("SELECT * FROM tokens WHERE id=?", (token_id,)).fetchone(), strict=True))
    finally:
        conn.close()
    assert not any(secret in str(value) or token in str(value) for r in rows for value in r)
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    for path in db.parent.glob("naiad.db*"):  # not in the catalog's bytes either, WAL included
        assert secret.encode() not in path.read_bytes(), path


# ------------------------------------------------------------------------------------------ roles
def test_a_viewer_reads_but_cannot_write(team: Team) -> None:
    runs_before = team.store.count_containers(ALPHA, "run")
    with team.client("viewer") as client:
        table = client.post("/table", json={"project": ALPHA})
        assert table.status_code == 200 and team.alpha.short_id in table.json()["ids"]
        fields = client.post(f"/containers/{team.alpha.uuid}/fields", json={"paths": ["params/lr"]})
        assert fields.status_code == 200 and fields.json()["params/lr"]["value"] == 0.1
        assert client.get(f"/containers/{team.alpha.uuid}/series", params={"path": "train/loss"}).status_code == 200
        assert client.get("/projects/count", params={"project": ALPHA}).json() == {"count": runs_before}

        write = client.post("/batches", content=batch_bytes(team, team.alpha.uuid, [(O.ASSIGN, "x", "Float", 1.0)]))
        error = assert_envelope(write, 403, "permission_denied")
        assert "viewer" in error["message"] and "contributor" in error["message"]
        create = client.post("/containers", json={"project": ALPHA, "kind": "run", "uuid": uuidlib.uuid4().hex})
        assert_envelope(create, 403, "permission_denied")
        new_run = batch_bytes(team, uuidlib.uuid4().hex, [(O.CREATE, "", {"project": ALPHA, "kind": "run"})])
        assert_envelope(client.post("/batches", content=new_run), 403, "permission_denied")
        assert_envelope(client.post("/projects", json={"name": ALPHA}), 403, "permission_denied")
        data = b"a viewer's file"
        put = client.put(f"/blobs/{hashlib.sha256(data).hexdigest()}", content=data)
        assert_envelope(put, 403, "permission_denied")
        begin = client.post("/blobs/uploads", json={"digest": hashlib.sha256(data).hexdigest(), "size": len(data)})
        assert_envelope(begin, 403, "permission_denied")
    assert "x" not in team.store.read_fields(team.alpha.uuid)
    assert team.store.count_containers(ALPHA, "run") == runs_before


def test_a_contributor_writes(team: Team) -> None:
    with team.client("contributor") as client:
        ops: list[tuple[Any, ...]] = [(O.ASSIGN, "by/carl", "Integer", 7)]
        write = client.post("/batches", content=batch_bytes(team, team.alpha.uuid, ops))
        assert write.status_code == 200 and write.json()["errors"] == []
        made = client.post("/containers", json={"project": ALPHA, "kind": "run", "uuid": uuidlib.uuid4().hex,
                                                "owner": "someone-else"})
        assert made.status_code == 200 and made.json()["project"] == ALPHA
        data = b"carl's file"
        put = client.put(f"/blobs/{hashlib.sha256(data).hexdigest()}", content=data)
        assert put.status_code == 200
    assert team.store.read_fields(team.alpha.uuid, ["by/carl"])["by/carl"].value == 7
    made_fields = team.store.read_fields(made.json()["uuid"], ["sys/owner"])
    assert made_fields["sys/owner"].value == "carl"  # the server, not the client, says who made it


def test_a_user_sees_no_project_they_have_no_role_in(team: Team) -> None:
    beta = team.beta
    with team.client("viewer") as client:
        listed = client.get("/projects").json()
        assert [p["name"] for p in listed] == [ALPHA]
        assert_envelope(client.get("/projects/lookup", params={"name": BETA}), 404, "project_not_found")
        # a project that does not exist: the answer must not list the store's projects (nor its folder)
        missing = assert_envelope(client.get("/projects/lookup", params={"name": "team/nope"}), 404,
                                  "project_not_found")
        assert_envelope(client.get("/projects/count", params={"project": BETA}), 404, "project_not_found")
        assert_envelope(client.post("/table", json={"project": BETA}), 404, "project_not_found")
        reads = [
            client.get(f"/containers/{beta.uuid}/structure"),
            client.post(f"/containers/{beta.uuid}/fields", json={}),
            client.get(f"/containers/{beta.uuid}/series", params={"path": "x"}),
            client.get(f"/containers/{beta.uuid}/series-last-steps"),
            client.get(f"/containers/{beta.uuid}/buckets", params={"path": "x"}),
            client.get("/containers/lookup", params={"uuid": beta.uuid}),
            client.get("/containers/lookup", params={"short_id": beta.short_id}),
            client.get("/containers/lookup", params={"short_id": beta.short_id, "project": ALPHA}),
        ]
        answers = [missing, *(assert_envelope(r, 404, "container_not_found") for r in reads)]
    with team.client("contributor") as client:
        writes = [
            client.post("/batches", content=batch_bytes(team, beta.uuid, [(O.ASSIGN, "pwned", "String", "x")])),
            client.post("/containers", json={"project": BETA, "kind": "run", "uuid": uuidlib.uuid4().hex}),
            client.post("/projects", json={"name": BETA}),
            client.post("/batches", content=batch_bytes(
                team, uuidlib.uuid4().hex, [(O.CREATE, "", {"project": BETA, "kind": "run"})])),
        ]
        for response in writes:
            assert response.status_code == 404, response.text
            answers.append(assert_envelope(response, 404, response.json()["error"]["code"]))
    for error in answers:
        assert "beta only" not in json.dumps(error) and str(team.folder) not in error["message"]
    for error in answers[:-4]:  # what the viewer did not name, it is not told
        assert BETA not in error["message"], error
    assert "pwned" not in team.store.read_fields(beta.uuid)
    assert team.store.count_containers(BETA, "run") == 1


def test_a_create_op_is_no_way_into_another_projects_container(team: Team) -> None:
    """A batch that "creates" a container of alpha with the uuid of beta's run, or adds a second create op
    naming beta's run by its custom id, must not write into beta's run."""
    beta = team.beta
    with team.client("contributor") as client:
        same_uuid = client.post("/batches", content=batch_bytes(team, beta.uuid, [
            (O.CREATE, "", {"project": ALPHA, "kind": "run"}), (O.ASSIGN, "pwned", "String", "yes")]))
        assert_envelope(same_uuid, 404, "container_not_found")
        assert BETA not in same_uuid.text
        second_create = client.post("/batches", content=batch_bytes(team, uuidlib.uuid4().hex, [
            (O.CREATE, "", {"project": ALPHA, "kind": "run"}),
            (O.CREATE, "", {"project": BETA, "kind": "run", "custom_run_id": "beta-run"}),
            (O.ASSIGN, "pwned", "String", "yes")]))
        assert_envelope(second_create, 404, "project_not_found")
        taken = client.post("/containers", json={"project": ALPHA, "kind": "run", "uuid": beta.uuid})
        assert_envelope(taken, 404, "container_not_found")
        assert BETA not in taken.text and beta.short_id not in taken.text
    assert "pwned" not in team.store.read_fields(beta.uuid)


def test_an_admin_sees_everything(team: Team) -> None:
    with team.client("admin") as client:
        assert {p["name"] for p in client.get("/projects").json()} == {ALPHA, BETA}
        fields = client.post(f"/containers/{team.beta.uuid}/fields", json={"paths": ["params/beta_secret"]})
        assert fields.json()["params/beta_secret"]["value"] == "beta only"
        assert client.get("/whoami").json()["admin"] is True
        ops: list[tuple[Any, ...]] = [(O.ASSIGN, "by/admin", "Boolean", True)]
        write = client.post("/batches", content=batch_bytes(team, team.beta.uuid, ops))
        assert write.status_code == 200
    assert team.store.read_fields(team.beta.uuid, ["by/admin"])["by/admin"].value is True


def test_the_sdk_raises_permission_denied_for_a_viewers_write(team: Team) -> None:
    with team.remote("viewer") as remote:
        assert team.alpha.short_id in remote.query_table(ALPHA, "run").ids  # reading works
        with pytest.raises(E.PermissionDeniedError) as caught:
            remote.apply(O.Batch(team.alpha.uuid, "w-" + uuidlib.uuid4().hex, 1, [(O.ASSIGN, "x", "Float", 2.0)]))
        assert "contributor" in str(caught.value)
        with pytest.raises(E.PermissionDeniedError):
            remote.create_container(ALPHA, "run", uuidlib.uuid4().hex)
        with pytest.raises(E.ProjectNotFound):
            remote.get_project(BETA)
        with pytest.raises(E.ContainerNotFound):
            remote.read_fields(team.beta.uuid)
        assert [p.name for p in remote.list_projects()] == [ALPHA]


def test_init_run_as_a_viewer_fails_with_a_clear_error(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_URI", team.url)
    monkeypatch.setenv("NAIAD_API_TOKEN", team.tokens["viewer"])
    with pytest.raises(E.PermissionDeniedError) as caught:
        naiad.init_run(project=ALPHA)
    message = str(caught.value)
    assert "vera is a viewer of 'team/alpha'" in message and "contributor" in message and "owner" in message
    assert team.tokens["viewer"] not in message

    with pytest.raises(E.ProjectNotFound) as not_theirs:
        naiad.init_run(project=BETA)
    assert "no role" in str(not_theirs.value)

    monkeypatch.delenv("NAIAD_API_TOKEN")
    naiad.store.forget_store(team.url)  # the cached remote store holds the token it was opened with
    with pytest.raises(E.AuthError) as no_token:
        naiad.init_run(project=ALPHA)
    assert "NAIAD_API_TOKEN" in str(no_token.value) and "naiad token create" in str(no_token.value)


# ------------------------------------------------------------------------------------------ anonymous access
def test_anonymous_access_is_off_by_default(team: Team) -> None:
    with team.client() as client:
        assert_envelope(client.get("/projects"), 401, "unauthenticated")
        assert_envelope(client.post(f"/containers/{team.alpha.uuid}/fields", json={}), 401, "unauthenticated")


def test_anonymous_viewer_reads_but_cannot_write(team: Team) -> None:
    with team.client(anonymous_server=True) as client:
        assert {p["name"] for p in client.get("/projects").json()} == {ALPHA, BETA}
        assert client.post("/table", json={"project": ALPHA}).status_code == 200
        assert client.post(f"/containers/{team.beta.uuid}/fields", json={}).status_code == 200
        assert client.get("/whoami").json()["anonymous"] is True
        write = client.post("/batches", content=batch_bytes(team, team.alpha.uuid, [(O.ASSIGN, "anon", "Float", 1.0)]))
        assert_envelope(write, 403, "permission_denied")
        create = client.post("/containers", json={"project": ALPHA, "kind": "run", "uuid": uuidlib.uuid4().hex})
        assert_envelope(create, 403, "permission_denied")
        data = b"anonymous upload"
        assert_envelope(client.put(f"/blobs/{hashlib.sha256(data).hexdigest()}", content=data), 403,
                        "permission_denied")
    with team.client("contributor", anonymous_server=True) as client:  # a token still counts there
        write = client.post("/batches", content=batch_bytes(team, team.alpha.uuid, [(O.ASSIGN, "anon", "Float", 1.0)]))
        assert write.status_code == 200
    with team.client("viewer", anonymous_server=True) as client:  # and a bad one is still refused
        assert_envelope(client.get("/projects", headers={"authorization": "Bearer " + team.tokens["revoked"]}),
                        401, "unauthenticated")
    with pytest.raises(ValueError, match="anonymous role"):
        create_app(team.store, anonymous_role="superuser")


# ------------------------------------------------------------------------------------------ path traversal
def _files_outside(team: Team) -> set[Path]:
    return {p for p in team.folder.rglob("*") if (team.folder / "store") not in p.parents and p.name != "store"}


TRAVERSALS = [
    ("GET", "/api/v1/blobs/..%2f..%2fetc%2fpasswd"),
    ("GET", "/api/v1/blobs/..%2F..%2F..%2Fsecret.txt"),
    ("GET", "/api/v1/blobs/..%2F..%2F..%2F..%2Fsecret.txt"),
    ("HEAD", "/api/v1/blobs/..%2F..%2Fsecret.txt"),
    ("GET", "/api/v1/blobs/%2e%2e"),
    ("GET", "/api/v1/blobs/../../../../etc/passwd"),
    ("GET", "/api/v1/blobs/uploads/..%2F..%2Fx"),
    ("GET", "/api/v1/blobs/uploads/%2e%2e"),
    ("GET", "/api/v1/blobs/uploads/..%2F..%2F..%2F..%2Fsecret.txt"),
    ("GET", "/api/v1/blobs/uploads/../../../../secret.txt"),
    ("PUT", "/api/v1/blobs/uploads/%2e%2e/parts/0"),
    ("PUT", "/api/v1/blobs/uploads/..%2F..%2F..%2F..%2Fevil/parts/0"),
    ("PUT", "/api/v1/blobs/uploads/../../../../evil/parts/0"),
    ("POST", "/api/v1/blobs/uploads/%2e%2e/complete"),
    ("POST", "/api/v1/blobs/uploads/..%2F..%2F..%2F..%2Fsecret.txt/complete"),
    ("DELETE", "/api/v1/blobs/uploads/%2e%2e"),
    ("DELETE", "/api/v1/blobs/uploads/..%2F..%2F..%2F..%2Fstore"),
    ("GET", "/api/v1/containers/..%2F..%2Fsecret.txt/structure"),
    ("GET", "/api/v1/../../../../etc/passwd"),
]


@pytest.mark.parametrize("who", ["admin", "contributor"])
@pytest.mark.parametrize(("method", "target"), TRAVERSALS)
def test_path_traversal_is_refused(team: Team, method: str, target: str, who: str) -> None:
    before = _files_outside(team)
    body = b"evil bytes" if method in ("PUT", "POST") else b""
    status, payload = raw_http(team.url, method, target, {**team.headers(who), "content-length": str(len(body))}, body)
    assert 400 <= status < 500, (status, payload)
    if method != "HEAD":
        raw_envelope(status, payload)
    assert team.sentinel.read_text().encode() not in payload and b"root:" not in payload
    if who != "admin":  # only an admin is told where the store keeps its files
        assert str(team.folder).encode() not in payload
    assert _files_outside(team) == before
    assert not list(team.folder.rglob("evil"))
    assert (team.folder / "store" / "naiad.db").exists() and (team.folder / "store" / "blobs").is_dir()


def test_upload_ids_with_dot_dot_are_refused_through_the_sdk(team: Team) -> None:
    before = _files_outside(team)
    with team.remote("contributor") as remote:
        for upload_id in ("../../../secret.txt", "..", "../" * 6 + "etc/passwd", "..\\..\\x"):
            with pytest.raises(E.NotFoundError) as caught:
                remote.blobs.upload_part(upload_id, 0, [b"evil"])
            assert str(team.folder) not in str(caught.value)
            with pytest.raises(E.NotFoundError):
                remote.blobs.uploaded_parts(upload_id)
            # ".." is sent as a dot segment that the client resolves away (POST /blobs/complete): refused too
            with pytest.raises((E.NotFoundError, E.RequestError)):
                remote.blobs.complete_upload(upload_id)
            with pytest.raises((E.NotFoundError, E.RequestError)):
                remote.blobs.abort_upload(upload_id)
    assert _files_outside(team) == before
    assert team.sentinel.exists()


# ------------------------------------------------------------------------------------------ oversize requests
def test_a_body_over_the_limit_announced_by_content_length_is_refused_unread(team: Team) -> None:
    for target in (f"{API}/batches", f"{API}/table", f"{API}/blobs/{'a' * 64}"):
        headers = {**team.headers("contributor"), "content-length": str(MAX_REQUEST + 1),
                   "content-type": "application/octet-stream"}
        status, payload = raw_http(team.url, "POST" if "blobs" not in target else "PUT", target, headers)
        assert status == 413, payload
        error = raw_envelope(status, payload)
        assert error["code"] == "bad_request" and error["details"]["limit"] == MAX_REQUEST


def _chunks(total: int, size: int = 1 << 16) -> Iterator[bytes]:
    while total > 0:
        yield b"\0" * min(size, total)
        total -= size


@pytest.mark.parametrize("path", ["/batches", "/table"])
def test_a_chunked_body_over_the_limit_is_refused(team: Team, path: str) -> None:
    with team.client("contributor") as client:
        response = client.post(path, content=_chunks(MAX_REQUEST + 1),
                               headers={"content-type": "application/json"})
        assert "content-length" not in response.request.headers  # sent chunked
        assert_envelope(response, 413, "bad_request")
        assert client.get("/health").status_code == 200


def test_a_blob_part_over_part_size_is_refused(team: Team) -> None:
    with team.client("contributor") as client:
        begin = client.post("/blobs/uploads", json={"digest": hashlib.sha256(b"big").hexdigest(),
                                                    "size": 2 * PART_SIZE})
        upload_id = begin.json()["upload_id"]
        part = f"/blobs/uploads/{upload_id}/parts/0"
        assert_envelope(client.put(part, content=b"\0" * (PART_SIZE + 1)), 413, "bad_request")
        assert_envelope(client.put(part, content=_chunks(PART_SIZE + (1 << 16) + 1)), 413, "bad_request")
        status, payload = raw_http(team.url, "PUT", API + part, {**team.headers("contributor"),
                                                                  "content-length": str(PART_SIZE + (1 << 17))})
        assert status == 413 and raw_envelope(status, payload)["code"] == "bad_request"
        assert client.get(f"/blobs/uploads/{upload_id}").json()["parts"] == {}  # nothing was stored
        ok = client.put(part, content=b"\0" * PART_SIZE)  # exactly one part is fine
        assert ok.status_code == 200 and ok.json()["size"] == PART_SIZE
        assert client.delete(f"/blobs/uploads/{upload_id}").status_code == 200


def _open_blob_files(folder: Path) -> list[str]:
    """The files under ``folder`` that this process (the test and the servers in its threads) holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(folder)):
                held.append(target)
    return held


def _abandoned_get(url: str, target: str, headers: dict[str, str], read: int) -> None:
    """A GET whose client hangs up after ``read`` bytes of the response (0: before the server answers)."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        got = 0
        while got < read and (chunk := sock.recv(min(1 << 16, read - got))):
            got += len(chunk)
        # an RST rather than a FIN, so the server sees the hang-up mid-stream
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists open files through /proc")
def test_serving_many_blobs_leaves_no_file_open(team: Team) -> None:
    blobs = team.folder / "store" / "blobs"
    digests = [team.store.blobs.put_bytes(os.urandom(size))[0]
               for size in (0, 1, 1000, (1 << 20) + 7, 3 << 20) for _ in range(4)]
    headers = team.headers("admin")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with team.client("admin") as client:
            for digest in digests:
                size = team.store.blobs.size(digest)
                assert client.head(f"/blobs/{digest}").status_code == 200
                assert hashlib.sha256(client.get(f"/blobs/{digest}").content).hexdigest() == digest
                if size > 10:
                    ranged = client.get(f"/blobs/{digest}", headers={"range": "bytes=3-9"})
                    assert ranged.status_code == 206 and len(ranged.content) == 7
                with client.stream("GET", f"/blobs/{digest}") as streamed:  # the client stops reading early
                    next(streamed.iter_raw(), b"")
                for read in (0, 200, 1 << 20):
                    _abandoned_get(team.url, f"{API}/blobs/{digest}", headers, read)
        deadline = time.monotonic() + 30  # the server finishes the hung-up requests in its own time
        while _open_blob_files(blobs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _open_blob_files(blobs) == []
        gc.collect()  # a handle left to the garbage collector warns here, when it is closed
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


# ------------------------------------------------------------------------------------------ the error envelope
def _malformed_batches(team: Team) -> dict[str, bytes]:
    header = json.dumps({"c": team.alpha.uuid, "w": "w-bad", "s": 1, "ops": []}).encode()
    return {
        "garbage": b"\x01\x02 not a batch",
        "empty": b"",
        "header not json": struct.pack("<I", 5) + b"{{{{{",
        "truncated array": struct.pack("<I", len(header)) + header + b"\x01\x02",
        "deeply nested": struct.pack("<I", 200_000) + b"[" * 200_000,
        "header a list": struct.pack("<I", 2) + b"[]",
        "unknown op": batch_bytes(team, team.alpha.uuid, [("explode", "x")]),
        "wrong value type": batch_bytes(team, team.alpha.uuid, [(O.ASSIGN, "x", "Float", "a string")]),
        "bad path": batch_bytes(team, team.alpha.uuid, [(O.ASSIGN, "a//b", "Float", 1.0)]),
        "no seq": O.encode_batch(O.Batch(team.alpha.uuid, "w-bad", 0, [])),
    }


@pytest.mark.parametrize("kind", ["garbage", "empty", "header not json", "truncated array", "deeply nested",
                                  "header a list", "unknown op", "wrong value type", "bad path", "no seq"])
def test_a_malformed_batch_is_a_400(team: Team, kind: str) -> None:
    with team.client("contributor") as client:
        response = client.post("/batches", content=_malformed_batches(team)[kind])
        error = assert_envelope(response, 400, "bad_request")
        assert error["message"].startswith("malformed batch")
        assert client.get("/health").status_code == 200


ERROR_CASES: list[tuple[str, str, str, Callable[[Team], dict[str, Any]], int, str]] = [
    ("unknown endpoint", "GET", "/nope", lambda t: {}, 404, "not_found"),
    ("wrong method", "DELETE", "/table", lambda t: {}, 405, "bad_request"),
    ("invalid body", "POST", "/table", lambda t: {"json": {"kind": 3}}, 422, "bad_request"),
    ("invalid json", "POST", "/table", lambda t: {"content": b"{", "headers": {"content-type": "application/json"}},
     422, "bad_request"),
    ("bad parameter", "GET", "/containers/x/buckets", lambda t: {"params": {"path": "p", "n": 0}}, 422, "bad_request"),
    ("lookup with neither id", "GET", "/containers/lookup", lambda t: {}, 400, "bad_request"),
    ("malformed batch", "POST", "/batches", lambda t: {"content": b"nope"}, 400, "bad_request"),
    ("no token", "GET", "/projects", lambda t: {"headers": {"authorization": ""}}, 401, "unauthenticated"),
    ("viewer writes", "POST", "/containers",
     lambda t: {"json": {"project": ALPHA, "kind": "run", "uuid": "u-x"}, "headers": t.headers("viewer")},
     403, "permission_denied"),
    ("missing container", "POST", "/containers/0123456789abcdef/fields", lambda t: {"json": {}}, 404,
     "container_not_found"),
    ("missing project", "GET", "/projects/lookup", lambda t: {"params": {"name": "team/nope"}}, 404,
     "project_not_found"),
    ("missing series", "GET", "/containers/{alpha}/series", lambda t: {"params": {"path": "no/such"}}, 404,
     "missing_field"),
    ("string series bucketed", "GET", "/containers/{alpha}/buckets", lambda t: {"params": {"path": "train/log"}},
     400, "field_type"),
    ("query syntax", "POST", "/table", lambda t: {"json": {"project": ALPHA, "query": "params/lr >"}}, 400,
     "invalid_query"),
    ("not a blob hash", "GET", "/blobs/xyz", lambda t: {}, 404, "not_found"),
    ("missing blob", "GET", f"/blobs/{'0' * 64}", lambda t: {}, 404, "not_found"),
    ("damaged blob", "PUT", f"/blobs/{'0' * 64}", lambda t: {"content": b"abc"}, 422, "integrity_error"),
    ("bad range", "GET", "/blobs/{blob}", lambda t: {"headers": {"range": "bytes=99-"}}, 416, "bad_request"),
]


@pytest.mark.parametrize(("case", "method", "path", "kwargs", "status", "code"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
def test_every_error_is_the_one_envelope_with_a_known_code(team: Team, case: str, method: str, path: str,
                                                           kwargs: Callable[[Team], dict[str, Any]], status: int,
                                                           code: str) -> None:
    blob = hashlib.sha256(b"ranged").hexdigest()
    team.store.blobs.put_bytes(b"ranged")
    path = path.format(alpha=team.alpha.uuid, blob=blob)
    args = kwargs(team)
    headers = {**team.headers("admin"), **args.pop("headers", {})}
    if headers.get("authorization") == "":
        del headers["authorization"]
    with team.client() as client:
        response = client.request(method, path, headers=headers, **args)
    error = assert_envelope(response, status, code)
    if code == "invalid_query":
        assert error["details"]["position"] == len("params/lr >") and "^" in error["message"]


def test_the_sdk_raises_the_matching_exception(team: Team) -> None:
    with team.remote("admin") as remote:
        with pytest.raises(E.QueryError) as bad_query:
            remote.query_table(ALPHA, "run", query="params/lr > ")
        assert isinstance(bad_query.value, ValueError) and bad_query.value.details["position"] is not None
        with pytest.raises(E.QueryError):
            remote.query_table(ALPHA, "run", query="params/lr = 'single quotes'")
        with pytest.raises(E.ContainerNotFound):
            remote.read_fields(uuidlib.uuid4().hex)
        with pytest.raises(E.ContainerNotFound):
            remote.get_container(short_id="ALPHA-999")
        with pytest.raises(E.MissingFieldError) as missing:
            remote.read_series(team.alpha.uuid, "no/such/series")
        assert isinstance(missing.value, AttributeError)
        with pytest.raises(E.FieldTypeError):
            remote.series_buckets(team.alpha.uuid, "train/log")
        with pytest.raises(E.ProjectNotFound):
            remote.get_project("team/nope")
        with pytest.raises(E.RequestError):
            remote.get_container()
        with pytest.raises(E.IntegrityError):
            remote.json("PUT", f"/blobs/{'0' * 64}", content=b"abc")
        with pytest.raises(E.NotFoundError):
            remote.blobs.size("0" * 64)
    with team.remote("viewer") as remote, pytest.raises(E.PermissionDeniedError):
        remote.apply(O.Batch(team.alpha.uuid, "w-" + uuidlib.uuid4().hex, 1, [(O.ASSIGN, "x", "Float", 1.0)]))


# ------------------------------------------------------------------------------------------ OpenAPI
def test_the_openapi_document_describes_the_api(team: Team) -> None:
    with team.client() as client:
        response = client.get("/openapi.json")
        docs = client.get("/docs")
    assert response.status_code == 200
    document = json.loads(response.text)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "naiad"
    paths = document["paths"]
    for path in ("/api/v1/batches", "/api/v1/table", "/api/v1/blobs/uploads", "/api/v1/blobs/{digest}",
                 "/api/v1/blobs/uploads/{upload_id}/parts/{number}", "/api/v1/projects", "/api/v1/health",
                 "/api/v1/containers/{uuid}/fields", "/api/v1/containers/{uuid}/series"):
        assert path in paths, path
    assert "post" in paths["/api/v1/batches"]
    assert "application/x-naiad-batch" in paths["/api/v1/batches"]["post"]["requestBody"]["content"]
    assert docs.status_code == 200 and "openapi.json" in docs.text


# ------------------------------------------------------------------------------------------ the real CLI server
@dataclass
class CliServer:
    folder: Path
    url: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str]
    cli_outputs: list[str]
    client_messages: list[str] = field(default_factory=list)


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _naiad(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "naiad", *args], cwd=cwd, env=env or _cli_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"naiad {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _listening_on(port: int) -> set[str]:
    """The addresses a TCP socket listens on at ``port`` (Linux: /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(struct.pack("<I", int(addr, 16))))
    return found


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    folder = tmp_path_factory.mktemp("cli-server")
    store = folder / "store"
    outputs: list[str] = []
    made = _naiad("token", "create", "--user", "ops", "--admin", "--label", "ops laptop", "--store", str(store),
                  cwd=folder)
    outputs += [made.stdout, made.stderr]
    viewer = _naiad("token", "create", "--user", "vic", "--project", ALPHA, "--role", "viewer", "--store", str(store),
                    cwd=folder)
    outputs += [viewer.stdout, viewer.stderr]
    doomed = _naiad("token", "create", "--user", "vic", "--label", "to revoke", "--store", str(store), cwd=folder)
    outputs += [doomed.stdout, doomed.stderr]
    tokens = {"admin": made.stdout.strip(), "viewer": viewer.stdout.strip(), "revoked": doomed.stdout.strip()}
    revoked = _naiad("token", "revoke", tokens["revoked"].split("_")[1], "--store", str(store), cwd=folder)
    outputs += [revoked.stdout, revoked.stderr]
    port = free_port()
    log = folder / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "naiad", "server", "--store", str(store), "--port", str(port),
                                 "--log-level", "debug"], cwd=folder, env=_cli_env(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + API + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail("naiad server did not start:\n" + log.read_text())
        time.sleep(0.1)
    server = CliServer(folder, url, port, log, proc, tokens, outputs)
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _secrets(tokens: dict[str, str]) -> list[str]:
    return [s for t in tokens.values() for s in (t, secret_of(t))]


def test_naiad_token_create_prints_the_token_on_stdout_only(cli_server: CliServer) -> None:
    made_out, made_err = cli_server.cli_outputs[0], cli_server.cli_outputs[1]
    token = cli_server.tokens["admin"]
    assert made_out == token + "\n"
    assert token.startswith("naiad_") and token not in made_err and secret_of(token) not in made_err
    assert "shown only now" in made_err
    viewer_err = cli_server.cli_outputs[3]
    assert "viewer of team/alpha" in viewer_err and cli_server.tokens["viewer"] not in viewer_err


def test_naiad_token_ls_never_prints_secrets(cli_server: CliServer) -> None:
    listed = _naiad("token", "ls", "--store", str(cli_server.folder / "store"), cwd=cli_server.folder)
    text = listed.stdout + listed.stderr
    for token in cli_server.tokens.values():
        token_id = token.split("_")[1]
        assert token_id in listed.stdout  # tokens are listed by id …
    for secret in _secrets(cli_server.tokens):
        assert secret not in text  # … never with their secret
    assert "revoked" in listed.stdout and "ops laptop" in listed.stdout
    assert "account ops (user, admin)" in listed.stderr and f"{ALPHA}=viewer" in listed.stderr


def test_naiad_server_binds_to_loopback_by_default(cli_server: CliServer) -> None:
    with socket.create_connection(("127.0.0.1", cli_server.port), timeout=5):
        pass
    if Path("/proc/net/tcp").exists():
        assert _listening_on(cli_server.port) == {"127.0.0.1"}
    deadline = time.monotonic() + 10
    while f"Uvicorn running on http://127.0.0.1:{cli_server.port}" not in cli_server.log.read_text():
        assert time.monotonic() < deadline, cli_server.log.read_text()
        time.sleep(0.05)


def test_tokens_never_appear_in_the_server_log_nor_in_client_errors(cli_server: CliServer) -> None:
    url, tokens = cli_server.url, cli_server.tokens
    wrong_secret = "naiad_" + tokens["viewer"].split("_")[1] + "_" + "WrongSecretValue" * 3
    unknown = "naiad_abcdefabcdef_" + "UnknownSecretValue" * 3
    malformed = "totally-not-a-token-MalformedSecretValue"
    bad = {"wrong secret": wrong_secret, "unknown": unknown, "malformed": malformed, "revoked": tokens["revoked"]}
    messages: list[str] = []
    with contextlib.closing(RemoteStore(url, tokens["admin"])) as admin:
        run = admin.create_container(ALPHA, "run", uuidlib.uuid4().hex)
        admin.apply(O.Batch(run.uuid, "w-log", 1, [(O.ASSIGN, "params/lr", "Float", 0.5)]))
        assert admin.read_fields(run.uuid, ["params/lr"])["params/lr"].value == 0.5
        with pytest.raises(E.QueryError) as query_error:
            admin.query_table(ALPHA, "run", query="params/lr >")
        messages.append(str(query_error.value))
    with contextlib.closing(RemoteStore(url, tokens["viewer"])) as viewer:
        assert viewer.query_table(ALPHA, "run").ids == [run.short_id]
        with pytest.raises(E.PermissionDeniedError) as denied:
            viewer.apply(O.Batch(run.uuid, "w-viewer", 1, [(O.ASSIGN, "x", "Float", 1.0)]))
        messages.append(str(denied.value))
    for token in bad.values():
        with contextlib.closing(RemoteStore(url, token)) as remote:
            calls: list[Callable[[], object]] = [
                remote.list_projects, functools.partial(remote.read_fields, run.uuid),
                functools.partial(remote.apply, O.Batch(run.uuid, "w-bad", 1, [])),
                functools.partial(remote.blobs.exists, "0" * 64)]
            for call in calls:
                with pytest.raises(E.AuthError) as caught:
                    call()
                messages += [str(caught.value), repr(caught.value)]
    for token in (*tokens.values(), *bad.values()):  # the raw header, also with odd schemes and spacing
        for header in (f"Bearer {token}", f"bearer   {token}", f"Token {token}", token):
            httpx.get(url + API + "/projects", headers={"authorization": header}, timeout=10)
    with contextlib.closing(RemoteStore(f"http://127.0.0.1:{free_port()}", tokens["admin"])) as nowhere, \
            pytest.raises(E.StoreUnavailableError) as unreachable:
        nowhere.list_projects()
    messages.append(str(unreachable.value))

    secrets = _secrets(tokens) + [s for t in bad.values() for s in (t, secret_of(t))]
    for message in messages:
        for secret in secrets:
            assert secret not in message, message

    marker = uuidlib.uuid4().hex  # the last request: once it is in the log, so is everything before it
    httpx.get(url + API + "/health", params={"marker": marker}, timeout=10)
    deadline = time.monotonic() + 10
    while marker not in (log := cli_server.log.read_text()):
        assert time.monotonic() < deadline, log
        time.sleep(0.05)
    assert "GET /api/v1/projects" in log and "401" in log and "403" in log  # the requests were logged …
    for secret in secrets:
        assert secret not in log, f"a token's secret is in the server log:\n{log}"  # … without their tokens


def test_naiad_status_settings_hides_the_api_token(tmp_path: Path) -> None:
    token = "naiad_0123456789ab_" + "StatusSecretValue" * 3
    env = {**_cli_env(), "NAIAD_URI": str(tmp_path / ".naiad"), "NAIAD_API_TOKEN": token, "COLUMNS": "250"}
    shown = _naiad("status", "--settings", cwd=tmp_path, env=env)
    text = shown.stdout + shown.stderr
    assert token not in text and secret_of(token) not in text
    line = next(line for line in shown.stdout.splitlines() if "NAIAD_API_TOKEN" in line)
    assert "(set, hidden)" in line
