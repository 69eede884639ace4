"""``track_files("s3://…")``: artifacts of objects in an S3-compatible store, tested against a real S3 server.

The server is moto's ``moto_server`` (moto[server]) on a free loopback port (``s3_endpoint`` in conftest.py):
naiad and the tests reach it over HTTP through boto3 with an endpoint URL (``NAIAD_S3_ENDPOINT_URL``), as they
would reach MinIO or AWS; no in-process mock is involved.  Access-denied answers come from a tiny HTTP server
that refuses everything the way S3 does.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

import naiad
from conftest import free_port, isolate_aws
from naiad.errors import FileError

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@dataclass
class Bucket:
    client: Any
    name: str

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def uri(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"


@pytest.fixture
def bucket(s3_env: str) -> Bucket:
    """A fresh bucket on the server; naiad is pointed at the server and given credentials by env vars."""
    client = boto3.session.Session().client("s3", endpoint_url=s3_env)
    name = f"naiad-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(client, name)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def reopen(run: naiad.Run) -> naiad.Run:
    run_id = run["sys/id"].fetch()
    run.stop()
    naiad.store._stores.clear()
    return naiad.init_run(with_id=run_id, mode="read-only")


def test_tracking_a_prefix_records_every_object_under_it_without_copying(bucket: Bucket, store_uri: str) -> None:
    bucket.put("datasets/train/a.csv", b"x,y\n1,2\n")
    bucket.put("datasets/train/cls/b/c.csv", b"x,y\n3,4\n5,6\n")
    bucket.put("datasets/train/empty/", b"")  # a "folder" marker some consoles create: not a file
    bucket.put("datasets/train2/other.csv", b"not under datasets/train/")
    bucket.put("datasets/train.csv", b"a sibling, not under the prefix")
    run = naiad.init_run(project="s3", source_files=[])
    run["data/train"].track_files(bucket.uri("datasets/train"))
    old = reopen(run)

    assert old["data/train"].type == "Artifact"
    entries = {e.file_path: e for e in old["data/train"].fetch_files_list()}
    assert sorted(entries) == ["a.csv", "cls/b/c.csv"]
    deep = entries["cls/b/c.csv"]
    assert deep.type == "S3"
    assert deep.size == len(b"x,y\n3,4\n5,6\n")
    assert deep.file_hash == md5(b"x,y\n3,4\n5,6\n")  # the ETag of a single-part upload, quotes stripped
    assert deep.metadata["location"] == bucket.uri("datasets/train/cls/b/c.csv")
    assert STAMP.match(deep.metadata["last_modified"]), deep.metadata
    digest = old["data/train"].fetch_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert not [p for p in (Path(store_uri) / "blobs").rglob("*") if p.is_file() and not p.name.startswith(".")]

    # a trailing slash and the whole bucket list the same way
    run2 = naiad.init_run(project="s3")
    run2["slash"].track_files(bucket.uri("datasets/train/"))
    run2["all"].track_files(f"s3://{bucket.name}")
    run2.wait()
    assert run2["slash"].fetch_hash() == digest
    assert len(run2["all"].fetch_files_list()) == 4


def test_a_single_object_is_named_by_its_basename_and_destination_prefixes_names(bucket: Bucket) -> None:
    bucket.put("raw/labels.csv", b"id,label\n1,cat\n")
    bucket.put("raw/images/1.png", b"\x89PNG...")
    run = naiad.init_run(project="s3")
    run["data/labels"].track_files(bucket.uri("raw/labels.csv"))
    run["data/placed"].track_files(bucket.uri("raw/labels.csv"), destination="meta/")
    run["data/images"].track_files(bucket.uri("raw/images"), destination="/v1/")
    run.wait()
    [labels] = run["data/labels"].fetch_files_list()
    assert (labels.file_path, labels.size, labels.type) == ("labels.csv", 15, "S3")
    assert labels.metadata["location"] == bucket.uri("raw/labels.csv")
    assert [e.file_path for e in run["data/placed"].fetch_files_list()] == ["meta/labels.csv"]
    assert [e.file_path for e in run["data/images"].fetch_files_list()] == ["v1/1.png"]


def test_the_artifact_hash_is_stable_and_changes_with_an_object(bucket: Bucket, tmp_path: Path) -> None:
    bucket.put("set/a.bin", b"a" * 100)
    bucket.put("set/b.bin", b"b" * 100)
    run = naiad.init_run(project="s3")
    run["v1"].track_files(bucket.uri("set"))
    run["v1_again"].track_files(bucket.uri("set"), wait=True)
    first = run["v1"].fetch_hash()
    assert run["v1_again"].fetch_hash() == first
    bucket.put("set/b.bin", b"B" * 100)  # same size, other content: another ETag
    run["v2"].track_files(bucket.uri("set"), wait=True)
    assert run["v2"].fetch_hash() != first
    # tracking into an existing artifact adds entries (a new version), as for local files
    (tmp_path / "local.txt").write_text("local")
    run["v2"].track_files(str(tmp_path / "local.txt"), wait=True)
    assert sorted((e.file_path, e.type) for e in run["v2"].fetch_files_list()) == [
        ("a.bin", "S3"), ("b.bin", "S3"), ("local.txt", "Local")]


def test_more_objects_than_one_listing_page(bucket: Bucket) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: bucket.put(f"many/{i // 100:02d}/{i:05d}.txt", str(i).encode()), range(1500)))
    run = naiad.init_run(project="s3")
    run["data/many"].track_files(bucket.uri("many/"), wait=True)
    entries = run["data/many"].fetch_files_list()
    assert len(entries) == 1500
    assert entries[0].file_path == "00/00000.txt"
    assert {e.file_path for e in entries} == {f"{i // 100:02d}/{i:05d}.txt" for i in range(1500)}


def test_download_fetches_the_objects_with_boto3(bucket: Bucket, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4000  # ~1 MB, more than one read block
    bucket.put("model/weights.bin", payload)
    bucket.put("model/config/params.json", b'{"lr": 0.001}')
    (tmp_path / "notes.txt").write_text("local entry")
    run = naiad.init_run(project="s3")
    run["model"].track_files(bucket.uri("model"))
    run["model"].track_files(str(tmp_path / "notes.txt"))
    old = reopen(run)
    out = tmp_path / "restored"
    old["model"].download(str(out))
    assert (out / "weights.bin").read_bytes() == payload
    assert (out / "config" / "params.json").read_bytes() == b'{"lr": 0.001}'
    assert not (out / "weights.bin").is_symlink()
    assert (out / "notes.txt").is_symlink() and (out / "notes.txt").read_text() == "local entry"
    assert not list(out.rglob("*.naiad-partial"))
    old["model"].download(str(out))  # again over the existing files
    assert (out / "weights.bin").read_bytes() == payload


def test_download_refuses_an_object_that_changed_size_or_is_gone(bucket: Bucket, tmp_path: Path) -> None:
    bucket.put("d/a.txt", b"12345")
    bucket.put("d/b.txt", b"abc")
    run = naiad.init_run(project="s3")
    run["d"].track_files(bucket.uri("d"), wait=True)
    bucket.put("d/a.txt", b"123456789")
    with pytest.raises(FileError, match=r"gave 9 bytes, but 5 were tracked"):
        run["d"].download(str(tmp_path / "one"))
    assert not (tmp_path / "one" / "a.txt").exists()
    bucket.put("d/a.txt", b"54321")  # same size, other content: downloaded with a warning
    bucket.client.delete_object(Bucket=bucket.name, Key="d/b.txt")
    with pytest.warns(naiad.core.fields.NaiadWarning, match="changed since it was tracked"), \
            pytest.raises(FileError, match=rf"cannot download s3://{bucket.name}/d/b.txt: no such object"):
        run["d"].download(str(tmp_path / "two"))
    assert (tmp_path / "two" / "a.txt").read_bytes() == b"54321"


def test_an_empty_prefix_fails_in_the_writer_and_raises_at_the_next_wait(bucket: Bucket) -> None:
    bucket.put("real/x.txt", b"x")
    run = naiad.init_run(project="s3")
    run["data/none"].track_files(bucket.uri("nothing/here"))  # the listing is not done on this thread
    with pytest.raises(FileError, match=rf"cannot track s3://{bucket.name}/nothing/here: no objects there"):
        run.wait()
    run["data/real"].track_files(bucket.uri("real"), wait=True)  # the writer survived
    assert [e.file_path for e in run["data/real"].fetch_files_list()] == ["x.txt"]


def test_an_empty_prefix_is_counted_in_sys_errors(bucket: Bucket, monkeypatch: pytest.MonkeyPatch,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NAIAD_RAISE_ON_ERROR")  # what a training job runs with
    run = naiad.init_run(project="s3")
    run["data/none"].track_files(bucket.uri("nothing/"))
    run["x"] = 1
    old = reopen(run)
    assert old["sys/errors"].fetch() == 1
    assert "no objects there" in old["sys/last_error"].fetch()
    assert old["x"].fetch() == 1
    assert not old.exists("data/none")
    assert capfd.readouterr().err.count("could not prepare 'data/none'") == 1


def test_a_missing_bucket_is_named_in_the_error(bucket: Bucket) -> None:
    run = naiad.init_run(project="s3")
    run["data"].track_files("s3://no-such-bucket-here/train")
    with pytest.raises(FileError, match=r"bucket 'no-such-bucket-here' does not exist") as caught:
        run.wait()
    assert "NAIAD_S3_ENDPOINT_URL" in str(caught.value)


def test_missing_credentials_say_which_variables_to_set(bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    run = naiad.init_run(project="s3")
    run["data"].track_files(bucket.uri("x"))
    with pytest.raises(FileError, match=rf"cannot track s3://{bucket.name}/x: no usable S3 credentials") as caught:
        run.wait()
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request as S3 does for credentials without rights on the bucket."""

    def _deny(self) -> None:
        body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
                b"<Message>Access Denied</Message></Error>")
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = _deny

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_access_denied_names_the_location_and_the_variables_to_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone-else")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")  # neptune's name
        run = naiad.init_run(project="s3")
        run["data"].track_files("s3://private/train")
        with pytest.raises(FileError, match=r"cannot track s3://private/train: access denied") as caught:
            run.wait()
        message = str(caught.value)
        assert "AWS_ACCESS_KEY_ID" in message and "AWS_SECRET_ACCESS_KEY" in message
        assert f"127.0.0.1:{server.server_address[1]}" in message
    finally:
        server.shutdown()
        server.server_close()


def test_the_call_site_only_checks_the_uri_and_boto3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("NAIAD_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    run = naiad.init_run(project="s3")
    for bad in ("s3://", "s3:///key", "s3://my bucket/x"):
        with pytest.raises(FileError, match="write it as s3://bucket"):
            run["data"].track_files(bad)
    with pytest.raises(FileError, match="wildcards are not supported"):
        run["data"].track_files("s3://bucket/train/*.csv")
    run["data"].track_files("s3://bucket/train")  # returns at once: the endpoint is only met in the writer
    with pytest.raises(FileError, match="cannot be reached"):
        run.wait()
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if the S3 extra were not installed
    with pytest.raises(FileError, match=r"pip install 'naiad\[s3\]'"):
        run["data"].track_files("s3://bucket/train")
