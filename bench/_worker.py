"""Child-process side of the benchmarks: one sub-command is one measurement in a fresh process.

``bench.core`` runs ``python -m bench._worker CMD [options]`` with ``NAIAD_URI`` set to a fresh
temporary folder for that repetition; the command prints one line ``BENCH_RESULT {json}`` on
stdout (naiad's own messages go to stderr).  Running a command by hand works too::

    NAIAD_URI=/tmp/s python -m bench._worker append --n 20000

Every sub-command is independent; nothing is shared between processes but the store folder.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import time
import uuid as _uuid
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

RESULT_TAG = "BENCH_RESULT "
PROJECT = "bench"


def emit(obj: dict[str, Any]) -> None:
    print(RESULT_TAG + json.dumps(obj), flush=True)


def store_dir() -> str:
    return os.environ["NAIAD_URI"]


def random_walk(n: int, seed: int, step: float = 0.01, start: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start + np.cumsum(rng.normal(0.0, step, n))


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _p99(xs: list[float]) -> float:
    return float(np.percentile(xs, 99)) if xs else float("nan")


def _short_id(run: Any) -> str:
    return str(run["sys/id"].fetch())  # waits for the writer: call outside timed sections


def _uuid_of(short_id: str) -> str:
    from naiad.store import open_store

    return open_store(store_dir()).get_container(short_id=short_id).uuid


# --------------------------------------------------------------------------------- 1. caller cost
def cmd_append(a: argparse.Namespace) -> None:
    """Median cost of ``run["x"].append(float)`` on the calling thread, per batch of calls."""
    import naiad

    run = naiad.init_run(project=PROJECT, name="bench-append")
    vals = random_walk(a.batch, 1).tolist()
    batches = max(1, a.n // a.batch)
    perf = time.perf_counter_ns

    overhead = []
    for _ in range(min(batches, 50)):
        t0 = perf()
        for _v in vals:
            pass
        overhead.append((perf() - t0) / len(vals) / 1000.0)

    run["x"].append(vals[0])  # the first append creates the series; the timed ones take the hot path
    samples = []
    for _ in range(batches):
        t0 = perf()
        for v in vals:
            run["x"].append(v)
        samples.append((perf() - t0) / len(vals) / 1000.0)

    handle = run["y"]
    handle.append(vals[0])
    handle_samples = []
    for _ in range(batches):
        t0 = perf()
        for v in vals:
            handle.append(v)
        handle_samples.append((perf() - t0) / len(vals) / 1000.0)

    t_stop = time.perf_counter()
    run.stop()
    emit({"us_per_call": samples, "handle_us_per_call": handle_samples,
          "loop_overhead_us": _median(overhead), "stop_s": time.perf_counter() - t_stop,
          "calls": batches * len(vals)})


def cmd_assign(a: argparse.Namespace) -> None:
    """Cost of ``run[path] = 1.0``: the same path again and again, or a new path each call."""
    import naiad

    run = naiad.init_run(project=PROJECT, name=f"bench-assign-{a.variant}")
    perf = time.perf_counter_ns
    batches = max(1, a.n // a.batch)
    samples = []
    if a.variant == "same":
        vals = random_walk(a.batch, 2).tolist()
        run["p"] = 1.0
        for _ in range(batches):
            t0 = perf()
            for v in vals:
                run["p"] = v
            samples.append((perf() - t0) / len(vals) / 1000.0)
    else:
        keys = [f"p/{i}" for i in range(batches * a.batch)]
        for b in range(batches):
            chunk = keys[b * a.batch : (b + 1) * a.batch]
            t0 = perf()
            for k in chunk:
                run[k] = 1.0
            samples.append((perf() - t0) / len(chunk) / 1000.0)
    t_stop = time.perf_counter()
    run.stop()
    emit({"us_per_call": samples, "stop_s": time.perf_counter() - t_stop, "calls": batches * a.batch})


def cmd_run_cost(a: argparse.Namespace) -> None:
    """A run's fixed cost (issue 21): ``init_run`` + one assignment + ``stop()``, capture at its
    defaults except hardware sampling (stdout and stderr, the entry script, git state, environment,
    installed packages), ``--n`` runs in one process: the first, which starts the process-wide
    captures, and the median of the rest.  Then checks that the last run recorded them all."""
    t0 = time.perf_counter()
    import naiad

    import_s = time.perf_counter() - t0
    inits, stops, ids = [], [], []
    for i in range(a.n):
        t0 = time.perf_counter()
        run = naiad.init_run(project=PROJECT, name=f"cost-{i}", capture_hardware_metrics=False)
        t1 = time.perf_counter()
        run["x"] = i
        ids.append(_short_id(run))
        t2 = time.perf_counter()
        run.stop()
        inits.append(t1 - t0)
        stops.append(time.perf_counter() - t2)
    last = naiad.init_run(project=PROJECT, with_id=ids[-1], mode="read-only")
    recorded = all(last.exists(path) for path in ("source_code/git/commit_id", "source_code/requirements",
                                                   "source_code/files", "environment/python"))
    last.stop()
    rest = range(1, a.n)
    emit({"import_s": import_s, "first_ms": (inits[0] + stops[0]) * 1000,
          "init_ms": _median([inits[i] * 1000 for i in rest]), "stop_ms": _median([stops[i] * 1000 for i in rest]),
          "total_ms": _median([(inits[i] + stops[i]) * 1000 for i in rest]), "recorded": recorded, "runs": a.n})


def cmd_assign_dict(a: argparse.Namespace) -> None:
    """A dict of ``--n`` new float fields assigned at once (issue 21's large assignment), then stop()."""
    import naiad

    fields = {f"f{i}": i * 0.5 for i in range(a.n)}
    run = naiad.init_run(project=PROJECT, name="bench-assign-dict", capture_hardware_metrics=False,
                         capture_stdout=False, capture_stderr=False)
    short_id = _short_id(run)
    t0 = time.perf_counter()
    run["params"] = fields
    t1 = time.perf_counter()
    run.stop()
    t2 = time.perf_counter()
    back = naiad.init_run(project=PROJECT, with_id=short_id, mode="read-only")
    stored = back["params"].fetch()
    back.stop()
    emit({"assign_s": t1 - t0, "us_per_field": (t1 - t0) / a.n * 1e6, "stop_s": t2 - t1,
          "all_stored": stored == fields, "n": a.n})


# --------------------------------------------------------------------------------- 2. 1M appends
def cmd_append_1m(a: argparse.Namespace) -> None:
    import naiad

    run = naiad.init_run(project=PROJECT, name="bench-append-1m")
    sid = _short_id(run)
    vals = random_walk(1000, 3).tolist()
    outer = a.n // len(vals)
    perf = time.perf_counter_ns
    batch_ns = [0] * outer  # per 1000 calls: shows stalls of the calling thread (lock or GIL held)
    t0 = time.perf_counter()
    for b in range(outer):
        tb = perf()
        for v in vals:
            run["x"].append(v)
        batch_ns[b] = perf() - tb
    t1 = time.perf_counter()
    run.stop()
    t2 = time.perf_counter()
    n = outer * len(vals)
    ro = naiad.init_run(with_id=sid, mode="read-only")
    df = ro["x"].fetch_values()
    steps_ok = bool(len(df) == n and np.array_equal(df["step"].to_numpy(), np.arange(n, dtype=float)))
    left = [p.name for p in (Path(store_dir()) / "oplog").glob("*.log")]
    typical = statistics.median(batch_ns)
    emit({"n": n, "loop_s": t1 - t0, "stop_s": t2 - t1, "total_s": t2 - t0, "stored": len(df),
          "steps_ok": steps_ok, "oplogs_left": left, "batch_median_ms": typical / 1e6,
          "worst_stall_ms": (max(batch_ns) - typical) / 1e6,
          "stalls_over_10ms": sum(1 for x in batch_ns if x - typical > 10_000_000)})


# --------------------------------------------------------------------------------- 3. extend
def cmd_extend(a: argparse.Namespace) -> None:
    """``extend`` in batches of ``--batch`` floats, then ``stop()``: points per second."""
    import naiad
    from naiad.store import open_store

    walk = random_walk(min(a.n, 200 * a.batch), 4)
    pool = [walk[i : i + a.batch].tolist() for i in range(0, len(walk), a.batch)]
    run = naiad.init_run(project=PROJECT, name="bench-extend")
    sid = _short_id(run)
    batches = a.n // a.batch
    if a.start_at:  # several clients start logging at one moment (concurrency benchmarks)
        time.sleep(max(0.0, a.start_at - time.time()))
    wall0 = time.time()
    t0 = time.perf_counter()
    for i in range(batches):
        run["x"].extend(pool[i % len(pool)])
    t1 = time.perf_counter()
    run.stop()
    t2 = time.perf_counter()
    n = batches * a.batch
    count = open_store(store_dir()).read_fields(_uuid_of(sid), ["x"])["x"].count
    emit({"n": n, "loop_s": t1 - t0, "stop_s": t2 - t1, "total_s": t2 - t0, "pts_per_s": n / (t2 - t0),
          "stored": int(count or 0), "wall_start": wall0, "wall_end": wall0 + (t2 - t0)})


def cmd_sqlite(a: argparse.Namespace) -> None:
    """Plain sqlite3, one row per point: ``executemany`` in one transaction, or a commit per point."""
    os.makedirs(store_dir(), exist_ok=True)
    path = os.path.join(store_dir(), "plain.db")
    conn = sqlite3.connect(path, isolation_level=None)
    if a.mode == "commit_wal":
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    pragmas = {"journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
               "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0]}
    conn.execute("CREATE TABLE points(sid INTEGER NOT NULL, step REAL NOT NULL, ts REAL NOT NULL, "
                 "value REAL NOT NULL, PRIMARY KEY (sid, step)) WITHOUT ROWID")
    sql = "INSERT INTO points(sid, step, ts, value) VALUES (?, ?, ?, ?)"
    values = random_walk(a.n, 5).tolist()
    steps = [float(i) for i in range(a.n)]
    now = time.time()
    t0 = time.perf_counter()
    if a.mode == "many":
        conn.execute("BEGIN")
        conn.executemany(sql, zip(repeat(1), steps, repeat(now), values))
        conn.execute("COMMIT")
        done = a.n
    else:  # autocommit: every execute is its own transaction; stop early after --max-s seconds
        done = 0
        stop_at = time.perf_counter() + a.max_s
        for s, v in zip(steps, values, strict=True):
            conn.execute(sql, (1, s, now, v))
            done += 1
            if done % 100 == 0 and time.perf_counter() > stop_at:
                break
    elapsed = time.perf_counter() - t0
    if a.mode == "commit_wal":
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    emit({"n": done, "mode": a.mode, "pragmas": pragmas, "s": elapsed, "pts_per_s": done / elapsed,
          "bytes_per_point": size / done})


# --------------------------------------------------------------------------------- 4. buckets
def cmd_buckets_build(a: argparse.Namespace) -> None:
    """A random-walk float series with a few spikes, written through extend() in big batches."""
    import naiad

    vals = random_walk(a.n, 6)
    hi, lo = float(vals.max()), float(vals.min())
    spikes = []
    for k, frac in enumerate((0.013, 0.25, 0.5, 0.731, 0.98)):
        idx = int(a.n * frac) + 7
        vals[idx] = hi + 100.0 + k
        spikes.append([float(idx), float(vals[idx]), "max"])
    for k, frac in enumerate((0.37, 0.62)):
        idx = int(a.n * frac) + 3
        vals[idx] = lo - 100.0 - k
        spikes.append([float(idx), float(vals[idx]), "min"])
    run = naiad.init_run(project=PROJECT, name="bench-buckets")
    sid = _short_id(run)
    t0 = time.perf_counter()
    for i in range(0, a.n, a.batch):
        run["s"].extend(vals[i : i + a.batch].tolist())
    t1 = time.perf_counter()
    run.stop()
    t2 = time.perf_counter()
    emit({"uuid": _uuid_of(sid), "short_id": sid, "n": a.n, "spikes": spikes, "loop_s": t1 - t0,
          "build_s": t2 - t0, "db_bytes": os.path.getsize(os.path.join(store_dir(), "naiad.db"))})


def _check_spikes(b: Any, spikes: list[list[Any]], lo: float, hi: float) -> tuple[bool, list[str]]:
    problems = []
    for step, value, kind in spikes:
        if not lo <= step <= hi:
            continue
        i = int(np.searchsorted(b.step_hi, step))
        if i >= len(b) or not b.step_lo[i] <= step <= b.step_hi[i]:
            problems.append(f"step {step:g}: no bucket covers it")
            continue
        got = b.max[i] if kind == "max" else b.min[i]
        if got != value:
            problems.append(f"step {step:g}: bucket {kind} is {got!r}, spike is {value!r}")
    return not problems, problems


def cmd_buckets_read(a: argparse.Namespace) -> None:
    """Fresh process: cold call (new connection, empty SQLite cache), then warm repeats."""
    spec = json.loads(Path(a.spec).read_text())
    t0 = time.perf_counter()
    from naiad.store import open_store

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    store = open_store(store_dir())
    open_s = time.perf_counter() - t0
    uuid, n, spikes = spec["uuid"], spec["n"], spec["spikes"]

    def timed(**kw: Any) -> tuple[float, Any]:
        t = time.perf_counter()
        out = store.series_buckets(uuid, "s", a.buckets, **kw)
        return (time.perf_counter() - t) * 1000.0, out

    cold_ms, b = timed()
    ok_full, problems = _check_spikes(b, spikes, -np.inf, np.inf)
    n_full = len(b)
    centre = next(s[0] for s in spikes if abs(s[0] / n - 0.5) < 0.01)
    lo, hi = centre - 0.005 * n, centre + 0.005 * n
    zoom_cold_ms, z = timed(step_min=lo, step_max=hi)
    ok_zoom, zproblems = _check_spikes(z, spikes, lo, hi)
    ok_zoom = ok_zoom and bool(len(z) and z.step_lo[0] >= lo and z.step_hi[-1] <= hi)
    n_zoom = len(z)
    warm = [timed()[0] for _ in range(a.warm)]
    zoom_warm = [timed(step_min=lo, step_max=hi)[0] for _ in range(a.warm)]
    # half the range: fewer chunks than buckets, so series_buckets decodes every point in it
    half = [timed(step_min=0.25 * n, step_max=0.75 * n)[0] for _ in range(3)]
    emit({"import_s": import_s, "open_s": open_s, "cold_ms": cold_ms, "warm_ms": warm,
          "zoom_cold_ms": zoom_cold_ms, "zoom_warm_ms": zoom_warm, "half_ms": half, "buckets": n_full,
          "zoom_buckets": n_zoom, "zoom_points": int(z.count.sum()) if len(z) else 0,
          "spikes_ok": ok_full, "zoom_spike_ok": ok_zoom, "problems": problems + zproblems})


# --------------------------------------------------------------------------------- 5. runs table
STR_VOCAB = "xabcdefghi"  # p/2 = "x" matches one run in ten


def _run_ops(rng: random.Random, now: float) -> tuple[list[Any], bool]:
    from naiad.core import fields as F
    from naiad.core import ops as O

    ops: list[Any] = [(O.ASSIGN, "sys/name", F.STRING, "bench-table"),
                      (O.ASSIGN, "sys/state", F.STRING, "finished")]
    p2 = ""
    for j in range(80):
        kind = j % 4
        if kind == 0:
            ops.append((O.ASSIGN, f"p/{j}", F.FLOAT, rng.random()))
        elif kind == 1:
            ops.append((O.ASSIGN, f"p/{j}", F.INTEGER, rng.randrange(1000)))
        elif kind == 2:
            value = rng.choice(STR_VOCAB)
            p2 = value if j == 2 else p2
            ops.append((O.ASSIGN, f"p/{j}", F.STRING, value))
        else:
            ops.append((O.ASSIGN, f"p/{j}", F.BOOLEAN, rng.random() < 0.5))
    ops.append((O.ADD, "sys/tags", ["bench", f"group-{rng.randrange(20)}"]))
    steps = np.arange(10, dtype=np.float64)
    ts = now + steps
    m0_last = 0.0
    for j in range(20):
        vals = np.array([rng.random() for _ in range(10)])
        m0_last = float(vals[-1]) if j == 0 else m0_last
        ops.append((O.POINTS, f"m/{j}", F.FLOAT_SERIES, steps, ts, vals))
    return ops, (m0_last > 0.5 and p2 == "x")


def _clone_runs(db: str, base: int, copies: int) -> None:
    """Copy the ``base`` runs ``copies - 1`` more times, row for row, in one transaction.

    Every table that holds per-run rows is copied with all its columns (read from the schema), with
    container and series ids shifted, fresh uuids and short ids; the result is what ``apply`` would
    have written for identical runs.  Raises if the store does not look as expected.
    """
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        n, cmin, cmax = conn.execute("SELECT count(*), min(cid), max(cid) FROM containers").fetchone()
        ns, smin, smax = conn.execute("SELECT count(*), min(sid), max(sid) FROM series").fetchone()
        if (n, cmin, cmax) != (base, 1, base) or (smin, smax) != (1, ns):
            raise RuntimeError(f"unexpected ids: containers {n} {cmin}..{cmax}, series {ns} {smin}..{smax}")
        (pid_id,) = conn.execute("SELECT pid FROM paths WHERE path='sys/id'").fetchone()
        proj_id, key = conn.execute("SELECT id, key FROM projects").fetchone()
        lo_t, hi_t = conn.execute("SELECT min(created), max(created) FROM containers").fetchone()
        span = hi_t - lo_t + 1.0

        def cols(table: str) -> list[str]:
            return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]

        def copy(table: str, subst: dict[str, str], where: str, params: dict[str, Any]) -> None:
            names = cols(table)
            exprs = [subst.get(c, c) for c in names]
            conn.execute(f"INSERT INTO {table}({', '.join(names)}) SELECT {', '.join(exprs)} "
                         f"FROM {table} WHERE {where}", params)

        for k in range(1, copies):
            p = {"off": k * base, "soff": k * ns, "key": key, "dt": k * span, "base": base, "ns": ns}
            copy("containers", {"cid": "cid + :off", "uuid": "lower(hex(randomblob(16)))",
                                "short_id": "printf('%s-%d', :key, cid + :off)", "custom_run_id": "NULL",
                                "created": "created + :dt"}, "cid <= :base", p)
            copy("fields", {"cid": "cid + :off"}, "cid <= :base", p)
            copy("set_members", {"cid": "cid + :off"}, "cid <= :base", p)
            copy("series", {"sid": "sid + :soff", "cid": "cid + :off"}, "sid <= :ns", p)
            copy("chunks", {"sid": "sid + :soff"}, "sid <= :ns", p)
        conn.execute("UPDATE fields SET txt = printf('%s-%d', ?, cid) WHERE pid = ? AND cid > ?",
                     (key, pid_id, base))
        conn.execute("UPDATE projects SET next_num = ? WHERE id = ?", (base * copies + 1, proj_id))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def cmd_table_build(a: argparse.Namespace) -> None:
    """``--distinct`` runs through ``create_container`` + ``apply(Batch)``, then copies up to ``--runs``."""
    from naiad.core.ops import Batch
    from naiad.store import open_store

    store = open_store(store_dir())
    rng = random.Random(7)
    base = a.distinct if a.runs % a.distinct == 0 else a.runs
    matches = 0
    t0 = time.perf_counter()
    for _ in range(base):
        u = _uuid.uuid4().hex
        store.create_container(PROJECT, "run", u, owner="bench")
        ops, hit = _run_ops(rng, time.time())
        matches += hit
        store.apply(Batch(u, _uuid.uuid4().hex, 1, ops))
    apply_s = time.perf_counter() - t0
    method = "apply"
    clone_s = 0.0
    copies = a.runs // base
    if copies > 1:
        store.close()
        t0 = time.perf_counter()
        try:
            _clone_runs(str(Path(store_dir()) / "naiad.db"), base, copies)
            method = f"apply {base} + copy x{copies}"
        except (sqlite3.Error, RuntimeError) as exc:  # schema changed under us: do it the long way
            print(f"[bench] copying runs failed ({exc}); building every run with apply()",
                  file=sys.stderr)
            for _ in range(a.runs - base):
                u = _uuid.uuid4().hex
                store.create_container(PROJECT, "run", u, owner="bench")
                ops, hit = _run_ops(rng, time.time())
                matches += hit
                store.apply(Batch(u, _uuid.uuid4().hex, 1, ops))
            copies = 1
            method = "apply (copy failed)"
        clone_s = time.perf_counter() - t0
    emit({"runs": a.runs, "method": method, "apply_s": apply_s, "copy_s": clone_s,
          "apply_ms_per_run": apply_s / base * 1000.0, "expected_rows": matches * copies,
          "db_bytes": os.path.getsize(Path(store_dir()) / "naiad.db") if "://" not in store_dir() else None})


def cmd_table_read(a: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    import pandas  # noqa: F401  (imported by to_pandas(); timed apart so "cold" is the query)

    pandas_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    import naiad

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    project = naiad.init_project(project=PROJECT, mode="read-only")
    open_s = time.perf_counter() - t0
    columns = json.loads(a.columns)

    def timed(query: str | None) -> tuple[float, Any]:
        t = time.perf_counter()
        df = project.fetch_runs_table(query=query, columns=columns, sort_by=a.sort_by,
                                      limit=a.limit).to_pandas()
        return (time.perf_counter() - t) * 1000.0, df

    cold_ms, df = timed(a.query)
    warm = [timed(a.query)[0] for _ in range(a.warm)]
    nofilter_ms, full = timed(None)
    want = {"sys/id", *columns}
    emit({"pandas_import_s": pandas_s, "naiad_import_s": import_s, "open_s": open_s, "cold_ms": cold_ms,
          "warm_ms": warm, "rows": len(df), "columns": list(df.columns),
          "columns_ok": want <= set(df.columns), "nofilter_ms": nofilter_ms,
          "nofilter_rows": len(full)})


# --------------------------------------------------------------------------------- dataset hashing
def cmd_hash_folder(a: argparse.Namespace) -> None:
    """Manifest of a folder of ``--files`` files of ``--size`` bytes: cold (empty hash cache), then warm."""
    from naiad.tracking.files import local_manifest
    from naiad.tracking.hashcache import hash_files

    folder = Path(store_dir()) / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    block = rng.integers(0, 256, a.size, dtype=np.uint8).tobytes()
    for i in range(a.files):
        (folder / f"f{i:05d}.bin").write_bytes(i.to_bytes(8, "little") + block[8:])
    os.environ["NAIAD_HASH_CACHE"] = str(Path(store_dir()) / "hashes.db")
    total = a.files * a.size
    t0 = time.perf_counter()
    manifest = local_manifest(str(folder), None)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = local_manifest(str(folder), None)
    warm = time.perf_counter() - t0
    _, report = hash_files(sorted(str(p) for p in folder.iterdir()))
    emit({"files": a.files, "bytes": total, "cold_s": cold, "cold_mb_s": total / cold / 1e6, "warm_s": warm,
          "same": manifest == again, "warm_read_nothing": report.hashed == 0})


# --------------------------------------------------------------------------------- 6. disk
def cmd_disk(a: argparse.Namespace) -> None:
    """Bytes of naiad.db + WAL per float point after stop() and a WAL checkpoint."""
    import naiad
    from naiad.store import open_store

    run = naiad.init_run(project=PROJECT, name="bench-disk")
    walks = [random_walk(a.points, 100 + s).tolist() for s in range(a.series)]
    for i in range(0, a.points, a.batch):  # series interleaved, as a training loop logs them
        for s, walk in enumerate(walks):
            run[f"m/{s}"].extend(walk[i : i + a.batch])
    run.stop()
    open_store(store_dir()).close()
    db = os.path.join(store_dir(), "naiad.db")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0] * page
    payload, chunks = conn.execute("SELECT sum(length(data)), count(*) FROM chunks").fetchone()
    conn.close()
    db_bytes = os.path.getsize(db)
    wal = os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0
    points = a.series * a.points
    emit({"points": points, "db_bytes": db_bytes, "wal_bytes": wal, "free_bytes": free,
          "bytes_per_point": (db_bytes + wal) / points, "chunk_payload_per_point": (payload or 0) / points,
          "chunks": chunks})


# --------------------------------------------------------------------------------- 7. crash
_PROGRESS = struct.Struct("<qdd")  # points appended so far, time of that count, time of the first append


def cmd_crash_child(a: argparse.Namespace) -> None:
    import naiad

    run = naiad.init_run(project=PROJECT, name="bench-crash", flush_period=a.flush)
    Path(a.progress + ".sid").write_text(_short_id(run))
    with open(a.progress, "r+b") as fh:
        mm = mmap.mmap(fh.fileno(), _PROGRESS.size)
    vals = random_walk(1000, 8).tolist()
    start = time.time()
    done = 0
    while True:
        for v in vals:
            run["x"].append(v)
        done += len(vals)
        _PROGRESS.pack_into(mm, 0, done, time.time(), start)


def cmd_crash(a: argparse.Namespace) -> None:
    """SIGKILL a child appending in a tight loop; count what the next open of the store recovers."""
    from naiad.store import open_store

    progress = store_dir().rstrip("/") + ".progress"
    Path(progress).write_bytes(b"\0" * _PROGRESS.size)
    with open(progress + ".err", "wb") as err:
        child = subprocess.Popen([sys.executable, "-m", "bench._worker", "crash_child", "--progress", progress,
                                  "--flush", str(a.flush)], stdout=subprocess.DEVNULL, stderr=err)
    with open(progress, "r+b") as fh:
        mm = mmap.mmap(fh.fileno(), _PROGRESS.size)
    deadline = time.time() + 60
    while _PROGRESS.unpack_from(mm, 0)[0] == 0:
        if child.poll() is not None or time.time() > deadline:
            raise SystemExit(f"crash child did not start: {Path(progress + '.err').read_text()[-2000:]}")
        time.sleep(0.005)
    time.sleep(a.run_s)
    phase = a.phase
    if phase == "worst":
        when = _just_before_next_log_write(Path(store_dir()) / "oplog", a.flush)
        if when is None:
            phase = "random (no op log growth seen)"
        else:
            time.sleep(max(0.0, when - time.time()))
    if phase.startswith("random"):  # a random phase of the flush cycle
        time.sleep(random.uniform(0.0, a.flush))
    t_kill = time.time()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    appended, t_count, t_start = _PROGRESS.unpack_from(mm, 0)
    oplog_bytes = sum(p.stat().st_size for p in (Path(store_dir()) / "oplog").glob("*.log"))
    sid = Path(progress + ".sid").read_text()
    t0 = time.perf_counter()
    store = open_store(store_dir())  # replays the op log of the dead writer
    recover_s = time.perf_counter() - t0
    uuid = store.get_container(short_id=sid).uuid
    from naiad.errors import MissingFieldError
    from naiad.store.base import SeriesData

    try:
        data = store.read_series(uuid, "x")
    except MissingFieldError:  # killed before the op log held a point of it: everything appended is lost
        empty = np.zeros(0)
        data = SeriesData(empty, empty.copy(), empty.copy())
    stored = len(data.steps)
    last_ts = float(data.timestamps[-1]) if stored else t_start
    state = store.read_fields(uuid, ["sys/state"])["sys/state"].value
    # the child counts a thousand appends after they returned: more may be stored, never fewer
    emit({"appended": int(appended), "stored": stored, "lost_points": max(0, int(appended) - stored),
          "stored_frac": stored / appended if appended else 0.0,
          "append_rate": appended / max(t_count - t_start, 1e-9), "alive_s": t_kill - t_start,
          "loss_s": t_kill - last_ts, "recover_s": recover_s, "oplog_bytes_at_kill": oplog_bytes,
          "state": state, "prefix_ok": bool(np.array_equal(data.steps, np.arange(stored, dtype=float))),
          "phase": phase})


def _just_before_next_log_write(folder: Path, flush: float, margin: float = 0.12) -> float | None:
    """Watch the op log grow; predict the next write from the last three and return a time just before.

    Killing then loses the most: everything appended since the previous flush collected its points.
    """
    writes: list[float] = []
    last = -1
    deadline = time.time() + 8 * flush + 5
    while len(writes) < 3 and time.time() < deadline:
        size = sum(p.stat().st_size for p in folder.glob("*.log") if p.exists())
        if last >= 0 and size > last:
            now = time.time()
            if not writes or now - writes[-1] > flush / 2:  # a new write, not the tail of the last one
                writes.append(now)
        last = size
        time.sleep(0.002)
    if len(writes) < 3:
        return None
    cycle = min(writes[-1] - writes[-2], writes[-2] - writes[-3])
    return writes[-1] + cycle - margin


# --------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench._worker")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("append")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=1000)
    p = sub.add_parser("assign")
    p.add_argument("--variant", choices=("same", "distinct"), default="same")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=1000)
    p = sub.add_parser("assign_dict")
    p.add_argument("--n", type=int, default=1_000_000)
    p = sub.add_parser("run_cost")
    p.add_argument("--n", type=int, default=200)
    p = sub.add_parser("append_1m")
    p.add_argument("--n", type=int, default=1_000_000)
    p = sub.add_parser("extend")
    p.add_argument("--n", type=int, default=5_000_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--start-at", type=float, default=0.0, help="wall-clock time to start logging at")
    p = sub.add_parser("sqlite")
    p.add_argument("--mode", choices=("many", "commit", "commit_wal"), default="many")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--max-s", type=float, default=3.0, help="commit modes: stop after this long")
    p = sub.add_parser("buckets_build")
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--batch", type=int, default=100_000)
    p = sub.add_parser("buckets_read")
    p.add_argument("--spec", required=True)
    p.add_argument("--buckets", type=int, default=1000)
    p.add_argument("--warm", type=int, default=20)
    p = sub.add_parser("table_build")
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--distinct", type=int, default=2000)
    p = sub.add_parser("table_read")
    p.add_argument("--query", required=True)
    p.add_argument("--columns", required=True, help="JSON list of paths")
    p.add_argument("--warm", type=int, default=5)
    p.add_argument("--sort-by", default="sys/creation_time")
    p.add_argument("--limit", type=int, default=None, help="a page of this many rows (default: all)")
    p = sub.add_parser("hash_folder")
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--size", type=int, default=1 << 20)
    p = sub.add_parser("disk")
    p.add_argument("--series", type=int, default=1)
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1000)
    p = sub.add_parser("crash")
    p.add_argument("--flush", type=float, default=1.0)
    p.add_argument("--run-s", type=float, default=3.0)
    p.add_argument("--phase", choices=("random", "worst"), default="random")
    p = sub.add_parser("crash_child")
    p.add_argument("--progress", required=True)
    p.add_argument("--flush", type=float, default=1.0)
    a = ap.parse_args(argv)
    globals()[f"cmd_{a.cmd}"](a)


if __name__ == "__main__":
    main()
