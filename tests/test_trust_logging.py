"""Logging never crashes training, and one bad string never stops a run (issue 19, hole 4).

``run["note"] = os.fsdecode(b"file-\\xff.txt")`` — a lone surrogate, what Python makes of any file name
that is not UTF-8 — was accepted at the call; the writer then failed on every retry, every later write
of the run was lost, ``stop()`` waited its whole timeout and ``naiad sync`` failed for ever on the same
op.  Now the call site stores U+FFFD in its place (one warning), and the writer and ``naiad sync``
drop an op no store can take (counted in ``sys/errors``) and store everything else.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import naiad
from conftest import fill
from naiad.cli.main import main as cli_main
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch

pytestmark = pytest.mark.trust

BAD = os.fsdecode(b"file-\xff.txt")  # 'file-\udcff.txt'


def quiet_run(**kwargs: object) -> naiad.Run:
    return naiad.init_run(project="defects", capture_stdout=False, capture_stderr=False,
                          capture_hardware_metrics=False, source_files=[], **kwargs)  # type: ignore[arg-type]


def test_text_a_store_cannot_keep_is_stored_as_the_replacement_character() -> None:
    run = quiet_run()
    with pytest.warns(F.NaiadUnsupportedValue, match="stored as U\\+FFFD") as warned:
        run["note"] = BAD
        run["log"].append(BAD)
        run["log"].append("nul\x00inside")  # a series' points keep NUL (binary chunks)
        run["sys/tags"].add([BAD, "nul\x00tag"])
    assert len(warned) == 3  # once per field
    run["ascii"] = "plain"
    for i in range(1100):
        run["loss"].append(float(i))
    t0 = time.monotonic()
    run.stop()
    assert time.monotonic() - t0 < 10  # not the whole stop timeout
    old = naiad.init_run(with_id=str(run._label()), mode="read-only")
    assert old["note"].fetch() == "file-\ufffd.txt"
    assert old["log"].fetch_values()["value"].tolist() == ["file-\ufffd.txt", "nul\x00inside"]
    assert old["sys/tags"].fetch() == {"file-\ufffd.txt", "nul\ufffdtag"}
    assert len(old["loss"].fetch_values()) == 1100 and old["ascii"].fetch() == "plain"
    assert old.exists("sys/errors") is False or old["sys/errors"].fetch() == 0
    old.stop()
    with pytest.raises(naiad.errors.InvalidPathError, match="lone surrogate"):
        F.normalize_path(f"dir/{BAD}")


def test_the_writer_drops_an_op_no_store_takes_and_stores_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_RAISE_ON_ERROR", "0")  # the default: errors are counted, not raised
    run = quiet_run()
    run["before"] = 1.0
    run._submit((O.ASSIGN, "raw", F.STRING, BAD))  # past the call site's check, as an older client would
    for i in range(1100):
        run["loss"].append(float(i))
    run["after"] = 2.0
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run.stop()
    assert time.monotonic() - t0 < 10
    old = naiad.init_run(with_id=run._label(), mode="read-only")
    assert (old["before"].fetch(), old["after"].fetch()) == (1.0, 2.0)
    assert len(old["loss"].fetch_values()) == 1100
    assert not old.exists("raw")
    assert old["sys/errors"].fetch() == 1
    assert "'raw'" in old["sys/last_error"].fetch() and "lone surrogate" in old["sys/last_error"].fetch()
    old.stop()


def test_naiad_sync_drops_an_op_no_store_takes_and_stores_the_rest(tmp_path: Path) -> None:
    run = quiet_run(mode="offline")
    run["before"] = 1.0
    run._submit((O.ASSIGN, "raw", F.STRING, BAD))  # in the op log: an offline run stores nothing yet
    for i in range(1100):
        run["loss"].append(float(i))
    run.stop()
    synced = CliRunner().invoke(cli_main, ["sync"], catch_exceptions=False)
    assert synced.exit_code == 0, synced.output
    again = CliRunner().invoke(cli_main, ["sync"], catch_exceptions=False)
    assert again.exit_code == 0, again.output  # nothing left over to fail on
    project = naiad.init_project(project="defects", mode="read-only")
    table = project.fetch_runs_table().to_pandas()
    project.stop()
    [run_id] = table["sys/id"].tolist()
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["before"].fetch() == 1.0 and len(old["loss"].fetch_values()) == 1100
    assert not old.exists("raw") and old["sys/errors"].fetch() == 1
    old.stop()


def test_an_op_no_store_takes_is_replaced_by_a_counted_error() -> None:
    # the writer's and naiad sync's second line, for a store that fails the whole batch on it (a server
    # answering 500, an engine error): the op becomes an ERROR op, the rest of the batch stays as it is
    batch = Batch("c", "w", 7, [(O.ASSIGN, "a", F.FLOAT, 1.0), (O.ASSIGN, "raw", F.STRING, BAD),
                                (O.ADD, "sys/tags", ["ok", "nul\x00"]), (O.ASSIGN, "b", F.STRING, "fine"),
                                (O.POINTS, "log", F.STRING_SERIES, np.zeros(1), np.zeros(1), ["nul\x00kept"])])
    fixed, dropped = O.without_unstorable(batch)
    assert (fixed.container, fixed.writer, fixed.seq) == ("c", "w", 7)  # the same batch, applied at most once
    assert fixed.ops[0] == batch.ops[0] and fixed.ops[3] == batch.ops[3] and fixed.ops[4] is batch.ops[4]
    assert [op[0] for op in fixed.ops[1:3]] == [O.ERROR, O.ERROR]
    assert dropped == ["a write to 'raw' was dropped: its text holds a lone surrogate (not UTF-8)",
                       "a write to 'sys/tags' was dropped: its text holds NUL"]
    assert O.without_unstorable(fixed) == (fixed, [])


# ------------------------------------------------------------------------------ a full disk (hole 11)
def test_an_op_log_write_that_meets_a_full_disk_leaves_no_torn_record(tiny_disk: Path) -> None:
    """A record cut short by ENOSPC was left in the file, and every record after it (written once space
    came back) was unreadable: recovery stopped at the torn one.  The failed record is cut back."""
    from naiad.core.oplog import OpLog, read_records

    log = OpLog(tiny_disk / "w.log")
    log.append(Batch("c", "w", 1, [(O.ASSIGN, "a", F.FLOAT, 1.0)]))
    filler = fill(tiny_disk)
    big = Batch("c", "w", 2, [(O.POINTS, "s", F.FLOAT_SERIES, np.arange(50_000.0), np.arange(50_000.0),
                               np.arange(50_000.0))])
    with pytest.raises(OSError):
        log.append(big)
    filler.unlink()
    log.append(Batch("c", "w", 3, [(O.ASSIGN, "a", F.FLOAT, 3.0)]))
    log.close(delete=False)
    assert [b.seq for b in read_records(tiny_disk / "w.log")] == [1, 3]


def test_a_full_disk_is_one_clear_message_and_logging_resumes(tiny_disk: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    """The store and the op log on a disk that fills mid-run: one message (the disk is full, nothing was
    lost, free space), not SQLite's "cannot rollback" after it; once space is back every point is stored."""
    monkeypatch.setenv("NAIAD_URI", str(tiny_disk / ".naiad"))
    run = naiad.init_run(project="full", capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False,
                         source_files=[], git_ref=False)
    run["x"].append(0.0)
    run.wait()
    filler = fill(tiny_disk)
    for i in range(1, 30_000):
        run["x"].append(float(i))
    time.sleep(2.5)  # a few flushes meet the full disk
    filler.unlink()
    run.wait()
    assert run["x"].fetch_last() == 29_999.0 and len(run["x"].fetch_values()) == 30_000
    run.stop()
    err = capfd.readouterr().err
    assert err.count("the disk is full") == 1, err
    assert "nothing was lost" in err and "free space on that disk" in err
    assert "cannot rollback" not in err and "No space left" not in err


def test_the_sqlite_store_on_a_full_disk_says_so_and_takes_the_batch_once_there_is_room(tiny_disk: Path) -> None:
    """SQLite rolls back by itself on SQLITE_FULL; the store's own ROLLBACK then failed with "cannot
    rollback - no transaction is active", which was the error the caller saw.  Now: DiskFullError (a
    StoreUnavailableError, so writers retry), nothing half-applied, and the same batch applies later."""
    from naiad import errors as E
    from naiad.store.base import RUN
    from naiad.store.sqlite import SqliteStore

    store = SqliteStore(tiny_disk / "store")
    try:
        info = store.create_container("full", RUN, "u" * 32)
        steps = np.arange(200_000.0)
        batch = Batch(info.uuid, "w", 1, [(O.POINTS, "s", F.FLOAT_SERIES, steps, steps, steps)])
        filler = fill(tiny_disk)
        with pytest.raises(E.DiskFullError, match="the disk is full") as refused:
            store.apply(batch)
        assert isinstance(refused.value, E.StoreUnavailableError) and "cannot rollback" not in str(refused.value)
        assert store.writer_seq("w", info.uuid) == 0 and "s" not in store.structure(info.uuid)
        filler.unlink()
        assert store.apply(batch).seq == 1
        assert store.read_series(info.uuid, "s").steps.size == 200_000
    finally:
        store.close()


def test_a_full_disk_on_the_server_delays_a_run_and_loses_nothing(tiny_disk: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    """The server's store fills its disk mid-run: the server answers 503 ``disk_full`` (nothing half-applied),
    the client says so once and keeps its batches in its op log; once there is room every point is stored."""
    import httpx

    from services import as_user, team_server

    with team_server(tiny_disk, [("carl", "full", "contributor")]) as server:
        as_user(server, "carl", monkeypatch)
        monkeypatch.setenv("NAIAD_LOCAL_DIR", str(tmp_path / "client"))  # the client's op log: another disk
        run = naiad.init_run(project="full", capture_stdout=False, capture_stderr=False,
                             capture_hardware_metrics=False, source_files=[], git_ref=False)
        run["x"].append(0.0)
        run.wait()
        filler = fill(tiny_disk)
        for i in range(1, 100_000):
            run["x"].append(float(i))
        time.sleep(2.0)  # a few flushes meet the full disk
        info = server.store.get_container(short_id=run["sys/id"].fetch())
        body = O.encode_batch(Batch(info.uuid, "probe-" + info.uuid, 1, [
            (O.POINTS, "probe", F.FLOAT_SERIES, np.arange(100_000.0), np.arange(100_000.0), np.arange(100_000.0))]))
        answer = httpx.post(f"{server.url}/api/v1/batches", content=body, timeout=30, headers={
            "authorization": f"Bearer {server.tokens['carl']}", "content-type": "application/x-naiad-batch"})
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "disk_full", answer.text
        assert "free space" in answer.json()["error"]["message"]
        filler.unlink()
        run.wait()
        assert len(run["x"].fetch_values()) == 100_000 and run["x"].fetch_last() == 99_999.0
        run.stop()
        assert "probe" not in server.store.structure(info.uuid)  # the refused batch left nothing
    err = capfd.readouterr().err
    assert err.count("the disk is full") == 1, err
    assert "Traceback" not in err and "cannot rollback" not in err, err
