"""The datasets view: every dataset version a project has seen, who used it and in which role, diffs between
versions, and ``track_files(..., upload=True)`` so that a version can be fetched back exactly.

Everything runs on real parts: the embedded store (``tmp_path/.naiad``) and a real ``naiad server`` app served by
uvicorn on loopback (an embedded store behind it, an admin token), a real moto S3 server, the command line through
click's CliRunner on ``naiad.cli.main.main`` (and once as a subprocess, to see NAIAD_API_TOKEN taken from the
environment).  Tests marked by the ``backend`` fixture run once per backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from click.testing import CliRunner, Result

import naiad
from conftest import _close_stores, _stop_leftovers
from naiad import errors as E
from naiad.cli.main import main
from naiad.store.sql import artifact_hash
from naiad.store.sqlite import SqliteStore
from naiad.tracking.datasets import role_of
from services import admin_token, serve_in_thread

PROJECT = "defects"  # key DEF: runs DEF-1, DEF-2 …, model DEF-CLS, versions DEF-CLS-1 …
VERSION_COLUMNS = ["hash", "files", "size", "first_seen", "roles", "runs", "model_versions"]
USE_COLUMNS = ["hash", "container", "kind", "path", "role", "files", "size", "created"]


# ------------------------------------------------------------------------------------------ helpers
def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def regular_tree(folder: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``folder``; each must be a regular file (no symlink)."""
    out: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        assert not path.is_symlink(), f"{path} is a symlink, not the stored bytes"
        if path.is_dir():
            continue
        assert path.is_file(), f"{path} is not a regular file"
        out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def symlinks(folder: Path) -> dict[str, str]:
    """``{relative path: link target}`` of every entry under ``folder`` that is not a folder."""
    return {p.relative_to(folder).as_posix(): os.readlink(p) for p in sorted(folder.rglob("*"))
            if p.is_symlink() or not p.is_dir()}


def stored_blobs(root: Path) -> dict[str, bytes]:
    """The blob files of a LocalBlobs folder (``root/ab/cdef…``), by digest."""
    return {p.parent.name + p.name: p.read_bytes() for p in root.glob("??/*") if p.is_file()}


def blob_stats(root: Path) -> dict[str, tuple[int, int]]:
    return {p.parent.name + p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.glob("??/*")}


def new_run() -> naiad.Run:
    return naiad.init_run(project=PROJECT, source_files=[])


def run_id(run: naiad.Run) -> str:
    return str(run["sys/id"].fetch())


def read_project() -> Any:
    return naiad.init_project(project=PROJECT, mode="read-only")


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if "naiad-partial" in p.name) if folder.exists() else []


# ------------------------------------------------------------------------------------------ backends
class CountingApp:
    """Wraps the server's ASGI app and notes (method, path) of every HTTP request it serves: to see which
    blobs the SDK sends.  The server itself is untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)

    def blob_puts(self) -> list[str]:
        """Digests of the blobs sent in one request or begun as a resumable upload (in order)."""
        prefix = "/api/v1/blobs/"
        return [p[len(prefix):] for m, p in self.requests
                if m == "PUT" and p.startswith(prefix) and "/" not in p[len(prefix):]]


@dataclass
class Backend:
    name: str
    uri: str  # what NAIAD_URI / --uri is
    blob_root: Path  # the LocalBlobs folder where uploaded bytes end up
    token: str = ""
    app: CountingApp | None = None
    env: dict[str, str] = field(default_factory=dict)

    def blob_puts(self) -> list[str]:
        return self.app.blob_puts() if self.app is not None else []


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, naiad_env: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """The store the SDK and the CLI talk to: the embedded one in tmp_path/.naiad, or a real naiad server
    (NAIAD_URI=http://…, NAIAD_API_TOKEN of an admin) over an embedded store of its own."""
    if request.param == "embedded":
        yield Backend("embedded", str(naiad_env), naiad_env / "blobs")
        return
    from naiad.server.app import create_app

    backing = SqliteStore(tmp_path / "server-store")
    app = CountingApp(create_app(backing))
    try:
        with serve_in_thread(app) as url:
            token = admin_token(backing)
            monkeypatch.setenv("NAIAD_URI", url)
            monkeypatch.setenv("NAIAD_API_TOKEN", token)
            try:
                yield Backend("server", url, tmp_path / "server-store" / "blobs", token, app)
            finally:  # runs still open talk to the server: stop them before it goes away
                _stop_leftovers()
                _close_stores()
    finally:
        backing.close()


def cli(backend: Backend, *args: str, code: int = 0) -> Result:
    """``naiad ARGS --uri <backend>`` in this process; NAIAD_URI points elsewhere, so --uri must be obeyed."""
    elsewhere = str(Path.cwd() / "not-this-store")
    result = CliRunner().invoke(main, [*args, "--uri", backend.uri], env={"NAIAD_URI": elsewhere},
                                catch_exceptions=False)
    assert result.exit_code == code, f"naiad {' '.join(args)} → {result.exit_code}\n{result.output}"
    return result


def rich_table(text: str) -> tuple[str, list[str], list[list[str]]]:
    """(title, header cells, body rows) of a rich table printed by the CLI."""
    lines = text.splitlines()
    title = lines[0].strip()
    header = next(line for line in lines if line.startswith("┃"))
    rows = [line for line in lines if line.startswith("│")]
    cells = [[c.strip() for c in row.strip("│").split("│")] for row in rows]
    return title, [c.strip() for c in header.strip("┃").split("┃")], cells


# ------------------------------------------------------------------------------------------ role_of
@pytest.mark.parametrize(("path", "role"), [
    ("datasets/train", "train"),
    ("training", "train"),
    ("data/trainset", "train"),
    ("data/TRAIN", "train"),
    ("data/train-v2", "train"),
    ("data/val", "validation"),
    ("data/val_images", "validation"),
    ("valid", "validation"),
    ("validation", "validation"),
    ("datasets/dev", "validation"),
    ("dev set", "validation"),
    ("test", "test"),
    ("testing", "test"),
    ("testset", "test"),
    ("eval/holdout", "test"),
    ("evaluation", "test"),
    ("data/holdout.2024", "test"),
    ("eval/features", "test"),  # the last recognised word wins, walking back through the path
    ("monitoring/prod_sample", "production sample"),
    ("production", "production sample"),
    ("monitoring/live", "production sample"),
    ("train/val", "validation"),
    ("val/train", "train"),
    ("data/train_eval", "test"),
    ("features", "features"),  # unknown words: the role is the path itself
    ("data/raw", "data/raw"),
    ("trained", "trained"),  # whole words only
    ("contest/devices", "contest/devices"),
])
def test_role_of_reads_the_role_from_the_field_path(path: str, role: str) -> None:
    assert role_of(path) == role


# ------------------------------------------------------------------------------------------ the view
def test_the_view_lists_each_version_once_with_its_runs_model_versions_and_roles(backend: Backend,
                                                                                  tmp_path: Path) -> None:
    src = tmp_path / "src"
    train = put(src / "train", {"a.csv": b"x,y\n1,2\n", "sub/b.csv": b"x,y\n3,4\n"})
    val = put(src / "val", {"v.csv": b"x,y\n5,6\n"})
    hold = put(src / "holdout", {"h.csv": b"x,y\n7,8\n9,0\n"})
    prod = put(src / "prod", {"p.csv": b"x,y\n"})
    (tmp_path / "w.bin").write_bytes(b"weights")

    r1 = new_run()
    r1["datasets/train"].track_files(str(train))
    r1["data/val"].track_files(str(val))
    r1["model/weights"].upload(str(tmp_path / "w.bin"))
    r1.wait()
    r2 = new_run()
    r2["datasets/train"].track_files(str(train))  # the same, unchanged folder
    r2["eval/holdout"].track_files(str(hold))
    r2["monitoring/prod_sample"].track_files(str(prod))
    r2.wait()
    model = naiad.init_model(key="CLS", project=PROJECT)
    mv = naiad.register_model_version(r1, model="DEF-CLS")
    mv.wait()
    (train / "a.csv").write_bytes(b"x,y\n1,3\n")  # one file changed: a new version
    r3 = new_run()
    r3["datasets/train"].track_files(str(train))
    r3.wait()

    id1, id2, id3 = run_id(r1), run_id(r2), run_id(r3)
    assert (id1, id2, id3) == ("DEF-1", "DEF-2", "DEF-3")
    assert mv["sys/id"].fetch() == "DEF-CLS-1" and model["sys/id"].fetch() == "DEF-CLS"
    h_train, h_val = r1["datasets/train"].fetch_hash(), r1["data/val"].fetch_hash()
    h_hold, h_prod = r2["eval/holdout"].fetch_hash(), r2["monitoring/prod_sample"].fetch_hash()
    h_train2 = r3["datasets/train"].fetch_hash()
    assert r2["datasets/train"].fetch_hash() == h_train
    assert mv["datasets/train"].fetch_hash() == h_train and mv["datasets/data/val"].fetch_hash() == h_val
    assert len({h_train, h_val, h_hold, h_prod, h_train2}) == 5

    project = read_project()
    frame = project.fetch_dataset_versions()
    assert list(frame.columns) == VERSION_COLUMNS
    rows = [tuple(r) for r in frame[["hash", "files", "size", "roles", "runs", "model_versions"]]
            .itertuples(index=False)]
    first = sorted([(h_train, 2, 16, "train", "DEF-1, DEF-2", "DEF-CLS-1"),
                    (h_val, 1, 8, "validation", "DEF-1", "DEF-CLS-1")])
    second = sorted([(h_hold, 1, 12, "test", "DEF-2", ""), (h_prod, 1, 4, "production sample", "DEF-2", "")])
    assert rows == first + second + [(h_train2, 2, 16, "train", "DEF-3", "")]
    seen = list(frame["first_seen"])
    assert str(frame["first_seen"].dt.tz) == "UTC"
    assert seen[0] == seen[1] < seen[2] == seen[3] < seen[4]  # oldest first, the hash breaks ties

    uses = project.fetch_dataset_uses(h_train[:6])
    assert list(uses.columns) == USE_COLUMNS
    assert [tuple(r) for r in uses.drop(columns="created").itertuples(index=False)] == [
        (h_train, "DEF-1", "run", "datasets/train", "train", 2, 16),
        (h_train, "DEF-2", "run", "datasets/train", "train", 2, 16),
        (h_train, "DEF-CLS-1", "model_version", "datasets/train", "train", 2, 16),
    ]
    val_uses = project.fetch_dataset_uses(h_val[:10])
    assert [tuple(r) for r in val_uses[["container", "kind", "path", "role"]].itertuples(index=False)] == [
        ("DEF-1", "run", "data/val", "validation"),
        ("DEF-CLS-1", "model_version", "datasets/data/val", "validation"),
    ]
    everything = project.fetch_dataset_uses()
    assert len(everything) == 8
    assert sorted(set(everything["role"])) == ["production sample", "test", "train", "validation"]
    assert project.fetch_dataset_uses("ffff" if not any(h.startswith("ffff") for h in everything["hash"])
                                      else "0000").empty
    with pytest.raises(E.InvalidValueError):
        project.fetch_dataset_uses("not-hex")

    # the view follows the fields: a deleted dataset field is no longer a use
    del r2["monitoring/prod_sample"]
    r2.wait()
    after = read_project().fetch_dataset_versions()
    assert list(after["hash"]) == [h for h, *_ in first] + [h_hold, h_train2]


# ------------------------------------------------------------------------------------------ diff
V1 = {"keep.csv": b"k,1\n", "change.csv": b"c,1\n", "same-size.csv": b"s,1\n", "gone.csv": b"gone\n"}
V2 = {"keep.csv": b"k,1\n", "change.csv": b"c,1,longer\n", "same-size.csv": b"s,2\n", "new/add.csv": b"added!\n"}


def colliding_contents() -> tuple[bytes, bytes]:
    """Two contents of ``part.csv`` whose one-file dataset versions share the first 4 hex digits of their hash."""
    seen: dict[str, bytes] = {}
    for i in range(1_000_000):
        data = f"row {i}\n".encode()
        prefix = artifact_hash([{"file_path": "part.csv", "file_hash": sha(data), "size": len(data),
                                 "type": "Local"}])[:4]
        if prefix in seen:
            return seen[prefix], data
        seen[prefix] = data
    raise AssertionError("no collision")


def test_diff_lists_added_removed_and_changed_files(backend: Backend, tmp_path: Path) -> None:
    ra, rb, rc = new_run(), new_run(), new_run()
    ra["datasets/train"].track_files(str(put(tmp_path / "v1", V1)))
    rb["datasets/train"].track_files(str(put(tmp_path / "v2", V2)))
    rc["datasets/train"].track_files(str(put(tmp_path / "elsewhere" / "v1-copy", V1)))  # same files, other place
    for r in (ra, rb, rc):
        r.wait()
    ha, hb = ra["datasets/train"].fetch_hash(), rb["datasets/train"].fetch_hash()
    ida, idb, idc = run_id(ra), run_id(rb), run_id(rc)
    assert rc["datasets/train"].fetch_hash() == ha  # a version is its relative paths and contents

    project = read_project()
    diff = project.diff_datasets(ha[:8], f"{idb}:datasets/train")
    assert (diff.a, diff.b) == (ha, hb)
    assert [(e["file_path"], e["size"], e["file_hash"]) for e in diff.added] == [
        ("new/add.csv", 7, sha(b"added!\n"))]
    assert [(e["file_path"], e["size"], e["file_hash"]) for e in diff.removed] == [("gone.csv", 5, sha(b"gone\n"))]
    assert [(o["file_path"], o["size"], n["size"], o["file_hash"], n["file_hash"]) for o, n in diff.changed] == [
        ("change.csv", 4, 11, sha(b"c,1\n"), sha(b"c,1,longer\n")),
        ("same-size.csv", 4, 4, sha(b"s,1\n"), sha(b"s,2\n")),  # same size, other content: changed
    ]
    assert diff.unchanged == 1 and diff.identical is False
    table = diff.to_pandas()
    assert list(table.columns) == ["change", "path", "size_a", "size_b", "hash_a", "hash_b"]
    records = [tuple(None if pd.isna(v) else v for v in row) for row in table.itertuples(index=False)]
    assert records == [
        ("changed", "change.csv", 4, 11, sha(b"c,1\n"), sha(b"c,1,longer\n")),
        ("removed", "gone.csv", 5, None, sha(b"gone\n"), None),
        ("added", "new/add.csv", None, 7, None, sha(b"added!\n")),
        ("changed", "same-size.csv", 4, 4, sha(b"s,1\n"), sha(b"s,2\n")),
    ]

    back = project.diff_datasets(f"{idb}:datasets/train", ha.upper()[:12])  # either way round; any case
    assert ([e["file_path"] for e in back.added], [e["file_path"] for e in back.removed]) == (
        ["gone.csv"], ["new/add.csv"])
    assert [o["file_path"] for o, _ in back.changed] == ["change.csv", "same-size.csv"]

    same = project.diff_datasets(f"{ida}:datasets/train", f"{idc}:datasets/train")
    assert same.identical is True and same.unchanged == 4 and (same.a, same.b) == (ha, ha)
    assert same.added == [] and same.removed == [] and same.changed == [] and same.to_pandas().empty

    # CLI: text and --json
    text = cli(backend, "datasets", "diff", ha[:8], f"{idb}:datasets/train", "--project", PROJECT).stdout
    assert text == (f"--- {ha[:12]} (4 files)\n"
                    f"+++ {hb[:12]} (4 files)\n"
                    "+ new/add.csv  (7 B)\n"
                    "- gone.csv  (5 B)\n"
                    "~ change.csv  (4 B → 11 B)\n"
                    "~ same-size.csv  (4 B → 4 B)\n"
                    "1 added, 1 removed, 2 changed, 1 unchanged\n")
    as_json = json.loads(cli(backend, "datasets", "diff", ha[:8], hb[:8], "--json", "--project", PROJECT).stdout)
    assert as_json == {"a": ha, "b": hb, "unchanged": 1, "added": ["new/add.csv"], "removed": ["gone.csv"],
                       "changed": ["change.csv", "same-size.csv"]}
    identical = cli(backend, "datasets", "diff", f"{ida}:datasets/train", ha, "--project", PROJECT).stdout
    assert identical == (f"--- {ha[:12]} (4 files)\n+++ {ha[:12]} (4 files)\n"
                         "0 added, 0 removed, 0 changed, 4 unchanged\n")


def test_diff_refuses_ambiguous_unknown_and_malformed_references(backend: Backend, tmp_path: Path) -> None:
    first, second = colliding_contents()
    rx, ry = new_run(), new_run()
    rx["datasets/train"].track_files(str(put(tmp_path / "x", {"part.csv": first})))
    ry["datasets/train"].track_files(str(put(tmp_path / "y", {"part.csv": second})))
    rx.wait()
    ry.wait()
    hx, hy = rx["datasets/train"].fetch_hash(), ry["datasets/train"].fetch_hash()
    assert hx[:4] == hy[:4] and hx != hy
    project = read_project()

    with pytest.raises(E.InvalidValueError) as ambiguous:
        project.diff_datasets(hx[:4], hy)
    assert "matches 2 dataset versions" in str(ambiguous.value) and "give more digits" in str(ambiguous.value)
    assert hx[:12] in str(ambiguous.value) and hy[:12] in str(ambiguous.value)
    longer = next(n for n in range(5, 65) if hx[:n] != hy[:n])
    assert project.diff_datasets(hx[:longer], hy[:longer]).changed[0][1]["file_hash"] == sha(second)

    unknown = next(f"{i:04x}" for i in range(1 << 16) if not (hx.startswith(f"{i:04x}") or hy.startswith(f"{i:04x}")))
    with pytest.raises(E.NotFoundError) as missing:
        project.diff_datasets(unknown, hx)
    assert f"no dataset version {unknown}" in str(missing.value)
    for bad in ("abc", "xyz1", "", "datasets/train"):
        with pytest.raises(E.InvalidValueError):
            project.diff_datasets(bad, hx)
    with pytest.raises(E.MissingFieldError):
        project.diff_datasets(f"{run_id(rx)}:datasets/nothing-here", hx)
    with pytest.raises(E.NotFoundError):
        project.diff_datasets("DEF-99:datasets/train", hx)

    failed = cli(backend, "datasets", "diff", hx[:4], hy, "--project", PROJECT, code=1)
    assert failed.stdout == "" and failed.stderr.startswith(f"Error: {hx[:4]} matches 2 dataset versions")
    failed = cli(backend, "datasets", "diff", unknown, hy, "--project", PROJECT, code=1)
    assert failed.stderr.startswith(f"Error: no dataset version {unknown} in project '{PROJECT}'")


# ------------------------------------------------------------------------------------------ upload=True
FILES = {"a.csv": b"alpha\n", "b/c.csv": b"gamma gamma\n", "b/dup.csv": b"alpha\n"}  # two contents, three files


def test_upload_stores_each_content_once_and_download_recreates_the_exact_bytes(backend: Backend,
                                                                                 tmp_path: Path) -> None:
    src = put(tmp_path / "src" / "train", FILES)
    before = stored_blobs(backend.blob_root)
    r1 = new_run()
    r1["datasets/train"].track_files(str(src), upload=True)
    r1.wait()
    added = {k: v for k, v in stored_blobs(backend.blob_root).items() if k not in before}
    assert added == {sha(b"alpha\n"): b"alpha\n", sha(b"gamma gamma\n"): b"gamma gamma\n"}
    if backend.app is not None:  # the duplicate file within the folder was not sent twice
        assert sorted(backend.blob_puts()) == sorted([sha(b"alpha\n"), sha(b"gamma gamma\n")])
    entries = {e.file_path: e for e in r1["datasets/train"].fetch_files_list()}
    assert sorted(entries) == sorted(FILES)
    for rel, data in FILES.items():
        assert entries[rel].file_hash == sha(data) and entries[rel].metadata["blob"] == sha(data)
        assert entries[rel].size == len(data) and entries[rel].type == "Local"
    digest = r1["datasets/train"].fetch_hash()
    naiad.init_model(key="CLS", project=PROJECT)
    mv = naiad.register_model_version(r1, model="DEF-CLS", weights="")  # copies the manifest, blobs included
    mv.wait()

    # the same contents again, from another folder and another run: nothing new is stored
    stats = blob_stats(backend.blob_root)
    copy = put(tmp_path / "elsewhere" / "copy", FILES)
    r2 = new_run()
    r2["datasets/train"].track_files(str(copy), upload=True)
    r2["data/again"].track_files(str(src), upload=True)
    r2.wait()
    assert blob_stats(backend.blob_root) == stats
    assert r2["datasets/train"].fetch_hash() == digest == r2["data/again"].fetch_hash()
    assert all(e.metadata["blob"] == e.file_hash for e in r2["datasets/train"].fetch_files_list())

    shutil.rmtree(src)
    shutil.rmtree(copy)
    r1["datasets/train"].download(str(tmp_path / "out-run"))
    assert regular_tree(tmp_path / "out-run") == FILES
    (tmp_path / "out-run" / "a.csv").write_bytes(b"edited after download")  # a copy, not the stored blob

    reopened = naiad.init_run(with_id=run_id(r2), mode="read-only")
    reopened["datasets/train"].download(str(tmp_path / "out-reopened"))
    assert regular_tree(tmp_path / "out-reopened") == FILES

    project = read_project()
    assert project.download_dataset(digest[:10], str(tmp_path / "out-hash")) == digest
    assert regular_tree(tmp_path / "out-hash") == FILES
    assert project.download_dataset(f"{run_id(r1)}:datasets/train", str(tmp_path / "out-ref")) == digest
    assert regular_tree(tmp_path / "out-ref") == FILES
    assert project.download_dataset("DEF-CLS-1:datasets/train", str(tmp_path / "out-mv")) == digest
    assert regular_tree(tmp_path / "out-mv") == FILES

    dest = tmp_path / "out-cli"
    shown = cli(backend, "datasets", "download", digest[:12], str(dest), "--project", PROJECT)
    assert shown.stdout == f"dataset {digest[:12]}: 3 file(s) → {dest}\n"
    assert regular_tree(dest) == FILES
    assert partials(tmp_path) == []


def test_without_upload_download_links_to_the_originals_and_fails_clearly_once_they_are_gone(
        backend: Backend, tmp_path: Path) -> None:
    src = put(tmp_path / "src", FILES)
    before = stored_blobs(backend.blob_root)
    run = new_run()
    run["datasets/train"].track_files(str(src))
    run.wait()
    assert stored_blobs(backend.blob_root) == before and backend.blob_puts() == []
    assert all("blob" not in e.metadata for e in run["datasets/train"].fetch_files_list())
    digest = run["datasets/train"].fetch_hash()

    run["datasets/train"].download(str(tmp_path / "linked"))
    assert symlinks(tmp_path / "linked") == {rel: str(src / rel) for rel in FILES}
    assert {rel: (tmp_path / "linked" / rel).read_bytes() for rel in FILES} == FILES

    shutil.rmtree(src)
    with pytest.raises(E.FileError) as gone:
        run["datasets/train"].download(str(tmp_path / "after"))
    assert "is gone from its original location" in str(gone.value)
    with pytest.raises(E.FileError) as gone_too:
        read_project().download_dataset(digest[:8], str(tmp_path / "after2"))
    assert "is gone from its original location" in str(gone_too.value)
    failed = cli(backend, "datasets", "download", digest[:8], str(tmp_path / "after3"), "--project", PROJECT, code=1)
    assert failed.stderr.startswith("Error: tracked file ") and "is gone from its original location" in failed.stderr


def test_a_version_uploaded_by_one_run_downloads_by_hash_even_if_another_run_tracked_it_without_upload(
        backend: Backend, tmp_path: Path) -> None:
    """The same dataset version (same hash) is tracked once without and once with upload=True: fetching it by
    hash must use the stored bytes (any use with them), not whichever manifest the store finds first."""
    src = put(tmp_path / "src", FILES)
    plain, uploaded = new_run(), new_run()
    plain["datasets/train"].track_files(str(src))
    plain.wait()
    uploaded["datasets/train"].track_files(str(src), upload=True)
    uploaded.wait()
    digest = uploaded["datasets/train"].fetch_hash()
    assert plain["datasets/train"].fetch_hash() == digest
    shutil.rmtree(src)

    assert read_project().download_dataset(digest[:8], str(tmp_path / "by-hash")) == digest
    assert regular_tree(tmp_path / "by-hash") == FILES
    cli(backend, "datasets", "download", digest[:8], str(tmp_path / "by-cli"), "--project", PROJECT)
    assert regular_tree(tmp_path / "by-cli") == FILES


def test_a_damaged_stored_blob_fails_the_download_with_an_integrity_error(backend: Backend, tmp_path: Path) -> None:
    src = put(tmp_path / "src", FILES)
    run = new_run()
    run["datasets/train"].track_files(str(src), upload=True)
    run.wait()
    digest = run["datasets/train"].fetch_hash()
    shutil.rmtree(src)
    blob = backend.blob_root / sha(b"alpha\n")[:2] / sha(b"alpha\n")[2:]
    assert blob.read_bytes() == b"alpha\n"
    blob.chmod(0o644)
    blob.write_bytes(b"ALPHA\n")  # same length, other bytes

    out = tmp_path / "out"
    with pytest.raises(E.IntegrityError):
        run["datasets/train"].download(str(out))
    assert not (out / "a.csv").exists() and not (out / "b" / "dup.csv").exists() and partials(out) == []
    with pytest.raises(E.IntegrityError):
        read_project().download_dataset(digest[:8], str(tmp_path / "out2"))
    assert not (tmp_path / "out2" / "a.csv").exists() and partials(tmp_path / "out2") == []
    failed = cli(backend, "datasets", "download", digest[:8], str(tmp_path / "out3"), "--project", PROJECT, code=1)
    assert failed.stderr.startswith("Error: ") and not (tmp_path / "out3" / "a.csv").exists()


# ------------------------------------------------------------------------------------------ s3:// with upload=True
@pytest.fixture
def bucket(s3_env: str) -> tuple[Any, str]:
    client = boto3.session.Session().client("s3", endpoint_url=s3_env)
    name = f"naiad-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return client, name


S3_FILES = {"a.csv": b"s3 alpha\n", "sub/b.csv": b"s3 beta beta\n"}


def test_s3_upload_stores_the_objects_by_sha256_and_download_survives_their_deletion(
        backend: Backend, bucket: tuple[Any, str], tmp_path: Path) -> None:
    client, name = bucket
    for rel, data in S3_FILES.items():
        client.put_object(Bucket=name, Key=f"data/train/{rel}", Body=data)
    client.put_object(Bucket=name, Key="data/plain/p.csv", Body=b"not uploaded\n")
    before = stored_blobs(backend.blob_root)

    r1 = new_run()
    r1["datasets/train"].track_files(f"s3://{name}/data/train", upload=True)
    r1["datasets/plain"].track_files(f"s3://{name}/data/plain")
    r1.wait()
    entries = {e.file_path: e for e in r1["datasets/train"].fetch_files_list()}
    assert sorted(entries) == sorted(S3_FILES)
    for rel, data in S3_FILES.items():
        e = entries[rel]
        assert e.type == "S3" and e.size == len(data)
        assert e.file_hash == hashlib.md5(data).hexdigest()  # the ETag: no content hash
        assert e.metadata["blob"] == sha(data) and e.metadata["location"] == f"s3://{name}/data/train/{rel}"
    assert {k: v for k, v in stored_blobs(backend.blob_root).items() if k not in before} == {
        sha(d): d for d in S3_FILES.values()}
    digest = r1["datasets/train"].fetch_hash()

    stats = blob_stats(backend.blob_root)
    r2 = new_run()
    r2["datasets/train"].track_files(f"s3://{name}/data/train", upload=True)
    r2.wait()
    assert r2["datasets/train"].fetch_hash() == digest
    assert blob_stats(backend.blob_root) == stats  # already stored: nothing new

    for key in [f"data/train/{rel}" for rel in S3_FILES] + ["data/plain/p.csv"]:
        client.delete_object(Bucket=name, Key=key)
    r1["datasets/train"].download(str(tmp_path / "out-run"))
    assert regular_tree(tmp_path / "out-run") == S3_FILES
    assert read_project().download_dataset(digest[:8], str(tmp_path / "out-proj")) == digest
    assert regular_tree(tmp_path / "out-proj") == S3_FILES
    with pytest.raises(E.FileError) as gone:  # without upload=True the object must still be there
        r1["datasets/plain"].download(str(tmp_path / "out-plain"))
    assert "no such object" in str(gone.value)


@pytest.mark.parametrize("backend", ["server"], indirect=True)
def test_the_server_is_not_sent_dataset_bytes_it_already_holds(backend: Backend, bucket: tuple[Any, str],
                                                               tmp_path: Path) -> None:
    """"a content already stored is not sent again": a second run tracking contents the server holds (local
    files, or S3 objects: fetched to be hashed, but not uploaded) sends no blob to the server."""
    client, name = bucket
    for rel, data in S3_FILES.items():
        client.put_object(Bucket=name, Key=f"data/train/{rel}", Body=data)
    src = put(tmp_path / "src", FILES)
    first = new_run()
    first["datasets/train"].track_files(str(src), upload=True)
    first["datasets/s3"].track_files(f"s3://{name}/data/train", upload=True)
    first.wait()
    assert sorted(backend.blob_puts()) == sorted({sha(d) for d in [*FILES.values(), *S3_FILES.values()]})

    puts = len(backend.blob_puts())
    again = new_run()
    again["datasets/train"].track_files(str(put(tmp_path / "copy", FILES)), upload=True)
    again.wait()
    assert backend.blob_puts()[puts:] == []  # local files the server holds
    again["datasets/s3"].track_files(f"s3://{name}/data/train", upload=True)
    again.wait()
    assert backend.blob_puts()[puts:] == []  # S3 objects the server holds


# ------------------------------------------------------------------------------------------ CLI ls / show
def test_cli_ls_and_show_print_the_view(backend: Backend, tmp_path: Path) -> None:
    train_files = {"a.csv": b"a,b,c\n1\n", "big.bin": bytes(range(256)) * 7 + b"x" * 248}  # 8 + 2040 = 2 KiB
    train = put(tmp_path / "train", train_files)
    val = put(tmp_path / "val", {"v.csv": b"v\n"})
    (tmp_path / "w.bin").write_bytes(b"weights")
    r1, r2 = new_run(), new_run()
    r1["datasets/train"].track_files(str(train))
    r1["data/val"].track_files(str(val))
    r1["model/weights"].upload(str(tmp_path / "w.bin"))
    r1.wait()
    r2["datasets/train"].track_files(str(train))
    r2.wait()
    naiad.init_model(key="CLS", project=PROJECT)
    naiad.register_model_version(r1, model="DEF-CLS").wait()
    h_train, h_val = r1["datasets/train"].fetch_hash(), r1["data/val"].fetch_hash()
    frame = read_project().fetch_dataset_versions()
    seen = {h: ts for h, ts in zip(frame["hash"], frame["first_seen"], strict=True)}
    order = sorted([h_train, h_val])  # both first seen in DEF-1: by hash

    listed = cli(backend, "datasets", "ls").stdout
    title, header, rows = rich_table(listed)
    assert title == f"{PROJECT} — 2 dataset version(s)"
    assert header == ["hash", "files", "size", "first seen", "roles", "runs", "model versions"]
    expected = {h_train: ["2", "2.0 KiB", "train", "DEF-1, DEF-2", "DEF-CLS-1"],
                h_val: ["1", "2 B", "validation", "DEF-1", "DEF-CLS-1"]}
    assert rows == [[h[:12], *expected[h][:2], seen[h].strftime("%Y-%m-%d %H:%M:%S"), *expected[h][2:]]
                    for h in order]

    lines = cli(backend, "datasets", "ls", "--json", "--project", PROJECT).stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [{k: v for k, v in r.items() if k != "first_seen"} for r in records] == [
        {"hash": h, "files": int(expected[h][0]), "size": 2048 if h == h_train else 2, "roles": expected[h][2],
         "runs": expected[h][3], "model_versions": expected[h][4]} for h in order]
    assert [pd.Timestamp(r["first_seen"]) for r in records] == [seen[h] for h in order]

    shown = cli(backend, "datasets", "show", h_train[:7], "--files").stdout
    assert shown.splitlines() == [
        f"dataset {h_train}: 2 file(s), 2.0 KiB",
        "  DEF-1          run            datasets/train  (train)",
        "  DEF-2          run            datasets/train  (train)",
        "  DEF-CLS-1      model version  datasets/train  (train)",
        f"    a.csv  8 B  {sha(train_files['a.csv'])[:12]}",
        f"    big.bin  2,040 B  {sha(train_files['big.bin'])[:12]}",
    ]
    shown = cli(backend, "datasets", "show", "DEF-1:data/val", "--project", PROJECT).stdout
    assert shown.splitlines() == [
        f"dataset {h_val}: 1 file(s), 2 B",
        "  DEF-1          run            data/val  (validation)",
        "  DEF-CLS-1      model version  datasets/data/val  (validation)",
    ]
    failed = cli(backend, "datasets", "show", "DEF-2:data/val", code=1)
    assert failed.stderr.startswith("Error: DEF-2 has no tracked dataset at 'data/val'")

    if backend.name == "server":  # a fresh process: the token comes from NAIAD_API_TOKEN, the server from --uri
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}
        command = [sys.executable, "-m", "naiad", "datasets", "ls", "--json", "--uri", backend.uri]
        done = subprocess.run(command, env={**env, "NAIAD_API_TOKEN": backend.token}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == lines
        refused = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "NAIAD_API_TOKEN" in refused.stderr and refused.stdout == ""
