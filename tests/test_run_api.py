"""The neptune-style run API end to end: init_run → writes → stop → reopen → reads, on real SQLite stores."""

from __future__ import annotations

import datetime as dt
import io
import os
import pickle
import sqlite3
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from naiad.types import File

import naiad
import naiad.store
from naiad.core.fields import StepOrderWarning
from naiad.errors import (
    ConfigError,
    FieldTypeError,
    InactiveContainerError,
    InvalidModeError,
    InvalidPathError,
    InvalidValueError,
    MissingFieldError,
    MissingProjectError,
    NamespaceConflictError,
    ProtectedPathError,
    StepOrderError,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
UTC = dt.timezone.utc


def reopen(run: naiad.Run, mode: str = "read-only") -> naiad.Run:
    """Stop ``run`` (if needed) and open the same run again by its id, through a fresh store handle."""
    run_id = run["sys/id"].fetch()
    run.stop()
    naiad.store._stores.clear()
    return naiad.init_run(with_id=run_id, mode=mode)


def blob_files(store_uri: str) -> list[Path]:
    root = Path(store_uri) / "blobs"
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def stored_rows(store_uri: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(Path(store_uri) / "naiad.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------- atoms


def test_atoms_round_trip_with_their_types() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
    run = naiad.init_run(project="defects", name="atoms", description="all the atoms")
    run["f"] = 0.125
    run["i"] = 42
    run["b"] = True
    run["s"] = "adam"
    run["d"] = when
    run["big"] = 2**40
    run["np/f"] = np.float32(0.5)
    run.wait()
    assert run["f"].fetch() == 0.125
    assert run["i"].fetch() == 42
    assert run["b"].fetch() is True
    assert run["s"].fetch() == "adam"
    assert run["d"].fetch() == when

    old = reopen(run)
    assert old["f"].fetch() == 0.125
    assert isinstance(old["i"].fetch(), int) and old["i"].fetch() == 42
    assert old["b"].fetch() is True
    assert old["s"].fetch() == "adam"
    assert old["d"].fetch() == when
    assert old["big"].fetch() == 2**40
    assert old["np/f"].fetch() == 0.5
    assert {p: old[p].type for p in ("f", "i", "b", "s", "d", "np/f")} == {
        "f": "Float", "i": "Integer", "b": "Boolean", "s": "String", "d": "Datetime", "np/f": "Float"}
    assert old["sys/name"].fetch() == "atoms"
    assert old["sys/description"].fetch() == "all the atoms"


def test_naive_datetime_is_taken_as_local_time() -> None:
    naive = dt.datetime(2024, 1, 2, 3, 4, 5)
    run = naiad.init_run(project="defects")
    run["when"] = naive
    fetched = run["when"].fetch()
    assert fetched.tzinfo is not None
    assert fetched == naive.astimezone(UTC)


def test_assigning_to_an_existing_field_overwrites_it() -> None:
    run = naiad.init_run(project="defects")
    run["best"] = 0.5
    run["best"] = 0.75
    run["best"] = 1  # an int into a Float field is lossless
    old = reopen(run)
    assert old["best"].fetch() == 1.0
    assert old["best"].type == "Float"


def test_explicit_value_classes_pick_the_type() -> None:
    run = naiad.init_run(project="defects")
    run["as_float"] = naiad.types.Float(3)
    run["as_string"] = naiad.types.String(12)
    run["series"] = naiad.types.FloatSeries([0.5, 0.25], steps=[1, 2])
    run["labels"] = naiad.types.StringSet(["x", "y"])
    old = reopen(run)
    assert old["as_float"].type == "Float" and old["as_float"].fetch() == 3.0
    assert old["as_string"].fetch() == "12"
    assert old["series"].fetch_values()["step"].tolist() == [1.0, 2.0]
    assert old["labels"].fetch() == {"x", "y"}


def test_tags_are_a_string_set_with_add_and_remove() -> None:
    run = naiad.init_run(project="defects", tags=["resnet", "baseline"])
    run["sys/tags"].add(["candidate", "gpu"])
    run["sys/tags"].add("extra")
    run["sys/tags"].remove("baseline")
    run["sys/tags"].remove(["gpu"])
    run.wait()
    assert run["sys/tags"].fetch() == {"resnet", "candidate", "extra"}
    old = reopen(run)
    assert old["sys/tags"].fetch() == {"resnet", "candidate", "extra"}
    assert old["sys/tags"].type == "StringSet"


def test_nested_dict_assignment_creates_a_namespace_of_typed_fields() -> None:
    run = naiad.init_run(project="defects")
    run["parameters"] = {"lr": 1e-3, "epochs": 10, "optimizer": {"name": "adam", "beta1": 0.9},
                         "augment": False}
    old = reopen(run)
    assert old["parameters"].fetch() == {"lr": 1e-3, "epochs": 10, "augment": False,
                                         "optimizer": {"name": "adam", "beta1": 0.9}}
    assert old["parameters/optimizer/name"].fetch() == "adam"
    assert old["parameters/epochs"].type == "Integer"


def test_a_dict_of_every_kind_of_leaf_keeps_each_one_exactly() -> None:
    """Plain number leaves of a dict take the hot path (journal records, their names written at once);
    every other leaf the careful one — the stored values are the same either way, a clash still raises."""
    run = naiad.init_run(project="defects")
    run["lr"] = 0.5  # an existing Float field
    big = 2**53
    run.assign({"lr": 0.25, "n": 3, "flag": True, "name": "résumé", "big": big,
                "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "tags": naiad.types.StringSet(["a"]),
                "cfg": {"depth": 4, "rate": 1e-4, "k/j": 7, 12: "twelve"},
                **{f"many/f{i}": i * 0.5 for i in range(500)}})
    with pytest.raises(naiad.exceptions.FieldTypeError):
        run.assign({"ok": 1.0, "lr": "text"})  # lr is a Float: refused at the call
    old = reopen(run)
    got = old.fetch()
    assert got["lr"] == 0.25 and got["n"] == 3 and got["flag"] is True and got["name"] == "résumé"
    assert got["big"] == big and got["ok"] == 1.0
    assert got["cfg"] == {"depth": 4, "rate": 1e-4, "k": {"j": 7}, "12": "twelve"}
    assert got["many"] == {f"f{i}": i * 0.5 for i in range(500)}
    assert old["n"].type == "Integer" and old["flag"].type == "Boolean" and old["big"].type == "Integer"
    assert old["tags"].fetch() == {"a"} and old["when"].fetch().year == 2026


def test_assign_merges_a_dict_at_the_root_and_at_a_namespace() -> None:
    run = naiad.init_run(project="defects")
    run.assign({"a": 1, "cfg": {"x": "one"}})
    run["cfg"].assign({"y": 2.5})
    run["single"].assign("value", wait=True)
    assert run["cfg"].fetch() == {"x": "one", "y": 2.5}
    assert run["a"].fetch() == 1
    assert run["single"].fetch() == "value"


def test_fetch_returns_every_atom_of_the_root_and_of_a_namespace() -> None:
    run = naiad.init_run(project="defects", name="fetchme")
    run["params"] = {"lr": 0.1, "layers": 3}
    run["train/loss"].append(0.5)
    everything = run.fetch()
    assert everything["params"] == {"lr": 0.1, "layers": 3}
    assert everything["sys"]["name"] == "fetchme"
    assert everything["sys"]["id"].startswith("DEF-")
    assert "train" not in everything  # series are not part of fetch()
    assert run["params"].fetch() == {"lr": 0.1, "layers": 3}


# ---------------------------------------------------------------------------------------------- series


def test_float_series_accepts_fractional_steps() -> None:
    run = naiad.init_run(project="defects")
    run["loss"].append(0.9, step=0.5)
    run["loss"].append(0.7, step=1.25)
    run["loss"].append(0.6)  # last step + 1
    old = reopen(run)
    df = old["loss"].fetch_values()
    assert df["step"].tolist() == [0.5, 1.25, 2.25]
    assert df["value"].tolist() == [0.9, 0.7, 0.6]
    assert old["loss"].fetch_last() == 0.6


def test_fetch_values_has_step_value_and_timestamp_columns() -> None:
    run = naiad.init_run(project="defects")
    stamp = 1_700_000_000.25
    run["acc"].append(0.1, step=1, timestamp=stamp)
    run["acc"].append(0.2, step=2, timestamp=stamp + 1)
    df = run["acc"].fetch_values()
    assert list(df.columns) == ["step", "value", "timestamp"]
    assert df["value"].tolist() == [0.1, 0.2]
    # neptune returns naive local-time timestamps
    assert df["timestamp"][0] == pd.Timestamp(dt.datetime.fromtimestamp(stamp))
    assert df["timestamp"][1] - df["timestamp"][0] == pd.Timedelta(seconds=1)
    no_ts = run["acc"].fetch_values(include_timestamp=False)
    assert list(no_ts.columns) == ["step", "value"]


def test_append_stamps_the_current_time_when_no_timestamp_is_given() -> None:
    run = naiad.init_run(project="defects")
    before = time.time()
    run["acc"].append(0.5)
    after = time.time()
    ts = run["acc"].fetch_values()["timestamp"][0]
    slack = pd.Timedelta(milliseconds=1)  # timestamps are kept to the millisecond
    assert pd.Timestamp(dt.datetime.fromtimestamp(before)) - slack <= ts
    assert ts <= pd.Timestamp(dt.datetime.fromtimestamp(after)) + slack


def test_extend_and_log_add_points_like_append() -> None:
    run = naiad.init_run(project="defects")
    run["loss"].extend([1.0, 0.8, 0.6], steps=[10, 20, 30], timestamps=[100.0, 200.0, 300.0])
    run["loss"].log(0.5, step=40)
    run["loss"].extend(np.array([0.4, 0.3]))
    run["text"].log("epoch 1 done")
    run["text"].extend(["epoch 2 done", "epoch 3 done"])
    old = reopen(run)
    df = old["loss"].fetch_values()
    assert df["step"].tolist() == [10.0, 20.0, 30.0, 40.0, 41.0, 42.0]
    assert df["value"].tolist() == [1.0, 0.8, 0.6, 0.5, 0.4, 0.3]
    assert old["text"].fetch_values()["value"].tolist() == ["epoch 1 done", "epoch 2 done", "epoch 3 done"]
    assert old["text"].type == "StringSeries"
    assert old["text"].fetch_last() == "epoch 3 done"


def test_string_series_round_trip() -> None:
    run = naiad.init_run(project="defects")
    for i in range(5):
        run["log"].append(f"line {i}", step=i)
    old = reopen(run)
    df = old["log"].fetch_values()
    assert df["value"].tolist() == [f"line {i}" for i in range(5)]
    assert df["step"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_append_of_a_dict_appends_to_each_key() -> None:
    run = naiad.init_run(project="defects")
    run["metrics"].append({"loss": 0.5, "acc": 0.7})
    run["metrics"].append({"loss": 0.4, "acc": 0.8})
    run.wait()
    assert run["metrics/loss"].fetch_values()["value"].tolist() == [0.5, 0.4]
    assert run["metrics/acc"].fetch_last() == 0.8


def test_series_with_many_points_reads_back_in_order() -> None:
    run = naiad.init_run(project="defects")
    values = np.linspace(0, 1, 50_000)
    for chunk in np.split(values, 50):
        run["big"].extend(chunk.tolist())
    old = reopen(run)
    df = old["big"].fetch_values(include_timestamp=False)
    assert len(df) == 50_000
    assert np.array_equal(df["step"].to_numpy(), np.arange(50_000, dtype=float))
    assert np.array_equal(df["value"].to_numpy(), values)


def test_buffered_points_beyond_one_read_chunk_are_stored_in_order() -> None:
    # the writer decodes the journal a chunk at a time (so the training thread is never stalled
    # long); more than two chunks' worth in one flush must still arrive whole and in order
    from naiad.core.journal import READ_CHUNK

    n = 2 * READ_CHUNK + 3
    run = naiad.init_run(project="defects", flush_period=60)  # everything waits for stop()'s flush
    handle = run["many"]
    for i in range(n):
        handle.append(i * 0.5)
    run["other"].append(1.0)
    old = reopen(run)
    df = old["many"].fetch_values(include_timestamp=False)
    assert np.array_equal(df["step"].to_numpy(), np.arange(n, dtype=float))
    assert np.array_equal(df["value"].to_numpy(), np.arange(n) * 0.5)
    assert old["other"].fetch_values()["value"].tolist() == [1.0]


def test_clear_between_two_chunks_of_a_flush_keeps_call_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer decodes the journal chunk by chunk without a lock, so the training thread may clear()
    # the series right then; the points appended after that clear must not ride in the batch being
    # built (which is stored before the clear, and would be wiped by it).  The clear is made at exactly
    # that moment by running it from the writer's own decoding step.
    import naiad.core.journal as journal
    import naiad.tracking.writer as writer

    monkeypatch.setattr(journal, "READ_CHUNK", 3)
    real = writer.to_ops
    calls = []
    run = naiad.init_run(project="defects", flush_period=60)  # only wait() flushes

    def decode_then_clear(data: bytes, *args: Any) -> Any:
        calls.append(len(data) // journal.RECORD_SIZE)
        if len(calls) == 2:  # the second chunk is read: the user clears and logs again
            run["s"].clear()
            run["s"].append(99.0)
        return real(data, *args)

    for i in range(10):
        run["s"].append(float(i))
    monkeypatch.setattr(writer, "to_ops", decode_then_clear)
    run.wait()
    monkeypatch.setattr(writer, "to_ops", real)
    assert calls[:2] == [3, 3]
    run["s"].append(100.0)
    old = reopen(run)
    df = old["s"].fetch_values(include_timestamp=False)
    assert df["value"].tolist() == [99.0, 100.0]
    assert df["step"].tolist() == [0.0, 1.0]


# ---------------------------------------------------------------------------------------------- files


def _pil_image(color: tuple[int, int, int], size: tuple[int, int] = (8, 6)):
    from PIL import Image

    return Image.new("RGB", size, color)


def test_file_series_of_png_images_downloads_every_image(tmp_path: Path) -> None:
    from PIL import Image

    run = naiad.init_run(project="defects")
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for c in colors:
        run["samples"].append(_pil_image(c))
    run["samples"].append(File.as_image(np.zeros((4, 4, 3))), step=10)
    old = reopen(run)
    assert old["samples"].type == "FileSeries"
    out = tmp_path / "imgs"
    old["samples"].download(str(out))
    files = sorted(out.iterdir())
    assert len(files) == 4
    for f in files:
        assert f.read_bytes().startswith(PNG_MAGIC)
    with Image.open(out / "0.png") as first:
        assert first.convert("RGB").getpixel((0, 0)) == colors[0]
    old["samples"].download_last(str(tmp_path / "last.png"))
    with Image.open(tmp_path / "last.png") as last:
        assert last.size == (4, 4)


def test_upload_from_a_path_bytes_and_a_file_object(tmp_path: Path) -> None:
    weights = tmp_path / "best.h5"
    weights.write_bytes(b"\x00weights\x01" * 100)
    run = naiad.init_run(project="defects")
    run["model/weights"].upload(str(weights))
    run["raw/bytes"].upload(b"some bytes")
    with open(weights, "rb") as fh:
        run["raw/stream"].upload(fh)
    run["raw/text"].upload(io.StringIO("hello text"))
    old = reopen(run)
    out = tmp_path / "out"
    out.mkdir()
    old["model/weights"].download(str(out))
    assert (out / "weights.h5").read_bytes() == weights.read_bytes()
    assert old["model/weights"].fetch_extension() == "h5"
    old["raw/bytes"].download(str(out / "b.bin"))
    assert (out / "b.bin").read_bytes() == b"some bytes"
    old["raw/stream"].download(str(out / "s.bin"))
    assert (out / "s.bin").read_bytes() == weights.read_bytes()
    old["raw/text"].download(str(out / "t.txt"))
    assert (out / "t.txt").read_text() == "hello text"
    assert old["model/weights"].type == "File"


def test_upload_of_a_matplotlib_figure_stores_a_png(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    run = naiad.init_run(project="defects")
    run["eval/roc"].upload(fig)
    run["eval/roc_assigned"] = fig
    plt.close(fig)
    old = reopen(run)
    old["eval/roc"].download(str(tmp_path))
    assert (tmp_path / "roc.png").read_bytes().startswith(PNG_MAGIC)
    assert old["eval/roc_assigned"].type == "File"


def test_upload_of_a_pil_image_and_a_dataframe(tmp_path: Path) -> None:
    from PIL import Image

    run = naiad.init_run(project="defects")
    run["img"].upload(_pil_image((10, 20, 30), size=(5, 7)))
    run["table"].upload(pd.DataFrame({"col_a": [1, 2], "col_b": ["x", "y"]}))
    old = reopen(run)
    old["img"].download(str(tmp_path))
    with Image.open(tmp_path / "img.png") as img:
        assert img.size == (5, 7)
        assert img.convert("RGB").getpixel((2, 2)) == (10, 20, 30)
    assert old["table"].fetch_extension() == "html"
    old["table"].download(str(tmp_path))
    html = (tmp_path / "table.html").read_text()
    assert "<table" in html and "col_b" in html


def test_file_as_image_as_html_and_as_pickle(tmp_path: Path) -> None:
    run = naiad.init_run(project="defects")
    run["as_image"].upload(File.as_image(np.full((3, 3), 0.5)))
    run["as_html"].upload(File.as_html(pd.DataFrame({"v": [3.5]})))
    run["as_pickle"].upload(File.as_pickle({"k": [1, 2, 3]}))
    run["from_content"].upload(File.from_content("plain", extension="txt"))
    old = reopen(run)
    old["as_image"].download(str(tmp_path))
    assert (tmp_path / "as_image.png").read_bytes().startswith(PNG_MAGIC)
    old["as_html"].download(str(tmp_path))
    assert "3.5" in (tmp_path / "as_html.html").read_text()
    old["as_pickle"].download(str(tmp_path))
    assert pickle.loads((tmp_path / "as_pickle.pkl").read_bytes()) == {"k": [1, 2, 3]}
    old["from_content"].download(str(tmp_path))
    assert (tmp_path / "from_content.txt").read_text() == "plain"


def test_upload_of_a_missing_file_raises_at_the_call_site() -> None:
    run = naiad.init_run(project="defects")
    with pytest.raises(naiad.exceptions.FileNotFound, match="no such file"):
        run["weights"].upload("does/not/exist.pt")
    assert not run.exists("weights")


def test_file_set_upload_download_as_zip_and_listing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print('train')\n")
    (src / "pkg" / "model.py").write_text("class Model: ...\n")
    run = naiad.init_run(project="defects")
    run["code"].upload_files(str(src))
    old = reopen(run)
    assert old["code"].type == "FileSet"
    out = tmp_path / "out"
    out.mkdir()
    old["code"].download(str(out))
    with zipfile.ZipFile(out / "code.zip") as zf:
        names = sorted(zf.namelist())
        contents = {n: zf.read(n) for n in names}
    assert len(names) == 2
    by_base = {Path(n).name: c for n, c in contents.items()}
    assert by_base == {"train.py": b"print('train')\n", "model.py": b"class Model: ...\n"}
    top = old["code"].list_fileset_files()
    assert top, "list_fileset_files() lists the top level"
    everything: list[str] = []

    def walk(prefix: str | None) -> None:
        for entry in old["code"].list_fileset_files(prefix):
            full = f"{prefix}/{entry.name}" if prefix else entry.name
            if entry.file_type == "directory":
                walk(full)
            else:
                assert entry.size is not None and entry.size > 0
                everything.append(full)

    walk(None)
    assert sorted(everything) == names


def test_file_set_upload_files_adds_to_the_set(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    run = naiad.init_run(project="defects")
    run["files"].upload_files("a.txt")
    run["files"].upload_files("b.txt")
    old = reopen(run)
    assert sorted(e.name for e in old["files"].list_fileset_files()) == ["a.txt", "b.txt"]


def test_track_files_records_an_artifact_without_copying(tmp_path: Path, store_uri: str) -> None:
    data = tmp_path / "data" / "train"
    (data / "cls_a").mkdir(parents=True)
    (data / "cls_a" / "1.csv").write_text("x,y\n1,2\n")
    (data / "cls_b.csv").write_text("x,y\n3,4\n5,6\n")
    run = naiad.init_run(project="defects", source_files=[])
    run["data/train"].track_files(str(data))
    run.wait()
    blobs_before = len(blob_files(store_uri))
    old = reopen(run)
    assert old["data/train"].type == "Artifact"
    digest = old["data/train"].fetch_hash()
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    entries = {e.file_path: e for e in old["data/train"].fetch_files_list()}
    assert sorted(entries) == ["cls_a/1.csv", "cls_b.csv"]
    assert entries["cls_b.csv"].size == len("x,y\n3,4\n5,6\n")
    assert len(entries["cls_b.csv"].file_hash) == 64
    assert blobs_before == len(blob_files(store_uri)) == 0  # tracked bytes are not copied into blobs

    out = tmp_path / "restored"
    old["data/train"].download(str(out))
    assert (out / "cls_a" / "1.csv").read_text() == "x,y\n1,2\n"
    assert (out / "cls_b.csv").read_text() == "x,y\n3,4\n5,6\n"

    # the same content tracked again is the same dataset version; changed content is another one
    run2 = naiad.init_run(project="defects")
    run2["data/train"].track_files(str(data))
    run2.wait()
    assert run2["data/train"].fetch_hash() == digest
    (data / "cls_b.csv").write_text("changed\n")
    run2["data/v2"].track_files(str(data))
    run2.wait()
    assert run2["data/v2"].fetch_hash() != digest


def test_identical_files_are_stored_once_in_the_blob_folder(tmp_path: Path, store_uri: str) -> None:
    payload = os.urandom(4096)
    (tmp_path / "one.bin").write_bytes(payload)
    (tmp_path / "two.bin").write_bytes(payload)
    run = naiad.init_run(project="defects", source_files=[])
    run["a"].upload(str(tmp_path / "one.bin"))
    run["b"].upload(str(tmp_path / "two.bin"))
    run["c"].upload(payload)
    run["d"].upload(b"different")
    run2 = naiad.init_run(project="defects", source_files=[])
    run2["again"].upload(payload)
    run.wait()
    run2.wait()
    blobs = blob_files(store_uri)
    assert len(blobs) == 2
    assert sorted(p.stat().st_size for p in blobs) == [len(b"different"), 4096]


# ---------------------------------------------------------------------------------------------- structure


def test_exists_sees_fields_and_namespaces() -> None:
    run = naiad.init_run(project="defects")
    run["train/loss"].append(0.5)
    run["params/lr"] = 0.1
    assert run.exists("train/loss")
    assert run.exists("train")
    assert run.exists("params/lr")
    assert not run.exists("params/momentum")
    assert not run.exists("nothing")
    old = reopen(run)
    assert old.exists("train/loss") and old.exists("params") and old.exists("sys/id")


def test_exists_sees_sys_fields_of_a_new_run() -> None:
    # neptune's integrations (Lightning) call run.exists("sys/id") right after init_run
    run = naiad.init_run(project="defects")
    assert run.exists("sys/id")
    assert run.exists("sys/creation_time")
    assert "id" in run.get_structure()["sys"]


def test_get_structure_is_a_nested_dict_of_field_handles() -> None:
    run = naiad.init_run(project="defects")
    run["params"] = {"lr": 0.1, "opt": {"name": "adam"}}
    run["train/loss"].append(0.5)
    structure = run.get_structure()
    assert set(structure["params"]) == {"lr", "opt"}
    assert structure["params"]["opt"]["name"].type == "String"
    assert structure["train"]["loss"].type == "FloatSeries"
    assert isinstance(structure["params"]["lr"], naiad.Handler)
    old = reopen(run)
    reopened = old.get_structure()
    assert reopened["params"]["lr"].type == "Float"
    assert reopened["sys"]["id"].fetch().startswith("DEF-")


def test_delete_a_field_and_create_it_again_with_another_type() -> None:
    run = naiad.init_run(project="defects")
    run["x"] = 1.5
    run["loss"].extend([0.3, 0.2])
    run["ns"] = {"a": 1, "b": 2}
    run.wait()
    del run["x"]
    del run["ns"]
    run["loss"].pop()
    assert not run.exists("x") and not run.exists("ns") and not run.exists("ns/a")
    run["x"] = "now a string"
    run["ns"] = 7
    run["loss"] = "no longer a series"
    old = reopen(run)
    assert old["x"].fetch() == "now a string"
    assert old["x"].type == "String"
    assert old["ns"].fetch() == 7
    assert old["loss"].fetch() == "no longer a series"
    assert not old.exists("ns/a")


def test_deleted_series_restarts_at_step_zero() -> None:
    run = naiad.init_run(project="defects")
    run["loss"].extend([0.3, 0.2, 0.1])
    del run["loss"]
    run["loss"].append(9.0)
    old = reopen(run)
    df = old["loss"].fetch_values()
    assert df["step"].tolist() == [0.0]
    assert df["value"].tolist() == [9.0]


def test_delete_of_a_missing_field_raises() -> None:
    run = naiad.init_run(project="defects")
    with pytest.raises(MissingFieldError):
        del run["never/written"]


def test_fetching_a_missing_field_raises_missing_field() -> None:
    run = naiad.init_run(project="defects")
    with pytest.raises(naiad.exceptions.MissingFieldException):
        run["never/written"].fetch()


# ---------------------------------------------------------------------------------------------- call-site errors


def test_wrong_type_for_an_existing_field_raises_with_advice() -> None:
    run = naiad.init_run(project="defects")
    run["lr"] = 0.1
    with pytest.raises(FieldTypeError, match=r"'lr' is Float.*delete the field first"):
        run["lr"] = "fast"
    run["loss"].append(0.5)
    with pytest.raises(FieldTypeError, match="loss"):
        run["loss"] = 3.0
    with pytest.raises(FieldTypeError, match="series"):
        run["lr"].append(0.2)
    old = reopen(run)
    assert old["lr"].fetch() == 0.1


def test_non_numeric_value_into_a_float_series_raises() -> None:
    run = naiad.init_run(project="defects")
    run["loss"].append(0.5)
    with pytest.raises(InvalidValueError, match=r"'loss' is a float series; 'abc' is not a number"):
        run["loss"].append("abc")
    with pytest.raises(InvalidValueError, match="not a number"):
        run["loss"].extend([0.1, None])
    run["loss"].append(0.4)
    old = reopen(run)
    assert old["loss"].fetch_values()["value"].tolist() == [0.5, 0.4]


def test_a_step_that_does_not_increase_drops_the_point_warns_once_and_counts() -> None:
    run = naiad.init_run(project="defects")
    run["loss"].append(0.5, step=5)
    with pytest.warns(StepOrderWarning, match=r"'loss': a point whose step is not above .* step 3 after 5"):
        run["loss"].append(0.4, step=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per series: no second warning
        run["loss"].append(0.4, step=5)  # equal is not an increase
        run["loss"].extend([0.1, 0.2], steps=[7, 6])  # 7 kept, 6 dropped
    run["loss"].append(0.3, step=8)
    run.wait()
    assert run["sys/errors"].fetch() == 3
    assert run["sys/last_error"].fetch().startswith("point dropped: step 6 for 'loss' is not above the last step 7")
    old = reopen(run)
    assert old["loss"].fetch_values()["step"].tolist() == [5.0, 7.0, 8.0]


def test_strict_raises_for_a_step_that_does_not_increase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_STRICT", "1")
    run = naiad.init_run(project="defects")
    run["loss"].append(0.5, step=5)
    with pytest.raises(StepOrderError, match=r"step 3 .* not above the last step 5"):
        run["loss"].append(0.4, step=3)
    with pytest.raises(StepOrderError):
        run["loss"].append(0.4, step=5)  # equal is not an increase
    with pytest.raises(StepOrderError):
        run["loss"].extend([0.1, 0.2], steps=[7, 6])
    run["loss"].append(0.3, step=6)
    old = reopen(run)
    assert old["loss"].fetch_values()["step"].tolist() == [5.0, 6.0]


def test_invalid_paths_raise_at_the_call_site() -> None:
    run = naiad.init_run(project="defects")
    with pytest.raises(InvalidPathError, match="control character"):
        run["bad\x01path"] = 1
    with pytest.raises(InvalidPathError, match="control character"):
        run["tab\there"].append(1.0)
    with pytest.raises(InvalidPathError, match="limit is 1024"):
        run["x" * 1025] = 1
    with pytest.raises(ValueError):  # InvalidPathError is also a ValueError
        run["a/" + "b" * 1030]


def test_paths_up_to_1024_characters_work() -> None:
    long_path = "/".join(["segment" + str(i).zfill(3) for i in range(100)])[:1024]
    long_path = long_path.rstrip("/")
    assert len(long_path) == 1024
    run = naiad.init_run(project="defects")
    run[long_path] = "deep"
    run[long_path[:1000] + "/series"].append(1.0)
    old = reopen(run)
    assert old[long_path].fetch() == "deep"
    assert old.exists(long_path)
    assert old[long_path[:1000] + "/series"].fetch_last() == 1.0


def test_writing_sys_id_of_a_new_run_is_refused() -> None:
    run = naiad.init_run(project="defects")
    with pytest.raises(ProtectedPathError, match="sys/id"):
        run["sys/id"] = "DEF-999"
    with pytest.raises(ProtectedPathError):
        run["sys/owner"] = "someone else"
    with pytest.raises(ProtectedPathError):
        del run["sys/id"]
    run["sys/name"] = "renamed"  # name and description are the user's
    run["sys/description"] = "new text"
    run.wait()
    assert run["sys/id"].fetch() == "DEF-1"
    assert run["sys/name"].fetch() == "renamed"


def test_writing_maintained_sys_fields_of_a_resumed_run_is_refused() -> None:
    run = naiad.init_run(project="defects")
    run.stop()
    resumed = naiad.init_run(with_id="DEF-1")
    for path, value in (("sys/id", "HACKED-1"), ("sys/state", "finished"),
                        ("sys/creation_time", dt.datetime(2000, 1, 1, tzinfo=UTC))):
        with pytest.raises(ProtectedPathError, match=path):
            resumed[path] = value
    resumed.wait()
    assert resumed["sys/id"].fetch() == "DEF-1"


def test_field_where_a_namespace_is_and_the_reverse_raise() -> None:
    run = naiad.init_run(project="defects")
    run["model/lr"] = 0.1
    with pytest.raises(NamespaceConflictError, match="namespace"):
        run["model"] = "resnet"
    run["leaf"] = 1
    with pytest.raises(NamespaceConflictError, match="'leaf' is a Integer field"):
        run["leaf/child"] = 2
    old = reopen(run)
    assert old["model/lr"].fetch() == 0.1
    assert old["leaf"].fetch() == 1


def test_use_after_stop_raises_inactive_container_error() -> None:
    run = naiad.init_run(project="defects")
    handle = run["loss"]
    handle.append(0.5)
    run.stop()
    with pytest.raises(InactiveContainerError, match="stopped"):
        run["x"] = 1
    with pytest.raises(InactiveContainerError):
        handle.append(0.4)
    with pytest.raises(InactiveContainerError):
        handle.fetch_last()
    with pytest.raises(naiad.exceptions.InactiveRunException):
        run.fetch()
    run.stop()  # a second stop does nothing


def test_non_finite_and_unsupported_values_are_skipped_with_a_warning() -> None:
    run = naiad.init_run(project="defects")
    with pytest.warns(UserWarning, match="not supported"):
        run["a_list"] = [1, 2, 3]
    with pytest.warns(UserWarning, match="cannot be stored"):
        run["loss"].append(float("nan"))
    run["loss"].append(0.5)
    run["cfg"] = naiad.utils.stringify_unsupported({"layers": [64, 32], "act": None, "lr": 0.1})
    old = reopen(run)
    assert not old.exists("a_list")
    assert old["loss"].fetch_values()["value"].tolist() == [0.5]
    assert old["cfg"].fetch() == {"layers": "[64, 32]", "act": "None", "lr": 0.1}


def test_init_run_without_a_project_says_how_to_give_one() -> None:
    with pytest.raises(MissingProjectError, match="NAIAD_PROJECT"):
        naiad.init_run()


def test_naiad_project_env_sets_the_default_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_PROJECT", "team/vision")
    run = naiad.init_run()
    run_id = run["sys/id"].fetch()
    run.stop()
    assert run_id.startswith("VIS-")
    table = naiad.init_project(mode="read-only").fetch_runs_table().to_pandas()
    assert table["sys/id"].tolist() == [run_id]


def test_unknown_init_argument_and_wrong_argument_type_raise_type_error() -> None:
    with pytest.raises(TypeError):
        naiad.init_run(project="defects", not_an_arg=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="name must be a str"):
        naiad.init_run(project="defects", name=5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- scale


def test_run_with_50000_fields() -> None:
    run = naiad.init_run(project="defects")
    values = {f"features/group{i // 1000:02d}/f{i:05d}": float(i) for i in range(50_000)}
    run.assign(values)
    run_id = run["sys/id"].fetch()
    run.stop()
    naiad.store._stores.clear()
    old = naiad.init_run(with_id=run_id, mode="read-only")
    structure = old.get_structure()
    assert len(structure["features"]) == 50
    assert sum(len(group) for group in structure["features"].values()) == 50_000
    assert old["features/group00/f00000"].fetch() == 0.0
    assert old["features/group49/f49999"].fetch() == 49999.0
    assert old["features/group17/f17321"].fetch() == 17321.0
    assert len(old["features/group03"].fetch()) == 1000


# ---------------------------------------------------------------------------------------------- modes


def test_async_is_the_default_mode_and_wait_makes_writes_visible(store_uri: str) -> None:
    run = naiad.init_run(project="defects", flush_period=30)
    run["x"] = 1
    run["loss"].append(0.5)
    run.wait()
    table = naiad.init_project(project="defects", mode="read-only").fetch_runs_table(
        columns=["x", "loss"]).to_pandas()
    assert table["x"].tolist() == [1]
    assert table["loss"].tolist() == [0.5]


def test_sync_mode_stores_each_call_before_it_returns(store_uri: str) -> None:
    run = naiad.init_run(project="defects", mode="sync")
    run["x"] = 1
    rows = stored_rows(store_uri, "SELECT f.num FROM fields f JOIN paths p ON p.pid=f.pid WHERE p.path='x'")
    assert rows == [(1.0,)]


def test_sync_mode_stores_appended_points_before_append_returns(store_uri: str) -> None:
    run = naiad.init_run(project="defects", mode="sync")
    run["loss"].append(0.5)
    run["loss"].extend([0.4, 0.3])
    rows = stored_rows(store_uri, "SELECT s.count FROM series s JOIN paths p ON p.pid=s.pid "
                       "WHERE p.path='loss'")
    assert rows == [(3,)]


def test_sync_mode_run_reads_back_after_stop() -> None:
    run = naiad.init_run(project="defects", mode="sync")
    run["x"] = 1.0
    run["loss"].append(0.5)
    run_id = run["sys/id"].fetch()
    run.stop()
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["x"].fetch() == 1.0
    assert old["loss"].fetch_last() == 0.5
    assert old["sys/state"].fetch() == "finished"


def test_offline_mode_stores_nothing_until_the_op_log_is_synced(tmp_path: Path, store_uri: str) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w" * 100)
    run = naiad.init_run(project="defects", mode="offline", name="offline-run", tags=["off"])
    run["params/lr"] = 0.01
    for i in range(5):
        run["loss"].append(1.0 / (i + 1))
    run["weights"].upload("weights.bin")
    with pytest.raises(ConfigError, match="offline"):
        run["params/lr"].fetch()
    run.stop()

    store = naiad.store.open_store(store_uri)
    project = naiad.init_project(project="defects", mode="async")
    assert len(project.fetch_runs_table()) == 0
    assert list((Path(store_uri) / "offline").glob("*.log")), "the offline op log is kept on disk"

    report = naiad.store.recover_oplogs(store, offline=True)
    assert sum(report.applied.values()) >= 1 and not report.failed
    table = project.fetch_runs_table(columns=["params/lr", "loss", "sys/name", "sys/tags"]).to_pandas()
    assert len(table) == 1
    row = table.iloc[0]
    assert row["params/lr"] == 0.01
    assert row["loss"] == pytest.approx(0.2)
    assert row["sys/name"] == "offline-run"
    assert row["sys/tags"] == "off"
    synced = naiad.init_run(with_id=row["sys/id"], mode="read-only")
    assert synced["loss"].fetch_values()["value"].tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    synced["weights"].download(str(tmp_path / "w.bin"))
    assert (tmp_path / "w.bin").read_bytes() == b"w" * 100
    assert synced["sys/state"].fetch() == "finished"
    assert not list((Path(store_uri) / "offline").glob("*.log")), "a synced op log is removed"
    # syncing again does not duplicate the run
    naiad.store.recover_oplogs(store, offline=True)
    assert len(project.fetch_runs_table()) == 1


def test_read_only_mode_warns_on_writes_and_stores_nothing() -> None:
    run = naiad.init_run(project="defects")
    run["x"] = 1
    run_id = run["sys/id"].fetch()
    run.stop()
    ro = naiad.init_run(with_id=run_id, mode="read-only")
    with pytest.warns(UserWarning, match="read-only"):
        ro["x"] = 2
    ro["y"] = "ignored"
    ro.stop()
    again = naiad.init_run(with_id=run_id, mode="read-only")
    assert again["x"].fetch() == 1
    assert not again.exists("y")
    assert again["sys/state"].fetch() == "finished"


def test_read_only_mode_append_warns_and_stores_nothing() -> None:
    run = naiad.init_run(project="defects")
    run["loss"].append(1.0)
    run_id = run["sys/id"].fetch()
    run.stop()
    ro = naiad.init_run(with_id=run_id, mode="read-only")
    with pytest.warns(UserWarning, match="read-only"):
        ro["loss"].append(2.0)
        ro["new_series"].append(3.0)
    assert ro["loss"].fetch_values()["value"].tolist() == [1.0]


def test_read_only_mode_needs_an_existing_run() -> None:
    with pytest.raises(naiad.exceptions.NeedExistingRunForReadOnlyMode, match="with_id"):
        naiad.init_run(project="defects", mode="read-only")
    with pytest.raises(naiad.exceptions.RunNotFound):
        naiad.init_run(with_id="DEF-404", mode="read-only")


def test_debug_mode_keeps_data_out_of_the_store(store_uri: str) -> None:
    run = naiad.init_run(project="defects", mode="debug")
    run["x"] = 5
    run["loss"].append(0.5)
    assert run["x"].fetch() == 5
    assert run["loss"].fetch_last() == 0.5
    run.stop()
    naiad.store._stores.clear()
    project = naiad.init_project(project="defects", mode="async")
    assert len(project.fetch_runs_table()) == 0


def test_naiad_mode_env_picks_the_mode(monkeypatch: pytest.MonkeyPatch, store_uri: str) -> None:
    monkeypatch.setenv("NAIAD_MODE", "offline")
    run = naiad.init_run(project="defects")
    run["x"] = 1
    with pytest.raises(ConfigError, match="offline"):
        run["x"].fetch()
    run.stop()
    assert list((Path(store_uri) / "offline").glob("*.log"))
    monkeypatch.setenv("NAIAD_MODE", "read-only")
    with pytest.raises(ConfigError):
        naiad.init_run(project="defects")
    monkeypatch.setenv("NAIAD_MODE", "bogus")
    with pytest.raises(InvalidModeError, match="bogus"):
        naiad.init_run(project="defects")
    monkeypatch.delenv("NAIAD_MODE")
    monkeypatch.setenv("NEPTUNE_MODE", "debug")  # neptune's variable is honoured as a fallback
    dbg = naiad.init_run(project="defects")
    dbg["y"] = 1
    dbg.stop()
    assert len(naiad.init_project(project="defects").fetch_runs_table()) == 0


def test_invalid_mode_argument_raises_value_error() -> None:
    with pytest.raises(ValueError, match="not one of"):
        naiad.init_run(project="defects", mode="fast")


# ---------------------------------------------------------------------------------------------- resume


def test_resume_with_id_keeps_appending_with_steps_continuing() -> None:
    run = naiad.init_run(project="defects", name="first", tags=["a"])
    run["loss"].extend([0.9, 0.8, 0.7])
    run["params/lr"] = 0.1
    run_id = run["sys/id"].fetch()
    run.stop()
    naiad.store._stores.clear()

    resumed = naiad.init_run(with_id=run_id)
    resumed["loss"].append(0.6)
    resumed["loss"].append(0.5)
    with pytest.warns(StepOrderWarning):  # the stored steps survive the reopen: step 1 is below them
        resumed["loss"].append(0.4, step=1)
    with pytest.raises(FieldTypeError):  # types survive the reopen
        resumed["params/lr"] = "fast"
    resumed["sys/tags"].add("b")
    resumed.stop()
    naiad.store._stores.clear()

    old = naiad.init_run(with_id=run_id, mode="read-only")
    df = old["loss"].fetch_values()
    assert df["step"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert df["value"].tolist() == [0.9, 0.8, 0.7, 0.6, 0.5]
    assert old["sys/name"].fetch() == "first"
    assert old["sys/tags"].fetch() == {"a", "b"}
    assert old["sys/state"].fetch() == "finished"


def test_custom_run_id_twice_gives_the_same_run() -> None:
    first = naiad.init_run(project="defects", custom_run_id="nightly-2024-05-01")
    first["a"] = 1
    first_id = first["sys/id"].fetch()
    first.stop()
    second = naiad.init_run(project="defects", custom_run_id="nightly-2024-05-01")
    second["b"] = 2
    second.wait()
    assert second["sys/id"].fetch() == first_id
    assert second["a"].fetch() == 1
    assert second["sys/custom_run_id"].fetch() == "nightly-2024-05-01"
    second.stop()
    table = naiad.init_project(project="defects", mode="read-only").fetch_runs_table().to_pandas()
    assert table["sys/id"].tolist() == [first_id]
    other = naiad.init_run(project="defects", custom_run_id="another")
    assert other["sys/id"].fetch() != first_id


def test_custom_run_id_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_CUSTOM_RUN_ID", "from-env")
    a = naiad.init_run(project="defects")
    a_id = a["sys/id"].fetch()
    a.stop()
    b = naiad.init_run(project="defects")
    assert b["sys/id"].fetch() == a_id


def test_with_id_and_custom_run_id_together_are_refused() -> None:
    run = naiad.init_run(project="defects")
    run_id = run["sys/id"].fetch()
    run.stop()
    with pytest.raises(naiad.exceptions.NeptuneRunResumeAndCustomIdCollision):
        naiad.init_run(with_id=run_id, custom_run_id="x")


# ---------------------------------------------------------------------------------------------- lifecycle


def test_context_manager_marks_the_run_finished() -> None:
    with naiad.init_run(project="defects") as run:
        run["x"] = 1
        run_id = run["sys/id"].fetch()
    assert run.get_state() == "stopped"
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["sys/state"].fetch() == "finished"
    assert old["sys/failed"].fetch() is False


def test_context_manager_marks_the_run_failed_on_exception() -> None:
    with pytest.raises(RuntimeError, match="diverged"), naiad.init_run(project="defects") as run:
        run["x"] = 1
        run_id = run["sys/id"].fetch()
        raise RuntimeError("loss diverged")
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["sys/state"].fetch() == "failed"
    assert old["sys/failed"].fetch() is True
    assert old["x"].fetch() == 1
    table = naiad.init_project(project="defects", mode="read-only").fetch_runs_table(
        query="`sys/failed`:bool = true").to_pandas()
    assert table["sys/id"].tolist() == [run_id]


def test_fail_on_exception_false_keeps_the_failed_flag_down() -> None:
    with pytest.raises(KeyError), naiad.init_run(project="defects", fail_on_exception=False) as run:
        run_id = run["sys/id"].fetch()
        raise KeyError("x")
    old = naiad.init_run(with_id=run_id, mode="read-only")
    assert old["sys/failed"].fetch() is False


def test_stop_marks_the_run_finished_and_the_running_run_is_running() -> None:
    run = naiad.init_run(project="defects")
    run.wait()
    assert run["sys/state"].fetch() == "running"
    run_id = run["sys/id"].fetch()
    run.stop()
    assert naiad.init_run(with_id=run_id, mode="read-only")["sys/state"].fetch() == "finished"


# ---------------------------------------------------------------------------------------------- runs table


@pytest.fixture
def five_runs() -> list[str]:
    """Five finished runs and one still running in project "defects"; returns the ids in creation order."""
    ids = []
    specs = [
        ("r0", 0.001, ["resnet", "baseline"], [0.5, 0.7, 0.8]),
        ("r1", 0.01, ["resnet"], [0.6, 0.95]),
        ("r2", 0.1, ["vit"], [0.91, 0.92]),
        ("r3", 0.05, ["resnet", "candidate"], [0.7, 0.97]),
        ("r4", 0.2, ["resnet"], [0.3]),
    ]
    for name, lr, tags, accs in specs:
        run = naiad.init_run(project="defects", name=name, tags=tags)
        run["parameters"] = {"lr": lr, "optimizer": {"name": "adam"}}
        run["val/acc"].extend(accs)
        run["train/loss"].append(1.0 - accs[-1])
        ids.append(run["sys/id"].fetch())
        run.stop()
        time.sleep(0.005)  # distinct creation times
    live = naiad.init_run(project="defects", name="live", tags=["resnet"])
    live["parameters/lr"] = 0.3
    live["val/acc"].append(0.99)
    live.wait()
    ids.append(live["sys/id"].fetch())
    return ids


def test_fetch_runs_table_query_and_columns(five_runs: list[str]) -> None:
    project = naiad.init_project(project="defects", mode="read-only")
    df = project.fetch_runs_table(query='last(val/acc) > 0.9 AND sys/tags CONTAINS "resnet"',
                                  columns=["parameters/lr", "val/acc"]).to_pandas()
    assert sorted(df["sys/id"]) == sorted([five_runs[1], five_runs[3], five_runs[5]])
    assert {"sys/id", "parameters/lr", "val/acc"} <= set(df.columns)
    assert "sys/name" not in df.columns and "train/loss" not in df.columns
    by_id = df.set_index("sys/id")
    assert by_id.loc[five_runs[3], "val/acc"] == 0.97  # a series shows its last value
    assert by_id.loc[five_runs[1], "parameters/lr"] == 0.01


def test_fetch_runs_table_pandas_datetimes_match_each_runs_own_fields() -> None:
    # the table converts a datetime column in one go; it must say what each run's own field says
    stamps = [dt.datetime(2026, 11, 27, 10, 38, 14, 123457), dt.datetime(1999, 12, 31, 23, 59, 59, 999999)]
    for i, when in enumerate([*stamps, None]):
        run = naiad.init_run(project="stamps", name=f"r{i}")
        if when is not None:
            run["trained_at"] = when
        run["mixed"] = 1 if i else 2.5  # Integer in some runs, Float in another: pandas makes it float
        run.stop()
    df = naiad.init_project(project="stamps", mode="read-only").fetch_runs_table(
        columns=["trained_at", "mixed", "sys/creation_time", "sys/name"]).to_pandas().set_index("sys/name")
    assert str(df["trained_at"].dtype) == "datetime64[us]" and str(df["sys/creation_time"].dtype) == "datetime64[us]"
    assert df.loc["r0", "trained_at"] == stamps[0] and df.loc["r1", "trained_at"] == stamps[1]
    assert pd.isna(df.loc["r2", "trained_at"])
    for row_id, created in zip(df["sys/id"], df["sys/creation_time"], strict=True):
        own = naiad.init_run(with_id=row_id, mode="read-only")["sys/creation_time"].fetch()
        assert created == own.replace(tzinfo=None)
    assert str(df["mixed"].dtype) == "float64" and df["mixed"].to_dict() == {"r0": 2.5, "r1": 1.0, "r2": 1.0}


def test_fetch_runs_table_namespace_column_takes_every_field_under_it(five_runs: list[str]) -> None:
    project = naiad.init_project(project="defects", mode="read-only")
    df = project.fetch_runs_table(columns=["parameters"]).to_pandas()
    assert {"parameters/lr", "parameters/optimizer/name"} <= set(df.columns)


def test_fetch_runs_table_pandas_columns_are_full_paths_and_tags_are_joined(five_runs: list[str]) -> None:
    project = naiad.init_project(project="defects", mode="read-only")
    df = project.fetch_runs_table().to_pandas()
    assert len(df) == 6
    for col in ("sys/id", "sys/name", "sys/tags", "sys/state", "parameters/lr",
                "parameters/optimizer/name", "val/acc", "train/loss"):
        assert col in df.columns
    row = df.set_index("sys/id").loc[five_runs[0]]
    assert row["sys/tags"] == "baseline,resnet"
    assert row["val/acc"] == 0.8
    assert row["train/loss"] == pytest.approx(0.2)
    assert row["parameters/optimizer/name"] == "adam"
    assert row["sys/name"] == "r0"
    assert row["sys/state"] == "finished"
    # newest first by default
    assert df["sys/id"].tolist() == list(reversed(five_runs))


def test_fetch_runs_table_filters_by_tag_and_state(five_runs: list[str]) -> None:
    project = naiad.init_project(project="defects", mode="read-only")
    tagged = project.fetch_runs_table(tag=["resnet", "candidate"]).to_pandas()
    assert tagged["sys/id"].tolist() == [five_runs[3]]
    one_tag = project.fetch_runs_table(tag="vit").to_pandas()
    assert one_tag["sys/id"].tolist() == [five_runs[2]]
    active = project.fetch_runs_table(state="active").to_pandas()
    assert active["sys/id"].tolist() == [five_runs[5]]
    inactive = project.fetch_runs_table(state="inactive").to_pandas()
    assert sorted(inactive["sys/id"]) == sorted(five_runs[:5])
    by_id = project.fetch_runs_table(id=[five_runs[0], five_runs[2]]).to_pandas()
    assert sorted(by_id["sys/id"]) == sorted([five_runs[0], five_runs[2]])


def test_fetch_runs_table_sort_by_ascending_and_limit(five_runs: list[str]) -> None:
    project = naiad.init_project(project="defects", mode="read-only")
    asc = project.fetch_runs_table(sort_by="parameters/lr", ascending=True,
                                   columns=["parameters/lr"]).to_pandas()
    assert asc["parameters/lr"].tolist() == [0.001, 0.01, 0.05, 0.1, 0.2, 0.3]
    top2 = project.fetch_runs_table(sort_by="val/acc", ascending=False, limit=2,
                                    columns=["val/acc"]).to_pandas()
    assert top2["val/acc"].tolist() == [0.99, 0.97]
    oldest = project.fetch_runs_table(ascending=True, limit=1).to_pandas()
    assert oldest["sys/id"].tolist() == [five_runs[0]]


def test_fetch_runs_table_entries_give_values_by_path(five_runs: list[str]) -> None:
    project = naiad.init_project(project="defects", mode="read-only")
    table = project.fetch_runs_table(tag="vit", columns=["parameters/lr", "sys/tags"])
    rows = list(table)
    assert len(rows) == 1
    assert rows[0]["parameters/lr"].get() == 0.1
    assert rows[0]["sys/tags"].get() == {"vit"}


def test_fetch_runs_table_rejects_a_bad_query_with_its_position(five_runs: list[str]) -> None:
    project = naiad.init_project(project="defects", mode="read-only")
    with pytest.raises(naiad.exceptions.NeptuneInvalidQueryException, match="position"):
        project.fetch_runs_table(query="last(val/acc) >")


def test_empty_table_converts_to_an_empty_dataframe() -> None:
    project = naiad.init_project(project="empty")
    assert project.fetch_runs_table().to_pandas().empty


# ---------------------------------------------------------------------------------------------- more neptune semantics


def test_a_new_run_without_a_name_is_untitled_and_a_single_string_is_one_tag() -> None:
    run = naiad.init_run(project="defects", tags="solo")
    run.wait()
    assert run["sys/name"].fetch() == "Untitled"
    assert run["sys/tags"].fetch() == {"solo"}
    assert run["sys/failed"].fetch() is False
    assert run["sys/owner"].fetch()


def test_assigning_a_string_set_or_a_series_object_replaces_the_old_content() -> None:
    run = naiad.init_run(project="defects", tags=["old1", "old2"])
    run["sys/tags"] = naiad.types.StringSet(["new"])
    run["loss"].extend([1.0, 2.0, 3.0])
    run["loss"] = naiad.types.FloatSeries([9.0, 8.0])
    run["loss"].append(7.0)
    old = reopen(run)
    assert old["sys/tags"].fetch() == {"new"}
    df = old["loss"].fetch_values()
    assert df["value"].tolist() == [9.0, 8.0, 7.0]
    assert df["step"].tolist() == [0.0, 1.0, 2.0]


def test_clear_empties_a_series_and_steps_start_again() -> None:
    run = naiad.init_run(project="defects")
    run["loss"].extend([1.0, 2.0])
    run["loss"].clear()
    run["loss"].append(5.0)
    old = reopen(run)
    df = old["loss"].fetch_values()
    assert df["value"].tolist() == [5.0]
    assert df["step"].tolist() == [0.0]


def test_deleting_a_namespace_with_buffered_points_drops_them() -> None:
    run = naiad.init_run(project="defects", flush_period=60)
    run["ns/loss"].extend([1.0, 2.0])
    run["ns/acc"].append(0.5)
    del run["ns"]
    run["ns/loss"].append(3.0)
    old = reopen(run)
    assert old["ns/loss"].fetch_values()["value"].tolist() == [3.0]
    assert not old.exists("ns/acc")


def test_extend_with_a_dict_extends_each_key() -> None:
    run = naiad.init_run(project="defects")
    run["m"].extend({"a": [1.0, 2.0], "b": [3.0, 4.0]}, steps=[5, 6])
    run.wait()
    assert run["m/a"].fetch_values()["step"].tolist() == [5.0, 6.0]
    assert run["m/b"].fetch_last() == 4.0


def test_assigning_a_handler_copies_its_value() -> None:
    run = naiad.init_run(project="defects")
    run["a"] = 0.25
    run.wait()
    run["b"] = run["a"]
    run.wait()
    assert run["b"].fetch() == 0.25
    assert run["b"].type == "Float"


def test_integers_beyond_2_to_53_are_refused_with_advice() -> None:
    run = naiad.init_run(project="defects")
    with pytest.raises(InvalidValueError, match="str"):
        run["huge"] = 2**60


def test_a_field_handle_has_no_run_methods() -> None:
    run = naiad.init_run(project="defects")
    with pytest.raises(AttributeError, match=r"run\.wait"):
        run["x"].wait()
    with pytest.raises(AttributeError):
        run["x"].no_such_method()


def test_sync_loads_fields_written_by_another_writer_of_the_same_run() -> None:
    first = naiad.init_run(project="defects", custom_run_id="shared")
    second = naiad.init_run(project="defects", custom_run_id="shared")
    first["from_first"] = 1
    first["curve"].extend([0.1, 0.2])
    first.wait()
    assert not second.exists("from_first")
    second.sync()
    assert second.exists("from_first")
    assert second["from_first"].fetch() == 1
    second["curve"].append(0.3)  # steps continue after the other writer's points
    second.wait()
    assert second["curve"].fetch_values()["step"].tolist() == [0.0, 1.0, 2.0]


def test_resume_with_id_of_another_project_is_refused() -> None:
    run = naiad.init_run(project="defects")
    run_id = run["sys/id"].fetch()
    run.stop()
    naiad.init_run(project="other").stop()
    with pytest.raises(naiad.exceptions.RunNotFound):
        naiad.init_run(with_id=run_id, project="other")
    assert naiad.init_run(with_id=run_id, project="defects", mode="read-only")["sys/id"].fetch() == run_id


def test_a_short_project_name_finds_the_workspace_project() -> None:
    run = naiad.init_run(project="acme/defects")
    run_id = run["sys/id"].fetch()
    run.stop()
    project = naiad.init_project(project="defects", mode="read-only")
    assert project.name == "acme/defects"
    assert project.fetch_runs_table().to_pandas()["sys/id"].tolist() == [run_id]


def test_project_fields_are_written_and_read_like_run_fields() -> None:
    project = naiad.init_project(project="defects")
    project["notes/owner"] = "vision team"
    project["baseline/acc"] = 0.91
    project.wait()
    assert project["notes/owner"].fetch() == "vision team"
    project.stop()
    naiad.store._stores.clear()
    again = naiad.init_project(project="defects", mode="read-only")
    assert again["baseline/acc"].fetch() == 0.91
    assert again.key == "DEF"


def test_fetch_runs_table_filters_by_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_OWNER", "alice")
    alice = naiad.init_run(project="defects")
    alice_id = alice["sys/id"].fetch()
    alice.stop()
    monkeypatch.setenv("NAIAD_OWNER", "bob")
    naiad.init_run(project="defects").stop()
    project = naiad.init_project(project="defects", mode="read-only")
    assert project.fetch_runs_table(owner="alice").to_pandas()["sys/id"].tolist() == [alice_id]
    assert len(project.fetch_runs_table(owner=["alice", "bob"])) == 2


def test_fetch_runs_table_query_on_creation_time_and_name() -> None:
    run = naiad.init_run(project="defects", name="resnet-50")
    run_id = run["sys/id"].fetch()
    run.stop()
    naiad.init_run(project="defects", name="vit-b").stop()
    project = naiad.init_project(project="defects", mode="read-only")
    recent = project.fetch_runs_table(query='`sys/creation_time`:datetime > "-1h"')
    assert len(recent) == 2
    matched = project.fetch_runs_table(query=r'`sys/name`:string MATCHES "resnet-\\d+"').to_pandas()
    assert matched["sys/id"].tolist() == [run_id]
    negated = project.fetch_runs_table(query='NOT `sys/name`:string CONTAINS "resnet"').to_pandas()
    assert len(negated) == 1 and negated["sys/id"].tolist() != [run_id]


def test_offline_run_with_a_custom_run_id_syncs(store_uri: str) -> None:
    run = naiad.init_run(project="defects", mode="offline", custom_run_id="offline-custom")
    run["x"] = 1
    run["loss"].extend([0.5, 0.4])
    run.stop()
    store = naiad.store.open_store(store_uri)
    report = naiad.store.recover_oplogs(store, offline=True)
    assert not report.failed, report.failed
    project = naiad.init_project(project="defects", mode="read-only")
    table = project.fetch_runs_table(columns=["x", "loss", "sys/custom_run_id"]).to_pandas()
    assert table["x"].tolist() == [1]
    assert table["loss"].tolist() == [0.4]
    assert table["sys/custom_run_id"].tolist() == ["offline-custom"]


def test_track_files_of_a_single_file_and_download_after_it_is_gone(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("a,b\n")
    run = naiad.init_run(project="defects")
    run["data/labels"].track_files("labels.csv")
    run.wait()
    entries = run["data/labels"].fetch_files_list()
    assert [e.file_path for e in entries] == ["labels.csv"]
    (tmp_path / "labels.csv").unlink()
    with pytest.raises(naiad.exceptions.FileNotFound, match="gone"):
        run["data/labels"].download(str(tmp_path / "restore"))


def test_append_of_a_stringified_value_becomes_a_string_series() -> None:
    run = naiad.init_run(project="defects")
    run["shapes"].append(naiad.utils.stringify_unsupported((3, 224, 224)))
    run["nums"].append(naiad.utils.stringify_unsupported(0.5))
    run.wait()
    assert run["shapes"].fetch_last() == "(3, 224, 224)"
    assert run["nums"].type == "FloatSeries"


def test_long_strings_are_truncated_with_one_warning() -> None:
    run = naiad.init_run(project="defects")
    with pytest.warns(UserWarning, match="truncated"):
        run["config"] = "x" * 70_000
    with pytest.warns(UserWarning, match="truncated"):
        run["log"].append("y" * 20_000)
    run.wait()
    assert len(run["config"].fetch()) == 65_536
    assert len(run["log"].fetch_last()) == 16_384


def test_state_queries_accept_neptune_and_naiad_vocabularies() -> None:
    done = naiad.init_run(project="defects")
    done_id = done["sys/id"].fetch()
    done.stop()
    live = naiad.init_run(project="defects")
    live.wait()
    live_id = live["sys/id"].fetch()
    project = naiad.init_project(project="defects", mode="read-only")
    for query, expected in (
        ('`sys/state`:experimentState = "Active"', [live_id]),
        ('`sys/state`:experimentState = "running"', [live_id]),
        ('`sys/state`:experimentState = "inactive"', [done_id]),
        ('`sys/state`:experimentState = "finished"', [done_id]),
        ('`sys/state`:experimentState != "finished"', [live_id]),
    ):
        assert project.fetch_runs_table(query=query).to_pandas()["sys/id"].tolist() == expected, query


def test_a_snapshot_upload_survives_the_file_being_deleted_before_the_flush(tmp_path: Path) -> None:
    source = tmp_path / "checkpoint.ckpt"
    source.write_bytes(b"epoch 3 weights")
    run = naiad.init_run(project="snap", flush_period=60)  # nothing flushes before run.wait()
    run["model/best"].upload(naiad.File.snapshot(source))
    source.unlink()  # e.g. a checkpoint rotated away right after saving
    run.wait()
    run["model/best"].download(str(tmp_path / "restored.ckpt"))
    assert (tmp_path / "restored.ckpt").read_bytes() == b"epoch 3 weights"
    assert not list((tmp_path / ".naiad-staging").iterdir())
    run.stop()
