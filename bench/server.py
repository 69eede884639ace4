"""Benchmarks for team mode (issue 3, requirement 7): ingest over HTTP and the runs table through a server.

Usage, from the repository root::

    python -m bench.server                   # everything, 3 repetitions
    python -m bench.server --quick           # ~10x smaller, a smoke run
    python -m bench.server --only ingest_one --repeat 5 --workers 2

What runs: a throw-away PostgreSQL cluster on loopback (the machine's server binaries, as the tests
use), ``naiad server --store postgresql://… --workers W`` in front of it, and clients that are fresh
``python -m bench._worker`` processes in remote mode (``NAIAD_URI=http://127.0.0.1:PORT`` plus a
token) — the SDK exactly as a training script uses it: ``extend`` in batches of 1,000 floats, then
``stop()``, which returns once the server has acknowledged every point.

- ``ingest_one``: one client, 2M points; points/s from the first call to ``stop()`` returning.
- ``ingest_16``: 16 clients at once, 500k points each; total points / (last stop − first call).
- ``table``: 10,000 runs (built straight into PostgreSQL with the same ops the SDK sends), then a
  fresh client asks the server for a filtered, sorted, 5-column page of 100 rows (cold, then warm).

Every client, server and database process shares this machine's cores; the figure is what one
machine does end to end, not a server-only number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._worker import RESULT_TAG
from bench.core import (
    TABLE_COLUMNS,
    TABLE_QUERY,
    Bench,
    BenchError,
    Ctx,
    Metric,
    machine,
    markdown_table,
    print_table,
    run_benches,
    table_rows,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' throw-away PostgreSQL cluster

from services import free_port, new_database, postgres_server  # noqa: E402


class Team:
    """A PostgreSQL cluster and a naiad server in front of a fresh database per benchmark."""

    def __init__(self, server_dsn: str, tmp: Path, workers: int, verbose: bool) -> None:
        self.server_dsn, self.tmp, self.workers, self.verbose = server_dsn, tmp, workers, verbose
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = self.token = self.dsn = ""

    def start(self, tag: str) -> None:
        self.dsn = new_database(self.server_dsn)
        blobs = self.tmp / f"blobs-{tag}"
        env = _clean_env()
        self.token = subprocess.run(
            [sys.executable, "-m", "naiad", "token", "create", "--user", "bench", "--admin", "--store", self.dsn,
             "--blobs", str(blobs)], env=env, capture_output=True, text=True, check=True).stdout.strip()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = open(self.tmp / f"server-{tag}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "naiad", "server", "--store", self.dsn, "--blobs", str(blobs), "--host",
             "127.0.0.1", "--port", str(port), "--workers", str(self.workers), "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("naiad server did not start: " + (self.tmp / f"server-{tag}.log").read_text()[-2000:])
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def client(self, cmd: str, *args: Any, timeout: float = 900) -> subprocess.Popen[str]:
        env = _clean_env()
        local = Path(tempfile.mkdtemp(dir=self.tmp, prefix="client-"))
        env.update(NAIAD_URI=self.url, NAIAD_API_TOKEN=self.token, NAIAD_PROJECT="bench",
                   NAIAD_LOCAL_DIR=str(local), NAIAD_AUTO_CAPTURE="0")
        argv = [sys.executable, "-m", "bench._worker", cmd, *map(str, args)]
        if self.verbose:
            print(f"    $ {' '.join(argv[1:])}", file=sys.stderr)
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _result(proc: subprocess.Popen[str], what: str, timeout: float = 900) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        raise BenchError(f"{what}: no result after {timeout:.0f} s") from exc
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_TAG):
            result: dict[str, Any] = json.loads(line[len(RESULT_TAG):])
            return result
    raise BenchError(f"{what} failed (exit {proc.returncode}):\n{err[-3000:]}")


# --------------------------------------------------------------------------------- benchmarks
TEAM: Team | None = None


def _team() -> Team:
    assert TEAM is not None
    return TEAM


def rep_ingest_one(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    team = _team()
    team.start(f"one-{r}")
    try:
        res = _result(team.client("extend", "--n", ctx.n(2_000_000, 10_000), "--batch", 1000), "ingest_one")
    finally:
        team.stop()
    return {"metrics": {"pts_s": res["pts_per_s"], "stop_s": res["stop_s"], "loop_s": res["loop_s"],
                        "all_stored": res["stored"] == res["n"]}, "raw": res}


def rep_ingest_16(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    team = _team()
    team.start(f"sixteen-{r}")
    try:
        start_at = time.time() + 15  # every client imported and connected, then all log at once
        procs = [team.client("extend", "--n", ctx.n(500_000, 10_000), "--batch", 1000, "--start-at", start_at)
                 for _ in range(16)]
        results = [_result(p, f"ingest_16 client {i}") for i, p in enumerate(procs)]
    finally:
        team.stop()
    total = sum(x["n"] for x in results)
    span = max(x["wall_end"] for x in results) - min(x["wall_start"] for x in results)
    return {"metrics": {"total_pts_s": total / span, "span_s": span,
                        "slowest_client_s": max(x["total_s"] for x in results),
                        "all_stored": all(x["stored"] == x["n"] for x in results)}, "raw": results}


def setup_table(ctx: Ctx) -> dict[str, Any]:
    team = _team()
    team.start("table")
    runs = ctx.n(10_000, 100)
    env = _clean_env()
    env.update(NAIAD_URI=team.dsn, NAIAD_BLOBS=str(team.tmp / "blobs-table"), NAIAD_PROJECT="bench",
               NAIAD_LOCAL_DIR=str(team.tmp / "table-local"))
    proc = subprocess.Popen([sys.executable, "-m", "bench._worker", "table_build", "--runs", str(runs),
                             "--distinct", str(runs)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    built = _result(proc, "table_build", timeout=3600)
    return {"build": built, "notes": {"runs": built["runs"], "apply ms/run (PostgreSQL)": built["apply_ms_per_run"],
                                      "rows matching": built["expected_rows"]}}


def rep_table(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    res = _result(_team().client("table_read", "--query", TABLE_QUERY, "--columns", json.dumps(TABLE_COLUMNS),
                                 "--warm", 5, "--sort-by", "m/0", "--limit", 100), "table_read")
    want = min(100, st["build"]["expected_rows"])
    return {"metrics": {"cold_ms": res["cold_ms"], "warm_ms": sorted(res["warm_ms"])[len(res["warm_ms"]) // 2],
                        "nofilter_ms": res["nofilter_ms"], "rows_ok": res["rows"] == want and res["columns_ok"]},
            "raw": res}


BENCHES = [
    Bench("ingest_one", "one client → server → PostgreSQL: extend ×1000 floats, 2M points, then stop()", [
        Metric("pts_s", "points/s, first call → stop() returned", "points/s", 500_000, ">="),
        Metric("loop_s", "  time in the logging loop", "s"),
        Metric("stop_s", "  stop() (drain to the server)", "s"),
        Metric("all_stored", "every point stored", "", op="check"),
    ], rep_ingest_one),
    Bench("ingest_16", "16 clients at once, 500k points each, one server", [
        Metric("total_pts_s", "total points/s (all points / span)", "points/s", 1_000_000, ">="),
        Metric("span_s", "  first call → last stop()", "s"),
        Metric("slowest_client_s", "  slowest client", "s"),
        Metric("all_stored", "every point stored", "", op="check"),
    ], rep_ingest_16),
    Bench("table", "10,000 runs in PostgreSQL; filtered, sorted, 5-column page of 100 through the server", [
        Metric("cold_ms", "first query of a fresh client", "ms", 300, "<="),
        Metric("warm_ms", "  warm (median of 5)", "ms", 300, "<="),
        Metric("nofilter_ms", "  no filter, sorted page", "ms"),
        Metric("rows_ok", "right rows and columns", "", op="check"),
    ], rep_table, setup_table),
]


def main(argv: list[str] | None = None) -> int:
    global TEAM
    names = [b.name for b in BENCHES]
    ap = argparse.ArgumentParser(prog="python -m bench.server", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="scale every size down ~10x (smoke run)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(names)}")
    ap.add_argument("--workers", type=int, default=2, help="naiad server processes (default 2)")
    ap.add_argument("--json", default="bench/results-server.json")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    chosen = [n.strip() for n in a.only.split(",") if n.strip()] or names
    tmp = Path(tempfile.mkdtemp(prefix="naiad-bench-server-"))
    ctx = Ctx(scale=0.1 if a.quick else 1.0, repeat=a.repeat, tmp=tmp, keep=False, verbose=a.verbose)
    meta = machine()
    meta.update(command="python -m bench.server " + " ".join(sys.argv[1:] if argv is None else argv),
                scale=ctx.scale, repeat=a.repeat, server_workers=a.workers)
    results: dict[str, Any] = {}
    t_all = time.perf_counter()
    try:
        with postgres_server() as server_dsn:
            import psycopg

            with psycopg.connect(server_dsn) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                meta["postgresql"] = row[0] if row else "?"
            TEAM = Team(server_dsn, tmp, a.workers, a.verbose)
            results = run_benches([b for b in BENCHES if b.name in chosen], ctx, after=TEAM.stop)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta["wall_s"] = time.perf_counter() - t_all
    rows = table_rows({k: v for k, v in results.items() if v.get("summary") or "error" in v})
    print()
    print_table(rows)
    if a.json:
        out = Path(a.json)
        out.write_text(json.dumps({"meta": meta, "results": results, "markdown": markdown_table(rows)},
                                  indent=1, default=str))
        print(f"\nraw numbers: {out}", file=sys.stderr)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
