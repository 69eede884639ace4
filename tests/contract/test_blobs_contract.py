"""Store contract for blobs: content-addressed, stored once, copied out byte for byte."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from naiad.errors import NotFoundError
from naiad.store.base import Store


def test_put_bytes_returns_sha256_and_size(store: Store) -> None:
    data = b"hello naiad\n"
    assert store.blobs.put_bytes(data) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.blobs.exists(hashlib.sha256(data).hexdigest())


def test_put_empty_bytes_is_a_blob_too(store: Store, tmp_path: Path) -> None:
    digest, size = store.blobs.put_bytes(b"")
    assert (digest, size) == (hashlib.sha256(b"").hexdigest(), 0)
    store.blobs.copy_to(digest, str(tmp_path / "empty"))
    assert (tmp_path / "empty").read_bytes() == b""


def test_put_file_returns_sha256_and_size(store: Store, tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several read buffers and a ragged end
    src = tmp_path / "weights.bin"
    src.write_bytes(data)
    assert store.blobs.put_file(str(src)) == (hashlib.sha256(data).hexdigest(), len(data))


def test_identical_content_is_stored_once_under_one_hash(store: Store, tmp_path: Path) -> None:
    data = b"same bytes" * 1000
    (tmp_path / "a").write_bytes(data)
    (tmp_path / "b").write_bytes(data)
    results = {store.blobs.put_bytes(data), store.blobs.put_file(str(tmp_path / "a")),
               store.blobs.put_file(str(tmp_path / "b")), store.blobs.put_bytes(data)}
    assert results == {(hashlib.sha256(data).hexdigest(), len(data))}
    other = store.blobs.put_bytes(data + b"!")
    assert other[0] != hashlib.sha256(data).hexdigest()


def test_copy_to_round_trips_the_bytes(store: Store, tmp_path: Path) -> None:
    data = os.urandom(1 << 20) + bytes(range(256))
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    digest, _ = store.blobs.put_file(str(src))
    src.unlink()  # the store keeps its own copy
    dest = tmp_path / "out.bin"
    store.blobs.copy_to(digest, str(dest))
    assert dest.read_bytes() == data
    digest2, _ = store.blobs.put_bytes(b"small")
    store.blobs.copy_to(digest2, str(dest))  # an existing destination is overwritten
    assert dest.read_bytes() == b"small"


def test_a_missing_blob_raises_not_found(store: Store, tmp_path: Path) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert store.blobs.exists(absent) is False
    with pytest.raises(NotFoundError):
        store.blobs.copy_to(absent, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
