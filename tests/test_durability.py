"""What survives a crash, a locked store and a replay: the write path's durability guarantees."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import naiad
import naiad.store
from conftest import run_script, start_script
from naiad.core import ops as O
from naiad.core.oplog import OpLog, read_records
from naiad.core.ops import Batch

FLUSH = 0.05
# A flush itself takes time (encoding, and the writer thread waiting for the GIL while the training loop
# spins), so a point can wait one period plus one flush before it reaches the op log; measured up to
# ~0.12 s on 2 cores at a 0.05 s period.
# A flush takes time itself (collecting, encoding and writing ~100k points under a busy 2-core CI
# machine, with this test process reading the op logs every 50 ms): durable data may lag the
# training loop by the flush period plus that much.
FLUSH_ALLOWANCE = 0.5


def _read_lines_until(proc: subprocess.Popen[str], prefix: str, timeout: float = 30) -> str:
    """Read the child's stdout until a line starting with ``prefix``; fail with its stderr otherwise."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line.strip()
    proc.kill()
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"child never printed {prefix!r}; stderr:\n{err}")


def _kill(proc: subprocess.Popen[str]) -> tuple[float, str, str]:
    """SIGKILL the child; return the kill time and the rest of its output."""
    t_kill = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    return t_kill, out, err


def _progress(out: str) -> list[tuple[int, float]]:
    """The child's complete ``AT i time`` lines (the last line may be cut by the kill)."""
    lines = out.split("\n")[:-1]  # whatever follows the last newline is incomplete
    return [(int(p[1]), float(p[2])) for p in (ln.split() for ln in lines) if len(p) == 3 and p[0] == "AT"]


# ------------------------------------------------------------------------------------- (a) SIGKILL

APPEND_LOOP = """
import sys, time
import naiad
run = naiad.init_run(project="durability")
run["loss"].extend([float(i) for i in range(1000)], wait=True)
print("READY", run["sys/id"].fetch(), flush=True)
i = 1000
h = run["loss"]
while True:
    h.append(float(i))
    if i % 2000 == 0:
        print("AT", i, time.time(), flush=True)
    i += 1
"""


def test_sigkill_leaves_a_gapless_prefix_and_a_crashed_run(store_uri: str) -> None:
    proc = start_script(APPEND_LOOP, env={"NAIAD_FLUSH_PERIOD": str(FLUSH)})
    run_id = _read_lines_until(proc, "READY").split()[1]
    time.sleep(1.5)
    _t_kill, out, err = _kill(proc)
    assert _progress(out), f"the child reported no progress; stderr:\n{err}"
    assert "database is locked" not in err

    assert list((Path(store_uri) / "oplog").glob("*.log")), "the dead writer's op log is on disk"
    naiad.store.open_store(store_uri)  # replays the op logs of dead writers
    run = naiad.init_run(with_id=run_id, mode="read-only")
    data = run["loss"].fetch_values(include_timestamp=False)
    steps = data["step"].to_numpy()
    values = data["value"].to_numpy()
    n = len(steps)
    assert n >= 1000  # what the child waited for before the loop
    # a prefix 0..n-1: no gap, no duplicate, in order
    assert np.array_equal(steps, np.arange(n, dtype=float))
    assert np.array_equal(values, np.arange(n, dtype=float))
    assert run["sys/state"].fetch() == "crashed"
    table = naiad.init_project(project="durability", mode="read-only").fetch_runs_table(
        state="inactive", columns=["sys/state"]).to_pandas()
    assert table["sys/state"].tolist() == ["crashed"]
    assert not list((Path(store_uri) / "oplog").glob("*.log")), "a replayed op log is removed"


def _durable_points(store_uri: str, db: sqlite3.Connection) -> int:
    """Points a SIGKILL right now would keep: those in the store plus those only in op logs."""
    in_logs: dict[tuple[str, int], int] = {}
    for log in (Path(store_uri) / "oplog").glob("*.log"):
        try:
            for batch in read_records(log):
                in_logs[(batch.writer, batch.seq)] = batch.point_count()
        except FileNotFoundError:  # removed since the glob
            pass
    db.execute("BEGIN")  # read the store after the logs: a batch truncated meanwhile is in the store
    applied = dict(db.execute("SELECT writer, seq FROM writers").fetchall())
    stored = int(db.execute("SELECT COALESCE(SUM(count), 0) FROM series").fetchone()[0])
    db.execute("COMMIT")
    return stored + sum(n for (writer, seq), n in in_logs.items() if seq > applied.get(writer, 0))


def test_sigkill_loses_at_most_the_last_flush_period(store_uri: str) -> None:
    """Sampled all along a tight append loop (and while another process holds the store's write lock):
    what is durable never lags the training loop by more than one flush period."""
    period = 0.25
    proc = start_script(APPEND_LOOP, env={"NAIAD_FLUSH_PERIOD": str(period)})
    _read_lines_until(proc, "READY")
    db = sqlite3.connect(Path(store_uri) / "naiad.db", timeout=30, isolation_level=None)
    lock = sqlite3.connect(Path(store_uri) / "naiad.db", timeout=30, isolation_level=None)
    samples: list[tuple[float, int]] = []
    try:
        start = time.time()
        while time.time() - start < 3.0:
            time.sleep(0.05)
            if not lock.in_transaction and 1.0 < time.time() - start < 2.0:
                lock.execute("BEGIN IMMEDIATE")  # the store is busy for a second (another writer, a sync)
            elif lock.in_transaction and time.time() - start >= 2.0:
                lock.execute("ROLLBACK")
            samples.append((time.time(), _durable_points(store_uri, db)))  # readers never wait in WAL
        t_kill, out, _err = _kill(proc)
    finally:
        if lock.in_transaction:
            lock.execute("ROLLBACK")
        lock.close()
        db.close()
    reports = _progress(out)
    steps = np.array([i for i, _ in reports], dtype=float)
    times = np.array([t for _, t in reports])
    # for every sample: how long ago was the newest durable point appended?
    lag = [(t - float(np.interp(d, steps, times))) for t, d in samples if t - times[0] > period + FLUSH_ALLOWANCE]
    assert max(lag) <= period + FLUSH_ALLOWANCE, (
        f"durable data lagged the training loop by up to {max(lag):.2f}s (median {np.median(lag):.2f}s) with "
        f"flush_period={period}")
    naiad.store.open_store(store_uri)
    n = len(naiad.init_run(with_id=_read_id(store_uri), mode="read-only")["loss"].fetch_values())
    must_have = [i for i, t in reports if t < t_kill - period - FLUSH_ALLOWANCE]
    assert n > max(must_have)


def _read_id(store_uri: str) -> str:
    ids = naiad.init_project(project="durability", mode="read-only").fetch_runs_table().to_pandas()["sys/id"]
    assert len(ids) == 1
    return str(ids.iloc[0])


# ------------------------------------------------------------------------------------- (b) locked store

LOCKED_STOP = """
import sys, time
import naiad
run = naiad.init_run(project="locked", flush_period=0.05)
run["before"].extend([float(i) for i in range(1000)])
run["params/lr"] = 0.1
run.wait()
print("READY", run["sys/id"].fetch(), flush=True)
sys.stdin.readline()  # the test now holds the store's write lock
run["after"].extend([float(i) for i in range(5000)])
run["params/epochs"] = 7
run["sys/tags"].add("late")
t0 = time.monotonic()
run.stop(seconds=STOP_SECONDS)
print("STOPPED", time.monotonic() - t0, flush=True)
"""


def test_stop_with_a_locked_store_returns_in_time_and_keeps_the_op_log(store_uri: str) -> None:
    stop_seconds = 1.5
    proc = start_script(LOCKED_STOP.replace("STOP_SECONDS", str(stop_seconds)), stdin=True)
    run_id = _read_lines_until(proc, "READY").split()[1]
    lock = sqlite3.connect(Path(store_uri) / "naiad.db", timeout=30, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        stopped = _read_lines_until(proc, "STOPPED", timeout=stop_seconds + 20)
        elapsed = float(stopped.split()[1])
        assert elapsed < stop_seconds + 1.0, f"stop(seconds={stop_seconds}) took {elapsed:.2f}s"
        _, err = proc.communicate(timeout=20)  # no exit hook waits forever on the lock either
        assert proc.returncode == 0, err
        assert "naiad sync" in err, err  # the user is told where the rest is
        assert "saving the last writes" in err, err  # a progress line while draining took > 1 s
        logs = list((Path(store_uri) / "oplog").glob("*.log"))
        assert logs, "the writes that could not be stored are kept in an op log"
        assert sum(1 for log in logs for _ in read_records(log)) >= 1
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    store = naiad.store.open_store(store_uri)  # the next open replays the log
    report = naiad.store.recover_oplogs(store)  # and a second replay finds nothing left
    assert not report.applied and not report.failed
    run = naiad.init_run(with_id=run_id, mode="read-only")
    before = run["before"].fetch_values(include_timestamp=False)
    after = run["after"].fetch_values(include_timestamp=False)
    assert before["value"].tolist() == [float(i) for i in range(1000)]
    assert after["value"].tolist() == [float(i) for i in range(5000)]
    assert after["step"].tolist() == [float(i) for i in range(5000)]
    assert run["params"].fetch() == {"lr": 0.1, "epochs": 7}
    assert run["sys/tags"].fetch() == {"late"}
    assert run["sys/state"].fetch() == "finished"


# ------------------------------------------------------------------------------------- (c) idempotency


def _points_batch(container: str, writer: str, seq: int, start: int, n: int) -> Batch:
    steps = np.arange(start, start + n, dtype=np.float64)
    return Batch(container, writer, seq, [
        (O.POINTS, "loss", "FloatSeries", steps, np.full(n, 1_700_000_000.0), steps * 0.5),
        (O.ASSIGN, "last_seq", "Integer", seq),
        (O.ADD, "sys/tags", [f"seq{seq}"]),
    ])


def _new_run_uuid(store_uri: str) -> tuple[str, str]:
    run = naiad.init_run(project="replay")
    run_id = run["sys/id"].fetch()
    run.stop()
    store = naiad.store.open_store(store_uri)
    return run_id, store.get_container(short_id=run_id).uuid


def test_applying_the_same_batch_twice_stores_its_points_once(store_uri: str) -> None:
    run_id, container = _new_run_uuid(store_uri)
    store = naiad.store.open_store(store_uri)
    writer = uuid.uuid4().hex
    first, second = _points_batch(container, writer, 1, 0, 100), _points_batch(container, writer, 2, 100, 50)
    store.apply(first)
    store.apply(first)
    store.apply(second)
    store.apply(first)  # an old batch arriving late is still a no-op
    store.apply(second)
    run = naiad.init_run(with_id=run_id, mode="read-only")
    df = run["loss"].fetch_values(include_timestamp=False)
    assert df["step"].tolist() == [float(i) for i in range(150)]
    assert df["value"].tolist() == [i * 0.5 for i in range(150)]
    assert run["last_seq"].fetch() == 2
    assert not run.exists("sys/errors")  # a replayed batch is skipped, not refused


def test_replaying_the_same_op_log_twice_stores_points_once(store_uri: str) -> None:
    run_id, container = _new_run_uuid(store_uri)
    store = naiad.store.open_store(store_uri)
    writer = uuid.uuid4().hex
    log_path = Path(store_uri) / "oplog" / f"{container}.{writer}.log"
    oplog = OpLog(log_path)
    for seq in range(1, 4):
        oplog.append(_points_batch(container, writer, seq, (seq - 1) * 10, 10))
    oplog.close(delete=False)
    saved = log_path.read_bytes()

    first = naiad.store.recover_oplogs(store)
    assert first.applied == {str(log_path): 3}
    assert not log_path.exists()
    log_path.write_bytes(saved)  # the same log shows up again (a copy restored, a sync re-run)
    second = naiad.store.recover_oplogs(store)
    assert second.applied == {str(log_path): 3}

    run = naiad.init_run(with_id=run_id, mode="read-only")
    df = run["loss"].fetch_values(include_timestamp=False)
    assert df["step"].tolist() == [float(i) for i in range(30)]
    assert run["sys/tags"].fetch() == {"seq1", "seq2", "seq3"}
    assert not run.exists("sys/errors")


def test_a_torn_record_at_the_end_of_an_op_log_is_ignored(store_uri: str) -> None:
    run_id, container = _new_run_uuid(store_uri)
    store = naiad.store.open_store(store_uri)
    writer = uuid.uuid4().hex
    log_path = Path(store_uri) / "oplog" / f"{container}.{writer}.log"
    oplog = OpLog(log_path)
    oplog.append(_points_batch(container, writer, 1, 0, 10))
    oplog.append(_points_batch(container, writer, 2, 10, 10))
    oplog.close(delete=False)
    data = log_path.read_bytes()
    log_path.write_bytes(data[:-7])  # the process died in the middle of the second record
    report = naiad.store.recover_oplogs(store)
    assert report.applied == {str(log_path): 1} and not report.failed
    run = naiad.init_run(with_id=run_id, mode="read-only")
    assert len(run["loss"].fetch_values()) == 10


def test_a_live_writers_op_log_is_not_replayed(store_uri: str) -> None:
    run = naiad.init_run(project="replay", flush_period=60)
    run["x"] = 1
    run["loss"].append(0.5)
    run.wait()
    store = naiad.store.open_store(store_uri)
    report = naiad.store.recover_oplogs(store)
    assert len(report.skipped) == 1 and not report.applied
    run.stop()


# ------------------------------------------------------------------------------------- (d) heartbeat


def _ping(project: str, run_id: str) -> float:
    table = naiad.init_project(project=project, mode="read-only").fetch_runs_table(
        id=run_id, columns=["sys/ping_time"]).to_pandas()
    return float(table["sys/ping_time"].iloc[0].timestamp())


def test_heartbeat_keeps_ping_time_fresh_while_the_run_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_HEARTBEAT_PERIOD", "0.1")
    run = naiad.init_run(project="heartbeat")
    run.wait()
    run_id = run["sys/id"].fetch()
    first = _ping("heartbeat", run_id)
    time.sleep(0.6)
    second = _ping("heartbeat", run_id)  # read through another path: no flush forced by the run
    assert second > first + 0.2
    assert time.time() - second < 0.5
    run.stop()


def test_a_killed_run_shows_as_crashed_without_recovery(monkeypatch: pytest.MonkeyPatch, store_uri: str) -> None:
    monkeypatch.setenv("NAIAD_CRASH_AFTER", "0.5")
    code = """
        import time
        import naiad
        run = naiad.init_run(project="heartbeat")
        run["x"] = 1
        run.wait()
        print("READY", run["sys/id"].fetch(), flush=True)
        time.sleep(60)
    """
    proc = start_script(code, env={"NAIAD_HEARTBEAT_PERIOD": "0.1"})
    try:
        run_id = _read_lines_until(proc, "READY").split()[1]
        naiad.store.open_store(store_uri, recover=False)  # cached: nothing below replays op logs
        project = naiad.init_project(project="heartbeat", mode="read-only")
        time.sleep(0.8)
        alive = project.fetch_runs_table(state="active").to_pandas()
        assert alive["sys/id"].tolist() == [run_id], "a live run with a fresh heartbeat is running"
    finally:
        _kill(proc)
    time.sleep(0.8)
    table = project.fetch_runs_table(columns=["sys/state"]).to_pandas()
    assert table["sys/state"].tolist() == ["crashed"]
    crashed = project.fetch_runs_table(query='`sys/state`:experimentState = "crashed"').to_pandas()
    assert crashed["sys/id"].tolist() == [run_id]
    assert project.fetch_runs_table(state="active").to_pandas().empty
    assert naiad.init_run(with_id=run_id, mode="read-only")["sys/state"].fetch() == "crashed"


# ------------------------------------------------------------------------------------- (e) late errors


def test_type_clash_found_by_the_store_is_counted_and_the_writer_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAIAD_RAISE_ON_ERROR")  # the default a training job runs with
    first = naiad.init_run(project="clash", custom_run_id="shared")
    second = naiad.init_run(project="clash", custom_run_id="shared")
    first["metric"] = 0.5
    first.wait()
    second["metric"] = "not a float"  # second does not know the field yet: the store refuses it later
    second["other"] = 1
    second["loss"].append(0.1)
    second.wait()  # no exception: the failure came after the call
    second["metric"] = "still not a float"
    second["more"] = 2
    second.wait()
    first.stop()
    second.stop()
    run = naiad.init_run(project="clash", custom_run_id="shared", mode="read-only")
    assert run["metric"].fetch() == 0.5
    assert run["other"].fetch() == 1
    assert run["more"].fetch() == 2
    assert run["loss"].fetch_last() == 0.1
    assert run["sys/errors"].fetch() == 2
    assert "metric" in run["sys/last_error"].fetch()


def test_type_clash_found_by_the_store_raises_at_the_next_call_with_raise_on_error() -> None:
    first = naiad.init_run(project="clash", custom_run_id="shared")
    second = naiad.init_run(project="clash", custom_run_id="shared")
    first["metric"] = 0.5
    first.wait()
    second["metric"] = "text"
    with pytest.raises(naiad.exceptions.MetadataInconsistency, match="metric"):
        second.wait()
    second["other"] = 1  # the writer is still alive
    second.wait()
    assert second["other"].fetch() == 1


CLASH_SCRIPT = """
import naiad
first = naiad.init_run(project="clash", custom_run_id="shared")
second = naiad.init_run(project="clash", custom_run_id="shared")
first["metric"] = 0.5
first.wait()
second["metric"] = "text"
second.wait()
second["metric"] = "more text"
second["other"] = 1
second.wait()
first.stop()
second.stop()
print("DONE", flush=True)
"""


def test_type_clash_found_by_the_store_is_reported_once_on_stderr() -> None:
    done = run_script(CLASH_SCRIPT, env={"NAIAD_RAISE_ON_ERROR": "0"})
    assert "DONE" in done.stdout, done.stderr
    assert done.stderr.count("field 'metric' is Float") == 1, done.stderr


def _vanishing_upload(tmp_path: Path) -> naiad.Run:
    """A run whose upload fails in the writer: the file is deleted between the call and the flush."""
    target = tmp_path / "weights.bin"
    target.write_bytes(b"w" * 10)
    run = naiad.init_run(project="late", flush_period=60)
    run["model/weights"].upload(str(target))
    target.unlink()
    return run


def test_failures_after_the_call_never_raise_without_raise_on_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NAIAD_RAISE_ON_ERROR")
    run = _vanishing_upload(tmp_path)
    run["loss"].append(0.5)
    run.wait()  # the failure happens here, in the writer: not raised
    run["loss"].append(0.4)
    run["x"] = 1
    run.wait()
    run_id = run["sys/id"].fetch()
    run.stop()
    err = capfd.readouterr().err
    assert err.count("could not prepare 'model/weights'") == 1, err
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["loss"].fetch_values()["value"].tolist() == [0.5, 0.4]
    assert old["x"].fetch() == 1
    assert old["sys/state"].fetch() == "finished"


def test_failures_after_the_call_raise_at_the_next_call_with_raise_on_error(tmp_path: Path) -> None:
    run = _vanishing_upload(tmp_path)
    with pytest.raises(naiad.exceptions.FileNotFound):
        run.wait()
    run["x"] = 1  # the writer survived
    run.wait()
    assert run["x"].fetch() == 1


def test_failures_in_the_writer_are_counted_in_sys_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAIAD_RAISE_ON_ERROR")
    run = _vanishing_upload(tmp_path)
    run.wait()
    run_id = run["sys/id"].fetch()
    run.stop()
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["sys/errors"].fetch() == 1


def test_a_store_that_is_copied_without_its_op_logs_still_opens(tmp_path: Path, store_uri: str) -> None:
    run = naiad.init_run(project="copy")
    run["x"] = 1
    run.stop()
    copy = tmp_path / "copy"
    shutil.copytree(store_uri, copy, ignore=shutil.ignore_patterns("oplog"))
    naiad.store._stores.clear()
    store = naiad.store.open_store(str(copy))
    assert [p.name for p in store.list_projects()] == ["copy"]


# ------------------------------------------------------------------------------------- more lifecycle


def _state(project: str) -> list[str]:
    table = naiad.init_project(project=project, mode="read-only").fetch_runs_table(
        columns=["sys/state"]).to_pandas()
    return [str(s) for s in table["sys/state"]]


def test_an_idle_sync_mode_run_is_not_shown_as_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_HEARTBEAT_PERIOD", "0.1")
    monkeypatch.setenv("NAIAD_CRASH_AFTER", "0.5")
    run = naiad.init_run(project="idle", mode="sync")
    run["x"] = 1
    time.sleep(1.0)  # a long epoch without any logging
    assert _state("idle") == ["running"]
    run.stop()


def test_a_long_flush_period_does_not_starve_the_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_HEARTBEAT_PERIOD", "0.1")
    monkeypatch.setenv("NAIAD_CRASH_AFTER", "0.5")
    run = naiad.init_run(project="idle", flush_period=10)
    run.wait()
    time.sleep(1.0)
    assert _state("idle") == ["running"]
    run.stop(seconds=5)


def test_a_resumed_crashed_run_runs_again_and_finishes(store_uri: str) -> None:
    proc = start_script("""
        import time
        import naiad
        run = naiad.init_run(project="revive")
        run["loss"].extend([0.9, 0.8])
        run.wait()
        print("READY", run["sys/id"].fetch(), flush=True)
        time.sleep(60)
    """)
    run_id = _read_lines_until(proc, "READY").split()[1]
    _kill(proc)
    naiad.store.open_store(store_uri)
    assert _state("revive") == ["crashed"]
    resumed = naiad.init_run(with_id=run_id)
    resumed.wait()
    assert _state("revive") == ["running"]
    resumed["loss"].append(0.7)
    resumed.stop()
    assert _state("revive") == ["finished"]
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["loss"].fetch_values()["step"].tolist() == [0.0, 1.0, 2.0]


def test_an_uncaught_exception_marks_the_run_failed_and_records_the_traceback(store_uri: str) -> None:
    done = run_script("""
        import naiad
        run = naiad.init_run(project="crashy")
        run["loss"].append(0.5)
        print("ID", run["sys/id"].fetch(), flush=True)
        raise ValueError("exploding gradients")
    """)
    assert done.returncode == 1
    assert "exploding gradients" in done.stderr  # the user's traceback is still printed
    run_id = done.stdout.split()[1]
    run = naiad.init_run(with_id=run_id, mode="read-only")
    assert run["sys/state"].fetch() == "failed"
    assert run["sys/failed"].fetch() is True
    monitoring = run.get_structure()["monitoring"]
    (namespace,) = monitoring.values()
    lines = namespace["traceback"].fetch_values()["value"].tolist()
    assert any("exploding gradients" in line for line in lines)
    assert run["loss"].fetch_last() == 0.5


def test_the_exit_hook_gives_up_after_the_stop_timeout_when_the_store_is_locked(store_uri: str) -> None:
    proc = start_script("""
        import sys
        import naiad
        run = naiad.init_run(project="exit")
        run["a"] = 1
        run.wait()
        print("READY", run["sys/id"].fetch(), flush=True)
        sys.stdin.readline()
        run["loss"].extend([0.5, 0.4, 0.3])
        # no stop(): the exit hook must finish the run without waiting forever
    """, env={"NAIAD_STOP_TIMEOUT": "1"}, stdin=True)
    run_id = _read_lines_until(proc, "READY").split()[1]
    lock = sqlite3.connect(Path(store_uri) / "naiad.db", timeout=30, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        _, err = proc.communicate("go\n", timeout=30)
        took = time.monotonic() - t0
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert proc.returncode == 0, err
    assert took < 4.0, f"the process needed {took:.1f}s to exit with NAIAD_STOP_TIMEOUT=1"
    naiad.store.open_store(store_uri)
    run = naiad.init_run(with_id=run_id, mode="read-only")
    assert run["loss"].fetch_values()["value"].tolist() == [0.5, 0.4, 0.3]
    assert run["sys/state"].fetch() == "finished"


def test_two_writers_of_one_series_keep_the_first_points_and_count_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAIAD_RAISE_ON_ERROR")
    first = naiad.init_run(project="clash", custom_run_id="shared")
    second = naiad.init_run(project="clash", custom_run_id="shared")
    first["loss"].extend([1.0, 2.0, 3.0])
    first.wait()
    second["loss"].extend([10.0, 20.0])  # steps 0 and 1 again: refused by the store, counted
    second.wait()
    first.stop()
    second.stop()
    run = naiad.init_run(project="clash", custom_run_id="shared", mode="read-only")
    assert run["loss"].fetch_values()["value"].tolist() == [1.0, 2.0, 3.0]
    assert run["sys/errors"].fetch() >= 1
    assert "loss" in run["sys/last_error"].fetch()


def test_training_calls_do_not_wait_while_the_store_is_locked(store_uri: str) -> None:
    run = naiad.init_run(project="busy", flush_period=0.05)
    run["loss"].append(0.0)
    run.wait()
    lock = sqlite3.connect(Path(store_uri) / "naiad.db", timeout=30, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        time.sleep(0.2)  # the writer is now stuck on the lock
        t0 = time.perf_counter()
        for i in range(1, 20_001):
            run["loss"].append(float(i))
            if i % 100 == 0:
                run[f"params/p{i}"] = float(i)
        run["sys/tags"].add("busy")
        took = time.perf_counter() - t0
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert took < 1.0, f"20,000 appends and 200 assigns took {took:.2f}s with the store locked"
    run.wait()
    assert len(run["loss"].fetch_values()) == 20_001
    assert run["params/p20000"].fetch() == 20000.0
