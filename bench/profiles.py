"""Profiles behind the readings in docs/benchmarks.md (not part of the timed benchmarks).

    python -m bench.profiles extend [--side caller|writer|store] [--n 1000000]
    python -m bench.profiles assign [--n 20000]         # run["p/i"] = 1.0, a new path per call
    python -m bench.profiles append [--n 200000]        # run["x"].append(float)
    python -m bench.profiles flushes [--seconds 4]      # writer cycle under a tight append loop

Each runs against a fresh temporary store.  cProfile only sees the thread that enabled it, so the
writer side is profiled by wrapping ``Writer.flush`` (batch → op log) or ``SqliteStore.apply``
(batch → SQLite) in this process; the package itself is not changed.
``flushes`` times every flush of the writer thread (collect → op log written → store applied) and
prints the durability gap: how long points appended right after one collect wait for the op log
write of the next flush — the most a SIGKILL can lose.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import tempfile
import time

import numpy as np


def _top(prof: cProfile.Profile, title: str, n: int = 18) -> None:
    print(f"\n=== {title} ===")
    pstats.Stats(prof).strip_dirs().sort_stats("tottime").print_stats(n)


def extend(a: argparse.Namespace) -> None:
    import naiad
    from naiad import writer as W

    vals = (1.0 + np.cumsum(np.random.default_rng(0).normal(0, 0.01, 1000))).tolist()
    prof = cProfile.Profile()
    if a.side in ("writer", "store"):
        from naiad.store.sqlite import SqliteStore

        owner, name = (W.Writer, "flush") if a.side == "writer" else (SqliteStore, "apply")
        orig = getattr(owner, name)

        def wrapped(self: object, *args: object) -> object:
            prof.enable()
            try:
                return orig(self, *args)
            finally:
                prof.disable()

        setattr(owner, name, wrapped)
    run = naiad.init_run(project="bench")
    t0 = time.perf_counter()
    if a.side == "caller":
        prof.enable()
    for _ in range(a.n // 1000):
        run["x"].extend(vals)
    if a.side == "caller":
        prof.disable()
    t1 = time.perf_counter()
    run.stop()
    t2 = time.perf_counter()
    print(f"{a.n} points: loop {t1 - t0:.2f} s, stop {t2 - t1:.2f} s, {a.n / (t2 - t0):,.0f} points/s "
          f"(profiler on the {a.side} side slows it)")
    _top(prof, f"extend x1000, {a.side} thread")


def assign(a: argparse.Namespace) -> None:
    import naiad

    run = naiad.init_run(project="bench")
    keys = [f"p/{i}" for i in range(a.n)]
    prof = cProfile.Profile()
    prof.enable()
    for k in keys:
        run[k] = 1.0
    prof.disable()
    run.stop()
    _top(prof, 'run["p/i"] = 1.0, new path per call')


def append(a: argparse.Namespace) -> None:
    import naiad

    run = naiad.init_run(project="bench")
    run["x"].append(0.0)
    run["y"].append(0.0)
    vals = [float(i) for i in range(1000)]
    h = run["y"]
    for label, fn in (('run["x"].append(v)', lambda v: run["x"].append(v)), ("h.append(v)", h.append)):
        samples = []
        for _ in range(a.n // 1000):
            t0 = time.perf_counter_ns()
            for v in vals:
                fn(v)
            samples.append((time.perf_counter_ns() - t0) / 1000 / 1000)
        print(f"{label:24s} median {statistics.median(samples):.2f} µs/call (lambda adds ~0.05 µs)")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(a.n // 1000):
        for v in vals:
            run["x"].append(v)
    prof.disable()
    run.stop()
    _top(prof, 'run["x"].append(float)', 10)


def flushes(a: argparse.Namespace) -> None:
    import naiad
    from naiad import oplog as L
    from naiad import writer as W

    events: list[tuple[str, float]] = []
    apply_name = "apply_pending" if hasattr(W.Writer, "apply_pending") else "_apply_pending"
    orig_collect, orig_append, orig_apply = W.Writer._collect, L.OpLog.append, getattr(W.Writer, apply_name)

    def collect(self: W.Writer) -> list:
        events.append(("collect", time.time()))
        return orig_collect(self)

    def log_append(self: L.OpLog, batch: object) -> None:
        orig_append(self, batch)  # type: ignore[arg-type]
        events.append(("logged", time.time()))

    def apply_pending(self: W.Writer) -> object:
        out = orig_apply(self)
        if not self._pending:
            events.append(("applied", time.time()))
        return out

    W.Writer._collect = collect  # type: ignore[method-assign]
    L.OpLog.append = log_append  # type: ignore[method-assign]
    setattr(W.Writer, apply_name, apply_pending)
    run = naiad.init_run(project="bench", flush_period=a.flush)
    vals = [float(i) for i in range(1000)]
    end = time.time() + a.seconds
    n = 0
    while time.time() < end:
        for v in vals:
            run["x"].append(v)
        n += 1000
    run.stop()
    collects = [t for k, t in events if k == "collect"]
    logged = [t for k, t in events if k == "logged"]
    applied = [t for k, t in events if k == "applied"]
    print(f"{n:,} appends in {a.seconds} s ({n / a.seconds:,.0f}/s); flush_period {a.flush} s; "
          f"{len(collects)} flushes")
    for i in range(min(len(collects), len(logged))):
        cycle = collects[i + 1] - collects[i] if i + 1 < len(collects) else float("nan")
        print(f"  flush {i}: collect→op log written {logged[i] - collects[i]:.3f} s, "
              f"collect→next collect {cycle:.3f} s")
    if applied:
        print(f"  store caught up {len(applied)} time(s); last at +{applied[-1] - collects[0]:.3f} s")
    gaps = [logged[i + 1] - collects[i] for i in range(min(len(collects), len(logged)) - 1)]
    if gaps:
        print(f"durability gap (collect k → op log written k+1): median {statistics.median(gaps):.3f} s, "
              f"max {max(gaps):.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profiles")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("extend")
    p.add_argument("--side", choices=("caller", "writer", "store"), default="caller")
    p.add_argument("--n", type=int, default=1_000_000)
    p = sub.add_parser("assign")
    p.add_argument("--n", type=int, default=20_000)
    p = sub.add_parser("append")
    p.add_argument("--n", type=int, default=200_000)
    p = sub.add_parser("flushes")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--flush", type=float, default=1.0)
    a = ap.parse_args()
    os.environ["NAIAD_URI"] = folder = tempfile.mkdtemp(prefix="naiad-profile-")
    os.environ.setdefault("NAIAD_PROJECT", "bench")
    try:
        globals()[a.cmd](a)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
