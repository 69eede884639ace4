"""Stores made before the model registry and the datasets index get them on upgrade.

* SQLite: a store without the datasets index (or without its tables) gets the index filled once, from
  the Artifact fields already stored, the first time it is opened.
* PostgreSQL: migration 5 creates ``registry_events`` and ``dataset_uses`` and fills ``dataset_uses``
  from the Artifact fields of a database at schema version 4.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid as _uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store.base import MODEL, MODEL_VERSION, RUN, DatasetUse
from naiad.store.blobs import LocalBlobs
from naiad.store.sqlite import SqliteStore, artifact_hash


def entry(path: str, digest: str, size: int | None) -> dict[str, Any]:
    return {"file_path": path, "file_hash": digest, "type": "Local", "size": size,
            "metadata": {"file_path": f"file:///data/{path}", "last_modified": "2024-01-01 00:00:00"}}


TRAIN = [entry("train/a.csv", "1" * 64, 100), entry("train/b.csv", "2" * 64, 23)]
VAL = [entry("val/c.csv", "3" * 64, 7)]


def new_uuid() -> str:
    return _uuid.uuid4().hex


# ------------------------------------------------------------------------------------------ SQLite
def _store_with_datasets(root: Path) -> tuple[list[DatasetUse], dict[str, str]]:
    """A store with Artifact fields on a run and on a model version, plus other fields; returns its
    datasets index as the store keeps it now, and the hash of each field."""
    store = SqliteStore(root)
    try:
        run = store.create_container("defects", RUN, new_uuid())
        store.apply(Batch(run.uuid, "w1", 1, [(O.TRACK, "datasets/train", TRAIN, False),
                                               (O.TRACK, "datasets/val", VAL, False),
                                               (O.ASSIGN, "params/lr", F.FLOAT, 0.1)]))
        store.create_container("defects", MODEL, new_uuid(), key="CLS")
        version = store.create_container("defects", MODEL_VERSION, new_uuid(), parent="DEF-CLS")
        store.apply(Batch(version.uuid, "w2", 1, [(O.TRACK, "datasets/train", list(reversed(TRAIN)), False)]))
        other = store.create_container("other", RUN, new_uuid())
        store.apply(Batch(other.uuid, "w3", 1, [(O.TRACK, "data", VAL, False)]))
        hashes = {"train": store.read_fields(run.uuid, ["datasets/train"])["datasets/train"].value["hash"],
                  "val": store.read_fields(run.uuid, ["datasets/val"])["datasets/val"].value["hash"]}
        uses = store.dataset_uses("defects")
        assert uses == [
            DatasetUse(hashes["train"], 2, 123, "DEF-1", RUN, "datasets/train", run.created),
            DatasetUse(hashes["val"], 1, 7, "DEF-1", RUN, "datasets/val", run.created),
            DatasetUse(hashes["train"], 2, 123, "DEF-CLS-1", MODEL_VERSION, "datasets/train", version.created),
        ]
        assert hashes["train"] == artifact_hash(TRAIN) and hashes["val"] == artifact_hash(VAL)
        return uses, hashes
    finally:
        store.close()


def _sql(root: Path, *statements: str) -> None:
    db = sqlite3.connect(root / "naiad.db", isolation_level=None)
    try:
        for stmt in statements:
            db.execute(stmt)
    finally:
        db.close()


def _count(root: Path, sql: str) -> int:
    db = sqlite3.connect(root / "naiad.db")
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def test_a_sqlite_store_made_before_the_datasets_index_gets_it_filled_on_open(tmp_path: Path) -> None:
    root = tmp_path / "old"
    uses, hashes = _store_with_datasets(root)
    _sql(root, "DELETE FROM dataset_uses", "DELETE FROM meta WHERE key='dataset_uses'")
    assert _count(root, "SELECT count(*) FROM dataset_uses") == 0

    store = SqliteStore(root)
    try:
        assert store.dataset_uses("defects") == uses
        assert [(u.path, u.hash, u.files, u.size) for u in store.dataset_uses("other")] == [
            ("data", hashes["val"], 1, 7)]
        assert store.dataset_manifest("defects", hashes["train"]) == TRAIN
        assert store.dataset_uses("defects", hashes["val"][:6]) == [uses[1]]
    finally:
        store.close()
    assert _count(root, "SELECT count(*) FROM meta WHERE key='dataset_uses'") == 1


def test_a_sqlite_store_without_the_registry_tables_gets_them_on_open(tmp_path: Path) -> None:
    root = tmp_path / "older"
    uses, _ = _store_with_datasets(root)
    _sql(root, "DROP TABLE dataset_uses", "DROP TABLE registry_events",
         "DELETE FROM meta WHERE key='dataset_uses'")

    store = SqliteStore(root)
    try:
        assert store.dataset_uses("defects") == uses
        assert store.registry_events("defects") == []
        events = store.change_stage("DEF-CLS-1", "production", actor="ana", reason="upgrade")
        assert [(e.version, e.before, e.after) for e in events] == [("DEF-CLS-1", "none", "production")]
        assert store.registry_events("defects", "DEF-CLS") == events
    finally:
        store.close()


def test_opening_a_current_sqlite_store_runs_no_schema_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema script runs when the store is new, when the script changed, or when something it makes
    is missing — not on every open (splitting it was most of a new process's first query)."""
    import naiad.store.sqlite as sqlite_module

    runs: list[int] = []
    real = sqlite_module.statements
    monkeypatch.setattr(sqlite_module, "statements", lambda sql: runs.append(1) or real(sql))
    root = tmp_path / "s"
    SqliteStore(root).close()
    SqliteStore(root).close()
    assert len(runs) == 1
    _sql(root, "DROP TABLE registry_events")
    store = SqliteStore(root)
    try:
        assert len(runs) == 2
        assert store.conn().execute("SELECT count(*) FROM registry_events").fetchone()[0] == 0  # made again
    finally:
        store.close()
    _sql(root, "UPDATE meta SET value = 'an older script' WHERE key = 'schema_sha256'")
    SqliteStore(root).close()
    SqliteStore(root).close()
    assert len(runs) == 3


def test_the_sqlite_datasets_index_is_filled_once_only(tmp_path: Path) -> None:
    root = tmp_path / "s"
    uses, _ = _store_with_datasets(root)
    _sql(root, "DELETE FROM dataset_uses WHERE pid IN (SELECT pid FROM paths WHERE path='datasets/val')")
    store = SqliteStore(root)  # the index is there already: opening does not scan the fields again
    try:
        assert store.dataset_uses("defects") == [uses[0], uses[2]]
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ PostgreSQL
@pytest.fixture
def pg_db() -> Any:
    from services import drop_database, new_database, shared_postgres

    server = shared_postgres()
    dsn = new_database(server)
    yield dsn
    drop_database(server, dsn)


def _migrate_to(dsn: str, version: int) -> None:
    """Apply migrations 1…``version`` as :func:`naiad.store.postgres.migrate` does, and no further."""
    import psycopg

    from naiad.store.postgres import migrations
    from naiad.store.sql import statements

    wanted = [m for m in migrations() if m.version <= version]
    assert [m.version for m in wanted] == list(range(1, version + 1))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE naiad_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                     "applied DOUBLE PRECISION NOT NULL)")
        for mig in wanted:
            with conn.transaction():
                for stmt in statements(mig.sql):
                    conn.execute(stmt)
                conn.execute("INSERT INTO naiad_migrations VALUES (%s, %s, %s)", (mig.version, mig.name, time.time()))


def _table_exists(conn: Any, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None


def test_postgres_migration_5_adds_the_registry_and_fills_the_datasets_index(pg_db: str, tmp_path: Path) -> None:
    import psycopg

    from naiad.store.postgres import PostgresStore, migrate, migrations, schema_version

    _migrate_to(pg_db, 4)
    assert schema_version(pg_db) == 4
    train = {"hash": artifact_hash(TRAIN), "files": TRAIN}
    odd = [entry("x.bin", "4" * 64, None), entry("y.bin", "5" * 64, 5)]  # a size nobody knew
    odd_value = {"hash": artifact_hash(odd), "files": odd}
    now = time.time()
    with psycopg.connect(pg_db, autocommit=True) as conn:
        assert not _table_exists(conn, "dataset_uses") and not _table_exists(conn, "registry_events")
        (proj,) = conn.execute("INSERT INTO projects(name, key, next_num, created) VALUES ('defects', 'DEF', 3, %s) "
                               "RETURNING id", (now,)).fetchone()
        cids = []
        for n in (1, 2):
            (cid,) = conn.execute("INSERT INTO containers(uuid, project_id, kind, short_id, created) "
                                  "VALUES (%s, %s, 'run', %s, %s) RETURNING cid",
                                  (new_uuid(), proj, f"DEF-{n}", now + n)).fetchone()
            cids.append(cid)
        pids = {}
        for path in ("datasets/train", "datasets/odd", "empty", "params/lr", "notes"):
            (pids[path],) = conn.execute("INSERT INTO paths(path) VALUES (%s) RETURNING pid", (path,)).fetchone()
        rows = [(cids[0], pids["datasets/train"], F.ARTIFACT, None, json.dumps(train)),
                (cids[1], pids["datasets/train"], F.ARTIFACT, None, json.dumps(train)),
                (cids[1], pids["datasets/odd"], F.ARTIFACT, None, json.dumps(odd_value)),
                (cids[1], pids["empty"], F.ARTIFACT, None, json.dumps({"files": []})),  # no hash: not a version
                (cids[0], pids["params/lr"], F.FLOAT, 0.1, None),
                (cids[0], pids["notes"], F.STRING, None, '{"hash": "not an artifact"}')]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO fields(cid, pid, type, num, txt) VALUES (%s, %s, %s, %s, %s)", rows)

    done = migrate(pg_db)
    assert [m.version for m in done] == [m.version for m in migrations()[4:]]  # 5 and whatever came after
    assert done[0].version == 5 and done[0].name.endswith("registry_datasets")
    assert schema_version(pg_db) == migrations()[-1].version
    with psycopg.connect(pg_db, autocommit=True) as conn:
        assert _table_exists(conn, "registry_events")
        assert conn.execute("SELECT count(*) FROM registry_events").fetchone()[0] == 0
        got = conn.execute("SELECT cid, pid, hash, files, bytes FROM dataset_uses ORDER BY cid, pid").fetchall()
    assert got == sorted([(cids[0], pids["datasets/train"], train["hash"], 2, 123),
                          (cids[1], pids["datasets/train"], train["hash"], 2, 123),
                          (cids[1], pids["datasets/odd"], odd_value["hash"], 2, 5)])

    store = PostgresStore(pg_db, LocalBlobs(tmp_path / "blobs"))  # the migrated database opens and works
    try:
        assert store.dataset_uses("defects") == [
            DatasetUse(train["hash"], 2, 123, "DEF-1", RUN, "datasets/train", now + 1),
            DatasetUse(odd_value["hash"], 2, 5, "DEF-2", RUN, "datasets/odd", now + 2),
            DatasetUse(train["hash"], 2, 123, "DEF-2", RUN, "datasets/train", now + 2),
        ]
        assert store.dataset_manifest("defects", train["hash"]) == TRAIN
        assert store.registry_events("defects") == []
        store.create_container("defects", MODEL, new_uuid(), key="CLS")
        store.create_container("defects", MODEL_VERSION, new_uuid(), parent="DEF-CLS")
        events = store.change_stage("DEF-CLS-1", "staging", actor="ana")
        assert store.registry_events("defects") == events and len(events) == 1
    finally:
        store.close()
    assert migrate(pg_db) == []  # nothing left to apply


# ------------------------------------------------------------------------------------------ blob references
def _write_files(store: Any) -> dict[str, str]:
    """Every kind of field that refers to a blob, in two projects; returns role → hash."""
    hashes = {name: store.blobs.put_bytes(name.encode() * 3)[0] for name in ("file", "set", "series", "data")}
    run = store.create_container("defects", RUN, new_uuid())
    other = store.create_container("other", RUN, new_uuid())
    ref = {"size": 1, "ext": "bin", "name": "x"}
    store.apply(Batch(run.uuid, "w-files", 1, [
        (O.ASSIGN, "model", F.FILE, {**ref, "hash": hashes["file"]}),
        (O.FILES, "bundle", {"a/b.txt": {**ref, "hash": hashes["set"]}}, False),
        (O.POINTS, "images", F.FILE_SERIES, np.array([0.0, 1.0]), np.array([1.0, 2.0]),
         [json.dumps({**ref, "hash": hashes["series"]}), json.dumps({**ref, "hash": hashes["file"]})]),
        (O.TRACK, "datasets/train", [{**entry("t.csv", "9" * 64, 3), "metadata": {"blob": hashes["data"]}}], False),
    ]))
    store.apply(Batch(other.uuid, "w-other", 1, [(O.ASSIGN, "model", F.FILE, {**ref, "hash": hashes["file"]})]))
    return hashes


def test_a_sqlite_store_made_before_blob_references_gets_them_filled_on_open(tmp_path: Path) -> None:
    root = tmp_path / "old"
    store = SqliteStore(root)
    hashes = _write_files(store)
    expected = {hashes["file"]: {"defects", "other"}, hashes["set"]: {"defects"},
                hashes["series"]: {"defects"}, hashes["data"]: {"defects"}}
    assert store.blob_projects(list(hashes.values())) == expected  # noted as they were written
    store.close()
    _sql(root, "DELETE FROM blob_refs", "DELETE FROM meta WHERE key='blob_refs'")
    reopened = SqliteStore(root)
    try:
        assert reopened.blob_projects(list(hashes.values())) == expected  # rebuilt from fields and chunks
        assert reopened.blob_projects(["0" * 64]) == {"0" * 64: set()}
    finally:
        reopened.close()


def test_postgres_migration_8_fills_the_blob_references(pg_db: str, tmp_path: Path) -> None:
    import psycopg

    from naiad.store.postgres import PostgresStore, migrate

    migrate(pg_db)
    store = PostgresStore(pg_db, LocalBlobs(tmp_path / "blobs"))
    try:
        hashes = _write_files(store)
    finally:
        store.close()
    with psycopg.connect(pg_db, autocommit=True) as conn:  # the database as it was before migration 8
        conn.execute("DROP TABLE blob_refs")
        conn.execute("DROP TABLE blob_uploads")
        conn.execute("DROP TABLE monitoring_alerts")  # and what migration 9 adds
        conn.execute("ALTER TABLE writers DROP COLUMN cid")
        for table in ("manifests", "server_secrets", "blob_claims"):  # and migration 10
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DELETE FROM naiad_migrations WHERE version >= 8")
    done = migrate(pg_db)
    assert [m.version for m in done] == [8, 9, 10]
    store = PostgresStore(pg_db, LocalBlobs(tmp_path / "blobs"))
    try:
        assert store.blob_projects(list(hashes.values())) == {
            hashes["file"]: {"defects", "other"}, hashes["set"]: {"defects"}, hashes["series"]: {"defects"},
            hashes["data"]: {"defects"}}
    finally:
        store.close()


def test_a_sqlite_store_whose_writers_have_no_container_opens_and_binds_them(tmp_path: Path) -> None:
    """A store made before writers named their container gets the column on open; a writer with no
    container yet is bound by its next batch, and its mark is read through that container only."""
    store = SqliteStore(tmp_path / "old")
    info = store.create_container("defects", RUN, _uuid.uuid4().hex)
    other = store.create_container("defects", RUN, _uuid.uuid4().hex)
    store.apply(Batch(info.uuid, "w-old", 3, [(O.ASSIGN, "a", F.FLOAT, 1.0)]))
    store.close()
    with sqlite3.connect(tmp_path / "old" / "naiad.db") as conn:  # the table as it was
        conn.execute("CREATE TABLE writers_old (writer TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
        conn.execute("INSERT INTO writers_old SELECT writer, seq FROM writers")
        conn.execute("DROP TABLE writers")
        conn.execute("ALTER TABLE writers_old RENAME TO writers")
    conn.close()
    store = SqliteStore(tmp_path / "old")
    try:
        assert store.writer_seq("w-old", info.uuid) == 0  # not known to be this container's: 0, never another's
        assert store.apply(Batch(info.uuid, "w-old", 3, [(O.ASSIGN, "a", F.FLOAT, 9.0)])).seq == 3  # still once
        assert store.read_fields(info.uuid, ["a"])["a"].value == 1.0
        store.apply(Batch(info.uuid, "w-old", 4, [(O.ASSIGN, "a", F.FLOAT, 4.0)]))
        assert (store.writer_seq("w-old", info.uuid), store.writer_seq("w-old", other.uuid)) == (4, 0)
    finally:
        store.close()


def test_scripts_are_split_by_a_sql_parser() -> None:
    """A ``;`` or ``--`` inside a literal, a quoted name or a dollar-quoted body stays in its statement (the
    old splitter cut at every ``;`` and dropped everything after ``--`` on a line)."""
    from naiad.store.sql.base import statements

    script = ("-- a comment; with a semicolon\nINSERT INTO t VALUES ('a;b -- c', \"x;y\"); -- trailing\n"
              "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\n-- the end\n")
    assert statements(script) == ["INSERT INTO t VALUES ('a;b -- c', \"x;y\")",
                                  "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql"]
