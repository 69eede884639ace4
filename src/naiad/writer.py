"""The write path: caller-side buffers, the writer thread, the op log and the heartbeat.

::

    run["loss"].append(x)   caller: validate, stamp time and step, buffer → return
          │  per-series buffers + an ordered op list, swapped out under one short lock
          ▼
    writer thread ── every flush_period: batch → op log (durable) → store.apply (one transaction)
                     → truncate the op log once the store holds everything

Points of one series are kept in per-series lists (three appends per point, no tuples); any
other op on a series (clear, delete, replace) first seals that series' buffer into the op list so
the store sees operations in the order they were made.  Failures after the call are counted,
reported once, and retried; they never raise in the training thread (unless
``NAIAD_RAISE_ON_ERROR`` asks for it, as tests do).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid as _uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from naiad import fields as F
from naiad import ops as O
from naiad.errors import NaiadError
from naiad.files import File, expand_globs, local_manifest
from naiad.oplog import OpLog
from naiad.ops import Batch
from naiad.store.base import Store

log = logging.getLogger("naiad")

# Internal ops the writer turns into vocabulary ops (they touch the file system).
UPLOAD = "_upload"            # (UPLOAD, path, File)
UPLOAD_POINTS = "_upload_pts"  # (UPLOAD_POINTS, path, [File], steps, ts)
UPLOAD_FILES = "_upload_files"  # (UPLOAD_FILES, path, [abs glob], reset)
TRACK_FILES = "_track"        # (TRACK_FILES, path, location, destination, reset)


class SeriesBuffer:
    """Points of one series waiting for the writer."""

    __slots__ = ("path", "steps", "ts", "type", "values")

    def __init__(self, path: str, ftype: str) -> None:
        self.path = path
        self.type = ftype
        self.values: list[Any] = []
        self.steps: list[float] = []
        self.ts: list[float] = []

    def take(self) -> O.Op:
        """The buffered points as a POINTS op; the buffer starts over (call under the writer lock)."""
        vals: Any = self.values
        if self.type == F.FLOAT_SERIES:
            vals = np.array(vals, dtype=np.float64)
        op = (O.POINTS, self.path, self.type, np.array(self.steps, dtype=np.float64),
              np.array(self.ts, dtype=np.float64), vals)
        self.values, self.steps, self.ts = [], [], []
        return op


class Writer:
    """Owns the op log and the store writes of one container for one process."""

    def __init__(self, store: Store | None, container: str, *, blobs: Any, oplog_dir: Path, flush_period: float,
                 heartbeat_period: float, fsync: bool, threaded: bool, raise_errors: bool,
                 on_flush: Callable[[], list[O.Op]] | None = None) -> None:
        self.store = store  # None: offline, the op log is the only destination
        self.blobs = blobs
        self.container = container
        self.writer_id = _uuid.uuid4().hex
        self.flush_period = flush_period
        self.heartbeat_period = heartbeat_period
        self.raise_errors = raise_errors
        self.on_flush = on_flush
        self.lock = threading.Lock()
        self.ops: list[O.Op] = []
        self.dirty: dict[str, SeriesBuffer] = {}
        self.oplog = OpLog(oplog_dir / f"{container}.{self.writer_id}.log", fsync=fsync)
        self._seq = 0
        self._pending: list[Batch] = []      # in the op log, not yet in the store
        self._last_ping = time.monotonic()
        self._error_count = 0
        self._reported: set[str] = set()
        self._first_error: BaseException | None = None
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._stopping = False
        self._flush_lock = threading.Lock()
        self.points_buffered = 0
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name=f"naiad-writer-{container[:8]}",
                                            daemon=True)
            self._thread.start()

    # ------------------------------------------------------------- caller side
    def buffer_for(self, path: str, ftype: str) -> SeriesBuffer:
        buf = self.dirty.get(path)
        if buf is None:
            with self.lock:
                buf = self.dirty.get(path)
                if buf is None:
                    buf = self.dirty[path] = SeriesBuffer(path, ftype)
        return buf

    def submit(self, op: O.Op) -> None:
        """Queue a non-point op, sealing pending points of every series it touches first."""
        path = op[1]
        with self.lock:
            if self.dirty and (op[0] == O.CLEAR or op[0] == O.DELETE):
                prefix = path + "/"
                hit = [k for k in self.dirty if k == path or k.startswith(prefix) or not path]
                for key in hit:
                    if self.dirty[key].ts:
                        self.ops.append(self.dirty[key].take())
                    if op[0] == O.DELETE:
                        del self.dirty[key]
            self.ops.append(op)
        if self._thread is None:
            self.flush()

    def check_errors(self) -> None:
        if self.raise_errors and self._first_error is not None:
            err, self._first_error = self._first_error, None
            raise err

    # ------------------------------------------------------------- writer side
    def _collect(self) -> list[O.Op]:
        with self.lock:
            ops, self.ops = self.ops, []
            ops.extend(b.take() for b in self.dirty.values() if b.ts)
        return ops

    def _materialize(self, op: O.Op) -> list[O.Op]:
        kind = op[0]
        if not kind.startswith("_"):
            return [op]
        blobs = self.blobs
        if kind == UPLOAD:
            return [(O.ASSIGN, op[1], F.FILE, file_ref(blobs, op[2]))]
        if kind == UPLOAD_POINTS:
            refs = [json.dumps(file_ref(blobs, f), separators=(",", ":")) for f in op[2]]
            return [(O.POINTS, op[1], F.FILE_SERIES, np.asarray(op[3], dtype=np.float64),
                     np.asarray(op[4], dtype=np.float64), refs)]
        if kind == UPLOAD_FILES:
            files = {}
            for name, full in expand_globs(op[2]).items():
                digest, size = blobs.put_file(full)
                files[name] = {"hash": digest, "size": size, "mtime": Path(full).stat().st_mtime}
            return [(O.FILES, op[1], files, op[3])]
        if kind == TRACK_FILES:
            return [(O.TRACK, op[1], local_manifest(op[2], op[3]), op[4])]
        raise NaiadError(f"unknown internal op {kind}")

    def flush(self) -> None:
        """Move everything buffered into the op log and the store (called by the writer thread)."""
        with self._flush_lock:
            raw = self._collect()
            if self.on_flush is not None:
                raw.extend(self.on_flush())
            now = time.monotonic()
            if now - self._last_ping >= self.heartbeat_period and self.store is not None:
                raw.append((O.ASSIGN, "sys/ping_time", F.DATETIME, time.time()))
                self._last_ping = now
            ops: list[O.Op] = []
            for op in raw:
                try:
                    ops.extend(self._materialize(op))
                except Exception as exc:  # a file vanished, unreadable …: count it, keep going
                    self._report(f"could not prepare '{op[1]}': {exc}", exc)
            if ops:
                self._seq += 1
                batch = Batch(self.container, self.writer_id, self._seq, ops)
                try:
                    self.oplog.append(batch)
                except Exception as exc:
                    self._report(f"could not write the op log {self.oplog.path}: {exc}", exc)
                self._pending.append(batch)
            self._apply_pending()

    def _apply_pending(self) -> None:
        if self.store is None:
            self._pending.clear()
            return
        while self._pending:
            batch = self._pending[0]
            try:
                self.store.apply(batch)
            except Exception as exc:
                self._report(f"could not write to the store ({exc}); will retry, data is kept in "
                             f"{self.oplog.path}", exc)
                return
            self._pending.pop(0)
        if self.oplog.size() > 0 and not self.oplog.closed:
            try:
                self.oplog.truncate()
            except OSError:
                pass

    def _report(self, message: str, exc: BaseException) -> None:
        self._error_count += 1
        if self._first_error is None:
            self._first_error = exc
        key = message.split(":", 1)[0]
        if key not in self._reported:
            self._reported.add(key)
            log.error("naiad: %s", message)
            print(f"[naiad] error: {message}", file=sys.stderr)

    @property
    def error_count(self) -> int:
        return self._error_count

    def pending(self) -> int:
        return len(self._pending)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.flush_period)
            self._wake.clear()
            stopping = self._stopping  # read before flushing: a stop during the flush gets one more
            with self._done:
                target = self._requested
            try:
                self.flush()
            except Exception as exc:  # never let the writer thread die
                self._report(f"writer failure: {exc!r}", exc)
            with self._done:
                self._completed = max(self._completed, target)
                self._done.notify_all()
            if stopping:
                return

    def wait(self, timeout: float | None = None) -> bool:
        """Block until everything submitted before the call is flushed; False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            self.flush()
            return not self._pending
        with self._done:
            self._requested += 1
            target = self._requested
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while self._completed < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._done.wait(left if left is not None else 1.0)
        return not self._pending

    def close(self, timeout: float, progress: Callable[[float], None] | None = None) -> bool:
        """Final flush and stop the thread; True if everything reached the store."""
        self._stopping = True
        start = time.monotonic()
        if self._thread is not None:
            self._wake.set()
            while self._thread.is_alive():
                self._thread.join(0.1)
                elapsed = time.monotonic() - start
                if progress is not None and elapsed > 1.0:
                    progress(elapsed)
                if elapsed > timeout:
                    break
            if self._thread.is_alive():
                return False
        else:
            self.flush()
        deadline = start + timeout
        while self._pending and time.monotonic() < deadline:
            self._apply_pending()
            if self._pending:
                time.sleep(0.2)
        ok = not self._pending and self.store is not None
        self.oplog.close(delete=ok)
        return ok


def file_ref(blobs: Any, file: File) -> dict[str, Any]:
    if file.path is not None:
        digest, size = blobs.put_file(file.path)
        name: str | None = file.name or Path(file.path).name
    else:
        digest, size = blobs.put_bytes(file.content or b"")
        name = file.name
    return {"hash": digest, "size": size, "ext": file.extension, "name": name}
