"""The blob spool: files a writer keeps in a local folder until the store holds them, and sending them
before the batch that refers to them (by the writer thread, and by the recovery of an op log)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.errors import FileError, IntegrityError, NotFoundError
from naiad.store.blobs import LocalBlobs
from naiad.store.remote import RemoteBlobs


class SpoolingBlobs:
    """The logger's side of the spool: ``put_file``/``put_bytes`` copy into the spool (a local,
    content-addressed blob folder), nothing more.

    A batch refers to its files by SHA-256.  With a blob store across a network (a naiad server, S3), the
    logger thread does not upload them: it copies each file into ``<local root>/spool/<sha256>`` while
    hashing it, writes the batch to the op log at once, and the applier uploads the spooled files before
    it applies the batch (``naiad sync`` does the same for logs it replays).  So the logger never waits
    on the network: a slow or long upload, or a server that is away, does not hold up the op log (what
    a crash can lose stays one flush period), and a file that cannot be uploaded yet waits on disk, the
    op log's counterpart for bytes, until the store has it.  Offline runs spool the same way.
    """

    def __init__(self, blobs: Any, spool: Path) -> None:
        self.blobs = blobs
        self.spool = spool
        self.local = LocalBlobs(spool)
        self.used = False  # something was spooled: batches must be checked before they are applied

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        self.used = True
        return self.local.put_file(path)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        self.used = True
        return self.local.put_bytes(data)

    def exists(self, digest: str) -> bool:
        """In the spool already (the logger never asks the network; uploading skips what the store has)."""
        return self.local.exists(digest)


def blob_refs(batch: Batch) -> Iterator[tuple[str, str]]:
    """``(hash, name)`` of the blobs the ops of ``batch`` refer to (files, file series, file sets)."""
    for op in batch.ops:
        if op[0] == O.ASSIGN and op[2] == F.FILE and isinstance(op[3], dict):
            yield str(op[3].get("hash")), str(op[3].get("name") or op[1])
        elif op[0] == O.POINTS and op[2] == F.FILE_SERIES:
            for raw in op[5]:
                try:
                    ref = json.loads(raw)
                    yield str(ref.get("hash")), str(ref.get("name") or op[1])
                except (ValueError, AttributeError, TypeError):
                    pass
        elif op[0] == O.FILES:
            for name, ref in op[2].items():
                if isinstance(ref, dict):
                    yield str(ref.get("hash")), str(name)
        elif op[0] == O.TRACK:  # dataset bytes stored with track_files(upload=True)
            for entry in op[2]:
                blob = entry.get("metadata", {}).get("blob") if isinstance(entry, dict) else None
                if blob:
                    yield str(blob), str(entry.get("file_path"))


_ASK_FIRST = 1 << 20  # bigger spooled files are sent only if the store lacks them (one HEAD request)


def upload_spooled(blobs: Any, spool: Path, batch: Batch) -> int:
    """Upload the spooled blobs ``batch`` refers to, so that the store holds them before the batch;
    each is removed from the spool once stored.  Returns how many were uploaded."""
    local = LocalBlobs(spool)
    spooled: dict[str, tuple[str, Path]] = {}
    for digest, name in dict(blob_refs(batch)).items():
        try:
            path = local.path_of(digest)
        except NotFoundError:  # not a blob hash: nothing of ours
            continue
        if path.is_file():  # else never spooled, or uploaded by another process since
            spooled[digest] = (name, path)
    if not spooled:
        return 0
    ask = getattr(blobs, "missing", None)  # a server answers for all of them in one request
    if ask is not None:
        absent = set(ask(list(spooled)))
    else:  # ask about big files only: a HEAD per small file would cost what sending it costs
        absent = {d for d, (_, p) in spooled.items() if p.stat().st_size <= _ASK_FIRST or not blobs.exists(d)}
    count = 0
    for digest, (name, path) in spooled.items():
        if digest not in absent:  # stored already: not sent again
            path.unlink(missing_ok=True)
            continue
        try:  # a progress bar shows the file's own name, not the spool's
            got, _ = (blobs.put_file(path, label=name) if isinstance(blobs, RemoteBlobs) else blobs.put_file(path))
        except FileError:
            if not path.exists() and blobs.exists(digest):  # another process uploaded it meanwhile
                continue
            raise
        if got != digest:
            raise IntegrityError(f"the spooled file {path} no longer has the content it was saved with "
                                 f"(SHA-256 {got}); the file it stands for cannot be stored.")
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        count += 1
    return count
