"""Upgrades (issue 19, "prove the promises"): a store written by an older naiad opens with this one,
migrates, and keeps every value.

tests/fixtures/upgrade/ holds an embedded store and a PostgreSQL dump (with its blobs) written by the
revision named in ``written-by.json``, and every value that revision read back from them
(``scripts/make-upgrade-fixture REV`` makes them again: from the previous release's tag once there is
one).  This naiad opens the embedded store as it is, and migrates the restored database with
``naiad server migrate``; then every field, every point of every series and the registry's history must
read as they did, files must download with their hashes, and the old runs must take new writes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

import naiad
import naiad.store
import upgrade_kit
from services import _pg_bin, new_database, shared_postgres

pytestmark = pytest.mark.trust

FIXTURE = Path(__file__).parent / "fixtures" / "upgrade"


def _same(expected: dict[str, Any], found: dict[str, Any]) -> None:
    """Every container and value the old naiad read is read the same now (a migration may add fields)."""
    assert sorted(found) == sorted(expected)
    for key, fields in expected.items():
        if key == "registry events":
            assert found[key] == fields
            continue
        missing = sorted(set(fields) - set(found[key]))
        assert not missing, f"{key}: fields gone after the upgrade: {missing}"
        changed = {p: (v, found[key][p]) for p, v in fields.items() if found[key][p] != v}
        assert not changed, f"{key}: values changed by the upgrade: {changed}"


def _files_download_whole(store: Any, snapshot: dict[str, Any]) -> int:
    checked = 0
    for fields in snapshot.values():
        if not isinstance(fields, dict):
            continue
        for value in fields.values():
            if value.get("type") == "File":
                digest = value["value"]["hash"]
                assert hashlib.sha256(b"".join(store.blobs.read_range(digest, 0, value["value"]["size"]))
                                      ).hexdigest() == digest
                checked += 1
    return checked


def _old_run_takes_new_writes(short_id: str) -> None:
    run = naiad.init_run(with_id=short_id, capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False, source_files=[])
    run["train/loss"].append(0.001)
    run["after/upgrade"] = True
    run.stop()
    again = naiad.init_run(with_id=short_id, mode="read-only")
    assert again["after/upgrade"].fetch() is True
    assert len(again["train/loss"].fetch_values()) == 301
    again.stop()


def test_an_embedded_store_of_the_older_naiad_opens_and_keeps_every_value(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with tarfile.open(FIXTURE / "embedded.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    uri = str(tmp_path / ".naiad")
    monkeypatch.setenv("NAIAD_URI", uri)
    found = upgrade_kit.snapshot()  # opening it migrates it
    _same(json.loads((FIXTURE / "expected-embedded.json").read_text()), found)
    assert _files_download_whole(naiad.store.open_store(uri), found) == 4
    _old_run_takes_new_writes("UPG-1")


def test_a_postgresql_store_of_the_older_naiad_migrates_and_keeps_every_value(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = new_database(shared_postgres())
    restored = subprocess.run([_pg_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f",
                               str(FIXTURE / "postgres.sql")], capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr
    with tarfile.open(FIXTURE / "postgres-blobs.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    blobs = str(tmp_path / "blobs")
    from naiad.errors import SchemaVersionError
    from naiad.store.blobs import LocalBlobs
    from naiad.store.postgres import PostgresStore

    with pytest.raises(SchemaVersionError, match="naiad server migrate"):
        PostgresStore(dsn, LocalBlobs(Path(blobs)))  # an older schema is refused until migrated
    migrated = subprocess.run([sys.executable, "-m", "naiad", "server", "migrate", "--store", dsn],
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    monkeypatch.setenv("NAIAD_URI", dsn)
    monkeypatch.setenv("NAIAD_BLOBS", blobs)
    found = upgrade_kit.snapshot()
    _same(json.loads((FIXTURE / "expected-postgres.json").read_text()), found)
    assert _files_download_whole(naiad.store.open_store(dsn), found) == 4
    _old_run_takes_new_writes("UPG-1")
