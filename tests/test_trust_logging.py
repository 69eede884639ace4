"""Logging never crashes training, and one bad string never stops a run (issue 19, hole 4).

``run["note"] = os.fsdecode(b"file-\\xff.txt")`` — a lone surrogate, what Python makes of any file name
that is not UTF-8 — was accepted at the call; the writer then failed on every retry, every later write
of the run was lost, ``stop()`` waited its whole timeout and ``naiad sync`` failed for ever on the same
op.  Now the call site stores U+FFFD in its place (one warning), and the writer and ``naiad sync``
drop an op no store can take (counted in ``sys/errors``) and store everything else.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

import naiad
from naiad.cli.main import main as cli_main
from naiad.core import fields as F
from naiad.core import ops as O

BAD = os.fsdecode(b"file-\xff.txt")  # 'file-\udcff.txt'


def quiet_run(**kwargs: object) -> naiad.Run:
    return naiad.init_run(project="defects", capture_stdout=False, capture_stderr=False,
                          capture_hardware_metrics=False, source_files=[], **kwargs)  # type: ignore[arg-type]


def test_text_a_store_cannot_keep_is_stored_as_the_replacement_character() -> None:
    run = quiet_run()
    with pytest.warns(F.NaiadUnsupportedValue, match="stored as U\\+FFFD") as warned:
        run["note"] = BAD
        run["log"].append(BAD)
        run["log"].append("nul\x00inside")
        run["sys/tags"].add([BAD, "fine"])
    assert len(warned) == 3  # once per field
    run["ascii"] = "plain"
    for i in range(1100):
        run["loss"].append(float(i))
    t0 = time.monotonic()
    run.stop()
    assert time.monotonic() - t0 < 10  # not the whole stop timeout
    old = naiad.init_run(with_id=str(run._label()), mode="read-only")
    assert old["note"].fetch() == "file-\ufffd.txt"
    assert old["log"].fetch_values()["value"].tolist() == ["file-\ufffd.txt", "nul\ufffdinside"]
    assert old["sys/tags"].fetch() == {"file-\ufffd.txt", "fine"}
    assert len(old["loss"].fetch_values()) == 1100 and old["ascii"].fetch() == "plain"
    assert old.exists("sys/errors") is False or old["sys/errors"].fetch() == 0
    old.stop()
    with pytest.raises(naiad.errors.InvalidPathError, match="lone surrogate"):
        F.normalize_path(f"dir/{BAD}")


def test_the_writer_drops_an_op_no_store_takes_and_stores_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_RAISE_ON_ERROR", "0")  # the default: errors are counted, not raised
    run = quiet_run()
    run["before"] = 1.0
    run._submit((O.ASSIGN, "raw", F.STRING, BAD))  # past the call site's check, as an older client would
    for i in range(1100):
        run["loss"].append(float(i))
    run["after"] = 2.0
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run.stop()
    assert time.monotonic() - t0 < 10
    old = naiad.init_run(with_id=run._label(), mode="read-only")
    assert (old["before"].fetch(), old["after"].fetch()) == (1.0, 2.0)
    assert len(old["loss"].fetch_values()) == 1100
    assert not old.exists("raw")
    assert old["sys/errors"].fetch() == 1
    assert "a write to 'raw' was dropped: its text holds a lone surrogate" in old["sys/last_error"].fetch()
    old.stop()


def test_naiad_sync_drops_an_op_no_store_takes_and_stores_the_rest(tmp_path: Path) -> None:
    run = quiet_run(mode="offline")
    run["before"] = 1.0
    run._submit((O.ASSIGN, "raw", F.STRING, BAD))  # in the op log: an offline run stores nothing yet
    for i in range(1100):
        run["loss"].append(float(i))
    run.stop()
    synced = CliRunner().invoke(cli_main, ["sync"], catch_exceptions=False)
    assert synced.exit_code == 0, synced.output
    again = CliRunner().invoke(cli_main, ["sync"], catch_exceptions=False)
    assert again.exit_code == 0, again.output  # nothing left over to fail on
    project = naiad.init_project(project="defects", mode="read-only")
    table = project.fetch_runs_table().to_pandas()
    project.stop()
    [run_id] = table["sys/id"].tolist()
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["before"].fetch() == 1.0 and len(old["loss"].fetch_values()) == 1100
    assert not old.exists("raw") and old["sys/errors"].fetch() == 1
    old.stop()
