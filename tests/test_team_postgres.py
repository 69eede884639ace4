"""Team mode end to end: ``naiad server`` processes over one real PostgreSQL catalog and one S3 bucket.

The PostgreSQL cluster is the test session's (``services.shared_postgres()``), each test takes a fresh
database of it; the S3 server is moto's ``moto_server`` (``s3_endpoint`` in conftest.py), each module or
test makes its own bucket.  Servers, training scripts and admin commands run as real subprocesses
(``python -m naiad …``), as an operator would run them.

* two stateless servers on one store: runs written through both at once (including one run written
  through both at the same time), read back identically through either; one batch POSTed to both
  servers at the same instant is applied once;
* schema migrations: ``naiad server migrate`` applies them once, a database behind or ahead of this
  naiad is refused with a message that says what to do, two migrations at once both succeed;
* a password in the DSN never shows in a message;
* files uploaded through a server land in the bucket under ``<prefix>/blobs/ab/…``; a file bigger than
  one part goes through the resumable multipart upload and round-trips intact.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import psycopg
import pytest

import naiad
from conftest import AWS_VARS, free_port, start_script
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.errors import ConfigError, SchemaVersionError, StoreUnavailableError
from naiad.store import wire
from naiad.store.base import PART_SIZE
from naiad.store.blobs import LocalBlobs
from naiad.store.postgres import _LOCK_MIGRATIONS, SCHEMA_VERSION, PostgresStore, migrations, schema_version
from naiad.store.remote import RemoteStore
from services import drop_database, new_database, shared_postgres

ACCESS_KEY, SECRET_KEY = "naiad-test", "naiad-test-secret"
PROJECT = "team/vision"


# ------------------------------------------------------------------------------------------ helpers
def s3_client(endpoint: str) -> Any:
    return boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                 region_name="us-east-1").client("s3", endpoint_url=endpoint)


def service_env(endpoint: str, home: Path) -> dict[str, str]:
    """The environment of a server / admin command: only the test S3 server and its credentials."""
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARS and not k.startswith("NAIAD_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
               AWS_CONFIG_FILE=str(home / "no-aws-config"), NAIAD_S3_ENDPOINT_URL=endpoint,
               NAIAD_LOCAL_DIR=str(home / "local"), PYTHONUNBUFFERED="1")
    return env


def naiad_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "naiad", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def start_server(dsn: str, blobs: str, env: dict[str, str], log: Path, *extra: str) -> Server:
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "naiad", "server", "--store", dsn, "--blobs", blobs, "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", *extra],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return Server(f"http://127.0.0.1:{port}", proc, log)


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise AssertionError(f"naiad server exited with {server.proc.returncode}:\n{server.log.read_text()}")
        try:
            if httpx.get(server.url + "/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"naiad server did not answer in {timeout} s:\n{server.log.read_text()}")
        time.sleep(0.1)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@dataclass
class Team:
    """Two ``naiad server`` processes over one PostgreSQL database and one bucket."""

    dsn: str
    bucket: str
    prefix: str
    endpoint: str
    servers: list[Server]
    admin: str  # tokens made with `naiad token create`
    contributor: str

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def blobs(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def object_keys(self) -> list[str]:
        client = s3_client(self.endpoint)
        out: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out


@pytest.fixture(scope="module")
def team(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    home = tmp_path_factory.mktemp("team")
    env = service_env(s3_endpoint, home)
    bucket = f"naiad-team-{uuid.uuid4().hex[:10]}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    server_dsn = shared_postgres()
    dsn = new_database(server_dsn)
    blobs = f"s3://{bucket}/team/blobstore"
    servers: list[Server] = []
    try:
        made = naiad_cli("token", "create", "--user", "root", "--admin", "--store", dsn, "--blobs", blobs, env=env)
        assert made.returncode == 0, made.stderr
        admin = made.stdout.strip()
        made = naiad_cli("token", "create", "--user", "trainer", "--service", "--project", PROJECT, "--role",
                         "contributor", "--store", dsn, "--blobs", blobs, env=env)
        assert made.returncode == 0, made.stderr
        contributor = made.stdout.strip()
        assert admin and contributor and admin != contributor
        # the second server runs two worker processes of its own (--workers): three stateless processes in all
        servers = [start_server(dsn, blobs, env, home / "server0.log"),
                   start_server(dsn, blobs, env, home / "server1.log", "--workers", "2")]
        for server in servers:
            wait_ready(server)
        yield Team(dsn, bucket, "team/blobstore", s3_endpoint, servers, admin, contributor)
    finally:
        for server in servers:
            if server.proc.poll() is None:
                server.proc.terminate()
        for server in servers:
            stop_server(server)
        drop_database(server_dsn, dsn)


@pytest.fixture
def fresh_db() -> Iterator[str]:
    server_dsn = shared_postgres()
    dsn = new_database(server_dsn)
    try:
        yield dsn
    finally:
        drop_database(server_dsn, dsn)


# ------------------------------------------------------------------------------ 1. stateless servers
TRAIN = """
import os, sys, time
import naiad

project, custom, prefix, tag, n, file_path, ready, go = sys.argv[1:]
n = int(n)
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(go):  # every process starts at the same moment
    if time.monotonic() > deadline:
        sys.exit("no go")
    time.sleep(0.01)
run = naiad.init_run(project=project, custom_run_id=custom, tags=[tag], source_files=[])
print("ID", run["sys/id"].fetch(), flush=True)
run[f"{prefix}/params/lr"] = 0.001 * n
run[f"{prefix}/params/name"] = tag
run[f"{prefix}/params/epochs"] = n
for i in range(n):
    run[f"{prefix}/loss"].append(1.0 / (i + 1) + n, step=3 * i)
    if i % 10 == 0:
        run[f"{prefix}/note"].append(f"{tag}:{i}", step=i)
    if i % 100 == 99:
        time.sleep(0.01)  # several flushes, so batches from all processes interleave
run[f"{prefix}/file"].upload(file_path)
run["sys/tags"].add(tag + "-done")
run.stop()
"""


@dataclass(frozen=True)
class Writer:
    custom: str
    prefix: str
    tag: str
    n: int
    server: int
    content: bytes


def expected_series(w: Writer) -> tuple[np.ndarray, np.ndarray, list[float], list[str]]:
    i = np.arange(w.n, dtype=np.float64)
    loss = 1.0 / (i + 1) + w.n
    notes = list(range(0, w.n, 10))
    return 3 * i, loss, [float(k) for k in notes], [f"{w.tag}:{k}" for k in notes]


@pytest.mark.slow
def test_two_servers_share_one_store_nothing_lost_or_duplicated(team: Team, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    writers = [Writer(f"run-{k}", "train", f"t{k}", 1500 + 100 * k, k % 2, rng.bytes(40_000 + k)) for k in range(4)]
    # one run written through both servers at once: two processes with one custom_run_id
    writers += [Writer("shared", "a", "shared-a", 1200, 0, rng.bytes(30_000)),
                Writer("shared", "b", "shared-b", 1300, 1, rng.bytes(30_001))]
    go = tmp_path / "go"
    procs = []
    for w in writers:
        path = tmp_path / f"{w.tag}.bin"
        path.write_bytes(w.content)
        env = {"NAIAD_URI": team.urls[w.server], "NAIAD_API_TOKEN": team.contributor,
               "NAIAD_LOCAL_DIR": str(tmp_path / f"local-{w.tag}")}
        procs.append(start_script(TRAIN, PROJECT, w.custom, w.prefix, w.tag, str(w.n), str(path),
                                  str(tmp_path / f"ready-{w.tag}"), str(go), env=env))
    ids: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{w.tag}").exists() for w in writers):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a writer did not start"
            time.sleep(0.02)
        go.touch()
        for w, proc in zip(writers, procs, strict=True):
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"{w.tag}:\n{out}\n{err}"
            [line] = [ln for ln in out.splitlines() if ln.startswith("ID ")]
            ids[w.tag] = line.split()[1]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert ids["shared-a"] == ids["shared-b"]  # the same run, whichever server made it first
    runs = {w.custom: ids[w.tag] for w in writers}
    assert len(set(runs.values())) == 5

    tables = []
    for url in team.urls:
        store = RemoteStore(url, team.admin)
        try:
            table = store.query_table(PROJECT, "run", columns=["sys/custom_run_id", "sys/tags", "sys/errors"],
                                      sort_by="sys/id", ascending=True)
            tables.append([(sid, row["sys/custom_run_id"].value, sorted(row["sys/tags"].value),
                            row["sys/errors"].value if "sys/errors" in row else 0)
                           for sid, row in zip(table.ids, table.rows, strict=True)])
            assert sorted(table.ids) == sorted(runs.values())
            for w in writers:
                info = store.get_container(short_id=runs[w.custom], project=PROJECT)
                steps, loss, note_steps, notes = expected_series(w)
                got = store.read_series(info.uuid, f"{w.prefix}/loss")
                np.testing.assert_array_equal(got.steps, steps)  # every point once, in order
                np.testing.assert_array_equal(got.values, loss)
                got_notes = store.read_series(info.uuid, f"{w.prefix}/note")
                assert list(got_notes.steps) == note_steps
                assert got_notes.values == notes
                fields = store.read_fields(info.uuid)
                assert fields[f"{w.prefix}/loss"].count == w.n
                assert fields[f"{w.prefix}/loss"].value == loss[-1]
                assert fields[f"{w.prefix}/note"].count == len(notes)
                assert fields[f"{w.prefix}/params/epochs"].value == w.n
                assert fields[f"{w.prefix}/params/name"].value == w.tag
                assert fields[f"{w.prefix}/params/lr"].value == pytest.approx(0.001 * w.n)
                assert fields[f"{w.prefix}/file"].value["hash"] == sha256(w.content)
                assert "sys/errors" not in fields, fields.get("sys/last_error")
                if w.custom != "shared":  # (the shared run's last state is whichever process stopped last)
                    assert fields["sys/state"].value == "finished"
                assert fields["sys/owner"].value == "trainer"
        finally:
            store.close()
    assert tables[0] == tables[1]  # the runs table is the same through either server
    by_custom = {row[1]: row for row in tables[0]}
    assert by_custom["shared"][2] == ["shared-a", "shared-a-done", "shared-b", "shared-b-done"]
    assert by_custom["run-2"][2] == ["t2", "t2-done"]
    assert all(row[3] == 0 for row in tables[0])

    # files download identically through both servers (the SDK's read-only mode)
    monkeypatch.setenv("NAIAD_API_TOKEN", team.admin)
    for n_server, url in enumerate(team.urls):
        monkeypatch.setenv("NAIAD_URI", url)
        for w in writers:
            run = naiad.init_run(with_id=runs[w.custom], project=PROJECT, mode="read-only")
            dest = tmp_path / f"down{n_server}" / w.tag
            dest.mkdir(parents=True)
            run[f"{w.prefix}/file"].download(str(dest))
            assert (dest / "file.bin").read_bytes() == w.content
            assert run[f"{w.prefix}/loss"].fetch_values()["step"].tolist() == list(range(0, 3 * w.n, 3))
    keys = team.object_keys()
    for w in writers:
        d = sha256(w.content)
        assert f"{team.prefix}/blobs/{d[:2]}/{d[2:]}" in keys


def test_one_batch_sent_to_both_servers_at_the_same_moment_is_applied_once(team: Team) -> None:
    store = RemoteStore(team.urls[0], team.admin)
    clients = [httpx.Client(base_url=url + "/api/v1", timeout=60,
                            headers={"authorization": f"Bearer {team.admin}", "content-type": wire.BATCH_MEDIA_TYPE})
               for url in team.urls]
    try:
        info = store.create_container("retries", "run", uuid.uuid4().hex)
        writer = "w-" + uuid.uuid4().hex
        rounds, per = 25, 200
        barrier = threading.Barrier(2)

        def post(client: httpx.Client, body: bytes) -> httpx.Response:
            barrier.wait()
            return client.post("/batches", content=body)

        with ThreadPoolExecutor(2) as pool:
            for seq in range(1, rounds + 1):
                steps = np.arange((seq - 1) * per, seq * per, dtype=np.float64)
                batch = Batch(info.uuid, writer, seq, [
                    (O.POINTS, "retry/x", F.FLOAT_SERIES, steps, steps + 1e9, steps * 0.5),
                    (O.ADD, "retry/seqs", [str(seq)]),
                    (O.ERROR, "", f"marker {seq}"),  # each application adds one to sys/errors: visible twice
                ])
                body = O.encode_batch(batch)
                answers = list(pool.map(post, clients, [body, body]))
                for answer in answers:
                    assert answer.status_code == 200, answer.text
                    assert answer.json() == {"seq": seq, "errors": []}
        # the same writer goes on, its batches alternating between the servers: the high mark is shared
        other = RemoteStore(team.urls[1], team.admin)
        try:
            for seq in range(rounds + 1, rounds + 11):
                target = store if seq % 2 else other
                steps = np.arange((seq - 1) * per, seq * per, dtype=np.float64)
                result = target.apply(Batch(info.uuid, writer, seq, [
                    (O.POINTS, "retry/x", F.FLOAT_SERIES, steps, steps + 1e9, steps * 0.5)]))
                assert (result.seq, result.errors) == (seq, [])
                # the batch again, through the other server: known there, not applied again
                again = (other if target is store else store).apply(Batch(info.uuid, writer, seq, [
                    (O.POINTS, "retry/x", F.FLOAT_SERIES, steps, steps + 1e9, steps * 0.5)]))
                assert again.seq == seq
            assert store.writer_seq(writer, info.uuid) == other.writer_seq(writer, info.uuid) == rounds + 10
            for reader in (store, other):
                total = (rounds + 10) * per
                data = reader.read_series(info.uuid, "retry/x")
                np.testing.assert_array_equal(data.steps, np.arange(total, dtype=np.float64))
                fields = reader.read_fields(info.uuid, ["retry/x", "retry/seqs", "sys/errors", "sys/last_error"])
                assert fields["retry/x"].count == total
                assert fields["retry/seqs"].value == {str(s) for s in range(1, rounds + 1)}
                assert fields["sys/errors"].value == rounds, fields["sys/last_error"].value
        finally:
            other.close()
    finally:
        store.close()
        for client in clients:
            client.close()


# --------------------------------------------------------------------------------- 3. S3 blobs
def test_files_through_a_server_land_in_the_bucket_and_big_ones_round_trip(
        team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = os.urandom(5000)
    big = os.urandom(PART_SIZE + (1 << 20) + 12345)  # more than one part: the resumable multipart upload
    (tmp_path / "small.txt").write_bytes(small)
    (tmp_path / "big.bin").write_bytes(big)
    monkeypatch.setenv("NAIAD_URI", team.urls[0])
    monkeypatch.setenv("NAIAD_API_TOKEN", team.contributor)
    run = naiad.init_run(project=PROJECT, source_files=[])
    run["data/small"].upload(str(tmp_path / "small.txt"))
    run["data/big"].upload(str(tmp_path / "big.bin"))
    run_id = run["sys/id"].fetch()
    run.stop()

    keys = team.object_keys()
    client = s3_client(team.endpoint)
    for data in (small, big):
        d = sha256(data)
        key = f"{team.prefix}/blobs/{d[:2]}/{d[2:]}"
        assert key in keys
        body = client.get_object(Bucket=team.bucket, Key=key)["Body"]
        try:
            assert sha256(body.read()) == d
        finally:
            body.close()
    assert all(k.startswith(team.prefix + "/blobs/") for k in keys), keys  # nothing staged is left over
    assert not client.list_multipart_uploads(Bucket=team.bucket).get("Uploads")

    # read back through the other server, with the SDK
    monkeypatch.setenv("NAIAD_URI", team.urls[1])
    old = naiad.init_run(with_id=run_id, project=PROJECT, mode="read-only")
    old["data/big"].download(str(tmp_path / "big-copy.bin"))
    old["data/small"].download(str(tmp_path / "small-copy.txt"))
    assert sha256((tmp_path / "big-copy.bin").read_bytes()) == sha256(big)
    assert (tmp_path / "small-copy.txt").read_bytes() == small


def test_a_resumable_upload_begun_on_one_server_goes_on_and_completes_on_the_other(team: Team) -> None:
    data = os.urandom(2 * PART_SIZE + 777)
    digest = sha256(data)
    a, b = (RemoteStore(url, team.contributor) for url in team.urls)
    try:
        upload_id = a.blobs.begin_upload(digest, len(data))
        assert b.blobs.upload_part(upload_id, 1, [data[PART_SIZE:2 * PART_SIZE]]) == PART_SIZE
        assert a.blobs.upload_part(upload_id, 0, [data[:PART_SIZE]]) == PART_SIZE
        assert b.blobs.uploaded_parts(upload_id) == {0: PART_SIZE, 1: PART_SIZE}
        assert a.blobs.upload_part(upload_id, 2, [data[2 * PART_SIZE:]]) == 777
        assert b.blobs.complete_upload(upload_id) == (digest, len(data))
        assert a.blobs.complete_upload(upload_id) == (digest, len(data))  # an answer lost and asked again
        # a run of the project refers to it: what lets the project's accounts read it
        run = a.create_container(PROJECT, "run", uuid.uuid4().hex)
        ref = {"hash": digest, "size": len(data), "ext": "bin", "name": "data.bin"}
        assert not a.apply(Batch(run.uuid, "refer-" + run.uuid, 1, [(O.ASSIGN, "data", F.FILE, ref)])).errors
        assert a.blobs.size(digest) == b.blobs.size(digest) == len(data)
        with b.blobs.open(digest) as fh:
            assert sha256(fh.read()) == digest
        assert b"".join(a.blobs.read_range(digest, PART_SIZE - 5, PART_SIZE + 5)) == data[PART_SIZE - 5:PART_SIZE + 5]
    finally:
        a.close()
        b.close()
    keys = team.object_keys()
    assert f"{team.prefix}/blobs/{digest[:2]}/{digest[2:]}" in keys
    assert not [k for k in keys if "/uploads/" in k]


# ------------------------------------------------------------------------------- 2. migrations
def test_migrate_applies_every_migration_once_and_reports_the_version(fresh_db: str) -> None:
    first = naiad_cli("server", "migrate", "--store", fresh_db)
    assert first.returncode == 0, first.stderr
    for mig in migrations():
        assert f"applying {mig.version:04d} {mig.name}" in first.stdout
    assert f"schema 0 → {SCHEMA_VERSION}" in first.stdout
    assert schema_version(fresh_db) == SCHEMA_VERSION
    again = naiad_cli("server", "migrate", "--store", fresh_db)
    assert again.returncode == 0, again.stderr
    assert "applying" not in again.stdout
    assert f"already at schema {SCHEMA_VERSION}; nothing to do" in again.stdout
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("SELECT version, name FROM naiad_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in migrations()]


def _apply_first_migration_by_hand(dsn: str) -> None:
    from naiad.store.sql import statements

    first = migrations()[0]
    assert first.version == 1
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        for stmt in statements(first.sql):
            conn.execute(stmt)
        conn.execute("CREATE TABLE naiad_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                     "applied DOUBLE PRECISION NOT NULL)")
        conn.execute("INSERT INTO naiad_migrations VALUES (1, %s, %s)", (first.name, time.time()))


def test_a_database_behind_is_refused_until_migrated(fresh_db: str, tmp_path: Path) -> None:
    assert SCHEMA_VERSION >= 2
    _apply_first_migration_by_hand(fresh_db)
    assert schema_version(fresh_db) == 1
    with pytest.raises(SchemaVersionError) as caught:
        PostgresStore(fresh_db, LocalBlobs(tmp_path / "blobs"))
    assert "naiad server migrate" in str(caught.value)
    assert "schema version 1" in str(caught.value)
    assert schema_version(fresh_db) == 1  # opening never migrates a database that has a schema

    port = free_port()
    served = naiad_cli("server", "--store", fresh_db, "--blobs", str(tmp_path / "blobs"), "--host", "127.0.0.1",
                       "--port", str(port), timeout=60)
    assert served.returncode != 0
    assert "naiad server migrate" in served.stderr, served.stderr
    assert "Traceback" not in served.stderr

    done = naiad_cli("server", "migrate", "--store", fresh_db)
    assert done.returncode == 0, done.stderr
    assert f"schema 1 → {SCHEMA_VERSION}" in done.stdout
    assert "applying 0001" not in done.stdout
    store = PostgresStore(fresh_db, LocalBlobs(tmp_path / "blobs"))
    try:
        info = store.create_container("p", "run", uuid.uuid4().hex)
        assert info.short_id == "P-1"
        from naiad.store.accounts import Accounts

        assert not Accounts(store).has_accounts()  # migration 2's tables are there
    finally:
        store.close()


def test_a_database_ahead_of_this_naiad_is_refused(fresh_db: str, tmp_path: Path) -> None:
    done = naiad_cli("server", "migrate", "--store", fresh_db)
    assert done.returncode == 0, done.stderr
    newer = SCHEMA_VERSION + 1
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO naiad_migrations VALUES (%s, 'from_the_future', %s)", (newer, time.time()))
    with pytest.raises(SchemaVersionError) as caught:
        PostgresStore(fresh_db, LocalBlobs(tmp_path / "blobs"))
    assert f"schema version {newer}" in str(caught.value)
    assert "upgrade naiad" in str(caught.value)
    for args in (["server", "migrate", "--store", fresh_db],
                 ["server", "--store", fresh_db, "--blobs", str(tmp_path / "blobs"), "--port", str(free_port())]):
        refused = naiad_cli(*args)
        assert refused.returncode != 0
        assert "upgrade naiad" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert schema_version(fresh_db) == newer


def test_two_migrations_at_once_both_succeed(fresh_db: str) -> None:
    """Both processes are held on the migration lock until both wait on it, then race for it."""
    with psycopg.connect(fresh_db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_LOCK_MIGRATIONS,))
        procs = [subprocess.Popen([sys.executable, "-m", "naiad", "server", "migrate", "--store", fresh_db],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL) for _ in range(2)]
        try:
            deadline = time.monotonic() + 60
            while holder.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                 "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                                 ).fetchone() != (2,):
                assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
                    [p.communicate() for p in procs if p.poll() is not None]
                time.sleep(0.05)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_MIGRATIONS,))
        outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    applied = [out for out, _ in outs if "applying" in out]
    assert len(applied) == 1, outs  # one did the work, the other found it done
    assert any("nothing to do" in out for out, _ in outs), outs
    assert schema_version(fresh_db) == SCHEMA_VERSION
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("SELECT version FROM naiad_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in migrations()]


def test_a_password_in_the_dsn_is_never_shown(tmp_path: Path) -> None:
    secret = "pa55-w0rd-Zq"
    dsn = f"postgresql://naiad:{secret}@127.0.0.1:{free_port()}/postgres"  # nothing listens there
    with pytest.raises(StoreUnavailableError) as caught:
        PostgresStore(dsn, LocalBlobs(tmp_path / "blobs"))
    message = str(caught.value)
    assert secret not in message
    assert "naiad:***@127.0.0.1" in message
    no_blobs = {k: v for k, v in os.environ.items() if k != "NAIAD_BLOBS"}
    commands = (["server", "migrate", "--store", dsn],
                ["server", "--store", dsn, "--blobs", str(tmp_path / "blobs"), "--port", str(free_port())],
                ["token", "create", "--user", "x", "--store", dsn])  # no --blobs: refused before connecting
    with ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda args: naiad_cli(*args, env=no_blobs), commands))
    for failed in results:
        assert failed.returncode != 0
        assert secret not in failed.stdout + failed.stderr
        assert "***" in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stderr
    # a password given as a URI parameter, or after an empty user name, is hidden too
    for other in (f"postgresql://naiad@127.0.0.1:{free_port()}/postgres?password={secret}&sslmode=disable",
                  f"postgresql://:{secret}@127.0.0.1:{free_port()}/postgres"):
        with pytest.raises(StoreUnavailableError) as caught:
            PostgresStore(other, LocalBlobs(tmp_path / "blobs"))
        assert secret not in str(caught.value)
        assert "***" in str(caught.value)
    # a URI libpq cannot parse: psycopg's message quotes it whole
    broken = f"postgresql://naiad:{secret}@[::1/postgres"
    with pytest.raises(ConfigError) as bad:
        PostgresStore(broken, LocalBlobs(tmp_path / "blobs"))
    assert secret not in str(bad.value)
    refused = naiad_cli("server", "migrate", "--store", broken)
    assert refused.returncode != 0
    assert secret not in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_store_opened_while_a_migration_runs_waits_for_it(fresh_db: str, tmp_path: Path) -> None:
    """Servers started at once on an empty database: one migrates, the others must not see the database
    halfway (migration 1 of 2 committed) and refuse it as one left behind at an older version."""
    opened: dict[str, Any] = {}

    def open_store() -> None:
        try:
            opened["store"] = PostgresStore(fresh_db, LocalBlobs(tmp_path / "blobs"))
        except Exception as exc:
            opened["error"] = exc

    with psycopg.connect(fresh_db, autocommit=True) as migrator:
        migrator.execute("SELECT pg_advisory_lock(%s)", (_LOCK_MIGRATIONS,))  # as `migrate` holds it
        _apply_first_migration_by_hand(fresh_db)  # the first migration is committed, the others to come
        thread = threading.Thread(target=open_store)
        thread.start()
        deadline = time.monotonic() + 30
        while thread.is_alive() and migrator.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone() != (1,):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        try:
            assert "error" not in opened, opened["error"]
            from naiad.store.sql import statements

            with migrator.transaction():
                for mig in migrations()[1:]:
                    for stmt in statements(mig.sql):
                        migrator.execute(stmt)
                    migrator.execute("INSERT INTO naiad_migrations VALUES (%s, %s, %s)",
                                     (mig.version, mig.name, time.time()))
        finally:
            migrator.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_MIGRATIONS,))
            thread.join(30)
    assert "error" not in opened, opened["error"]
    store = opened["store"]
    try:
        assert store.create_container("p", "run", uuid.uuid4().hex).short_id == "P-1"
    finally:
        store.close()
