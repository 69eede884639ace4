"""How ``/api/v1`` answers a failure: one JSON envelope, ``{"error": {"code", "message", "details"}}``,
whose ``code`` the SDK turns back into the matching :mod:`naiad.errors` class; and the request-size
limit, refused with the same envelope before a body is read."""

from __future__ import annotations

import logging
import uuid as uuidlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naiad import errors as E
from naiad.store.base import PART_SIZE

log = logging.getLogger("naiad.server")

_STATUS: list[tuple[type[E.NaiadError], int]] = [
    (E.PermissionDeniedError, 403), (E.AuthError, 401), (E.NotFoundError, 404),
    (E.IntegrityError, 422), (E.FileError, 400), (E.StoreLockedError, 503), (E.StoreUnavailableError, 503),
    (E.SchemaVersionError, 500), (E.StoreError, 500), (E.InactiveContainerError, 409),
]


def status_of(exc: E.NaiadError) -> int:
    if isinstance(exc, E.RequestError) and exc.details.get("status"):
        return int(exc.details["status"])
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details or {}}}, status_code=status)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (413, the usual envelope) before they are read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = PART_SIZE + (1 << 16) if "/parts/" in scope["path"] else self.limit
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(limit)(scope, receive, send)
                return
        seen = 0
        over = started = False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise E.RequestError(f"the request body is larger than {limit} bytes", status=413)
            return message

        async def guarded(message: Message) -> None:
            # once the body ran over, whatever the app makes of the failed read (FastAPI turns it into
            # "error parsing the body") is dropped: the answer is the 413 below
            nonlocal started
            if over:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await _too_large(limit)(scope, receive, send)


class NulGuard:
    """Refuse NUL in a URL (``%00``) or in a JSON body (``\\u0000``) with 400 before a route sees it:
    PostgreSQL cannot store it, and a route that passed it on answered 500.  (A binary batch may hold NUL
    bytes as data; the store refuses NUL in its text op by op.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query or "\x00" in scope.get("path", ""):
            await _nul_refused("the URL")(scope, receive, send)
            return
        ctype = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
        if b"json" not in ctype:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:  # a JSON body is small (the body limit holds it): read it whole, check, hand it on
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
        if b"\\u0000" in body or b"\x00" in body:
            await _nul_refused("the JSON body")(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _nul_refused(where: str) -> JSONResponse:
    return envelope(400, "bad_request", f"{where} holds a NUL character (\\u0000 or %00), which naiad does not "
                    "store; remove it.")


def _too_large(limit: int) -> JSONResponse:
    return envelope(413, "bad_request", f"the request body is larger than the server accepts ({limit} bytes); "
                    "send smaller batches or upload files in parts.", {"limit": limit})


def install_handlers(app: FastAPI) -> None:
    """Every error ``app`` raises leaves it as the envelope (an unexpected one with a reference the log
    has the traceback under)."""

    @app.exception_handler(E.NaiadError)
    async def naiad_error(request: Request, exc: E.NaiadError) -> JSONResponse:
        details = {k: v for k, v in exc.details.items() if k != "status" and _jsonable(v)}
        return envelope(status_of(exc), exc.code, _without_paths(str(exc), request.app.state.store), details)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return envelope(422, "bad_request", f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "bad_request"}.get(exc.status_code, "bad_request")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = (f"no such API endpoint: {request.url.path[:200]!r}; see /api/v1/docs (in a path, a blob is "
                       "named by its SHA-256, 64 lowercase hex digits, and a webhook by its number)")
        response = envelope(exc.status_code, code, message)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["allow"] = ", ".join(_methods_of(request))
        return response

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        ref = uuidlib.uuid4().hex[:12]
        log.exception("internal error %s", ref)
        return envelope(500, E.StoreError.code, f"internal server error (reference {ref}; the server log has details).")


def _methods_of(request: Request) -> list[str]:
    """Every method some route takes at the request's path (one route per method: Starlette's own Allow
    names only the first route that matched the path)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] != Match.NONE:  # PARTIAL: the path matches, the method does not
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _without_paths(message: str, store: Any) -> str:
    """A store's messages name where it lives (its folder, its database URI, the blob folders): a server
    says "this naiad server" instead, to admins too — a client has no use for the server's paths."""
    blobs = getattr(store, "blobs", None)
    places = [(getattr(blobs, "root", None), "the server's blob store"),  # inside the store's folder: first
              (getattr(store, "location", None), "this naiad server"),
              (getattr(store, "uri", None), "this naiad server")]
    for place, said in places:
        if place and str(place) in message:
            message = message.replace(str(place), said)
    return message


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))
