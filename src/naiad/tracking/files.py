"""Files as field values: the ``File`` helper (neptune's ``neptune.types.File``), conversions of
figures / images / DataFrames, FileSet globs, and artifact manifests (``track_files``).

A :class:`File` is either a local path (read by the writer thread, not by the caller) or bytes
produced at call time (a figure rendered to PNG, a DataFrame to HTML).
"""

from __future__ import annotations

import datetime as _dt
import glob
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.core.fields import warn_once
from naiad.errors import FileError, InvalidValueError


class File:
    """A file to upload: ``File("model.pt")``, ``File.from_content(b"...")``, ``File.as_image(fig)``.

    >>> File.from_content("hello", extension="txt").extension
    'txt'
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, content: bytes | None = None,
                 extension: str | None = None, name: str | None = None, delete_after_upload: bool = False) -> None:
        if (path is None) == (content is None):
            raise InvalidValueError("give a File either a path or content (not both, not neither).")
        self.path = None if path is None else os.path.abspath(os.fspath(path))
        self.content = content
        if extension is None:
            suffix = Path(self.path).suffix if self.path else ""
            extension = suffix[1:] if suffix else ("bin" if content is not None else "")
            if not F.is_extension(extension):
                warn_once(f"{self.path}: its suffix {extension!r} is no file extension naiad keeps (letters, digits, "
                          "'_', '+', '-'); it is stored with extension 'bin', under its own name.")
                extension = "bin"
        self.extension = F.check_extension(extension)
        self.name = name
        self.delete_after_upload = delete_after_upload  # a private snapshot (hard link) of a file

    def __repr__(self) -> str:
        what = self.path if self.path else f"{len(self.content or b'')} bytes"
        return f"File({what!r}, extension={self.extension!r})"

    @classmethod
    def snapshot(cls, path: str | os.PathLike[str], *, extension: str | None = None) -> File:
        """The file as it is now, even if it is changed or deleted before the writer reads it.

        A hard link beside the file (instant, no copy) when the file system allows it, the bytes
        otherwise; the link is removed once the file is in the store.
        """
        import uuid

        source = os.path.abspath(os.fspath(path))
        name = os.path.basename(source)
        ext = extension if extension is not None else (os.path.splitext(name)[1][1:] or "bin")
        staging = os.path.join(os.path.dirname(source), ".naiad-staging")
        try:
            os.makedirs(staging, exist_ok=True)
            link = os.path.join(staging, f"{uuid.uuid4().hex}-{name}")
            os.link(source, link)
            return cls(link, extension=ext, name=name, delete_after_upload=True)
        except OSError:
            with open(source, "rb") as fh:
                return cls(content=fh.read(), extension=ext, name=name)

    @property
    def file_type(self) -> str:
        return "local" if self.path else "in_memory"

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, extension: str | None = None) -> File:
        return cls(path, extension=extension)

    @classmethod
    def from_content(cls, content: str | bytes, *, extension: str | None = None) -> File:
        if isinstance(content, str):
            return cls(content=content.encode(), extension=extension or "txt")
        return cls(content=bytes(content), extension=extension or "bin")

    @classmethod
    def from_stream(cls, stream: Any, *, seek: int | None = 0, extension: str | None = None) -> File:
        if seek is not None and getattr(stream, "seekable", lambda: False)():
            stream.seek(seek)
        data = stream.read()
        if isinstance(data, str):
            return cls(content=data.encode(), extension=extension or "txt")
        return cls(content=bytes(data), extension=extension or "bin")

    @classmethod
    def as_image(cls, image: Any, autoscale: bool = True) -> File:
        return cls(content=image_to_png(image, autoscale), extension="png")

    @classmethod
    def as_html(cls, chart: Any, **kwargs: Any) -> File:
        return cls(content=to_html(chart, **kwargs).encode(), extension="html")

    @classmethod
    def as_pickle(cls, obj: Any) -> File:
        return cls(content=pickle.dumps(obj), extension="pkl")


def _module_of(value: Any) -> str:
    return type(value).__module__ or ""


def is_figure_like(value: Any) -> bool:
    mod = _module_of(value)
    return mod.startswith(("matplotlib", "PIL", "plotly", "seaborn", "altair", "bokeh"))


def image_to_png(image: Any, autoscale: bool = True) -> bytes:
    mod = _module_of(image)
    if mod.startswith("matplotlib") or mod.startswith("seaborn"):
        fig = getattr(image, "figure", None) or getattr(image, "fig", None) or image
        if hasattr(fig, "get_figure") and not hasattr(fig, "savefig"):
            fig = fig.get_figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
    if mod.startswith("PIL"):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        raise
    arr = image
    if hasattr(arr, "detach"):
        arr = arr.detach().cpu().numpy()
    elif hasattr(arr, "numpy") and not isinstance(arr, np.ndarray):
        arr = arr.numpy()
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidValueError(
            f"an image array must be 2-D (grey) or H×W×3/4 (RGB/RGBA); got shape {arr.shape}.")
    if autoscale and arr.size and arr.min() >= 0 and arr.max() <= 1 and arr.dtype.kind == "f":
        arr = arr * 255
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    try:
        from PIL import Image
    except ImportError:
        raise InvalidValueError("saving a numpy array as an image needs Pillow: pip install pillow") from None
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def to_html(chart: Any, **kwargs: Any) -> str:
    mod = _module_of(chart)
    if mod.startswith("pandas"):
        return str(chart.to_html(**kwargs))
    if mod.startswith("plotly"):
        buf = io.StringIO()
        chart.write_html(buf, include_plotlyjs=kwargs.get("include_plotlyjs", True))
        return buf.getvalue()
    if hasattr(chart, "to_html"):
        return str(chart.to_html())
    if mod.startswith(("matplotlib", "seaborn")):
        import base64

        png = base64.b64encode(image_to_png(chart)).decode()
        return f'<html><body><img src="data:image/png;base64,{png}"/></body></html>'
    raise InvalidValueError(f"cannot turn a {type(chart).__name__} into HTML.")


def to_file(value: Any, **kwargs: Any) -> File:
    """What ``upload`` accepts: a path, a File, bytes, a file object, a figure, an image, a DataFrame."""
    if isinstance(value, File):
        return value
    if isinstance(value, (str, os.PathLike)):
        return File(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return File(content=bytes(value), extension="bin")
    if hasattr(value, "read"):
        return File.from_stream(value)
    mod = _module_of(value)
    if mod.startswith(("plotly", "altair", "bokeh")):
        return File.as_html(value, **kwargs)
    if mod.startswith(("matplotlib", "PIL", "seaborn")):
        return File.as_image(value)
    if mod.startswith("pandas") and hasattr(value, "to_html"):
        return File.as_html(value)
    raise InvalidValueError(
        f"upload() cannot take a {type(value).__name__}. Give a file path, bytes, a file object, a "
        "figure or image, or wrap it: File.as_image(array), File.as_html(df), File.as_pickle(obj).")


def check_readable(file: File) -> None:
    if file.path is not None and not os.path.isfile(file.path):
        raise FileError(f"cannot upload {file.path!r}: no such file. Check the path (relative paths "
                        f"are taken from the working directory {os.getcwd()!r}).")


def expand_globs(patterns: list[str], *, common_root: bool = False) -> dict[str, str]:
    """Map stored name → absolute path for FileSet globs (directories walked recursively).

    Names are relative to the common root of the matches, or to the working directory when the
    matches lie inside it (unless ``common_root``: then always to the common root).
    """
    found: list[str] = []
    for pattern in patterns:
        matches = glob.glob(os.path.abspath(pattern), recursive=True)
        for m in matches:
            if os.path.isdir(m):
                for dirpath, _dirs, names in os.walk(m):
                    found.extend(os.path.join(dirpath, n) for n in names)
            elif os.path.isfile(m):
                found.append(m)
    if not found:
        return {}
    cwd = os.getcwd()
    root = os.path.commonpath([os.path.dirname(f) for f in found])
    if not common_root and (root == cwd or root.startswith(cwd + os.sep)):
        root = cwd
    return {F.clean_text(os.path.relpath(f, root).replace(os.sep, "/"), "a file name"): f for f in sorted(set(found))}


@dataclass
class ManifestEntry:
    file_path: str
    file_hash: str
    type: str
    size: int
    metadata: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"file_path": self.file_path, "file_hash": self.file_hash, "type": self.type,
                "size": self.size, "metadata": self.metadata}


def local_manifest(location: str, destination: str | None) -> list[dict[str, Any]]:
    """Manifest of a local file or folder: one entry per file, hashed (SHA-256), nothing copied."""
    path = location[len("file://"):] if location.startswith("file://") else location
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise FileError(f"cannot track {location!r}: no such file or folder.")
    if os.path.isdir(path):
        files = sorted(os.path.join(d, n) for d, _s, names in os.walk(path) for n in names)
        rels = [os.path.relpath(f, path).replace(os.sep, "/") for f in files]
    else:
        files, rels = [path], [os.path.basename(path)]
    from naiad.tracking.hashcache import hash_files

    try:
        hashes, _report = hash_files(files)
    except OSError as exc:
        raise FileError(f"cannot track {location!r}: {exc.strerror or exc} ({getattr(exc, 'filename', '')}).") from exc
    out = []
    for full, rel, (digest, size) in zip(files, rels, hashes, strict=True):
        mtime = _dt.datetime.fromtimestamp(os.path.getmtime(full), tz=_dt.timezone.utc)
        name = F.clean_text(f"{destination.strip('/')}/{rel}" if destination else rel, "a tracked file's name")
        out.append(ManifestEntry(name, digest, "Local", size, {
            "file_path": F.clean_text(f"file://{full}", "a tracked file's name"),
            "last_modified": mtime.strftime("%Y-%m-%d %H:%M:%S"),
        }).to_json())
    return out


# ---------------------------------------------------------------- s3:// artifacts
#
# Only the URI shape and the boto3 import are checked on the caller's thread (``check_s3_location``);
# listing the objects talks to the network and runs in the writer thread (``s3_manifest``), like local
# hashing.  Credentials come from boto3's own chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, instance roles…);
# the endpoint of a non-AWS store from ``NAIAD_S3_ENDPOINT_URL`` (or neptune's ``S3_ENDPOINT_URL``).

S3_SCHEME = "s3://"
_CREDENTIAL_VARS = "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, or AWS_PROFILE)"
_DENIED = frozenset({"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                     "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "403", "401"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def is_s3(location: str) -> bool:
    return location.startswith(S3_SCHEME)


def parse_s3_uri(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")``; FileError for any other shape.

    >>> parse_s3_uri("s3://data/train/")
    ('data', 'train/')
    """
    rest = location[len(S3_SCHEME):] if is_s3(location) else ""
    bucket, _, key = rest.partition("/")
    if not bucket or any(ch.isspace() or ch in "\\:" for ch in bucket):
        raise FileError(f"{location!r} is not an S3 location; write it as s3://bucket or s3://bucket/prefix.")
    return bucket, key


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise FileError("tracking or downloading s3:// locations needs boto3: pip install 'naiad[s3]'") from None
    return boto3


def check_s3_location(location: str) -> None:
    """The call-site checks of ``track_files("s3://…")``: the URI's shape and an importable boto3."""
    parse_s3_uri(location)
    _boto3()


def _endpoint() -> str | None:
    return SETTINGS.s3_endpoint_url.get() or None


def _where() -> str:
    endpoint = _endpoint()
    return (f"endpoint {endpoint} (NAIAD_S3_ENDPOINT_URL or S3_ENDPOINT_URL)" if endpoint
            else "AWS (set NAIAD_S3_ENDPOINT_URL for another S3-compatible store)")


def s3_client() -> Any:
    """A fresh S3 client (its own boto3 session: safe off the main thread) at the configured endpoint."""
    return _boto3().session.Session().client("s3", endpoint_url=_endpoint())


def s3_error(exc: BaseException, location: str, doing: str) -> FileError:
    """Turn a boto3 / botocore failure into a FileError saying which location and what to check."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError

    what = f"cannot {doing} {location}"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return FileError(f"{what}: no usable S3 credentials ({exc}). Set {_CREDENTIAL_VARS}; store: {_where()}.")
    if isinstance(exc, EndpointConnectionError):
        return FileError(f"{what}: the S3 endpoint cannot be reached ({exc}). Check NAIAD_S3_ENDPOINT_URL "
                         "(or S3_ENDPOINT_URL) and the network.")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        detail = error.get("Message") or code
        if code == "NoSuchBucket":
            bucket = parse_s3_uri(location)[0]
            return FileError(f"{what}: bucket {bucket!r} does not exist at {_where()}. Check the bucket name "
                             "and the endpoint.")
        if code in _DENIED:
            return FileError(f"{what}: access denied ({code}: {detail}). Check {_CREDENTIAL_VARS}, the "
                             f"permissions they grant on that bucket, and the store: {_where()}.")
        if code in _MISSING:
            return FileError(f"{what}: no such object at {_where()}; an artifact records where files are "
                             "without copying them, so the object must still exist.")
        return FileError(f"{what}: {code}: {detail} (store: {_where()}).")
    return FileError(f"{what}: {exc} (store: {_where()}).")


def _s3_entry(bucket: str, obj: dict[str, Any], name: str, destination: str | None) -> dict[str, Any]:
    modified = obj["LastModified"]
    if isinstance(modified, _dt.datetime):
        if modified.tzinfo is not None:
            modified = modified.astimezone(_dt.timezone.utc)
        stamp = modified.strftime("%Y-%m-%d %H:%M:%S")
    else:  # pragma: no cover - botocore always parses timestamps
        stamp = str(modified)
    return ManifestEntry(
        f"{destination.strip('/')}/{name}" if destination else name,
        str(obj.get("ETag", "")).strip('"'), "S3", int(obj.get("Size", 0)),
        {"location": f"{S3_SCHEME}{bucket}/{obj['Key']}", "last_modified": stamp},
    ).to_json()


def s3_manifest(location: str, destination: str | None) -> list[dict[str, Any]]:
    """Manifest of an S3 object or of every object under a prefix, nothing copied (runs in the writer).

    ``s3://b/data/train`` takes the object ``data/train`` itself, if there is one (named by its basename),
    and every object under ``data/train/`` (named relative to it), but not ``data/train2/…``.  The listing
    is paginated, so any number of objects works.  Hashes are the objects' ETags.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3_uri(location)
    out: list[dict[str, Any]] = []
    try:
        client = s3_client()
        folder = key
        if key and not key.endswith("/"):
            folder = key + "/"
            # the shortest key starting with `key` sorts first: it is `key` itself when that object exists
            first = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
            if first and first[0]["Key"] == key:
                out.append(_s3_entry(bucket, first[0], key.rsplit("/", 1)[-1], destination))
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(folder):]
                if rel and not rel.endswith("/"):  # "dir/" keys are folder markers, not files
                    out.append(_s3_entry(bucket, obj, rel, destination))
    except (BotoCoreError, ClientError) as exc:
        raise s3_error(exc, location, "track") from None
    if not out:
        raise FileError(f"cannot track {location}: no objects there (bucket {bucket!r}, prefix {key!r}, store: "
                        f"{_where()}). Check the path; an artifact needs at least one object.")
    return out


def download_s3_entry(client: Any, entry: dict[str, Any], target: str) -> None:
    """Download one ``S3`` manifest entry to ``target`` (folders created), checking its size."""
    from botocore.exceptions import BotoCoreError, ClientError

    location = str(entry["metadata"].get("location", ""))
    bucket, key = parse_s3_uri(location)
    os.makedirs(os.path.dirname(os.path.abspath(target)) or ".", exist_ok=True)
    partial = f"{target}.naiad-partial"
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        etag = str(response.get("ETag", "")).strip('"')
        with open(partial, "wb") as out:
            for block in response["Body"].iter_chunks(1 << 20):
                out.write(block)
    except (BotoCoreError, ClientError) as exc:
        _remove(partial)
        raise s3_error(exc, location, "download") from None
    except BaseException:
        _remove(partial)
        raise
    size = os.path.getsize(partial)
    if size != entry["size"]:
        _remove(partial)
        raise FileError(f"downloading {location} gave {size} bytes, but {entry['size']} were tracked: the object "
                        "changed since it was tracked or the transfer broke off. Track it again, or retry.")
    if etag and etag != entry["file_hash"]:
        warn_once(f"{location} changed since it was tracked (ETag differs); downloaded the current version.")
    if os.path.lexists(target) and not os.path.isdir(target):
        os.unlink(target)
    os.replace(partial, target)


def store_entries(blobs: Any, entries: list[dict[str, Any]]) -> None:
    """Copy the bytes of tracked files into the blob store (``track_files(..., upload=True)``), each
    content once: a file whose hash the store already holds is not sent again.  Each entry's metadata
    gets ``blob`` (the SHA-256 the bytes are stored under), which is what ``download`` fetches."""
    import tempfile

    client = None
    for e in entries:
        meta = e["metadata"]
        if e.get("type") == "S3":  # the ETag is no content hash: fetch the object, store it by SHA-256
            if client is None:
                client = s3_client()
            with tempfile.TemporaryDirectory(prefix="naiad-track-") as tmp:
                target = os.path.join(tmp, "object")
                download_s3_entry(client, e, target)
                meta["blob"], _size = blobs.put_file(target)
            continue
        source = str(meta.get("file_path", ""))
        source = source[len("file://"):] if source.startswith("file://") else source
        if blobs.exists(e["file_hash"]):
            meta["blob"] = e["file_hash"]
            continue
        digest, size = blobs.put_file(source)
        if digest != e["file_hash"]:  # changed since it was hashed: the manifest says what is stored
            e["file_hash"], e["size"] = digest, size
        meta["blob"] = digest


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
