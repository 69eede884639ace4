"""What the upgrade test writes with an older naiad and reads back with this one (tests/test_upgrade.py).

Run under *either* version: it uses only the SDK and the store interface both have.  ``write`` fills a
store (``NAIAD_URI``: a folder or ``postgresql://…`` with ``NAIAD_BLOBS``) with a bit of everything —
runs with parameters, float and string series, files, a dataset version; a model with versions, stages,
an alias and a policy — and ``snapshot`` reads every value back as JSON.

    python tests/upgrade_kit.py write           # into NAIAD_URI
    python tests/upgrade_kit.py snapshot OUT    # every value of NAIAD_URI's store, to OUT (JSON)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

PROJECT = "upgrade"
QUIET = {"capture_stdout": False, "capture_stderr": False, "capture_hardware_metrics": False, "source_files": [],
         "capture_environment": False, "git_ref": False}


def write() -> None:
    import platform

    # what the runs record of the machine that wrote them: made up, so that the fixture names none
    platform.node = lambda: "trainer-host"
    os.environ["LOGNAME"] = os.environ["USER"] = "trainer"
    import naiad
    from naiad import File

    data = Path(tempfile.gettempdir()) / "naiad-upgrade-data" / "train.csv"  # the path is kept: no machine's
    data.parent.mkdir(exist_ok=True)
    data.write_text("x,y\n1,2\n3,4\n")
    for n in range(2):
        run = naiad.init_run(project=PROJECT, name=f"run {n}", tags=["upgrade", f"n{n}"], **QUIET)
        run["params"] = {"lr": 0.01 * (n + 1), "layers": 3 + n, "optimizer": "adam", "augment": n == 0}
        run["started"] = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
        run["train/loss"].extend([1.0 / (i + 1) for i in range(300)])
        run["train/log"].extend([f"epoch {i}" for i in range(5)])
        run["weights"].upload(File.from_content(f"weights of run {n}".encode(), extension="bin"))
        run["datasets/train"].track_files(str(data))
        run["sys/tags"].add("tracked")
        run.stop()
    model = naiad.init_model(project=PROJECT, key="UPG")
    model["about"] = "the model the upgrade must keep"
    model_id = model["sys/id"].fetch()
    model.stop()
    for n, stage in enumerate(("production", "staging")):
        version = naiad.init_model_version(model=model_id, project=PROJECT)
        version["val/acc"] = 0.9 + n / 100
        version["model"].upload(File.from_content(f"model v{n}".encode(), extension="pt"))
        version.change_stage(stage)
        version.stop()


def _json(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def snapshot() -> dict[str, Any]:
    """Every field of every container of the project (series whole), and the registry's history."""
    from naiad.store import open_store

    store = open_store(os.environ["NAIAD_URI"])
    out: dict[str, Any] = {}
    for kind in ("run", "model", "model_version"):
        table = store.query_table(PROJECT, kind)
        for short_id in table.ids:
            info = store.get_container(short_id=short_id)
            uuid = info.uuid
            fields = {}
            for path, value in sorted(store.read_fields(uuid).items()):
                if path in ("sys/ping_time", "sys/modification_time"):
                    continue  # a reader may touch these
                fields[path] = {"type": value.type, "value": _json(value.value)}
                if value.type in ("FloatSeries", "StringSeries"):
                    series = store.read_series(uuid, path)
                    fields[path]["steps"] = _json(series.steps)
                    fields[path]["values"] = _json(series.values)
            out[f"{kind} {info.short_id}"] = fields
    out["registry events"] = [
        {"model": e.model, "version": e.version, "kind": e.kind, "name": e.name, "before": e.before,
         "after": e.after} for e in store.registry_events(PROJECT)]
    return out


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write()
    else:
        Path(sys.argv[2]).write_text(json.dumps(snapshot(), indent=1, sort_keys=True))
