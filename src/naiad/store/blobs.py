"""Content-addressed blob storage: every file is stored once, under the SHA-256 of its bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from naiad.errors import FileError, NotFoundError

_BUF = 1 << 20


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(_BUF):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class LocalBlobs:
    """Blobs in a folder: ``<root>/ab/cdef…`` (the first two hex digits fan the files out)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_of(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise NotFoundError(f"{digest!r} is not a blob hash (64 lowercase hex digits).")
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).exists()

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
            raise NotFoundError(
                f"blob {digest} is missing from {self.root}; the store was copied without its blobs/ "
                "folder or the file was deleted."
            ) from None

    def copy_to(self, digest: str, dest: str | os.PathLike[str]) -> None:
        with self.open(digest) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _BUF)
