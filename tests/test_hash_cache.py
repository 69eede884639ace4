"""The stat-keyed hash cache behind track_files: unchanged files are not read again, changed ones are."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import naiad
from naiad.tracking.hashcache import hash_files


def make_folder(root: Path, n: int = 20, size: int = 50_000) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = root / f"part-{i:03d}.bin"
        p.write_bytes(os.urandom(size))
        paths.append(str(p))
    return paths


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_second_pass_reads_nothing_and_gives_the_same_hashes(tmp_path: Path) -> None:
    paths = make_folder(tmp_path / "data")
    first, r1 = hash_files(paths)
    assert (r1.hashed, r1.cached) == (20, 0)
    assert first == [(sha(p), 50_000) for p in paths]
    second, r2 = hash_files(paths)
    assert (r2.hashed, r2.cached, r2.bytes_read) == (0, 20, 0)
    assert second == first


def test_a_changed_file_is_hashed_again_even_with_its_old_mtime(tmp_path: Path) -> None:
    paths = make_folder(tmp_path / "data", n=5)
    hash_files(paths)
    st = os.stat(paths[2])
    Path(paths[2]).write_bytes(os.urandom(50_000))  # same size, new content
    os.utime(paths[2], ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back: ctime still moves
    got, report = hash_files(paths)
    assert report.hashed == 1 and report.cached == 4
    assert got[2] == (sha(paths[2]), 50_000)


def test_a_grown_file_and_a_new_file_are_hashed(tmp_path: Path) -> None:
    paths = make_folder(tmp_path / "data", n=3)
    hash_files(paths)
    with open(paths[0], "ab") as fh:
        fh.write(b"more")
    extra = tmp_path / "data" / "new.bin"
    extra.write_bytes(b"new")
    got, report = hash_files([*paths, str(extra)])
    assert report.hashed == 2 and report.cached == 2
    assert got[0] == (sha(paths[0]), 50_004) and got[3] == (sha(str(extra)), 3)


def test_cache_off_hashes_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_HASH_CACHE", "off")
    paths = make_folder(tmp_path / "data", n=3)
    hash_files(paths)
    _, report = hash_files(paths)
    assert report.hashed == 3 and report.cached == 0


def test_an_unusable_cache_is_skipped_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    garbage = tmp_path / "hashes.db"
    garbage.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("NAIAD_HASH_CACHE", str(garbage))
    paths = make_folder(tmp_path / "data", n=3)
    got, report = hash_files(paths)
    assert report.hashed == 3 and got == [(sha(p), 50_000) for p in paths]


def test_track_files_uses_the_cache_and_records_changes(tmp_path: Path) -> None:
    paths = make_folder(tmp_path / "data", n=4)
    run = naiad.init_run(project="data")
    run["datasets/train"].track_files(str(tmp_path / "data"))
    run.wait()
    first = run["datasets/train"].fetch_hash()
    Path(paths[1]).write_bytes(b"changed")
    run["datasets/train"].track_files(str(tmp_path / "data"))
    run.wait()
    files = {f.file_path.rsplit("/", 1)[-1]: f for f in run["datasets/train"].fetch_files_list()}
    assert files["part-001.bin"].file_hash == hashlib.sha256(b"changed").hexdigest()
    assert run["datasets/train"].fetch_hash() != first
    run.stop()
