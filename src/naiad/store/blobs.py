"""Content-addressed blob storage: every file is stored once, under the SHA-256 of its bytes.

``LocalBlobs`` keeps blobs in a folder; ``naiad.store.s3blobs.S3Blobs`` in an S3 bucket.  Both take
large files in parts (``begin_upload`` → ``upload_part`` … → ``complete_upload``) with bounded memory;
the helpers here (digest and part checks) are shared by both so they refuse the same things the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from naiad.errors import FileError, IntegrityError, NotFoundError, RequestError
from naiad.store.base import MAX_PARTS, PART_SIZE

_BUF = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOCAL_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_PART_FILE = re.compile(r"part-(\d+)")


class BlobPieces(Iterator[bytes]):
    """Up to ``limit`` bytes of an open blob stream, in pieces of at most 1 MiB.

    The stream is closed when the last piece has been read, by ``close()`` (a server calls it when its
    client hangs up mid-download), or when the iterator is dropped unread; a handle left for the garbage
    collector to close would stay open for an unknown time and warn when it is finally closed.
    ``on_error`` turns an exception of the kinds in ``errors`` raised by a read into naiad's own error.
    """

    def __init__(self, stream: Any, limit: int, *, errors: tuple[type[BaseException], ...] = (),
                 on_error: Callable[[BaseException], NoReturn] | None = None) -> None:
        self._stream: Any = stream
        self._left = limit
        self._errors = errors
        self._on_error = on_error

    def __iter__(self) -> BlobPieces:
        return self

    def __next__(self) -> bytes:
        if self._stream is not None and self._left > 0:
            try:
                block: bytes = self._stream.read(min(_BUF, self._left))
            except BaseException as exc:
                self.close()
                if self._on_error is not None and isinstance(exc, self._errors):
                    self._on_error(exc)
                raise
            if block:
                self._left -= len(block)
                return block
        self.close()
        raise StopIteration

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def __del__(self) -> None:
        self.close()


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(_BUF):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


# ---------------------------------------------------------------- checks shared by the blob stores

def check_digest(digest: object) -> str:
    """``digest`` if it is a blob hash (64 lowercase hex digits); NotFoundError otherwise (no blob has that name)."""
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise NotFoundError(f"{digest!r} is not a blob hash (64 lowercase hex digits).")
    return digest


def check_new_upload(digest: object, size: object) -> None:
    """The arguments of ``begin_upload``: a SHA-256 hex digest (None: the hash is learnt at completion)
    and a size in bytes."""
    if digest is not None and (not isinstance(digest, str) or not _HEX64.fullmatch(digest)):
        raise RequestError(f"cannot begin an upload for {digest!r}: announce the SHA-256 of the whole file as "
                           "64 lowercase hex digits.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise RequestError(f"cannot begin an upload of {size!r} bytes: announce the file's size as an integer >= 0.")
    if size > MAX_PARTS * PART_SIZE:
        raise RequestError(f"cannot begin an upload of {size} bytes: a file is uploaded in at most {MAX_PARTS} parts "
                           f"of {PART_SIZE} bytes ({MAX_PARTS * PART_SIZE} bytes).", status=413)


def part_count(size: int) -> int:
    """Number of parts of an upload of ``size`` bytes: ``PART_SIZE`` each but the last (an empty file has one)."""
    return max(1, -(-size // PART_SIZE))


def expected_part_size(size: int, number: int) -> int:
    """Size part ``number`` must have in an upload of ``size`` bytes."""
    return min(PART_SIZE, size - number * PART_SIZE)


def check_part_number(upload_id: str, size: int, number: object) -> int:
    count = part_count(size)
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < count:
        raise RequestError(f"part {number!r} of upload {upload_id} is out of range: an upload of {size} bytes has "
                           f"parts 0 to {count - 1} ({PART_SIZE} bytes each but the last).")
    return number


def too_large_part(upload_id: str, number: int) -> RequestError:
    return RequestError(f"part {number} of upload {upload_id} is larger than {PART_SIZE} bytes; it was not "
                        f"stored. Send the file in parts of {PART_SIZE} bytes (the last may be shorter).")


def check_parts_complete(upload_id: str, size: int, parts: dict[int, int]) -> None:
    """Every part of the upload is there (RequestError naming the missing ones: the upload is kept)."""
    count = part_count(size)
    absent = count - sum(1 for n in parts if 0 <= n < count)
    if absent:  # named without listing every part number: an upload may have MAX_PARTS of them
        first = list(itertools.islice((n for n in range(count) if n not in parts), 20))
        shown = ", ".join(map(str, first)) + (f" … ({absent} in all)" if absent > len(first) else "")
        raise RequestError(f"upload {upload_id} cannot be completed yet: part(s) {shown} of {count} "
                           "have not arrived. Send them (uploaded_parts lists what the store has) and complete again.")


def part_layout_error(upload_id: str, digest: str, size: int, parts: dict[int, int]) -> IntegrityError | None:
    """An IntegrityError if the parts' sizes do not add up to the announced file, else None."""
    total = sum(parts.values())
    if total != size:
        return IntegrityError(
            f"upload {upload_id} of blob {digest} was announced as {size} bytes but its parts hold {total}; "
            "the upload is discarded. Begin a new upload with the file's real size.")
    for number, got in sorted(parts.items()):
        want = expected_part_size(size, number)
        if got != want:
            return IntegrityError(
                f"part {number} of upload {upload_id} has {got} bytes, but an upload of {size} bytes needs {want} "
                f"there (parts are {PART_SIZE} bytes but the last); the upload is discarded. Begin a new upload.")
    return None


def hash_mismatch(upload_id: str, digest: str, got: str) -> IntegrityError:
    return IntegrityError(
        f"upload {upload_id}: the joined parts have SHA-256 {got}, not the announced {digest}; the upload is "
        "discarded. A part was corrupted or sent for the wrong position: begin a new upload and send the file again.")


def check_range(start: object, end: object) -> None:
    if (isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int)
            or start < 0 or end < start):
        raise RequestError(f"byte range {start!r}..{end!r} is invalid: give 0 <= start <= end (end exclusive).")


def _remove(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class LocalBlobs:
    """Blobs in a folder: ``<root>/ab/cdef…`` (the first two hex digits fan the files out).

    Resumable uploads live in ``<root>/.uploads/<id>/`` (``upload.json`` plus one ``part-NNNNN`` file per
    part), so any process that shares the folder can continue an upload another one began.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_of(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).exists()

    def _missing(self, digest: str) -> NotFoundError:
        return NotFoundError(
            f"blob {digest} is missing from {self.root}; the store was copied without its blobs/ "
            "folder or the file was deleted."
        )

    def size(self, digest: str) -> int:
        try:
            return self.path_of(digest).stat().st_size
        except FileNotFoundError:
            raise self._missing(digest) from None

    def _place(self, tmp_name: str, digest: str) -> None:
        target = self.path_of(digest)
        if target.exists():
            os.unlink(tmp_name)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, target)

    def _tmp(self) -> tuple[int, str]:
        self.root.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=self.root, prefix=".incoming-")

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest, len(data)
        fd, tmp = self._tmp()
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        self._place(tmp, digest)
        return digest, len(data)

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Copy a file in while hashing it (one read); identical content is stored once."""
        digest = hashlib.sha256()
        size = 0
        fd, tmp = self._tmp()
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                while block := src.read(_BUF):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
        except OSError as exc:
            os.unlink(tmp)
            raise FileError(f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}") from exc
        self._place(tmp, digest.hexdigest())
        return digest.hexdigest(), size

    def open(self, digest: str) -> BinaryIO:
        path = self.path_of(digest)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise self._missing(digest) from None

    def read_range(self, digest: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; cut at the blob's end) in pieces of at most 1 MiB.

        The blob is opened at once, so a missing one raises NotFoundError before the first piece."""
        check_range(start, end)
        fh = self.open(digest)
        try:
            fh.seek(start)
        except BaseException:
            fh.close()
            raise
        return BlobPieces(fh, end - start)

    def copy_to(self, digest: str, dest: str | os.PathLike[str]) -> None:
        with self.open(digest) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _BUF)

    # ------------------------------------------------------------------ resumable uploads
    @property
    def _uploads(self) -> Path:
        return self.root / ".uploads"

    def _upload_dir(self, upload_id: str) -> Path:
        """The folder of an upload; NotFoundError for an id this store never gave out (checked before any
        path is built from it, so ``../..`` and friends never reach the file system)."""
        if not isinstance(upload_id, str) or not _LOCAL_UPLOAD_ID.fullmatch(upload_id):
            raise NotFoundError(f"{upload_id!r} is not an upload id of this store (they are 32 hex digits, as "
                                "begin_upload returns them); begin a new upload.")
        return self._uploads / upload_id

    def _unknown_upload(self, upload_id: str) -> NotFoundError:
        return NotFoundError(f"upload {upload_id} does not exist in {self.root}: it was completed or aborted, or "
                             "began in another store. Begin a new upload.")

    def _meta(self, upload_id: str, folder: Path | None = None) -> tuple[str | None, int]:
        folder = folder or self._upload_dir(upload_id)
        try:
            meta: Any = json.loads((folder / "upload.json").read_text())
            digest, size = meta["digest"], meta["size"]
        except FileNotFoundError:
            raise self._unknown_upload(upload_id) from None
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise NotFoundError(f"upload {upload_id} in {self.root} is damaged ({exc}); abort it and begin a "
                                "new upload.") from None
        return (None if digest is None else check_digest(digest)), int(size)

    def begin_upload(self, digest: str | None, size: int) -> str:
        """Start an upload of ``size`` bytes whose SHA-256 is ``digest`` (None: learnt when it completes);
        returns its id (32 hex digits)."""
        check_new_upload(digest, size)
        self._uploads.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        staging = Path(tempfile.mkdtemp(dir=self._uploads, prefix=".new-"))
        (staging / "upload.json").write_text(json.dumps({"digest": digest, "size": size}))
        os.replace(staging, self._uploads / upload_id)  # the upload appears with its metadata, never without
        return upload_id

    def upload_part(self, upload_id: str, number: int, chunks: Iterable[bytes]) -> int:
        """Stream part ``number`` (0-based) to its file, one piece at a time; returns its size.

        The part is written to a temporary file and renamed over any earlier copy, so a stream that breaks
        midway leaves the earlier copy (or none) and can simply be sent again."""
        folder = self._upload_dir(upload_id)
        _, size = self._meta(upload_id, folder)
        check_part_number(upload_id, size, number)
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".part-{number:05d}-")
        except FileNotFoundError:
            raise self._unknown_upload(upload_id) from None
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    written += len(chunk)
                    if written > PART_SIZE:
                        raise too_large_part(upload_id, number)
                    out.write(chunk)
            os.replace(tmp, folder / f"part-{number:05d}")
        except FileNotFoundError:
            _remove(tmp)
            raise self._unknown_upload(upload_id) from None
        except BaseException:
            _remove(tmp)
            raise
        return written

    def _parts(self, upload_id: str, folder: Path) -> dict[int, int]:
        parts: dict[int, int] = {}
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    match = _PART_FILE.fullmatch(entry.name)
                    if match:
                        parts[int(match.group(1))] = entry.stat().st_size
        except FileNotFoundError:
            raise self._unknown_upload(upload_id) from None
        return parts

    def uploaded_parts(self, upload_id: str) -> dict[int, int]:
        """``{part number: size}`` of the parts the store holds for this upload."""
        folder = self._upload_dir(upload_id)
        self._meta(upload_id, folder)
        return self._parts(upload_id, folder)

    def complete_upload(self, upload_id: str) -> tuple[str, int]:
        """Join the parts in order while hashing them, check size and SHA-256, publish the blob.

        Missing parts raise RequestError and keep the upload; a size or hash mismatch raises IntegrityError
        and discards it.  The upload folder is claimed by renaming it first, so two processes completing the
        same upload cannot both join it: the second gets NotFoundError."""
        folder = self._upload_dir(upload_id)
        digest, size = self._meta(upload_id, folder)
        parts = self._parts(upload_id, folder)
        check_parts_complete(upload_id, size, parts)
        claimed = self._uploads / f".completing-{upload_id}-{secrets.token_hex(4)}"
        try:
            os.rename(folder, claimed)
        except FileNotFoundError:
            raise self._unknown_upload(upload_id) from None
        try:
            parts = self._parts(upload_id, claimed)  # as they are now that nobody can replace them
            error = part_layout_error(upload_id, digest or "(hash unannounced)", size, parts)
            if error is not None:
                raise error
            fd, tmp = self._tmp()
            try:
                hasher = hashlib.sha256()
                with os.fdopen(fd, "wb") as out:
                    for number in sorted(parts):
                        with open(claimed / f"part-{number:05d}", "rb") as src:
                            while block := src.read(_BUF):
                                hasher.update(block)
                                out.write(block)
                if digest is not None and hasher.hexdigest() != digest:
                    raise hash_mismatch(upload_id, digest, hasher.hexdigest())
                digest = hasher.hexdigest()
                self._place(tmp, digest)
            except BaseException:
                _remove(tmp)
                raise
        except IntegrityError:
            shutil.rmtree(claimed, ignore_errors=True)
            raise
        except BaseException:
            try:  # not the client's fault (disk full…): give the upload back so it can be completed again
                os.rename(claimed, folder)
            except OSError:
                pass
            raise
        shutil.rmtree(claimed, ignore_errors=True)
        return digest, size

    def abort_upload(self, upload_id: str) -> None:
        """Drop an upload and its parts."""
        folder = self._upload_dir(upload_id)
        self._meta(upload_id, folder)
        doomed = self._uploads / f".aborting-{upload_id}-{secrets.token_hex(4)}"
        try:
            os.rename(folder, doomed)
        except FileNotFoundError:
            raise self._unknown_upload(upload_id) from None
        shutil.rmtree(doomed, ignore_errors=True)
