"""``run["a/b"]``: a handle on one path of a container, with the neptune 1.x field methods.

A handle is cheap and unchecked; the field type is decided by the first write.  Writes validate and
buffer on the calling thread and return; reads go to the store (after flushing this process's
pending writes, so a run reads its own writes).
"""

from __future__ import annotations

import argparse
import math
import os
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.fields import warn_once
from naiad.core.journal import ATOM_KIND_OF, POINT, RECORD
from naiad.errors import (
    FieldTypeError,
    FileError,
    IntegrityError,
    InvalidValueError,
)
from naiad.tracking import values as T
from naiad.tracking.files import (
    check_readable,
    check_s3_location,
    download_s3_entry,
    is_s3,
    s3_client,
    to_file,
)
from naiad.tracking.writer import TRACK_FILES, UPLOAD, UPLOAD_FILES

if TYPE_CHECKING:
    import pandas as pd

    from naiad.tracking.fieldtree import FieldTree

_NUMBER_TYPES = (int, float)
_FAST_ATOMS = {float: F.FLOAT, int: F.INTEGER, str: F.STRING, bool: F.BOOLEAN}
_NUMBERS = (float, int, bool)  # the atoms a journal record holds (text goes to the side records)
_INF = (math.inf, -math.inf)
_RECORD = RECORD.pack
_POINT = POINT


@dataclass
class ArtifactFileData:
    """One line of an artifact manifest (``fetch_files_list()``)."""

    file_path: str
    file_hash: str
    type: str
    size: int
    metadata: dict[str, str]


@dataclass
class FileEntry:
    """One entry of ``list_fileset_files()``."""

    name: str
    size: int | None
    mtime: Any
    file_type: str




def _assign_fast(c: Any, path: str, value: Any) -> bool:
    """The hot path of an assignment: a plain float/int/str/bool into a field of that type (or a new
    path) of a started container — one journal record; False when the value or the field needs the
    careful path (``FieldTree._assign``)."""
    ftype = _FAST_ATOMS.get(type(value))
    writer = c._fast_writer
    if ftype is None or writer is None:
        return False
    existing = c._types.get(path)
    if not ((existing == ftype or existing is None) and path not in F.READ_ONLY_SYS and (
            (ftype == F.FLOAT and value - value == 0.0)
            or (ftype == F.INTEGER and -F.MAX_EXACT_INT <= value <= F.MAX_EXACT_INT)
            or (ftype == F.STRING and len(value) <= F.MAX_STRING_LENGTH and value.isascii()
                and "\x00" not in value)
            or ftype == F.BOOLEAN)):
        return False
    if existing is None:
        c._define(path, ftype)
    if ftype == F.STRING:  # text goes to the journal's side file
        writer.submit((O.ASSIGN, path, ftype, value))
        return True
    journal = writer.journal
    index = journal.names.get(path)
    if index is None:
        index = journal.name_index(path)
    record = _RECORD(0.0, 0.0, float(value), index, ATOM_KIND_OF[ftype])
    try:
        journal.mm.write(record)  # one C call: atomic, no lock (see naiad.core.journal)
    except ValueError:
        c._journal_append(record)
    return True


class Handler:
    """A path of a container: ``run["train/loss"]``."""

    __slots__ = ("_container", "_path")

    def __init__(self, container: FieldTree, path: str) -> None:
        self._container = container
        self._path = path

    # ------------------------------------------------------------------ navigation
    def __getitem__(self, key: str) -> Handler:
        return self._container[F.join_path(self._path, key)]

    def __setitem__(self, key: str, value: Any) -> None:
        self[key].assign(value)

    def __delitem__(self, key: str) -> None:
        self[key].pop()

    def __repr__(self) -> str:
        ftype = self._container._types.get(self._path)
        if ftype is None and self._path in self._container._namespaces:
            ftype = "Namespace"
        return f'<{ftype or "Unassigned"} field at "{self._path}">'

    @property
    def container(self) -> Any:
        """The run, model, model version or project this field belongs to."""
        return self._container

    def get_root_object(self) -> Any:
        """The run, model, model version or project this field belongs to (neptune 1.x)."""
        return self._container

    @property
    def type(self) -> str | None:
        """The field's type name (``"FloatSeries"``…), or None if nothing is there."""
        return self._container._types.get(self._path)

    def __getattr__(self, name: str) -> Any:
        if name in ("exists", "get_structure", "print_structure", "stop", "sync", "wait"):
            raise AttributeError(f"'{name}' is a method of the run, not of a field: use "
                                 f"run.{name}() or handler.get_root_object().{name}().")
        raise AttributeError(f"a field handle has no attribute '{name}'")

    # ------------------------------------------------------------------ writes
    def assign(self, value: Any, *, wait: bool = False) -> None:
        """Set the value: ``run["lr"].assign(0.01)``; a dict assigns a whole namespace."""
        c = self._container
        if not wait and _assign_fast(c, self._path, value):
            return
        c._check_writable()
        if isinstance(value, argparse.Namespace):
            value = vars(value)
        elif isinstance(value, T.Namespace):
            value = value.value
        if isinstance(value, Mapping):
            leaves = F.flatten(value, self._path)
            writer = c._fast_writer
            if writer is not None and not wait and len(leaves) > 1:  # the new names in one write
                names = writer.journal.names
                writer.journal.name_indexes([p for p, leaf in leaves if type(leaf) in _NUMBERS and p not in names])
            for path, leaf in leaves:
                # each plain leaf takes the hot path too (a dict of 1M parameters: ~1M journal records,
                # not ~1M writes to the side file)
                if wait or not _assign_fast(c, path, leaf):
                    c._assign(path, leaf.fetch() if isinstance(leaf, Handler) else leaf)
        else:
            c._assign(self._path, value.fetch() if isinstance(value, Handler) else value)
        if wait:
            c.wait()

    def append(self, value: Any, step: float | None = None, timestamp: float | None = None, *,
               wait: bool = False, **kwargs: Any) -> None:
        """Append one point: ``run["loss"].append(0.3)`` (step defaults to the last step + 1)."""
        c = self._container
        st = c._series.get(self._path)
        if st is not None and type(value) is float and st.is_float and (
                timestamp is None or type(timestamp) in _NUMBER_TYPES):
            # the hot path: a float into an existing float series
            if value != value or value in _INF:
                c._skip_non_finite(self._path, value)
                return
            last = st.last_step
            if step is None:
                step = last + 1.0
                if step == -math.inf:  # first point after clear()
                    step = 0.0
            elif type(step) not in _NUMBER_TYPES or step <= last:
                checked = c._check_step(self._path, step, last)
                if checked is None:  # a step not above the last: dropped, warned once, counted
                    if wait:
                        c.wait()
                    return
                step = checked
            st.last_step = step
            if timestamp is None:
                timestamp = time.time()
            record = _RECORD(step, timestamp, value, st.index, _POINT)
            mm = st.journal.mm
            try:
                mm.write(record)  # one C call: atomic, no lock; once it returns a SIGKILL loses nothing
            except ValueError:  # the segment is full (the next one is mapped), or the run is stopped
                c._journal_append(record)
            else:
                if not mm.tell() & 0x3FFFF:  # every 8,192 records: make sure the logger is not starved
                    c._writer_overdue()
            if wait:
                c.wait()
            return
        c._append_slow(self._path, value, step, timestamp, kwargs)
        if wait:
            c.wait()

    log = append

    def extend(self, values: Any, steps: Any = None, timestamps: Any = None, *, wait: bool = False,
               **kwargs: Any) -> None:
        """Append many points at once: ``run["loss"].extend([0.5, 0.4], steps=[1, 2])``."""
        c = self._container
        c._check_writable()
        if isinstance(values, Mapping):
            for key, sub in values.items():
                self[str(key)].extend(sub, steps=steps, timestamps=timestamps, **kwargs)
            if wait:
                c.wait()
            return
        c._extend(self._path, values, steps, timestamps)
        if wait:
            c.wait()

    def add(self, values: str | Any, *, wait: bool = False) -> None:
        """Add tags / members: ``run["sys/tags"].add(["best", "resnet"])``."""
        c = self._container
        c._check_writable()
        members = c._set_values(self._path, values)
        c._define(self._path, F.STRING_SET)
        c._submit((O.ADD, self._path, members))
        if wait:
            c.wait()

    def remove(self, values: str | Any, *, wait: bool = False) -> None:
        c = self._container
        c._check_writable()
        members = c._set_values(self._path, values)
        c._require(self._path, (F.STRING_SET,), "remove")
        c._submit((O.REMOVE, self._path, members))
        if wait:
            c.wait()

    def clear(self, *, wait: bool = False) -> None:
        """Empty a string set or a series (the field and its type stay)."""
        c = self._container
        c._check_writable()
        c._require(self._path, (F.STRING_SET, *F.SERIES), "clear")
        st = c._series.get(self._path)
        if st is not None:
            st.last_step = -math.inf
        c._submit((O.CLEAR, self._path))
        if wait:
            c.wait()

    def pop(self, path: str | None = None, *, wait: bool = False) -> None:
        """Delete this field, or every field under this namespace."""
        target = self if path is None else self[path]
        target._container._delete(target._path)
        if wait:
            self._container.wait()

    def upload(self, value: Any, *, wait: bool = False, **kwargs: Any) -> None:
        """Store a file: a path, bytes, a file object, a figure, a PIL image, a DataFrame, a File."""
        c = self._container
        c._check_writable()
        file = to_file(value, **kwargs)
        check_readable(file)
        c._define(self._path, F.FILE)
        c._submit((UPLOAD, self._path, file))
        if wait:
            c.wait()

    def upload_files(self, value: str | Any, *, wait: bool = False) -> None:
        """Add files matching glob patterns (folders recursively) to a FileSet."""
        self._upload_files(value, reset=False, wait=wait)

    def _upload_files(self, value: Any, *, reset: bool, wait: bool) -> None:
        c = self._container
        c._check_writable()
        patterns = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        globs = [os.path.abspath(os.fspath(p)) for p in patterns]
        c._define(self._path, F.FILE_SET)
        c._submit((UPLOAD_FILES, self._path, globs, reset))
        if wait:
            c.wait()

    def delete_files(self, paths: str | Any, *, wait: bool = False) -> None:
        c = self._container
        c._check_writable()
        c._require(self._path, (F.FILE_SET,), "delete_files")
        names = [paths] if isinstance(paths, str) else list(paths)
        c._submit((O.DELETE_FILES, self._path, names))
        if wait:
            c.wait()

    def track_files(self, path: str | os.PathLike[str], *, destination: str | None = None,
                    wait: bool = False, upload: bool = False) -> None:
        """Record a dataset version: every file's path, size and content hash (a local file or folder, or
        an ``s3://`` prefix).  Nothing is copied unless ``upload=True``: then the bytes go into naiad's
        blob store too (each content once), so ``download()`` gets this exact version back anywhere."""
        c = self._container
        c._check_writable()
        location = os.fspath(path)
        if not location:
            raise FileError("track_files() needs a file or folder path; got an empty string.")
        if any(ch in location for ch in "*?["):
            raise FileError(f"track_files({location!r}): wildcards are not supported; give a folder.")
        if is_s3(location):
            # only cheap checks here; the listing talks to the network and runs in the writer thread
            check_s3_location(location)
            c._define(self._path, F.ARTIFACT)
            c._submit((TRACK_FILES, self._path, location, destination, False, bool(upload)))
            if wait:
                c.wait()
            return
        local = location[len("file://"):] if location.startswith("file://") else location
        if not os.path.exists(local):
            raise FileError(f"cannot track {location!r}: no such file or folder.")
        c._define(self._path, F.ARTIFACT)
        c._submit((TRACK_FILES, self._path, os.path.abspath(local), destination, False, bool(upload)))
        if wait:
            c.wait()

    # ------------------------------------------------------------------ reads
    def fetch(self) -> Any:
        """The value of an atom (float, int, bool, str, datetime), a set, or a dict for a namespace."""
        c = self._container
        ftype = c._read_type(self._path)
        if ftype is None:
            return c._fetch_namespace(self._path)
        if ftype in F.SERIES:
            raise FieldTypeError(f"'{self._path}' is a {ftype}; use fetch_last() or fetch_values().")
        if ftype in (F.FILE, F.FILE_SET):
            raise FieldTypeError(f"'{self._path}' is a {ftype}; use download().")
        value = c._read_values([self._path])[self._path]
        if ftype == F.ARTIFACT:
            return T.Artifact(value.value["hash"] if value.value else None)
        return c._python_value(value.type, value.value)

    def fetch_last(self) -> Any:
        c = self._container
        c._require_read(self._path, (F.FLOAT_SERIES, F.STRING_SERIES), "fetch_last")
        return c._read_values([self._path])[self._path].value

    def fetch_values(self, *, include_timestamp: bool = True, progress_bar: Any = None) -> pd.DataFrame:
        """Every point as a DataFrame with columns ``step``, ``value`` and ``timestamp``."""
        import pandas as pd

        c = self._container
        c._require_read(self._path, (F.FLOAT_SERIES, F.STRING_SERIES), "fetch_values")
        data = c._store_read().read_series(c._uuid, self._path)
        frame: dict[str, Any] = {"step": data.steps, "value": data.values}
        if include_timestamp:
            # neptune returns naive local-time timestamps
            local = pd.to_datetime(data.timestamps, unit="s", utc=True).tz_convert(_local_tz())
            frame["timestamp"] = local.tz_localize(None)
        return pd.DataFrame(frame)

    def fetch_hash(self) -> str:
        c = self._container
        c._require_read(self._path, (F.ARTIFACT,), "fetch_hash")
        return str(c._read_values([self._path])[self._path].value["hash"])

    def fetch_files_list(self) -> list[ArtifactFileData]:
        c = self._container
        c._require_read(self._path, (F.ARTIFACT,), "fetch_files_list")
        value = c._read_values([self._path])[self._path].value
        return [ArtifactFileData(e["file_path"], e["file_hash"], e["type"], e["size"], e["metadata"])
                for e in value.get("files", [])]

    def fetch_extension(self) -> str:
        c = self._container
        c._require_read(self._path, (F.FILE,), "fetch_extension")
        return str(c._read_values([self._path])[self._path].value["ext"])

    def list_fileset_files(self, path: str | None = None) -> list[FileEntry]:
        import datetime as dt

        c = self._container
        c._require_read(self._path, (F.FILE_SET,), "list_fileset_files")
        files: dict[str, Any] = c._read_values([self._path])[self._path].value or {}
        prefix = (path.strip("/") + "/") if path and path.strip("/") else ""
        entries: dict[str, FileEntry] = {}
        for name, ref in files.items():
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            head, sep, _ = rest.partition("/")
            if sep:
                entries.setdefault(head, FileEntry(head, None, None, "directory"))
            else:
                mtime = dt.datetime.fromtimestamp(ref.get("mtime", 0), tz=dt.timezone.utc)
                entries[head] = FileEntry(head, ref["size"], mtime, "file")
        return sorted(entries.values(), key=lambda e: e.name)

    def download(self, destination: str | None = None, progress_bar: Any = None) -> None:
        """Write a File / FileSet (zip) / FileSeries / Artifact to ``destination``."""
        c = self._container
        ftype = c._require_read(self._path, (F.FILE, F.FILE_SET, F.FILE_SERIES, F.ARTIFACT), "download")
        store = c._store_read()
        last = self._path.rsplit("/", 1)[-1]
        if ftype == F.FILE:
            ref = c._read_values([self._path])[self._path].value
            name = last + (f".{_safe_ext(ref.get('ext'))}" if ref.get("ext") else "")
            target = _target(destination, name)
            store.blobs.copy_to(ref["hash"], target)
        elif ftype == F.FILE_SET:
            files = c._read_values([self._path])[self._path].value or {}
            bad = {name: problem for name in files if (problem := F.relative_name_problem(name))}
            if bad:  # checked before anything is written
                name, problem = next(iter(bad.items()))
                raise FileError(f"'{self._path}' holds {len(bad)} file name(s) a zip must not carry, e.g. {name!r}: "
                                f"{problem}. Nothing was written.")
            target = _target(destination, f"{last}.zip")
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, ref in sorted(files.items()):
                    with store.blobs.open(ref["hash"]) as src, zf.open(name, "w") as out:
                        while block := src.read(1 << 20):
                            out.write(block)
        elif ftype == F.FILE_SERIES:
            import json

            folder = destination or os.path.join("naiad", last)
            os.makedirs(folder, exist_ok=True)
            data = store.read_series(c._uuid, self._path)
            for i, raw in enumerate(data.values):
                ref = json.loads(str(raw))
                store.blobs.copy_to(ref["hash"], os.path.join(folder, f"{i}.{_safe_ext(ref.get('ext') or 'bin')}"))
        else:
            value = c._read_values([self._path])[self._path].value
            _download_artifact(value.get("files", []), destination or ".", store.blobs)

    def download_last(self, destination: str | None = None) -> None:
        import json

        c = self._container
        c._require_read(self._path, (F.FILE_SERIES,), "download_last")
        last = c._read_values([self._path])[self._path].value
        if last is None:
            raise InvalidValueError(f"'{self._path}' has no files yet; nothing to download.")
        ref = json.loads(last)
        name = self._path.rsplit("/", 1)[-1] + f".{_safe_ext(ref.get('ext') or 'bin')}"
        c._store_read().blobs.copy_to(ref["hash"], _target(destination, name))


def _local_tz() -> Any:
    import datetime as dt

    return dt.datetime.now().astimezone().tzinfo


def _safe_ext(ext: Any) -> str:
    if not F.is_extension(ext):
        raise FileError(f"the stored file extension {str(ext)[:80]!r} could name a folder; refusing to download it "
                        "(it was written before naiad checked extensions). Nothing was written.")
    return str(ext)


def _target(destination: str | None, default_name: str) -> str:
    """Where a download named ``default_name`` goes: ``destination`` itself (a file path), or
    ``default_name`` inside it (a folder) or in the working directory — never outside that folder."""
    if (not default_name or default_name in (".", "..") or "/" in default_name or "\\" in default_name
            or not default_name.isprintable()):
        raise FileError(f"refusing to write a file named {default_name!r}: it is not a plain file name. "
                        "Nothing was written.")
    if destination is None:
        return default_name
    if os.path.isdir(destination):
        return os.path.join(destination, default_name)
    parent = os.path.dirname(destination)
    if parent:
        os.makedirs(parent, exist_ok=True)
    return destination


def _download_artifact(entries: list[dict[str, Any]], destination: str, blobs: Any) -> None:
    """Recreate a tracked folder: entries tracked with ``upload=True`` are copied from the blob store
    (their hash checked), other local entries are linked to their original files (as neptune does),
    other S3 entries are downloaded with boto3 (their size checked)."""
    from naiad.store.blobs import hash_file

    client = None
    root = os.path.abspath(destination)
    for e in entries:
        target = os.path.join(destination, e["file_path"])
        if not os.path.abspath(target).startswith(root + os.sep):
            raise FileError(f"refusing to write {e['file_path']!r}: it points outside {destination}.")
        stored = e.get("metadata", {}).get("blob")
        if stored:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            partial = target + ".naiad-partial"
            blobs.copy_to(stored, partial)
            if hash_file(partial)[0] != stored:
                os.unlink(partial)
                raise IntegrityError(f"{e['file_path']}: the stored bytes do not match their hash {stored[:12]}…; "
                                     "the blob store is damaged.")
            if os.path.lexists(target):
                os.unlink(target)
            os.replace(partial, target)
            continue
        if e.get("type") == "S3":
            if client is None:
                client = s3_client()
            download_s3_entry(client, e, target)
            continue
        source = e["metadata"].get("file_path", "")
        source = source[len("file://"):] if source.startswith("file://") else source
        if not os.path.exists(source):
            raise FileError(f"tracked file {source!r} is gone from its original location; an artifact "
                            "records files without copying them.")
        if hash_file(source)[0] != e["file_hash"]:
            warn_once(f"{source} changed since it was tracked (hash differs); linking it anyway.")
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)
        os.symlink(source, target)


__all__ = ["ArtifactFileData", "FileEntry", "Handler"]
