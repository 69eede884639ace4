"""One workload for one tool, run inside that tool's own environment; prints one JSON line.

    python bench/peers/worker.py TOOL WORKLOAD DIR [--n N] [--crash-at K]

Self-contained on purpose: it is executed by each peer's virtual environment's Python (MLflow, W&B, Aim
are never installed next to naiad), so it imports nothing from naiad unless TOOL is naiad.

Tools: naiad (embedded store), mlflow (SQLite tracking store), wandb (offline mode), aim (local repo).
Workloads: w1 per-call logging, w2 bulk logging, w3 many runs, w4 query, w5 read back, w7 crash (w1
killed with SIGKILL after ``--crash-at`` calls; ``w7read`` counts what survived).  W6 (disk) is measured
by the driver on DIR.
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

    # W4, W5 and W7's read-back are not measured for Aim yet: Aim 3.29 indexes a run's data for queries in
    # the background (`aim up` / its indexing manager), and a fresh process's query_metrics finds nothing, so
    # a "0 rows in 0.05 s" would be a wrong figure, not a fast one.


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
