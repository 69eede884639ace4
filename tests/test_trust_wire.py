"""What a client of ``naiad server`` may not do with a well-formed request (issue 19): attacks replayed
against a real server on loopback with accounts of every role.

- Hole 3: a File field whose extension is ``/../../x`` (or a file-set name ``../x``, an artifact entry
  ``a/../../b``, a field path ``x/.``) wrote outside the folder of whoever downloaded it.  Every write
  path refuses them (the SDK at the call, the store for any client or importer, the wire for paths);
  a download checks again, before it writes anything.
- Hole 2: an account with a role only in project B read project A's files by hash (``GET
  /blobs/{sha256}``), learnt their size (``HEAD``) and whether a hash existed anywhere (``POST
  /blobs/missing``, ``POST /blobs/uploads``).  A blob is now readable through the containers that
  refer to it: for whoever can see one of them, and for no one else, presence included.
- Hole 8: upload ids were global: another account read the state of, added parts to, completed or
  aborted an upload.  An upload belongs to the account that began it, and abandoned ones expire.
- Hole 7: NUL in a query parameter or a JSON body reached PostgreSQL and answered 500; it is refused at
  the edge with 400, and a NUL inside a binary batch's text is refused op by op.
- Hole 5: a batch assigning a field the store maintains (``sys/owner``, ``sys/creation_time``, ``sys/id``…)
  forged attribution.  Each such op is refused, counted in ``sys/errors`` and named in
  ``sys/last_error``; the rest of the batch is stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import naiad
from naiad import File
from naiad import errors as E
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store import open_store, wire
from naiad.store.remote import RemoteStore
from registry_kit import PROJECT
from services import TeamServer, admin_token, as_user, postgres_store_dsn, serve_in_thread, team_server

pytestmark = pytest.mark.trust


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    grants = [("carl", PROJECT, "contributor"), ("mona", PROJECT, "maintainer"), ("vera", PROJECT, "viewer"),
              ("olga", "other", "owner")]
    with team_server(tmp_path_factory.mktemp("trust-wire"), grants) as found:
        yield found


def test_a_batch_cannot_forge_the_fields_the_store_maintains(server: TeamServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(server, "carl", monkeypatch)
    run = naiad.init_run(project=PROJECT, custom_run_id="carl-1", capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False, source_files=[])
    run_id = str(run["sys/id"].fetch())
    run.stop()
    info = server.store.get_container(short_id=run_id)
    before = server.store.read_fields(info.uuid)
    forged = [(O.ASSIGN, "sys/owner", F.STRING, "mona"), (O.ASSIGN, "sys/creation_time", F.DATETIME, 0.0),
              (O.ASSIGN, "sys/id", F.STRING, "DEF-999"), (O.ASSIGN, "sys/custom_run_id", F.STRING, "mona-1"),
              (O.ASSIGN, "sys/trashed", F.BOOLEAN, True), (O.ASSIGN, "sys/hostname", F.STRING, "prod-gpu-1"),
              (O.ASSIGN, "sys/modification_time", F.DATETIME, 1.0), (O.ASSIGN, "sys/errors", F.INTEGER, 0),
              (O.DELETE, "sys/owner"), (O.CLEAR, "sys/creation_time")]
    remote = open_store(server.url)
    result = remote.apply(Batch(info.uuid, "carl-forger", 1, [*forged, (O.ASSIGN, "notes/by", F.STRING, "carl"),
                                                               (O.ASSIGN, "sys/state", F.STRING, "inactive")]))
    assert len(result.errors) == len(forged)
    assert all("is maintained by naiad and cannot be written" in e for e in result.errors)
    after = server.store.read_fields(info.uuid)
    for path in ("sys/owner", "sys/creation_time", "sys/id", "sys/custom_run_id", "sys/trashed"):
        assert after[path].value == before[path].value, path
    assert (after["sys/owner"].value, after["sys/id"].value) == ("carl", run_id)
    assert "sys/hostname" not in after
    assert after["sys/errors"].value == len(forged)
    assert "is maintained by naiad" in after["sys/last_error"].value
    # the rest of the batch is stored, the SDK's own lifecycle writes among it
    assert (after["notes/by"].value, after["sys/state"].value) == ("carl", "inactive")
    assert server.store.get_container(short_id=run_id).custom_run_id == "carl-1"


# ------------------------------------------------------------------------------------------ hole 3
def test_file_names_that_could_leave_a_download_folder_are_refused(server: TeamServer, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(server, "carl", monkeypatch)
    run = naiad.init_run(project=PROJECT, capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False,
                         source_files=[])
    run_id = str(run["sys/id"].fetch())
    run["ok"].upload(File.from_content(b"fine", extension="tar.gz"))
    run.stop()
    info = server.store.get_container(short_id=run_id)
    digest = server.store.read_fields(info.uuid, ["ok"])["ok"].value["hash"]
    ref = {"hash": digest, "size": 4, "name": "f"}
    remote = open_store(server.url)
    hostile = [
        (O.ASSIGN, "evil/file", F.FILE, {**ref, "ext": "/../../../escaped"}),
        (O.ASSIGN, "evil/dots", F.FILE, {**ref, "ext": ".."}),
        (O.POINTS, "evil/series", F.FILE_SERIES, np.array([0.0]), np.array([1.0]),
         [json.dumps({**ref, "ext": "png/../../x"})]),
        (O.FILES, "evil/set", {"../../escaped.txt": {**ref, "ext": "txt"}}, False),
        (O.FILES, "evil/abs", {"/etc/cron.d/x": {**ref, "ext": ""}}, False),
        (O.TRACK, "evil/data", [{"file_path": "a/../../b", "file_hash": digest, "type": "file", "size": 4,
                                 "metadata": {}}], False),
    ]
    result = remote.apply(Batch(info.uuid, "carl-paths", 1, [*hostile, (O.ASSIGN, "fine/x", F.FLOAT, 1.0)]))
    assert len(result.errors) == len(hostile), result.errors
    assert all("the write was refused" in e for e in result.errors)
    stored = server.store.structure(info.uuid)
    assert not [p for p in stored if p.startswith("evil/")] and stored["fine/x"] == F.FLOAT
    # '.' and '..' are no field path segments, in the SDK and on the wire
    for bad in ("x/.", "x/../sys/owner", ".."):
        with pytest.raises(E.InvalidPathError, match=r"'\.' or '\.\.' segment"):
            F.normalize_path(bad)
    wire_batch = O.encode_batch(Batch(info.uuid, "carl-paths", 2, [(O.ASSIGN, "x/..", F.FLOAT, 1.0)]))
    answer = httpx.post(f"{server.url}/api/v1/batches", content=wire_batch,
                        headers={"authorization": f"Bearer {server.tokens['carl']}",
                                 "content-type": "application/x-naiad-batch"})
    assert answer.status_code == 400 and "has a '.' or '..' segment" in answer.json()["error"]["message"]
    # an extension is checked where a File is made
    with pytest.raises(E.InvalidValueError, match="is not valid"):
        File.from_content(b"x", extension="../../x")
    odd = tmp_path / "weights.v2 final"
    odd.write_bytes(b"w")
    with pytest.warns(UserWarning, match="stored with extension 'bin'"):
        assert File(str(odd)).extension == "bin"


def test_a_download_never_writes_outside_its_folder(server: TeamServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written before names were checked may hold a hostile extension or file-set name: the
    download refuses it and creates nothing."""
    as_user(server, "carl", monkeypatch)
    run = naiad.init_run(project=PROJECT, capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False,
                         source_files=[])
    run_id = str(run["sys/id"].fetch())
    run["ok"].upload(File.from_content(b"fine", extension="txt"))
    run.stop()
    store = server.store
    cid = store.get_container(short_id=run_id)
    digest = store.read_fields(cid.uuid, ["ok"])["ok"].value["hash"]
    with store._tx() as conn:  # as an older naiad would have stored them
        c = store._cid(conn, cid.uuid)
        store._put_atom(conn, c, store._pid(conn, "legacy/file"), F.FILE,
                        {"hash": digest, "size": 4, "ext": "/../../escaped", "name": "f"})
        store._put_atom(conn, c, store._pid(conn, "legacy/set"), F.FILE_SET,
                        {"ok.txt": {"hash": digest, "size": 4, "ext": "txt"},
                         "../../escaped.txt": {"hash": digest, "size": 4, "ext": "txt"}})
    dest = tmp_path / "deep" / "down"
    dest.mkdir(parents=True)
    reader = naiad.init_run(with_id=run_id, mode="read-only")
    with pytest.raises(E.FileError, match="could name a folder"):
        reader["legacy/file"].download(str(dest))
    with pytest.raises(E.FileError, match="a zip must not carry"):
        reader["legacy/set"].download(str(dest))
    reader["ok"].download(str(dest))
    reader.stop()
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["deep/down/ok.txt"]


# ------------------------------------------------------------------------------------------ hole 7
@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """A real ``naiad server`` over PostgreSQL (which cannot store NUL), with a viewer and a contributor."""
    from naiad.server.app import create_app
    from naiad.store.accounts import Accounts
    from naiad.store.blobs import LocalBlobs
    from naiad.store.postgres import PostgresStore

    folder = tmp_path_factory.mktemp("trust-nul")
    store = PostgresStore(postgres_store_dsn(folder), LocalBlobs(folder / "blobs"))
    accounts = Accounts(store)
    tokens = {"admin": admin_token(store)}
    for name, role in (("vera", "viewer"), ("carl", "contributor")):
        accounts.ensure_account(name)
        accounts.grant(name, PROJECT, role)
        tokens[name] = accounts.create_token(name)
    store.get_or_create_project(PROJECT)
    try:
        with serve_in_thread(create_app(store, ui=False)) as url:
            yield TeamServer(url, store, tokens)
    finally:
        store.close()


def test_nul_is_refused_at_the_edge_with_400(pg_server: TeamServer) -> None:
    # found by schemathesis: 10 GET endpoints and POST /projects answered 500 on PostgreSQL
    def get(who: str, path: str) -> httpx.Response:
        return httpx.get(f"{pg_server.url}/api/v1{path}", headers={"authorization": f"Bearer {pg_server.tokens[who]}"})

    for who in ("vera", "carl", "admin"):
        for path in ("/projects/lookup?name=a%00b", f"/projects/count?project={PROJECT}%00",
                     "/containers/lookup?short_id=DEF-1%00", f"/registry/events?project={PROJECT}&model=M%00",
                     f"/datasets/uses?project={PROJECT}&digest=%00", f"/webhooks/deliveries?project={PROJECT}%00",
                     "/models/timeline?model=DEF-M%00", f"/projects/fields?project={PROJECT}%00",
                     "/containers/nul%00/structure"):
            answer = get(who, path)
            assert answer.status_code == 400, (who, path, answer.status_code, answer.text)
            assert answer.json()["error"]["code"] == "bad_request" and "NUL" in answer.json()["error"]["message"]
        made = httpx.post(f"{pg_server.url}/api/v1/projects", json={"name": "a\u0000b"},
                          headers={"authorization": f"Bearer {pg_server.tokens[who]}"})
        assert made.status_code == 400 and "NUL" in made.json()["error"]["message"]
    # a binary batch carries NUL as data: the store refuses that op, counted, and stores the rest
    remote = RemoteStore(pg_server.url, pg_server.tokens["carl"])
    info = remote.create_container(PROJECT, "run", "nul-run-uuid")
    result = remote.apply(Batch(info.uuid, "carl-nul", 1, [(O.ASSIGN, "note", F.STRING, "a\x00b"),
                                                            (O.ADD, "sys/tags", ["ok", "x\x00"]),
                                                            (O.ASSIGN, "fine", F.FLOAT, 1.0)]))
    remote.close()
    assert len(result.errors) == 2 and all("holds NUL" in e for e in result.errors)
    stored = pg_server.store.read_fields(info.uuid)
    assert stored["fine"].value == 1.0 and "note" not in stored and "sys/tags" not in stored


# ------------------------------------------------------------------------------------------ holes 2 and 8
def call(server: TeamServer, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}/api/v1{path}",
                         headers={"authorization": f"Bearer {server.tokens[who]}"}, **kwargs)


def test_a_file_is_read_through_the_containers_that_refer_to_it(server: TeamServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    secret = b"project A's model weights " + os.urandom(8)
    as_user(server, "carl", monkeypatch)
    run = naiad.init_run(project=PROJECT, capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False,
                         source_files=[])
    run["weights"].upload(File.from_content(secret, extension="bin"))
    run_id = str(run["sys/id"].fetch())
    run.stop()
    info = server.store.get_container(short_id=run_id)
    digest = server.store.read_fields(info.uuid, ["weights"])["weights"].value["hash"]
    # the project's accounts (and admins) read it
    for who in ("carl", "vera", "mona", "admin"):
        got = call(server, who, "GET", f"/blobs/{digest}")
        assert got.status_code == 200 and got.content == secret, who
        assert call(server, who, "HEAD", f"/blobs/{digest}").headers["content-length"] == str(len(secret))
    # another project's owner learns nothing: not the bytes, the size, nor that it exists
    assert call(server, "olga", "GET", f"/blobs/{digest}").status_code == 404
    assert call(server, "olga", "HEAD", f"/blobs/{digest}").status_code == 404
    missing = call(server, "olga", "POST", "/blobs/missing", json={"digests": [digest]})
    assert missing.status_code == 200 and missing.json() == {"missing": [digest]}
    began = call(server, "olga", "POST", "/blobs/uploads", json={"digest": digest, "size": len(secret)})
    assert began.status_code == 200 and began.json()["exists"] is False
    assert call(server, "carl", "POST", "/blobs/missing", json={"digests": [digest]}).json() == {"missing": []}
    # a blob no container refers to is no one's (but an admin's)
    loose, _ = server.store.blobs.put_bytes(b"nobody refers to me " + os.urandom(8))
    assert call(server, "carl", "GET", f"/blobs/{loose}").status_code == 404
    assert call(server, "admin", "GET", f"/blobs/{loose}").status_code == 200
    # once olga's own run refers to the same bytes (she had to have them), she reads them through it
    as_user(server, "olga", monkeypatch)
    mine = naiad.init_run(project="other", capture_stdout=False, capture_stderr=False,
                          capture_hardware_metrics=False, source_files=[])
    mine["copy"].upload(File.from_content(secret, extension="bin"))
    mine.stop()
    assert call(server, "olga", "GET", f"/blobs/{digest}").content == secret


def test_an_upload_is_its_accounts_and_abandoned_ones_expire(server: TeamServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(64)
    digest = hashlib.sha256(data).hexdigest()
    began = call(server, "carl", "POST", "/blobs/uploads", json={"digest": digest, "size": len(data)})
    upload = began.json()["upload_id"]
    for who in ("olga", "mona"):  # another project's account, and another account of the same project
        assert call(server, who, "GET", f"/blobs/uploads/{upload}").status_code == 404
        assert call(server, who, "PUT", f"/blobs/uploads/{upload}/parts/0", content=b"forged").status_code == 404
        assert call(server, who, "POST", f"/blobs/uploads/{upload}/complete").status_code == 404
        assert call(server, who, "DELETE", f"/blobs/uploads/{upload}").status_code == 404
    assert call(server, "carl", "PUT", f"/blobs/uploads/{upload}/parts/0", content=data).status_code == 200
    assert call(server, "carl", "GET", f"/blobs/uploads/{upload}").json()["parts"] == {"0": len(data)}
    done = call(server, "carl", "POST", f"/blobs/uploads/{upload}/complete")
    assert done.status_code == 200 and done.json()["digest"] == digest
    assert call(server, "carl", "GET", f"/blobs/uploads/{upload}").status_code == 404  # ended
    # an upload begun and left expires when the next one begins after NAIAD_UPLOAD_TTL
    other = os.urandom(64)
    left = call(server, "carl", "POST", "/blobs/uploads",
                json={"digest": hashlib.sha256(other).hexdigest(), "size": 64}).json()["upload_id"]
    assert call(server, "carl", "GET", f"/blobs/uploads/{left}").status_code == 200
    monkeypatch.setenv("NAIAD_UPLOAD_TTL", "0")
    new = call(server, "carl", "POST", "/blobs/uploads",
               json={"digest": hashlib.sha256(b"x" * 64).hexdigest(), "size": 64}).json()["upload_id"]
    assert call(server, "carl", "GET", f"/blobs/uploads/{left}").status_code == 404
    assert call(server, "carl", "GET", f"/blobs/uploads/{new}").status_code == 200  # not the one just begun


# ------------------------------------------------------------------------------------------ hole 11
def test_a_revoked_token_stops_working_within_a_second(server: TeamServer) -> None:
    from naiad.store.accounts import Accounts

    accounts = Accounts(server.store)
    accounts.ensure_account("leaky")
    accounts.grant("leaky", PROJECT, "viewer")
    token = accounts.create_token("leaky", label="leaked")
    headers = {"authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/api/v1/projects", headers=headers).status_code == 200  # cached now
    accounts.revoke_token(token.split("_")[1])
    time.sleep(1.2)
    assert httpx.get(f"{server.url}/api/v1/projects", headers=headers).status_code == 401


def test_error_messages_do_not_name_the_servers_paths(server: TeamServer) -> None:
    where = str(server.store.location)
    for who in ("admin", "carl"):
        for path in ("/containers/lookup?short_id=DEF-404", "/projects/lookup?name=nope"):
            answer = call(server, who, "GET", path)
            assert answer.status_code == 404, (who, path)
            message = answer.json()["error"]["message"]
            assert where not in message and "/" not in message.replace("/api/v1", ""), (who, message)
    assert "this naiad server" in call(server, "admin", "GET", "/containers/lookup?short_id=DEF-404").json()[
        "error"]["message"]


def test_webhooks_reach_public_addresses_only(server: TeamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hole 11: a maintainer's webhook made the server POST into its own network — loopback services, the
    cloud metadata endpoint, private hosts.  Such a target is refused when it is added and again when a
    delivery connects (on the address it connects to), unless NAIAD_WEBHOOK_ALLOW names it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from naiad.store.webhook_delivery import deliver_due

    monkeypatch.delenv("NAIAD_WEBHOOK_ALLOW", raising=False)
    server.store.get_or_create_project(PROJECT)
    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "http://169.254.169.254/latest/meta-data",
                "http://10.1.2.3/x", "http://192.168.0.7/x", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x",
                "http://0.0.0.0/x"):
        answer = call(server, "mona", "POST", "/webhooks", json={"project": PROJECT, "url": url, "secret": "s" * 32})
        assert answer.status_code == 400, (url, answer.text)
        assert "webhooks may only reach public addresses" in answer.json()["error"]["message"], url
    assert not [h for h in server.store.list_webhooks(PROJECT) if "127.0.0.1" in h["url"]]

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        # allowed by the setting: added and delivered
        monkeypatch.setenv("NAIAD_WEBHOOK_ALLOW", "127.0.0.0/8")
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        hook = server.store.add_webhook(PROJECT, url, "s" * 32, "test", actor="admin")
        server.store.emit_event(PROJECT, "test", {})
        deadline = time.monotonic() + 10
        while not hits and time.monotonic() < deadline:
            deliver_due(server.store)
            time.sleep(0.05)
        assert hits == ["/hook"]
        # the setting taken back: the next delivery does not connect, and says why
        monkeypatch.delenv("NAIAD_WEBHOOK_ALLOW")
        server.store.emit_event(PROJECT, "test", {})
        deliver_due(server.store)
        assert hits == ["/hook"]
        newest = next(d for d in server.store.list_deliveries(PROJECT) if d["webhook_id"] == hook["id"])
        assert newest["status"] == "pending" and "a loopback address" in newest["last_error"]
        server.store.remove_webhook(hook["id"])
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_a_writers_mark_is_read_only_through_its_container(server: TeamServer) -> None:
    """Hole 11: ``GET /writers/{id}`` answered any account.  It now names the container, needs a
    contributor there, and answers 0 for a writer of another container."""
    from naiad.tracking.container import new_uuid

    server.store.get_or_create_project(PROJECT)
    mine = server.store.create_container(PROJECT, "run", new_uuid())
    theirs = server.store.create_container("other", "run", new_uuid())
    server.store.apply(Batch(theirs.uuid, "olgas-writer", 7, [(O.ASSIGN, "x", F.FLOAT, 1.0)]))
    assert call(server, "olga", "GET", "/writers/olgas-writer", params={"container": theirs.uuid}).json() == {"seq": 7}
    assert call(server, "carl", "GET", "/writers/olgas-writer", params={"container": theirs.uuid}).status_code == 404
    assert call(server, "carl", "GET", "/writers/olgas-writer", params={"container": mine.uuid}).json() == {"seq": 0}
    assert call(server, "vera", "GET", "/writers/olgas-writer", params={"container": mine.uuid}).status_code == 403
    assert call(server, "carl", "GET", "/writers/olgas-writer").status_code in (400, 422)
    # nor can carl move olga's writer: a batch naming it in his container is refused whole
    hijack = O.encode_batch(Batch(mine.uuid, "olgas-writer", 1000, [(O.ASSIGN, "y", F.FLOAT, 2.0)]))
    answer = httpx.post(f"{server.url}/api/v1/batches", content=hijack, headers={
        "authorization": f"Bearer {server.tokens['carl']}", "content-type": wire.BATCH_MEDIA_TYPE})
    assert answer.status_code == 400 and "writes to another container" in answer.json()["error"]["message"]
    assert server.store.writer_seq("olgas-writer", theirs.uuid) == 7
