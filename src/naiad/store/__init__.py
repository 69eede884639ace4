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
from naiad.errors import ConfigError, NaiadError
from naiad.oplog import container_of, read_records, try_lock
from naiad.ops import Batch
from naiad.store.base import Store
from naiad.store.sqlite import SqliteStore

_stores: dict[str, SqliteStore] = {}
_lock = threading.Lock()


def open_store(uri: str, *, recover: bool = True) -> SqliteStore:
    """The store at ``uri`` (cached per process); replays op logs of dead writers when ``recover``."""
    if "://" in uri and not uri.startswith("file://"):
        scheme = uri.split("://", 1)[0]
        raise ConfigError(f"NAIAD_URI={uri!r}: the {scheme}:// store is not available in this version; "
                          "use a folder path for the embedded store (default ./.naiad).")
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    key = os.path.abspath(path)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = SqliteStore(key)
            if recover:
                recover_oplogs(store)
    return store


def forget_store(uri: str) -> None:
    """Drop a store from the per-process cache (a throw-away debug store being deleted)."""
    with _lock:
        store = _stores.pop(os.path.abspath(uri), None)
    if store is not None:
        store.close()


@dataclass
class SyncReport:
    """What ``naiad sync`` / recovery did to each op log."""

    applied: dict[str, int] = field(default_factory=dict)    # log file → batches applied
    skipped: list[str] = field(default_factory=list)         # logs of live writers
    failed: dict[str, str] = field(default_factory=dict)     # log file → error


def recover_oplogs(store: SqliteStore, *, offline: bool = False, only: set[str] | None = None,
                   progress: object = None) -> SyncReport:
    """Replay the op logs of writers that are gone (``offline``: the offline runs' logs).

    Each log is applied batch by batch; batches the store already holds are skipped, so a log can be
    replayed any number of times.  A run whose writer died without stopping it is marked crashed.
    One broken log does not stop the others.
    """
    report = SyncReport()
    folder = Path(store.uri) / ("offline" if offline else "oplog")
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
            if last_state is None and container not in live_containers and not offline:
                _mark_crashed(store, container)
            log_path.unlink()
        except (NaiadError, OSError, ValueError) as exc:
            report.failed[str(log_path)] = str(exc)
        finally:
            os.close(fd)
    return report


def _replay(store: Store, log_path: Path) -> tuple[int, str | None]:
    count = 0
    last_state: str | None = None
    for batch in read_records(log_path):
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


__all__ = ["SqliteStore", "Store", "SyncReport", "forget_store", "open_store", "recover_oplogs"]
