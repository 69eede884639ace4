"""``/api/v1``: blobs: content-addressed files, streamed, and resumable uploads in parts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field
from starlette.concurrency import iterate_in_threadpool
from starlette.types import Receive, Scope, Send

from naiad import errors as E
from naiad.store.base import MAX_PARTS, PART_SIZE
from naiad.store.sql import SqlStore

from ..context import API, Api
from ..errors import envelope
from ..schema import Body, Digest, PartNumber, UploadId, errors


class DigestsIn(Body):
    digests: list[str] = Field(max_length=10_000)


class UploadIn(Body):
    digest: str = Field(pattern="^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=MAX_PARTS * PART_SIZE)


def register(app: FastAPI, api: Api) -> None:
    """Add these routes to ``app``; ``api`` holds the store and the access checks."""
    store, who, call, require_any = api.store, api.who, api.call, api.require_any
    require_writer, not_here, no_upload, digest_of = api.require_writer, api.not_here, api.no_upload, api.digest_of

    @app.post(f"{API}/blobs/missing", tags=["blobs"], responses=errors(413))
    async def blobs_missing(body: DigestsIn, request: Request) -> dict[str, list[str]]:
        """Which of these blobs the server lacks: a client sends only those (one request, not one per file)."""
        p = await call(who, request)
        require_any(p)
        wanted = [digest_of(d) for d in dict.fromkeys(body.digests)]

        def work() -> list[str]:
            # a blob no container the caller can see refers to is missing for them (its bytes are sent
            # again, stored once): presence is not told across projects
            visible = api.visible_blobs(p, [d for d in wanted if store.blobs.exists(d)])
            return [d for d in wanted if d not in visible]

        return {"missing": await call(work)}

    @app.head(f"{API}/blobs/{{digest:sha256}}", tags=["blobs"], responses=errors(404))
    async def blob_head(digest: Digest, request: Request) -> Response:
        p = await call(who, request)
        require_any(p)
        await call(api.require_blob, p, digest_of(digest))
        size = await call(not_here, p, f"blob {digest} is not stored on this server.", store.blobs.size,
                          digest_of(digest))
        return Response(headers={"content-length": str(size), "accept-ranges": "bytes",
                                 "etag": f'"{digest}"'})

    @app.get(f"{API}/blobs/{{digest:sha256}}", tags=["blobs"],
             responses={**errors(404, 416), 200: {"content": {"application/octet-stream": {}}},
                        206: {"description": "a range"}})
    async def blob_get(digest: Digest, request: Request) -> Response:
        """The bytes of a blob, streamed; honours a single ``Range: bytes=a-b``.  Readable by an account
        with a role in a project whose containers refer to it."""
        p = await call(who, request)
        require_any(p)
        await call(api.require_blob, p, digest_of(digest))
        size = await call(not_here, p, f"blob {digest} is not stored on this server.", store.blobs.size,
                          digest_of(digest))
        start, end, status = 0, size, 200
        rng = request.headers.get("range")
        if rng:
            parsed = _parse_range(rng, size)
            if parsed is None:
                return envelope(416, "bad_request", f"unsatisfiable range {rng!r} for {size} bytes",
                                {"size": size})
            start, end, status = parsed[0], parsed[1], 206
        headers = {"content-length": str(end - start), "accept-ranges": "bytes", "etag": f'"{digest}"'}
        if status == 206:
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        pieces: Iterator[bytes] = store.blobs.read_range(digest, start, end) if end > start else iter(())
        return _ClosingStream(pieces, status_code=status, headers=headers, media_type="application/octet-stream")

    @app.put(f"{API}/blobs/{{digest:sha256}}", tags=["blobs"], responses=errors(403, 404, 413))
    async def blob_put(digest: Digest, request: Request) -> dict[str, Any]:
        """A small blob (at most one part) in one request; its hash is checked."""
        p = await call(who, request)
        require_writer(p)
        digest_of(digest)
        data = await request.body()
        if len(data) > PART_SIZE:
            raise E.RequestError(f"blobs over {PART_SIZE} bytes go through /blobs/uploads", status=413)
        import hashlib

        if hashlib.sha256(data).hexdigest() != digest:
            raise E.IntegrityError("the body's SHA-256 differs from the blob hash in the URL; the upload "
                                   "was damaged on the way. Send it again.")
        got, size = await call(store.blobs.put_bytes, data)
        if isinstance(store, SqlStore):
            await call(store.note_claim, got, p.name)  # it sent the bytes: it may refer to them
        return {"digest": got, "size": size}

    @app.post(f"{API}/blobs/uploads", tags=["blobs"], responses=errors(403, 413))
    async def upload_begin(body: UploadIn, request: Request) -> dict[str, Any]:
        """Start (or find already stored) a resumable upload of ``size`` bytes with SHA-256 ``digest``."""
        p = await call(who, request)
        require_writer(p)
        if await call(store.blobs.exists, body.digest) and await call(api.visible_blobs, p, [body.digest]):
            return {"exists": True, "digest": body.digest, "size": body.size}
        upload_id = await call(store.blobs.begin_upload, body.digest, body.size)
        await call(api.began_upload, p, upload_id)
        return {"exists": False, "upload_id": upload_id, "part_size": PART_SIZE, "parts": {}}

    @app.get(f"{API}/blobs/uploads/{{upload_id}}", tags=["blobs"], responses=errors(404))
    async def upload_status(upload_id: UploadId, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        require_any(p)
        await call(api.require_upload, p, upload_id)
        parts = await call(not_here, p, no_upload(upload_id), store.blobs.uploaded_parts, upload_id)
        return {"upload_id": upload_id, "part_size": PART_SIZE, "parts": {str(k): v for k, v in parts.items()}}

    @app.put(f"{API}/blobs/uploads/{{upload_id}}/parts/{{number}}", tags=["blobs"], responses=errors(403, 404, 413))
    async def upload_part(upload_id: UploadId, number: PartNumber, request: Request) -> dict[str, Any]:
        """One part (``part_size`` bytes, the last may be shorter); sending a part again replaces it."""
        p = await call(who, request)
        require_writer(p)
        await call(api.require_upload, p, upload_id)
        data = await request.body()
        if len(data) > PART_SIZE:
            raise E.RequestError(f"a part holds at most {PART_SIZE} bytes", status=413)
        size = await call(not_here, p, no_upload(upload_id), store.blobs.upload_part, upload_id, number, [data])
        return {"number": number, "size": size}

    @app.post(f"{API}/blobs/uploads/{{upload_id}}/complete", tags=["blobs"], responses=errors(403, 404))
    async def upload_complete(upload_id: UploadId, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        require_writer(p)
        await call(api.require_upload, p, upload_id)
        # the record stays (asking again, after a lost answer, answers the same) until the upload expires
        digest, size = await call(not_here, p, no_upload(upload_id), store.blobs.complete_upload, upload_id)
        if isinstance(store, SqlStore):
            await call(store.note_claim, digest, p.name)
        return {"digest": digest, "size": size}

    @app.delete(f"{API}/blobs/uploads/{{upload_id}}", tags=["blobs"], responses=errors(403, 404))
    async def upload_abort(upload_id: UploadId, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        require_writer(p)
        await call(api.require_upload, p, upload_id)
        await call(not_here, p, no_upload(upload_id), store.blobs.abort_upload, upload_id)
        await call(api.ended_upload, upload_id)
        return {"aborted": upload_id}


class _ClosingStream(StreamingResponse):
    """A download that closes its source (an open blob file or S3 body) however it ends: sent whole, or
    cut short by a client that hung up (the stream is then cancelled between two pieces)."""

    def __init__(self, pieces: Iterator[bytes], **kwargs: Any) -> None:
        super().__init__(iterate_in_threadpool(pieces), **kwargs)
        self._pieces = pieces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self._pieces, "close", None)
            if close is not None:
                close()


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` → [start, end) within ``size``; None if unsatisfiable."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        n = int(match[2])
        start, end = max(size - n, 0), size
    else:
        start = int(match[1])
        end = min(int(match[2]) + 1, size) if match[2] else size
    if start >= size or end <= start:
        return None
    return start, end
