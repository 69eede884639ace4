"""The `naiad` command line, run as a real subprocess against a real store folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def naiad_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}
    full_env["NAIAD_URI"] = str(cwd / ".naiad")
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "naiad", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, f"naiad {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo store shared by the read-only CLI tests of this module."""
    folder = tmp_path_factory.mktemp("demo")
    naiad_cli("demo", "--epochs", "3", "--configs", "2", cwd=folder)
    return folder


def test_demo_tracks_runs_and_says_where_to_look(tmp_path: Path) -> None:
    proc = naiad_cli("demo", "--epochs", "2", "--configs", "2", cwd=tmp_path)
    assert "DEM-1" in proc.stdout and "DEM-2" in proc.stdout
    assert "naiad runs ls" in proc.stdout
    assert (tmp_path / ".naiad" / "naiad.db").exists()


def test_demo_registers_its_best_run_and_the_bundle_serves_predictions(demo_dir: Path, tmp_path: Path) -> None:
    versions = [json.loads(line) for line in
                naiad_cli("models", "show", "DEM-DIGITS", "--json", cwd=demo_dir).stdout.splitlines()]
    assert [v["id"] for v in versions] == ["DEM-DIGITS-1"]
    assert versions[0]["sys/stage"] == "production"
    listed = naiad_cli("runs", "ls", "--project", "demo", "--columns", "val/best_acc,val/acc", "--json", cwd=demo_dir)
    runs = [json.loads(line) for line in listed.stdout.splitlines()]
    best = max((r for r in runs if "val/best_acc" in r), key=lambda r: r["val/best_acc"])
    assert versions[0]["run/id"] == best["id"]

    serve = tmp_path / "serve"
    naiad_cli("models", "download", "DEM-DIGITS", str(serve), cwd=demo_dir)
    assert "OK DEM-DIGITS-1" in naiad_cli("models", "verify", str(serve), cwd=demo_dir).stdout
    manifest = json.loads((serve / "naiad-manifest.json").read_text())
    assert manifest["run"] == best["id"] and manifest["stage"] == "production"
    assert sorted(f["path"] for f in manifest["files"]) == ["inference/predict.py", "weights/weights.pkl"]
    # the backend team's view: the inference code and the weights, nothing else, give the model's accuracy
    validation = (demo_dir / "naiad-demo-data" / "digits" / "validation.csv").read_text().splitlines()[1:]
    rows = "\n".join(line.rsplit(",", 1)[0] for line in validation) + "\n"
    labels = [int(float(line.rsplit(",", 1)[1])) for line in validation]
    served = subprocess.run([sys.executable, "inference/predict.py", "weights/weights.pkl"], cwd=serve, input=rows,
                            capture_output=True, text=True, timeout=60, check=True)
    predicted = [int(p) for p in served.stdout.split()]
    accuracy = sum(p == t for p, t in zip(predicted, labels, strict=True)) / len(labels)
    assert abs(accuracy - best["val/acc"]) < 0.02
    # the test team's view: the demo evaluated the production version on the same split, recorded as a run
    timeline = [json.loads(line) for line in
                naiad_cli("monitor", "timeline", "--model", "DEM-DIGITS", "--json", cwd=demo_dir).stdout.splitlines()]
    assert len(timeline) == 1
    evaluation = timeline[0]
    assert evaluation["version"] == evaluation["production_then"] == "DEM-DIGITS-1"
    assert evaluation["metric"] == "accuracy" and evaluation["status"] == "ok" and evaluation["n"] == len(labels)
    assert abs(evaluation["value"] - accuracy) < 0.02
    assert evaluation["ci_low"] < evaluation["value"] < evaluation["ci_high"]
    assert evaluation["drift"] == "no drift"  # the validation split comes from the training data's distribution


def test_runs_ls_json_lists_every_demo_run_with_its_metrics(demo_dir: Path) -> None:
    proc = naiad_cli("runs", "ls", "--project", "demo", "--columns", "val/acc,parameters/alpha", "--json",
                     cwd=demo_dir)
    listed = [json.loads(line) for line in proc.stdout.splitlines()]
    rows = [r for r in listed if "demo" in r["sys/tags"]]
    assert sorted(r["id"] for r in rows) == ["DEM-1", "DEM-2"]
    assert [r["sys/tags"] for r in listed if r not in rows] == [["evaluation", "validation"]]
    for row in rows:
        assert 0.0 < row["val/acc"] <= 1.0
        assert row["sys/state"] == "finished"
        assert "demo" in row["sys/tags"]
        assert row["parameters/alpha"] > 0


def test_runs_ls_query_filters_and_a_bad_query_points_at_the_error(demo_dir: Path) -> None:
    proc = naiad_cli("runs", "ls", "--project", "demo", "--query", 'sys/name = "sgd-constant-0"', "--json",
                     cwd=demo_dir)
    assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == ["DEM-1"]
    bad = naiad_cli("runs", "ls", "--project", "demo", "--query", "last(val/acc) >", cwd=demo_dir, check=False)
    assert bad.returncode == 1
    assert "position" in bad.stderr and "^" in bad.stderr


def test_runs_show_prints_the_field_tree(demo_dir: Path) -> None:
    proc = naiad_cli("runs", "show", "DEM-1", cwd=demo_dir)
    for text in ("parameters/", "alpha", "val/", "FloatSeries", "weights", "Artifact", "sys/"):
        assert text in proc.stdout
    data = json.loads(naiad_cli("runs", "show", "DEM-1", "--json", cwd=demo_dir).stdout)
    assert data["val/acc"]["type"] == "FloatSeries" and data["val/acc"]["count"] == 3
    assert data["sys/id"]["value"] == "DEM-1"


def test_runs_show_unknown_id_is_one_clear_line(demo_dir: Path) -> None:
    proc = naiad_cli("runs", "show", "DEM-99", cwd=demo_dir, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: ") and "DEM-99" in proc.stderr
    assert "Traceback" not in proc.stderr


CRASHING_CHILD = """
import naiad
run = naiad.init_run(project="cli", flush_period=0.05)
print(run["sys/id"].fetch(), flush=True)
i = 0
while True:
    run["loss"].append(float(i))
    i += 1
"""


def test_status_and_sync_finish_what_a_killed_run_left(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAIAD_", "NEPTUNE_"))}
    env["NAIAD_URI"] = str(tmp_path / ".naiad")
    child = subprocess.Popen([sys.executable, "-c", CRASHING_CHILD], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    time.sleep(0.5)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    status = naiad_cli("status", cwd=tmp_path)
    assert "not yet stored" in status.stdout and "naiad sync" in status.stdout
    synced = naiad_cli("sync", cwd=tmp_path)
    assert "synced" in synced.stdout
    assert "everything is stored" in naiad_cli("status", cwd=tmp_path).stdout
    assert "nothing to sync" in naiad_cli("sync", cwd=tmp_path).stdout
    shown = json.loads(naiad_cli("runs", "show", run_id, "--json", cwd=tmp_path).stdout)
    assert shown["sys/state"]["value"] == "crashed"
    assert shown["loss"]["count"] > 0


def test_status_settings_lists_every_setting(tmp_path: Path) -> None:
    proc = naiad_cli("status", "--settings", cwd=tmp_path)
    for env in ("NAIAD_URI", "NAIAD_FLUSH_PERIOD", "NAIAD_MODE", "NAIAD_STOP_TIMEOUT"):
        assert env in proc.stdout


def test_runs_download_fetches_a_file_field_byte_for_byte(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    (tmp_path / "weights.bin").write_bytes(data)
    script = ("import naiad\nrun = naiad.init_run(project='cli', capture_hardware_metrics=False)\n"
              "run['model/weights'].upload('weights.bin')\nrun.stop()\n")
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=120,
                   env={**os.environ, "NAIAD_URI": str(tmp_path / ".naiad")})
    out = naiad_cli("runs", "download", "CLI-1", "model/weights", "copy.bin", cwd=tmp_path)
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert "downloaded CLI-1 model/weights" in out.stdout
    missing = naiad_cli("runs", "download", "CLI-1", "model/nothing", "x.bin", cwd=tmp_path, check=False)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
