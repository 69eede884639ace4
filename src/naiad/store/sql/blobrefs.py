"""Which containers refer to which blob: what a server authorizes a file read by.

A blob is content-addressed and shared by every container that stores the same bytes, so a hash alone
says nothing about who may read it.  Each write of a File, FileSet, FileSeries point or uploaded
Artifact entry notes ``(hash, container)`` here, in the same transaction; a server lets an account
read (or learn the existence of) a blob only when a container of a project it can see refers to it.
A reference outlives the field that made it (a field deleted later still counted once): it never
opens a file to an account that could not have read it when it was written.

Resumable uploads a server began are kept here too: whose each one is, so that no other account can
read its state, add parts, complete or abort it, and when, so that abandoned ones expire.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.store.chunks import decode_chunk
from naiad.store.sql.base import Conn

if TYPE_CHECKING:
    from naiad.store.sql.catalog import Catalog


def hashes_of(op: O.Op) -> list[str]:
    """The blob hashes an op (as applied) refers to."""
    kind = op[0]
    refs: list[Any] = []
    if kind == O.ASSIGN and op[2] == F.FILE:
        refs = [op[3]]
    elif kind == O.POINTS and op[2] == F.FILE_SERIES:
        refs = [_json(raw) for raw in op[5]]
    elif kind == O.FILES and isinstance(op[2], dict):
        refs = list(op[2].values())
    elif kind == O.TRACK:
        refs = [{"hash": (e.get("metadata") or {}).get("blob")} for e in op[2] if isinstance(e, dict)]
    return [str(r["hash"]) for r in refs if isinstance(r, dict) and isinstance(r.get("hash"), str) and r["hash"]]


def note(conn: Conn, cid: int, hashes: list[str]) -> None:
    if hashes:
        conn.executemany("INSERT INTO blob_refs(hash, cid) VALUES (?, ?) ON CONFLICT DO NOTHING",
                         [(h, cid) for h in sorted(set(hashes))])


def index_blob_refs(conn: Conn) -> int:
    """Fill the index from what is stored (a store made before it): File, FileSet and Artifact fields,
    and every point of every file series.  Returns the number of references noted."""
    count = 0
    for cid, ftype, txt in conn.execute("SELECT cid, type, txt FROM fields WHERE type IN (?, ?, ?) AND txt IS NOT NULL",
                                        (F.FILE, F.FILE_SET, F.ARTIFACT)).fetchall():
        value = _json(txt)
        if ftype == F.FILE:
            refs = [value]
        elif ftype == F.FILE_SET:
            refs = list(value.values()) if isinstance(value, dict) else []
        else:
            files = value.get("files", []) if isinstance(value, dict) else []
            refs = [{"hash": (e.get("metadata") or {}).get("blob")} for e in files if isinstance(e, dict)]
        hashes = [str(r["hash"]) for r in refs if isinstance(r, dict) and r.get("hash")]
        note(conn, int(cid), hashes)
        count += len(hashes)
    for cid, sid in conn.execute("SELECT cid, sid FROM series WHERE type = ?", (F.FILE_SERIES,)).fetchall():
        hashes = []
        for (data,) in conn.execute("SELECT data FROM chunks WHERE sid = ? ORDER BY seq", (sid,)).fetchall():
            hashes += [str(r["hash"]) for r in map(_json, decode_chunk(bytes(data))[2])
                       if isinstance(r, dict) and r.get("hash")]
        note(conn, int(cid), hashes)
        count += len(hashes)
    return count


def blob_projects(store: Catalog, digests: list[str]) -> dict[str, set[str]]:
    """For each digest, the projects with a container that refers to it (none: no one's file)."""
    out: dict[str, set[str]] = {d: set() for d in digests}
    if not digests:
        return out
    in_sql, params = store._in("r.hash", sorted(set(digests)))
    for digest, project in store.conn().execute(
            "SELECT DISTINCT r.hash, p.name FROM blob_refs r JOIN containers c ON c.cid = r.cid "
            f"JOIN projects p ON p.id = c.project_id WHERE {in_sql}", params).fetchall():
        out[str(digest)].add(str(project))
    return out


def note_claim(store: Catalog, digest: str, account: str) -> None:
    """``account`` sent the bytes of ``digest`` (so it may refer to them wherever else they are stored)."""
    with store._tx() as conn:
        conn.execute("INSERT INTO blob_claims(hash, account, claimed) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                     (digest, account, time.time()))


def claimed(store: Catalog, digests: list[str], account: str) -> set[str]:
    if not digests:
        return set()
    in_sql, params = store._in("hash", sorted(set(digests)))
    return {str(r[0]) for r in store.conn().execute(
        f"SELECT hash FROM blob_claims WHERE account = ? AND {in_sql}", [account, *params]).fetchall()}


# ------------------------------------------------------------------------------------------ uploads
def note_upload(store: Catalog, upload_id: str, account: str) -> None:
    with store._tx() as conn:
        conn.execute("INSERT INTO blob_uploads(upload_id, account, created) VALUES (?, ?, ?) "
                     "ON CONFLICT DO NOTHING", (upload_id, account, time.time()))


def upload_owner(store: Catalog, upload_id: str) -> str | None:
    row = store.conn().execute("SELECT account FROM blob_uploads WHERE upload_id = ?", (upload_id,)).fetchone()
    return None if row is None else str(row[0])


def forget_upload(store: Catalog, upload_id: str) -> None:
    with store._tx() as conn:
        conn.execute("DELETE FROM blob_uploads WHERE upload_id = ?", (upload_id,))


def expired_uploads(store: Catalog, before: float) -> list[str]:
    return [str(r[0]) for r in store.conn().execute(
        "SELECT upload_id FROM blob_uploads WHERE created < ? ORDER BY created LIMIT 100", (before,)).fetchall()]


def _json(raw: Any) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None
