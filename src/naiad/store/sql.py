"""What every SQL store shares: the catalog's semantics, ``apply``, reads and the runs table.

Subclasses (:class:`~naiad.store.sqlite.SqliteStore`, :class:`~naiad.store.postgres.PostgresStore`)
supply connections, transactions, schema set-up and the few SQL pieces that differ (a list as a
parameter, locks).  SQL here uses ``?`` placeholders and syntax both engines take (``ON CONFLICT``,
``RETURNING``, ``NULLS LAST``); the PostgreSQL connection adapter rewrites the placeholders.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import numpy as np

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core import query as Q
from naiad.core.ops import Batch
from naiad.errors import (
    ConfigError,
    ContainerNotFound,
    FieldError,
    FieldTypeError,
    ModelKeyTakenError,
    ModelNotFound,
    NamespaceConflictError,
    ProjectNotFound,
    ProtectedPathError,
    StepOrderError,
    StoreError,
)
from naiad.store import hooks, lineage
from naiad.store.base import (
    MODEL,
    MODEL_VERSION,
    RUN,
    ApplyResult,
    BlobStore,
    Buckets,
    ContainerInfo,
    DatasetUse,
    FieldValue,
    ProjectInfo,
    RegistryEvent,
    SeriesData,
    TableResult,
)
from naiad.store.chunks import CHUNK_POINTS, block_summaries, decode_chunk, encode_chunk
from naiad.store.wire import num_out

_NUMERIC = (F.FLOAT, F.INTEGER, F.DATETIME)


def project_key_candidates(name: str) -> list[str]:
    """Keys to try for a new project: ``defects`` → DEF, DEFE, DEFEC, …, DEF2, DEF3, …"""
    last = name.rsplit("/", 1)[-1]
    letters = re.sub(r"[^A-Za-z0-9]", "", last).upper() or "PRJ"
    if letters[0].isdigit():
        letters = "P" + letters
    base = letters[:3]
    out = [letters[:n] for n in range(3, min(len(letters), 10) + 1)] or [base]
    out += [f"{base}{i}" for i in range(2, 1000)]
    return out


def artifact_hash(entries: list[dict[str, Any]]) -> str:
    """Dataset version hash over a manifest: path, content hash, size and type of every entry."""
    digest = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e["file_path"]):
        for part in (e["file_path"], e["file_hash"], str(e["size"]), e["type"]):
            raw = part.encode()
            digest.update(len(raw).to_bytes(8, "big"))
            digest.update(raw)
    return digest.hexdigest()


def effective_state(state: str | None, ping: float | None, now: float | None = None) -> str | None:
    """A ``running`` run whose heartbeat stopped longer than ``NAIAD_CRASH_AFTER`` ago is crashed."""
    if state == "running" and ping is not None:
        now = time.time() if now is None else now
        if ping < now - SETTINGS.crash_after.get():
            return "crashed"
    return state


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """The part of a DB-API connection the SQL store uses (sqlite3's, or the PostgreSQL adapter)."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Any, /) -> Any: ...


class SqlStore:
    """The catalog logic over any SQL engine; see the module docstring for what subclasses add."""

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

    # ------------------------------------------------------------------ what subclasses provide
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

    # ------------------------------------------------------------------ projects
    def _project_row(self, conn: Conn, name: str) -> ProjectInfo | None:
        row = conn.execute("SELECT id, name, key, created FROM projects WHERE name=?", (name,)).fetchone()
        if row is None and "/" not in name:
            rows = conn.execute(  # "vision" finds "team/vision" (exact, case-sensitive suffix)
                "SELECT id, name, key, created FROM projects WHERE length(name) > length(?) "
                "AND substr(name, length(name) - length(?)) = '/' || ?", (name, name, name)).fetchall()
            if len(rows) == 1:
                row = rows[0]
        return ProjectInfo(*row) if row else None

    def get_project(self, name: str) -> ProjectInfo:
        found = self._project_row(self.conn(), name)
        if found is None:
            names = [p.name for p in self.list_projects()]
            hint = f" Projects in this store: {', '.join(names)}." if names else " The store has no projects yet."
            raise ProjectNotFound(
                f"project {name!r} does not exist in {self.location}.{hint} "
                "Create it by starting a run in it (naiad.init_run(project=...)).")
        return found

    def list_projects(self) -> list[ProjectInfo]:
        rows = self.conn().execute("SELECT id, name, key, created FROM projects ORDER BY name").fetchall()
        return [ProjectInfo(*r) for r in rows]

    def count_containers(self, project: str, kind: str) -> int:
        proj = self.get_project(project)
        row = self.conn().execute("SELECT count(*) FROM containers WHERE project_id=? AND kind=?",
                                  (proj.id, kind)).fetchone()
        return int(row[0])

    def get_or_create_project(self, name: str) -> ProjectInfo:
        conn = self.conn()
        found = self._project_row(conn, name)
        if found is not None:
            return found
        with self._tx() as conn:
            return self._project_in_tx(conn, name)

    # ------------------------------------------------------------------ containers
    def _container_from_row(self, row: tuple[Any, ...], is_new: bool = False) -> ContainerInfo:
        uuid, short_id, kind, project, custom, created = row
        return ContainerInfo(uuid, short_id, kind, project, custom, created, is_new)

    _CONTAINER_SQL = ("SELECT c.uuid, c.short_id, c.kind, p.name, c.custom_run_id, c.created "
                      "FROM containers c JOIN projects p ON p.id = c.project_id ")

    def get_container(self, *, short_id: str | None = None, uuid: str | None = None,
                      project: str | None = None) -> ContainerInfo:
        conn = self.conn()
        if uuid is not None:
            row = conn.execute(self._CONTAINER_SQL + "WHERE c.uuid=? OR c.cid = "
                               "(SELECT cid FROM container_aliases WHERE uuid=?)", (uuid, uuid)).fetchone()
        else:
            row = conn.execute(self._CONTAINER_SQL + "WHERE c.short_id=?", (short_id,)).fetchone()
        if row is None:
            what = uuid or short_id
            raise ContainerNotFound(
                f"no run, model or version {what!r} in {self.location}. List runs with `naiad runs ls`"
                + (f" --project {project}" if project else "") + ".")
        info = self._container_from_row(row)
        if project is not None and info.project != project and info.project.rsplit("/", 1)[-1] != project:
            raise ContainerNotFound(f"{info.short_id} belongs to project {info.project!r}, not {project!r}.")
        return info

    def create_container(
        self, project: str, kind: str, uuid: str, *, custom_run_id: str | None = None,
        created: float | None = None, owner: str = "", key: str | None = None, parent: str | None = None,
    ) -> ContainerInfo:
        proj = self.get_or_create_project(project)
        with self._tx() as conn:
            info = self._create_in_tx(conn, proj, kind, uuid, custom_run_id, created, owner, key, parent)
        if kind == MODEL_VERSION and info.is_new:
            self._delivered(True)  # version_created
        return info

    def _model_short_id(self, conn: Conn, proj: ProjectInfo, key: str | None) -> str:
        if not key or not re.fullmatch(r"[A-Z0-9]{1,10}", key):
            raise ConfigError(f"a model needs a key of 1 to 10 uppercase letters or digits (got {key!r}), "
                              "e.g. init_model(key=\"CLS\").")
        short_id = f"{proj.key}-{key}"
        if conn.execute("SELECT 1 FROM containers WHERE short_id=?", (short_id,)).fetchone():
            raise ModelKeyTakenError(f"project {proj.name!r} already has a model with key {key} ({short_id}); open it "
                              f"with init_model(with_id=\"{short_id}\") or choose another key.")
        return short_id

    def _version_short_id(self, conn: Conn, proj: ProjectInfo, parent: str | None) -> tuple[str, str]:
        row = None if not parent else conn.execute(
            "SELECT short_id FROM containers WHERE kind=? AND project_id=? AND (short_id=? OR uuid=?)",
            (MODEL, proj.id, parent, parent)).fetchone()
        if row is None:
            raise ModelNotFound(f"no model {parent!r} in project {proj.name!r} to add a version to; "
                                    "make it with init_model(key=...) first.")
        model_id = str(row[0])
        conn.execute("INSERT INTO counters(scope, next) VALUES (?, 1) ON CONFLICT DO NOTHING", (model_id,))
        (num,) = conn.execute("UPDATE counters SET next = next + 1 WHERE scope=? RETURNING next - 1",
                              (model_id,)).fetchone()
        return f"{model_id}-{num}", model_id

    def _create_in_tx(self, conn: Conn, proj: ProjectInfo, kind: str, uuid: str,
                      custom_run_id: str | None, created: float | None, owner: str,
                      key: str | None = None, parent: str | None = None) -> ContainerInfo:
        self._lock(conn, self.LOCK_CREATE, proj.id)
        if custom_run_id:
            row = conn.execute(
                self._CONTAINER_SQL + "WHERE c.project_id=? AND c.kind=? AND c.custom_run_id=?",
                (proj.id, kind, custom_run_id)).fetchone()
            if row:
                if row[0] != uuid:  # an offline run joining a known run: its batches name this uuid
                    conn.execute("INSERT INTO container_aliases(uuid, cid) SELECT ?, cid "
                                 "FROM containers WHERE uuid=? ON CONFLICT DO NOTHING", (uuid, row[0]))
                return self._container_from_row(row)
        row = conn.execute(self._CONTAINER_SQL + "WHERE c.uuid=?", (uuid,)).fetchone()
        if row:
            return self._container_from_row(row)
        model_id = None
        if kind == "project":
            short_id = proj.key
        elif kind == MODEL:
            short_id = self._model_short_id(conn, proj, key)
        elif kind == MODEL_VERSION:
            short_id, model_id = self._version_short_id(conn, proj, parent)
        else:
            (num,) = conn.execute("UPDATE projects SET next_num = next_num + 1 WHERE id=? "
                                  "RETURNING next_num - 1", (proj.id,)).fetchone()
            short_id = f"{proj.key}-{num}"
        now = time.time()
        created = now if created is None else created
        (cid,) = conn.execute(
            "INSERT INTO containers(uuid, project_id, kind, short_id, custom_run_id, created) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING cid",
            (uuid, proj.id, kind, short_id, custom_run_id or None, created)).fetchone()
        self._local.new_cids[uuid] = cid
        sys_fields: list[tuple[str, str, Any]] = [
            ("sys/id", F.STRING, short_id),
            ("sys/creation_time", F.DATETIME, created),
            ("sys/modification_time", F.DATETIME, now),
            ("sys/ping_time", F.DATETIME, now),
            ("sys/owner", F.STRING, owner),
            ("sys/failed", F.BOOLEAN, False),
            ("sys/trashed", F.BOOLEAN, False),
        ]
        if kind == RUN:
            sys_fields.append(("sys/state", F.STRING, "running"))
        if custom_run_id:
            sys_fields.append(("sys/custom_run_id", F.STRING, custom_run_id))
        if model_id is not None:
            sys_fields += [("sys/model_id", F.STRING, model_id), ("sys/stage", F.STRING, "none")]
        for path, ftype, value in sys_fields:
            self._put_atom(conn, cid, self._pid(conn, path), ftype, value)
        if kind == MODEL_VERSION:  # aliases (champion, shadow…) are moved by set_alias only
            conn.execute("INSERT INTO fields(cid, pid, type) VALUES (?, ?, ?)",
                         (cid, self._pid(conn, "sys/aliases"), F.STRING_SET))
            hooks.enqueue(conn, proj.name, "version_created", {"model": model_id, "version": short_id,
                                                               "actor": owner}, now)
        return ContainerInfo(uuid, short_id, kind, proj.name, custom_run_id or None, created, True)

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

    # ------------------------------------------------------------------ writes
    def writer_seq(self, writer: str) -> int:
        row = self.conn().execute("SELECT seq FROM writers WHERE writer=?", (writer,)).fetchone()
        return int(row[0]) if row else 0

    def apply(self, batch: Batch) -> ApplyResult:
        """Apply a batch atomically, at most once per ``(writer, seq)``; return the writer's high mark.

        An op the store must refuse (a type clash with a write from another process, a step that does
        not increase) is skipped, counted in ``sys/errors`` and described in ``sys/last_error``; the
        rest of the batch is applied.
        """
        with self._tx() as conn:
            conn.execute("INSERT INTO writers(writer, seq) VALUES (?, 0) ON CONFLICT DO NOTHING", (batch.writer,))
            row = conn.execute("SELECT seq FROM writers WHERE writer=?" + self.FOR_UPDATE,
                               (batch.writer,)).fetchone()
            done = int(row[0]) if row else 0
            if batch.seq <= done:
                return ApplyResult(done, [])
            errors: list[str] = []
            client_errors: list[str] = []
            cid = self._apply_ops(conn, batch, errors, client_errors)
            conn.execute("UPDATE writers SET seq=? WHERE writer=?", (batch.seq, batch.writer))
            if cid is not None:
                now = time.time()
                self._put_atom(conn, cid, self._pid(conn, "sys/modification_time"), F.DATETIME, now)
                if errors or client_errors:
                    self._record_errors(conn, cid, client_errors + errors)
        return ApplyResult(batch.seq, errors)

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

    def _apply_ops(self, conn: Conn, batch: Batch, errors: list[str],
                   client_errors: list[str]) -> int | None:
        cid: int | None = None
        self._local.fmap = None
        self._local.atoms = []
        for op in batch.ops:
            kind = op[0]
            if kind == O.CREATE:
                spec = op[2]
                proj = self._project_in_tx(conn, spec["project"])
                info = self._create_in_tx(conn, proj, spec["kind"], batch.container,
                                          spec.get("custom_run_id"), spec.get("created"),
                                          spec.get("owner", ""), spec.get("key"), spec.get("parent"))
                cid = self._cid(conn, info.uuid)
                self._lock(conn, self.LOCK_CONTAINER, cid)
                continue
            if cid is None:
                cid = self._cid(conn, batch.container)
                self._lock(conn, self.LOCK_CONTAINER, cid)
            if self._local.fmap is None or self._local.fmap.cid != cid:
                self._local.fmap = self._field_map(conn, cid, batch)
            if kind == O.ERROR:  # a failure the writer met (a file gone before upload): count it
                client_errors.append(str(op[2]))
                continue
            if kind != O.ASSIGN:
                self._flush_atoms(conn)
            try:
                self._apply_op(conn, cid, op)
            except FieldError as exc:
                errors.append(str(exc))
        self._flush_atoms(conn)
        return cid

    def _project_in_tx(self, conn: Conn, name: str) -> ProjectInfo:
        found = self._project_row(conn, name)
        if found is not None:
            return found
        self._lock(conn, self.LOCK_PROJECTS, 0)
        found = self._project_row(conn, name)  # made by another process while we waited
        if found is not None:
            return found
        taken = {r[0] for r in conn.execute("SELECT key FROM projects")}
        key = next(k for k in project_key_candidates(name) if k not in taken)
        now = time.time()
        (pid,) = conn.execute("INSERT INTO projects(name, key, created) VALUES (?, ?, ?) RETURNING id",
                              (name, key, now)).fetchone()
        return ProjectInfo(int(pid), name, key, now)

    def _record_errors(self, conn: Conn, cid: int, errors: list[str]) -> None:
        pid = self._pid(conn, "sys/errors")
        row = conn.execute("SELECT num FROM fields WHERE cid=? AND pid=?", (cid, pid)).fetchone()
        count = int(row[0] or 0) if row else 0
        self._put_atom(conn, cid, pid, F.INTEGER, count + len(errors))
        self._put_atom(conn, cid, self._pid(conn, "sys/last_error"), F.STRING, errors[-1][:4000])

    def _field_type(self, conn: Conn, cid: int, pid: int) -> str | None:
        row = conn.execute("SELECT type FROM fields WHERE cid=? AND pid=?", (cid, pid)).fetchone()
        return row[0] if row else None

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

    def _flush_atoms(self, conn: Conn) -> None:
        """Write the atoms a batch assigned so far, in one statement (ops that read fields come after)."""
        pending = getattr(self._local, "atoms", None)
        if pending:
            conn.executemany(self._UPSERT_ATOM, pending)
            self._local.atoms = []

    def _apply_op(self, conn: Conn, cid: int, op: O.Op) -> None:
        kind, path = op[0], op[1]
        if path in F.REGISTRY_PATHS or (kind == O.DELETE and (not path or path == "sys" or path == "sys/policy")):
            raise ProtectedPathError(f"'{path or '(everything)'}' is moved by the registry only (change_stage, "
                                     "set_alias, the promotion policy), with its history; the write was refused.")
        if kind == O.ASSIGN:
            ftype, value = op[2], op[3]
            pid, _ = self._ensure_field(conn, cid, path, ftype, insert=False)
            self._local.atoms.append(self._atom_row(cid, pid, ftype, value))  # written by _flush_atoms
            if ftype == F.ARTIFACT:
                lineage.note_dataset(conn, cid, pid, value)
        elif kind == O.POINTS:
            self._append_points(conn, cid, path, op[2], op[3], op[4], op[5])
        elif kind in (O.ADD, O.REMOVE):
            pid, _ = self._ensure_field(conn, cid, path, F.STRING_SET)
            if kind == O.ADD:
                conn.executemany("INSERT INTO set_members(cid, pid, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                 [(cid, pid, v) for v in op[2]])
            else:
                conn.executemany("DELETE FROM set_members WHERE cid=? AND pid=? AND value=?",
                                 [(cid, pid, v) for v in op[2]])
        elif kind == O.CLEAR:
            self._clear(conn, cid, path)
        elif kind == O.DELETE:
            self._delete(conn, cid, path)
        elif kind == O.FILES:
            pid, is_new = self._ensure_field(conn, cid, path, F.FILE_SET)
            files = {} if (is_new or op[3]) else self._json_value(conn, cid, pid)
            files.update(op[2])
            self._put_atom(conn, cid, pid, F.FILE_SET, files)
        elif kind == O.DELETE_FILES:
            pid, is_new = self._ensure_field(conn, cid, path, F.FILE_SET)
            files = {} if is_new else self._json_value(conn, cid, pid)
            for name in op[2]:
                name = name.strip("/")
                for key in [k for k in files if k == name or k.startswith(name + "/") or not name]:
                    del files[key]
            self._put_atom(conn, cid, pid, F.FILE_SET, files)
        elif kind == O.TRACK:
            pid, is_new = self._ensure_field(conn, cid, path, F.ARTIFACT)
            old = {} if (is_new or op[3]) else self._json_value(conn, cid, pid)
            entries = {e["file_path"]: e for e in old.get("files", [])}
            entries.update({e["file_path"]: e for e in op[2]})
            listed = sorted(entries.values(), key=lambda e: e["file_path"])
            value = {"hash": artifact_hash(listed), "files": listed}
            self._put_atom(conn, cid, pid, F.ARTIFACT, value)
            lineage.note_dataset(conn, cid, pid, value)
        else:
            raise StoreError(f"unknown operation {kind!r}")

    # ------------------------------------------------------------------ registry and datasets
    def _delivered(self, result: Any) -> Any:
        if self.deliver_inline and result:
            from naiad.store.webhook_delivery import deliver_quietly

            deliver_quietly(self)
        return result

    def change_stage(self, version: str, stage: str, *, actor: str = "", reason: str = "") -> list[RegistryEvent]:
        return self._delivered(lineage.change_stage(self, version, stage, actor, reason))

    def set_alias(self, model: str, alias: str, version: str | None, *, actor: str = "",
                  reason: str = "") -> list[RegistryEvent]:
        return self._delivered(lineage.set_alias(self, model, alias, version, actor, reason))

    def registry_events(self, project: str, model: str | None = None) -> list[RegistryEvent]:
        return lineage.registry_events(self, project, model)

    def set_policy(self, model: str, *, require_gate: bool, actor: str = "", reason: str = "") -> list[RegistryEvent]:
        return self._delivered(lineage.set_policy(self, model, require_gate, actor, reason))

    def dataset_uses(self, project: str, digest: str | None = None) -> list[DatasetUse]:
        return lineage.dataset_uses(self, project, digest)

    # ------------------------------------------------------------------ webhooks
    def add_webhook(self, project: str, url: str, secret: str, events: list[str] | str = "*", *,
                    actor: str = "") -> dict[str, Any]:
        return hooks.add_webhook(self, project, url, secret, events, actor)

    def list_webhooks(self, project: str | None = None) -> list[dict[str, Any]]:
        return hooks.list_webhooks(self, project)

    def remove_webhook(self, hook_id: int) -> None:
        hooks.remove_webhook(self, hook_id)

    def emit_event(self, project: str, event: str, payload: dict[str, Any]) -> int:
        return int(self._delivered(hooks.emit(self, project, event, payload)))

    def claim_deliveries(self, limit: int = 50) -> list[dict[str, Any]]:
        return hooks.claim(self, limit)

    def finish_delivery(self, delivery: int, ok: bool, status: int | None, error: str | None) -> str:
        return hooks.finish(self, delivery, ok, status, error)

    def list_deliveries(self, project: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return hooks.deliveries(self, project, limit)

    def dataset_manifest(self, project: str, digest: str) -> list[dict[str, Any]]:
        return lineage.dataset_manifest(self, project, digest)

    def _json_value(self, conn: Conn, cid: int, pid: int) -> Any:
        row = conn.execute("SELECT txt FROM fields WHERE cid=? AND pid=?", (cid, pid)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

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

    def _append_points(self, conn: Conn, cid: int, path: str, ftype: str,
                       steps: np.ndarray, ts: np.ndarray, values: np.ndarray | list[str]) -> None:
        pid, is_new = self._ensure_field(conn, cid, path, ftype)
        row = None if is_new else conn.execute(
            "SELECT sid, count, last_step, vmin, vmax FROM series WHERE cid=? AND pid=?" + self.FOR_UPDATE,
            (cid, pid)).fetchone()
        if row is None:  # a new series: its row is made below, with its summary, in one statement
            sid, count, last_step, vmin, vmax = None, 0, None, None, None
        else:
            sid, count, last_step, vmin, vmax = row
        steps = np.asarray(steps, dtype=np.float64)
        ts = np.asarray(ts, dtype=np.float64)
        n_in = len(steps)
        raise_after = None
        ordered = n_in < 2 or bool(np.all(steps[1:] > steps[:-1]))
        if n_in and (not ordered or (last_step is not None and steps[0] <= last_step)):
            # keep each point whose step is above every step before it (stored or in this op)
            before = np.maximum.accumulate(np.concatenate([[-np.inf if last_step is None else last_step],
                                                           steps[:-1]]))
            keep = steps > before
            steps, ts = steps[keep], ts[keep]
            values = (np.asarray(values)[keep] if not isinstance(values, list)
                      else [v for v, k in zip(values, keep, strict=False) if k])
            last = "-inf" if last_step is None else f"{last_step:g}"
            raise_after = StepOrderError(
                f"series '{path}': {n_in - len(steps)} point(s) with a step not above the step before them "
                f"(last stored: {last}) were dropped (another process wrote this series?).")
        if sid is None and not len(steps):
            conn.execute("INSERT INTO series(cid, pid, type) VALUES (?, ?, ?)", (cid, pid, ftype))
        if len(steps):
            is_float = not isinstance(values, list)
            upd: dict[str, Any] = {
                "count": count + len(steps), "last_step": float(steps[-1]), "last_ts": float(ts[-1]),
            }
            if is_float:
                arr = np.asarray(values, dtype=np.float64)
                upd["last_num"] = float(arr[-1])
                # NaN is a point (an imported or raw-batch value) but has no place in min/max, and
                # NaN/±inf would turn the running sums into NaN (NULL in SQLite): they skip both.  The
                # usual batch is all finite and is used as it is (no copies).
                finite_mask = np.isfinite(arr)
                comparable = finite = arr
                if not finite_mask.all():
                    comparable, finite = arr[~np.isnan(arr)], arr[finite_mask]
                if len(comparable):
                    lo, hi = float(comparable.min()), float(comparable.max())
                    upd.update(vmin=lo if vmin is None else min(vmin, lo), vmax=hi if vmax is None else max(vmax, hi))
                with np.errstate(over="ignore", invalid="ignore"):  # 1e200² is inf, not an error
                    sums = (float(finite.sum()), float(np.dot(finite, finite)))
            else:
                upd.update(last_txt=values[-1])
                sums = (0.0, 0.0)
            if sid is None:
                cols = ["cid", "pid", "type", *upd, "first_step", "vsum", "vsumsq"]
                (sid,) = conn.execute(
                    f"INSERT INTO series({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) RETURNING sid",
                    (cid, pid, ftype, *upd.values(), float(steps[0]), sums[0], sums[1])).fetchone()
            else:
                sets = ", ".join(f"{k}=?" for k in upd)
                conn.execute(
                    f"UPDATE series SET {sets}, first_step=COALESCE(first_step, ?), vsum=vsum+?, "
                    "vsumsq=vsumsq+? WHERE sid=?",
                    (*upd.values(), float(steps[0]), sums[0], sums[1], sid))
            self._write_chunks(conn, sid, steps, ts, values, empty=count == 0)
        if raise_after is not None:
            raise raise_after

    def _write_chunks(self, conn: Conn, sid: int, steps: np.ndarray, ts: np.ndarray,
                      values: np.ndarray | list[str], empty: bool = False) -> None:
        """Append points as chunks; ``empty``: the series is known to have none yet (no lookup)."""
        last = None if empty else conn.execute(
            "SELECT seq, n, data FROM chunks WHERE sid=? ORDER BY seq DESC LIMIT 1", (sid,)).fetchone()
        seq = 0
        if last is not None:
            seq, n_last, blob = last
            if n_last < CHUNK_POINTS:
                # top up the open chunk so slow series do not leave one tiny chunk per flush
                take = CHUNK_POINTS - n_last
                s0, t0, v0 = decode_chunk(blob)
                head_v: np.ndarray | list[str]
                if isinstance(values, list):
                    head_v = list(v0) + values[:take]
                else:
                    head_v = np.concatenate([np.asarray(v0), values[:take]])
                self._put_chunk(conn, sid, seq, np.concatenate([s0, steps[:take]]),
                                np.concatenate([t0, ts[:take]]), head_v, replace=True)
                steps, ts, values = steps[take:], ts[take:], values[take:]
            seq += 1
        for start in range(0, len(steps), CHUNK_POINTS):
            end = start + CHUNK_POINTS
            self._put_chunk(conn, sid, seq, steps[start:end], ts[start:end], values[start:end])
            seq += 1

    def _put_chunk(self, conn: Conn, sid: int, seq: int, steps: np.ndarray, ts: np.ndarray,
                   values: np.ndarray | list[str], replace: bool = False) -> None:
        blocks: bytes | None = None
        if isinstance(values, list):
            stats: tuple[float | None, ...] = (None, None, None, None)
        else:
            stats = (float(values.min()), float(values.max()), float(values[0]), float(values[-1]))
            blocks = block_summaries(steps, values).tobytes()
        upsert = (" ON CONFLICT (sid, seq) DO UPDATE SET n=excluded.n, step_lo=excluded.step_lo, "
                  "step_hi=excluded.step_hi, ts_lo=excluded.ts_lo, ts_hi=excluded.ts_hi, vmin=excluded.vmin, "
                  "vmax=excluded.vmax, vfirst=excluded.vfirst, vlast=excluded.vlast, blocks=excluded.blocks, "
                  "data=excluded.data") if replace else ""
        conn.execute(
            "INSERT INTO chunks(sid, seq, n, step_lo, step_hi, ts_lo, ts_hi, vmin, vmax, vfirst, vlast, "
            "blocks, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" + upsert,
            (sid, seq, len(steps), float(steps[0]), float(steps[-1]), float(ts.min()), float(ts.max()),
             *stats, blocks, encode_chunk(steps, ts, values)))

    # ------------------------------------------------------------------ reads
    def structure(self, uuid: str) -> dict[str, str]:
        conn = self.conn()
        cid = self._cid(conn, uuid)
        return dict(conn.execute(
            "SELECT p.path, f.type FROM fields f JOIN paths p ON p.pid = f.pid WHERE f.cid=?", (cid,)))

    def series_last_steps(self, uuid: str) -> dict[str, float]:
        conn = self.conn()
        cid = self._cid(conn, uuid)
        return {path: (last if last is not None else -math.inf) for path, last in conn.execute(
            "SELECT p.path, s.last_step FROM series s JOIN paths p ON p.pid = s.pid WHERE s.cid=?", (cid,))}

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

    def _series_sid(self, conn: Conn, uuid: str, path: str) -> tuple[int, str]:
        cid = self._cid(conn, uuid)
        row = conn.execute("SELECT s.sid, s.type FROM series s JOIN paths p ON p.pid = s.pid "
                           "WHERE s.cid=? AND p.path=?", (cid, path)).fetchone()
        if row is None:
            from naiad.errors import MissingFieldError

            raise MissingFieldError(f"'{path}' is not a series of this container.")
        return int(row[0]), row[1]

    def read_series(self, uuid: str, path: str) -> SeriesData:
        conn = self.conn()
        sid, ftype = self._series_sid(conn, uuid, path)
        parts = [decode_chunk(r[0]) for r in conn.execute(
            "SELECT data FROM chunks WHERE sid=? ORDER BY seq", (sid,))]
        if not parts:
            empty = np.zeros(0)
            return SeriesData(empty, empty.copy(), [] if ftype != F.FLOAT_SERIES else empty.copy())
        steps = np.concatenate([p[0] for p in parts])
        ts = np.concatenate([p[1] for p in parts])
        values: np.ndarray | list[str]
        if ftype == F.FLOAT_SERIES:
            values = np.concatenate([np.asarray(p[2]) for p in parts])
        else:
            values = [v for p in parts for v in p[2]]
        return SeriesData(steps, ts, values)

    def series_buckets(self, uuid: str, path: str, n: int = 1000, *, step_min: float | None = None,
                       step_max: float | None = None) -> Buckets:
        """Downsample a float series to at most ``n`` buckets of min/max/first/last/count.

        Each chunk stores summaries of its 512-point blocks; when the range holds at least ``n``
        blocks, buckets are groups of whole blocks and only those summaries are read (no
        decompression except the two chunks the range cuts): the cost follows the number of buckets
        drawn, not the number of points.  Otherwise the few points in range are decoded and bucketed
        exactly.
        """
        conn = self.conn()
        sid, ftype = self._series_sid(conn, uuid, path)
        if ftype != F.FLOAT_SERIES:
            raise FieldTypeError(f"'{path}' is a {ftype}; only float series can be bucketed.")
        lo = -math.inf if step_min is None else step_min
        hi = math.inf if step_max is None else step_max
        rows = conn.execute(
            "SELECT seq, step_lo, step_hi, blocks FROM chunks "
            "WHERE sid=? AND step_hi >= ? AND step_lo <= ? ORDER BY seq", (sid, lo, hi)).fetchall()
        parts = []
        for seq, s_lo, s_hi, blocks in rows:
            if s_lo < lo or s_hi > hi:  # a chunk cut by the range: summarise just its points in range
                s, _t, v = decode_chunk(self._chunk_blob(conn, sid, seq))
                mask = (s >= lo) & (s <= hi)
                parts.append(block_summaries(s[mask], np.asarray(v)[mask]))
            else:
                parts.append(np.frombuffer(blocks, dtype=np.float64).reshape(-1, 7))
        meta = np.concatenate(parts) if parts else np.zeros((0, 7))
        if len(meta) >= n:
            groups = np.array_split(np.arange(len(meta)), n)
            starts = np.array([g[0] for g in groups if len(g)])
            ends = np.array([g[-1] for g in groups if len(g)])
            return Buckets(
                step_lo=meta[starts, 1], step_hi=meta[ends, 2],
                min=np.minimum.reduceat(meta[:, 3], starts), max=np.maximum.reduceat(meta[:, 4], starts),
                first=meta[starts, 5], last=meta[ends, 6],
                count=np.add.reduceat(meta[:, 0], starts).astype(np.int64))
        # fewer blocks than buckets: at most n × 512 points, decode them and bucket exactly
        decoded = [decode_chunk(self._chunk_blob(conn, sid, r[0])) for r in rows]
        if decoded:
            steps = np.concatenate([p[0] for p in decoded])
            vals = np.concatenate([np.asarray(p[2]) for p in decoded])
            mask = (steps >= lo) & (steps <= hi)
            steps, vals = steps[mask], vals[mask]
        else:
            steps = vals = np.zeros(0)
        return bucket_points(steps, vals, n)

    def _chunk_blob(self, conn: Conn, sid: int, seq: int) -> bytes:
        row = conn.execute("SELECT data FROM chunks WHERE sid=? AND seq=?", (sid, seq)).fetchone()
        return bytes(row[0])

    # ------------------------------------------------------------------ table query
    def _select(self, conn: Conn, project: str, kind: str, *, query: str | None, sort_by: str, ascending: bool,
                limit: int | None, extra_where: tuple[str, list[Any]] | None = None) -> tuple[list[int], list[str]]:
        """The containers a table shows, in order: their internal ids and their short ids."""
        proj = self.get_project(project)
        node = Q.parse(query or "")
        now = time.time()
        where, params = Q.compile_where(node, dialect=self.dialect, now=now,
                                        crash_after=SETTINGS.crash_after.get(),
                                        pid_of=lambda path: self._pid(conn, path, create=False))
        if extra_where:
            where = f"({where}) AND ({extra_where[0]})"
            params = [*params, *extra_where[1]]
        joins, keys, key_params = self._sort_keys(conn, sort_by)
        direction = "ASC" if ascending else "DESC"
        order = ", ".join(f"{k} {direction} NULLS LAST" for k in keys)
        sql = (f"SELECT c.cid, c.short_id FROM containers c{joins} WHERE c.project_id=? AND c.kind=? "
               f"AND ({where}) ORDER BY {order}, c.cid {direction}")
        all_params: list[Any] = [*key_params, proj.id, kind, *params]
        if limit is not None:
            sql += " LIMIT ?"
            all_params.append(int(limit))
        found = conn.execute(sql, all_params).fetchall()
        return [r[0] for r in found], [r[1] for r in found]

    def query_table(
        self, project: str, kind: str, *, query: str | None = None, columns: list[str] | None = None,
        sort_by: str = "sys/creation_time", ascending: bool = False, limit: int | None = None,
        extra_where: tuple[str, list[Any]] | None = None,
    ) -> TableResult:
        conn = self.conn()
        cids, ids = self._select(conn, project, kind, query=query, sort_by=sort_by, ascending=ascending,
                                 limit=limit, extra_where=extra_where)
        now = time.time()
        in_cids = self._in("f.cid", cids)
        if columns is None:
            pid_rows = conn.execute(
                "SELECT DISTINCT f.pid, p.path FROM fields f JOIN paths p ON p.pid=f.pid WHERE " + in_cids[0],
                in_cids[1]).fetchall()
        else:
            wanted = list(dict.fromkeys(["sys/id", *columns, *([sort_by] if sort_by else [])]))
            pid_rows = []
            for col in wanted:
                col = F.normalize_path(col)
                pid_rows += conn.execute(
                    "SELECT pid, path FROM paths WHERE path = ? OR (path >= ? AND path < ?)",
                    (col, col + "/", col + "0")).fetchall()
        pid_to_path = dict(pid_rows)
        rows: dict[int, dict[str, FieldValue]] = {cid: {} for cid in cids}
        set_cells: list[tuple[int, int]] = []
        if pid_to_path and cids:
            in_pids = self._in("f.pid", list(pid_to_path))
            cells = conn.execute(
                "SELECT f.cid, f.pid, f.type, f.num, f.txt, s.count, s.last_num, s.last_txt, s.vmin, s.vmax "
                "FROM fields f LEFT JOIN series s ON s.cid = f.cid AND s.pid = f.pid "
                f"WHERE {in_pids[0]} AND {in_cids[0]}", [*in_pids[1], *in_cids[1]])
            for cid, pid, ftype, num, txt, count, last_num, last_txt, vmin, vmax in cells:
                fv = rows[cid][pid_to_path[pid]] = _field_value(ftype, num, txt, count, last_num, last_txt)
                if ftype == F.FLOAT_SERIES:
                    fv.stats = (vmin, vmax)
                if ftype == F.STRING_SET:
                    set_cells.append((cid, pid))
            if set_cells:
                members: dict[tuple[int, int], set[str]] = {}
                m_pids = self._in("pid", sorted({p for _, p in set_cells}))
                m_cids = self._in("cid", cids)
                for cid, pid, value in conn.execute(
                        f"SELECT cid, pid, value FROM set_members WHERE {m_pids[0]} AND {m_cids[0]}",
                        [*m_pids[1], *m_cids[1]]):
                    members.setdefault((cid, pid), set()).add(value)
                for cid, pid in set_cells:
                    rows[cid][pid_to_path[pid]].value = members.get((cid, pid), set())
            if "sys/state" in pid_to_path.values():  # a running run's state depends on its last ping
                pings = self._pings(conn, cids)
                for cid in cids:
                    state = rows[cid].get("sys/state")
                    if state is not None:
                        state.value = effective_state(state.value, pings.get(cid), now)
        present = sorted({p for row in rows.values() for p in row})
        return TableResult(columns=present, rows=[rows[c] for c in cids], ids=ids)

    def table_columns(self, project: str, kind: str, *, columns: list[str], query: str | None = None,
                      sort_by: str = "sys/creation_time", ascending: bool = False, offset: int = 0,
                      limit: int | None = None) -> dict[str, Any]:
        """A window of the runs table by column, JSON-ready, for the UI: ``{"total", "offset", "ids",
        "columns": {path: {"type", "values", and for series "count" (and float series "min", "max")}}}``.

        The rows and order are :meth:`query_table`'s; ``total`` counts every matching row, and only rows
        ``offset … offset + limit`` carry their cells, so a client pages through 10,000 runs × 50
        columns as it scrolls instead of waiting for all of them.  Columns are exact paths (no
        namespaces); ``sort_by`` may also be a float series' ``path:min`` or ``path:max``.  Each column is
        one list with ``null`` where a run lacks the field.  A column whose runs disagree on its type
        carries ``"types"`` (one per row).  Non-finite floats are "NaN", "Infinity", "-Infinity".
        """
        conn = self.conn()
        all_cids, all_ids = self._select(conn, project, kind, query=query, sort_by=sort_by, ascending=ascending,
                                         limit=None)
        end = len(all_cids) if limit is None else offset + limit
        cids, ids = all_cids[offset:end], all_ids[offset:end]
        now = time.time()
        n = len(cids)
        row_of = {cid: i for i, cid in enumerate(cids)}
        wanted = list(dict.fromkeys(F.normalize_path(c) for c in columns))
        pid_rows = conn.execute(f"SELECT pid, path FROM paths WHERE {self._in('path', wanted)[0]}",
                                self._in("path", wanted)[1]).fetchall() if wanted else []
        out: dict[str, dict[str, Any]] = {path: {"type": None, "values": [None] * n} for path in wanted}
        by_pid = {pid: out[path] for pid, path in pid_rows}
        types: dict[int, list[Any]] = {}  # pid → each row's type of that field (None: the row lacks it)
        sets: list[tuple[int, int]] = []
        if by_pid and cids:
            in_pids, in_cids = self._in("f.pid", list(by_pid)), self._in("f.cid", cids)
            cells = conn.execute(
                "SELECT f.cid, f.pid, f.type, f.num, f.txt, s.count, s.last_num, s.last_txt, s.vmin, s.vmax "
                "FROM fields f LEFT JOIN series s ON s.cid = f.cid AND s.pid = f.pid "
                f"WHERE {in_pids[0]} AND {in_cids[0]}", [*in_pids[1], *in_cids[1]])
            for cid, pid, ftype, num, txt, count, last_num, last_txt, vmin, vmax in cells:
                col, i = by_pid[pid], row_of[cid]
                row_types = types.get(pid)
                if row_types is None:
                    row_types = types[pid] = [None] * n
                row_types[i] = ftype
                if ftype == F.FLOAT_SERIES:
                    col["values"][i] = num_out(last_num)
                    for key, v in (("count", count or 0), ("min", num_out(vmin)), ("max", num_out(vmax))):
                        col.setdefault(key, [None] * n)[i] = v
                elif ftype in (F.STRING_SERIES, F.FILE_SERIES):
                    col["values"][i] = last_txt
                    col.setdefault("count", [None] * n)[i] = count or 0
                elif ftype in (F.FLOAT, F.DATETIME):
                    col["values"][i] = num_out(num)
                elif ftype == F.INTEGER:
                    col["values"][i] = None if num is None else int(num)
                elif ftype == F.BOOLEAN:
                    col["values"][i] = bool(num)
                elif ftype == F.STRING:
                    col["values"][i] = txt
                elif ftype == F.STRING_SET:
                    col["values"][i] = []
                    sets.append((cid, pid))
                else:
                    col["values"][i] = json.loads(txt) if txt else None
            for pid, per_row in types.items():  # a column's type is its first row's, as wire.table_to_columns says
                seen = [t for t in per_row if t is not None]
                by_pid[pid]["type"] = seen[0] if seen else None
                if len(set(seen)) > 1:
                    by_pid[pid]["types"] = per_row
            if sets:
                m_pids, m_cids = self._in("pid", sorted({p for _, p in sets})), self._in("cid", cids)
                for cid, pid, value in conn.execute(
                        f"SELECT cid, pid, value FROM set_members WHERE {m_pids[0]} AND {m_cids[0]} ORDER BY value",
                        [*m_pids[1], *m_cids[1]]):
                    by_pid[pid]["values"][row_of[cid]].append(value)
            state = out.get("sys/state")
            if state is not None:
                pings = self._pings(conn, cids)
                values = state["values"]
                for i, cid in enumerate(cids):
                    values[i] = effective_state(values[i], pings.get(cid), now)
        return {"total": len(all_cids), "offset": offset, "ids": ids, "columns": out}

    FIELD_TYPE_SAMPLE = 200

    def field_paths(self, project: str, kind: str = "run") -> dict[str, str]:
        """Every field path of the project's containers of ``kind``, with its type (where containers
        disagree, the type most of the first 200 holding it have): what a column picker offers.

        One query, path by path through the ``(pid, …)`` index and stopping after a sample: the cost
        follows the number of paths, not the number of fields (a full scan of 10,000 runs × 100 fields
        takes a second; this, tens of milliseconds), and a server's database is asked once, not once per
        path.
        """
        proj = self.get_project(project)
        rows = self.conn().execute(
            "SELECT p.path, (SELECT s.type FROM (SELECT f.type FROM fields f JOIN containers c ON c.cid = f.cid "
            "WHERE f.pid = p.pid AND c.project_id = ? AND c.kind = ? LIMIT ?) s "
            "GROUP BY s.type ORDER BY count(*) DESC, s.type LIMIT 1) FROM paths p ORDER BY p.path",
            (proj.id, kind, self.FIELD_TYPE_SAMPLE)).fetchall()
        return {path: ftype for path, ftype in rows if ftype is not None}

    def _pings(self, conn: Conn, cids: list[int]) -> dict[int, float]:
        pid = self._pid(conn, "sys/ping_time", create=False)
        in_cids = self._in("cid", cids)
        return dict(conn.execute(f"SELECT cid, num FROM fields WHERE pid=? AND {in_cids[0]}",
                                 [pid, *in_cids[1]]).fetchall())

    def _sort_keys(self, conn: Conn, sort_by: str) -> tuple[str, list[str], list[Any]]:
        """Joins and ORDER BY keys for sorting by a field: numbers (atoms, a series' last value)
        before text, runs without the field last.  ``path:min`` / ``path:max`` sort by a float series'
        extremes wherever ``path`` is a field somewhere in the store (a field whose own name ends in
        ":min" is sorted by its value only where no ``path`` exists)."""
        path = F.normalize_path(sort_by) if sort_by else ""
        if path in ("", "sys/creation_time"):
            return "", ["c.created"], []
        if path == "sys/id":
            return "", ["c.cid"], []
        base, _, extreme = path.rpartition(":")
        if extreme in ("min", "max") and base:
            base_pid = self._pid(conn, base, create=False)
            if base_pid != -1:  # `path:min` / `path:max`: a float series' extremes, as the UI's columns name them
                return " LEFT JOIN series ss ON ss.cid = c.cid AND ss.pid = ?", [f"ss.v{extreme}"], [base_pid]
        pid = self._pid(conn, path, create=False)
        joins = (" LEFT JOIN fields sf ON sf.cid = c.cid AND sf.pid = ?"
                 " LEFT JOIN series ss ON ss.cid = c.cid AND ss.pid = ?"
                 # a string set (tags) sorts by its first member
                 " LEFT JOIN (SELECT cid, min(value) AS first FROM set_members WHERE pid = ? GROUP BY cid) sm"
                 " ON sm.cid = c.cid")
        return (joins, ["COALESCE(ss.last_num, sf.num)", "COALESCE(ss.last_txt, sf.txt)", "sm.first"],
                [pid, pid, pid])


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


def statements(sql: str) -> list[str]:
    lines = [ln.split("--", 1)[0] for ln in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


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


def bucket_points(steps: np.ndarray, values: np.ndarray, n: int) -> Buckets:
    """Exact min/max/first/last/count buckets of equal point counts (a point per bucket if few)."""
    total = len(steps)
    if total == 0:
        z = np.zeros(0)
        return Buckets(z, z, z, z, z, z, np.zeros(0, dtype=np.int64))
    starts = np.unique(np.linspace(0, total, min(n, total), endpoint=False).astype(np.int64))
    ends = np.append(starts[1:], total) - 1
    return Buckets(
        step_lo=steps[starts], step_hi=steps[ends],
        min=np.minimum.reduceat(values, starts), max=np.maximum.reduceat(values, starts),
        first=values[starts], last=values[ends], count=(ends - starts + 1).astype(np.int64))
