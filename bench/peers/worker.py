"""One workload for one tool, run inside that tool's own environment; prints one JSON line.

    python bench/peers/worker.py TOOL WORKLOAD DIR [--n N] [--crash-at K]

Self-contained on purpose: it is executed by each peer's virtual environment's Python (MLflow, W&B, Aim
are never installed next to naiad), so it imports nothing from naiad unless TOOL is naiad.

Tools: naiad (embedded store), mlflow (SQLite tracking store), wandb (offline mode), aim (local repo).
Workloads: w1 per-call logging, w2 bulk logging, w3 many runs, w4 query, w5 read back, w7 crash (w1
killed with SIGKILL after ``--crash-at`` calls; ``w7read`` counts what survived).  W6 (disk) is measured
by the driver on DIR.  A result may carry a ``note`` (how a peer's figure was obtained, or why it is n/a);
the driver prints it under the table.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

STEPS = 100
N_METRICS = 5
N_PARAMS = 20


def _params(i: int) -> dict[str, Any]:
    """20 parameters of mixed types; p2 is the one W4 filters on."""
    out: dict[str, Any] = {}
    for k in range(N_PARAMS):
        kind = k % 4
        out[f"p{k}"] = (i * 0.001 + k if kind == 0 else i + k if kind == 1 else
                        ("x" if i % 3 == 0 else "y") if kind == 2 else i % 2 == 0)
    return out


PACE_S = 0.0  # --pace-ms: sleep between W1 calls (W7b: a paced run killed after --crash-after-s)
CRASH_AFTER_S: float | None = None


def _checkpoint(i: int, t0: float, crash_at: int | None) -> None:
    """Kill this process with SIGKILL at call ``crash_at`` or once ``CRASH_AFTER_S`` have passed, saying how
    many calls were made first; otherwise wait the pace."""
    if (crash_at is not None and i == crash_at) or (CRASH_AFTER_S is not None and
                                                   time.perf_counter() - t0 >= CRASH_AFTER_S):
        print(json.dumps({"logged": i}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if PACE_S:
        time.sleep(PACE_S)


def _value(i: int, step: int, m: int) -> float:
    return ((i * 7919 + step * 104729 + m * 1299709) % 1000) / 1000.0


# ------------------------------------------------------------------------------------------ naiad
class Naiad:
    def __init__(self, folder: str) -> None:
        os.environ["NAIAD_URI"] = os.path.join(folder, ".naiad")
        os.environ.setdefault("NAIAD_AUTO_CAPTURE", "0")
        import pandas  # noqa: F401  (tables come back as DataFrames; `import mlflow` imports pandas too, untimed)

        import naiad

        self.naiad = naiad

    def start(self, name: str = "bench") -> Any:
        return self.naiad.init_run(project="bench", name=name, capture_stdout=False, capture_stderr=False,
                                   capture_hardware_metrics=False, source_files=[], git_ref=False)

    def w1(self, n: int, crash_at: int | None) -> dict[str, Any]:
        run = self.start("w1")
        handle = run["m"]
        t0 = time.perf_counter()
        for i in range(n):
            _checkpoint(i, t0, crash_at)
            handle.append(float(i))
        loop = time.perf_counter() - t0
        t1 = time.perf_counter()
        run.stop()
        return {"calls": n, "loop_s": loop, "finish_s": time.perf_counter() - t1}

    def w2(self, n: int) -> dict[str, Any]:
        import numpy as np

        steps = n // 10
        run = self.start("w2")
        t0 = time.perf_counter()
        for m in range(10):
            run[f"m{m}"].extend(np.arange(steps, dtype=float) / steps, steps=np.arange(steps, dtype=float))
        run.stop()
        return {"points": steps * 10, "seconds": time.perf_counter() - t0}

    def w3(self, n: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        for i in range(n):
            run = self.start(f"r{i}")
            run["params"] = _params(i)
            for m in range(N_METRICS):
                run[f"m{m}"].extend([_value(i, s, m) for s in range(STEPS)])
            run.stop()
        return {"runs": n, "seconds": time.perf_counter() - t0}

    def w4(self) -> dict[str, Any]:
        query = 'last(m0) > 0.5 AND params/p2 = "x"'
        t0 = time.perf_counter()
        project = self.naiad.init_project(project="bench", mode="read-only")
        first = project.fetch_runs_table(query=query, columns=["params/p2", "m0"]).to_pandas()
        cold = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = project.fetch_runs_table(query=query, columns=["params/p2", "m0"]).to_pandas()
        warm = time.perf_counter() - t1
        return {"rows": len(first), "cold_s": cold, "warm_s": warm, "same": len(first) == len(again)}

    def _w1_run(self) -> Any:
        table = self.naiad.init_project(project="bench", mode="read-only").fetch_runs_table(
            query='`sys/name`:string = "w1"', columns=["sys/name"])
        return self.naiad.init_run(with_id=next(iter(table)).id, mode="read-only")

    def w5(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        run = self._w1_run()
        values = run["m"].fetch_values(include_timestamp=False)
        full = time.perf_counter() - t0
        store = run._store
        t1 = time.perf_counter()
        buckets = store.series_buckets(run._uuid, "m", 1000)
        return {"points": len(values), "full_s": full, "buckets": len(buckets), "buckets_s": time.perf_counter() - t1}

    def w7read(self) -> dict[str, Any]:
        from naiad.store import open_store, recover_oplogs

        recover_oplogs(open_store(os.environ["NAIAD_URI"]))  # what `naiad sync` does with a crashed run's op log
        table = self.naiad.init_project(project="bench", mode="read-only").fetch_runs_table(columns=["m"])
        rows = list(table)  # the only run here; killed before its first flush it has no name yet
        if not rows:
            return {"survived": 0}
        run = self.naiad.init_run(with_id=rows[0].id, mode="read-only")
        if not run.exists("m"):
            return {"survived": 0}
        return {"survived": len(run["m"].fetch_values(include_timestamp=False))}


# ------------------------------------------------------------------------------------------ mlflow
class Mlflow:
    def __init__(self, folder: str) -> None:
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(f"sqlite:///{os.path.join(folder, 'mlflow.db')}")
        mlflow.set_experiment("bench")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()

    def w1(self, n: int, crash_at: int | None) -> dict[str, Any]:
        run = self.mlflow.start_run(run_name="w1")
        t0 = time.perf_counter()
        for i in range(n):
            _checkpoint(i, t0, crash_at)
            self.mlflow.log_metric("m", float(i), step=i)
        loop = time.perf_counter() - t0
        t1 = time.perf_counter()
        self.mlflow.end_run()
        del run
        return {"calls": n, "loop_s": loop, "finish_s": time.perf_counter() - t1}

    def w2(self, n: int) -> dict[str, Any]:
        from mlflow.entities import Metric

        steps = n // 10
        t0 = time.perf_counter()
        run = self.mlflow.start_run(run_name="w2")
        now = int(time.time() * 1000)
        batch: list[Any] = []
        for m in range(10):
            for s in range(steps):
                batch.append(Metric(f"m{m}", s / steps, now, s))
                if len(batch) == 1000:  # MLflow's limit per log_batch call
                    self.client.log_batch(run.info.run_id, metrics=batch)
                    batch = []
        if batch:
            self.client.log_batch(run.info.run_id, metrics=batch)
        self.mlflow.end_run()
        return {"points": steps * 10, "seconds": time.perf_counter() - t0}

    def w3(self, n: int) -> dict[str, Any]:
        from mlflow.entities import Metric, Param

        t0 = time.perf_counter()
        for i in range(n):
            run = self.mlflow.start_run(run_name=f"r{i}")
            now = int(time.time() * 1000)
            metrics = [Metric(f"m{m}", _value(i, s, m), now, s) for m in range(N_METRICS) for s in range(STEPS)]
            params = [Param(k, str(v)) for k, v in _params(i).items()]
            self.client.log_batch(run.info.run_id, metrics=metrics, params=params)
            self.mlflow.end_run()
        return {"runs": n, "seconds": time.perf_counter() - t0}

    def w4(self) -> dict[str, Any]:
        query = "metrics.m0 > 0.5 and params.p2 = 'x'"
        t0 = time.perf_counter()
        first = self.mlflow.search_runs(experiment_names=["bench"], filter_string=query, max_results=50_000)
        cold = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = self.mlflow.search_runs(experiment_names=["bench"], filter_string=query, max_results=50_000)
        warm = time.perf_counter() - t1
        return {"rows": len(first), "cold_s": cold, "warm_s": warm, "same": len(first) == len(again)}

    def _w1_id(self) -> str:
        found = self.mlflow.search_runs(experiment_names=["bench"], filter_string="attributes.run_name = 'w1'")
        return str(found["run_id"].iloc[0])

    def w5(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        history = self.client.get_metric_history(self._w1_id(), "m")
        return {"points": len(history), "full_s": time.perf_counter() - t0, "buckets": None, "buckets_s": None}

    def w7read(self) -> dict[str, Any]:
        return {"survived": len(self.client.get_metric_history(self._w1_id(), "m"))}


# ------------------------------------------------------------------------------------------ wandb
class Wandb:
    def __init__(self, folder: str) -> None:
        os.environ["WANDB_MODE"] = "offline"
        os.environ["WANDB_SILENT"] = "true"
        os.environ["WANDB_DIR"] = folder
        import wandb

        self.wandb = wandb
        self.folder = folder

    def _init(self, name: str) -> Any:
        return self.wandb.init(project="bench", name=name, dir=self.folder, settings=self.wandb.Settings(
            x_disable_stats=True, console="off"))

    def w1(self, n: int, crash_at: int | None) -> dict[str, Any]:
        run = self._init("w1")
        t0 = time.perf_counter()
        for i in range(n):
            _checkpoint(i, t0, crash_at)
            run.log({"m": float(i)}, step=i)
        loop = time.perf_counter() - t0
        t1 = time.perf_counter()
        run.finish()
        return {"calls": n, "loop_s": loop, "finish_s": time.perf_counter() - t1}

    def w2(self, n: int) -> dict[str, Any]:
        steps = n // 10
        t0 = time.perf_counter()
        run = self._init("w2")
        for s in range(steps):  # W&B's batch form: every metric of a step in one call
            run.log({f"m{m}": s / steps for m in range(10)}, step=s)
        run.finish()
        return {"points": steps * 10, "seconds": time.perf_counter() - t0}

    def w3(self, n: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        for i in range(n):
            run = self._init(f"r{i}")
            run.config.update(_params(i))
            for s in range(STEPS):
                run.log({f"m{m}": _value(i, s, m) for m in range(N_METRICS)}, step=s)
            run.finish()
        return {"runs": n, "seconds": time.perf_counter() - t0}

    # W&B offline has no read or query API: a run is a transaction log (``run-<id>.wandb``) that `wandb sync`
    # uploads. wandb 0.31 ships no Python reader for it (the old ``wandb.sdk.internal.datastore`` is gone with
    # the Go core), so the reads below parse its block framing (``_wandb_records``) and decode every record with
    # wandb's own protobuf class, ``wandb.proto.wandb_internal_pb2.Record``.
    READ_NOTE = ("no read API offline: the run's .wandb transaction log is scanned (block framing parsed here, "
                 "each record decoded with wandb.proto.wandb_internal_pb2.Record); no downsampled view offline "
                 "(sampled history is a W&B server feature)")

    def _log_file(self) -> str:
        import glob

        found = sorted(glob.glob(os.path.join(self.folder, "wandb", "*run-*", "run-*.wandb")))
        if len(found) != 1:
            raise RuntimeError(f"expected one .wandb file in {self.folder}, found {len(found)}")
        return found[0]

    def _history(self, path: str, key: str) -> tuple[list[int], list[float]]:
        """Every (step, value) of ``key`` in the run's history records, in log order."""
        from wandb.proto.wandb_internal_pb2 import Record

        steps: list[int] = []
        values: list[float] = []
        record = Record()
        for raw in _wandb_records(path):
            record.ParseFromString(raw)
            if record.WhichOneof("record_type") != "history":
                continue
            step = value = None
            for item in record.history.item:
                name = item.key or "/".join(item.nested_key)
                if name == key:
                    value = json.loads(item.value_json)
                elif name == "_step":
                    step = json.loads(item.value_json)
            if value is not None:
                steps.append(step if step is not None else record.history.step.num)
                values.append(value)
        return steps, values

    def w4(self) -> dict[str, Any]:
        return {"unsupported": True, "note": "n/a: W&B offline mode has no query API; querying runs needs a W&B "
                "server (the wandb/local Docker image), not available on this machine"}

    def w5(self) -> dict[str, Any]:
        import wandb.proto.wandb_internal_pb2  # noqa: F401  (imported before the clock, as `import wandb` is)

        path = self._log_file()
        t0 = time.perf_counter()
        _, values = self._history(path, "m")
        return {"points": len(values), "full_s": time.perf_counter() - t0, "buckets": None, "buckets_s": None,
                "note": self.READ_NOTE}

    def w7read(self) -> dict[str, Any]:
        import glob

        if not glob.glob(os.path.join(self.folder, "wandb", "*run-*", "run-*.wandb")):
            return {"survived": 0}  # killed before wandb.init wrote its log
        path = self._log_file()
        _settle(path)  # the wandb-core process outlives the killed client and writes what it had received
        return {"survived": len(self._history(path, "m")[1]),
                "note": "log() hands each call to the wandb-core process, which outlives the killed client; "
                        "counted once the .wandb file stopped growing"}


def _wandb_records(path: str) -> Any:
    """The records of a W&B transaction log, as bytes: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then
    LevelDB-log style 32 KiB blocks of chunks, each with a 7-byte header (CRC-32 of type byte and data, length,
    type: 1 full, 2 first, 3 middle, 4 last). Stops at the first torn or corrupt chunk, as a reader must after a
    crash."""
    import struct
    import zlib

    block = 32768
    with open(path, "rb") as f:
        data = f.read()
    ident, magic, version = struct.unpack("<4sHB", data[:7])
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise RuntimeError(f"{path}: not a W&B transaction log ({ident!r}, {magic:#x}, {version})")
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        if kind == 0 or len(chunk) < length or zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
            return
        pos += 7 + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk
            pending = b""


def _settle(path: str, quiet_s: float = 0.5, limit_s: float = 30.0) -> None:
    """Wait until ``path`` has not grown for ``quiet_s`` (a writer that outlived a killed client is done)."""
    deadline, size = time.monotonic() + limit_s, -1
    while time.monotonic() < deadline:
        now = os.path.getsize(path)
        if now == size:
            return
        size = now
        time.sleep(quiet_s)


# ------------------------------------------------------------------------------------------ aim
class Aim:
    def __init__(self, folder: str) -> None:
        from aim import Repo, Run

        self.Run, self.Repo = Run, Repo
        self.repo_path = folder
        if not os.path.exists(os.path.join(folder, ".aim")):
            Repo.from_path(folder, init=True)

    def w1(self, n: int, crash_at: int | None) -> dict[str, Any]:
        run = self.Run(repo=self.repo_path, experiment="w1", system_tracking_interval=None,
                       capture_terminal_logs=False)
        t0 = time.perf_counter()
        for i in range(n):
            _checkpoint(i, t0, crash_at)
            run.track(float(i), name="m", step=i)
        loop = time.perf_counter() - t0
        t1 = time.perf_counter()
        run.close()
        return {"calls": n, "loop_s": loop, "finish_s": time.perf_counter() - t1}

    def w2(self, n: int) -> dict[str, Any]:
        steps = n // 10
        t0 = time.perf_counter()
        run = self.Run(repo=self.repo_path, experiment="w2", system_tracking_interval=None,
                       capture_terminal_logs=False)
        for s in range(steps):  # Aim's batch form: a dict of metrics per step
            run.track({f"m{m}": s / steps for m in range(10)}, step=s)
        run.close()
        return {"points": steps * 10, "seconds": time.perf_counter() - t0}

    def w3(self, n: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        for i in range(n):
            run = self.Run(repo=self.repo_path, experiment="w3", system_tracking_interval=None,
                           capture_terminal_logs=False)
            run["hparams"] = _params(i)
            for s in range(STEPS):
                run.track({f"m{m}": _value(i, s, m) for m in range(N_METRICS)}, step=s)
            run.close()
        return {"runs": n, "seconds": time.perf_counter() - t0}

    # Reads. Aim 3.29 writes each run into its own chunk stores (.aim/meta/chunks/<hash>, .aim/seqs/chunks/<hash>)
    # and only `aim up`'s background indexing manager (or `aim storage reindex`) folds them into the index
    # (.aim/meta/index) that queries and read-only Runs read: a fresh process's query_runs / Run(hash) see
    # nothing before that (a "0 rows in 0.05 s" would be a wrong figure, not a fast one). So every read first
    # indexes the repo's runs with that manager's own call, RepoIndexManager.index(run_hash), timed apart and
    # counted in the read's figure.
    INDEX_NOTE = ("Aim indexes runs for reads only in `aim up`'s background indexer or `aim storage reindex`; "
                  "each read first indexes the repo's runs with that call (RepoIndexManager.index), timed in "
                  "the figure (cold W4's share is its own row)")

    def _open_indexed(self) -> tuple[Any, float]:
        from aim.sdk.index_manager import RepoIndexManager

        repo = self.Repo.from_path(self.repo_path)
        t0 = time.perf_counter()
        manager = RepoIndexManager.get_index_manager(repo)
        for run_hash in repo.list_all_runs():
            manager.index(run_hash)
        return repo, time.perf_counter() - t0

    def _query(self, repo: Any, query: str) -> list[dict[str, Any]]:
        """The matching runs as a table: hash, the filtered param, the metric's last value (the columns naiad's
        W4 asks for), as a list of row dicts: Aim's environment need not have pandas."""
        from aim.sdk.types import QueryReportMode

        rows = []
        for found in repo.query_runs(query, report_mode=QueryReportMode.DISABLED).iter_runs():
            run = found.run
            last = next(t["values"]["last"] for t in run.collect_sequence_info("metric")["metric"]
                        if t["name"] == "m0" and not t["context"])
            rows.append({"hash": run.hash, "hparams.p2": run["hparams", "p2"], "m0": last})
        return rows

    def w4(self) -> dict[str, Any]:
        query = "run.metrics['m0'].last > 0.5 and run.hparams.p2 == 'x'"
        t0 = time.perf_counter()
        repo, index_s = self._open_indexed()
        first = self._query(repo, query)
        cold = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = self._query(repo, query)
        warm = time.perf_counter() - t1
        return {"rows": len(first), "cold_s": cold, "warm_s": warm, "index_s": index_s,
                "same": len(first) == len(again), "note": self.INDEX_NOTE}

    def _metric(self, repo: Any, run_hash: str) -> Any:
        from aim.storage.context import Context

        return self.Run(run_hash, repo=repo, read_only=True).get_metric("m", Context({}))

    def w5(self) -> dict[str, Any]:
        from aim.sdk.types import QueryReportMode

        t0 = time.perf_counter()
        repo, index_s = self._open_indexed()
        w1 = next(iter(repo.query_runs("run.experiment == 'w1'", report_mode=QueryReportMode.DISABLED).iter_runs()))
        metric = self._metric(repo, w1.run.hash)
        _, (values,) = metric.data.view("val").numpy()  # steps and values (no epochs, no timestamps)
        full = time.perf_counter() - t0
        t1 = time.perf_counter()
        sampled, _ = metric.data.view("val").sample(1000).numpy()  # as Aim's UI asks: a density of 1,000 points
        return {"points": len(values), "full_s": full, "index_s": index_s, "buckets": len(sampled),
                "buckets_s": time.perf_counter() - t1,
                "note": "read includes indexing W1's run (see W4); the downsampled view is Aim's "
                        "Metric.data.sample(1000): 1,000 stored points (by step hash, plus the last), not "
                        "min/max buckets"}

    def w7read(self) -> dict[str, Any]:
        repo, _ = self._open_indexed()  # the killed run is indexed like any other, then read by its hash
        hashes = repo.list_all_runs()
        metric = self._metric(repo, hashes[0]) if hashes else None
        return {"survived": len(metric.data.view("val").numpy()[0]) if metric else 0,
                "note": "the killed run indexed (RepoIndexManager.index), then read by hash"}


TOOLS = {"naiad": Naiad, "mlflow": Mlflow, "wandb": Wandb, "aim": Aim}


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("workload", choices=["w1", "w2", "w3", "w4", "w5", "w7", "w7read"])
    parser.add_argument("dir")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--crash-at", type=int)
    parser.add_argument("--crash-after-s", type=float)
    parser.add_argument("--pace-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    global PACE_S, CRASH_AFTER_S
    PACE_S, CRASH_AFTER_S = args.pace_ms / 1000.0, args.crash_after_s
    tool = TOOLS[args.tool](args.dir)
    method = getattr(tool, "w1" if args.workload == "w7" else args.workload, None)
    if method is None:
        print(json.dumps({"unsupported": True}))
        return
    if args.workload in ("w1", "w7"):
        result = method(args.n, args.crash_at)
    elif args.workload in ("w2", "w3"):
        result = method(args.n)
    else:
        result = method()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
