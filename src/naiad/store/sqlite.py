"""The embedded store: a SQLite catalog plus a content-addressed blob folder.

Layout of a store folder (default ``./.naiad``)::

    naiad.db        catalog: projects, containers, fields, series summaries, compressed chunks
    blobs/ab/cd…    files, stored once by SHA-256
    oplog/          op logs of writers (see naiad.core.oplog); replayed on open when their writer died

Writes go through :meth:`SqliteStore.apply`, one ``BEGIN IMMEDIATE`` transaction per batch, with
WAL journaling so readers never block the writer and several processes can share a store.  Each
thread gets its own connection.  The catalog logic itself is shared with PostgreSQL (naiad.store.sql).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from naiad.core import query as Q
from naiad.errors import DiskFullError, SchemaVersionError, StoreLockedError
from naiad.store.blobs import LocalBlobs
from naiad.store.sql import (  # re-exported: older imports name them here
    SqlStore,
    artifact_hash,
    bucket_points,
    effective_state,
    project_key_candidates,
    statements,
)
from naiad.store.sql.blobrefs import index_blob_refs
from naiad.store.sql.datasets import index_datasets

SCHEMA_VERSION = 1

__all__ = ["SqliteStore", "artifact_hash", "bucket_points", "effective_state", "project_key_candidates"]


_SQLITE_FULL = 13  # SQLite's result code for a full disk


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL
                                               or "database or disk is full" in str(exc))


_SCHEMA_OBJECTS = re.compile(r"CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX)\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE)
"""The tables and indexes schema.sql makes: all of them present (and the script unchanged) — nothing to run."""


class SqliteStore(SqlStore):
    """Embedded store in a folder; safe for many threads and processes at once."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__()
        self.root = Path(root).resolve()
        self.uri = str(self.root)
        self.location = str(self.root)
        self.local_root = self.root
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "naiad.db"
        self.blobs = LocalBlobs(self.root / "blobs")
        self._init_schema()

    # ------------------------------------------------------------------ connections
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=120, isolation_level=None,
                                   check_same_thread=False)
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=120000")
            conn.execute("PRAGMA cache_size=-65536")
            Q.register_sqlite_functions(conn)
            self._local.conn = conn
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL (once per database; it persists).  The switch takes an exclusive lock and
        SQLite does not wait for it through the busy handler, so processes opening a brand-new
        store at the same moment retry here instead of failing with "database is locked"."""
        for attempt in range(600):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(min(0.01 * (attempt + 1), 0.2))
        raise StoreLockedError(f"could not open {self.db_path}: another process keeps it locked.")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _begin(self, conn: sqlite3.Connection) -> None:
        for attempt in range(50):
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(min(0.05 * (attempt + 1), 1.0))
        raise StoreLockedError(f"the store {self.root} stayed locked by another process for minutes; "
                         "check for a stuck process holding it.")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn()
        self._begin(conn)
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:  # SQLite already rolled back (a full disk): the first error is the one
                    pass
            if _disk_full(exc):
                raise DiskFullError(
                    f"the disk is full (under the store {self.root}): nothing stored was lost, and what is not "
                    "stored yet is kept (in the op log, or in memory while the op log's disk is full too) and "
                    "stored once there is room; free space on that disk.") from None
            raise

    def _init_schema(self) -> None:
        conn = self.conn()
        self._begin(conn)
        try:
            sql = resources.files("naiad.store").joinpath("schema.sql").read_text()
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
            if has_meta:
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row and int(row[0]) > SCHEMA_VERSION:
                    raise SchemaVersionError(
                        f"the store {self.root} has schema version {row[0]}, newer than this naiad "
                        f"understands ({SCHEMA_VERSION}); upgrade naiad (pip install -U naiad).")
            # the script made this store as it is (same text): nothing to run — splitting it with a SQL
            # parser was most of every store's opening (a new process's first query: issue 21's W4)
            digest = hashlib.sha256(sql.encode()).hexdigest()
            done = bool(has_meta) and conn.execute("SELECT 1 FROM meta WHERE key='schema_sha256' AND value=?",
                                                   (digest,)).fetchone() is not None
            if done:  # and nothing it makes went missing since (a table dropped by hand, by a test)
                present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                done = set(_SCHEMA_OBJECTS.findall(sql)) <= present
            if not done:
                # executescript would commit our transaction; run statement by statement instead
                for stmt in statements(sql):
                    conn.execute(stmt)
                conn.execute("INSERT INTO meta(key, value) VALUES ('schema_sha256', ?) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (digest,))
            conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                         (str(SCHEMA_VERSION),))
            if conn.execute("SELECT 1 FROM meta WHERE key='dataset_uses'").fetchone() is None:
                index_datasets(conn)  # a store made before the datasets index: fill it once
                conn.execute("INSERT INTO meta(key, value) VALUES ('dataset_uses', '1')")
            if "cid" not in {r[1] for r in conn.execute("PRAGMA table_info(writers)")}:
                conn.execute("ALTER TABLE writers ADD COLUMN cid INTEGER")  # a store made before writers had one
            if conn.execute("SELECT 1 FROM meta WHERE key='blob_refs'").fetchone() is None:
                index_blob_refs(conn)  # a store made before the blob references: fill them once
                conn.execute("INSERT INTO meta(key, value) VALUES ('blob_refs', '1')")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

