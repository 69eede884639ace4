"""The neptune client's file uploads: a File field, a file set (one file, or a tar.gz of several), each
stored once in naiad's blob store by content hash and written as the same File / FileSet fields the naiad
SDK writes.

The client sends a file up to ``MAX_SINGLE_PART`` bytes in one request (the configuration says so);
bigger files it would send in parts, which this server does not take yet: it answers with an error the
client logs, counted in the run's ``sys/errors``.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

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
