"""Web UI figures of issue 4, in headless Chromium against a real ``naiad`` app on loopback.

Usage, from the repository root (needs the built UI, ``scripts/build-ui``, and Chromium)::

    python -m bench.ui                   # 10,000 runs × 50 columns; a run with 20 charts, one of 10M points
    python -m bench.ui --quick           # 1,000 runs, a 100k-point series: a smoke run
    python -m bench.ui --repeat 5 --json out.json
    python -m bench.ui --parts table --cpu-slowdown 2 --trace   # the scroll's headroom, and where a frame goes

What is timed, each repetition in a new browser context (no HTTP cache, no storage):

- ``table_ready_ms``: from the start of navigation to ``/p/bench/runs?cols=<50 columns>`` until every
  run is in the table and its first rows are on screen (``performance.now()`` in the page, whose origin
  is the navigation start).
- ``sort_ms``: a click on a column header until the rows in the new order are on screen (the server
  sorts all 10,000 and sends the first page).
- scrolling: the table is scrolled 48 px per animation frame for 3 s; ``frames``, ``dropped`` (frame
  intervals over 1.5× the display's own interval) and ``p99_frame_ms``.
- ``main_thread_ms_per_frame`` (with ``--trace``): the renderer's main thread while scrolling, from a
  Chromium trace — ``busy`` in all and the largest kinds of work by their own time, per frame.
- ``--cpu-slowdown N`` runs the table's page under Chromium's CPU throttling (DevTools' "N× slowdown"):
  frames that fit at 2× have half their budget to spare.
- ``run_ready_ms``: navigation to a run page with 20 float series, one of 10,000,000 points, until all
  20 charts are drawn.  The viewport (2560 × 1600) shows all 20 at once, so none waits to be scrolled to.

Data is built once into ``~/.cache/naiad-bench/ui-<runs>-<points>`` (or ``NAIAD_BENCH_UI``) with the
same builders as ``bench.core`` (``bench._worker table_build`` / ``buckets_build``) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench._worker import PROJECT, RESULT_TAG

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
COLUMNS = [f"p/{j}" for j in range(40)] + [f"m/{j}" for j in range(10)]


def worker(folder: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}
    env["NAIAD_URI"] = str(folder)
    out = subprocess.run([sys.executable, "-m", "bench._worker", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench._worker {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    line = next(x for x in out.stdout.splitlines() if x.startswith(RESULT_TAG))
    result: dict[str, Any] = json.loads(line[len(RESULT_TAG):])
    return result


def build(root: Path, runs: int, points: int) -> dict[str, Any]:
    """The two stores: ``table`` (``runs`` runs of ~100 fields) and ``charts`` (one run, 20 series)."""
    spec_file = root / "spec.json"
    if spec_file.exists():
        spec: dict[str, Any] = json.loads(spec_file.read_text())
        return spec
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(f"[bench.ui] building {runs:,} runs (once, into {root})…", file=sys.stderr)
    table = worker(root / "table", "table_build", "--runs", str(runs), "--distinct", str(min(runs, 2000)))
    print(f"[bench.ui] building a run with a {points:,}-point series and 19 more…", file=sys.stderr)
    series = worker(root / "charts", "buckets_build", "--n", str(points), "--batch", str(min(points, 100_000)))
    from naiad.core import fields as F
    from naiad.core import ops as O
    from naiad.core.ops import Batch
    from naiad.store.sqlite import SqliteStore

    store = SqliteStore(root / "charts")
    rng = np.random.default_rng(11)
    steps = np.arange(1000, dtype=np.float64)
    ops: list[Any] = [(O.POINTS, f"metrics/m{j:02d}", F.FLOAT_SERIES, steps, time.time() + steps,
                       1.0 + np.cumsum(rng.normal(0, 0.01, 1000))) for j in range(19)]
    store.apply(Batch(series["uuid"], "bench-ui", 1, ops))
    store.close()
    spec = {"runs": runs, "points": points, "run_id": series["short_id"], "table_build": table}
    spec_file.write_text(json.dumps(spec))
    return spec


TABLE_READY = """() => {
  const g = document.querySelector('.grid');
  return g && g.dataset.rows === '%d' && g.dataset.loading === '0' && g.querySelectorAll('.tr').length > 0
    ? performance.now() : null;
}"""

SCROLL = """async () => {
  const g = document.querySelector('.grid');
  const deltas = [];
  let last = await new Promise(r => requestAnimationFrame(r));
  const end = last + 3000;
  while (last < end) {
    g.scrollTop += 48;
    const t = await new Promise(r => requestAnimationFrame(r));
    deltas.push(t - last);
    last = t;
  }
  return {deltas, scrolled: g.scrollTop};
}"""

SORT = """async (header) => {
  const g = document.querySelector('.grid');
  const firstId = () => g.querySelector('.tr[data-id]')?.dataset.id;
  const before = firstId();
  const t0 = performance.now();
  header.click();
  for (;;) {
    await new Promise(r => requestAnimationFrame(r));
    if (g.dataset.loading === '0' && firstId() && firstId() !== before) return performance.now() - t0;
    if (performance.now() - t0 > 30000) return null;
  }
}"""


def measure(url: str, chart_url: str, spec: dict[str, Any], repeat: int, parts: set[str],
            slowdown: float = 1.0, trace: bool = False) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("NAIAD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("no Chromium: scripts/install-test-services installs it (or set NAIAD_CHROMIUM)")
    cols = ",".join(COLUMNS)
    rows: list[dict[str, Any]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        version = browser.version
        for i in range(repeat + 1):  # the first is a warm-up of the server's caches, not reported
            r: dict[str, Any] = {}
            if "table" in parts:
                measure_table(browser, url, spec, cols, r, slowdown, trace)
            if "run" in parts:
                measure_run(browser, chart_url, spec, r)
            if i > 0:
                rows.append(r)
            print(f"[bench.ui] {'warm-up' if i == 0 else f'repetition {i}'}: " + ", ".join(
                f"{k} {v:.0f}" for k, v in r.items() if k in SUMMARY), file=sys.stderr)
            if "main_thread_ms_per_frame" in r:
                print(f"[bench.ui]   main thread per frame while scrolling (ms): {r['main_thread_ms_per_frame']}",
                      file=sys.stderr)
        browser.close()
    return {"chromium": version, "repetitions": rows}


def measure_table(browser: Any, url: str, spec: dict[str, Any], cols: str, r: dict[str, Any],
                  slowdown: float = 1.0, trace: bool = False) -> None:
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = ctx.new_page()
    if slowdown > 1:
        # Chromium's own CPU throttling (DevTools' "slowdown"): the page's main thread runs as if on a
        # machine ``slowdown`` times slower, to see how much headroom a frame has.
        ctx.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": slowdown})
    page.goto(f"{url}/p/{PROJECT}/runs?cols={cols}&live=0", wait_until="commit")
    r["table_ready_ms"] = page.wait_for_function(TABLE_READY % spec["runs"], polling="raf",
                                                 timeout=120_000).json_value()
    header = page.locator('.grid .th[title="p/0"]').element_handle()
    r["sort_ms"] = page.evaluate(SORT, header)
    page.wait_for_timeout(300)
    if trace:
        browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
    scroll = page.evaluate(SCROLL)
    if trace:
        r["main_thread_ms_per_frame"] = main_thread_breakdown(browser.stop_tracing(), len(scroll["deltas"]))
    d = np.array(scroll["deltas"])
    frame = float(np.median(d))
    r.update(frames=len(d), dropped=int((d > 1.5 * frame).sum()), frame_ms=frame,
             p99_frame_ms=float(np.percentile(d, 99)), scrolled_px=scroll["scrolled"])
    ctx.close()


def measure_run(browser: Any, chart_url: str, spec: dict[str, Any], r: dict[str, Any]) -> None:
    ctx = browser.new_context(viewport={"width": 2560, "height": 1600})
    page = ctx.new_page()
    page.goto(f"{chart_url}/p/{PROJECT}/runs/{spec['run_id']}", wait_until="commit")
    r["run_ready_ms"] = page.wait_for_function(
        "() => document.querySelectorAll('.chart[data-points] canvas').length === 20 "
        "? performance.now() : null",
        polling="raf", timeout=120_000).json_value()
    r["big_series_buckets"] = int(page.locator('.chart[data-chart="s"]').get_attribute("data-points") or 0)
    r["big_series_points"] = int(page.locator('.chart[data-chart="s"]').get_attribute("data-total") or 0)
    ctx.close()


TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink", "v8"]


def main_thread_breakdown(trace: bytes, frames: int) -> dict[str, float]:
    """Milliseconds per frame the renderer's main thread spent while scrolling: ``busy`` in all, and
    the largest kinds of work by their own time (an event's duration less its children's)."""
    events = json.loads(trace)["traceEvents"]
    renderers = {(e["pid"], e["tid"]) for e in events
                 if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    work: dict[tuple[int, int], float] = {}
    for e in events:
        if e.get("ph") == "X" and "dur" in e and (e.get("pid"), e.get("tid")) in renderers:
            work[(e["pid"], e["tid"])] = work.get((e["pid"], e["tid"]), 0.0) + e["dur"]
    main = max(work, key=lambda k: work[k])  # the scrolled page's renderer: the one that worked
    spans = sorted((e for e in events if (e.get("pid"), e.get("tid")) == main and e.get("ph") == "X" and "dur" in e),
                   key=lambda e: (e["ts"], -e["dur"]))
    own: dict[str, float] = {}
    busy = 0.0
    stack: list[tuple[float, str]] = []  # the open spans: (end, name)
    for e in spans:
        while stack and stack[-1][0] <= e["ts"]:
            stack.pop()
        if stack:
            own[stack[-1][1]] -= e["dur"]  # the parent's own time excludes its children
        else:
            busy += e["dur"]
        own[e["name"]] = own.get(e["name"], 0.0) + e["dur"]
        stack.append((e["ts"] + e["dur"], e["name"]))
    top = sorted(own.items(), key=lambda kv: -kv[1])[:10]
    per = {k: round(v / 1000 / frames, 2) for k, v in top}
    per["busy"] = round(busy / 1000 / frames, 2)
    return per


SUMMARY = ("table_ready_ms", "sort_ms", "frames", "dropped", "p99_frame_ms", "run_ready_ms")


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key in SUMMARY:
        xs = [r[key] for r in rows if key in r]
        if not xs:
            continue
        out[key] = {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 runs and a 100,000-point series")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results-ui.json"))
    parser.add_argument("--parts", default="table,run",
                        help="what to measure: table (ready, sort, scroll), run (the run page), or both (default)")
    parser.add_argument("--cpu-slowdown", type=float, default=1.0, metavar="N",
                        help="run the table page N times slower (Chromium CPU throttling): the headroom of a frame")
    parser.add_argument("--trace", action="store_true",
                        help="trace each scroll and print where the main thread's time per frame went")
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"table", "run"}:
        parser.error(f"--parts takes table, run or table,run; got {args.parts!r}")
    runs, points = (1000, 100_000) if args.quick else (10_000, 10_000_000)
    cache = Path(os.environ.get("NAIAD_BENCH_UI") or Path.home() / ".cache" / "naiad-bench" / f"ui-{runs}-{points}")
    spec = build(cache, runs, points)

    from naiad.server.app import create_app
    from naiad.server.ui import ui_built
    from naiad.store.sqlite import SqliteStore

    if not ui_built():
        raise SystemExit("the web UI is not built: run scripts/build-ui first")
    sys.path.insert(0, str(ROOT / "tests"))
    from services import serve_in_thread  # the tests' loopback server, the same for the benchmark

    table_store, chart_store = SqliteStore(cache / "table"), SqliteStore(cache / "charts")
    with serve_in_thread(create_app(table_store, anonymous_role="viewer")) as table_url, \
            serve_in_thread(create_app(chart_store, anonymous_role="viewer")) as chart_url:
        result = measure(table_url, chart_url, spec, args.repeat, parts, args.cpu_slowdown, args.trace)
    table_store.close()
    chart_store.close()
    result.update(spec=spec, summary=summary(result["repetitions"]), machine={
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        command="python -m bench.ui" + (" --quick" if args.quick else "") + f" --repeat {args.repeat}"
        + ("" if parts == {"table", "run"} else f" --parts {args.parts}")
        + (f" --cpu-slowdown {args.cpu_slowdown:g}" if args.cpu_slowdown > 1 else ""))
    Path(args.json).write_text(json.dumps(result, indent=1))
    s = result["summary"]
    print(f"\nChromium {result['chromium']}, {spec['runs']:,} runs × {len(COLUMNS)} columns; "
          f"run page: 20 charts, one of {spec['points']:,} points; median (min–max) of {args.repeat}")
    for key, label, target in (("table_ready_ms", "runs table ready after navigation (ms)", "≤ 1500"),
                               ("sort_ms", "sort 10k rows by a column, click → painted (ms)", ""),
                               ("dropped", "dropped frames while scrolling 3 s", "0"),
                               ("p99_frame_ms", "p99 frame interval while scrolling (ms)", ""),
                               ("run_ready_ms", "run page, 20 charts drawn (ms)", "≤ 1000")):
        if key not in s:
            continue
        v = s[key]
        print(f"  {label:<52} {v['median']:>8.0f}  ({v['min']:.0f}–{v['max']:.0f})  {target}")


if __name__ == "__main__":
    main()
