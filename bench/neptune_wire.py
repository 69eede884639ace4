"""The unmodified neptune client logging into `naiad server`: how fast points get through.

    python -m bench.neptune_wire                   # 1,000,000 float points, async mode, 3 repetitions
    python -m bench.neptune_wire --points 100000 --repeat 1
    python -m bench.neptune_wire --json bench/results-neptune-wire.json

A real `naiad server` (a subprocess, over a fresh embedded store) and a real neptune 1.x client in
another process: `run["m"].append(x)` N times, then `stop()`.  Timed: the logging loop as the training
script sees it (the calls return before anything is sent), `stop()` (waiting until the server holds
every point), and the points the store holds afterwards; points/s is N over loop + stop.  Then the
server alone: the same points posted the way the client posts them (1,000 one-point operations a
request), without the client's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
print("RESULT", run._sys_id if hasattr(run, "_sys_id") else "", t1 - t0, t2 - t1)
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one(points: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="naiad-bench-wire-") as tmp:
        store = str(Path(tmp) / "store")
        port = _port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}
        made = subprocess.run([sys.executable, "-m", "naiad", "token", "create", "--user", "bench", "--admin",
                               "--neptune", url, "--store", store], capture_output=True, text=True, env=env,
                              check=True)
        server = subprocess.Popen([sys.executable, "-m", "naiad", "server", "--store", store, "--port", str(port),
                                   "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            client_env = env | {"NEPTUNE_API_TOKEN": made.stdout.strip(), "NEPTUNE_PROJECT": "bench/wire",
                                "OAUTHLIB_INSECURE_TRANSPORT": "1"}
            done = subprocess.run([sys.executable, "-c", CLIENT, str(points)], capture_output=True, text=True,
                                  env=client_env, cwd=tmp, timeout=1800)
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-3000:])
            _, _, loop, stop = done.stdout.split("RESULT", 1)[1].split(" ")
            server_rate = _server_side(url, made.stdout.strip(), points)
        finally:
            server.terminate()
            server.wait(30)
        from naiad.store import open_store

        opened = open_store(store)
        stored = 0
        for short_id in opened.query_table("bench/wire", "run", columns=["m"]).ids:
            info = opened.get_container(short_id=short_id)
            if info.custom_run_id != "server-side":  # the client's run
                stored += len(opened.read_series(info.uuid, "m").steps)
        opened.close()
    return {"loop_s": float(loop), "stop_s": float(stop), "stored": stored, "server_points_per_s":
            server_rate}


def _server_side(url: str, token: str, points: int) -> float:
    """The server alone: ``points`` points posted as the client posts them (batches of 1,000 operations of
    one point each, on one connection), without the client's own per-call cost."""
    import httpx

    with httpx.Client(base_url=url, timeout=120) as http:
        access = http.get("/api/backend/v1/authorization/oauth-token",
                          headers={"X-Neptune-Api-Token": token}).json()["accessToken"]
        http.headers["authorization"] = f"Bearer {access}"
        run = http.post("/api/leaderboard/v1/experiments", json={"projectIdentifier": "bench/wire", "type": "run",
                                                                "customId": "server-side"}).json()["id"]
        now = time.time() * 1000
        t0 = time.perf_counter()
        for start in range(0, points, 1000):
            batch = [{"path": "m", "logFloats": {"entries": [{"value": float(i), "step": float(i),
                                                               "timestampMilliseconds": now}]}}
                     for i in range(start, min(points, start + 1000))]
            answer = http.post("/api/leaderboard/v1/experiments/operations", params={"experimentId": run}, json=batch)
            answer.raise_for_status()
        return round(points / (time.perf_counter() - t0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    runs = [one(args.points) for _ in range(args.repeat)]
    totals = [r["loop_s"] + r["stop_s"] for r in runs]
    result = {"points": args.points, "repeat": args.repeat, "runs": runs,
              "loop_median_s": round(statistics.median(r["loop_s"] for r in runs), 3),
              "stop_median_s": round(statistics.median(r["stop_s"] for r in runs), 3),
              "points_per_s": round(args.points / statistics.median(totals)),
              "server_points_per_s": round(statistics.median(r["server_points_per_s"] for r in runs)),
              "all_stored": all(r["stored"] == args.points for r in runs), "cpus": os.cpu_count()}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
