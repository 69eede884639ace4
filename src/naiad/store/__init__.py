"""Stores, chosen by URI: a folder path is the embedded store (SQLite + blob folder).

``open_store`` also finishes what crashed writers left behind: op logs whose process is gone are
replayed into the store (at most once per batch) and deleted.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from naiad import fields as F
from naiad import ops as O
from naiad.config import SETTINGS
from naiad.errors import ConfigError, NaiadError
from naiad.oplog import container_of, read_records, try_lock
from naiad.ops import Batch
from naiad.store.base import BlobStore, Store
from naiad.store.blobs import LocalBlobs
from naiad.store.sqlite import SqliteStore

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def open_store(uri: str, *, recover: bool = True) -> Store:
    """The store at ``uri`` (cached per process); replays op logs of dead writers when ``recover``.

    ``uri`` is a folder (the embedded store), ``http(s)://host:port`` (a naiad server; token from
    NAIAD_API_TOKEN) or ``postgresql://…`` (a team catalog used directly; files in NAIAD_BLOBS).
    """
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        key = uri.rstrip("/")
    elif scheme in ("postgresql", "postgres"):
        key = uri
    elif scheme in ("", "file"):
        key = os.path.abspath(uri[len("file://"):] if scheme == "file" else uri)
    else:
        raise ConfigError(f"NAIAD_URI={uri!r}: {scheme}:// is not a store naiad knows; use a folder (the "
                          "embedded store, default ./.naiad), http(s)://host:port (a naiad server) or "
                          "postgresql://user@host/db.")
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = _make_store(scheme, key)
            if recover:
                recover_oplogs(store)
    return store


def _make_store(scheme: str, key: str) -> Store:
    if scheme in ("http", "https"):
        from naiad.store.remote import RemoteStore

        return RemoteStore(key)
    if scheme in ("postgresql", "postgres"):
        from naiad.store.postgres import PostgresStore, redact

        return PostgresStore(key, open_blobs(SETTINGS.blobs.get(), for_uri=redact(key)))
    return SqliteStore(key)


def open_blobs(location: str, *, for_uri: str = "") -> BlobStore:
    """The blob store at ``location``: ``s3://bucket/prefix`` or a folder."""
    if not location:
        raise ConfigError(f"the store {for_uri or 'in use'} keeps files elsewhere: set NAIAD_BLOBS (or "
                          "--blobs) to s3://bucket/prefix or a folder.")
    if location.startswith("s3://"):
        from naiad.store.s3blobs import S3Blobs

        return S3Blobs(location)
    return LocalBlobs(location)


def forget_store(uri: str) -> None:
    """Drop a store from the per-process cache (a throw-away debug store being deleted)."""
    with _lock:
        store = _stores.pop(uri, None) or _stores.pop(os.path.abspath(uri), None)
    if store is not None:
        store.close()


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
            count, last_state = _replay(store, log_path)
            report.applied[str(log_path)] = count
            container = container_of(log_path)
            # its process died before stop(): crashed (an offline run too: it never had a heartbeat
            # that would show it, so it would stay "running" for ever)
            if last_state is None and container not in live_containers:
                _mark_crashed(store, container)
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


def _replay(store: Store, log_path: Path, *, live: bool = False) -> tuple[int, str | None]:
    """Apply a log's batches in order: (batches applied, the last sys/state other than running).

    ``live``: the log's writer is still appending; only the batches the store lacks are sent, and
    the count says how many."""
    from naiad.writer import upload_spooled

    spool = Path(store.local_root) / "spool"  # files of remote-store writers, not uploaded yet
    spooled = spool.is_dir()
    count = 0
    last_state: str | None = None
    stored: dict[str, int] = {}
    for batch in read_records(log_path, live=live):
        if live:
            if batch.writer not in stored:
                stored[batch.writer] = store.writer_seq(batch.writer)
            if batch.seq <= stored[batch.writer]:
                continue
        if spooled:
            upload_spooled(store.blobs, spool, batch)
        store.apply(batch)
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
        import uuid

        store.apply(Batch(container, "recovery-" + uuid.uuid4().hex, 1,
                          [(O.ASSIGN, "sys/state", F.STRING, "crashed")]))


__all__ = ["SqliteStore", "Store", "SyncReport", "forget_store", "open_blobs", "open_store", "recover_oplogs"]
