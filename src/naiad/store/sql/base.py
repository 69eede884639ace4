"""The SQL store's ground floor: connections and transactions, the ids of paths and containers,
atoms (a field's single value in one row), and the SQL both engines share.

Every layer of the SQL store (catalog → fields → series → writes, and the runs table) builds on
:class:`SqlBase`; subclasses of the assembled :class:`~naiad.store.sql.SqlStore` (SQLite,
PostgreSQL) supply connections, transactions and the few SQL pieces that differ.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from naiad.core import fields as F
from naiad.core import query as Q
from naiad.errors import (
    ContainerNotFound,
)
from naiad.store.base import (
    BlobStore,
)

_NUMERIC = (F.FLOAT, F.INTEGER, F.DATETIME)


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """The part of a DB-API connection the SQL store uses (sqlite3's, or the PostgreSQL adapter)."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Any, /) -> Any: ...


def statements(sql: str) -> list[str]:
    """The statements of a schema or migration script, split by a SQL parser (a ``;`` or ``--`` inside a
    string literal, a quoted name or a dollar-quoted body stays where it is), comments removed."""
    import sqlparse

    out = []
    for stmt in sqlparse.split(sql):
        text = sqlparse.format(stmt, strip_comments=True).strip().rstrip(";").strip()
        if text:
            out.append(text)
    return out


class SqlBase:
    """Connections, transactions, ids and atoms: what every layer of the SQL store stands on."""

    dialect: Q.Dialect = Q.SQLITE

    uri: str

    location: str  # how messages name this store

    blobs: BlobStore

    _local: threading.local

    _pids: dict[str, int]

    _cids: dict[str, int]

    def __init__(self) -> None:
        self._local = threading.local()
        self._pids = {}
        self._cids = {}

    def conn(self) -> Conn:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """The calling thread is done for now (a server request): give back what it holds."""

    def _in(self, expr: str, values: list[Any]) -> tuple[str, list[Any]]:
        """SQL for ``expr IN values`` and its parameters."""
        if not values:
            return "1 = 0", []
        return f"{expr} IN (SELECT value FROM json_each(?))", [json.dumps(values)]

    def _lock(self, conn: Conn, space: int, key: int) -> None:
        """Hold a lock on ``(space, key)`` until the transaction ends (SQLite's write lock covers it)."""

    FOR_UPDATE = ""

    SKIP_LOCKED = ""  # PostgreSQL: rows another process claimed are skipped, not waited for

    deliver_inline = True  # send webhooks right after the event (a server turns this off: its dispatcher does)

    LOCK_PROJECTS, LOCK_CONTAINER, LOCK_CREATE = 1, 2, 3

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        """One write transaction.  Ids of paths and containers made inside it are cached only once it
        commits, so a rolled-back id is never reused for something else."""
        self._local.new_pids = {}
        self._local.new_cids = {}
        try:
            with self._transaction() as conn:
                yield conn
            self._pids.update(self._local.new_pids)
            self._cids.update(self._local.new_cids)
        finally:
            self._local.new_pids = None
            self._local.new_cids = None
            self._local.fmap = None

    def _cid(self, conn: Conn, uuid: str) -> int:
        cid = self._cids.get(uuid)
        if cid is None:
            staged = getattr(self._local, "new_cids", None)
            if staged and uuid in staged:
                return int(staged[uuid])
            row = conn.execute("SELECT cid FROM containers WHERE uuid=? UNION ALL "
                               "SELECT cid FROM container_aliases WHERE uuid=?", (uuid, uuid)).fetchone()
            if row is None:
                raise ContainerNotFound(f"container {uuid} does not exist in {self.location}.")
            cid = int(row[0])
            if staged is None:  # outside a transaction the row is committed: safe to cache
                self._cids[uuid] = cid
        return cid

    def _pid(self, conn: Conn, path: str, create: bool = True) -> int:
        pid = self._pids.get(path)
        if pid is not None:
            return pid
        staged = getattr(self._local, "new_pids", None)
        if staged and path in staged:
            return int(staged[path])
        row = conn.execute("SELECT pid FROM paths WHERE path=?", (path,)).fetchone()
        if row is not None:
            pid = self._pids[path] = int(row[0])
            return pid
        if not create:
            return -1
        self._create_paths(conn, [path])
        return self._pids[path] if path in self._pids else int(self._local.new_pids[path])

    def _prefetch_pids(self, conn: Conn, paths: set[str]) -> None:
        """Resolve (and make) the pids of many paths in a few statements instead of two each."""
        staged = getattr(self._local, "new_pids", None) or {}
        missing = [p for p in paths if p not in self._pids and p not in staged]
        if not missing:
            return
        in_sql, in_params = self._in("path", missing)
        found = dict(conn.execute(f"SELECT path, pid FROM paths WHERE {in_sql}", in_params).fetchall())
        self._pids.update(found)
        new = [p for p in missing if p not in found]
        if new:
            self._create_paths(conn, new)

    def _create_paths(self, conn: Conn, paths: list[str]) -> None:
        """Insert paths; made inside a transaction, their ids are cached only once it commits."""
        conn.executemany("INSERT INTO paths(path) VALUES (?) ON CONFLICT DO NOTHING", [(p,) for p in paths])
        in_sql, in_params = self._in("path", paths)
        staged = getattr(self._local, "new_pids", None)
        cache = self._pids if staged is None else staged
        for path, pid in conn.execute(f"SELECT path, pid FROM paths WHERE {in_sql}", in_params).fetchall():
            cache[path] = int(pid)

    _UPSERT_ATOM = ("INSERT INTO fields(cid, pid, type, num, txt) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(cid, pid) DO UPDATE SET num=excluded.num, txt=excluded.txt")

    @staticmethod
    def _atom_row(cid: int, pid: int, ftype: str, value: Any) -> tuple[Any, ...]:
        num: float | None = None
        txt: str | None = None
        if ftype in _NUMERIC:
            num = value
        elif ftype == F.BOOLEAN:
            num = 1.0 if value else 0.0
        elif ftype == F.STRING:
            txt = value
        else:
            txt = json.dumps(value, separators=(",", ":"))
        return (cid, pid, ftype, num, txt)

    def _put_atom(self, conn: Conn, cid: int, pid: int, ftype: str, value: Any) -> None:
        conn.execute(self._UPSERT_ATOM, self._atom_row(cid, pid, ftype, value))

    def _json_value(self, conn: Conn, cid: int, pid: int) -> Any:
        row = conn.execute("SELECT txt FROM fields WHERE cid=? AND pid=?", (cid, pid)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def _field_type(self, conn: Conn, cid: int, pid: int) -> str | None:
        row = conn.execute("SELECT type FROM fields WHERE cid=? AND pid=?", (cid, pid)).fetchone()
        return row[0] if row else None

    def _delivered(self, result: Any) -> Any:
        if self.deliver_inline and result:
            from naiad.store.webhook_delivery import deliver_quietly

            deliver_quietly(self)
        return result
