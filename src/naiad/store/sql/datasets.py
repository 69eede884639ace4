"""The datasets index: which Artifact field of which container holds which dataset version (its
manifest's hash), kept in step with every write of such a field; where a version is used, and its
manifest."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from naiad.core import fields as F
from naiad.errors import InvalidValueError, NotFoundError
from naiad.store.base import DatasetUse
from naiad.store.sql.base import Conn

if TYPE_CHECKING:
    from naiad.store.sql.catalog import Catalog


def summary(value: dict[str, Any]) -> tuple[str, int, int]:
    files = value.get("files") or []
    return str(value.get("hash", "")), len(files), sum(int(e.get("size") or 0) for e in files)


def note_dataset(conn: Conn, cid: int, pid: int, value: Any) -> None:
    """Index an Artifact field's dataset version (called whenever one is written)."""
    if not isinstance(value, dict) or not value.get("hash"):
        conn.execute("DELETE FROM dataset_uses WHERE cid=? AND pid=?", (cid, pid))
        return
    digest, files, size = summary(value)
    conn.execute("INSERT INTO dataset_uses(cid, pid, hash, files, bytes) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT(cid, pid) DO UPDATE SET hash=excluded.hash, files=excluded.files, "
                 "bytes=excluded.bytes", (cid, pid, digest, files, size))


def index_datasets(conn: Conn) -> None:
    """Fill the datasets index from the Artifact fields already stored (a store made before it)."""
    rows = conn.execute("SELECT cid, pid, txt FROM fields WHERE type = ? AND txt IS NOT NULL",
                        (F.ARTIFACT,)).fetchall()
    for cid, pid, txt in rows:
        note_dataset(conn, int(cid), int(pid), json.loads(txt))


def dataset_uses(store: Catalog, project: str, digest: str | None) -> list[DatasetUse]:
    proj = store.get_project(project)
    sql = ("SELECT d.hash, d.files, d.bytes, c.short_id, c.kind, p.path, c.created FROM dataset_uses d "
           "JOIN containers c ON c.cid = d.cid JOIN paths p ON p.pid = d.pid WHERE c.project_id = ?")
    params: list[Any] = [proj.id]
    if digest:
        if not re.fullmatch(r"[0-9a-f]{1,64}", digest):
            raise InvalidValueError(f"{digest!r} is not a dataset hash (hexadecimal, as `naiad datasets ls` "
                                    "shows it).")
        sql += " AND substr(d.hash, 1, ?) = ?"
        params += [len(digest), digest]
    rows = store.conn().execute(sql + " ORDER BY c.created, c.short_id, p.path", params).fetchall()
    return [DatasetUse(r[0], int(r[1]), int(r[2]), r[3], r[4], r[5], float(r[6])) for r in rows]


def dataset_manifest(store: Catalog, project: str, digest: str) -> list[dict[str, Any]]:
    """The manifest of dataset version ``digest`` (a full hash) as one of its fields holds it."""
    proj = store.get_project(project)
    # the same hash is the same files; a use that stored the bytes (upload=True) says where they are
    row = store.conn().execute(
        "SELECT f.txt FROM dataset_uses d JOIN containers c ON c.cid = d.cid "
        "JOIN fields f ON f.cid = d.cid AND f.pid = d.pid WHERE c.project_id = ? AND d.hash = ? "
        "ORDER BY CASE WHEN f.txt LIKE ? THEN 0 ELSE 1 END LIMIT 1",
        (proj.id, digest, '%"blob":%')).fetchone()
    if row is None:
        raise NotFoundError(f"no dataset version {digest[:12]} in project {proj.name!r}; list them with "
                                f"`naiad datasets ls --project {proj.name}`.")
    files: list[dict[str, Any]] = json.loads(row[0]).get("files", [])
    return files


def put_manifest(store: Catalog, project: str, digest: str, files: list[dict[str, Any]]) -> None:
    """Keep a manifest announced under ``digest`` (a client's own hash) until a field names it."""
    proj = store.get_project(project)
    with store._tx() as conn:
        conn.execute("INSERT INTO manifests(project_id, hash, files, created) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT(project_id, hash) DO UPDATE SET files=excluded.files",
                     (proj.id, digest, json.dumps(files, sort_keys=True), time.time()))


def get_manifest(store: Catalog, project: str, digest: str) -> list[dict[str, Any]] | None:
    """A manifest announced under ``digest``, or the one a field of the project holds with that hash."""
    proj = store.get_project(project)
    row = store.conn().execute("SELECT files FROM manifests WHERE project_id=? AND hash=?",
                               (proj.id, digest)).fetchone()
    if row is not None:
        return list(json.loads(row[0]))
    try:
        return dataset_manifest(store, project, digest)
    except (NotFoundError, InvalidValueError):
        return None
