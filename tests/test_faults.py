"""Faults, each with a count of trials and of points lost (issue 19, "prove the promises").

SIGKILL at random moments: a training process is killed ``NAIAD_FAULT_TRIALS`` times (default 50) at a
moment drawn anew each time — while it starts, while it logs two series as fast as it can, while it
stops — two processes at a time on one embedded store.  Then the store is opened (it replays the dead
writers' op logs) and every run must hold, in each series, a gap-free prefix of what it logged: no
point twice, none out of order, none missing before the last one stored; its parameters; and the state
``crashed``.  And nothing that returned is lost: every point, number and text whose call returned before
the kill (the child says so after the calls) is in the store — the journal keeps what the last flush
had not written yet.  The points lost are counted (0) and printed with the trial count.
"""

from __future__ import annotations

import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import naiad
import naiad.store
from conftest import start_script

pytestmark = [pytest.mark.trust, pytest.mark.slow]

TRIALS = int(os.environ.get("NAIAD_FAULT_TRIALS", "50"))

TRAIN = """
import sys
import naiad
trial = int(sys.argv[1])
run = naiad.init_run(project="kill", custom_run_id=f"trial-{trial}", capture_stdout=False,
                     capture_stderr=False, capture_hardware_metrics=False, source_files=[])
run["params/trial"] = trial
run["params/config"] = {"lr": 0.01, "layers": [64, 32]}
run.wait()
print("READY", flush=True)
loss, acc = run["train/loss"], run["eval/acc"]
i = 0
while True:
    loss.append(float(i))
    if i % 3 == 0:
        acc.append(i / 3.0, step=float(i))
    i += 1
    if i % 2000 == 0:
        run["progress/at"] = i            # a number and a text of the journal's two kinds
        run["progress/note"] = f"at {i}"
        print("AT", i, flush=True)        # every call above has returned
    if trial % 5 == 0 and i == 20000:  # some runs are killed while they stop
        print("STOPPING", flush=True)
        run.stop()
        break
"""


def _kill_at_random(trial: int, rng: random.Random) -> dict[str, object]:
    proc = start_script(TRAIN, str(trial), env={"NAIAD_FLUSH_PERIOD": "0.1"})
    time.sleep(rng.uniform(0.0, 2.5))  # from before the run exists to well into the loop (or its stop)
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    lines = out.split("\n")[:-1]  # a line the kill cut is not complete
    reached = max((int(ln.split()[1]) for ln in lines if ln.startswith("AT ")), default=0)
    return {"trial": trial, "ready": "READY" in lines, "stopping": "STOPPING" in lines, "reached": reached,
            "stderr": err}


def _prefix(steps: np.ndarray, expected: np.ndarray) -> bool:
    return len(steps) <= len(expected) and bool(np.array_equal(steps, expected[:len(steps)]))


def test_sigkill_at_random_moments_keeps_a_gap_free_prefix_of_every_series(store_uri: str) -> None:
    rng = random.Random(int(os.environ.get("NAIAD_FAULT_SEED", "1919")))
    trials: list[dict[str, object]] = []
    for first in range(0, TRIALS, 2):  # two training processes at a time, on one store
        with_second = first + 1 < TRIALS
        with ThreadPoolExecutor(2) as pool:
            seeds = [random.Random(rng.random()) for _ in range(2)]
            futures = [pool.submit(_kill_at_random, first, seeds[0])]
            if with_second:
                futures.append(pool.submit(_kill_at_random, first + 1, seeds[1]))
            trials += [f.result() for f in futures]
    for t in trials:
        assert "Traceback" not in str(t["stderr"]), t["stderr"]

    naiad.store.open_store(store_uri)  # replays every dead writer's op log
    table = naiad.init_project(project="kill", mode="read-only").fetch_runs_table(
        columns=["sys/custom_run_id", "sys/id", "sys/state"]).to_pandas()
    runs = {str(row["sys/custom_run_id"]): row for _, row in table.iterrows()}
    lost: list[int] = []
    for t in trials:
        row = runs.get(f"trial-{t['trial']}")
        if row is None:
            assert not t["ready"], f"trial {t['trial']} printed READY but its run is not in the store"
            continue
        run = naiad.init_run(with_id=str(row["sys/id"]), mode="read-only")
        try:
            if t["ready"]:
                assert run["params/trial"].fetch() == t["trial"] and run["params/config/lr"].fetch() == 0.01
            loss = run["train/loss"].fetch_values(include_timestamp=False) if run.exists("train/loss") else None
            acc = run["eval/acc"].fetch_values(include_timestamp=False) if run.exists("eval/acc") else None
            at = run["progress/at"].fetch() if run.exists("progress/at") else 0
            note = run["progress/note"].fetch() if run.exists("progress/note") else None
        finally:
            run.stop()
        n = 0 if loss is None else len(loss)
        if loss is not None:
            steps = loss["step"].to_numpy()
            assert _prefix(steps, np.arange(float(n + 1))), f"trial {t['trial']}: train/loss is not a prefix"
            assert np.array_equal(loss["value"].to_numpy(), steps)
        if acc is not None:
            steps = acc["step"].to_numpy()
            assert _prefix(steps, np.arange(0.0, 3.0 * len(steps) + 1, 3.0)), f"trial {t['trial']}: eval/acc"
            assert np.array_equal(acc["value"].to_numpy(), steps / 3.0)
        if row["sys/state"] == "finished":
            assert t["stopping"] and n == 20000  # a stop that finished stored everything
        else:
            assert row["sys/state"] == "crashed", (t, row["sys/state"])
        lost.append(max(0, int(t["reached"]) - n))  # returned (reported) but not stored
        note_at = int(str(note).split()[1]) if note else 0
        assert at >= int(t["reached"]) and note_at >= int(t["reached"]), (t["trial"], at, note, t["reached"])
    assert len(trials) == TRIALS and sum(bool(t["ready"]) for t in trials) >= TRIALS // 2
    assert max(lost, default=0) == 0, f"points whose append() returned were lost: {lost}"
    print(f"\nSIGKILL: {len(trials)} trials, {len(lost)} runs checked, "
          f"{sum(bool(t['stopping']) for t in trials)} killed while stopping; points lost "
          f"(returned, not stored): median {int(np.median(lost)) if lost else 0}, max {max(lost, default=0)}")


# ------------------------------------------------------------------ PostgreSQL restarted mid-run

LOG_UNTIL_TOLD = """
import json, sys, threading
import naiad
run = naiad.init_run(project="pg", name="through a restart", capture_stdout=False, capture_stderr=False,
                     capture_hardware_metrics=False, source_files=[])
run["params/lr"] = 0.01
loss = run["train/loss"]
told = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), told.set()), daemon=True).start()
print("READY", run["sys/id"].fetch(), flush=True)
step = 0
while not told.is_set():
    for _ in range(2000):
        loss.append(step * 0.5, step=step)
        step += 1
    run["progress/step"] = step
    told.wait(0.02)
run["final/steps"] = step
run.stop()
print("DONE", json.dumps({"steps": step}), flush=True)
"""


@pytest.mark.parametrize("how", [signal.SIGQUIT, signal.SIGINT], ids=["crash", "fast-restart"])
def test_postgresql_restarted_mid_run_every_point_arrives_once(tmp_path: Path, how: int) -> None:
    """The database goes away under a running ``naiad server`` (an immediate stop is a crash: recovery
    runs when it comes back) for two seconds while a run logs through the server: the server answers
    "unavailable" and lives on, the client keeps its points and retries, and after the restart every
    point is stored once and the run finishes without an error."""
    from naiad.store.accounts import Accounts
    from naiad.store.blobs import LocalBlobs
    from naiad.store.postgres import PostgresStore, migrate
    from services import PostgresCluster, admin_token, new_database
    from test_team_postgres import start_server, stop_server, wait_ready

    cluster = PostgresCluster(durable=True)  # a commit acknowledged is on disk: what a crash must not lose
    cluster.start()
    server = None
    try:
        dsn = new_database(cluster.dsn)
        migrate(dsn)
        blobs = tmp_path / "blobs"
        store = PostgresStore(dsn, LocalBlobs(blobs))
        accounts = Accounts(store)
        admin = admin_token(store)
        accounts.ensure_account("trainer")
        accounts.grant("trainer", "pg", "contributor")
        token = accounts.create_token("trainer")
        store.close()
        server = start_server(dsn, str(blobs), dict(os.environ), tmp_path / "server.log")
        wait_ready(server)
        env = {"NAIAD_URI": server.url, "NAIAD_API_TOKEN": token, "NAIAD_FLUSH_PERIOD": "0.1"}
        proc = start_script(LOG_UNTIL_TOLD, env=env, stdin=True)
        try:
            assert proc.stdout is not None and proc.stdin is not None
            ready = proc.stdout.readline()
            assert ready.startswith("READY"), proc.communicate(timeout=30)
            run_id = ready.split()[1]
            time.sleep(1.5)
            cluster.stop(how)
            time.sleep(2.0)
            assert server.proc.poll() is None, "naiad server died with its database"
            import httpx

            during = httpx.post(f"{server.url}/api/v1/table", json={"project": "pg"},
                                headers={"authorization": f"Bearer {admin}"}, timeout=30)
            cluster.start()
            time.sleep(1.5)
            proc.stdin.write("stop\n")
            proc.stdin.flush()
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        # unavailable, said as such: not a 500, not a 401 that would tell a valid token it is not one
        assert during.status_code == 503 and during.json()["error"]["code"] == "store_unavailable", during.text
        steps = int(out.split("DONE", 1)[1].split(":")[1].strip(" }\n"))
        with pytest.MonkeyPatch.context() as env_patch:
            env_patch.setenv("NAIAD_URI", server.url)
            env_patch.setenv("NAIAD_API_TOKEN", admin)
            import naiad.store

            naiad.store.forget_store(server.url)
            run = naiad.init_run(with_id=run_id, mode="read-only")
            loss = run["train/loss"].fetch_values(include_timestamp=False)
            assert np.array_equal(loss["step"].to_numpy(), np.arange(steps, dtype=float)), (len(loss), steps)
            assert np.array_equal(loss["value"].to_numpy(), np.arange(steps) * 0.5)
            assert run["final/steps"].fetch() == steps and run["sys/state"].fetch() == "finished"
            assert not run.exists("sys/errors"), run["sys/last_error"].fetch()
            run.stop()
            naiad.store.forget_store(server.url)
        assert "can be lost" not in server.log.read_text()  # a durable database: no warning at start
        print(f"\nPostgreSQL stopped ({signal.Signals(how).name}) for 2 s mid-run: {steps} points logged, "
              f"{len(loss)} stored, 0 lost, 0 duplicated")
    finally:
        if server is not None:
            stop_server(server)
        cluster.remove()


def test_a_server_says_when_its_database_may_lose_acknowledged_commits(tmp_path: Path) -> None:
    """The tests' shared cluster runs fast and loose (fsync and synchronous_commit off): the restart test
    above lost 8,000 acknowledged points on it when PostgreSQL crashed.  A server over such a database
    says so when it starts."""
    from naiad.store.blobs import LocalBlobs
    from naiad.store.postgres import PostgresStore
    from services import postgres_store_dsn

    store = PostgresStore(postgres_store_dsn(tmp_path / "pg"), LocalBlobs(tmp_path / "blobs"))
    try:
        problems = store.durability_problems()
    finally:
        store.close()
    assert [p.split(":")[0] for p in problems] == ["PostgreSQL runs with fsync=off",
                                                   "PostgreSQL runs with synchronous_commit=off"]
    assert all("Set " in p and "=on, the default" in p for p in problems)


# ------------------------------------------------------------------ S3 unreachable mid-run

S3_TRAIN = """
import os, sys, threading
import naiad
from naiad import File
run = naiad.init_run(project="s3", name="through an S3 outage", capture_stdout=False, capture_stderr=False,
                     capture_hardware_metrics=False, source_files=[])
run["weights/before"].upload(File.from_content(b"before the outage", extension="bin"))
loss = run["train/loss"]
told = []
threading.Thread(target=lambda: [told.append(line.strip()) for line in sys.stdin], daemon=True).start()
run.wait()
print("READY", run["sys/id"].fetch(), flush=True)
step = 0
checkpointed = False
while "stop" not in told:
    for _ in range(1000):
        loss.append(step * 0.25, step=step)
        step += 1
    if "down" in told and not checkpointed:  # S3 is away now: a big file (in parts) and a small one
        run["weights/during"].upload(File.from_content(bytes(range(256)) * (80_000), extension="bin"))
        run["notes/during"].upload(File.from_content(b"a small file during the outage", extension="txt"))
        checkpointed = True
    threading.Event().wait(0.01)
run["final/steps"] = step
run.stop()
print("DONE", step, flush=True)
"""


def test_s3_unreachable_mid_run_loses_nothing(s3_env: str, tmp_path: Path) -> None:
    """The blob store (S3) becomes unreachable for ``NAIAD_S3_OUTAGE`` seconds (default 5; the issue's
    minute is the same story, longer) while a run logs points and uploads a file of several parts and a
    small one through a server over PostgreSQL: the server answers 503 for files meanwhile and keeps
    taking points; the client keeps the files spooled and retries; after S3 is back every file is there
    with its hash, every point once, the run finished without an error."""
    import hashlib

    import boto3
    import httpx

    from naiad.server.app import create_app
    from naiad.store.accounts import Accounts
    from naiad.store.postgres import PostgresStore
    from naiad.store.s3blobs import S3Blobs
    from services import CuttableProxy, admin_token, postgres_store_dsn, serve_in_thread

    outage = float(os.environ.get("NAIAD_S3_OUTAGE", "5"))
    bucket = f"naiad-faults-{os.urandom(5).hex()}"
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=bucket)
    proxy = CuttableProxy(s3_env)
    store = PostgresStore(postgres_store_dsn(tmp_path / "pg"), S3Blobs(f"s3://{bucket}/blobs", endpoint_url=proxy.url))
    accounts = Accounts(store)
    admin = admin_token(store)
    accounts.ensure_account("trainer")
    accounts.grant("trainer", "s3", "contributor")
    token = accounts.create_token("trainer")
    try:
        with serve_in_thread(create_app(store, ui=False)) as url:
            proc = start_script(S3_TRAIN, stdin=True, env={
                "NAIAD_URI": url, "NAIAD_API_TOKEN": token, "NAIAD_FLUSH_PERIOD": "0.1",
                "NAIAD_LOCAL_DIR": str(tmp_path / "client")})
            try:
                assert proc.stdout is not None and proc.stdin is not None
                ready = proc.stdout.readline()
                assert ready.startswith("READY"), proc.communicate(timeout=30)
                run_id = ready.split()[1]
                before = hashlib.sha256(b"before the outage").hexdigest()
                time.sleep(0.5)
                proxy.cut()
                proc.stdin.write("down\n")
                proc.stdin.flush()
                time.sleep(outage / 2)
                # meanwhile: a file read is "unavailable, retry", not a 500; points are still taken
                during = httpx.get(f"{url}/api/v1/blobs/{before}", headers={"authorization": f"Bearer {admin}"},
                                   timeout=60)
                table = httpx.post(f"{url}/api/v1/table", json={"project": "s3"},
                                   headers={"authorization": f"Bearer {admin}"}, timeout=60)
                time.sleep(outage / 2)
                proxy.mend()
                time.sleep(1.0)
                proc.stdin.write("stop\n")
                proc.stdin.flush()
                out, err = proc.communicate(timeout=180)
            finally:
                if proc.poll() is None:
                    proc.kill()
            assert proc.returncode == 0, err
            assert "Traceback" not in err, err
            assert during.status_code == 503 and during.json()["error"]["code"] == "store_unavailable", during.text
            assert table.status_code == 200, table.text
            assert proxy.refused > 0, "the outage never met a request"
            steps = int(out.split("DONE", 1)[1].split()[0])

            import naiad.store
            from naiad.store.remote import RemoteStore

            remote = RemoteStore(url, admin)
            try:
                info = remote.get_container(short_id=run_id)
                fields = remote.read_fields(info.uuid)
                assert "sys/errors" not in fields, fields.get("sys/last_error")
                assert fields["sys/state"].value == "finished" and fields["final/steps"].value == steps
                series = remote.read_series(info.uuid, "train/loss")
                assert np.array_equal(series.steps, np.arange(steps, dtype=float))
                assert np.array_equal(series.values, np.arange(steps) * 0.25)
                big = bytes(range(256)) * 80_000
                for path, content in [("weights/before", b"before the outage"), ("weights/during", big),
                                      ("notes/during", b"a small file during the outage")]:
                    ref = fields[path].value
                    assert ref["hash"] == hashlib.sha256(content).hexdigest() and ref["size"] == len(content)
                    assert b"".join(store.blobs.read_range(ref["hash"], 0, ref["size"])) == content
            finally:
                remote.close()
                naiad.store.forget_store(url)
        print(f"\nS3 unreachable for {outage:.0f} s mid-run: {proxy.refused} connections refused or cut; "
              f"{steps} points and 3 files (one of {len(big) >> 20} MiB in parts) all stored once")
    finally:
        store.close()
        proxy.close()
