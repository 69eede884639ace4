"""Many processes writing into one embedded store at once: nothing locked, lost or duplicated."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import naiad
import naiad.store
from conftest import start_script

pytestmark = pytest.mark.slow

POINTS = 200_000
PROCESSES = 8

EXTEND_WRITER = """
import sys
import naiad
name = sys.argv[1]
run = naiad.init_run(project="fleet", name=name, tags=["fleet"])
run["params/worker"] = name
h = run["train/loss"]
if sys.argv[2] == "extend":
    for start in range(0, POINTS, 1000):
        h.extend([float(v) for v in range(start, start + 1000)])
else:
    for v in range(POINTS):
        h.append(float(v))
run.wait()
print("ID", run["sys/id"].fetch(), flush=True)
run.stop()
"""

SHARED_WRITER = """
import sys
import naiad
side = sys.argv[1]
run = naiad.init_run(project="shared", custom_run_id="one-run-two-processes")
run[f"{side}/param"] = side
for i in range(20_000):
    run[f"{side}/loss"].append(float(i))
run[f"{side}/notes"].extend(["start", "end"])
run.wait()
print("ID", run["sys/id"].fetch(), flush=True)
run.stop()
"""


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[str, str]]:
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
                p.communicate()
            raise
        results.append((out, err))
        assert proc.returncode == 0, err
    return results


def _run_id(out: str) -> str:
    ids = [ln.split()[1] for ln in out.splitlines() if ln.startswith("ID ")]
    assert len(ids) == 1, out
    return ids[0]


def test_eight_processes_log_into_one_store_without_locks_losses_or_duplicates(store_uri: str) -> None:
    naiad.init_project(project="fleet").stop()  # the store and project exist before the rush
    code = EXTEND_WRITER.replace("POINTS", str(POINTS))
    # half of them extend() in batches of 1,000, half append() point by point
    procs = [start_script(code, f"worker-{i}", "extend" if i % 2 == 0 else "append") for i in range(PROCESSES)]
    results = _finish(procs)
    for _out, err in results:
        assert "database is locked" not in err, err
        assert "[naiad] error" not in err, err
    ids = [_run_id(out) for out, _ in results]
    assert len(set(ids)) == PROCESSES

    naiad.store._stores.clear()
    expected = np.arange(POINTS, dtype=float)
    for i, run_id in enumerate(ids):
        run = naiad.init_run(with_id=run_id, mode="read-only")
        assert run["params/worker"].fetch() == f"worker-{i}"
        data = run["train/loss"].fetch_values(include_timestamp=False)
        assert len(data) == POINTS, run_id
        assert np.array_equal(data["step"].to_numpy(), expected), run_id
        assert np.array_equal(data["value"].to_numpy(), expected), run_id
        assert run["sys/state"].fetch() == "finished"
        run.stop()
    table = naiad.init_project(project="fleet", mode="read-only").fetch_runs_table(
        tag="fleet", columns=["train/loss"]).to_pandas()
    assert len(table) == PROCESSES
    assert table["train/loss"].tolist() == [float(POINTS - 1)] * PROCESSES


def test_two_processes_write_one_run_through_custom_run_id(store_uri: str) -> None:
    procs = [start_script(SHARED_WRITER, side) for side in ("left", "right")]
    results = _finish(procs)
    for _out, err in results:
        assert "database is locked" not in err, err
        assert "[naiad] error" not in err, err
    left_id, right_id = (_run_id(out) for out, _ in results)
    assert left_id == right_id

    naiad.store._stores.clear()
    table = naiad.init_project(project="shared", mode="read-only").fetch_runs_table().to_pandas()
    assert table["sys/id"].tolist() == [left_id]
    run = naiad.init_run(with_id=left_id, mode="read-only")
    for side in ("left", "right"):
        assert run[f"{side}/param"].fetch() == side
        data = run[f"{side}/loss"].fetch_values(include_timestamp=False)
        assert np.array_equal(data["step"].to_numpy(), np.arange(20_000, dtype=float))
        assert np.array_equal(data["value"].to_numpy(), np.arange(20_000, dtype=float))
        assert run[f"{side}/notes"].fetch_values()["value"].tolist() == ["start", "end"]
    assert run["sys/custom_run_id"].fetch() == "one-run-two-processes"
    assert run["sys/state"].fetch() == "finished"


@pytest.mark.slow
def test_processes_opening_a_new_store_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    """The first open of a store switches it to WAL; racing processes must wait, not fail."""
    start_at = time.time() + 3.0
    script = textwrap.dedent(f"""
        import time
        import naiad
        time.sleep(max(0.0, {start_at} - time.time()))  # every process opens the store at once
        run = naiad.init_run(project="race")
        run["x"] = 1
        run.stop()
        print("ok")
    """)
    env = {**os.environ, "NAIAD_URI": str(tmp_path / "fresh-store"), "NAIAD_AUTO_CAPTURE": "0"}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(12)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "ok", err
