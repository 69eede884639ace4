"""The datasets view: every dataset version a project has seen, who used it and how, and diffs.

A dataset version is the manifest an Artifact field holds (``run["datasets/train"].track_files(...)``),
named by its hash.  The same version used by several runs and model versions is one row of
:func:`versions_frame`; :func:`uses_frame` lists each use with its *role*, read from the field path
(``datasets/train`` → train, ``data/val`` → validation, ``eval/holdout`` → test, ``monitoring/prod_sample``
→ production sample; anything else keeps its path as the role).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from naiad.core import fields as F
from naiad.errors import InvalidValueError, MissingFieldError, NotFoundError
from naiad.store.base import MODEL_VERSION, RUN, DatasetUse, Store

if TYPE_CHECKING:
    import pandas as pd

_ROLE_WORDS = {
    "train": "train", "training": "train", "trainset": "train",
    "val": "validation", "valid": "validation", "validation": "validation", "dev": "validation",
    "test": "test", "testing": "test", "testset": "test", "eval": "test", "evaluation": "test", "holdout": "test",
    "production": "production sample", "prod": "production sample", "live": "production sample",
}
ROLES = ("train", "validation", "test", "production sample")


def role_of(path: str) -> str:
    """The role a dataset plays, read from its field path (last recognised word wins).

    >>> role_of("datasets/train"), role_of("data/val_images"), role_of("monitoring/prod_sample")
    ('train', 'validation', 'production sample')
    >>> role_of("features")
    'features'
    """
    for part in reversed(path.split("/")):
        for word in reversed(re.split(r"[_\-.\s]+", part.lower())):
            if word in _ROLE_WORDS:
                return _ROLE_WORDS[word]
    return path


def uses_frame(uses: list[DatasetUse]) -> pd.DataFrame:
    """One row per use: hash, container, kind, path, role, files, size, created (UTC)."""
    import pandas as pd

    return pd.DataFrame({
        "hash": [u.hash for u in uses],
        "container": [u.container for u in uses],
        "kind": [u.kind for u in uses],
        "path": [u.path for u in uses],
        "role": [role_of(u.path) for u in uses],
        "files": [u.files for u in uses],
        "size": [u.size for u in uses],
        "created": pd.to_datetime([u.created for u in uses], unit="s", utc=True),
    }, columns=["hash", "container", "kind", "path", "role", "files", "size", "created"])


def versions_frame(uses: list[DatasetUse]) -> pd.DataFrame:
    """One row per dataset version, oldest first: hash, files, size, first_seen (the creation time of
    the first run or model version that used it), roles, runs, model_versions (ids joined by ", ")."""
    import pandas as pd

    rows: dict[str, dict[str, Any]] = {}
    for u in uses:
        row = rows.setdefault(u.hash, {"hash": u.hash, "files": u.files, "size": u.size, "first_seen": u.created,
                                       "roles": set(), "runs": [], "model_versions": []})
        row["first_seen"] = min(row["first_seen"], u.created)
        row["roles"].add(role_of(u.path))
        target = row["runs"] if u.kind == RUN else row["model_versions"] if u.kind == MODEL_VERSION else None
        if target is not None and u.container not in target:
            target.append(u.container)
    ordered = sorted(rows.values(), key=lambda r: (r["first_seen"], r["hash"]))
    return pd.DataFrame({
        "hash": [r["hash"] for r in ordered],
        "files": [r["files"] for r in ordered],
        "size": [r["size"] for r in ordered],
        "first_seen": pd.to_datetime([r["first_seen"] for r in ordered], unit="s", utc=True),
        "roles": [", ".join(sorted(r["roles"])) for r in ordered],
        "runs": [", ".join(r["runs"]) for r in ordered],
        "model_versions": [", ".join(r["model_versions"]) for r in ordered],
    }, columns=["hash", "files", "size", "first_seen", "roles", "runs", "model_versions"])


@dataclass
class DatasetDiff:
    """What changed from dataset version ``a`` to ``b``, file by file (by path; a file is changed when
    its content hash or size differs)."""

    a: str
    b: str
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_pandas(self) -> pd.DataFrame:
        """One row per difference: change (added/removed/changed), path, size_a, size_b, hash_a, hash_b."""
        import pandas as pd

        rows = [("added", e["file_path"], None, e["size"], None, e["file_hash"]) for e in self.added]
        rows += [("removed", e["file_path"], e["size"], None, e["file_hash"], None) for e in self.removed]
        rows += [("changed", o["file_path"], o["size"], n["size"], o["file_hash"], n["file_hash"])
                 for o, n in self.changed]
        rows.sort(key=lambda r: (r[1], r[0]))
        return pd.DataFrame(rows, columns=["change", "path", "size_a", "size_b", "hash_a", "hash_b"])


def diff_manifests(a: list[dict[str, Any]], b: list[dict[str, Any]], *, name_a: str = "a",
                   name_b: str = "b") -> DatasetDiff:
    old = {e["file_path"]: e for e in a}
    new = {e["file_path"]: e for e in b}
    out = DatasetDiff(name_a, name_b)
    for path in sorted(old.keys() | new.keys()):
        o, n = old.get(path), new.get(path)
        if o is None:
            out.added.append(n)  # type: ignore[arg-type]
        elif n is None:
            out.removed.append(o)
        elif o["file_hash"] != n["file_hash"] or o["size"] != n["size"]:
            out.changed.append((o, n))
        else:
            out.unchanged += 1
    return out


def resolve(store: Store, project: str, ref: str) -> tuple[str, list[dict[str, Any]]]:
    """``(hash, manifest)`` of a dataset version named by a hash (or a unique prefix of ≥ 4 hex digits)
    or by ``CONTAINER-ID:field/path`` (``DEF-12:datasets/train``)."""
    ref = ref.strip()
    if ":" in ref:
        short_id, _, path = ref.partition(":")
        info = store.get_container(short_id=short_id, project=project)
        fv = store.read_fields(info.uuid, [F.normalize_path(path)]).get(F.normalize_path(path))
        if fv is None or fv.type != F.ARTIFACT:
            raise MissingFieldError(f"{short_id} has no tracked dataset at {path!r}.")
        return str(fv.value["hash"]), list(fv.value.get("files", []))
    prefix = ref.lower()
    if not re.fullmatch(r"[0-9a-f]{4,64}", prefix):
        raise InvalidValueError(f"{ref!r} names no dataset version: give its hash (at least 4 hex digits, as "
                                "`naiad datasets ls` shows) or RUN-ID:field/path, e.g. DEF-12:datasets/train.")
    hashes = sorted({u.hash for u in store.dataset_uses(project, prefix)})
    if not hashes:
        raise NotFoundError(f"no dataset version {ref} in project {project!r}; list them with "
                            f"`naiad datasets ls --project {project}`.")
    if len(hashes) > 1:
        raise InvalidValueError(f"{ref} matches {len(hashes)} dataset versions ({', '.join(h[:12] for h in hashes[:5])}"
                                f"{'…' if len(hashes) > 5 else ''}); give more digits.")
    return hashes[0], store.dataset_manifest(project, hashes[0])
