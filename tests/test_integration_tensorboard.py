"""Live mirroring of torch.utils.tensorboard writes into a run (the event files are still written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import naiad
from naiad.importers.tensorboard import import_tensorboard
from naiad.integrations.tensorboard import enable_tensorboard_logging, enable_tensorboard_logging_ctx
from naiad.store import open_store

tb = pytest.importorskip("torch.utils.tensorboard")
torch = pytest.importorskip("torch")


def _write(writer: object) -> None:
    for step in range(4):
        writer.add_scalar("loss", 1.0 / (step + 1), step)  # type: ignore[attr-defined]
        writer.add_scalars("acc", {"train": step / 4, "val": step / 5}, step)  # type: ignore[attr-defined]
    writer.add_text("notes", "hello", 0)  # type: ignore[attr-defined]
    writer.add_image("sample", torch.rand(3, 6, 6), 0)  # type: ignore[attr-defined]
    writer.add_histogram("weights", torch.randn(200), 0)  # type: ignore[attr-defined]
    writer.add_hparams({"lr": 0.1, "opt": "adam"}, {"hparam/acc": 0.75})  # type: ignore[attr-defined]


def test_writes_inside_the_block_are_mirrored_and_still_reach_tensorboard(tmp_path: Path) -> None:
    run = naiad.init_run(project="tbm")
    with enable_tensorboard_logging_ctx(run):
        writer = tb.SummaryWriter(str(tmp_path / "logs" / "a"))
        _write(writer)
        writer.close()
    loss = run["tensorboard/scalar/loss"].fetch_values()
    assert loss["step"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert np.allclose(loss["value"], [1.0, 0.5, 1 / 3, 0.25])
    assert run["tensorboard/scalar/acc/val"].fetch_last() == pytest.approx(0.6)
    assert run["tensorboard/text/notes"].fetch_last() == "hello"
    assert json.loads(run["tensorboard/histogram/weights"].fetch_last())["num"] == 200
    assert run["tensorboard/hparams/opt"].fetch() == "adam"
    run["tensorboard/image/sample"].download(str(tmp_path / "img"))
    assert (tmp_path / "img" / "0.png").read_bytes()[:4] == b"\x89PNG"
    # the event files are intact: importing them gives the same scalars
    report = import_tensorboard(open_store(str(tmp_path / ".naiad")), tmp_path / "logs", project="tbm-import")
    # add_scalars writes each curve into its own sub-folder, which TensorBoard shows as a run of its own
    assert sorted(r.split(" ")[0] for r in report.imported) == ["a", "a/acc_train", "a/acc_val"]
    # outside the block nothing is mirrored any more
    writer = tb.SummaryWriter(str(tmp_path / "logs" / "b"))
    writer.add_scalar("after", 1.0, 0)
    writer.close()
    assert not run.exists("tensorboard/scalar/after")
    run.stop()


def test_process_wide_mirroring_can_be_disabled() -> None:
    run = naiad.init_run(project="tbm")
    mirror = enable_tensorboard_logging(run, base_namespace="tb")
    writer = tb.SummaryWriter()
    writer.add_scalar("x", 2.0, 5)
    writer.add_scalar("x", 3.0, 5)  # the same step again: TensorBoard keeps it, the series does not
    mirror.disable()
    writer.add_scalar("x", 4.0, 6)
    writer.close()
    values = run["tb/scalar/x"].fetch_values()
    assert values["step"].tolist() == [5.0] and values["value"].tolist() == [2.0]
    run.stop()


def test_tensorboardx_writes_are_mirrored_too(tmp_path: Path) -> None:
    tbx = pytest.importorskip("tensorboardX")
    run = naiad.init_run(project="tbm")
    with enable_tensorboard_logging_ctx(run):
        writer = tbx.SummaryWriter(str(tmp_path / "x"))
        for step in range(3):
            writer.add_scalar("loss", 1.0 - step / 10, step)
        writer.add_text("notes", "from tensorboardX", 0)
        writer.close()
    assert run["tensorboard/scalar/loss"].fetch_values()["value"].tolist() == pytest.approx([1.0, 0.9, 0.8])
    assert run["tensorboard/text/notes"].fetch_last() == "from tensorboardX"
    run.stop()


def test_tf_summary_writes_are_mirrored_when_tensorflow_is_imported(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    run = naiad.init_run(project="tbm")
    original = tf.summary.scalar
    with enable_tensorboard_logging_ctx(run, base_namespace="tf"):
        writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
        with writer.as_default():
            for step in range(3):
                tf.summary.scalar("loss", 0.5 / (step + 1), step=step)
            tf.summary.text("notes", "from tf.summary", step=0)
            tf.summary.histogram("weights", tf.random.normal([50]), step=0)
            tf.summary.image("sample", tf.random.uniform([1, 5, 5, 3]), step=0)
        writer.flush()
    assert run["tf/scalar/loss"].fetch_values()["step"].tolist() == [0.0, 1.0, 2.0]
    assert run["tf/text/notes"].fetch_last() == "from tf.summary"
    assert json.loads(run["tf/histogram/weights"].fetch_last())["num"] == 50
    run["tf/image/sample"].download(str(tmp_path / "img"))
    assert (tmp_path / "img" / "0.png").read_bytes()[:4] == b"\x89PNG"
    assert tf.summary.scalar is original  # the patch is gone after the block
    run.stop()
