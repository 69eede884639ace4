"""`naiad import neptune`: Parquet exports in neptune-exporter's schema, built here with pyarrow."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import naiad
from naiad.importers.neptune import import_neptune
from naiad.store import open_store

SCHEMA = pa.schema([
    ("project_id", pa.string()),
    ("run_id", pa.string()),
    ("attribute_path", pa.string()),
    ("attribute_type", pa.string()),
    ("step", pa.decimal128(18, 6)),
    ("timestamp", pa.timestamp("ms", tz="UTC")),
    ("int_value", pa.int64()),
    ("float_value", pa.float64()),
    ("string_value", pa.string()),
    ("bool_value", pa.bool_()),
    ("datetime_value", pa.timestamp("ms", tz="UTC")),
    ("string_set_value", pa.list_(pa.string())),
    ("file_value", pa.struct([("path", pa.string())])),
    ("histogram_value", pa.struct([("type", pa.string()), ("edges", pa.list_(pa.float64())),
                                   ("values", pa.list_(pa.float64()))])),
])

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
LONG = "deep/" + "x" * 1000


def row(run: str, path: str, kind: str, **values: object) -> dict[str, object]:
    base: dict[str, object] = {name: None for name in SCHEMA.names}
    base.update(project_id="team/defects", run_id=run, attribute_path=path, attribute_type=kind)
    base.update(values)
    return base


def write_export(root: Path) -> tuple[Path, Path]:
    data = root / "data" / "team_defects_ab12"
    files = root / "files" / "team_defects_ab12"
    (files / "CLS-1").mkdir(parents=True)
    (files / "CLS-1" / "weights.bin").write_bytes(b"\x00weights" * 100)
    (files / "CLS-1" / "sample_0.png").write_bytes(b"\x89PNG fake 0")
    (files / "CLS-1" / "sample_1.png").write_bytes(b"\x89PNG fake 1")
    data.mkdir(parents=True)
    run1 = [
        row("CLS-1", "sys/id", "string", string_value="CLS-1"),
        row("CLS-1", "sys/name", "string", string_value="resnet-baseline"),
        row("CLS-1", "sys/creation_time", "datetime", datetime_value=T0),
        row("CLS-1", "sys/tags", "string_set", string_set_value=["resnet", "baseline"]),
        row("CLS-1", "sys/forking/parent", "string", string_value="CLS-0"),
        row("CLS-1", "params/lr", "float", float_value=0.001),
        row("CLS-1", "params/epochs", "int", int_value=30),
        row("CLS-1", "params/optimizer", "string", string_value="adam"),
        row("CLS-1", "params/augment", "bool", bool_value=True),
        row("CLS-1", LONG, "float", float_value=1.5),
        row("CLS-1", "model/weights", "file", file_value={"path": "CLS-1/weights.bin"}),
        row("CLS-1", "model/missing", "file", file_value={"path": "CLS-1/nope.bin"}),
    ]
    for i in range(6):  # decimal steps, written out of order across the two parts
        run1.append(row("CLS-1", "train/loss", "float_series", step=Decimal(i) / 2,
                        timestamp=T0 + dt.timedelta(seconds=i), float_value=1.0 / (i + 1)))
        run1.append(row("CLS-1", "train/log", "string_series", step=Decimal(i),
                        timestamp=T0 + dt.timedelta(seconds=i), string_value=f"epoch {i}"))
    run1.append(row("CLS-1", "weights/hist", "histogram_series", step=Decimal(0), timestamp=T0,
                    histogram_value={"type": "COUNTING", "edges": [0.0, 1.0, 2.0], "values": [3.0, 4.0]}))
    for i in range(2):
        run1.append(row("CLS-1", "eval/samples", "file_series", step=Decimal(i), timestamp=T0,
                        file_value={"path": f"CLS-1/sample_{i}.png"}))
    half = len(run1) // 2
    pq.write_table(pa.Table.from_pylist(run1[half:], schema=SCHEMA), data / "CLS-1_part_1.parquet")
    pq.write_table(pa.Table.from_pylist(run1[:half], schema=SCHEMA), data / "CLS-1_part_0.parquet")
    run2 = [row("CLS-2", "params/lr", "float", float_value=0.01),
            row("CLS-2", "train/loss", "float_series", step=Decimal("0.000001"), timestamp=T0, float_value=0.7)]
    pq.write_table(pa.Table.from_pylist(run2, schema=SCHEMA), data / "CLS-2_part_0.parquet")
    return root / "data", root / "files"


def test_an_export_is_imported_without_loss(tmp_path: Path) -> None:
    data, files = write_export(tmp_path / "export")
    store = open_store(str(tmp_path / ".naiad"))
    report = import_neptune(store, data, files)
    assert len(report.imported) == 2
    assert any("model/missing" in p and "missing" in p for p in report.problems)

    table = naiad.init_project(project="team/defects", mode="read-only").fetch_runs_table(
        query='sys/custom_run_id = "neptune/CLS-1"')
    run = naiad.init_run(with_id=table.to_pandas()["sys/id"].iloc[0], mode="read-only")
    assert run["params/lr"].fetch() == 0.001 and run["params/epochs"].fetch() == 30
    assert run["params/optimizer"].fetch() == "adam" and run["params/augment"].fetch() is True
    assert run["sys/name"].fetch() == "resnet-baseline"
    assert run["sys/tags"].fetch() == {"resnet", "baseline"}
    assert run["sys/creation_time"].fetch() == T0
    assert run["neptune/sys/id"].fetch() == "CLS-1"
    assert run["neptune/sys/forking/parent"].fetch() == "CLS-0"
    assert run[LONG].fetch() == 1.5
    loss = run["train/loss"].fetch_values()
    assert loss["step"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert loss["value"].tolist() == [1.0 / (i + 1) for i in range(6)]
    assert run["train/log"].fetch_values()["value"].tolist() == [f"epoch {i}" for i in range(6)]
    hist = json.loads(run["weights/hist"].fetch_last())
    assert hist == {"type": "COUNTING", "edges": [0.0, 1.0, 2.0], "values": [3.0, 4.0]}
    run["model/weights"].download(str(tmp_path / "weights.bin"))
    assert (tmp_path / "weights.bin").read_bytes() == b"\x00weights" * 100
    run["eval/samples"].download(str(tmp_path / "samples"))
    assert (tmp_path / "samples" / "1.png").read_bytes() == b"\x89PNG fake 1"
    assert run["sys/state"].fetch() == "finished"


def test_importing_twice_changes_nothing(tmp_path: Path) -> None:
    data, files = write_export(tmp_path / "export")
    store = open_store(str(tmp_path / ".naiad"))
    first = import_neptune(store, data, files)
    second = import_neptune(store, data, files)
    assert len(first.imported) == 2 and second.imported == [] and len(second.skipped) == 2
    project = naiad.init_project(project="team/defects", mode="read-only")
    assert len(project.fetch_runs_table()) == 2
    run = naiad.init_run(with_id=project.fetch_runs_table(
        query='sys/custom_run_id = "neptune/CLS-1"').to_pandas()["sys/id"].iloc[0], mode="read-only")
    assert len(run["train/loss"].fetch_values()) == 6


def test_the_cli_shows_what_it_imported_and_what_it_could_not_map(tmp_path: Path) -> None:
    data, files = write_export(tmp_path / "export")
    env = {"NAIAD_URI": str(tmp_path / ".naiad"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "naiad", "import", "neptune", str(data), "--files-path",
                           str(files), "--project", "migrated"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2 run(s) imported" in proc.stdout
    assert "could not map" in proc.stderr and "nope.bin" in proc.stderr
    assert len(naiad.init_project(project="migrated", mode="read-only").fetch_runs_table()) == 2


def test_a_folder_without_exports_is_a_clear_error(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / ".naiad"))
    with pytest.raises(naiad.errors.FileError, match="not a folder"):
        import_neptune(store, tmp_path / "nothing-here")
