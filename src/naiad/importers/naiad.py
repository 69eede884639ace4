"""``naiad import naiad DIR``: restore a project from the folder ``naiad export`` wrote.

The export is checked against its checksums before anything is written.  Containers keep their uuids
and ids (``PRJ-7`` stays ``PRJ-7``, so links and ``init_run(with_id=...)`` keep working), their creation
times, owners, stages, aliases and policies; the registry's history and the gate's decisions keep their
actors and times.  What a client may write goes through the store's normal write path; the rest is
restored by the SQL store's restore primitives (:mod:`naiad.store.sql.restore`), which is why the target
is a store's database (a folder, ``sqlite:``, ``postgresql://``), not a server.  Each container is one
transaction: an import cut short is run again and adds what is missing.  At the end every field and
every series point is read back and compared with the export.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.errors import ConfigError, IntegrityError
from naiad.importers.base import ImportReport
from naiad.importers.export import KINDS, Progress, field_ops, load_series, verify_export
from naiad.store.base import Store
from naiad.store.sql import SqlStore
from naiad.store.sql.restore import PROTECTED


@dataclass
class NaiadImportReport(ImportReport):
    project: str = ""
    blobs_added: int = 0
    blobs_present: int = 0
    registry_events: int = 0
    gate_decisions: int = 0
    fields_checked: int = 0
    points_checked: int = 0


def import_naiad(store: Store, folder: str | os.PathLike[str], *, project: str | None = None,
                 progress: Progress | None = None) -> NaiadImportReport:
    """Restore the export in ``folder`` into ``store`` (as project ``project``, default its own name)."""
    if not isinstance(store, SqlStore):
        raise ConfigError(
            f"{store.location} is a server: an import restores ids, owners and the registry's history, which only "
            "the store itself writes. Run `naiad import naiad DIR --uri <the server's store>` (its folder or "
            "postgresql://… URI) on a machine that reaches its database.")
    root = Path(folder)
    manifest = verify_export(root, progress=progress)
    meta = manifest["project"]
    target = store.restore_project(project or meta["name"], meta["key"], float(meta["created"]))
    report = NaiadImportReport(project=target.name)
    exported = {c["uuid"] for c in manifest["containers"]}
    foreign = store.project_uuids(target) - exported
    if foreign:
        raise ConfigError(f"project {target.name!r} in {store.location} already holds {len(foreign)} run(s) or "
                          "model(s) that are not from this export; import into a store without it (the export's "
                          f"ids carry the project key {target.key}).")
    _put_blobs(store, root, report, progress)
    records = [_load_record(root, c) for c in manifest["containers"]]
    records.sort(key=lambda r: (KINDS.index(r["kind"]) if r["kind"] in KINDS else len(KINDS), r["created"]))
    for done, record in enumerate(records):
        if progress:
            progress("containers", done, len(records))
        ops, protected = _container_writes(root, record)
        label = f"{record['short_id']} ({record['kind']})"
        if store.restore_container(target, record, ops, protected):
            report.imported.append(label)
        else:
            report.skipped.append(f"{label} (imported before)")
    history: dict[str, Any] = _read_json(root / "history.json")
    report.registry_events, report.gate_decisions = store.restore_history(
        target, history["registry_events"], history["gate_decisions"])
    for missing in manifest.get("missing_blobs", []):
        report.problems.append(f"{missing['container']} '{missing['path']}': file {missing['hash'][:16]}… was not "
                               "in the exported store either; the field refers to it, its bytes are not here")
    for done, record in enumerate(records):
        if progress:
            progress("checking", done, len(records))
        _check(store, root, record, report)
    _check_history(store, target.name, history)
    if progress:
        progress("checking", len(records), len(records))
    return report


def _read_json(path: Path) -> Any:
    import json

    return json.loads(path.read_bytes())


def _load_record(root: Path, entry: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = _read_json(root / entry["file"])
    if record.get("uuid") != entry["uuid"] or record.get("short_id") != entry["short_id"]:
        raise IntegrityError(f"{entry['file']} describes {record.get('short_id')!r}, the manifest says "
                             f"{entry['short_id']!r}; the export is inconsistent.")
    n = entry["file"].split("/")[1].split(".")[0]
    for path, series in record["series"].items():  # only the export's own series files are read
        if not re.fullmatch(rf"series/{n}/\d+\.(npz|json)", str(series.get("file"))) \
                or not (root / series["file"]).is_file():
            raise IntegrityError(f"{entry['file']}: series '{path}' names {str(series.get('file'))[:120]!r}, "
                                 "which is not a series file of this container in the export.")
    return record


def _put_blobs(store: SqlStore, root: Path, report: NaiadImportReport, progress: Progress | None) -> None:
    files = sorted(p for p in (root / "blobs").rglob("*") if p.is_file()) if (root / "blobs").is_dir() else []
    for done, path in enumerate(files):
        if progress:
            progress("files", done, len(files))
        if store.blobs.exists(path.name):
            report.blobs_present += 1
            continue
        digest, _ = store.blobs.put_file(path)
        if digest != path.name:
            raise IntegrityError(f"{path} changed while it was imported (its SHA-256 is now {digest}).")
        report.blobs_added += 1


def _container_writes(root: Path, record: dict[str, Any]) -> tuple[list[Any], dict[str, tuple[str, Any]]]:
    ops: list[Any] = []
    protected: dict[str, tuple[str, Any]] = {}
    for path, entry in sorted(record["fields"].items()):
        if path in PROTECTED:
            protected[path] = (entry["type"], entry["value"])
        else:
            ops += field_ops(path, entry["type"], entry["value"])
    for path, entry in sorted(record["series"].items()):
        data = load_series(root, entry)
        if len(data.steps) != entry["points"]:
            raise IntegrityError(f"{entry['file']} holds {len(data.steps)} points, the export says {entry['points']}.")
        ops += field_ops(path, entry["type"], None, data)
    return ops, protected


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, set) or isinstance(b, set):
        return sorted(a or []) == sorted(b or [])
    return bool(a == b)


def _check(store: Store, root: Path, record: dict[str, Any], report: NaiadImportReport) -> None:
    """Read the container back and compare every field and every point with the export."""
    info = store.get_container(uuid=record["uuid"])
    if info.short_id != record["short_id"]:
        raise IntegrityError(f"{record['short_id']} was imported as {info.short_id}.")
    stored = store.read_fields(info.uuid)
    want = {**record["fields"], **record["series"]}
    for path in sorted(set(want) | set(stored)):
        if path not in want or path not in stored:
            raise IntegrityError(f"{info.short_id} '{path}' is {'not ' if path in want else ''}in the imported "
                                 f"container but {'' if path in want else 'not '}in the export.")
        entry, fv = want[path], stored[path]
        if fv.type != entry["type"]:
            raise IntegrityError(f"{info.short_id} '{path}' was imported as {fv.type}, exported as {entry['type']}; "
                                 f"{_AGAIN}")
        report.fields_checked += 1
        if path in record["series"]:
            expected = load_series(root, entry)
            got = store.read_series(info.uuid, path)
            if not (np.array_equal(got.steps, expected.steps) and np.array_equal(got.timestamps, expected.timestamps)
                    and _values_equal(entry["type"], got.values, expected.values)):
                raise IntegrityError(f"{info.short_id} '{path}': the imported points differ from the export; {_AGAIN}")
            report.points_checked += len(got.steps)
        elif fv.value is None and isinstance(entry["value"], float) and math.isnan(entry["value"]):
            report.problems.append(f"{info.short_id} '{path}': NaN is stored as no value here (SQLite keeps no NaN)")
        elif not _same(fv.value, entry["value"]) and not (path == "sys/state" and entry["value"] == "running"):
            # a run exported while it ran and silent since reads as crashed: its stored state is the export's
            raise IntegrityError(f"{info.short_id} '{path}' was imported as {str(fv.value)[:80]!r}, exported as "
                                 f"{str(entry['value'])[:80]!r}; {_AGAIN}")


def _check_history(store: Store, project: str, history: dict[str, Any]) -> None:
    events = {(e.model, e.version, e.kind, e.name, e.before, e.after, e.actor, e.reason, e.at)
              for e in store.registry_events(project)}
    decisions = {(d.model, d.candidate, d.baseline, d.verdict, d.actor, d.at) for d in store.gate_decisions(project)}
    for e in history["registry_events"]:
        if (e["model"], e["version"], e["kind"], e["name"], e["before"], e["after"], e["actor"], e["reason"],
                float(e["at"])) not in events:
            raise IntegrityError(f"the registry event '{e['kind']} {e['version']} {e['before']} → {e['after']}' of the "
                                 f"export is not in project {project!r} after the import; {_AGAIN}")
    for d in history["gate_decisions"]:
        if (d["model"], d["candidate"], d["baseline"], d["verdict"], d["actor"], float(d["at"])) not in decisions:
            raise IntegrityError(f"the gate decision on {d['candidate']} of the export is not in project {project!r} "
                                 f"after the import; {_AGAIN}")


_AGAIN = ("the target changed during the import, or the store does not keep what it was given: import into a new "
          "store, and report it if it happens again.")


def _values_equal(ftype: str, got: Any, want: Any) -> bool:
    if ftype == F.FLOAT_SERIES:
        return bool(np.array_equal(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64),
                                   equal_nan=True))
    return list(got) == list(want)
