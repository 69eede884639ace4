"""How long `naiad export` and `naiad import naiad` take on a project of realistic shape.

    python -m bench.backup                        # 200 runs × 20 series × 5,000 points, 3 repetitions
    python -m bench.backup --runs 20 --repeat 1   # a smoke run
    python -m bench.backup --json bench/results-backup.json

The project is written through ``store.apply`` (30 parameters, 20 float series, a string series, a
1 MiB file per run) into a fresh embedded store; each repetition exports it into a new folder and
imports that into a new embedded store (which checks the export against its checksums first and reads
every value back at the end).  Times are wall-clock medians; the checksum pass and the read-back are
included, as a user sees them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.importers.export import export_project
from naiad.importers.naiad import import_naiad
from naiad.store import open_store


def build(uri: str, runs: int, series: int, points: int) -> int:
    store = open_store(uri)
    rng = np.random.default_rng(1)
    total = 0
    for r in range(runs):
        run_uuid = uuid.uuid4().hex
        store.create_container("bench", "run", run_uuid)
        digest, size = store.blobs.put_bytes(rng.bytes(1 << 20))
        ops: list[Any] = [(O.ASSIGN, f"parameters/p{i}", F.FLOAT, float(rng.random())) for i in range(30)]
        ops.append((O.ASSIGN, "model/weights", F.FILE, {"hash": digest, "size": size, "ext": "bin", "name": "w"}))
        steps = np.arange(points, dtype=np.float64)
        ts = 1.7e9 + steps
        for s in range(series):
            ops.append((O.POINTS, f"metrics/m{s}", F.FLOAT_SERIES, steps, ts, rng.random(points)))
            total += points
        ops.append((O.POINTS, "logs/stdout", F.STRING_SERIES, steps[:100], ts[:100],
                    [f"line {i} of run {r}" for i in range(100)]))
        total += 100
        ops.append((O.ASSIGN, "sys/state", F.STRING, "finished"))
        store.apply(Batch(run_uuid, f"bench-{run_uuid}", 1, ops))
    store.close()
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="naiad-bench-backup-") as tmp:
        root = Path(tmp)
        source = str(root / "source")
        t0 = time.perf_counter()
        total = build(source, args.runs, args.series, args.points)
        built = time.perf_counter() - t0
        export_s, import_s, sizes = [], [], []
        for rep in range(args.repeat):
            store = open_store(source)
            folder = root / f"export-{rep}"
            t0 = time.perf_counter()
            report = export_project(store, "bench", folder)
            export_s.append(time.perf_counter() - t0)
            sizes.append(report.bytes)
            target = open_store(str(root / f"target-{rep}"))
            t0 = time.perf_counter()
            restored = import_naiad(target, folder)
            import_s.append(time.perf_counter() - t0)
            assert restored.points_checked == total, (restored.points_checked, total)
            target.close()
        result = {
            "runs": args.runs, "series_per_run": args.series, "points_per_series": args.points, "points": total,
            "files": args.runs, "build_s": round(built, 2), "repeat": args.repeat,
            "export_s": [round(x, 2) for x in export_s], "import_s": [round(x, 2) for x in import_s],
            "export_median_s": round(statistics.median(export_s), 2),
            "import_median_s": round(statistics.median(import_s), 2),
            "export_points_per_s": round(total / statistics.median(export_s)),
            "import_points_per_s": round(total / statistics.median(import_s)),
            "export_bytes": sizes[0], "cpus": os.cpu_count(),
        }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
