"""``naiad export PROJECT DIR``: a whole project as plain files, every one named in a checksum list.

The folder an export writes::

    manifest.json                 format, version, the project (name, key), its containers, counts,
                                  blobs the store did not hold, runs still running when exported
    history.json                  the registry's events and the gate's decisions, in order
    containers/<n>.json           one container: uuid, ids, kind, creation time, every field's type and value
    series/<n>/<m>.npz            a float series of container n (steps, timestamps, values as float64 arrays)
    series/<n>/<m>.json           a string or file series (steps, timestamps, values)
    blobs/<aa>/<sha256>           every file the project's fields refer to, named by its content hash
    SHA256SUMS                    the SHA-256 of every file above (``sha256sum -c SHA256SUMS`` checks it)

It reads through the store protocol only, so it works on any store — embedded, PostgreSQL, or a
``naiad server`` over HTTP — while runs write: each container is read as it is at that moment, runs
made after the export began are not in it, and the manifest lists the runs that were still running.
The registry's state (stages, aliases, policies) and its history are kept consistent: the history is
read before and after the containers, and while they differ the models and versions are read again.
The folder is written beside ``DIR`` and renamed into place when complete, so a folder named ``DIR``
is always a whole export.  :func:`verify_export` checks one against its checksums before any import.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import FileError, IntegrityError, NotFoundError
from naiad.store.base import MODEL, MODEL_VERSION, RUN, FieldValue, SeriesData, Store
from naiad.store.sql.apply import artifact_hash
from naiad.store.sql.blobrefs import hashes_of

FORMAT = "naiad-export"
VERSION = 1
SUMS = "SHA256SUMS"
KINDS = ("project", MODEL, MODEL_VERSION, RUN)
"""Container kinds in the order an import restores them."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as an export or import moves on."""


@dataclass
class ExportReport:
    folder: str
    containers: int = 0
    fields: int = 0
    points: int = 0
    blobs: int = 0
    bytes: int = 0
    missing_blobs: list[dict[str, str]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)


def field_ops(path: str, ftype: str, value: Any, series: SeriesData | None = None) -> list[O.Op]:
    """The ops that write one exported field into a new container, as a client would have."""
    if ftype in F.SERIES:
        assert series is not None
        values = np.asarray(series.values, dtype=np.float64) if ftype == F.FLOAT_SERIES else list(series.values)
        return [(O.POINTS, path, ftype, np.asarray(series.steps, dtype=np.float64),
                 np.asarray(series.timestamps, dtype=np.float64), values)]
    if ftype == F.STRING_SET:
        return [(O.ADD, path, sorted(value or []))]
    if ftype == F.FILE_SET:
        return [(O.FILES, path, dict(value or {}), True)]
    if ftype == F.ARTIFACT:
        files = list((value or {}).get("files", []))
        if (value or {}).get("hash") == artifact_hash(files):
            return [(O.TRACK, path, files, True)]
        return [(O.ASSIGN, path, ftype, value)]  # assigned whole by a client: kept as it is
    return [(O.ASSIGN, path, ftype, value)]


def _json_value(fv: FieldValue) -> Any:
    return sorted(fv.value) if fv.type == F.STRING_SET else fv.value


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class _Writer:
    """Files of one export, each hashed as it is written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sums: dict[str, str] = {}
        self.bytes = 0

    def write(self, rel: str, data: bytes) -> None:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.sums[rel] = hashlib.sha256(data).hexdigest()
        self.bytes += len(data)

    def add_file(self, rel: str, digest: str, size: int) -> None:
        self.sums[rel] = digest
        self.bytes += size


def export_project(store: Store, project: str, folder: str | os.PathLike[str], *,
                   progress: Progress | None = None) -> ExportReport:
    """Write ``project`` of ``store`` into the new folder ``folder`` (see the module text)."""
    dest = Path(folder)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileError(f"{dest} already exists and is not an empty folder; export into a new folder.")
    proj = store.get_project(project)
    work = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        report = _export_into(store, proj.name, work, progress)
        if dest.exists():
            dest.rmdir()
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report.folder = str(dest)
    return report


def _list(store: Store, project: str, kinds: tuple[str, ...]) -> list[str]:
    return [sid for kind in kinds for sid in store.query_table(
        project, kind, columns=["sys/id"], sort_by="sys/creation_time", ascending=True).ids]


def _history(store: Store, project: str) -> dict[str, list[dict[str, Any]]]:
    return {"registry_events": [_event_dict(e) for e in store.registry_events(project)],
            "gate_decisions": [_decision_dict(d) for d in store.gate_decisions(project)]}


def _export_into(store: Store, project: str, root: Path, progress: Progress | None) -> ExportReport:
    proj = store.get_project(project)
    started = time.time()
    out = _Writer(root)
    report = ExportReport(str(root))
    records: dict[str, dict[str, Any]] = {}  # short id → what the manifest lists of it
    blobs: dict[str, dict[tuple[str, str], None]] = {}  # hash → the (container, path) pairs that refer to it
    history = _history(store, proj.name)
    ids = _list(store, proj.name, KINDS)
    for done, short_id in enumerate(ids):
        if progress:
            progress("containers", done, len(ids))
        _export_container(store, short_id, out, records, blobs)
    # the registry moved while containers were read (a stage change, a new version): read its containers
    # and history again until a read of the history before and after them agree
    for _attempt in range(5):
        again = _history(store, proj.name)
        if again == history:
            break
        history = again
        for short_id in _list(store, proj.name, (MODEL, MODEL_VERSION)):
            _export_container(store, short_id, out, records, blobs)
    else:
        raise IntegrityError(f"the registry of project {proj.name!r} kept changing while it was exported "
                             "(stage changes, new versions); export it again when it is quieter.")
    named = {e[k] for e in history["registry_events"] for k in ("model", "version")}
    named |= {d[k] for d in history["gate_decisions"] for k in ("model", "candidate", "baseline") if d[k]}
    for short_id in sorted(named - set(records)):  # made after the listing, named by the history since
        _export_container(store, short_id, out, records, blobs)
    listed = sorted(records.values(), key=lambda r: r["n"])
    report.running = [r["short_id"] for r in listed if r.pop("running")]
    report.fields = sum(r.pop("fields") for r in listed)
    report.points = sum(r.pop("points") for r in listed)
    report.containers = len(listed)
    for done, (digest, users) in enumerate(sorted(blobs.items())):
        if progress:
            progress("files", done, len(blobs))
        if not store.blobs.exists(digest):
            report.missing_blobs += [{"hash": digest, "container": c, "path": p} for c, p in users]
            continue
        owner, path = next(iter(users))
        rel = f"blobs/{digest[:2]}/{digest}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        store.blobs.copy_to(digest, root / rel)
        got, size = _file_hash(root / rel)
        if got != digest:
            raise IntegrityError(f"the store's blob {digest} holds content whose SHA-256 is {got}: the store is "
                                 f"damaged ({owner} {path}); the export was not written.")
        out.add_file(rel, digest, size)
        report.blobs += 1
    events, decisions = history["registry_events"], history["gate_decisions"]
    out.write("history.json", _dumps(history))
    from naiad.version import __version__

    manifest = {
        "format": FORMAT, "version": VERSION, "naiad": __version__, "source": store.location,
        "exported": started, "finished": time.time(),
        "project": {"name": proj.name, "key": proj.key, "created": proj.created},
        "containers": listed, "missing_blobs": report.missing_blobs, "running": report.running,
        "counts": {"containers": report.containers, "fields": report.fields, "points": report.points,
                   "blobs": report.blobs, "registry_events": len(events), "gate_decisions": len(decisions)},
    }
    out.write("manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    (root / SUMS).write_text("".join(f"{h}  {rel}\n" for rel, h in sorted(out.sums.items())))
    report.bytes = out.bytes
    if progress:
        progress("files", len(blobs), len(blobs))
    return report


def _export_container(store: Store, short_id: str, out: _Writer, records: dict[str, dict[str, Any]],
                      blobs: dict[str, dict[tuple[str, str], None]]) -> None:
    """Write one container's file and its series files (again, over an earlier read, if it was read
    before: the same names)."""
    info = store.get_container(short_id=short_id)
    n = records[short_id]["n"] if short_id in records else len(records)
    values = store.read_fields(info.uuid)
    record: dict[str, Any] = {"uuid": info.uuid, "short_id": info.short_id, "kind": info.kind,
                              "custom_run_id": info.custom_run_id, "created": info.created, "fields": {}, "series": {}}
    points = 0
    for m, (path, fv) in enumerate(sorted(values.items())):
        data: SeriesData | None = None
        if fv.type in F.SERIES:
            try:
                data = store.read_series(info.uuid, path)
            except NotFoundError:  # deleted since the fields were read: it is not in the export
                continue
            rel = f"series/{n}/{m}" + (".npz" if fv.type == F.FLOAT_SERIES else ".json")
            out.write(rel, _series_bytes(fv.type, data))
            record["series"][path] = {"type": fv.type, "file": rel, "points": len(data.steps)}
            points += len(data.steps)
        else:
            record["fields"][path] = {"type": fv.type, "value": _json_value(fv)}
        for op in field_ops(path, fv.type, fv.value, data):
            for digest in hashes_of(op):
                blobs.setdefault(digest, {})[(info.short_id, path)] = None
    rel = f"containers/{n}.json"
    out.write(rel, _dumps(record))
    state = values.get("sys/state")
    records[short_id] = {"n": n, "file": rel, "uuid": info.uuid, "short_id": info.short_id, "kind": info.kind,
                         "running": bool(state and state.value == "running"), "fields": len(record["fields"]) +
                         len(record["series"]), "points": points}


def _event_dict(e: Any) -> dict[str, Any]:
    return {"model": e.model, "version": e.version, "kind": e.kind, "name": e.name, "before": e.before,
            "after": e.after, "actor": e.actor, "reason": e.reason, "at": e.at}


def _decision_dict(d: Any) -> dict[str, Any]:
    return {"model": d.model, "candidate": d.candidate, "baseline": d.baseline, "dataset_hash": d.dataset_hash,
            "n": d.n, "verdict": d.verdict, "reason": d.reason, "run": d.run, "details": d.details,
            "actor": d.actor, "actor_role": d.actor_role, "at": d.at}


def _series_bytes(ftype: str, data: SeriesData) -> bytes:
    if ftype == F.FLOAT_SERIES:
        buf = io.BytesIO()
        np.savez(buf, steps=np.asarray(data.steps, dtype="<f8"), timestamps=np.asarray(data.timestamps, dtype="<f8"),
                 values=np.asarray(data.values, dtype="<f8"))
        return buf.getvalue()
    return _dumps({"steps": np.asarray(data.steps).tolist(), "timestamps": np.asarray(data.timestamps).tolist(),
                   "values": list(data.values)})


def load_series(root: Path, entry: dict[str, Any]) -> SeriesData:
    """A series file of a verified export."""
    path = root / entry["file"]
    if entry["type"] == F.FLOAT_SERIES:
        with np.load(path, allow_pickle=False) as npz:
            return SeriesData(npz["steps"], npz["timestamps"], npz["values"])
    raw = json.loads(path.read_bytes())
    return SeriesData(np.asarray(raw["steps"], dtype=np.float64), np.asarray(raw["timestamps"], dtype=np.float64),
                      [str(v) for v in raw["values"]])


def _file_hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


def _sum_lines(root: Path) -> Iterator[tuple[str, str]]:
    sums = root / SUMS
    if not sums.is_file():
        raise FileError(f"{root} is not a naiad export: it has no {SUMS} (make one with `naiad export PROJECT DIR`).")
    for number, line in enumerate(sums.read_text().splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        problem = F.relative_name_problem(rel) if sep else "not '<sha256>  <path>'"
        if problem or len(digest) != 64:
            raise IntegrityError(f"{SUMS} line {number} is damaged ({problem or 'not a SHA-256'}): {line[:120]!r}.")
        yield rel, digest


def verify_export(folder: str | os.PathLike[str], *, progress: Progress | None = None) -> dict[str, Any]:
    """Check every file of an export against ``SHA256SUMS`` (and that nothing is missing or added);
    return its manifest.  Raises :class:`~naiad.errors.IntegrityError` naming the first damaged file."""
    root = Path(folder)
    if not root.is_dir():
        raise FileError(f"{root} is not a folder; give the folder `naiad export` wrote.")
    sums = dict(_sum_lines(root))
    linked = next((p for p in root.rglob("*") if p.is_symlink()), None)
    if linked is not None:
        raise IntegrityError(f"{linked} is a symbolic link; an export holds plain files only.")
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {SUMS}
    extra = sorted(on_disk - set(sums))
    if extra:
        raise IntegrityError(f"{root / extra[0]} is not in {SUMS}: the export was changed after it was written "
                             f"({len(extra)} such file(s)); export the project again.")
    for done, (rel, digest) in enumerate(sorted(sums.items())):
        if progress:
            progress("verifying", done, len(sums))
        if rel not in on_disk:
            raise IntegrityError(f"{root / rel} is missing from the export ({SUMS} lists it); "
                                 "export the project again.")
        got, _ = _file_hash(root / rel)
        if got != digest:
            raise IntegrityError(f"{root / rel} is damaged: its SHA-256 is {got}, {SUMS} says {digest}; "
                                 "export the project again.")
        if rel.startswith("blobs/") and rel.rsplit("/", 1)[-1] != digest:
            raise IntegrityError(f"{root / rel} is not named by its content hash {digest}.")
    try:
        manifest: dict[str, Any] = json.loads((root / "manifest.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{root / 'manifest.json'} cannot be read ({exc}).") from None
    if manifest.get("format") != FORMAT:
        raise FileError(f"{root} holds {manifest.get('format')!r}, not a naiad export.")
    if manifest.get("version") != VERSION:
        raise FileError(f"{root} is a naiad export of format version {manifest.get('version')}; this naiad reads "
                        f"version {VERSION}. Import it with the naiad release that wrote it ({manifest.get('naiad')}).")
    for entry in manifest["containers"]:
        rel = entry.get("file")
        if not isinstance(rel, str) or not re.fullmatch(r"containers/\d+\.json", rel) or rel not in sums:
            raise IntegrityError(f"the manifest lists {entry.get('short_id')!r} in {rel!r}, which is not a "
                                 "container file of the export.")
    if progress:
        progress("verifying", len(sums), len(sums))
    return manifest
