"""`naiad import tensorboard`: event files written by a real SummaryWriter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import naiad
from naiad.importers.tensorboard import import_tensorboard
from naiad.store import open_store

tb = pytest.importorskip("torch.utils.tensorboard")


def write_logs(logdir: Path) -> None:
    for name, lr in (("baseline", 0.1), ("wide", 0.01)):
        writer = tb.SummaryWriter(str(logdir / name))
        for step in range(5):
            writer.add_scalar("loss/train", 1.0 / (step + 1), step)
            writer.add_scalar("acc/val", step / 10, step * 2)
        writer.add_text("notes", f"run {name}", 0)
        writer.add_image("sample", np.full((3, 4, 4), 0.5), 0)
        writer.add_histogram("weights", np.arange(100, dtype=float), 1)
        writer.add_hparams({"lr": lr, "optimizer": "sgd", "augment": True}, {"hparam/acc": 0.9})
        writer.close()


def _run(name: str) -> naiad.Run:
    table = naiad.init_project(project="tb", mode="read-only").fetch_runs_table(
        query=f'sys/custom_run_id = "tensorboard/{name}"').to_pandas()
    return naiad.init_run(with_id=table["sys/id"].iloc[0], mode="read-only")


def test_scalars_images_text_histograms_and_hparams_are_imported(tmp_path: Path) -> None:
    write_logs(tmp_path / "logs")
    report = import_tensorboard(open_store(str(tmp_path / ".naiad")), tmp_path / "logs", project="tb")
    assert len(report.imported) == 2, report  # add_hparams' sub-folder merged into its run
    assert report.problems == []
    run = _run("baseline")
    loss = run["tensorboard/scalar/loss/train"].fetch_values()
    assert loss["step"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert np.allclose(loss["value"], [1.0 / (i + 1) for i in range(5)])
    assert run["tensorboard/scalar/acc/val"].fetch_values()["step"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert run["tensorboard/text/notes"].fetch_last() == "run baseline"
    hist = json.loads(run["tensorboard/histogram/weights"].fetch_last())
    assert hist["num"] == 100 and hist["min"] == 0 and hist["max"] == 99
    assert run["tensorboard/hparams/lr"].fetch() == pytest.approx(0.1)
    assert run["tensorboard/hparams/optimizer"].fetch() == "sgd"
    assert run["tensorboard/hparams/augment"].fetch() == 1.0  # torch writes booleans as numbers
    run["tensorboard/image/sample"].download(str(tmp_path / "img"))
    assert (tmp_path / "img" / "0.png").read_bytes()[:4] == b"\x89PNG"
    assert run["sys/state"].fetch() == "finished"


def test_importing_twice_changes_nothing_and_the_cli_reports(tmp_path: Path) -> None:
    write_logs(tmp_path / "logs")
    env = {"NAIAD_URI": str(tmp_path / ".naiad"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "naiad", "import", "tensorboard", str(tmp_path / "logs"), "--project", "tb"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "2 run(s) imported" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert "0 run(s) imported, 2 already there" in second.stdout
    assert len(naiad.init_project(project="tb", mode="read-only").fetch_runs_table()) == 2
