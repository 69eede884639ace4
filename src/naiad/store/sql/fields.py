"""A container's fields: the batch's field map (type and namespace checks), atoms written in bulk,
deleting and clearing, and reading fields back."""

from __future__ import annotations

import json
from typing import Any

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.errors import (
    FieldTypeError,
    NamespaceConflictError,
)
from naiad.store.base import (
    FieldValue,
)
from naiad.store.sql.base import Conn
from naiad.store.sql.catalog import Catalog, effective_state

_FIELD_OPS = frozenset({O.ASSIGN, O.POINTS, O.ADD, O.REMOVE, O.FILES, O.DELETE_FILES, O.TRACK, O.CLEAR})


class _FieldMap:
    """Path → (pid, type) of one container's fields, as far as known; ``complete`` once every field
    was read (needed before a new field is made: namespace checks look at all of them)."""

    def __init__(self, cid: int) -> None:
        self.cid = cid
        self.types: dict[str, tuple[int, str]] = {}
        self.spaces: set[str] = set()
        self.complete = False

    def load(self, rows: list[Any]) -> None:
        self.types = {path: (int(pid), ftype) for path, pid, ftype in rows}
        self.spaces = {path[:i] for path in self.types for i, c in enumerate(path) if c == "/"}
        self.complete = True

    def add(self, path: str, pid: int, ftype: str) -> None:
        self.types[path] = (pid, ftype)
        self.spaces.update(path[:i] for i, c in enumerate(path) if c == "/")

    def forget(self) -> None:
        self.types, self.spaces, self.complete = {}, set(), False


def _field_value(ftype: str, num: Any, txt: Any, count: Any, last_num: Any, last_txt: Any) -> FieldValue:
    if ftype == F.FLOAT:
        return FieldValue(ftype, num)
    if ftype == F.INTEGER:
        return FieldValue(ftype, None if num is None else int(num))
    if ftype == F.BOOLEAN:
        return FieldValue(ftype, bool(num))
    if ftype == F.DATETIME:
        return FieldValue(ftype, num)
    if ftype == F.STRING:
        return FieldValue(ftype, txt)
    if ftype == F.FLOAT_SERIES:
        return FieldValue(ftype, last_num, count or 0)
    if ftype in (F.STRING_SERIES, F.FILE_SERIES):
        return FieldValue(ftype, last_txt, count or 0)
    if ftype == F.STRING_SET:
        return FieldValue(ftype, set())
    return FieldValue(ftype, json.loads(txt) if txt else None)


class Fields(Catalog):
    """Fields of a container: checks on write, reads."""

    def _field_map(self, conn: Conn, cid: int, batch: Batch) -> _FieldMap:
        """The container's fields this batch touches, read in one query (the transaction holds the
        container's lock, so the map stays true until it ends)."""
        fmap = _FieldMap(cid)
        paths = {op[1] for op in batch.ops if op[0] in _FIELD_OPS and op[1]}
        if paths:
            self._prefetch_pids(conn, paths)
            in_sql, in_params = self._in("p.path", sorted(paths))
            for path, pid, ftype in conn.execute(
                    "SELECT p.path, f.pid, f.type FROM fields f JOIN paths p ON p.pid = f.pid "
                    f"WHERE f.cid = ? AND {in_sql}", [cid, *in_params]).fetchall():
                fmap.types[path] = (int(pid), ftype)
        return fmap

    def _ensure_field(self, conn: Conn, cid: int, path: str, ftype: str, insert: bool = True) -> tuple[int, bool]:
        """pid of ``path``, checking type and namespace conflicts against the batch's field map; True if
        the field is new (its row is inserted unless ``insert`` is false: the caller's upsert makes it)."""
        fmap: _FieldMap = self._local.fmap
        assert fmap is not None and fmap.cid == cid, "fields are made only inside apply()"
        hit = fmap.types.get(path)
        if hit is None and not fmap.complete:
            self._flush_atoms(conn)
            fmap.load(conn.execute("SELECT p.path, f.pid, f.type FROM fields f JOIN paths p ON p.pid = f.pid "
                                   "WHERE f.cid = ?", (fmap.cid,)).fetchall())
            hit = fmap.types.get(path)
        if hit is not None:
            if hit[1] != ftype:
                raise FieldTypeError(
                    f"field '{path}' is {hit[1]}; a {ftype} write was refused. Delete the field "
                    "first to change its type.")
            return hit[0], False
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in fmap.types:
                raise NamespaceConflictError(f"cannot create '{path}': '{prefix}' is a field, not a namespace.")
        if path in fmap.spaces:
            raise NamespaceConflictError(f"cannot create field '{path}': it is a namespace with fields.")
        pid = self._pid(conn, path)
        if insert:
            conn.execute("INSERT INTO fields(cid, pid, type) VALUES (?, ?, ?)", (fmap.cid, pid, ftype))
        fmap.add(path, pid, ftype)
        return pid, True

    def _flush_atoms(self, conn: Conn) -> None:
        """Write the atoms a batch assigned so far, in one statement (ops that read fields come after)."""
        pending = getattr(self._local, "atoms", None)
        if pending:
            conn.executemany(self._UPSERT_ATOM, pending)
            self._local.atoms = []

    def _record_errors(self, conn: Conn, cid: int, errors: list[str]) -> None:
        pid = self._pid(conn, "sys/errors")
        row = conn.execute("SELECT num FROM fields WHERE cid=? AND pid=?", (cid, pid)).fetchone()
        count = int(row[0] or 0) if row else 0
        self._put_atom(conn, cid, pid, F.INTEGER, count + len(errors))
        self._put_atom(conn, cid, self._pid(conn, "sys/last_error"), F.STRING, errors[-1][:4000])

    def _field_pids(self, conn: Conn, cid: int, path: str) -> list[int]:
        if not path:
            return [r[0] for r in conn.execute("SELECT pid FROM fields WHERE cid=?", (cid,))]
        return [r[0] for r in conn.execute(
            "SELECT f.pid FROM fields f JOIN paths p ON p.pid = f.pid WHERE f.cid=? AND "
            "(p.path = ? OR (p.path >= ? AND p.path < ?))", (cid, path, path + "/", path + "0"))]

    def _delete(self, conn: Conn, cid: int, path: str) -> None:
        fmap: _FieldMap | None = getattr(self._local, "fmap", None)
        if fmap is not None and fmap.cid == cid:
            fmap.forget()
        for pid in self._field_pids(conn, cid, path):
            self._clear_pid(conn, cid, pid)
            conn.execute("DELETE FROM series WHERE cid=? AND pid=?", (cid, pid))
            conn.execute("DELETE FROM fields WHERE cid=? AND pid=?", (cid, pid))
            conn.execute("DELETE FROM dataset_uses WHERE cid=? AND pid=?", (cid, pid))

    def _clear(self, conn: Conn, cid: int, path: str) -> None:
        pid = self._pid(conn, path)
        if self._field_type(conn, cid, pid) is None:
            return
        self._clear_pid(conn, cid, pid)
        conn.execute("UPDATE series SET count=0, first_step=NULL, last_step=NULL, last_ts=NULL, "
                     "last_num=NULL, last_txt=NULL, vmin=NULL, vmax=NULL, vsum=0, vsumsq=0 "
                     "WHERE cid=? AND pid=?", (cid, pid))

    def _clear_pid(self, conn: Conn, cid: int, pid: int) -> None:
        conn.execute("DELETE FROM set_members WHERE cid=? AND pid=?", (cid, pid))
        row = conn.execute("SELECT sid FROM series WHERE cid=? AND pid=?", (cid, pid)).fetchone()
        if row:
            conn.execute("DELETE FROM chunks WHERE sid=?", (row[0],))

    def structure(self, uuid: str) -> dict[str, str]:
        conn = self.conn()
        cid = self._cid(conn, uuid)
        return dict(conn.execute(
            "SELECT p.path, f.type FROM fields f JOIN paths p ON p.pid = f.pid WHERE f.cid=?", (cid,)))

    def read_fields(self, uuid: str, paths: list[str] | None = None) -> dict[str, FieldValue]:
        conn = self.conn()
        cid = self._cid(conn, uuid)
        sql = ("SELECT p.path, f.type, f.num, f.txt, s.count, s.last_num, s.last_txt, f.pid "
               "FROM fields f JOIN paths p ON p.pid = f.pid "
               "LEFT JOIN series s ON s.cid = f.cid AND s.pid = f.pid WHERE f.cid=?")
        params: list[Any] = [cid]
        if paths is not None:
            in_sql, in_params = self._in("p.path", paths)
            sql += " AND " + in_sql
            params += in_params
        out: dict[str, FieldValue] = {}
        sets: dict[int, str] = {}
        for path, ftype, num, txt, count, last_num, last_txt, pid in conn.execute(sql, params):
            out[path] = _field_value(ftype, num, txt, count, last_num, last_txt)
            if ftype == F.STRING_SET:
                sets[pid] = path
        for pid, path in sets.items():
            out[path].value = {r[0] for r in conn.execute(
                "SELECT value FROM set_members WHERE cid=? AND pid=?", (cid, pid))}
        if "sys/state" in out:
            ping = self._ping(conn, cid)
            out["sys/state"].value = effective_state(out["sys/state"].value, ping)
        return out

    def _ping(self, conn: Conn, cid: int) -> float | None:
        row = conn.execute("SELECT f.num FROM fields f JOIN paths p ON p.pid=f.pid "
                           "WHERE f.cid=? AND p.path='sys/ping_time'", (cid,)).fetchone()
        return row[0] if row else None
