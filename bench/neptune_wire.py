"""The unmodified neptune client logging into `naiad server`: how fast points get through.

    python -m bench.neptune_wire                      # 1,000,000 points: the client, then the server alone
    python -m bench.neptune_wire --server-only --repeat 3 --stores embedded,postgresql
    python -m bench.neptune_wire --json bench/results-neptune-wire.json

A real `naiad server` (a subprocess, over a fresh embedded store or a fresh PostgreSQL database of a
throw-away cluster with a blob folder) and:

- the real neptune 1.x client in another process: `run["m"].append(x)` N times, then `stop()`.  Timed:
  the logging loop as the training script sees it (the calls return before anything is sent), `stop()`
  (waiting until the server holds every point), and the points the store holds afterwards.
- the server alone: N points posted as the client posts them — the client sends at most 1,000 queued
  operations a request and merges those of one series into one operation, so a request holds 1,000
  points of S series (S operations of 1,000/S points each) — on one connection, the bodies encoded
  before the clock starts.  Shapes: 1 series, 10 series, 100 series a request.  Per request: the
  round trip as the client sees it over loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CLIENT = """
import sys, time
import neptune
n = int(sys.argv[1])
run = neptune.init_run(capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                       source_files=[], git_ref=False)
t0 = time.perf_counter()
for i in range(n):
    run["m"].append(i * 0.5)
t1 = time.perf_counter()
run.stop()
t2 = time.perf_counter()
print("RESULT", t1 - t0, t2 - t1)
"""

SHAPES = {"1 series": 1, "10 series": 10, "100 series": 100}
REQUEST_POINTS = 1000


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}


@contextmanager
def _server(store: str, blobs: str, workers: int = 1) -> Iterator[tuple[str, str]]:
    """A naiad server (``workers`` processes) over ``store``; yields its URL and a NEPTUNE_API_TOKEN for
    an admin."""
    port = _port()
    url = f"http://127.0.0.1:{port}"
    where = ["--store", store] + (["--blobs", blobs] if blobs else [])
    made = subprocess.run([sys.executable, "-m", "naiad", "token", "create", "--user", "bench", "--admin",
                           "--neptune", url, *where], capture_output=True, text=True, env=_env(), check=True)
    server = subprocess.Popen([sys.executable, "-m", "naiad", "server", *where, "--port", str(port),
                               "--workers", str(workers), "--log-level", "warning"], env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"naiad server did not start: {server.stderr.read() if server.stderr else ''}")
                time.sleep(0.1)
        yield url, made.stdout.strip()
    finally:
        server.terminate()
        server.wait(30)


def _client(tmp: str, token: str, points: int) -> dict[str, float]:
    client_env = _env() | {"NEPTUNE_API_TOKEN": token, "NEPTUNE_PROJECT": "bench/wire",
                           "OAUTHLIB_INSECURE_TRANSPORT": "1"}
    done = subprocess.run([sys.executable, "-c", CLIENT, str(points)], capture_output=True, text=True,
                          env=client_env, cwd=tmp, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    loop, stop = done.stdout.split("RESULT", 1)[1].split()
    return {"loop_s": float(loop), "stop_s": float(stop)}


def _bodies(points: int, series: int) -> list[bytes]:
    """The requests the client sends for ``points`` points spread over ``series`` series."""
    now = time.time() * 1000
    per = REQUEST_POINTS // series
    bodies = []
    for start in range(0, points // series, per):
        ops = [{"path": f"m{k}", "logFloats": {"entries": [
            {"value": i * 0.5, "step": float(i), "timestampMilliseconds": now + i} for i in range(start, start + per)]}}
            for k in range(series)]
        bodies.append(json.dumps(ops).encode())
    return bodies


def _post_all(url: str, token: str, points: int, series: int, name: str, start_at: float) -> tuple[float, float]:
    """One connection's share: its own run, its requests posted one after the other from ``start_at``
    (a wall-clock time, so several processes start together); returns its first and last instant."""
    import httpx

    bodies = _bodies(points, series)
    with httpx.Client(base_url=url, timeout=120) as http:
        access = http.get("/api/backend/v1/authorization/oauth-token",
                          headers={"X-Neptune-Api-Token": token}).json()["accessToken"]
        http.headers["authorization"] = f"Bearer {access}"
        run = http.post("/api/leaderboard/v1/experiments", json={"projectIdentifier": "bench/wire", "type": "run",
                                                                "customId": name}).json()["id"]
        headers = {"content-type": "application/json"}
        time.sleep(max(0.0, start_at - time.time()))
        t0 = time.time()
        for body in bodies:
            answer = http.post("/api/leaderboard/v1/experiments/operations", params={"experimentId": run},
                               content=body, headers=headers)
            answer.raise_for_status()
            if answer.json():
                raise RuntimeError(f"the server refused operations: {answer.text[:500]}")
        return t0, time.time()


def _server_side(url: str, token: str, points: int, series: int, connections: int, tag: str) -> dict[str, float]:
    """``points`` points posted as the client posts them, in requests of 1,000 points of ``series``
    series, over ``connections`` connections at once (each a process of its own, with its own run)."""
    from concurrent.futures import ProcessPoolExecutor

    share = points // connections
    start_at = time.time() + 2.0 + 0.2 * connections  # after every process has encoded its bodies
    names = [f"server-{tag}-{series}-{c}-of-{connections}" for c in range(connections)]
    with ProcessPoolExecutor(connections) as pool:
        spans = list(pool.map(_post_all, [url] * connections, [token] * connections, [share] * connections,
                              [series] * connections, names, [start_at] * connections))
    elapsed = max(end for _, end in spans) - min(begin for begin, _ in spans)
    requests = connections * (share // REQUEST_POINTS)
    return {"points_per_s": round(requests * REQUEST_POINTS / elapsed),
            "ms_per_request": round(elapsed / requests * connections * 1000, 3)}


def _stored(store: str, blobs: str) -> dict[str, int]:
    """Points the store holds per run (by custom run id; the client's run has none)."""
    from naiad.server.main import server_store

    opened = server_store(store, blobs)
    counts: dict[str, int] = {}
    try:
        for short_id in opened.query_table("bench/wire", "run", columns=["sys/id"]).ids:
            info = opened.get_container(short_id=short_id)
            paths = [p for p, t in opened.structure(info.uuid).items() if t == "FloatSeries"]
            counts[info.custom_run_id or "client"] = sum(len(opened.read_series(info.uuid, p).steps) for p in paths)
    finally:
        opened.close()
    return counts


@contextmanager
def _store(kind: str, tmp: Path, cluster: str | None) -> Iterator[tuple[str, str]]:
    if kind == "embedded":
        yield str(tmp / "store"), ""
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from services import drop_database, new_database

    assert cluster is not None
    dsn = new_database(cluster)
    try:
        yield dsn, str(tmp / "blobs")
    finally:
        drop_database(cluster, dsn)


def one(kind: str, points: int, server_only: bool, cluster: str | None,
        concurrency: list[tuple[int, int]]) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="naiad-bench-wire-"))
    try:
        with _store(kind, tmp, cluster) as (store, blobs):
            result: dict[str, Any] = {"store": kind, "server": {shape: {} for shape in SHAPES}}
            for workers, connections in concurrency:
                with _server(store, blobs, workers) as (url, token):
                    if not server_only and "client" not in result:
                        result["client"] = _client(str(tmp), token, points)
                    for shape, series in SHAPES.items():
                        result["server"][shape][f"{workers}x{connections}"] = _server_side(
                            url, token, points, series, connections, f"{workers}x{connections}")
            result["stored"] = _stored(store, blobs)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _cluster(kinds: list[str]) -> Iterator[str | None]:
    if "postgresql" not in kinds:
        yield None
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from services import postgres_server

    with postgres_server() as dsn:
        yield dsn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stores", default="embedded", help="embedded, postgresql or both (comma-separated)")
    parser.add_argument("--concurrency", default="1x1,2x4",
                        help="server processes x client connections, comma-separated (default 1x1,2x4)")
    parser.add_argument("--server-only", action="store_true", help="skip the real client (it takes a minute)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.stores.split(",") if k.strip()]
    concurrency = [(int(w), int(c)) for w, c in (item.split("x") for item in args.concurrency.split(","))]
    result: dict[str, Any] = {"points": args.points, "repeat": args.repeat, "cpus": os.cpu_count(), "stores": {}}
    with _cluster(kinds) as cluster:
        for kind in kinds:
            runs = [one(kind, args.points, args.server_only, cluster, concurrency) for _ in range(args.repeat)]
            summary: dict[str, Any] = {"runs": runs, "all_stored": all(
                n == args.points // int(name.rsplit("-of-", 1)[1] if "-of-" in name else 1)
                for r in runs for name, n in r["stored"].items())}
            for shape in SHAPES:
                summary[shape] = {}
                for workers, connections in concurrency:
                    key = f"{workers}x{connections}"
                    rates = [r["server"][shape][key]["points_per_s"] for r in runs]
                    summary[shape][key] = {"points_per_s_median": round(statistics.median(rates)),
                                           "points_per_s": rates}
            if not args.server_only:
                totals = [r["client"]["loop_s"] + r["client"]["stop_s"] for r in runs]
                summary["client"] = {"loop_median_s": round(statistics.median(r["client"]["loop_s"] for r in runs), 3),
                                     "stop_median_s": round(statistics.median(r["client"]["stop_s"] for r in runs), 3),
                                     "points_per_s": round(args.points / statistics.median(totals))}
            result["stores"][kind] = summary
            print(kind, json.dumps({k: v for k, v in summary.items() if k != "runs"}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
