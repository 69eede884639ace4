"""Benchmarks for the figures of issue 2 (requirements 5 and 6): write-path cost, ingest, reads, disk, crash.

Usage, from the repository root::

    python -m bench.core                    # everything, 5 repetitions
    python -m bench.core --quick            # ~10x smaller, a smoke run
    python -m bench.core --repeat 3 --only append,buckets --json out.json

Each repetition runs in child processes (``python -m bench._worker ...``) against a fresh temporary
store folder (``NAIAD_URI``), so no cache, connection or writer thread survives from one repetition
to the next.  Data sets that take long to build (the 10M-point series, the 10,000-run table) are built
once per benchmark and then read by a fresh process per repetition.  The table reports the median,
min and max over repetitions; a target is judged on the median unless the row says otherwise
(the crash loss is judged on the worst repetition).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._worker import RESULT_TAG

ROOT = Path(__file__).resolve().parent.parent
TABLE_QUERY = 'last(m/0) > 0.5 AND p/2 = "x"'
TABLE_COLUMNS = ["p/0", "p/1", "p/2", "m/0", "sys/tags"]


class BenchError(RuntimeError):
    pass


@dataclass
class Metric:
    key: str
    label: str
    unit: str
    target: float | None = None
    op: str = "<="          # "<=" / ">=" against target, "check": every repetition must be true
    judge: str = "median"   # the statistic compared with the target: "median" or "max"


@dataclass
class Bench:
    name: str
    about: str
    metrics: list[Metric]
    rep: Callable[[Ctx, int, dict[str, Any]], dict[str, Any]]
    setup: Callable[[Ctx], dict[str, Any]] | None = None


@dataclass
class Ctx:
    scale: float
    repeat: int
    tmp: Path
    keep: bool
    verbose: bool
    _count: int = field(default=0)

    def n(self, full: int, minimum: int = 1) -> int:
        """``full`` scaled for --quick (rounded to a multiple of 1000 when large)."""
        v = int(full * self.scale)
        if v >= 10_000:
            v -= v % 1000
        return max(minimum, v)

    def folder(self, tag: str) -> Path:
        self._count += 1
        return self.tmp / f"{self._count:03d}-{tag}"

    def drop(self, *paths: Path) -> None:
        if self.keep:
            return
        for p in paths:
            shutil.rmtree(p, ignore_errors=True)
            for extra in p.parent.glob(p.name + ".*"):
                extra.unlink(missing_ok=True)

    def worker(self, cmd: str, *args: Any, uri: Path, timeout: float = 600) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}
        env.update(NAIAD_URI=str(uri), NAIAD_PROJECT="bench", PYTHONDONTWRITEBYTECODE="1")
        argv = [sys.executable, "-m", "bench._worker", cmd, *map(str, args)]
        if self.verbose:
            print(f"    $ NAIAD_URI={uri} {' '.join(argv[1:])}", file=sys.stderr)
        try:
            proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{cmd}: no result after {timeout:.0f} s") from exc
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith(RESULT_TAG):
                result: dict[str, Any] = json.loads(line[len(RESULT_TAG):])
                if proc.stderr.strip() and self.verbose:
                    print("    " + proc.stderr.strip().replace("\n", "\n    ")[-2000:], file=sys.stderr)
                return result
        raise BenchError(f"{cmd} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _p99(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]


# --------------------------------------------------------------------------------- the benchmarks
def rep_append(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    uri = ctx.folder("append")
    res = ctx.worker("append", "--n", ctx.n(200_000, 1000), "--batch", 1000, uri=uri)
    ctx.drop(uri)
    return {"metrics": {
        "append_us": _median(res["us_per_call"]), "append_p99_us": _p99(res["us_per_call"]),
        "handle_us": _median(res["handle_us_per_call"]), "loop_us": res["loop_overhead_us"],
        "stop_s": res["stop_s"]}, "raw": res}


def rep_assign(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    u1, u2 = ctx.folder("assign-same"), ctx.folder("assign-distinct")
    same = ctx.worker("assign", "--variant", "same", "--n", ctx.n(200_000, 1000), uri=u1)
    dist = ctx.worker("assign", "--variant", "distinct", "--n", ctx.n(20_000, 1000), uri=u2)
    ctx.drop(u1, u2)
    return {"metrics": {
        "same_us": _median(same["us_per_call"]), "same_p99_us": _p99(same["us_per_call"]),
        "distinct_us": _median(dist["us_per_call"]), "distinct_p99_us": _p99(dist["us_per_call"]),
        "same_stop_s": same["stop_s"], "distinct_stop_s": dist["stop_s"]},
        "raw": {"same": same, "distinct": dist}}


def rep_run_cost(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    uri = ctx.folder("run-cost")
    res = ctx.worker("run_cost", "--n", ctx.n(200, 20), uri=uri)
    ctx.drop(uri)
    return {"metrics": {"total_ms": res["total_ms"], "init_ms": res["init_ms"], "stop_ms": res["stop_ms"],
                        "first_ms": res["first_ms"], "recorded": res["recorded"]}, "raw": res}


def rep_assign_dict(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    uri = ctx.folder("assign-dict")
    res = ctx.worker("assign_dict", "--n", ctx.n(1_000_000, 1000), uri=uri, timeout=1800)
    ctx.drop(uri)
    return {"metrics": {"us_per_field": res["us_per_field"], "assign_s": res["assign_s"], "stop_s": res["stop_s"],
                        "all_stored": res["all_stored"]}, "raw": res}


def rep_append_1m(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    uri = ctx.folder("append-1m")
    res = ctx.worker("append_1m", "--n", ctx.n(1_000_000, 1000), uri=uri)
    ctx.drop(uri)
    ok = res["stored"] == res["n"] and res["steps_ok"] and not res["oplogs_left"]
    return {"metrics": {
        "total_s": res["total_s"], "loop_s": res["loop_s"], "stop_s": res["stop_s"],
        "sustained_us": res["loop_s"] / res["n"] * 1e6, "stall_ms": res["worst_stall_ms"],
        "stalls": res["stalls_over_10ms"], "all_stored": ok}, "raw": res}


def rep_extend(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    folders = [ctx.folder(t) for t in ("extend", "sqlite-many", "sqlite-commit", "sqlite-commit-wal")]
    nx = ctx.n(5_000_000, 1000)
    nai = ctx.worker("extend", "--n", nx, "--batch", 1000, uri=folders[0])
    many = ctx.worker("sqlite", "--mode", "many", "--n", ctx.n(1_000_000, 1000), uri=folders[1])
    commit = ctx.worker("sqlite", "--mode", "commit", "--n", ctx.n(20_000, 100), "--max-s", 2.0,
                        uri=folders[2])
    wal = ctx.worker("sqlite", "--mode", "commit_wal", "--n", ctx.n(20_000, 100), "--max-s", 5.0,
                     uri=folders[3])
    ctx.drop(*folders)
    return {"metrics": {
        "naiad_pts_s": nai["pts_per_s"], "naiad_loop_s": nai["loop_s"], "naiad_stop_s": nai["stop_s"],
        "stored": nai["stored"] == nai["n"], "many_pts_s": many["pts_per_s"],
        "commit_pts_s": commit["pts_per_s"], "commit_wal_pts_s": wal["pts_per_s"],
        "speedup": nai["pts_per_s"] / many["pts_per_s"],
        "plain_bytes_pt": many["bytes_per_point"]},
        "raw": {"naiad": nai, "sqlite_many": many, "sqlite_commit": commit, "sqlite_commit_wal": wal}}


def setup_buckets(ctx: Ctx) -> dict[str, Any]:
    uri = ctx.folder("buckets")
    spec = ctx.worker("buckets_build", "--n", ctx.n(10_000_000, 10_000), "--batch", ctx.n(100_000, 1000),
                      uri=uri)
    spec_path = ctx.tmp / "buckets-spec.json"
    spec_path.write_text(json.dumps(spec))
    return {"uri": str(uri), "spec_path": str(spec_path), "build": spec,
            "notes": {"points": spec["n"], "build_s (extend 100k batches + stop)": spec["build_s"],
                      "naiad.db bytes": spec["db_bytes"]}}


def rep_buckets(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    res = ctx.worker("buckets_read", "--spec", st["spec_path"], "--buckets", 1000, "--warm", 20,
                     uri=Path(st["uri"]))
    return {"metrics": {
        "cold_ms": res["cold_ms"], "warm_ms": _median(res["warm_ms"]), "zoom_cold_ms": res["zoom_cold_ms"],
        "zoom_warm_ms": _median(res["zoom_warm_ms"]), "half_ms": _median(res["half_ms"]),
        "spikes": res["spikes_ok"],
        "zoom_spike": res["zoom_spike_ok"]}, "raw": res}


def setup_table(ctx: Ctx) -> dict[str, Any]:
    uri = ctx.folder("table")
    runs = ctx.n(10_000, 100)
    built = ctx.worker("table_build", "--runs", runs, "--distinct", max(1, runs // 5), uri=uri)
    return {"uri": str(uri), "build": built,
            "notes": {"runs": built["runs"], "built by": built["method"],
                      "apply ms/run (create_container + apply)": built["apply_ms_per_run"],
                      "copy_s": built["copy_s"], "rows expected": built["expected_rows"],
                      "naiad.db bytes": built["db_bytes"]}}


def rep_table(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    res = ctx.worker("table_read", "--query", TABLE_QUERY, "--columns", json.dumps(TABLE_COLUMNS),
                     "--warm", 5, uri=Path(st["uri"]))
    ok = res["rows"] == st["build"]["expected_rows"] and res["columns_ok"]
    return {"metrics": {
        "cold_ms": res["cold_ms"], "warm_ms": _median(res["warm_ms"]), "rows_ok": ok,
        "nofilter_ms": res["nofilter_ms"], "pandas_import_s": res["pandas_import_s"]}, "raw": res}


def rep_disk(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    u1, u2 = ctx.folder("disk-1"), ctx.folder("disk-10")
    one = ctx.worker("disk", "--series", 1, "--points", ctx.n(1_000_000, 1000), uri=u1)
    ten = ctx.worker("disk", "--series", 10, "--points", ctx.n(100_000, 1000), uri=u2)
    ctx.drop(u1, u2)
    return {"metrics": {
        "one_bpp": one["bytes_per_point"], "ten_bpp": ten["bytes_per_point"],
        "one_payload_bpp": one["chunk_payload_per_point"], "ten_payload_bpp": ten["chunk_payload_per_point"],
        "ten_free_bytes": ten["free_bytes"]}, "raw": {"1x": one, "10x": ten}}


def rep_hash(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    uri = ctx.folder("hash")
    res = ctx.worker("hash_folder", "--files", ctx.n(1000, 10), "--size", 1 << 20, uri=uri)
    ctx.drop(uri)
    return {"metrics": {"cold_mb_s": res["cold_mb_s"], "warm_s": res["warm_s"],
                        "ok": res["same"] and res["warm_read_nothing"]}, "raw": res}


def rep_crash(ctx: Ctx, r: int, st: dict[str, Any]) -> dict[str, Any]:
    u1, u2 = ctx.folder("crash-random"), ctx.folder("crash-worst")
    run_s = 3.0 if ctx.scale >= 1 else 1.5
    res = ctx.worker("crash", "--flush", 1.0, "--run-s", run_s, "--phase", "random", uri=u1)
    worst = ctx.worker("crash", "--flush", 1.0, "--run-s", 0.5, "--phase", "worst", uri=u2)
    ctx.drop(u1, u2)
    return {"metrics": {
        "loss_s": res["loss_s"], "worst_loss_s": worst["loss_s"] if worst["phase"] == "worst" else None,
        "lost_points": max(res["lost_points"], worst["lost_points"]), "stored_frac": res["stored_frac"],
        "append_rate": res["append_rate"], "recover_s": res["recover_s"],
        "consistent": all(x["prefix_ok"] and x["state"] == "crashed" for x in (res, worst))},
        "raw": {"random": res, "worst": worst}}


BENCHES = [
    Bench("append", 'run["x"].append(float) on the calling thread (200k calls, batches of 1000)', [
        Metric("append_us", 'run["x"].append(float), median batch', "µs/call", 2.0),
        Metric("append_p99_us", "  p99 batch", "µs/call"),
        Metric("handle_us", "  h = run[\"x\"]; h.append(float)", "µs/call"),
        Metric("loop_us", "  empty for-loop overhead (included above)", "µs/call"),
        Metric("stop_s", "  stop()", "s"),
    ], rep_append),
    Bench("assign", 'run["p"] = 1.0 on the calling thread', [
        Metric("same_us", 'run["p"] = 1.0, same path (200k)', "µs/call", 5.0),
        Metric("same_p99_us", "  p99 batch", "µs/call"),
        # the target is the assignment itself (same path); creating a new field each call
        # also builds its handle and registers the path, shown without a target
        Metric("distinct_us", '  run["p/i"] = 1.0, a new field each call (20k)', "µs/call"),
        Metric("distinct_p99_us", "  p99 batch", "µs/call"),
        Metric("same_stop_s", "  stop() after 200k same-path", "s"),
        Metric("distinct_stop_s", "  stop() after 20k new fields", "s"),
    ], rep_assign),
    Bench("run_cost", "a run's fixed cost: init_run + 1 field + stop(), capture on except hardware (200 runs)", [
        Metric("total_ms", "init_run + stop(), a later run of the process (median)", "ms", 4.0),
        Metric("init_ms", "  init_run", "ms"),
        Metric("stop_ms", "  stop()", "ms"),
        Metric("first_ms", "  the first run (starts the git and package capture)", "ms"),
        Metric("recorded", "git state, packages, script and environment recorded", "check", op="check"),
    ], rep_run_cost),
    Bench("assign_dict", 'run["params"] = a dict of 1,000,000 new float fields, then stop()', [
        Metric("us_per_field", "the assignment on the calling thread, per field", "µs/field", 1.0),
        Metric("assign_s", "  the assignment", "s"),
        Metric("stop_s", "  stop()", "s", 2.0),
        Metric("all_stored", "every field stored, read back equal", "check", op="check"),
    ], rep_assign_dict),
    Bench("append_1m", "1,000,000 append calls in a tight loop + stop()", [
        Metric("total_s", "1M append + stop()", "s", 3.0),
        Metric("loop_s", "  the loop", "s"),
        Metric("stop_s", "  stop()", "s"),
        Metric("sustained_us", "  loop time per call (writer running)", "µs/call"),
        Metric("stall_ms", "  longest stall of the loop (worst 1000 calls - median)", "ms"),
        Metric("stalls", "  stalls over 10 ms", "count"),
        Metric("all_stored", "every point stored, steps 0..n-1, no op log left", "check", op="check"),
    ], rep_append_1m),
    Bench("extend", "extend() in batches of 1000, 5M points + stop(); plain SQLite side by side", [
        Metric("naiad_pts_s", "naiad extend x1000 + stop()", "points/s", 1_000_000, ">="),
        Metric("naiad_loop_s", "  caller loop", "s"),
        Metric("naiad_stop_s", "  stop()", "s"),
        Metric("stored", "every point stored", "check", op="check"),
        Metric("many_pts_s", "sqlite3 row/point, executemany, 1 tx (1M)", "points/s"),
        Metric("commit_pts_s", "sqlite3 row/point, commit each (default pragmas)", "points/s"),
        Metric("commit_wal_pts_s", "sqlite3 row/point, commit each (WAL, sync=NORMAL)", "points/s"),
        Metric("speedup", "naiad / sqlite3 executemany", "x"),
        Metric("plain_bytes_pt", "sqlite3 row/point size", "B/point"),
    ], rep_extend),
    Bench("buckets", "series_buckets over a 10M-point series, 1000 buckets", [
        Metric("cold_ms", "10M points -> 1000 buckets, cold process", "ms", 100.0),
        Metric("warm_ms", "  warm (median of 20)", "ms", 100.0),
        Metric("zoom_cold_ms", "1% window -> 1000 buckets, first call", "ms", 100.0),
        Metric("zoom_warm_ms", "  warm (median of 20)", "ms", 100.0),
        Metric("half_ms", "middle 50% window -> 1000 buckets (median of 3)", "ms"),
        Metric("spikes", "every spike is its bucket's max/min", "check", op="check"),
        Metric("zoom_spike", "spike in the window kept, range respected", "check", op="check"),
    ], rep_buckets, setup_buckets),
    Bench("table", f"fetch_runs_table({TABLE_QUERY!r}, 5 columns).to_pandas() over 10k runs x 100 fields", [
        Metric("cold_ms", "filter + 5 columns, cold process", "ms", 500.0),
        Metric("warm_ms", "  warm (median of 5)", "ms", 500.0),
        Metric("rows_ok", "rows = expected matches, columns present", "check", op="check"),
        Metric("nofilter_ms", "no filter (all runs), 5 columns", "ms"),
        Metric("pandas_import_s", "  import pandas (not in the above)", "s"),
    ], rep_table, setup_table),
    Bench("disk", "naiad.db + WAL after stop() and a checkpoint, random-walk floats", [
        Metric("one_bpp", "1 series x 1M points", "B/point", 12.0),
        Metric("ten_bpp", "10 series x 100k points", "B/point", 12.0),
        Metric("one_payload_bpp", "  chunk payload only, 1 x 1M", "B/point"),
        Metric("ten_payload_bpp", "  chunk payload only, 10 x 100k", "B/point"),
        Metric("ten_free_bytes", "  free pages, 10 x 100k", "bytes"),
    ], rep_disk),
    Bench("hash", "track_files on a folder of 1,000 files × 1 MiB (issue 6): cold cache, then warm", [
        Metric("cold_mb_s", "hashing, empty hash cache", "MB/s", 500, ">="),
        Metric("warm_s", "again, files unchanged", "s", 0.2, "<="),
        Metric("ok", "same manifest, nothing read the second time", "", op="check"),
    ], rep_hash),
    Bench("crash", "SIGKILL a child appending in a tight loop (flush_period 1 s), reopen the store", [
        Metric("lost_points", "points lost (their append() had returned), either kill", "points", 0,
               judge="max"),
        Metric("loss_s", "  kill - last stored point, random kill (a stall of the child counts too)", "s"),
        Metric("worst_loss_s", "  same, killed just before a flush's op log write", "s"),
        Metric("stored_frac", "  stored / appended", "fraction"),
        Metric("append_rate", "  child's append rate", "calls/s"),
        Metric("recover_s", "  reopen + op log replay", "s"),
        Metric("consistent", "stored = gap-free prefix, run shows crashed", "check", op="check"),
    ], rep_crash),
]


# --------------------------------------------------------------------------------- reporting
def summarize(bench: Bench, reps: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in bench.metrics:
        values = [r["metrics"][m.key] for r in reps if r["metrics"].get(m.key) is not None]
        if not values:
            continue
        row: dict[str, Any] = {"label": m.label, "unit": m.unit, "values": values, "target": m.target,
                               "op": m.op, "judge": m.judge}
        if m.op == "check":
            row.update(ok=sum(bool(v) for v in values), n=len(values))
            row["pass"] = all(bool(v) for v in values)
        else:
            row.update(median=_median(values), min=min(values), max=max(values))
            if m.target is not None:
                got = row[m.judge]
                row["pass"] = got <= m.target if m.op == "<=" else got >= m.target
        out[m.key] = row
    return out


_INTEGER_UNITS = ("count", "bytes", "points")


def fmt(v: float, unit: str = "") -> str:
    if unit in _INTEGER_UNITS:
        return f"{v:,.0f}"
    a = abs(v)
    if a >= 10_000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, res in results.items():
        if "error" in res:
            rows.append([name, "ERROR: " + res["error"].splitlines()[0][:60], "", "", "", "", "", "ERROR"])
            continue
        for s in res["summary"].values():
            if s["op"] == "check":
                rows.append([name, s["label"], s["unit"], f"{s['ok']}/{s['n']}", "", "", "all true",
                             "PASS" if s["pass"] else "FAIL"])
                continue
            target = ""
            if s["target"] is not None:
                target = ("≤ " if s["op"] == "<=" else "≥ ") + fmt(s["target"])
                if s["judge"] != "median":
                    target += f" ({s['judge']})"
            verdict = "" if "pass" not in s else ("PASS" if s["pass"] else "FAIL")
            u = s["unit"]
            rows.append([name, s["label"], u, fmt(s["median"], u), fmt(s["min"], u), fmt(s["max"], u),
                         target, verdict])
    return rows


HEADER = ["bench", "metric", "unit", "median", "min", "max", "target", "result"]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    right = {3, 4, 5}

    def line(r: list[str]) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(cells))

    print(line(HEADER))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def markdown_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] * len(HEADER)) + "|"]
    for r in rows:
        cells = [c.replace("|", "\\|") for c in r]
        if cells[1].startswith("  "):  # a detail row under the metric above it
            cells[1] = "↳ " + cells[1].strip()
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def src_fingerprint() -> str:
    """Hash of every file under src/naiad: says exactly which code a run measured."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "naiad").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def machine() -> dict[str, Any]:
    model = ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import naiad

        version = naiad.__version__
    except Exception as exc:  # the benchmarks still say which version failed to import
        version = f"import failed: {exc}"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip())
    except OSError:
        commit, dirty = "", False
    import numpy

    return {
        "src_sha256": src_fingerprint(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "implementation": platform.python_implementation(),
        "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model, "naiad_version": version, "git_commit": commit, "src_modified": dirty,
        "sqlite": sqlite3.sqlite_version, "numpy": numpy.__version__,
        "loadavg_start": os.getloadavg(),
    }


# --------------------------------------------------------------------------------- main
def run_benches(benches: list[Bench], ctx: Ctx, after: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run each benchmark's setup and repetitions, printing progress; ``after`` runs after each one."""
    results: dict[str, Any] = {}
    for bench in benches:
        t0 = time.perf_counter()
        print(f"[{bench.name}] {bench.about}", file=sys.stderr)
        entry: dict[str, Any] = {"about": bench.about, "reps": []}
        results[bench.name] = entry
        try:
            state = bench.setup(ctx) if bench.setup else {}
            if state.get("notes"):
                entry["setup"] = {k: v for k, v in state.items() if k != "uri"}
                print("   setup: " + ", ".join(f"{k} {fmt(v) if isinstance(v, float) else v}"
                                               for k, v in state["notes"].items()), file=sys.stderr)
            for r in range(ctx.repeat):
                rep = bench.rep(ctx, r, state)
                entry["reps"].append(rep)
                shown = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}"
                                  for k, v in list(rep["metrics"].items())[:4])
                print(f"   rep {r + 1}/{ctx.repeat}: {shown}", file=sys.stderr)
            if state.get("uri"):
                ctx.drop(Path(state["uri"]))
        except BenchError as exc:
            entry["error"] = str(exc)
            print(f"   ERROR: {exc}", file=sys.stderr)
        finally:
            if after is not None:
                after()
        entry["summary"] = summarize(bench, entry["reps"]) if entry["reps"] else {}
        if "error" in entry and not entry["reps"]:
            entry.pop("summary")
        entry["wall_s"] = time.perf_counter() - t0
        print(f"   ({entry['wall_s']:.0f} s)", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    names = [b.name for b in BENCHES]
    ap = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="scale every size down ~10x (smoke run)")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions per benchmark (default 5)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(names)}")
    ap.add_argument("--json", default="bench/results.json", help="where to write every raw number")
    ap.add_argument("--keep", action="store_true", help="keep the temporary store folders")
    ap.add_argument("-v", "--verbose", action="store_true", help="print worker commands and stderr")
    ap.add_argument("--render", metavar="JSON", help="print the Markdown table of an earlier --json file")
    a = ap.parse_args(argv)
    if a.render:
        saved = json.loads(Path(a.render).read_text())
        print(markdown_table(table_rows(saved["results"])))
        return 0
    chosen = [n.strip() for n in a.only.split(",") if n.strip()] or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")

    tmp = Path(tempfile.mkdtemp(prefix="naiad-bench-"))
    ctx = Ctx(scale=0.1 if a.quick else 1.0, repeat=a.repeat, tmp=tmp, keep=a.keep, verbose=a.verbose)
    meta = machine()
    meta.update(command="python -m bench.core " + " ".join(sys.argv[1:] if argv is None else argv),
                scale=ctx.scale, repeat=a.repeat, tmp=str(tmp))
    print(f"naiad {meta['naiad_version']} · Python {meta['python']} · {meta['cpus_usable']} CPU(s) "
          f"{meta['cpu_model']} · scale {ctx.scale} · {a.repeat} repetition(s)", file=sys.stderr)
    if a.quick:
        print("--quick: every size below is divided by 10 (labels show the full sizes)", file=sys.stderr)
    t_all = time.perf_counter()
    try:
        results = run_benches([b for b in BENCHES if b.name in chosen], ctx)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    meta["wall_s"] = time.perf_counter() - t_all
    meta["loadavg_end"] = os.getloadavg()
    meta["src_sha256_end"] = src_fingerprint()
    if meta["src_sha256_end"] != meta["src_sha256"]:
        print("warning: src/naiad changed while the benchmarks ran; numbers mix two versions",
              file=sys.stderr)
    rows = table_rows(results)
    sys.stderr.flush()
    print()
    if a.quick:
        print("(--quick run: sizes are 1/10 of those in the labels; targets apply to full runs)")
    print_table(rows)
    for name, res in results.items():
        notes = res.get("setup", {}).get("notes")
        if notes:
            print(f"\n{name} data set: " + ", ".join(f"{k} {fmt(v) if isinstance(v, float) else v}"
                                                      for k, v in notes.items()))
    if a.json:
        out = Path(a.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"meta": meta, "results": results, "markdown": markdown_table(rows)},
                                  indent=1, default=str))
        print(f"\nraw numbers: {out}", file=sys.stderr)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
