"""The write path: the journal, the writer thread, the op log and the heartbeat.

::

    run["loss"].append(x)   caller: validate, stamp time and step, copy one 32-byte record into the
          │                 mapped journal (or, for text, sets, files…, the op into the side file) → return
          │                 — from here a SIGKILL loses nothing: the kernel keeps the mapping's pages
          ▼
    logger thread ── every flush_period: the journal's new records → one batch → op log (durable, and it
          │          says which part of the journal it holds); with a remote blob store, the batch's files
          │          → the spool (local copies, see SpoolingBlobs)
          ▼
    applier thread ── spooled files → blob store, then store.apply(batch) (one transaction
                      each, in order, retried with backoff; a store that is away is a delay,
                      not an error) → truncate the op log once the store holds everything

    ping thread ── every heartbeat period: sys/ping_time straight to the store

The journal (:mod:`naiad.core.journal`) keeps every call in call order, so a clear, a delete or a
replaced series needs no special care: the writer reads the records in order and builds the ops from
them.  Failures after the call are counted, reported once, and retried; they never raise in the
training thread (unless ``NAIAD_RAISE_ON_ERROR`` asks for it, as tests do).
"""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
import time
import uuid as _uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.journal import Journal, to_ops
from naiad.core.oplog import OpLog
from naiad.core.ops import Batch
from naiad.errors import (
    DiskFullError,
    FieldError,
    NaiadError,
    StoreLockedError,
    StoreUnavailableError,
)
from naiad.store.base import Store
from naiad.store.blobs import LocalBlobs
from naiad.store.spool import SpoolingBlobs, upload_spooled
from naiad.tracking.compact import compact
from naiad.tracking.durable import Durability
from naiad.tracking.files import File, expand_globs, is_s3, local_manifest, s3_manifest, store_entries
from naiad.tracking.pending import PendingBatches

# Internal ops the writer turns into vocabulary ops (they touch the file system).
UPLOAD = "_upload"            # (UPLOAD, path, File)
UPLOAD_POINTS = "_upload_pts"  # (UPLOAD_POINTS, path, [File], steps, ts)
UPLOAD_FILES = "_upload_files"  # (UPLOAD_FILES, path, [abs glob], reset)
TRACK_FILES = "_track"        # (TRACK_FILES, path, location, destination, reset, upload)


_FILE_OPS = frozenset({UPLOAD, UPLOAD_POINTS, UPLOAD_FILES, TRACK_FILES})
BATCH_POINTS = 16_000_000
"""A flush cuts its batch once past this many points, and goes on with the next (an op-log record must
stay under 2 GiB)."""
OP_POINTS = 8_000_000
"""``extend()`` queues arrays of at most this many points per op."""
_TRANSIENT = (StoreUnavailableError, StoreLockedError)



class Writer:
    """Owns the op log and the store writes of one container for one process."""

    def __init__(self, store: Store | None, container: str, *, blobs: Any, oplog_dir: Path, flush_period: float,
                 heartbeat_period: float, fsync: bool, threaded: bool, raise_errors: bool) -> None:
        self.store = store  # None: offline, the op log is the only destination
        # files go through the spool unless the blob store is a local folder (see SpoolingBlobs)
        self._spool = None if blobs is None or isinstance(blobs, LocalBlobs) else \
            SpoolingBlobs(blobs, oplog_dir.parent / "spool")
        self.blobs = blobs if self._spool is None else self._spool
        self.container = container
        self.writer_id = _uuid.uuid4().hex
        self.flush_period = flush_period
        self.heartbeat_period = heartbeat_period
        self.raise_errors = raise_errors
        self.lock = threading.Lock()  # orders the ops of the side file (callers) and their numbers
        self._reported: set[str] = set()
        self.oplog = OpLog(oplog_dir / f"{container}.{self.writer_id}.log", fsync=fsync)
        self._fsync = fsync
        self.journal = Journal(oplog_dir / f"{container}.{self.writer_id}", notice=self._journal_notice)
        self._side: dict[int, O.Op] = {}  # ops of the side file the logger has not read yet, by number
        self._opno = 0
        self._read_pos = 0  # journal position the logger has read up to
        self._ops_read = 0  # 1 + the highest side op number the logger has read
        self._seq = 0
        self._pending = PendingBatches(self.oplog)  # in the op log, not yet in the store
        self._durable = Durability(self.oplog, self.journal, self._pending, fsync=fsync, report=self._report,
                                   notice=self._notice, disk_full=lambda: self._notice(self._disk_full(),
                                                                                        key="disk full"))
        self._error_count = 0
        self._first_error: BaseException | None = None
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._stopping = False
        self._closed = False
        self._flush_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._last_duration = 0.0
        self._plock = threading.Lock()        # guards _pending and the op log file
        self._apply_lock = threading.Lock()   # one applier at a time, in batch order
        self._apply_wake = threading.Event()
        self._applied = threading.Event()  # set each time apply_pending() returns
        self._ping_wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._applier: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None
        if store is not None:
            # liveness is independent of flushing: its own thread, its own writer id, straight to
            # the store (a ping needs no durability), so neither a long flush period, an idle
            # sync-mode run nor a busy op log makes a live run look crashed
            self._heartbeat = threading.Thread(target=self._ping_loop, name=f"naiad-ping-{container[:8]}",
                                               daemon=True)
            self._heartbeat.start()
        if threaded:
            # two threads: the logger makes each flush durable on the op log at once; the applier
            # writes batches into the store, which may be slower or briefly unavailable
            self._thread = threading.Thread(target=self._loop, name=f"naiad-log-{container[:8]}",
                                            daemon=True)
            self._applier = threading.Thread(target=self._apply_loop, name=f"naiad-apply-{container[:8]}",
                                             daemon=True)
            self._thread.start()
            self._applier.start()

    # ------------------------------------------------------------- caller side
    def submit_points(self, path: str, ftype: str, steps: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
        """Queue ready arrays of points (``extend``), in ops of at most :data:`OP_POINTS` (one op-log
        record stays well under its 2 GiB)."""
        for i in range(0, len(steps), OP_POINTS):
            self.submit((O.POINTS, path, ftype, steps[i:i + OP_POINTS], ts[i:i + OP_POINTS],
                         values[i:i + OP_POINTS]))

    def submit(self, op: O.Op) -> None:
        """Queue an op that a journal record cannot hold: into the side file, at its place in the order."""
        if self.journal.inherited:  # a forked child: said once by the journal, stored nowhere
            self.journal.write_op(0, op)
            return
        with self.lock:
            number = self._opno
            self._opno += 1
            self._side[number] = op
            self.journal.write_op(number, op)
        if self._thread is None:
            self.flush()

    def check_errors(self) -> None:
        if self.raise_errors and self._first_error is not None:
            err, self._first_error = self._first_error, None
            raise err

    # ------------------------------------------------------------- writer side
    def _collect(self) -> tuple[list[O.Op], tuple[int, int], bool]:
        """The ops of the journal's records since the last flush, in call order, the span read, and
        whether more records wait (a batch stops past :data:`BATCH_POINTS` points).

        Records are decoded :data:`~naiad.core.journal.READ_CHUNK` at a time: between two chunks the
        training thread gets the GIL back, so a flush of a million points costs it a few milliseconds at
        a time instead of one long stall.
        """
        start = pos = self._read_pos
        end = self.journal.position()
        ops: list[O.Op] = []
        side = self._side
        points = 0

        def take(number: int) -> O.Op | None:
            self._ops_read = max(self._ops_read, number + 1)
            return side.pop(number, None)

        while pos < end and points <= BATCH_POINTS:
            data, after = self.journal.read(pos)
            if after == pos:
                break
            new = to_ops(data, self.journal.paths, take)
            points += sum(len(op[3]) for op in new if op[0] == O.POINTS)
            ops.extend(new)
            pos = after
        self._read_pos = pos
        return compact(ops), (start, pos), pos < end

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
            manifest = s3_manifest if is_s3(op[2]) else local_manifest  # both may be slow: files, network
            entries = manifest(op[2], op[3])
            if op[5]:
                store_entries(blobs, entries)
            return [(O.TRACK, op[1], entries, op[4])]
        raise NaiadError(f"unknown internal op {kind}")

    def flush(self) -> None:
        """Move everything buffered into a batch on the op log (durable), then hand it to the applier."""
        if self.journal.inherited:  # a forked child: the journal and the op log are its parent's
            return
        with self._flush_lock:
            start = self._last_flush = time.monotonic()
            while self._flush_once():
                pass
            self._last_duration = time.monotonic() - start
        if self._applier is None:
            self.apply_pending()

    def _flush_once(self) -> bool:
        """One batch of what the journal holds; True when more waits."""
        ops_before = self._ops_read
        raw, span, more = self._collect()
        ops: list[O.Op] = []
        for op in raw:
            try:
                ops.extend(self._materialize(op))
            except Exception as exc:  # a file vanished, unreadable …: count it, keep going
                message = f"could not prepare '{op[1]}': {exc}"
                self._report(message, exc)
                ops.append((O.ERROR, "", message))
        batch = None
        if ops:
            self._seq += 1
            batch = Batch(self.container, self.writer_id, self._seq, ops, span)
        with self._plock:
            self._durable.add(batch, span, ops_before, self._ops_read)
        if batch is not None:
            self._apply_wake.set()
        return more

    def flush_if_overdue(self) -> None:
        """Called now and then from the training thread: flush here if the logger thread is late.

        A thread that releases the GIL often (printing a progress bar, say) starves a thread that
        waits for it, so the logger can fall seconds behind and a crash would lose more than one
        flush period.  The training thread owns the GIL anyway: it writes the op log itself then
        (waiting briefly for a flush the logger is in the middle of, which lets that one finish).
        """
        # the logger flushes every _interval() (< flush_period); only a full period without a flush
        # means it is starved, so in the ordinary case the training thread never does this work
        if self._thread is None or time.monotonic() - self._last_flush < self.flush_period:
            return
        # give a starved logger the GIL for a moment; if it is still busy (hashing a big folder,
        # listing a bucket) the training thread does not wait for it
        if not self._flush_lock.acquire(timeout=0.05):
            return
        self._flush_lock.release()
        if not any(op[0] in _FILE_OPS for op in list(self._side.values())):  # file work stays on the logger thread
            self.flush()

    def _interval(self) -> float:
        """Time from one flush's start to the next: the flush period less what the last flush took
        (and a 20% margin for a late wake-up or a slower flush), so that a crash loses at most one flush period even
        counting the flush's own duration."""
        return max(0.8 * self.flush_period - self._last_duration, self.flush_period / 4)

    def apply_pending(self) -> bool:
        """Apply pending batches to the store in order; True when none is left.

        Runs on the applier thread, or on a caller that waits (``wait()``, ``stop()``); the op log is
        truncated once the store holds everything in it.  ``stop()`` is woken when it returns.
        """
        try:
            return self._apply_pending()
        finally:
            self._applied.set()

    def _apply_pending(self) -> bool:
        if self.store is None:  # offline: the op log is the destination
            with self._plock:
                self._pending.clear()
            return True
        with self._apply_lock:
            while True:
                with self._plock:
                    if not self._pending:
                        if not self.oplog.closed and self.oplog.size() > 0 and not self._pending.unreadable:
                            try:
                                self.oplog.truncate()
                            except OSError:
                                pass
                        return True
                    try:
                        batch = self._pending.head()
                    except (OSError, ValueError) as exc:  # the op log of a live writer damaged: said, kept
                        self._report(f"could not read back a batch from the op log {self.oplog.path} ({exc}); "
                                     "the file is kept: run naiad sync", exc)
                        continue
                try:
                    if self._spool is not None and self._spool.used:  # the batch's files go first
                        upload_spooled(self._spool.blobs, self._spool.spool, batch)
                    result = self.store.apply(batch)
                except _TRANSIENT as exc:
                    if self._applier is None:  # sync mode: the caller learns that its write is not stored
                        self._report(f"could not write to the store ({exc}); will retry, data is kept in "
                                     f"{self.oplog.path}", exc)
                        return False
                    # the applier retries until the store is back: a delay, not a lost write
                    if isinstance(exc, DiskFullError):  # one notice, whether the op log or the store met it first
                        self._notice(str(exc), key="disk full")
                    else:
                        self._notice(f"cannot write to the store now ({exc}); retrying, the data is kept in "
                                     f"{self.oplog.path}")
                    return False
                except Exception as exc:
                    fixed, dropped = O.without_unstorable(batch)
                    if dropped:  # an op no store can take: drop it (counted), store the rest now
                        with self._plock:
                            self._pending.replace_head(fixed)
                        for message in dropped:
                            self._report(message, FieldError(message))
                        continue
                    self._report(f"could not write to the store ({exc}); will retry, data is kept in "
                                 f"{self.oplog.path}", exc)
                    return False
                with self._plock:
                    self._pending.pop_head()
                    self._durable.applied(batch)  # one the op log could not take is durable now
                for message in result.errors:
                    self._report(f"the store refused a write: {message}", FieldError(message))

    def _journal_notice(self, message: str, exc: OSError) -> None:
        if exc.errno == errno.ENOSPC:  # one notice, whoever meets the full disk first
            self._notice(self._disk_full(), key="disk full")
        else:
            self._notice(message)

    def _disk_full(self) -> str:
        return (f"the disk is full (under the op log {self.oplog.path.parent}): nothing was lost — the writes are "
                "kept in memory and stored as soon as there is room (until then a crash would lose them); free "
                "space on that disk.")

    def _report(self, message: str, exc: BaseException) -> None:
        self._error_count += 1
        if self._first_error is None:
            self._first_error = exc
        key = message.split(":", 1)[0] if "refused" not in message else message[:80]
        if key not in self._reported and len(self._reported) < 100:
            self._reported.add(key)
            print(f"[naiad] error: {message}", file=sys.stderr, flush=True)

    def _notice(self, message: str, key: str | None = None) -> None:
        """Tell the user once about a passing condition (the store away): not a write error, not raised.
        ``key``: what counts as the same condition (default: the message up to its first parenthesis)."""
        key = key or message.split("(", 1)[0]
        if key not in self._reported and len(self._reported) < 100:
            self._reported.add(key)
            print(f"[naiad] {message}", file=sys.stderr, flush=True)

    @property
    def error_count(self) -> int:
        return self._error_count

    def pending(self) -> int:
        return len(self._pending)

    def _loop(self) -> None:
        while True:
            # the next flush is due one interval after the last one *started*, whoever ran it (this
            # thread, a wait(), or the training thread taking over), so slow flushes do not stretch
            # what a crash can lose
            self._wake.wait(max(0.0, self._last_flush + self._interval() - time.monotonic()))
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

    def _ping_loop(self) -> None:
        assert self.store is not None
        writer = f"{self.writer_id}-ping"
        seq = 0
        while not self._closed:
            self._ping_wake.wait(self.heartbeat_period)
            if self._closed:
                return
            seq += 1
            try:
                self.store.apply(Batch(self.container, writer, seq,
                                       [(O.ASSIGN, "sys/ping_time", F.DATETIME, time.time())]))
            except Exception:  # the store is busy or away: the next ping will tell
                pass

    def _apply_loop(self) -> None:
        backoff = 0.0
        while not self._closed:
            self._apply_wake.wait(backoff or self.flush_period)
            self._apply_wake.clear()
            if self._closed:
                return
            try:
                ok = self.apply_pending()
            except Exception as exc:  # never let the applier die
                self._report(f"applier failure: {exc!r}", exc)
                ok = False
            if ok and self._stopping and self._thread is not None and not self._thread.is_alive():
                return
            backoff = 0.0 if ok else (0.2 if self._stopping else min(max(backoff * 2, 0.5), 10.0))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until everything submitted before the call is in the store; False on timeout/failure."""
        if self.journal.inherited:
            return True
        if self._thread is None or not self._thread.is_alive():
            self.flush()
            return self.apply_pending()
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
        return self.apply_pending()

    def close(self, timeout: float, progress: Callable[[float], None] | None = None) -> bool:
        """Final flush, stop the threads; True if everything reached the store within ``timeout``.

        The caller never blocks on the store itself: the applier thread does the writes while the
        caller watches the clock, so a locked or unreachable store cannot hold ``stop()`` past its
        bound.  Whatever is not stored by then stays in the op log for ``naiad sync``.
        """
        if self.journal.inherited:  # a forked child: its parent's writer is not the child's to close
            self._closed = True
            return True
        self._stopping = True
        start = time.monotonic()
        deadline = start + timeout

        def tick() -> None:
            if progress is not None and time.monotonic() - start > 1.0:
                progress(time.monotonic() - start)

        if self._thread is None:
            self.flush()
        else:
            self._wake.set()
            while self._thread.is_alive() and time.monotonic() < deadline:
                self._thread.join(0.05)
                tick()
        if self._applier is not None:
            self._apply_wake.set()
            while True:  # woken by the applier each time it has applied what was pending (or failed to)
                self._applied.clear()
                left = deadline - time.monotonic()
                if not (self._pending and self._applier.is_alive() and left > 0):
                    break
                self._applied.wait(min(left, 0.25))
                tick()
        ok = not self._pending and not self._pending.unreadable and self.store is not None and not (
            self._thread is not None and self._thread.is_alive())
        self._closed = True
        self._apply_wake.set()
        self._ping_wake.set()
        with self._plock:
            # the journal goes first: a journal without its op log would be read as a dead writer's
            self.journal.close(delete=ok or self._durable.all_durable())
            self.oplog.close(delete=ok)
        return ok


def file_ref(blobs: Any, file: File) -> dict[str, Any]:
    if file.path is not None:
        digest, size = blobs.put_file(file.path)
        name: str | None = file.name or Path(file.path).name
        if file.delete_after_upload:
            try:
                os.unlink(file.path)
            except OSError:
                pass
    else:
        digest, size = blobs.put_bytes(file.content or b"")
        name = file.name
    return {"hash": digest, "size": size, "ext": file.extension,
            "name": None if name is None else F.clean_text(name, "a file name")}
