"""Deployment bundles: what the backend team fetches to serve a model version.

``naiad models download DEF-CLS --stage production DEST`` writes::

    DEST/weights/...            the version's weights (a File, a FileSet or a tracked Artifact)
    DEST/inference/...          its inference / preprocessing code (a FileSet)
    DEST/naiad-manifest.json    version, model, stage, aliases, training run, dataset hashes, and the
                                path, size and SHA-256 of every file above

Every file is written into a staging folder and checked against its content hash; only when all are
in do ``weights/`` and ``inference/`` replace what an earlier bundle left there (no stale file
survives), so a bundle on disk is either complete and verified or the download fails.  ``verify_bundle`` checks a
bundle again later (before a deployment, say).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from naiad.core import fields as F
from naiad.errors import FileError, IntegrityError, InvalidValueError
from naiad.store.base import ContainerInfo, Store
from naiad.store.blobs import hash_file
from naiad.version import __version__

MANIFEST = "naiad-manifest.json"
PARTS = ("weights", "inference")
FORMAT = "naiad-model-bundle/1"


def _inside(root: Path, rel: str) -> Path:
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise IntegrityError(f"refusing to write {rel!r}: it points outside {root}.")
    return target


def _write_checked(store: Store, digest: str, size: int, target: Path, source: str | None = None) -> None:
    """Copy blob ``digest`` (or, for an entry never uploaded, the local ``source``) to ``target``,
    checking size and SHA-256 before the file takes its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    try:
        if store.blobs.exists(digest):
            store.blobs.copy_to(digest, tmp)
        elif source and os.path.isfile(source):
            shutil.copyfile(source, tmp)
        else:
            raise FileError(f"the bytes of {target.name} (sha256 {digest[:12]}) are not in the store"
                            + (f" and {source} is gone" if source else "") + "; track it with upload=True "
                            "(or upload it as a File) so a bundle can be fetched anywhere.")
        got, got_size = hash_file(tmp)
        if got != digest or got_size != size:
            raise IntegrityError(f"{target.name}: content hash {got[:12]}… ({got_size} B) differs from the "
                                 f"recorded {digest[:12]}… ({size} B); nothing was written.")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _files_of(ftype: str, value: Any, prefix: str) -> list[tuple[str, str, int, str | None]]:
    """``(relative path, sha256, size, local source)`` of every file a File/FileSet/Artifact field holds."""
    if ftype == F.FILE:
        name = value.get("name") or (prefix + (f".{value['ext']}" if value.get("ext") else ""))
        return [(f"{prefix}/{os.path.basename(name)}", value["hash"], int(value["size"]), None)]
    if ftype == F.FILE_SET:
        return [(f"{prefix}/{name}", ref["hash"], int(ref["size"]), None)
                for name, ref in sorted((value or {}).items())]
    if ftype == F.ARTIFACT:
        out = []
        for e in (value or {}).get("files", []):
            src = e.get("metadata", {}).get("file_path", "")
            src = src[len("file://"):] if src.startswith("file://") else None
            out.append((f"{prefix}/{e['file_path']}", e["file_hash"], int(e["size"]), src))
        return out
    raise InvalidValueError(f"'{prefix}' is a {ftype}; a bundle takes File, FileSet or Artifact fields.")


def download_bundle(store: Store, info: ContainerInfo, destination: Path) -> dict[str, Any]:
    """Write the bundle of model version ``info`` into ``destination``; returns the manifest."""
    values = store.read_fields(info.uuid)
    if "weights" not in values and "inference" not in values:
        raise InvalidValueError(f"{info.short_id} has no 'weights' and no 'inference' field: nothing to deploy. "
                                "Register it with naiad.register_model_version(run, weights=...).")
    destination.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".naiad-bundle-", dir=destination))
    files = []
    try:
        for field in PARTS:
            fv = values.get(field)
            if fv is None:
                continue
            for rel, digest, size, source in _files_of(fv.type, fv.value, field):
                _write_checked(store, digest, size, _inside(staging, rel), source)
                files.append({"path": rel, "sha256": digest, "size": size})
        # every file is in and checked: replace what an earlier bundle left (no stale file survives)
        (destination / MANIFEST).unlink(missing_ok=True)
        for part in PARTS:
            old = destination / part
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
            if (staging / part).exists():
                os.replace(staging / part, old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    def atom(path: str) -> Any:
        fv = values.get(path)
        return None if fv is None else fv.value

    datasets = {p[len("datasets/"):]: {"hash": fv.value["hash"], "files": len(fv.value.get("files", [])),
                                       "size": sum(int(e["size"]) for e in fv.value.get("files", []))}
                for p, fv in sorted(values.items()) if p.startswith("datasets/") and fv.type == F.ARTIFACT}
    manifest = {
        "format": FORMAT,
        "version": info.short_id,
        "model": atom("sys/model_id"),
        "project": info.project,
        "name": atom("sys/name"),
        "stage": atom("sys/stage"),
        "aliases": sorted(atom("sys/aliases") or []),
        "run": atom("run/id"),
        "created": _iso(info.created),
        "downloaded": _iso(_dt.datetime.now(tz=_dt.timezone.utc).timestamp()),
        "store": store.location,
        "naiad": __version__,
        "datasets": datasets,
        "files": files,
    }
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def verify_bundle(destination: str | os.PathLike[str]) -> list[str]:
    """Check a bundle on disk against its manifest; returns the problems found (empty: all good)."""
    root = Path(destination)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise FileError(f"{root} has no {MANIFEST}; it is not a bundle `naiad models download` wrote.") from None
    except json.JSONDecodeError as exc:
        raise FileError(f"{root / MANIFEST} is not valid JSON ({exc}).") from None
    problems = []
    listed = {entry["path"] for entry in manifest.get("files", [])}
    for part in PARTS:
        for extra in sorted(p for p in (root / part).rglob("*") if p.is_file() or p.is_symlink()):
            rel = extra.relative_to(root).as_posix()
            if rel not in listed:
                problems.append(f"{rel}: not in the manifest")
    for entry in manifest.get("files", []):
        path = root / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
            continue
        digest, size = hash_file(path)
        if digest != entry["sha256"] or size != entry["size"]:
            problems.append(f"{entry['path']}: content differs (sha256 {digest[:12]}…, expected "
                            f"{entry['sha256'][:12]}…)")
    return problems


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).isoformat(timespec="seconds")
