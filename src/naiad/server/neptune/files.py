"""The neptune client's file uploads: a File field, a file set (one file, or a tar.gz of several), each
stored once in naiad's blob store by content hash and written as the same File / FileSet fields the naiad
SDK writes.

The client sends a file up to ``NAIAD_NEPTUNE_SINGLE_PART`` bytes (256 MiB) in one request, as the
configuration tells it; a bigger one in parts of ``PART_SIZE`` (8 MiB, the blob store's own part size):
``start`` begins a resumable upload in the blob store without a hash (the client announces none),
each ``part`` lands in it as it comes, and ``finish`` joins them, names the blob by its SHA-256 and
writes the field.  Any server process can take any request of an upload (the blob store's upload ids
carry their state).
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import shutil
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import iterate_in_threadpool

from naiad import errors as E
from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.store.base import PART_SIZE

from . import swagger

MAX_CHUNKS = 10_000
"""Parts of one upload at most (S3's own limit): a file sent in parts holds up to 78 GiB."""


def multipart_config() -> dict[str, Any]:
    """The client's ``multiPartUpload`` configuration: parts of exactly the blob store's part size."""
    return {"enabled": True, "minChunkSize": PART_SIZE, "maxChunkSize": PART_SIZE, "maxChunkCount": MAX_CHUNKS,
            "maxSinglePartSize": max(1, SETTINGS.neptune_single_part.get())}


def register(app: FastAPI, guarded: Callable[..., Any], find: Callable[..., Any],
             principal: Callable[[Request], Any], write: Callable[..., list[str]], blobs: Any) -> None:
    v1 = f"{swagger.LEADERBOARD}/v1"

    def file_op(kind: str, attribute: str, digest: str, size: int, extra: str) -> O.Op:
        """The op a stored file becomes: a File field (``extra``: its extension), or one file of a file
        set (``extra``: its name in the set)."""
        if kind == "file":
            return (O.ASSIGN, attribute, F.FILE, {"hash": digest, "size": size, "ext": extra, "name": None})
        return (O.FILES, attribute, {extra.strip("/"): {"hash": digest, "size": size, "mtime": time.time()}}, False)

    def stored(data: bytes) -> dict[str, Any]:
        digest, size = blobs.put_bytes(data)
        return {"hash": digest, "size": size}

    def answer(errors: list[str]) -> dict[str, Any]:
        return {"errors": [{"errorDescription": e} for e in errors]}

    @app.post(f"{v1}/attributes/upload", include_in_schema=False)
    async def file_atom(request: Request, experimentIdentifier: str, attribute: str, ext: str = "") -> Any:
        body = await request.body()

        def run() -> Any:
            info = find(principal(request), experimentIdentifier, "contributor")
            digest, size = blobs.put_bytes(body)
            return answer(write(info, [file_op("file", attribute, digest, size, ext)]))
        return await guarded(run)

    @app.post(f"{v1}/attributes/fileset/upload", include_in_schema=False)
    async def file_set_file(request: Request, experimentIdentifier: str, attribute: str,
                            subPath: str = "") -> Any:
        body = await request.body()

        def run() -> Any:
            info = find(principal(request), experimentIdentifier, "contributor")
            digest, size = blobs.put_bytes(body)
            return answer(write(info, [file_op("fileSet", attribute, digest, size, subPath)]))
        return await guarded(run)

    @app.post(f"{v1}/attributes/fileset/tar", include_in_schema=False)
    async def file_set_tar(request: Request, experimentId: str, attribute: str, reset: str = "False") -> Any:
        body = await request.body()

        def run() -> Any:
            info = find(principal(request), experimentId, "contributor")
            files: dict[str, Any] = {}
            try:
                with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                    for member in tar.getmembers():
                        if not member.isfile():
                            continue
                        handle = tar.extractfile(member)
                        data = handle.read() if handle is not None else b""
                        files[member.name.strip("/")] = {**stored(data), "mtime": float(member.mtime)}
            except (tarfile.TarError, EOFError) as exc:
                raise E.InvalidValueError(f"'{attribute}': the file set's archive cannot be read ({exc})") from None
            return answer(write(info, [(O.FILES, attribute, files, reset.lower() == "true")]))
        return await guarded(run)

    for base, kind, extra_name in (("attributes/upload", "file", "ext"), ("attributes/fileset/upload", "fileSet",
                                                                             "subPath")):
        def make(base: str, kind: str, extra_name: str) -> None:
            @app.post(f"{v1}/{base}/start", include_in_schema=False)
            async def start(request: Request, experimentIdentifier: str, attribute: str, totalLength: int) -> Any:
                def run() -> Any:
                    find(principal(request), experimentIdentifier, "contributor")
                    if totalLength > PART_SIZE * MAX_CHUNKS:
                        raise E.InvalidValueError(f"'{attribute}': {totalLength} bytes is more than a file may "
                                                  f"hold ({PART_SIZE * MAX_CHUNKS} bytes); it was not stored")
                    # the client sends `ext` to start only: the id carries it to finish
                    extra = str(request.query_params.get(extra_name) or "")
                    return {"uploadId": _upload_id(blobs.begin_upload(None, totalLength), extra), "errors": []}
                return await guarded(run)

            @app.post(f"{v1}/{base}/part", include_in_schema=False)
            async def part(request: Request, experimentIdentifier: str, uploadId: str, uploadPartIdx: int) -> Any:
                def allowed() -> None:
                    find(principal(request), experimentIdentifier, "contributor")

                refused = await guarded(allowed)  # the account first, then the body
                if refused is not None:
                    return refused
                body = await request.body()

                def run() -> Any:
                    if len(body) > PART_SIZE:
                        raise E.InvalidValueError(f"a part of {len(body)} bytes is larger than the {PART_SIZE} "
                                                  "bytes the configuration names; it was not stored")
                    blobs.upload_part(_blob_upload(uploadId)[0], uploadPartIdx, [body])
                    return answer([])
                return await guarded(run)

            @app.post(f"{v1}/{base}/finish", include_in_schema=False)
            async def finish(request: Request, experimentIdentifier: str, attribute: str, uploadId: str) -> Any:
                def run() -> Any:
                    info = find(principal(request), experimentIdentifier, "contributor")
                    blob_upload, extra = _blob_upload(uploadId)
                    digest, size = blobs.complete_upload(blob_upload)
                    return answer(write(info, [file_op(kind, attribute, digest, size, extra)]))
                return await guarded(run)
        make(base, kind, extra_name)


def _upload_id(blob_upload: str, extra: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([blob_upload, extra]).encode()).decode().rstrip("=")


def _blob_upload(upload_id: str) -> tuple[str, str]:
    """The blob store's upload id and the extension / sub-path an upload id given to the client carries."""
    try:
        blob_upload, extra = json.loads(base64.urlsafe_b64decode(upload_id + "=" * (-len(upload_id) % 4)))
    except (ValueError, TypeError):
        raise E.NotFoundError(f"{upload_id[:80]!r} is not an upload this server began; upload the file again") from None
    if not isinstance(blob_upload, str) or not isinstance(extra, str):
        raise E.NotFoundError(f"{upload_id[:80]!r} is not an upload this server began; upload the file again")
    return blob_upload, extra


def register_downloads(app: FastAPI, guarded: Callable[..., Any], find: Callable[..., Any],
                       principal: Callable[[Request], Any], store: Any) -> None:
    """File downloads: a File field, and a file set as a zip (prepared, then fetched from the URL the
    preparation names; the preparation's id carries what it names, so any server process answers it)."""
    v1 = f"{swagger.LEADERBOARD}/v1"

    def field(request: Request, experiment_id: str, attribute: str, types: tuple[str, ...]) -> Any:
        info = find(principal(request), experiment_id)
        fv = store.read_fields(info.uuid, [attribute]).get(attribute)
        if fv is None or fv.type not in types:
            raise E.MissingFieldError(f"{info.short_id} has no {' or '.join(types)} field {attribute!r}")
        return fv.value

    def streamed(digest: str, size: int, filename: str, media: str) -> StreamingResponse:
        pieces = store.blobs.read_range(digest, 0, size) if size else iter([b""])
        return StreamingResponse(iterate_in_threadpool(iter(pieces)), media_type=media, headers={
            "content-disposition": disposition(filename), "content-length": str(size)})

    @app.get(f"{v1}/attributes/file", include_in_schema=False)
    async def file_attribute(request: Request, experimentId: str, attribute: str) -> Any:
        def run() -> dict[str, Any]:
            ref = field(request, experimentId, attribute, (F.FILE,))
            return {"name": ref.get("name") or attribute.rsplit("/", 1)[-1], "ext": ref.get("ext") or "",
                    "size": ref.get("size")}
        return await guarded(run)

    @app.get(f"{v1}/attributes/download", include_in_schema=False)
    async def download(request: Request, experimentId: str, attribute: str) -> Any:
        def run() -> Any:
            ref = field(request, experimentId, attribute, (F.FILE,))
            ext = ref.get("ext") or ""
            name = attribute.rsplit("/", 1)[-1] + (f".{ext}" if F.is_extension(ext) and ext else "")
            return streamed(ref["hash"], int(ref["size"]), name, "application/octet-stream")
        return await guarded(run)

    @app.get(f"{v1}/attributes/fileset/ls", include_in_schema=False)
    async def list_file_set(request: Request, experimentId: str, attribute: str, path: str = "") -> Any:
        """The entries of a file set directly under ``path``: files, and folders with their total size."""
        def run() -> list[dict[str, Any]]:
            files = field(request, experimentId, attribute, (F.FILE_SET,)) or {}
            prefix = path.strip("/") + "/" if path.strip("/") else ""
            entries: dict[str, dict[str, Any]] = {}
            for name, item in files.items():
                if not name.startswith(prefix):
                    continue
                head, sep, _ = name[len(prefix):].partition("/")
                stamp = _dt.datetime.fromtimestamp(float(item.get("mtime") or 0), tz=_dt.timezone.utc)
                entry = entries.setdefault(head, {"name": head, "size": 0, "mtime": stamp.isoformat(),
                                                  "fileType": "directory" if sep else "file"})
                entry["size"] += int(item.get("size") or 0)
                entry["mtime"] = max(entry["mtime"], stamp.isoformat())
            if not entries and prefix and prefix.rstrip("/") not in files:
                raise E.MissingFieldError(f"'{attribute}' holds nothing under {path!r}")
            return [entries[k] for k in sorted(entries)]
        return await guarded(run)

    def image(request: Request, experiment_id: str, attribute: str, index: int) -> tuple[Any, int]:
        info = find(principal(request), experiment_id)
        if store.structure(info.uuid).get(attribute) != F.FILE_SERIES:
            raise E.MissingFieldError(f"{info.short_id} has no image series {attribute!r}")
        return store.read_series_window(info.uuid, attribute, index, 1)

    @app.get(f"{v1}/attributes/series/image", include_in_schema=False)
    async def image_series(request: Request, experimentId: str, attribute: str) -> Any:
        return await guarded(lambda: {"totalItemCount": image(request, experimentId, attribute, 0)[1]})

    @app.get(f"{v1}/attributes/series/image/download", include_in_schema=False)
    async def image_value(request: Request, experimentId: str, attribute: str, index: int) -> Any:
        def run() -> Any:
            data, total = image(request, experimentId, attribute, index)
            if index < 0 or not len(data.steps):
                raise E.MissingFieldError(f"'{attribute}' has {total} images; there is none at index {index}")
            ref = json.loads(data.values[0])
            ext = str(ref.get("ext") or "bin")
            media = f"image/{ext}" if ext in ("png", "jpeg", "gif", "webp") else "application/octet-stream"
            return streamed(ref["hash"], int(ref["size"]), f"{index}.{ext}", media)
        return await guarded(run)

    @app.post(f"{v1}/attributes/fileset/zip/prepare", include_in_schema=False)
    async def prepare_zip(request: Request, experimentId: str, attribute: str) -> Any:
        def run() -> dict[str, Any]:
            field(request, experimentId, attribute, (F.FILE_SET,))
            ref = base64.urlsafe_b64encode(json.dumps([experimentId, attribute]).encode()).decode()
            return {"id": ref}
        return await guarded(run)

    @app.get(f"{v1}/attributes/fileset/zip/prepared", include_in_schema=False)
    async def prepared(request: Request, id: str) -> Any:
        url = str(request.base_url).rstrip("/") + f"{v1}/attributes/fileset/zip?ref={id}"
        return {"id": id, "downloadUrl": url}

    @app.get(f"{v1}/attributes/fileset/zip", include_in_schema=False)
    async def zipped(request: Request, ref: str) -> Any:
        def run() -> Any:
            principal(request)
            try:
                experiment_id, attribute = json.loads(base64.urlsafe_b64decode(ref.encode()))
            except (ValueError, TypeError):
                raise E.InvalidValueError("this download link is damaged; download the file set again") from None
            files = field(request, str(experiment_id), str(attribute), (F.FILE_SET,)) or {}
            out = tempfile.SpooledTemporaryFile(max_size=32 << 20)
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, item in sorted(files.items()):
                    if F.relative_name_problem(name):
                        continue  # never a name a zip must not carry (refused at write time anyway)
                    with store.blobs.open(item["hash"]) as src, zf.open(name, "w") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
            size = out.tell()
            out.seek(0)
            pieces = iter(lambda: out.read(1 << 20), b"")
            return StreamingResponse(iterate_in_threadpool(pieces), media_type="application/zip", headers={
                "content-disposition": disposition(f'{str(attribute).rsplit("/", 1)[-1]}.zip'),
                "content-length": str(size)}, background=BackgroundTask(out.close))
        return await guarded(run)


def disposition(filename: str) -> str:
    """A Content-Disposition any client reads: an ASCII fallback name and the UTF-8 one (RFC 6266)."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename) or "file"
    # the UTF-8 name first: the neptune client reads what follows the last "filename="
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}; filename=\"{plain}\""
