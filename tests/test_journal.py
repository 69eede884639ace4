"""The journal (issue 19, "durability, the goal past the peers"): a process killed with SIGKILL loses no
call that returned.  Each test kills a real training process (or cuts a real recovery short) and reads
back what the store holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import naiad
import naiad.store
from conftest import fill, start_script
from naiad.core.journal import RECORD_SIZE, journal_files, segment_size

pytestmark = pytest.mark.trust

THREADS = """
import sys, threading
import naiad
run = naiad.init_run(project="j", custom_run_id="r", capture_stdout=False, capture_stderr=False,
                     capture_hardware_metrics=False, source_files=[], flush_period=float(sys.argv[1]))
counts = {"a": 0, "b": 0}

def log(name):
    handle = run["thread/" + name]
    i = 0
    while True:
        handle.append(float(i))
        i += 1
        counts[name] = i  # after the call returned

for name in counts:
    threading.Thread(target=log, args=(name,), daemon=True).start()
i = 0
while True:
    run["main/count"] = i
    run["main/text"] = f"text {i}"
    run["main/words"].append(f"word {i}")
    i += 1
    if i % 500 == 0:
        print("AT", i, counts["a"], counts["b"], flush=True)
"""


def _kill_after(proc: subprocess.Popen[str], seconds: float) -> list[int]:
    """Let ``proc`` run, SIGKILL it, and return the last complete ``AT`` line's numbers."""
    deadline = time.monotonic() + 60
    line = proc.stdout.readline() if proc.stdout else ""
    while not line.startswith("AT"):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        line = proc.stdout.readline() if proc.stdout else ""
    time.sleep(seconds)
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    lines = [ln for ln in (line + out).split("\n")[:-1] if ln.startswith("AT ")]
    return [int(x) for x in lines[-1].split()[1:]]


def _read(project: str, run_id: str = "r") -> naiad.Run:
    naiad.store.open_store(os.environ["NAIAD_URI"])  # replays (and folds the journal of) the dead writer
    table = naiad.init_project(project=project, mode="read-only").fetch_runs_table().to_pandas()
    row = table[table["sys/custom_run_id"] == run_id].iloc[0]
    return naiad.init_run(with_id=str(row["sys/id"]), mode="read-only")


def _steps(run: naiad.Run, path: str) -> np.ndarray:
    return run[path].fetch_values(include_timestamp=False)["step"].to_numpy()


@pytest.mark.parametrize("flush_period", [60.0, 0.05])
def test_sigkill_loses_no_call_that_returned_from_any_thread(flush_period: float) -> None:
    """Two threads append, the main thread assigns numbers and text and appends text; the kill comes with
    no flush for a minute (everything only in the journal), or in the middle of fast flushes."""
    at, a, b = _kill_after(start_script(THREADS, str(flush_period)), 1.5)
    run = _read("j")
    try:
        for name, reached in (("a", a), ("b", b)):
            steps = _steps(run, f"thread/{name}")
            assert len(steps) >= reached > 0, (name, len(steps), reached)
            assert np.array_equal(steps, np.arange(len(steps), dtype=float))  # a gap-free prefix, no repeats
        assert run["main/count"].fetch() >= at - 1
        count = run["main/count"].fetch()
        assert run["main/text"].fetch() in (f"text {count}", f"text {count - 1}")  # killed between the two
        words = run["main/words"].fetch_values()["value"].tolist()
        assert len(words) >= at and words == [f"word {i}" for i in range(len(words))]
        assert run["sys/state"].fetch() == "crashed"
    finally:
        run.stop()


STEADY = """
import sys
import naiad
run = naiad.init_run(project="j", custom_run_id="r", capture_stdout=False, capture_stderr=False,
                     capture_hardware_metrics=False, source_files=[], flush_period=60)
i = 0
while True:
    run["x"].append(float(i))
    i += 1
    if i % 1000 == 0:
        run["clear/me"].append(float(i))
        if i % 5000 == 0:
            run["clear/me"].clear()  # a clear between points: order matters
        print("AT", i, flush=True)
"""


def test_a_recovery_cut_short_and_run_again_stores_each_call_once(tmp_path: Path) -> None:
    """Recovery writes what the journal holds into the op log before it replays it; killed right after
    that (here: stopped there), the next recovery finds it covered and stores nothing twice."""
    from naiad.core.oplog import try_lock
    from naiad.store.recovery import _fold_journal

    (reached,) = _kill_after(start_script(STEADY), 0.8)
    uri = os.environ["NAIAD_URI"]
    store = naiad.store.open_store(uri, recover=False)
    logs = sorted((Path(uri) / "oplog").glob("*.log"))
    assert len(logs) == 1 and journal_files(logs[0].with_name(logs[0].name[:-4]))
    fd = try_lock(logs[0])
    assert fd is not None
    _fold_journal(store, logs[0], fd)  # the first recovery gets this far …
    _fold_journal(store, logs[0], fd)  # … and again (a recovery that ran twice up to here)
    os.close(fd)
    naiad.store.forget_store(uri)
    run = _read("j")
    try:
        steps = _steps(run, "x")
        assert len(steps) >= reached and np.array_equal(steps, np.arange(len(steps), dtype=float))
        last = len(steps) // 1000 * 1000
        cleared = run["clear/me"].fetch_values()["value"].tolist()
        assert cleared == [float(v) for v in range(last // 5000 * 5000 + 1000, last + 1, 1000)][-len(cleared):]
    finally:
        run.stop()
    assert not list((Path(uri) / "oplog").iterdir())  # log and journal gone


def test_journal_segments_go_once_the_op_log_holds_them_and_all_go_at_stop() -> None:
    run = naiad.init_run(project="j", capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False,
                         source_files=[], flush_period=0.1)
    n = (segment_size(0) + segment_size(1) + segment_size(2)) // RECORD_SIZE + 10  # into the fourth segment
    handle = run["x"]
    for i in range(n):
        handle.append(float(i))
    run.wait()
    writer = run._writer
    assert writer is not None
    base = writer.oplog.path.with_name(writer.oplog.path.name[:-4])
    segments = [p for p in journal_files(base) if p.suffix[1:].isdigit()]
    assert [p.suffix for p in segments] == [".3"]  # the first three were read, logged and dropped
    run.stop()
    assert journal_files(base) == [] and not writer.oplog.path.exists()


OFFLINE = """
import naiad
run = naiad.init_run(project="j", custom_run_id="off", mode="offline", capture_stdout=False,
                     capture_stderr=False, capture_hardware_metrics=False, source_files=[], flush_period=60)
i = 0
while True:
    run["x"].append(float(i))
    i += 1
    if i % 1000 == 0:
        print("AT", i, flush=True)
"""


def test_an_offline_run_killed_is_stored_whole_by_naiad_sync() -> None:
    (reached,) = _kill_after(start_script(OFFLINE), 0.5)
    done = subprocess.run([sys.executable, "-m", "naiad", "sync"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run = _read("j", "off")
    try:
        steps = _steps(run, "x")
        assert len(steps) >= reached and np.array_equal(steps, np.arange(len(steps), dtype=float))
    finally:
        run.stop()


def test_a_damaged_record_ends_what_recovery_takes_from_the_journal() -> None:
    """After a power loss a journal page can read back as zeros or garbage: recovery stores the records
    before the first bad one (a gap-free prefix) and nothing after it."""
    (reached,) = _kill_after(start_script(STEADY), 0.3)
    assert reached >= 1000  # the damaged record lies inside what was logged
    uri = os.environ["NAIAD_URI"]
    log = next((Path(uri) / "oplog").glob("*.log"))
    segment = log.with_name(log.name[:-4] + ".journal.0")
    with open(segment, "r+b") as fh:  # a record in the middle of the first segment, its kind destroyed
        fh.seek(1000 * RECORD_SIZE + RECORD_SIZE - 4)
        fh.write(b"\xff\xff\xff\xff")
    run = _read("j")
    try:
        steps = _steps(run, "x")
        assert 0 < len(steps) < 1000 and np.array_equal(steps, np.arange(len(steps), dtype=float))
    finally:
        run.stop()


FORK = """
import os, sys, time
import naiad
run = naiad.init_run(project="j", custom_run_id="r", capture_stdout=False, capture_stderr=False,
                     capture_hardware_metrics=False, source_files=[], flush_period=60)
for i in range(100):
    run["x"].append(float(i))
run["t"] = "before"
pid = os.fork()
if pid == 0:  # the child writes into what is its parent's journal: it must not land there
    for i in range(1000):
        run["x"].append(-1.0, step=1000.0 + i)
    run["child/series"].append(1.0)  # a new name, and a text: nothing of the parent's may move
    run["child/text"] = "was here"
    sys.exit(0)  # atexit stops the run it inherited: that must leave the parent's files alone
os.waitpid(pid, 0)
for i in range(100, 200):
    run["x"].append(float(i))
run["t"] = "after"
print("AT 200", flush=True)
time.sleep(60)
"""


def test_a_forked_child_writing_to_its_parents_run_neither_corrupts_nor_is_stored() -> None:
    proc = start_script(FORK)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("AT"), proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)  # the parent dies with everything only in its journal
    _, err = proc.communicate(timeout=30)
    assert "(a fork) wrote to a run its parent opened" in err and "Traceback" not in err, err
    run = _read("j")
    try:
        data = run["x"].fetch_values(include_timestamp=False)
        assert data["step"].tolist() == [float(i) for i in range(200)] == data["value"].tolist()
        assert run["t"].fetch() == "after" and not run.exists("child/series") and not run.exists("child/text")
        assert run["sys/state"].fetch() == "crashed"
    finally:
        run.stop()


def test_a_record_the_kill_cut_at_the_op_logs_end_is_cut_off_before_recovery_appends() -> None:
    """The kill can cut the writer's op-log write; recovery's batch of the journal's calls must not land
    behind that torn record (which then reads as damage in the middle and fails every replay)."""
    (reached,) = _kill_after(start_script(STEADY.replace("flush_period=60", "flush_period=0.05")), 0.5)
    uri = os.environ["NAIAD_URI"]
    log = next((Path(uri) / "oplog").glob("*.log"))
    with open(log, "ab") as fh:  # the head of a record whose body never came
        fh.write((100_000).to_bytes(4, "little") + b"\0\0\0\0" + b"partial")
    run = _read("j")
    try:
        steps = _steps(run, "x")
        assert len(steps) >= reached and np.array_equal(steps, np.arange(len(steps), dtype=float))
        assert run["sys/state"].fetch() == "crashed"
    finally:
        run.stop()
    assert not log.exists()


DISK_FULL = """
import sys
import naiad
run = naiad.init_run(project="j", custom_run_id="r", capture_stdout=False, capture_stderr=False,
                     capture_hardware_metrics=False, source_files=[], flush_period=60)
run["x"].append(0.0)
run.wait()
print("READY", flush=True)
sys.stdin.readline()  # the disk is full now
i = 1
while True:
    run["x"].append(float(i))
    i += 1
    if i % 1000 == 0:
        print("AT", i, flush=True)
"""


def test_a_journal_segment_the_full_disk_kept_in_memory_is_said_lost_after_a_crash(
        tiny_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No room for the next segment: it lives in memory (said once) and the run goes on; killed then,
    what was on disk is stored and what was only in memory is recorded as lost, not dropped silently."""
    uri = str(tiny_disk / ".naiad")
    monkeypatch.setenv("NAIAD_URI", uri)
    proc = start_script(DISK_FULL, stdin=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().startswith("READY"), proc.stderr.read() if proc.stderr else ""
    filler = fill(tiny_disk)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    first_segment = segment_size(0) // RECORD_SIZE
    reached = 0
    while reached < 3 * first_segment:  # well past the first segment: the next ones are in memory
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        reached = int(line.split()[1])
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert err.count("the disk is full") == 1 and "a crash would lose them" in err, err
    filler.unlink()
    run = _read("j")
    try:
        steps = _steps(run, "x")
        assert first_segment // 2 < len(steps) < reached  # the first segment's points, not the rest
        assert np.array_equal(steps, np.arange(len(steps), dtype=float))
        assert run["sys/errors"].fetch() >= 1
        assert "while the disk was full were lost in a crash" in run["sys/last_error"].fetch()
    finally:
        run.stop()


OFFLINE_DISK_FULL = """
import sys, time
import naiad
run = naiad.init_run(project="j", custom_run_id="r", mode="offline", capture_stdout=False,
                     capture_stderr=False, capture_hardware_metrics=False, source_files=[], flush_period=0.05)
x = run["x"]
x.append(0.0)
time.sleep(0.3)
print("READY", flush=True)
sys.stdin.readline()  # the disk is full now: these batches cannot reach the op log
for i in range(1, 3000):  # batches bigger than what is left of the op log's last page
    x.append(float(i))
run["val"] = 1
run["s"].append(1.0)
run["s"].clear()
time.sleep(0.5)
print("FULL", flush=True)
sys.stdin.readline()  # room again: the waiting batches go first, then these
for i in range(3000, 6000):
    x.append(float(i))
run["val"] = 2
run["s"].append(5.0)
time.sleep(0.5)
print("AT 20", flush=True)
time.sleep(60)
"""


def test_batches_the_full_disk_kept_waiting_reach_the_op_log_before_later_ones(
        tiny_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, so the op log is the only way to the store: a batch the full disk refused must not be
    passed by the next one (replayed first, the later batch would make the store refuse the earlier
    one's points and overwrite its values), nor be dropped."""
    monkeypatch.setenv("NAIAD_URI", str(tiny_disk / ".naiad"))
    proc = start_script(OFFLINE_DISK_FULL, stdin=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().startswith("READY"), proc.stderr.read() if proc.stderr else ""
    filler = fill(tiny_disk)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith("FULL")
    filler.unlink()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith("AT")
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert "the disk is full" in err and "Traceback" not in err, err
    done = subprocess.run([sys.executable, "-m", "naiad", "sync"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    run = _read("j")
    try:
        assert _steps(run, "x").tolist() == [float(i) for i in range(6000)]
        assert run["val"].fetch() == 2
        assert run["s"].fetch_values()["value"].tolist() == [5.0]
    finally:
        run.stop()


def test_the_journal_file_stays_small_while_text_and_arrays_pass_through_it() -> None:
    """Side records of ops that are durable are dropped (the file rewritten) once they outweigh the rest,
    even when some op is always pending."""
    run = naiad.init_run(project="j", capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False,
                         source_files=[], flush_period=0.05)
    writer = run._writer
    assert writer is not None
    header = writer.oplog.path.with_name(writer.oplog.path.name[:-4] + ".journal")
    chunk = np.arange(20_000, dtype=float)
    largest = 0
    for i in range(300):  # ~150 MB of side records in all, in 3 s: a pace the writer keeps up with
        run["notes"].append(f"note {i}")
        run["big"].extend(chunk)
        largest = max(largest, header.stat().st_size)
        time.sleep(0.01)
    run.wait()
    assert largest < 24 << 20, largest  # about twice what one flush period brings, never all of it
    run["notes"].append("last")  # one more flush: the file is rewritten without what is durable now
    run.wait()
    assert header.stat().st_size < 1 << 20
    assert len(run["big"].fetch_values()) == 300 * len(chunk) and len(run["notes"].fetch_values()) == 301
    run.stop()


def test_a_flush_cuts_its_batch_past_the_batch_size_and_keeps_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    import naiad.core.journal as journal
    import naiad.tracking.writer as writer

    monkeypatch.setattr(journal, "READ_CHUNK", 300)  # a batch is cut between two chunks
    monkeypatch.setattr(writer, "BATCH_POINTS", 1000)
    monkeypatch.setattr(writer, "OP_POINTS", 700)
    run = naiad.init_run(project="j", capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False,
                         source_files=[], flush_period=60)
    run["x"].extend(np.arange(5000, dtype=float))
    for i in range(5000, 9000):
        run["x"].append(float(i))
    run["x"].clear()
    for i in range(3000):
        run["x"].append(float(i))
    seq_before = run._writer._seq if run._writer else 0
    run.wait()
    assert run._writer is not None and run._writer._seq - seq_before >= 6  # cut into several batches
    assert _steps(run, "x").tolist() == [float(i) for i in range(3000)]
    run.stop()
