"""SHA-256 of local files, remembered by what ``stat`` says, so unchanged data is not read twice.

Tracking a dataset folder hashes every file once; after that a file whose device, inode, size,
mtime and ctime are unchanged takes its hash from the cache (``NAIAD_HASH_CACHE``, default
``~/.cache/naiad/hashes.db``; ``off`` disables it).  ctime cannot be set back by a user, so a file
rewritten with its old mtime restored is still hashed again.  Files the cache does not know are
hashed in parallel threads (hashlib releases the GIL), 1 MiB at a time.  A cache that cannot be
opened or written is skipped: hashing is then slower, never wrong and never an error.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from naiad.config import SETTINGS
from naiad.store.blobs import hash_file

_lock = threading.Lock()


@dataclass
class HashReport:
    """What :func:`hash_files` did: how many files it read and how many it took from the cache."""

    hashed: int = 0
    cached: int = 0
    bytes_read: int = 0


def cache_path() -> Path | None:
    value = SETTINGS.hash_cache.get()
    if value.lower() in ("off", "0", "none", "false"):
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "naiad" / "hashes.db"


def _open(path: Path) -> sqlite3.Connection | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=5, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS hashes (dev INTEGER, ino INTEGER, size INTEGER, "
                     "mtime INTEGER, ctime INTEGER, sha256 TEXT NOT NULL, "
                     "PRIMARY KEY (dev, ino, size, mtime, ctime)) WITHOUT ROWID")
        return conn
    except (OSError, sqlite3.Error):
        return None


def _key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def hash_files(paths: list[str], *, threads: int | None = None) -> tuple[list[tuple[str, int]], HashReport]:
    """``(sha256, size)`` of each file, in order, and what was read versus remembered."""
    report = HashReport()
    stats = [os.stat(p) for p in paths]
    keys = [_key(st) for st in stats]
    found: dict[tuple[int, int, int, int, int], str] = {}
    where = cache_path()
    conn = _open(where) if where is not None else None
    if conn is not None:
        try:
            for start in range(0, len(keys), 400):  # a few queries, not one per file
                part = keys[start:start + 400]
                clause = " OR ".join(["(dev=? AND ino=? AND size=? AND mtime=? AND ctime=?)"] * len(part))
                params = [v for k in part for v in k]
                for row in conn.execute(f"SELECT dev, ino, size, mtime, ctime, sha256 FROM hashes WHERE {clause}",
                                        params):
                    found[tuple(row[:5])] = row[5]
        except sqlite3.Error:
            found = {}
    todo = [i for i, k in enumerate(keys) if k not in found]
    results: list[tuple[str, int] | None] = [None] * len(paths)
    for i, k in enumerate(keys):
        if k in found:
            results[i] = (found[k], stats[i].st_size)
    report.cached = len(paths) - len(todo)
    if todo:
        workers = threads or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, got in zip(todo, pool.map(lambda j: hash_file(paths[j]), todo), strict=True):
                results[i] = got
                report.bytes_read += got[1]
        report.hashed = len(todo)
        if conn is not None:
            fresh = []
            for i in todo:
                after = _key(os.stat(paths[i]))
                if after == keys[i]:  # unchanged while it was read: the hash is the file's
                    fresh.append((*keys[i], results[i][0]))  # type: ignore[index]
            try:
                with _lock:
                    conn.execute("BEGIN")
                    conn.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?)", fresh)
                    conn.execute("COMMIT")
            except sqlite3.Error:
                pass
    if conn is not None:
        conn.close()
    return [r for r in results if r is not None], report
