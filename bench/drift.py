"""Benchmarks for the drift figures of the monitoring issue: false alarms, detection power, speed, memory.

Usage, from the repository root::

    python -m bench.drift                   # everything (a few minutes)
    python -m bench.drift --quick           # fewer repetitions, a smoke run
    python -m bench.drift --json bench/results-drift.json

- **false alarms**: comparisons where current and reference come from the same distribution (a normal
  column and a 4-category column; reference 100,000 rows) — 1,000 at 200 and at 10,000 current rows, 200
  at 1,000,000: the share of columns flagged and of comparisons whose dataset verdict is "drift" (target
  ≤ 5 %), with the 95 % interval of that estimate (200 comparisons alone measure a 5 % rate ± 3 points);
- **detection**: 200 comparisons of 10,000 rows shifted by 0.2 σ (target: flagged ≥ 95 %);
- **speed**: profile 1,000,000 rows × 50 columns and compare with a reference profile (target ≤ 10 s);
- **memory**: profile a Parquet file of 1,000,000 × 50 float columns (≈ 400 MB of values) in a child
  process and report its peak resident memory next to the data size (bounded: it streams batches).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from naiad.data.drift import DRIFT, compare
from naiad.data.profile import profile

CATS = list("abcd")
PROBS = [0.4, 0.3, 0.2, 0.1]


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"x": rng.normal(loc=shift, size=n), "c": rng.choice(CATS, n, p=PROBS)})


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a rate: how precisely ``n`` comparisons measure it."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def false_alarms(reps: dict[int, int], seed: int = 1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    reference = profile(_frame(rng, 100_000))
    out = {}
    for n, count in reps.items():
        columns = datasets = 0
        t0 = time.perf_counter()
        for _ in range(count):
            report = compare(reference, profile(_frame(rng, n)))
            columns += len(report.drifted)
            datasets += report.verdict == DRIFT
        low, high = wilson(datasets, count)
        out[str(n)] = {"comparisons": count, "column_false_alarm_rate": columns / (2 * count),
                       "dataset_false_alarm_rate": datasets / count, "dataset_rate_ci95": [low, high],
                       "seconds": time.perf_counter() - t0}
        print(f"  no drift, {n:>9,} rows, {count} comparisons: columns flagged {columns / (2 * count):.1%}, "
              f"datasets {datasets / count:.1%} (95% CI {low:.1%}–{high:.1%})", file=sys.stderr)
    return out


def detection(reps: int, n: int = 10_000, shift: float = 0.2, seed: int = 2) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    reference = profile(_frame(rng, 100_000))
    hits = sum(compare(reference, profile(_frame(rng, n, shift))).column("x").drifted for _ in range(reps))
    low, high = wilson(hits, reps)
    print(f"  {shift} σ shift at {n:,} rows: detected {hits / reps:.1%} (95% CI {low:.1%}–{high:.1%})", file=sys.stderr)
    return {"comparisons": reps, "rows": n, "shift_sigma": shift, "detection_rate": hits / reps,
            "detection_rate_ci95": [low, high]}


def speed(repeat: int, rows: int = 1_000_000, cols: int = 50, seed: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(cols)]
    reference = profile(pd.DataFrame(rng.normal(size=(200_000, cols)), columns=names))
    data = pd.DataFrame(rng.normal(size=(rows, cols)), columns=names)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        compare(reference, profile(data))
        times.append(time.perf_counter() - t0)
    print(f"  report over {rows:,} × {cols}: median {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f})", file=sys.stderr)
    return {"rows": rows, "columns": cols, "seconds_median": statistics.median(times), "seconds_min": min(times),
            "seconds_max": max(times), "repeat": repeat}


_PEAK = """
def peak_kb():  # VmHWM: this process's own peak resident memory (ru_maxrss would include the parent's at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
_CHILD = _PEAK + """
import sys, time
from naiad.data.profile import profile
t0 = time.perf_counter()
p = profile(sys.argv[1])
print(p.rows, time.perf_counter() - t0, peak_kb())
"""


def memory(rows: int = 1_000_000, cols: int = 50, seed: int = 4) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="naiad-bench-drift-") as tmp:
        path = Path(tmp) / "big.parquet"
        names = [f"f{i}" for i in range(cols)]
        with pq.ParquetWriter(path, pa.schema([(n, pa.float64()) for n in names])) as writer:
            for start in range(0, rows, 100_000):
                block = rng.normal(size=(min(100_000, rows - start), cols))
                writer.write_table(pa.table({n: block[:, i] for i, n in enumerate(names)}))
        baseline = subprocess.run([sys.executable, "-c", _PEAK + "import naiad.data.profile, pyarrow.parquet, pandas\n"
                                   "print(peak_kb())"], capture_output=True, text=True, check=True)
        done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True)
        n, seconds, peak_kb = done.stdout.split()
        base_kb = int(baseline.stdout.split()[-1])
        values_mb = rows * cols * 8 / 1e6
        out = {"rows": int(n), "columns": cols, "values_mb": values_mb, "file_mb": os.path.getsize(path) / 1e6,
               "peak_rss_mb": int(peak_kb) / 1024, "import_rss_mb": base_kb / 1024,
               "growth_mb": (int(peak_kb) - base_kb) / 1024, "seconds": float(seconds)}
    print(f"  profile of a {out['file_mb']:.0f} MB Parquet file ({values_mb:.0f} MB of values): peak RSS "
          f"{out['peak_rss_mb']:.0f} MB, {out['growth_mb']:.0f} MB above the imports, {out['seconds']:.1f} s",
          file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 comparisons instead of 200; no memory run")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the speed run")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    small, big = (20, 5) if args.quick else (1000, 200)
    results: dict[str, Any] = {"false_alarms": false_alarms({200: small, 10_000: small, 1_000_000: big}),
                               "detection": detection(small // 5 if args.quick else 200),
                               "speed": speed(args.repeat)}
    if not args.quick:
        results["memory"] = memory()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
