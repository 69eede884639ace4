"""The blob stores themselves: every test runs on a folder (``LocalBlobs``) and on a bucket (``S3Blobs``).

The S3 store talks over HTTP to moto's ``moto_server`` (``s3_endpoint`` in conftest.py), a fresh bucket per
test, exactly as it would talk to MinIO or AWS.  Resumable uploads are driven the way a server drives them:
parts as streams of byte pieces, in any order, resent after a broken connection, continued by another
instance (or another process) than the one that began them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from conftest import free_port, run_script
from naiad.errors import ConfigError, FileError, IntegrityError, NotFoundError, RequestError, StoreUnavailableError
from naiad.store.base import PART_SIZE, BlobStore
from naiad.store.blobs import LocalBlobs
from naiad.store.s3blobs import S3Blobs

MiB = 1 << 20
Factory = Callable[[], BlobStore]
_admins: dict[str, Any] = {}


def admin(endpoint: str) -> Any:
    """The test's own S3 client (one per endpoint: making clients is slow), to set up and inspect buckets."""
    if endpoint not in _admins:
        _admins[endpoint] = boto3.session.Session().client("s3", endpoint_url=endpoint)
    return _admins[endpoint]


@pytest.fixture(params=["local", "s3"])
def make_blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    """``make_blobs()`` → a new instance on one and the same store (a folder, or a fresh bucket's prefix)."""
    if request.param == "local":
        root = tmp_path / "blobs"
        return lambda: LocalBlobs(root)
    endpoint: str = request.getfixturevalue("s3_env")
    bucket = f"naiad-blobs-{uuid.uuid4().hex[:12]}"
    admin(endpoint).create_bucket(Bucket=bucket)
    return lambda: S3Blobs(f"s3://{bucket}/team/store", endpoint_url=endpoint)


@pytest.fixture
def blobs(make_blobs: Factory) -> BlobStore:
    return make_blobs()


@pytest.fixture(scope="module")
def three_parts() -> bytes:
    """Two full parts and a ragged last one."""
    return os.urandom(2 * PART_SIZE + 12345)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def part(data: bytes, number: int) -> bytes:
    return data[number * PART_SIZE:(number + 1) * PART_SIZE]


def pieces(data: bytes, size: int = MiB) -> Iterator[bytes]:
    """A part as it arrives from a connection: a stream of pieces."""
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start:start + size])


def broken(data: bytes, after: int) -> Iterator[bytes]:
    """A stream that breaks after ``after`` bytes, as a dropped client connection does."""
    yield data[:after]
    raise ConnectionResetError("client went away")


def leftovers(blobs: BlobStore) -> list[str]:
    """What a store holds besides its blobs: upload state, staging objects, temporary files."""
    if isinstance(blobs, LocalBlobs):
        if not blobs.root.exists():
            return []
        return sorted(str(p.relative_to(blobs.root)) for p in blobs.root.rglob("*")
                      if p.is_file() and (p.name.startswith(".") or ".uploads" in p.parts))
    assert isinstance(blobs, S3Blobs)
    assert blobs.endpoint_url is not None
    client = admin(blobs.endpoint_url)
    objects = client.list_objects_v2(Bucket=blobs.bucket).get("Contents", [])
    pending = client.list_multipart_uploads(Bucket=blobs.bucket).get("Uploads", [])
    return sorted([o["Key"] for o in objects if "/blobs/" not in o["Key"]] + [f"multipart:{u['Key']}" for u in pending])


# ---------------------------------------------------------------- whole blobs

def test_put_bytes_then_exists_size_open_read_range_and_copy_to(blobs: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(2 * MiB + 300)
    digest, size = blobs.put_bytes(data)
    assert (digest, size) == (sha(data), len(data))
    assert blobs.exists(digest) and blobs.size(digest) == len(data)
    with blobs.open(digest) as fh:
        assert fh.read() == data
    got = list(blobs.read_range(digest, 0, len(data)))
    assert b"".join(got) == data and len(got) >= 3 and all(len(p) <= MiB for p in got)
    assert b"".join(blobs.read_range(digest, 5, MiB + 7)) == data[5:MiB + 7]
    assert b"".join(blobs.read_range(digest, len(data) - 3, len(data) + 100)) == data[-3:]  # cut at the end
    assert list(blobs.read_range(digest, len(data), len(data) + 5)) == []
    assert list(blobs.read_range(digest, 9, 9)) == []
    blobs.copy_to(digest, tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == data
    assert blobs.put_bytes(data) == (digest, len(data))  # stored once


def test_put_file_streams_a_file_in_and_identical_content_is_stored_once(blobs: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(PART_SIZE + 3 * MiB + 17)  # past boto3's multipart threshold
    (tmp_path / "a.bin").write_bytes(data)
    (tmp_path / "b.bin").write_bytes(data)
    assert blobs.put_file(tmp_path / "a.bin") == (sha(data), len(data))
    assert blobs.put_file(str(tmp_path / "b.bin")) == (sha(data), len(data))
    assert blobs.put_bytes(data) == (sha(data), len(data))
    (tmp_path / "a.bin").unlink()
    blobs.copy_to(sha(data), tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data
    with pytest.raises(FileError, match=r"cannot read .*no-such-file"):
        blobs.put_file(tmp_path / "no-such-file")
    assert leftovers(blobs) == []


def test_empty_content_is_a_blob(blobs: BlobStore, tmp_path: Path) -> None:
    digest, size = blobs.put_bytes(b"")
    assert (digest, size, blobs.size(digest)) == (sha(b""), 0, 0)
    assert list(blobs.read_range(digest, 0, 10)) == []
    blobs.copy_to(digest, tmp_path / "empty")
    assert (tmp_path / "empty").read_bytes() == b""


def test_a_missing_blob_raises_not_found_everywhere_and_nothing_is_written(blobs: BlobStore, tmp_path: Path) -> None:
    absent = sha(b"never stored")
    assert blobs.exists(absent) is False
    with pytest.raises(NotFoundError, match=f"blob {absent} is missing"):
        blobs.size(absent)
    with pytest.raises(NotFoundError, match=f"blob {absent} is missing"):
        blobs.open(absent)
    with pytest.raises(NotFoundError, match=f"blob {absent} is missing"):
        blobs.read_range(absent, 0, 10)  # at the call, before the first piece: a server can still answer 404
    with pytest.raises(NotFoundError, match=f"blob {absent} is missing"):
        blobs.copy_to(absent, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    for bad in ("../../etc/passwd", absent.upper(), absent[:-1]):
        with pytest.raises(NotFoundError, match="is not a blob hash"):
            blobs.open(bad)


def test_a_byte_range_must_run_forwards(blobs: BlobStore) -> None:
    digest, _ = blobs.put_bytes(b"0123456789")
    for start, end in ((-1, 5), (6, 5)):
        with pytest.raises(RequestError, match=r"byte range .* is invalid"):
            blobs.read_range(digest, start, end)


# ---------------------------------------------------------------- resumable uploads

def test_an_upload_in_three_parts_publishes_the_blob(blobs: BlobStore, three_parts: bytes) -> None:
    data = three_parts
    upload = blobs.begin_upload(sha(data), len(data))
    assert blobs.uploaded_parts(upload) == {}
    assert blobs.upload_part(upload, 0, pieces(part(data, 0))) == PART_SIZE
    assert blobs.upload_part(upload, 1, pieces(part(data, 1))) == PART_SIZE
    assert blobs.uploaded_parts(upload) == {0: PART_SIZE, 1: PART_SIZE}
    assert not blobs.exists(sha(data))  # nothing visible before the hash is checked
    assert blobs.upload_part(upload, 2, pieces(part(data, 2))) == 12345
    assert blobs.uploaded_parts(upload) == {0: PART_SIZE, 1: PART_SIZE, 2: 12345}
    assert blobs.complete_upload(upload) == (sha(data), len(data))
    assert blobs.size(sha(data)) == len(data)
    with blobs.open(sha(data)) as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == sha(data)
    assert leftovers(blobs) == []
    with pytest.raises(NotFoundError, match="does not exist"):
        blobs.uploaded_parts(upload)


def test_an_upload_announced_without_a_hash_is_named_by_what_arrived(blobs: BlobStore,
                                                                     three_parts: bytes) -> None:
    """The neptune client announces a size, not a hash: the blob is named when the parts are joined."""
    data = three_parts
    upload = blobs.begin_upload(None, len(data))
    for number in (1, 0, 2):
        blobs.upload_part(upload, number, pieces(part(data, number)))
    assert blobs.complete_upload(upload) == (sha(data), len(data))
    assert blobs.size(sha(data)) == len(data) and leftovers(blobs) == []
    short = blobs.begin_upload(None, len(data))  # the size is still checked
    blobs.upload_part(short, 0, pieces(part(data, 0)))
    blobs.upload_part(short, 1, pieces(part(data, 1)))
    blobs.upload_part(short, 2, pieces(part(data, 2)[:-1]))
    with pytest.raises(IntegrityError, match="announced as"):
        blobs.complete_upload(short)
    assert leftovers(blobs) == []


def test_parts_may_arrive_in_any_order(blobs: BlobStore, three_parts: bytes) -> None:
    data = three_parts
    upload = blobs.begin_upload(sha(data), len(data))
    for number in (2, 0, 1):
        blobs.upload_part(upload, number, pieces(part(data, number), 300_000))
    assert blobs.complete_upload(upload) == (sha(data), len(data))
    assert b"".join(blobs.read_range(sha(data), PART_SIZE - 10, PART_SIZE + 10)) == data[PART_SIZE - 10:PART_SIZE + 10]


def test_a_part_broken_midway_is_sent_again_and_a_resent_part_replaces_the_first(
        blobs: BlobStore, three_parts: bytes) -> None:
    data = three_parts
    upload = blobs.begin_upload(sha(data), len(data))
    blobs.upload_part(upload, 0, pieces(part(data, 0)))
    with pytest.raises(ConnectionResetError):
        blobs.upload_part(upload, 1, broken(part(data, 1), 3 * MiB))
    assert blobs.uploaded_parts(upload) == {0: PART_SIZE}  # the broken part left nothing behind
    # part 2 arrives corrupted, then again correctly; and a broken resend keeps the copy there is
    blobs.upload_part(upload, 2, [bytes(12345)])
    blobs.upload_part(upload, 2, pieces(part(data, 2)))
    with pytest.raises(ConnectionResetError):
        blobs.upload_part(upload, 2, broken(part(data, 2), 100))
    assert blobs.uploaded_parts(upload) == {0: PART_SIZE, 2: 12345}
    blobs.upload_part(upload, 1, pieces(part(data, 1)))
    assert blobs.complete_upload(upload) == (sha(data), len(data))
    assert b"".join(blobs.read_range(sha(data), 0, len(data))) == data
    assert leftovers(blobs) == []


def test_a_wrong_hash_is_refused_the_upload_discarded_and_no_blob_appears(blobs: BlobStore) -> None:
    data = os.urandom(PART_SIZE + 1000)
    claimed = sha(data + b"x")
    upload = blobs.begin_upload(claimed, len(data))
    blobs.upload_part(upload, 1, [part(data, 1)])
    blobs.upload_part(upload, 0, pieces(part(data, 0)))
    with pytest.raises(IntegrityError, match=f"SHA-256 {sha(data)}, not the announced {claimed}") as caught:
        blobs.complete_upload(upload)
    assert "discarded" in str(caught.value) and "begin a new upload" in str(caught.value)
    assert not blobs.exists(claimed) and not blobs.exists(sha(data))
    assert leftovers(blobs) == []
    with pytest.raises(NotFoundError):
        blobs.uploaded_parts(upload)


@pytest.mark.parametrize("announced", [99, 101, PART_SIZE + 100])
def test_a_wrong_size_is_refused_and_the_upload_discarded(blobs: BlobStore, announced: int) -> None:
    data = os.urandom(100)
    upload = blobs.begin_upload(sha(data), announced)
    blobs.upload_part(upload, 0, [data])
    if announced > PART_SIZE:
        blobs.upload_part(upload, 1, [b"x" * 100])
    with pytest.raises(IntegrityError, match=rf"announced as {announced} bytes|an upload of {announced} bytes needs"):
        blobs.complete_upload(upload)
    assert not blobs.exists(sha(data))
    assert leftovers(blobs) == []
    with pytest.raises(NotFoundError):
        blobs.complete_upload(upload)


def test_completing_with_parts_missing_names_them_and_keeps_the_upload(blobs: BlobStore, three_parts: bytes) -> None:
    data = three_parts
    upload = blobs.begin_upload(sha(data), len(data))
    blobs.upload_part(upload, 1, pieces(part(data, 1)))
    with pytest.raises(RequestError, match=r"part\(s\) 0, 2 of 3 have not arrived"):
        blobs.complete_upload(upload)
    assert blobs.uploaded_parts(upload) == {1: PART_SIZE}
    blobs.upload_part(upload, 0, pieces(part(data, 0)))
    blobs.upload_part(upload, 2, pieces(part(data, 2)))
    assert blobs.complete_upload(upload) == (sha(data), len(data))


def test_part_numbers_and_sizes_are_checked_as_parts_arrive(blobs: BlobStore) -> None:
    upload = blobs.begin_upload(sha(b"y" * (PART_SIZE + 1)), PART_SIZE + 1)
    for number in (-1, 2, 10_000):
        with pytest.raises(RequestError, match=rf"part {number} of upload .* out of range: .* parts 0 to 1"):
            blobs.upload_part(upload, number, [b"y"])
    with pytest.raises(RequestError, match=f"larger than {PART_SIZE} bytes; it was not stored"):
        blobs.upload_part(upload, 0, pieces(b"y" * (PART_SIZE + 1)))
    assert blobs.uploaded_parts(upload) == {}
    for digest, size in (("ABC", 1), (sha(b"") + "0", 1), (sha(b""), -1)):
        with pytest.raises(RequestError, match="cannot begin an upload"):
            blobs.begin_upload(digest, size)


def test_an_empty_file_is_one_empty_part(blobs: BlobStore) -> None:
    upload = blobs.begin_upload(sha(b""), 0)
    assert blobs.upload_part(upload, 0, []) == 0
    assert blobs.uploaded_parts(upload) == {0: 0}
    assert blobs.complete_upload(upload) == (sha(b""), 0)
    assert blobs.size(sha(b"")) == 0


def test_completing_an_upload_of_a_blob_already_there_only_cleans_up(blobs: BlobStore) -> None:
    data = os.urandom(5000)
    blobs.put_bytes(data)
    upload = blobs.begin_upload(sha(data), len(data))
    blobs.upload_part(upload, 0, [data])
    assert blobs.complete_upload(upload) == (sha(data), len(data))
    assert b"".join(blobs.read_range(sha(data), 0, len(data))) == data
    assert leftovers(blobs) == []


def test_an_aborted_upload_is_gone(blobs: BlobStore) -> None:
    data = os.urandom(1000)
    upload = blobs.begin_upload(sha(data), len(data))
    blobs.upload_part(upload, 0, [data])
    blobs.abort_upload(upload)
    assert leftovers(blobs) == []
    assert not blobs.exists(sha(data))
    for call in (lambda: blobs.uploaded_parts(upload), lambda: blobs.complete_upload(upload),
                 lambda: blobs.upload_part(upload, 0, [data]), lambda: blobs.abort_upload(upload)):
        with pytest.raises(NotFoundError, match=r"does not exist .* Begin a new upload"):
            call()
    assert not blobs.exists(sha(data)) and leftovers(blobs) == []


def _forged_s3_ids() -> list[str]:
    def enc(meta: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(meta).encode()).rstrip(b"=").decode()

    good = {"v": 1, "d": sha(b"x"), "s": 1, "r": "0123456789abcdef", "u": "someid"}
    return [
        enc({**good, "r": "../../blobs/00/x"}),  # would name another object of the bucket
        enc({**good, "d": "../" + sha(b"x")[3:]}),
        enc({**good, "v": 2}), enc({**good, "s": -1}), enc({**good, "u": ""}), enc([1, 2]), enc("text"),
        base64.urlsafe_b64encode(b"\xff\xfe not json").decode().rstrip("="),
    ]


def test_garbage_and_unknown_upload_ids_raise_not_found(blobs: BlobStore, tmp_path: Path) -> None:
    garbage = ["", "nope", "../../../etc", "..%2f..%2fetc", "0" * 31, "0" * 33, "A" * 5000, "a/b", "ü"]
    garbage += _forged_s3_ids() if isinstance(blobs, S3Blobs) else []
    well_formed_but_unknown = (
        "0" * 32 if isinstance(blobs, LocalBlobs) else
        base64.urlsafe_b64encode(json.dumps({"v": 1, "d": sha(b"x"), "s": 1, "r": "0123456789abcdef",
                                             "u": "no-such-upload"}).encode()).rstrip(b"=").decode()
    )
    for upload in [*garbage, well_formed_but_unknown]:
        for call in (lambda u=upload: blobs.uploaded_parts(u), lambda u=upload: blobs.complete_upload(u),
                     lambda u=upload: blobs.upload_part(u, 0, [b"x"]), lambda u=upload: blobs.abort_upload(u)):
            with pytest.raises(NotFoundError, match=r"is not an upload id|does not exist") as caught:
                call()
            assert "Begin a new upload" in str(caught.value) or "begin a new upload" in str(caught.value)
    assert leftovers(blobs) == []


def test_an_upload_id_cannot_reach_outside_the_uploads_folder(tmp_path: Path) -> None:
    root = tmp_path / "store" / "blobs"
    blobs = LocalBlobs(root)
    upload = blobs.begin_upload(sha(b"x"), 1)
    # a folder shaped like an upload, outside .uploads: a traversing id must not find it, write to it or delete it
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "upload.json").write_text(json.dumps({"digest": sha(b"x"), "size": 1}))
    (victim / "part-00000").write_bytes(b"x")
    relative = os.path.relpath(victim, root / ".uploads")
    for bad in (relative, f"{upload}/../{relative}", str(victim), f"{upload}/..", ".", ".."):
        for call in (lambda u=bad: blobs.uploaded_parts(u), lambda u=bad: blobs.upload_part(u, 0, [b"y"]),
                     lambda u=bad: blobs.complete_upload(u), lambda u=bad: blobs.abort_upload(u)):
            with pytest.raises(NotFoundError, match="is not an upload id of this store"):
                call()
    assert sorted(p.name for p in victim.iterdir()) == ["part-00000", "upload.json"]
    assert (victim / "part-00000").read_bytes() == b"x"
    assert not blobs.exists(sha(b"x"))
    assert blobs.uploaded_parts(upload) == {}  # the real upload is untouched


def test_another_instance_continues_an_upload(make_blobs: Factory, three_parts: bytes) -> None:
    data = three_parts
    first, second = make_blobs(), make_blobs()
    upload = first.begin_upload(sha(data), len(data))
    first.upload_part(upload, 0, pieces(part(data, 0)))
    assert second.uploaded_parts(upload) == {0: PART_SIZE}
    second.upload_part(upload, 2, pieces(part(data, 2)))
    first.upload_part(upload, 1, pieces(part(data, 1)))
    assert second.uploaded_parts(upload) == {0: PART_SIZE, 1: PART_SIZE, 2: 12345}
    assert second.complete_upload(upload) == (sha(data), len(data))
    assert first.exists(sha(data))


def test_another_process_continues_an_upload(make_blobs: Factory, tmp_path: Path) -> None:
    data = os.urandom(PART_SIZE + 777)
    blobs = make_blobs()
    upload = blobs.begin_upload(sha(data), len(data))
    blobs.upload_part(upload, 0, pieces(part(data, 0)))
    (tmp_path / "tail.bin").write_bytes(part(data, 1))
    if isinstance(blobs, LocalBlobs):
        make = f"from naiad.store.blobs import LocalBlobs; blobs = LocalBlobs({str(blobs.root)!r})"
    else:
        assert isinstance(blobs, S3Blobs)
        make = f"from naiad.store.s3blobs import S3Blobs; blobs = S3Blobs({blobs.uri!r})"  # endpoint from the env
    result = run_script(f"""
        {make}
        upload = {upload!r}
        assert blobs.uploaded_parts(upload) == {{0: {PART_SIZE}}}
        with open({str(tmp_path / "tail.bin")!r}, "rb") as fh:
            blobs.upload_part(upload, 1, iter(lambda: fh.read(1 << 20), b""))
        print(blobs.complete_upload(upload))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr((sha(data), len(data)))
    assert b"".join(blobs.read_range(sha(data), 0, len(data))) == data


def test_parts_move_with_bounded_memory(blobs: BlobStore, tmp_path: Path) -> None:
    size = 5 * PART_SIZE - 12345  # ~40 MB
    src = tmp_path / "big.bin"
    hasher = hashlib.sha256()
    with open(src, "wb") as out:
        for _ in range(size // MiB + 1):
            block = os.urandom(min(MiB, size - out.tell()))
            hasher.update(block)
            out.write(block)
    digest = hasher.hexdigest()

    def file_part(number: int) -> Iterator[bytes]:
        with open(src, "rb") as fh:
            fh.seek(number * PART_SIZE)
            left = min(PART_SIZE, size - number * PART_SIZE)
            while left > 0:
                block = fh.read(min(MiB, left))
                left -= len(block)
                yield block

    blobs.exists(digest)  # connect (and check the bucket) before measuring
    tracemalloc.start()
    try:
        upload = blobs.begin_upload(digest, size)
        for number in range(5):
            blobs.upload_part(upload, number, file_part(number))
        assert blobs.complete_upload(upload) == (digest, size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * PART_SIZE + 4 * MiB, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.0f} MiB file"
    back = tmp_path / "back.bin"
    blobs.copy_to(digest, back)
    assert back.stat().st_size == size and hash_of(back) == digest


def hash_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(MiB):
            hasher.update(block)
    return hasher.hexdigest()


# ---------------------------------------------------------------- S3 only: location, settings, failures

@pytest.fixture
def s3_blobs(make_blobs: Factory) -> S3Blobs:
    blobs = make_blobs()
    if not isinstance(blobs, S3Blobs):
        pytest.skip("S3 only")
    return blobs


@pytest.mark.parametrize("make_blobs", ["s3"], indirect=True)
def test_s3_keys_live_under_the_prefix(s3_blobs: S3Blobs) -> None:
    digest, _ = s3_blobs.put_bytes(b"where am I")
    assert s3_blobs.endpoint_url is not None
    keys = [o["Key"] for o in admin(s3_blobs.endpoint_url).list_objects_v2(Bucket=s3_blobs.bucket)["Contents"]]
    assert keys == [f"team/store/blobs/{digest[:2]}/{digest[2:]}"]
    assert s3_blobs.uri == f"s3://{s3_blobs.bucket}/team/store"
    whole = S3Blobs(f"s3://{s3_blobs.bucket}", endpoint_url=s3_blobs.endpoint_url)
    assert whole.key_of(digest) == f"blobs/{digest[:2]}/{digest[2:]}"
    assert not whole.exists(digest)  # another prefix is another store


@pytest.mark.parametrize("make_blobs", ["s3"], indirect=True)
def test_s3_endpoint_comes_from_the_setting_when_not_given(s3_blobs: S3Blobs) -> None:
    assert os.environ["NAIAD_S3_ENDPOINT_URL"] == s3_blobs.endpoint_url
    same = S3Blobs(s3_blobs.uri)
    assert same.endpoint_url == s3_blobs.endpoint_url
    digest, _ = s3_blobs.put_bytes(b"shared")
    assert same.exists(digest)


@pytest.mark.parametrize("make_blobs", ["s3"], indirect=True)
def test_s3_completing_again_after_a_lost_answer_reports_the_blob(s3_blobs: S3Blobs) -> None:
    data = os.urandom(2000)
    upload = s3_blobs.begin_upload(sha(data), len(data))
    s3_blobs.upload_part(upload, 0, [data])
    assert s3_blobs.complete_upload(upload) == (sha(data), len(data))
    assert s3_blobs.complete_upload(upload) == (sha(data), len(data))


def test_s3_a_missing_bucket_is_named(s3_env: str) -> None:
    blobs = S3Blobs("s3://no-such-bucket-here/x", endpoint_url=s3_env)
    expected = re.escape(f"bucket 'no-such-bucket-here' does not exist at the S3 endpoint {s3_env}. Create it")
    for call in (lambda: blobs.exists(sha(b"a")), lambda: blobs.put_bytes(b"a"),
                 lambda: blobs.begin_upload(sha(b"a"), 1)):
        with pytest.raises(ConfigError, match=expected):
            call()


def test_s3_an_unreachable_endpoint_is_unavailable_and_named(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    blobs = S3Blobs("s3://bucket/x", endpoint_url=endpoint)
    with pytest.raises(StoreUnavailableError, match=f"S3 endpoint {endpoint} cannot be reached"):
        blobs.exists(sha(b"a"))
    with pytest.raises(StoreUnavailableError, match=endpoint):
        blobs.begin_upload(sha(b"a"), 1)


def test_s3_a_bad_location_or_no_boto3_is_a_config_error(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("s3://", "s3:///key", "s3://my bucket/x", "/some/folder"):
        with pytest.raises(ConfigError, match="write it as s3://bucket or s3://bucket/prefix"):
            S3Blobs(bad)
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if the S3 extra were not installed
    with pytest.raises(ConfigError, match=r'pip install "naiad\[s3\]"'):
        S3Blobs("s3://bucket/x")


def test_s3_missing_credentials_say_which_variables_to_set(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    blobs = S3Blobs("s3://bucket/x", endpoint_url=s3_env)
    with pytest.raises(ConfigError, match=r"no usable S3 credentials .* Set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"):
        blobs.put_bytes(b"a")
