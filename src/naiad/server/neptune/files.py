"""The neptune client's file uploads: a File field, a file set (one file, or a tar.gz of several), each
stored once in naiad's blob store by content hash and written as the same File / FileSet fields the naiad
SDK writes.

The client sends a file up to ``MAX_SINGLE_PART`` bytes in one request (the configuration says so);
bigger files it would send in parts, which this server does not take yet: it answers with an error the
client logs, counted in the run's ``sys/errors``.
"""

from __future__ import annotations

import base64
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
from naiad.core import fields as F
from naiad.core import ops as O

from . import swagger

MAX_SINGLE_PART = 256 << 20
"""Bytes of the largest file the client sends in one request (the server's request limit)."""

_NO_PARTS = ("files over 256 MiB are sent in parts, which this naiad server does not take yet; "
             "the file was not stored")


def register(app: FastAPI, guarded: Callable[..., Any], find: Callable[..., Any],
             principal: Callable[[Request], Any], write: Callable[..., list[str]], blobs: Any) -> None:
    v1 = f"{swagger.LEADERBOARD}/v1"

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
            ref = {**stored(body), "ext": ext, "name": None}
            return answer(write(info, [(O.ASSIGN, attribute, F.FILE, ref)]))
        return await guarded(run)

    @app.post(f"{v1}/attributes/fileset/upload", include_in_schema=False)
    async def file_set_file(request: Request, experimentIdentifier: str, attribute: str,
                            subPath: str = "") -> Any:
        body = await request.body()

        def run() -> Any:
            info = find(principal(request), experimentIdentifier, "contributor")
            ref = {**stored(body), "mtime": time.time()}
            return answer(write(info, [(O.FILES, attribute, {subPath.strip("/"): ref}, False)]))
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

    for base in ("attributes/upload", "attributes/fileset/upload"):
        @app.post(f"{v1}/{base}/start", include_in_schema=False)
        async def start(request: Request, experimentIdentifier: str) -> Any:
            def run() -> Any:
                find(principal(request), experimentIdentifier, "contributor")
                return {"uploadId": "", "errors": [{"errorDescription": _NO_PARTS}]}
            return await guarded(run)

        @app.post(f"{v1}/{base}/finish", include_in_schema=False)
        async def finish(request: Request, experimentIdentifier: str) -> Any:
            return await guarded(lambda: answer([_NO_PARTS]))

        @app.post(f"{v1}/{base}/part", include_in_schema=False)
        async def part(request: Request) -> Any:
            return answer([_NO_PARTS])


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
