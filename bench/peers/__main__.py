"""naiad side by side with MLflow, W&B and Aim: the same workloads, the same machine, the same run.

    python -m bench.peers                          # all tools, 3 repetitions (installs the peers first)
    python -m bench.peers --quick                  # 100× smaller
    python -m bench.peers --tools naiad,mlflow --repeat 5 --json bench/results-peers.json

Each peer is installed (its current release from PyPI) into its own virtual environment under
``~/.cache/naiad-bench/peers/<tool>`` — never next to naiad — and every workload runs in a fresh child
process of that environment (``bench/peers/worker.py``) against a fresh folder: MLflow's SQLite tracking
store, W&B in offline mode, Aim's local repo, naiad's embedded store.

Each cell is the median over repetitions with the min–max in parentheses. Workloads: **W1** 100,000 single
scalar calls (µs per call; time to finish the run after the last call); **W2** 1,000,000 points over 10
metrics through each tool's batch API; **W3** 1,000 runs × 20 params × 5 metrics × 100 steps; **W4** over
W3's runs, those whose metric's last value exceeds 0.5 and whose param equals a value (cold: a new
process's first query, including any indexing the tool needs first — its own row; warm: the second);
**W5** W1's history read back (and, where the tool can, a 1,000-point downsampled view); **W6** bytes on
disk after W2 and W3; **W7** W1 killed with SIGKILL halfway, points that survive (**W7b**: paced at one
call a millisecond, killed after 3 s). A peer's workload that would take more than 10 minutes is scaled
down (the table says so); rates are per point or per run, so scaled rows stay comparable. How a peer's
read was done, or why it is n/a, is printed under the table (the workers' ``note``)."""

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

WORKER = Path(__file__).resolve().parent / "worker.py"
ROOT = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("NAIAD_BENCH_VENVS", Path.home() / ".cache" / "naiad-bench" / "peers"))
TOOLS = ("naiad", "mlflow", "wandb", "aim")
FULL = {"w1": 100_000, "w2": 1_000_000, "w3": 1_000}
# peers that cannot do a workload at full size within 10 minutes are run at this size (and marked)
SCALED = {("mlflow", "w1"): 10_000, ("mlflow", "w2"): 100_000, ("mlflow", "w3"): 300, ("wandb", "w2"): 200_000,
          ("wandb", "w3"): 50, ("aim", "w2"): 200_000, ("aim", "w3"): 200}


def python_of(tool: str) -> str:
    """The interpreter of the tool's environment, created (and the tool installed) on first use."""
    if tool == "naiad":
        return sys.executable
    venv = VENVS / tool
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"[peers] installing {tool} into {venv} …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", tool, "numpy", "pandas"], check=True)
    return str(py)


def version_of(tool: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({tool!r}))"
    done = subprocess.run([python_of(tool), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def work(tool: str, workload: str, folder: Path, *extra: str, timeout: float = 900) -> dict[str, Any]:
    env = dict(os.environ)
    if tool == "naiad":
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([python_of(tool), str(WORKER), tool, workload, str(folder), *extra], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if workload == "w7":
        logged = [json.loads(ln).get("logged") for ln in lines]
        return {"killed": done.returncode == -9, "logged": logged[-1] if logged else None}
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{tool} {workload} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def expected_w4_rows(runs: int) -> int:
    """How many of W3's runs W4 must find (the worker's own values), so a query that sees no data shows."""
    from bench.peers.worker import STEPS, _params, _value

    return sum(1 for i in range(runs) if _params(i)["p2"] == "x" and _value(i, STEPS - 1, 0) > 0.5)


def one_repetition(tool: str, scale: int) -> dict[str, Any]:
    sizes = {w: max(1, SCALED.get((tool, w), n) // scale) for w, n in FULL.items()}
    out: dict[str, Any] = {"sizes": sizes, "notes": {}}

    def note(workload: str, result: dict[str, Any]) -> dict[str, Any]:
        if result.get("note"):
            out["notes"][workload] = result["note"]
        return result

    with tempfile.TemporaryDirectory(prefix=f"naiad-peers-{tool}-") as tmp:
        base = Path(tmp)
        for name in ("w1", "w2", "w3", "w7"):
            (base / name).mkdir()
        w1 = work(tool, "w1", base / "w1", "--n", str(sizes["w1"]))
        out["w1"] = {"us_per_call": 1e6 * w1["loop_s"] / w1["calls"], "points_per_s": w1["calls"] / w1["loop_s"],
                     "finish_s": w1["finish_s"]}
        read = note("w5", work(tool, "w5", base / "w1"))
        if not read.get("unsupported"):
            out["w5"] = {"points": read["points"], "full_s": read["full_s"], "buckets_s": read.get("buckets_s"),
                         "index_s": read.get("index_s", 0.0)}
            if read["points"] != sizes["w1"]:
                print(f"[peers] {tool} W5 read {read['points']} of W1's {sizes['w1']} points", file=sys.stderr)
        w2 = work(tool, "w2", base / "w2", "--n", str(sizes["w2"]))
        out["w2"] = {"points_per_s": w2["points"] / w2["seconds"], "seconds": w2["seconds"]}
        w3 = work(tool, "w3", base / "w3", "--n", str(sizes["w3"]))
        out["w3"] = {"runs_per_s": w3["runs"] / w3["seconds"], "seconds": w3["seconds"]}
        query = note("w4", work(tool, "w4", base / "w3"))
        if not query.get("unsupported"):
            out["w4"] = {"rows": query["rows"], "cold_s": query["cold_s"], "warm_s": query["warm_s"],
                         "index_s": query.get("index_s", 0.0), "expected_rows": expected_w4_rows(sizes["w3"])}
            if query["rows"] != out["w4"]["expected_rows"]:
                print(f"[peers] {tool} W4 found {query['rows']} rows, expected {out['w4']['expected_rows']}",
                      file=sys.stderr)
        out["w6"] = {"w2_bytes": du(base / "w2"), "w3_bytes": du(base / "w3")}
        half = sizes["w1"] // 2
        crash = work(tool, "w7", base / "w7", "--n", str(sizes["w1"]), "--crash-at", str(half))
        survived = note("w7", work(tool, "w7read", base / "w7"))
        if not survived.get("unsupported"):
            out["w7"] = {"logged": half, "survived": survived["survived"], "lost": half - survived["survived"],
                         "killed": crash["killed"]}
            # W7b: a paced run (one call a millisecond, as a training loop logs) killed after 3 s
            (base / "w7b").mkdir()
            paced = work(tool, "w7", base / "w7b", "--n", "10000000", "--pace-ms", "1",
                         "--crash-after-s", str(max(0.3, 3.0 / scale)))
            kept = work(tool, "w7read", base / "w7b")["survived"]
            out["w7b"] = {"logged": paced["logged"], "survived": kept, "lost": (paced["logged"] or 0) - kept,
                          "killed": paced["killed"]}
    return out


def derive(rep: dict[str, Any]) -> dict[str, Any]:
    """Per-point and per-run disk figures (peers run W2/W3 at other sizes, so totals do not compare)."""
    w6, sizes = rep.get("w6", {}), rep["sizes"]
    if rep.get("w5", {}).get("points"):
        rep["w5"]["us_per_point"] = 1e6 * rep["w5"]["full_s"] / rep["w5"]["points"]
    if "w2_bytes" in w6:
        w6["w2_bytes_per_point"] = w6["w2_bytes"] / max(sizes["w2"], 1)
        w6["w3_bytes_per_run"] = w6["w3_bytes"] / max(sizes["w3"], 1)
    return rep


def values_of(reps: list[dict[str, Any]], workload: str, key: str) -> list[float]:
    return [r[workload][key] for r in reps if workload in r and r[workload].get(key) is not None]


def median_of(reps: list[dict[str, Any]], workload: str, key: str) -> float | None:
    values = values_of(reps, workload, key)
    return statistics.median(values) if values else None


def _cell(reps: list[dict[str, Any]], workload: str, key: str, scaled: bool) -> str:
    values = values_of(reps, workload, key)
    if not values:
        return "n/a"
    text = f"{statistics.median(values):,.4g}"
    if len(values) > 1 and min(values) != max(values):
        text += f" ({min(values):,.3g}–{max(values):,.3g})"
    return text + (" *" if scaled else "")


ROWS = [
    ("w1", "us_per_call", "W1 µs per call", "lower"), ("w1", "finish_s", "W1 finish after last call (s)", "lower"),
    ("w2", "points_per_s", "W2 points/s (batch API)", "higher"), ("w3", "runs_per_s", "W3 runs/s", "higher"),
    ("w4", "cold_s", "W4 query, cold (s)", "lower"),
    ("w4", "index_s", "W4 cold: of which indexing (s)", "lower"), ("w4", "warm_s", "W4 query, warm (s)", "lower"),
    ("w5", "us_per_point", "W5 read W1's history (µs per point)", "lower"),
    ("w5", "buckets_s", "W5 1,000-point downsampled view (s)", "lower"),
    ("w6", "w2_bytes_per_point", "W6 bytes per point (W2)", "lower"),
    ("w6", "w3_bytes_per_run", "W6 bytes per run (W3)", "lower"),
    ("w7", "lost", "W7 points lost to SIGKILL", "lower"),
    ("w7b", "lost", "W7b lost, paced 1/ms, killed at 3 s", "lower"),
]


SOURCE = {"w1": "w1", "w2": "w2", "w3": "w3", "w4": "w3", "w5": "w1", "w7": "w1", "w7b": "w1"}


def _scaled(reps: list[dict[str, Any]], workload: str, key: str, scale: int) -> bool:
    source = "w2" if key == "w2_bytes_per_point" else "w3" if key == "w3_bytes_per_run" else SOURCE.get(workload,
                                                                                                         workload)
    return bool(reps) and reps[0]["sizes"][source] != max(1, FULL[source] // scale)


def table(results: dict[str, list[dict[str, Any]]], scale: int = 1) -> str:
    tools = list(results)
    peers = [t for t in tools if t != "naiad"]
    lines = ["| workload | " + " | ".join(tools) + "".join(f" | naiad vs {t}" for t in peers) + " |",
             "|---" * (1 + len(tools) + len(peers)) + "|"]
    for workload, key, label, better in ROWS:
        values = {t: median_of(results[t], workload, key) for t in tools}
        cells = [_cell(results[t], workload, key, _scaled(results[t], workload, key, scale)) for t in tools]
        ratios = []
        for t in peers:
            a, b = values.get("naiad"), values.get(t)
            if a is None or b is None or a == 0 or b == 0:
                ratios.append("—")
                continue
            factor = b / a if better == "lower" else a / b
            ratios.append(f"{factor:,.3g}× better" if factor >= 1 else f"{1 / factor:,.3g}× worse")
        lines.append(f"| {label} | " + " | ".join(cells) + "".join(f" | {r}" for r in ratios) + " |")
    notes = [f"- {t} {w.upper()}: {text}" for t in tools for w, text in _notes(results[t]).items()]
    return "\n".join(lines + (["", *notes] if notes else []))


def _notes(reps: list[dict[str, Any]]) -> dict[str, str]:
    """Each workload's note, once (the first repetition that has one)."""
    found: dict[str, str] = {}
    for rep in reps:
        for workload, text in rep.get("notes", {}).items():
            found.setdefault(workload, text)
    return dict(sorted(found.items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="every workload 100× smaller")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--table-from", help="print the table of an earlier --json file and stop")
    args = parser.parse_args(argv)
    if args.table_from:
        saved = json.loads(Path(args.table_from).read_text())
        loaded = {t: [derive(r) for r in reps] for t, reps in saved["results"].items()}
        print(table(loaded, saved.get("scale", 1)))
        print(f"\nVersions: {', '.join(f'{t} {v}' for t, v in saved['versions'].items())}.")
        return
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tool(s): {', '.join(sorted(unknown))}")
    scale = 100 if args.quick else 1
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    versions = {t: version_of(t) for t in tools}
    for rep in range(args.repeat):
        for tool in tools:  # interleaved, so a noisy minute does not land on one tool
            t0 = time.perf_counter()
            results[tool].append(derive(one_repetition(tool, scale)))
            print(f"[peers] {tool} {versions[tool]} repetition {rep + 1}/{args.repeat}: "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(table(results, scale))
    print("\n* scaled down (see SCALED in bench/peers/__main__.py); rates stay comparable. "
          f"Versions: {', '.join(f'{t} {v}' for t, v in versions.items())}.")
    if args.json:
        Path(args.json).write_text(json.dumps({"versions": versions, "scale": scale, "results": results},
                                              indent=2) + "\n")


if __name__ == "__main__":
    main()
