"""Remote mode end to end: a real ``naiad server`` process, real SDK processes, real HTTP on loopback.

What the issue asks of remote mode, tested as a user would meet it:

* the op log on the training machine is the source of truth until the server acknowledges a batch: the
  server goes away in the middle of a run and comes back, every point arrives exactly once, and the training
  loop does not slow down;
* ``naiad sync`` uploads runs left by crashes and offline mode, run by run, a broken one does not stop the
  others, and ``--follow`` keeps up with a run still being written;
* large files are streamed in parts with bounded memory on the server, resume after a broken connection,
  are served with HTTP ranges and are checked against their hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import naiad
from conftest import start_script
from naiad import errors as E
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store.remote import RemoteStore
from services import free_port

PROJECT = "team"


# ------------------------------------------------------------------------------------------ helpers


class Server:
    """``python -m naiad server`` over a folder store, on a fixed loopback port so it can be restarted."""

    def __init__(self, store: Path, log: Path) -> None:
        self.store = store
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.log_offset = 0

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "naiad", "server", "--store", str(self.store), "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"naiad server did not start; its log:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it with ``sig``; SIGTERM lets uvicorn finish the requests in flight, SIGKILL does not."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop(signal.SIGKILL)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def count(self, text: str) -> int:
        """How many lines of the server's access log since the test began contain ``text``."""
        with open(self.log, "rb") as fh:
            fh.seek(self.log_offset)
            lines = fh.read().decode(errors="replace").splitlines()
        return sum(1 for line in lines if text in line)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module (starting one takes seconds); tests that stop it start it again."""
    folder = tmp_path_factory.mktemp("naiad-server")
    srv = Server(folder / "store", folder / "server.log")
    # a token made with the real CLI, as an admin would
    done = subprocess.run([sys.executable, "-m", "naiad", "token", "create", "--user", "alice", "--project", PROJECT,
                           "--role", "contributor", "--store", str(srv.store)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    srv.token = done.stdout.strip().splitlines()[0]
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture
def server(shared_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The running server; this process and every child it starts are its clients (NAIAD_URI, the token,
    NAIAD_LOCAL_DIR of this test for op logs, the spool and upload state)."""
    if not shared_server.running:  # a test before this one failed while the server was down
        shared_server.kill()
        shared_server.start()
    shared_server.log_offset = shared_server.log.stat().st_size
    monkeypatch.setenv("NAIAD_URI", shared_server.url)
    monkeypatch.setenv("NAIAD_API_TOKEN", shared_server.token)
    monkeypatch.setenv("NAIAD_LOCAL_DIR", str(tmp_path / "client"))
    return shared_server


def client_root(srv: Server) -> Path:
    """``<NAIAD_LOCAL_DIR>/remote/<host_port>``: the op logs and upload state of this server's clients."""
    roots = list((Path(os.environ["NAIAD_LOCAL_DIR"]) / "remote").glob(f"127.0.0.1_{srv.port}*"))
    assert len(roots) == 1, roots
    return roots[0]


def oplogs(srv: Server, folder: str = "oplog") -> list[Path]:
    found = Path(os.environ["NAIAD_LOCAL_DIR"]) / "remote"
    return sorted(found.glob(f"127.0.0.1_{srv.port}*/{folder}/*.log"))


@pytest.fixture
def store(server: Server) -> Iterator[RemoteStore]:
    """A client of the server that reads what the server holds, nothing else (no op-log recovery)."""
    client = RemoteStore(server.url, os.environ["NAIAD_API_TOKEN"])
    try:
        yield client
    finally:
        client.close()


def read_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 60) -> str:
    """The child's first stdout line starting with ``prefix``; fail with its stderr otherwise."""
    assert proc.stdout is not None
    found: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(prefix):
                found.append(line.strip())
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if found:
        return found[0]
    proc.kill()
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"the child never printed {prefix!r}; stderr:\n{err}")


def tell(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


# ------------------------------------------------------------------ 1. the server goes away mid-run

TRAIN = """
import json, os, sys, threading, time
import naiad

run = naiad.init_run(project="team", name="outage")
run["params"] = {"lr": 0.01, "batch": 64}
run["config/optimizer"] = "adam"
run["model"].upload(naiad.types.File.from_content(b"weights before the outage", extension="bin"))
h, text = run["train/loss"], run["train/log"]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
print("READY", run["sys/id"].fetch(), flush=True)

step, block, blocks, events = 0, 0, [], {}
while not stop.is_set():
    t0, c0 = time.time(), time.perf_counter()
    for _ in range(BLOCK):  # one block of appends: the training loop's work between two checks
        h.append(step * 0.5, step=step)
        step += 1
    blocks.append((t0, time.perf_counter() - c0))
    text.append(f"block {block}", step=block)
    run["progress/block"] = block
    if os.path.exists(sys.argv[1]) and "upload" not in events:  # the test says: the server is down now
        events["upload"], events["upload_at"] = block, time.time()
        run["checkpoint"].upload(naiad.types.File.from_content(b"weights during the outage", extension="bin"))
        run["outage/seen"] = True
    block += 1
    time.sleep(PAUSE)  # the rest of a training step (forward, backward) that is not logging

run.wait()  # NAIAD_RAISE_ON_ERROR=1 (the tests' setting) raises a write error here: the outage is none
run["final/steps"] = step
run.stop()
print("DONE", json.dumps({"steps": step, "blocks": blocks, "events": events}), flush=True)
"""

BLOCK = 10_000
# seconds between stopping the server and starting it again (which takes a few seconds more); the issue says
# "a minute": what happens is the same, only the op log grows longer, and a test must stay short
OUTAGE = 2.0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_server_outage_mid_run_every_point_arrives_once_and_the_loop_never_slows(
        server: Server, tmp_path: Path, sig: int) -> None:
    outage_flag = tmp_path / "server-is-down"
    # the child runs with the tests' NAIAD_RAISE_ON_ERROR=1: a write error would raise at its run.wait().
    # The server being away is none: the writer keeps retrying, says so once on stderr, loses nothing
    proc = start_script(TRAIN.replace("BLOCK", str(BLOCK)).replace("PAUSE", "0.03"), str(outage_flag),
                        stdin=True, env={"NAIAD_HEARTBEAT_PERIOD": "0.5"})
    try:
        run_id = read_line(proc, "READY").split()[1]
        time.sleep(2.0)
        t_down = time.time()
        server.stop(sig)
        outage_flag.touch()
        time.sleep(OUTAGE)
        server.start()
        t_up = time.time()
        time.sleep(1.5)
        tell(proc, "stop")
        report = json.loads(read_line(proc, "DONE", timeout=120).split(" ", 1)[1])
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "[naiad] error" not in err, err  # the outage is no write error …
    assert "retrying" in err, err  # … but the user is told, once

    # not one append was slowed by the outage
    blocks = np.array(report["blocks"])
    before = blocks[blocks[:, 0] < t_down - 0.2, 1]
    during = blocks[(blocks[:, 0] > t_down) & (blocks[:, 0] + blocks[:, 1] < t_up), 1]
    assert len(before) >= 10 and len(during) >= 10, (len(before), len(during))
    assert during.max() < 0.5, f"a block of {BLOCK} appends took {during.max():.3f}s during the outage"
    assert np.median(during) < 2 * np.median(before) + 0.01, (np.median(during), np.median(before))
    after = blocks[blocks[:, 0] > t_up, 1]
    assert after.max() < 0.5, f"a block of {BLOCK} appends took {after.max():.3f}s while the op log caught up"
    # (when it was uploaded, not when its block began: that can be a moment before the server went down)
    assert t_down < report["events"]["upload_at"] < t_up, "the checkpoint was uploaded during the outage"

    # every point is on the server exactly once, values right, the run finished
    steps = report["steps"]
    run = naiad.init_run(with_id=run_id, mode="read-only")
    loss = run["train/loss"].fetch_values(include_timestamp=False)
    assert len(loss) == steps
    assert np.array_equal(loss["step"].to_numpy(), np.arange(steps, dtype=float))
    assert np.array_equal(loss["value"].to_numpy(), np.arange(steps, dtype=float) * 0.5)
    log = run["train/log"].fetch_values(include_timestamp=False)
    assert log["value"].tolist() == [f"block {i}" for i in range(len(blocks))]
    assert run["progress/block"].fetch() == len(blocks) - 1
    assert run["params"].fetch() == {"lr": 0.01, "batch": 64}
    assert run["config/optimizer"].fetch() == "adam"
    assert run["final/steps"].fetch() == steps
    assert run["outage/seen"].fetch() is True
    assert run["sys/state"].fetch() == "finished"
    assert not run.exists("sys/errors"), run["sys/last_error"].fetch()
    model, checkpoint = tmp_path / "model.bin", tmp_path / "checkpoint.bin"
    run["model"].download(str(model))
    run["checkpoint"].download(str(checkpoint))
    assert model.read_bytes() == b"weights before the outage"
    assert checkpoint.read_bytes() == b"weights during the outage"
    assert not oplogs(server), "a run that stopped with the server up leaves no op log behind"
    spool = client_root(server) / "spool"  # the files' bytes wait there until the server has them
    assert spool.is_dir() and not spooled_files(spool)


# ------------------------------------------------------------------ 2. naiad sync


def sync(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``naiad sync`` in its own process, with this test's environment (server URL, token, local dir)."""
    return subprocess.run([sys.executable, "-m", "naiad", "sync", *args], capture_output=True, text=True,
                          timeout=timeout)


def runs_by_name(store: RemoteStore) -> dict[str, tuple[str, str]]:
    """name → (short id, uuid) of the project's runs on the server."""
    try:
        table = store.query_table(PROJECT, "run", columns=["sys/name"])
    except E.ProjectNotFound:
        return {}
    out = {}
    for short_id, row in zip(table.ids, table.rows, strict=True):
        out[str(row["sys/name"].value)] = (short_id, store.get_container(short_id=short_id).uuid)
    return out


def field_values(store: RemoteStore, uuid: str) -> dict[str, Any]:
    return {path: fv.value for path, fv in store.read_fields(uuid).items()}


OFFLINE = """
import naiad
run = naiad.init_run(project="team", mode="offline", name="offline")
run["params/lr"] = 0.1
run["loss"].extend([i * 0.25 for i in range(500)], steps=list(range(500)))
run["notes"].append("trained offline")
run["weights"].upload(naiad.types.File.from_content(b"offline weights", extension="bin"))
run.stop()
print("DONE", flush=True)
"""


OFFLINE_KILLED = """
import sys
import naiad
run = naiad.init_run(project="team", mode="offline", name="offline, killed")
run["loss"].extend([1.0, 2.0, 3.0], wait=True)
print("READY", flush=True)
sys.stdin.readline()
"""


@pytest.mark.slow
def test_sync_uploads_an_offline_run_made_while_the_server_was_down(server: Server, store: RemoteStore,
                                                                    tmp_path: Path) -> None:
    server.stop()  # offline mode needs no server at all, not even to start
    done = subprocess.run([sys.executable, "-c", OFFLINE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "DONE" in done.stdout, done.stderr
    killed = start_script(OFFLINE_KILLED, stdin=True)  # and one that never got to stop()
    read_line(killed, "READY")
    sigkill(killed)
    assert len(oplogs(server, "offline")) == 2
    server.start()

    result = sync()
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(offline run)") == 2 and "synced" in result.stdout, result.stdout
    runs = runs_by_name(store)
    crashed = field_values(store, runs["offline, killed"][1])
    assert crashed["sys/state"] == "crashed" and crashed["loss"] == 3.0
    _, uuid = runs["offline"]
    values = field_values(store, uuid)
    assert values["params/lr"] == 0.1
    assert values["sys/state"] == "finished"
    loss = store.read_series(uuid, "loss")
    assert np.array_equal(loss.steps, np.arange(500.0))
    assert np.array_equal(loss.values, np.arange(500) * 0.25)
    assert list(store.read_series(uuid, "notes").values) == ["trained offline"]
    dest = tmp_path / "weights.bin"
    store.blobs.copy_to(values["weights"]["hash"], dest)
    assert dest.read_bytes() == b"offline weights"
    assert not oplogs(server, "offline") and not spooled_files(client_root(server) / "spool")

    again = sync()  # nothing left: safe to run any time
    assert again.returncode == 0 and "nothing to sync" in again.stdout, again.stdout + again.stderr


CRASH = """
import sys, time
import naiad
run = naiad.init_run(project="team", name=sys.argv[1])
run["loss"].extend([float(i) for i in range(1000)], steps=list(range(1000)), wait=True)
print("READY", run["sys/id"].fetch(), flush=True)
sys.stdin.readline()  # the test has stopped the server
weights = b"written while the server was down " + sys.argv[1].encode()
run["outage/weights"].upload(naiad.types.File.from_content(weights))
run["outage/note"] = "logged during the outage"
i = 1000
while True:
    for _ in range(1000):
        run["loss"].append(float(i), step=i)
        i += 1
    print("AT", i, time.time(), flush=True)
    time.sleep(0.01)
"""


def start_crashing(name: str) -> tuple[subprocess.Popen[str], str]:
    proc = start_script(CRASH, name, stdin=True)
    return proc, read_line(proc, "READY").split()[1]


def sigkill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def spooled_files(spool: Path) -> list[Path]:
    """Files waiting in a client's spool (its fan-out folders may stay behind, empty)."""
    return [p for p in spool.rglob("*") if p.is_file()]


def parts_on_disk(uploads: Path) -> int:
    """Upload parts the server holds now (its folders are renamed while it works: retry a listing
    that meets one vanishing)."""
    for _ in range(50):
        try:
            return len(list(uploads.glob("*/part-*")))
        except FileNotFoundError:
            time.sleep(0.01)
    return len(list(uploads.glob("*/part-*")))


def logged_steps(log: Path) -> np.ndarray:
    """The loss steps an op log holds (up to any damage in it)."""
    from naiad.core.oplog import read_records

    found = []
    try:
        for batch in read_records(log):
            found += [op[3] for op in batch.ops if op[0] == "points" and op[1] == "loss"]
    except ValueError:  # a damaged log: what comes before the damage is what sync can store
        pass
    return np.concatenate(found) if found else np.array([])


@pytest.mark.slow
def test_sync_stores_what_a_run_killed_during_an_outage_left_in_its_op_log(server: Server, store: RemoteStore) -> None:
    proc, run_id = start_crashing("killed")
    try:
        server.stop(signal.SIGKILL)
        tell(proc, "go")
        read_line(proc, "AT")
        time.sleep(1.0)
    finally:
        sigkill(proc)
    server.start()

    [log] = oplogs(server)
    in_log = logged_steps(log)
    assert len(in_log) > 1000, "the run kept logging into its op log while the server was down"
    _, uuid = runs_by_name(store)["killed"]
    assert "outage/note" not in store.structure(uuid), "nothing of the outage reached the server yet"

    result = sync()
    assert result.returncode == 0, result.stderr
    assert f"synced {log.name}" in result.stdout, result.stdout
    loss = store.read_series(uuid, "loss")
    last = int(in_log.max())
    # every point of the op log and, after them, those only the journal held: once each, no gap
    assert len(loss.steps) >= last + 1 and np.array_equal(loss.steps, np.arange(float(len(loss.steps))))
    assert np.array_equal(loss.values, loss.steps)
    values = field_values(store, uuid)
    assert values["outage/note"] == "logged during the outage"
    assert values["sys/state"] == "crashed"
    with store.blobs.open(values["outage/weights"]["hash"]) as fh:
        assert fh.read() == b"written while the server was down killed"
    assert not oplogs(server)
    run = naiad.init_run(with_id=run_id, mode="read-only")  # the SDK sees the same
    assert run["sys/state"].fetch() == "crashed"
    assert len(run["loss"].fetch_values()) == len(loss.steps)


def _damage(log: Path) -> int:
    """Flip a byte inside the second record of an op log; returns that record's offset."""
    from naiad.core.oplog import read_with_ends

    ends = [end for _, end in read_with_ends(log)]
    assert len(ends) >= 3, "more records follow the damaged one"
    second, third = ends[0], ends[1]
    data = bytearray(log.read_bytes())
    data[(second + third) // 2] ^= 0xFF  # inside its payload: its checksum no longer matches
    log.write_bytes(bytes(data))
    return second


@pytest.mark.slow
def test_one_broken_run_does_not_stop_sync_from_storing_the_others(server: Server, store: RemoteStore) -> None:
    from naiad.core.oplog import OpLog
    from naiad.core.ops import Batch

    procs = [start_crashing(name) for name in ("good", "damaged")]
    try:
        server.stop()
        for proc, _ in procs:
            tell(proc, "go")
        for proc, _ in procs:
            read_line(proc, "AT")
        time.sleep(1.0)
    finally:
        for proc, _ in procs:
            sigkill(proc)
    server.start()
    names = runs_by_name(store)
    logs = {name: next(p for p in oplogs(server) if p.name.startswith(names[name][1])) for name in ("good", "damaged")}
    good_steps = logged_steps(logs["good"])
    _damage(logs["damaged"])
    damaged_first = logged_steps(logs["damaged"])  # what is readable before the damage: the first record
    # an op log of a run the server does not have (deleted there, or another server's): sorted first
    stranger = oplogs(server)[0].parent / f"{'0' * 32}.{'1' * 32}.log"
    oplog = OpLog(stranger)
    oplog.append(Batch("0" * 32, "1" * 32, 1, [("assign", "x", "Integer", 1)]))
    oplog.close(delete=False)

    result = sync()
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"synced {logs['good'].name}" in result.stdout, result.stdout
    assert f"FAILED {logs['damaged'].name}: the op log is damaged" in result.stderr, result.stderr
    assert f"FAILED {stranger.name}" in result.stderr, result.stderr
    assert "2 op log(s) could not be stored" in result.stderr

    good = store.read_series(names["good"][1], "loss")
    assert len(good.steps) >= good_steps.max() + 1, "the good run is complete (its journal's points too)"
    assert np.array_equal(good.steps, np.arange(float(len(good.steps))))
    assert field_values(store, names["good"][1])["sys/state"] == "crashed"
    damaged = store.read_series(names["damaged"][1], "loss")
    assert len(damaged.steps) >= 1000 + len(damaged_first), "what comes before the damage is stored"
    assert np.array_equal(damaged.steps, np.arange(len(damaged.steps), dtype=float))
    assert logs["damaged"].exists() and stranger.exists(), "broken logs are kept for the next sync"
    assert not logs["good"].exists()

    again = sync()  # the broken ones fail again, and are still kept; the good one is not sent twice
    assert again.returncode == 1 and "synced" not in again.stdout, again.stdout
    assert len(store.read_series(names["good"][1], "loss").steps) == len(good.steps)


FOLLOWED = """
import sys, time
import naiad
run = naiad.init_run(project="team", mode="offline", name=sys.argv[1])
run["params/lr"] = 0.3
i = 0
while not sys.stdin.readline().startswith("stop"):
    for _ in range(1000):
        run["loss"].append(i * 2.0, step=i)
        i += 1
    print("AT", i, flush=True)
run.stop()
print("DONE", i, flush=True)
"""


@pytest.mark.parametrize("end", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_sync_follow_stores_an_offline_run_while_it_is_being_written(server: Server, store: RemoteStore,
                                                                     end: signal.Signals) -> None:
    name = f"followed-{end.name}"
    writer = start_script(FOLLOWED, name, stdin=True)
    # started with SIGINT ignored, as a script's background job is: Ctrl-C must end it all the same
    follower = subprocess.Popen(["bash", "-c", 'trap "" INT; exec "$0" "$@"', sys.executable, "-m", "naiad", "sync",
                                 "--follow", "--interval", "0.2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen: list[int] = []
        for _ in range(5):  # the writer logs a block, then the points show up on the server while it runs
            tell(writer, "more")
            read_line(writer, "AT")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                found = runs_by_name(store).get(name)
                count = len(store.read_series(found[1], "loss").steps) if found and "loss" in store.structure(
                    found[1]) else 0
                if count > (seen[-1] if seen else 0):
                    seen.append(count)
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"the server never got more than {seen} points of the live offline run")
        assert writer.poll() is None, "all of that happened while the run was still being written"
        tell(writer, "stop")
        total = int(read_line(writer, "DONE").split()[1])
        writer.communicate(timeout=30)
        uuid = runs_by_name(store)[name][1]
        deadline = time.monotonic() + 30  # the follower's next pass finds the log of a process that is done
        while oplogs(server, "offline") and time.monotonic() < deadline:
            time.sleep(0.05)
        follower.send_signal(end)  # Ctrl-C, or a service manager's stop: the ways to end --follow
        out, err = follower.communicate(timeout=30)
    finally:
        for proc in (writer, follower):
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert "Traceback" not in err, err
    assert "following" in out and "new batch(es)" in out and "(offline run)" in out, out
    values = field_values(store, uuid)
    assert values["sys/state"] == "finished" and values["params/lr"] == 0.3
    loss = store.read_series(uuid, "loss")
    assert np.array_equal(loss.steps, np.arange(float(total)))
    assert np.array_equal(loss.values, np.arange(float(total)) * 2.0)
    assert not oplogs(server, "offline")


# ------------------------------------------------------------------ 3. large files

MiB = 1 << 20


def make_file(path: Path, size: int) -> str:
    """``size`` bytes no other test has, that differ everywhere (no two parts alike), written in 8 MiB pieces;
    returns the SHA-256."""
    sha = hashlib.sha256()
    words = 1 << 20
    seed = int.from_bytes(os.urandom(4), "little") << 32
    with open(path, "wb") as out:
        for start in range(seed, seed + -(-size // (8 * words)) * words, words):
            piece = ((np.arange(start, start + words, dtype=np.uint64) + 1) * np.uint64(0x9E3779B97F4A7C15)).tobytes()
            piece = piece[: size - out.tell()]
            out.write(piece)
            sha.update(piece)
    return sha.hexdigest()


def file_sha(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 * MiB):
            sha.update(block)
    return sha.hexdigest()


class RssSampler:
    """The peak resident memory of a process (and its children), sampled every few milliseconds."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.base = self.sample()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):  # a child that just ended
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.sample())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def growth(self) -> int:
        return self.peak - self.base


@pytest.mark.slow
def test_a_large_file_is_streamed_through_the_server_in_bounded_memory(server: Server, tmp_path: Path) -> None:
    # the 2 GB scaled down to keep CI short (NAIAD_BIG_FILE_MIB=2048 runs it whole); not a multiple of a part
    size = int(os.environ.get("NAIAD_BIG_FILE_MIB", "300")) * MiB + 12345
    source = tmp_path / "model.pt"
    digest = make_file(source, size)
    run = naiad.init_run(project=PROJECT, name="big")

    with RssSampler(server.pid) as server_mem, RssSampler(os.getpid()) as sdk_mem:
        run["model"].upload(str(source))
        run.wait()
    assert server.count("/parts/") == -(-size // (8 * MiB)), "the file went up in parts"
    assert store_hash(run, "model") == digest
    dest = tmp_path / "downloaded.pt"
    with RssSampler(server.pid) as server_mem_down, RssSampler(os.getpid()) as sdk_mem_down:
        run["model"].download(str(dest))
    assert dest.stat().st_size == size and file_sha(dest) == digest
    run.stop()
    samplers = [("server, upload", server_mem), ("SDK, upload", sdk_mem),
                ("server, download", server_mem_down), ("SDK, download", sdk_mem_down)]
    print(f"\n{size / MiB:.0f} MiB up and down: memory grew by " + ", ".join(
        f"{what} {sampler.growth / MiB:.0f} MiB" for what, sampler in samplers))
    for what, sampler in samplers:
        assert sampler.growth < 64 * MiB, f"{what}: memory grew by {sampler.growth / MiB:.0f} MiB for a " \
                                          f"{size / MiB:.0f} MiB file"


def put_on_server(server: Server, source: Path) -> None:
    """Put a file among the server's blobs directly on its disk (quicker than an upload over HTTP), and
    have a run of the project refer to it, as a File field would."""
    from naiad.store.blobs import LocalBlobs

    digest, size = LocalBlobs(server.store / "blobs").put_file(source)
    client = RemoteStore(server.url, server.token)
    try:
        refer(client, digest, size)
    finally:
        client.close()


def refer(store: RemoteStore, digest: str, size: int) -> None:
    """A run of the project refers to the blob: what lets the project's accounts read it (a blob no
    container they can see refers to does not exist for them)."""
    info = store.create_container(PROJECT, "run", uuid.uuid4().hex)
    ref = {"hash": digest, "size": size, "ext": "bin", "name": "data.bin"}
    result = store.apply(Batch(info.uuid, "refer-" + info.uuid, 1, [(O.ASSIGN, "data/blob", F.FILE, ref)]))
    assert not result.errors, result.errors


@pytest.mark.slow
def test_a_download_resumes_with_a_range_request_after_the_server_restarts(server: Server, store: RemoteStore,
                                                                           tmp_path: Path) -> None:
    size = 96 * MiB + 7
    source = tmp_path / "data.bin"
    digest = make_file(source, size)
    put_on_server(server, source)
    dest = tmp_path / "copy.bin"
    failure: list[BaseException] = []

    def download() -> None:
        try:
            store.blobs.copy_to(digest, dest)
        except BaseException as exc:
            failure.append(exc)

    def partial() -> int:  # the download goes into a temporary file beside dest, renamed when checked
        return sum(p.stat().st_size for p in tmp_path.glob(".copy.bin.*"))

    thread = threading.Thread(target=download)
    thread.start()
    deadline = time.monotonic() + 30
    while partial() < 4 * MiB and time.monotonic() < deadline:
        time.sleep(0.001)
    server.stop(signal.SIGKILL)  # the connection breaks in the middle of the body
    broke_at = partial()
    server.start()
    thread.join(60)
    assert not failure, failure
    assert 0 < broke_at < size, "the download was under way when the server went away"
    assert file_sha(dest) == digest, "resumed where it broke off, the bytes check out"
    assert server.count("GET /api/v1/blobs/") == 2, "one request before the break, one (a range) after"
    assert not list(tmp_path.glob(".copy.bin.*"))


@pytest.mark.slow
def test_an_upload_rides_out_a_server_restart(server: Server, store: RemoteStore, tmp_path: Path) -> None:
    size = 12 * 8 * MiB + 5  # thirteen parts
    source = tmp_path / "data.bin"
    digest = make_file(source, size)
    result: list[object] = []

    def upload() -> None:
        try:
            result.append(store.blobs.put_file(source))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=upload)
    thread.start()
    uploads = server.store / "blobs" / ".uploads"
    deadline = time.monotonic() + 30
    while parts_on_disk(uploads) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    server.stop(signal.SIGKILL)  # in the middle of a part, most likely
    stored = parts_on_disk(uploads)
    server.start()
    puts_before = server.count("/parts/")
    thread.join(120)
    assert result == [(digest, size)]
    refer(store, digest, size)
    assert 2 <= stored < 13
    # the parts the server had were not sent again, but for the one in flight when the connection broke
    assert server.count("/parts/") - puts_before <= 13 - stored + 1
    assert b"".join(store.blobs.read_range(digest, size - 100, size)) == source.read_bytes()[-100:]
    copy = tmp_path / "copy.bin"
    store.blobs.copy_to(digest, copy)
    assert file_sha(copy) == digest


def test_blob_downloads_honour_http_ranges(server: Server, store: RemoteStore, tmp_path: Path) -> None:
    size = 17 * MiB + 3
    source = tmp_path / "data.bin"
    digest = make_file(source, size)
    put_on_server(server, source)
    data = source.read_bytes()
    url = f"{server.url}/api/v1/blobs/{digest}"
    headers = {"authorization": f"Bearer {os.environ['NAIAD_API_TOKEN']}"}
    with httpx.Client(headers=headers, timeout=30) as http:
        whole = http.get(url)
        assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
        assert int(whole.headers["content-length"]) == size and whole.content == data
        for rng, start, end in [(f"bytes=100-{9 * MiB}", 100, 9 * MiB + 1),  # across a part boundary
                                (f"bytes={size - 10}-", size - 10, size),
                                ("bytes=-5", size - 5, size),
                                (f"bytes=0-{size + 100}", 0, size)]:  # an end past the blob is cut to it
            got = http.get(url, headers={"range": rng})
            assert got.status_code == 206, (rng, got.status_code)
            assert got.headers["content-range"] == f"bytes {start}-{end - 1}/{size}", rng
            assert int(got.headers["content-length"]) == end - start
            assert got.content == data[start:end], rng
        unsatisfiable = http.get(url, headers={"range": f"bytes={size}-"})
        assert unsatisfiable.status_code == 416
        assert unsatisfiable.json()["error"]["details"]["size"] == size
    assert b"".join(store.blobs.read_range(digest, 5 * MiB, 11 * MiB)) == data[5 * MiB:11 * MiB]


def test_an_upload_whose_bytes_do_not_match_its_hash_is_refused(server: Server, store: RemoteStore,
                                                                tmp_path: Path) -> None:
    size = 8 * MiB + 10  # two parts
    source = tmp_path / "data.bin"
    digest = make_file(source, size)
    data = source.read_bytes()
    upload_id = store.blobs.begin_upload(digest, size)
    store.blobs.upload_part(upload_id, 0, [data[: 8 * MiB]])
    damaged = bytearray(data[8 * MiB:])
    damaged[3] ^= 0x01  # a bit flipped on the way
    store.blobs.upload_part(upload_id, 1, [bytes(damaged)])
    with pytest.raises(E.IntegrityError, match=digest):
        store.blobs.complete_upload(upload_id)
    assert not store.blobs.exists(digest)
    with pytest.raises(E.IntegrityError):  # a small blob, sent in one request, is checked the same way
        store.request("PUT", f"/blobs/{hashlib.sha256(b'sent').hexdigest()}", content=b"received")
    assert store.blobs.put_file(source) == (digest, size)  # sent again, it is stored
    refer(store, digest, size)
    assert b"".join(store.blobs.read_range(digest, 0, size)) == data


INTERRUPTED_UPLOAD = """
import os, signal, sys
import naiad.store
store = naiad.store.open_store(os.environ["NAIAD_URI"])
sent = []

def die_after_three_parts(request):
    if request.method == "PUT" and "/parts/" in request.url.path:
        sent.append(request.url.path)
        if len(sent) > 3:  # the process dies as its fourth part starts: three are on the server
            os.kill(os.getpid(), signal.SIGKILL)

store.client.event_hooks["request"].append(die_after_three_parts)
store.blobs.put_file(sys.argv[1])
"""


@pytest.mark.slow
def test_an_interrupted_upload_resumes_with_the_missing_parts_only(server: Server, store: RemoteStore,
                                                                   tmp_path: Path) -> None:
    size = 6 * 8 * MiB + 1000  # seven parts
    source = tmp_path / "checkpoint.bin"
    digest = make_file(source, size)
    dead = subprocess.run([sys.executable, "-c", INTERRUPTED_UPLOAD, str(source)], capture_output=True, text=True,
                          timeout=60)
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    assert not store.blobs.exists(digest)
    [state] = (client_root(server) / "uploads").glob("*.json")  # what the dead process left to resume from
    upload_id = json.loads(state.read_text())["upload_id"]
    assert sorted(store.blobs.uploaded_parts(upload_id)) == [0, 1, 2]

    server.stop(signal.SIGKILL)  # and the server goes down and comes back: the parts are on its disk
    server.start()
    puts_before = server.count("/parts/")
    assert store.blobs.put_file(source) == (digest, size)
    assert server.count("/parts/") - puts_before == 4, "only the four missing parts were sent"
    assert not state.exists()
    refer(store, digest, size)
    copy = tmp_path / "copy.bin"
    store.blobs.copy_to(digest, copy)
    assert file_sha(copy) == digest


def test_a_download_whose_bytes_do_not_match_the_hash_raises_integrity_error(server: Server,
                                                                             tmp_path: Path) -> None:
    run = naiad.init_run(project=PROJECT, name="tampered")
    run["weights"].upload(naiad.types.File.from_content(os.urandom(10_000), extension="bin"))
    make_file(tmp_path / "big.bin", 9 * MiB)  # more than a part: uploaded in parts, downloaded streaming
    run["big"].upload(str(tmp_path / "big.bin"))
    run.wait()
    for path in ("weights", "big"):
        digest = store_hash(run, path)
        blob = server.store / "blobs" / digest[:2] / digest[2:]
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit flips on the server's disk, the size stays
        blob.write_bytes(bytes(data))
        dest = tmp_path / f"{path}.out"
        with pytest.raises(E.IntegrityError, match=digest):
            run[path].download(str(dest))
        assert not dest.exists(), "no damaged file is left where the user expects the real one"
    run.stop()


def store_hash(run: naiad.Run, path: str) -> str:
    """The SHA-256 the server has for the file field ``path`` of ``run``."""
    store = RemoteStore(os.environ["NAIAD_URI"], os.environ["NAIAD_API_TOKEN"])
    try:
        uuid = store.get_container(short_id=run["sys/id"].fetch()).uuid
        return str(store.read_fields(uuid, [path])[path].value["hash"])
    finally:
        store.close()


PROGRESS = """
import os, sys
import naiad
run = naiad.init_run(project="team", name="progress")
run["model"].upload(sys.argv[1], wait=True)
run["model"].download(sys.argv[2])
run.stop()
"""


@pytest.mark.slow
def test_large_transfers_show_a_progress_bar_on_a_terminal(server: Server, tmp_path: Path) -> None:
    import pty

    source = tmp_path / "model.bin"
    make_file(source, 64 * MiB + 1)  # the bar is for transfers of 64 MiB and more
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen([sys.executable, "-c", PROGRESS, str(source), str(tmp_path / "back.bin")],
                            stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert proc.wait(60) == 0, shown.decode(errors="replace")
    text = shown.decode(errors="replace")
    assert "[naiad] upload model.bin" in text, text
    assert "[naiad] download" in text, text
    assert file_sha(tmp_path / "back.bin") == file_sha(source)


CHECKPOINTING = """
import os, sys, time
import naiad, naiad.store

# a slow link: every part of an upload takes a quarter of a second more (the test's only change to the
# process: an httpx request hook on the SDK's own client)
store = naiad.store.open_store(os.environ["NAIAD_URI"])
store.client.event_hooks["request"].append(lambda r: time.sleep(0.25) if "/parts/" in r.url.path else None)
run = naiad.init_run(project="team", name="checkpointing")
run["loss"].append(0.0, step=0, wait=True)
print("READY", run["sys/id"].fetch(), flush=True)
run["checkpoint"].upload(sys.argv[1])  # a big file: it takes seconds to send
i = 1
while True:
    for _ in range(200):
        run["loss"].append(float(i), step=i)
        i += 1
    print("AT", i - 1, time.time(), flush=True)
    time.sleep(0.01)
"""


@pytest.mark.slow
def test_a_big_upload_holds_up_neither_the_op_log_nor_a_crash_recovery(server: Server, store: RemoteStore,
                                                                        tmp_path: Path) -> None:
    """The logger thread puts the file in the spool and goes on writing the op log; the upload runs on the
    applier.  Killed in the middle of the upload, the process loses at most the last flush period of points,
    and ``naiad sync`` finishes the upload from the parts the server has, then stores the points."""
    size = 160 * MiB + 99
    source = tmp_path / "checkpoint.ckpt"
    digest = make_file(source, size)
    proc = start_script(CHECKPOINTING, str(source))
    lines: list[str] = []
    try:
        run_id = read_line(proc, "READY").split()[1]
        threading.Thread(target=lambda: [lines.append(line) for line in proc.stdout or []], daemon=True).start()
        uploads = server.store / "blobs" / ".uploads"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the upload is under way and the loop has run for 2 s
            at = [float(line.split()[2]) for line in list(lines) if line.startswith("AT")]
            if at and at[-1] - at[0] > 2.0 and parts_on_disk(uploads) >= 3:
                break
            time.sleep(0.01)
    finally:
        t_kill = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    sent_before = parts_on_disk(uploads)
    assert 3 <= sent_before < 21, f"killed in the middle of the upload ({sent_before} of 21 parts on the server)"
    assert not store.blobs.exists(digest)

    progress = [(int(p[1]), float(p[2])) for p in (line.split() for line in lines) if len(p) == 3 and p[0] == "AT"]
    [log] = oplogs(server)
    in_log = logged_steps(log)
    must_have = [step for step, t in progress if t < t_kill - 1.0]  # one flush period, with room for a busy CPU
    assert must_have, f"the loop ran while the file was uploading; stderr:\n{err}"
    assert len(in_log) and in_log.max() >= max(must_have), "points logged during the upload reach the op log"

    parts_before = server.count("/parts/")
    result = sync()
    assert result.returncode == 0, result.stderr
    assert server.count("/parts/") - parts_before <= 21 - sent_before + 1, "the upload resumed, not restarted"
    run = naiad.init_run(with_id=run_id, mode="read-only")
    loss = run["loss"].fetch_values(include_timestamp=False)
    steps = loss["step"].to_numpy()
    assert len(steps) >= in_log.max() + 1 and np.array_equal(steps, np.arange(float(len(steps))))
    assert run["sys/state"].fetch() == "crashed"
    dest = tmp_path / "back.ckpt"
    run["checkpoint"].download(str(dest))
    assert file_sha(dest) == digest
    assert not spooled_files(client_root(server) / "spool")


LONG_OUTAGE = """
import json, sys, time
import numpy as np
import naiad
import naiad.tracking.pending as pending
pending.PENDING_MEMORY = int(sys.argv[1])  # the budget, small here so that a short test outlasts it

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096

run = naiad.init_run(project="team", name="long outage", capture_stdout=False, capture_stderr=False,
                     capture_hardware_metrics=False, source_files=[])
loss = run["train/loss"]
loss.extend([float(i) for i in range(1000)], wait=True)
print("READY", run["sys/id"].fetch(), flush=True)
sys.stdin.readline()  # the server is down now
step, seen = 1000, []
for phase in (1, 2):  # the client's size after a first stretch of the outage, then after a second, twice as long
    for block in range(phase * POINTS // 300_000):
        loss.extend(np.arange(step, step + 100_000, dtype=float).tolist())
        step += 100_000
        time.sleep(0.1)  # the rest of a training step
    time.sleep(1.0)  # a few flushes: every point is in the op log
    seen.append(rss())
w = run._writer
print("LOGGED", json.dumps({"steps": step, "growth": seen[1] - seen[0], "in_memory": w._pending.in_memory,
                            "waiting": len(w._pending)}), flush=True)
sys.stdin.readline()  # the server is back
run.stop()
print("DONE", flush=True)
"""


@pytest.mark.slow
def test_a_long_outage_keeps_client_memory_bounded_and_loses_nothing(server: Server) -> None:
    """Unacknowledged batches past the writer's memory budget wait in the op log only (before, the client
    grew ~24 bytes a point for as long as the server was away, and kept it after catching up).  The
    client's size is taken after a first stretch of the outage and again after 2 million points more:
    what it grew in between is bounded by the budget, not by the points."""
    points, budget = 3_000_000, 8 << 20
    proc = start_script(LONG_OUTAGE.replace("POINTS", str(points)), str(budget), stdin=True,
                        env={"NAIAD_FLUSH_PERIOD": "0.1"})
    try:
        run_id = read_line(proc, "READY").split()[1]
        server.stop(signal.SIGKILL)
        tell(proc, "down")
        logged = json.loads(read_line(proc, "LOGGED", timeout=120).split(" ", 1)[1])
        server.start()
        tell(proc, "up")
        read_line(proc, "DONE", timeout=120)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "error" not in err, err
    in_memory = 24 * 2 * points // 3  # what the old client held more after the second stretch: 48 MB
    assert logged["growth"] < budget + (12 << 20), (
        f"the client grew {logged['growth'] / 1e6:.0f} MB in the second stretch of the outage (budget "
        f"{budget >> 20} MiB; holding every point would be {in_memory / 1e6:.0f} MB; {logged})")
    run = naiad.init_run(with_id=run_id, mode="read-only")
    loss = run["train/loss"].fetch_values(include_timestamp=False)
    assert np.array_equal(loss["step"].to_numpy(), np.arange(logged["steps"], dtype=float))
    assert np.array_equal(loss["value"].to_numpy(), np.arange(logged["steps"], dtype=float))
    assert run["sys/state"].fetch() == "finished" and not run.exists("sys/errors")
    print(f"\nlong outage: {points} points logged with the server away, client grew "
          f"{logged['growth'] / 1e6:.1f} MB (budget {budget >> 20} MiB), all stored once after it came back")
