"""Writes: a batch of operations from the op log applied in one transaction, at most once."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.errors import (
    ContainerNotFound,
    FieldError,
    InvalidValueError,
    ProtectedPathError,
    StoreError,
)
from naiad.store.base import (
    ApplyResult,
)
from naiad.store.sql import blobrefs, datasets
from naiad.store.sql.base import Conn
from naiad.store.sql.series import Series


def artifact_hash(entries: list[dict[str, Any]]) -> str:
    """Dataset version hash over a manifest: path, content hash, size and type of every entry."""
    digest = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e["file_path"]):
        for part in (e["file_path"], e["file_hash"], str(e["size"]), e["type"]):
            raw = part.encode()
            digest.update(len(raw).to_bytes(8, "big"))
            digest.update(raw)
    return digest.hexdigest()


def _foreign_writer(writer: str) -> InvalidValueError:
    return InvalidValueError(
        f"writer {writer[:80]!r} writes to another container; a writer (one op log) belongs to the container it "
        "first wrote to: give this batch a writer id of its own.")


class Writes(Series):
    """Applying batches of operations."""

    def writer_seq(self, writer: str, container: str) -> int:
        conn = self.conn()
        row = conn.execute("SELECT seq, cid FROM writers WHERE writer=?", (writer,)).fetchone()
        bound = None if row is None or row[1] is None else int(row[1])
        return int(row[0]) if bound is not None and bound == self._known_cid(conn, container) else 0

    def apply(self, batch: Batch) -> ApplyResult:
        """Apply a batch atomically, at most once per ``(writer, seq)``; return the writer's high mark.

        An op the store must refuse (a type clash with a write from another process, a step that does
        not increase) is skipped, counted in ``sys/errors`` and described in ``sys/last_error``; the
        rest of the batch is applied.
        """
        with self._tx() as conn:
            conn.execute("INSERT INTO writers(writer, seq) VALUES (?, 0) ON CONFLICT DO NOTHING", (batch.writer,))
            row = conn.execute("SELECT seq, cid FROM writers WHERE writer=?" + self.FOR_UPDATE,
                               (batch.writer,)).fetchone()
            done = int(row[0]) if row else 0
            bound = None if row is None or row[1] is None else int(row[1])
            if batch.seq <= done:  # applied before — if it was this container's: a batch of another is no replay
                if bound is not None and self._known_cid(conn, batch.container) != bound:
                    raise _foreign_writer(batch.writer)
                return ApplyResult(done, [])
            errors: list[str] = []
            client_errors: list[str] = []
            cid = self._apply_ops(conn, batch, errors, client_errors)
            target = cid if cid is not None else self._known_cid(conn, batch.container)
            if bound is not None and target is not None and target != bound:  # rolled back: nothing is applied
                raise _foreign_writer(batch.writer)
            conn.execute("UPDATE writers SET seq = ?, cid = ? WHERE writer = ?",
                         (batch.seq, bound if target is None else target, batch.writer))
            if cid is not None:
                now = time.time()
                self._put_atom(conn, cid, self._pid(conn, "sys/modification_time"), F.DATETIME, now)
                if errors or client_errors:
                    self._record_errors(conn, cid, client_errors + errors)
        return ApplyResult(batch.seq, errors)

    def _known_cid(self, conn: Conn, uuid: str) -> int | None:
        try:
            return self._cid(conn, uuid)
        except ContainerNotFound:
            return None

    def _apply_ops(self, conn: Conn, batch: Batch, errors: list[str],
                   client_errors: list[str]) -> int | None:
        cid: int | None = None
        self._local.fmap = None
        self._local.atoms = []
        self._drop_prefetched()
        ahead_until = -1  # ops before this index are covered by the series read ahead
        for index, op in enumerate(batch.ops):
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
            if kind == O.POINTS and index >= ahead_until:
                ahead_until = self._read_ahead(conn, cid, batch.ops, index)
            elif kind not in (O.POINTS, O.ASSIGN):
                self._drop_prefetched()  # a clear, a delete…: what was read ahead may be stale
                ahead_until = -1
            try:
                self._apply_op(conn, cid, op)
            except FieldError as exc:
                errors.append(str(exc))
            else:
                blobrefs.note(conn, cid, blobrefs.hashes_of(op))
        self._flush_atoms(conn)
        self._drop_prefetched()
        return cid

    def _read_ahead(self, conn: Conn, cid: int, ops: list[O.Op], start: int) -> int:
        """Prefetch the series of the points ops from ``start`` on (assignments between them are
        passed over) whose fields exist already; returns the index of the first op not covered."""
        fmap = self._local.fmap
        pids: list[int] = []
        end = start
        while end < len(ops) and ops[end][0] in (O.POINTS, O.ASSIGN):
            op = ops[end]
            hit = fmap.types.get(op[1]) if op[0] == O.POINTS else None
            if hit is not None and hit[1] == op[2]:
                pids.append(hit[0])
            end += 1
        if len(pids) > 1:
            self._prefetch_series(conn, cid, pids)
        else:
            self._drop_prefetched()
        return end

    def _apply_op(self, conn: Conn, cid: int, op: O.Op) -> None:
        kind, path = op[0], op[1]
        if path in F.REGISTRY_PATHS or (kind == O.DELETE and (not path or path == "sys" or path == "sys/policy")):
            raise ProtectedPathError(f"'{path or '(everything)'}' is moved by the registry only (change_stage, "
                                     "set_alias, the promotion policy), with its history; the write was refused.")
        if path in F.STORE_MAINTAINED:
            raise ProtectedPathError(f"'{path}' is maintained by naiad and cannot be written; the write was refused.")
        _check_file_names(op)
        if kind != O.POINTS or op[2] != F.FLOAT_SERIES:
            # text no engine keeps: lone surrogates (UTF-8), NUL in a text column (PostgreSQL; a series'
            # points are binary chunks)
            problem = O.unstorable(op, nul_ok=kind == O.POINTS)
            if problem:
                raise InvalidValueError(f"'{path}': {problem}; the write was refused.")
        if kind == O.ASSIGN:
            ftype, value = op[2], op[3]
            pid, _ = self._ensure_field(conn, cid, path, ftype, insert=False)
            self._local.atoms.append(self._atom_row(cid, pid, ftype, value))  # written by _flush_atoms
            if ftype == F.ARTIFACT:
                datasets.note_dataset(conn, cid, pid, value)
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
            datasets.note_dataset(conn, cid, pid, value)
        else:
            raise StoreError(f"unknown operation {kind!r}")


def _check_file_names(op: O.Op) -> None:
    """Names and extensions of the files an op stores become paths when someone downloads them: refuse
    any that could leave the download folder (from any writer: the SDK, a server's client, an importer)."""
    kind = op[0]
    refs: list[Any] = []
    names: list[Any] = []
    if kind == O.ASSIGN and op[2] == F.FILE:
        refs = [op[3]]
    elif kind == O.POINTS and op[2] == F.FILE_SERIES:
        for raw in op[5]:
            try:
                refs.append(json.loads(raw))
            except (TypeError, ValueError):
                raise InvalidValueError(f"'{op[1]}': a file series point is not a file reference.") from None
    elif kind == O.FILES and isinstance(op[2], dict):
        names, refs = list(op[2]), list(op[2].values())
    elif kind == O.TRACK:
        names = [e.get("file_path") if isinstance(e, dict) else e for e in op[2]]
    for ref in refs:
        ext = ref.get("ext", "") if isinstance(ref, dict) else None
        if not F.is_extension(ext):
            raise InvalidValueError(f"'{op[1]}': file extension {str(ext)[:80]!r} could name a folder on download "
                                    "(letters, digits, '_', '+', '-' and inner dots only); the write was refused.")
    for name in names:
        problem = F.relative_name_problem(name)
        if problem:
            raise InvalidValueError(f"'{op[1]}': file name {str(name)[:200]!r} cannot be stored: {problem} (names "
                                    "are relative paths inside the field); the write was refused.")

