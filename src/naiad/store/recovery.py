"""Finishing what crashed writers left behind: op logs whose process is gone are replayed into the store
(at most once per batch: a log can be replayed any number of times) and deleted; their runs are marked
crashed. ``naiad sync`` runs the same, for the offline runs' logs too.

Before a log is replayed, what its writer's journal holds beyond the batches of the log (the calls made
since the last flush; see :mod:`naiad.core.journal`) becomes one more batch at the log's end, written
and synced before the journal is deleted: a recovery cut short and run again finds it there, covered."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.deadjournal import read_dead
from naiad.core.journal import journal_files
from naiad.core.oplog import append_to, container_of, read_records, read_with_ends, try_lock
from naiad.core.ops import Batch
from naiad.errors import NaiadError
from naiad.store.base import Store
from naiad.store.spool import upload_spooled


@dataclass
class SyncReport:
    """What ``naiad sync`` / recovery did to each op log."""

    applied: dict[str, int] = field(default_factory=dict)    # log file → batches applied
    skipped: list[str] = field(default_factory=list)         # logs of live writers
    failed: dict[str, str] = field(default_factory=dict)     # log file → error
    followed: dict[str, int] = field(default_factory=dict)   # live offline log → new batches stored


def recover_oplogs(store: Store, *, offline: bool = False, only: set[str] | None = None,
                   progress: object = None, follow: bool = False) -> SyncReport:
    """Replay the op logs of writers that are gone (``offline``: the offline runs' logs).

    Each log is applied batch by batch; batches the store already holds are skipped, so a log can be
    replayed any number of times.  A run whose writer died without stopping it is marked crashed.
    One broken log does not stop the others: the batches before the damage are stored, the log is
    kept and reported in ``failed``.  With ``follow``, offline runs that are still being written
    are stored as far as their logs go (the rest on a later call, once their process is done).
    """
    report = SyncReport()
    folder = Path(store.local_root) / ("offline" if offline else "oplog")
    if not folder.is_dir():
        return report
    logs = [p for p in sorted(folder.glob("*.log"))
            if only is None or container_of(p) in only]
    dead: list[tuple[Path, int]] = []
    live_containers = set()
    for log_path in logs:  # first find every live writer, so no container of theirs is marked crashed
        fd = try_lock(log_path)
        if fd is None:
            report.skipped.append(str(log_path))
            live_containers.add(container_of(log_path))
        else:
            dead.append((log_path, fd))
    for log_path, fd in dead:
        try:
            _fold_journal(store, log_path, fd)
            count, last_state = _replay(store, log_path)
            report.applied[str(log_path)] = count
            container = container_of(log_path)
            # its process died before stop(): crashed (an offline run too: it never had a heartbeat
            # that would show it, so it would stay "running" for ever)
            if last_state is None and container not in live_containers:
                _mark_crashed(store, container)
            for path in journal_files(_base(log_path)):  # before the log: it may hold what they held
                path.unlink()
            log_path.unlink()
        except (NaiadError, OSError, ValueError) as exc:
            report.failed[str(log_path)] = str(exc)
        finally:
            os.close(fd)
    if follow and offline:
        # an offline writer only ever appends to its log (no store to truncate it for), so the part
        # written so far can be stored while it runs; a live online writer stores its own batches
        for name in report.skipped:
            try:
                report.followed[name] = _replay(store, Path(name), live=True)[0]
            except FileNotFoundError:  # it finished and its log is gone: the next pass sees nothing
                pass
            except (NaiadError, OSError, ValueError) as exc:
                report.failed[name] = str(exc)
    return report


def _base(log_path: Path) -> Path:
    return log_path.with_name(log_path.name[:-len(".log")])


def _fold_journal(store: Store, log_path: Path, fd: int) -> None:
    """Append to the dead writer's log (open and locked as ``fd``) the ops of its journal that no batch
    of the log holds: the calls it made after its last flush."""
    dead = read_dead(_base(log_path))
    if dead is None:
        return
    last_seq = 0
    covered = [(0, dead.durable)]
    whole = 0  # the end of the last whole record: one the kill cut is cut off before appending
    try:
        for batch, end in read_with_ends(log_path):  # only the seq and span of each is kept
            last_seq = max(last_seq, batch.seq)
            if batch.span is not None:
                covered.append(batch.span)
            whole = end
    except ValueError:  # a damaged log: its replay stores what comes before the damage and says so;
        return          # the journal stays with it until the log can be read
    container = container_of(log_path)
    writer = log_path.name.split(".")[1]
    seq: int | None = None
    for ops, span in dead.pieces(covered):  # a segment at a time: memory stays bounded by one
        if seq is None:
            seq = max(last_seq, store.writer_seq(writer, container))
        seq += 1
        whole = append_to(fd, Batch(container, writer, seq, ops, span), whole)


def _replay(store: Store, log_path: Path, *, live: bool = False) -> tuple[int, str | None]:
    """Apply a log's batches in order: (batches applied, the last sys/state other than running).

    ``live``: the log's writer is still appending; only the batches the store lacks are sent, and
    the count says how many."""
    spool = Path(store.local_root) / "spool"  # files of remote-store writers, not uploaded yet
    spooled = spool.is_dir()
    count = 0
    last_state: str | None = None
    stored: dict[str, int] = {}
    for batch in read_records(log_path, live=live):
        if live:
            if batch.writer not in stored:
                stored[batch.writer] = store.writer_seq(batch.writer, batch.container)
            if batch.seq <= stored[batch.writer]:
                continue
        if spooled:
            upload_spooled(store.blobs, spool, batch)
        try:
            store.apply(batch)
        except Exception:
            fixed, dropped = O.without_unstorable(batch)  # one op no store takes: drop it, counted
            if not dropped:
                raise
            store.apply(fixed)
            batch = fixed
        count += 1
        for op in batch.ops:
            if op[0] == O.ASSIGN and op[1] == "sys/state" and op[3] != "running":
                last_state = op[3]
    return count, last_state


def _mark_crashed(store: Store, container: str) -> None:
    try:
        state = store.read_fields(container, ["sys/state"]).get("sys/state")
    except NaiadError:
        return
    if state is not None and state.value == "running":
        store.apply(Batch(container, "recovery-" + uuid.uuid4().hex, 1,
                          [(O.ASSIGN, "sys/state", F.STRING, "crashed")]))


__all__ = ["SyncReport", "recover_oplogs"]
