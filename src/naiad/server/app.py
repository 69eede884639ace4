"""The HTTP API ``/api/v1`` over any store: what ``naiad server`` serves.

The app holds no state of its own beyond caches of immutable facts (which project a container is
in), so any number of server processes can serve one PostgreSQL + S3 store.  Every error is one JSON
envelope, ``{"error": {"code", "message", "details"}}``, whose ``code`` the SDK turns back into the
matching :mod:`naiad.errors` class.  The OpenAPI document is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import logging
import re
import struct
import threading
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naiad import errors as E
from naiad.core import ops as O
from naiad.store import wire
from naiad.store.accounts import Accounts, role_rank
from naiad.store.base import PART_SIZE, Store
from naiad.store.sql import SqlStore
from naiad.version import __version__

from .auth import Authenticator, Principal

log = logging.getLogger("naiad.server")

API = "/api/v1"
DEFAULT_MAX_REQUEST = 256 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")

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


class _BodyLimit:
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


def _too_large(limit: int) -> JSONResponse:
    return envelope(413, "bad_request", f"the request body is larger than the server accepts ({limit} bytes); "
                    "send smaller batches or upload files in parts.", {"limit": limit})


# ------------------------------------------------------------------------------------------ models
class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class ContainerIn(BaseModel):
    project: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(run|model|model_version|project)$")
    uuid: str = Field(min_length=1, max_length=100)
    custom_run_id: str | None = Field(default=None, max_length=200)
    created: float | None = None
    owner: str = ""
    key: str | None = Field(default=None, max_length=100)  # the store says what a key may be
    parent: str | None = Field(default=None, max_length=200)


class FieldsIn(BaseModel):
    paths: list[str] | None = None


class TableIn(BaseModel):
    project: str
    kind: str = "run"
    query: str | None = None
    columns: list[str] | None = None
    sort_by: str = "sys/creation_time"
    ascending: bool = False
    limit: int | None = Field(default=None, ge=0)
    layout: str = Field(default="rows", pattern="^(rows|columns)$")  # columns: the UI's compact form
    offset: int = Field(default=0, ge=0)  # layout columns: the first row whose cells come back


class StageIn(BaseModel):
    version: str = Field(min_length=1, max_length=200)
    stage: str = Field(max_length=20)
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)  # kept only from anonymous callers: others are who they are


class AliasIn(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    alias: str = Field(max_length=200)  # the store says what an alias may be
    version: str | None = Field(default=None, max_length=200)
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)


class DigestsIn(BaseModel):
    digests: list[str] = Field(max_length=10_000)


class PolicyIn(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    require_gate: bool
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=200)


class WebhookIn(BaseModel):
    project: str = Field(min_length=1, max_length=200)  # or "*": every project (admins only)
    url: str = Field(min_length=1, max_length=2000)
    secret: str = Field(max_length=500)
    events: str = Field(default="*", max_length=2000)


class EventIn(BaseModel):
    project: str = Field(min_length=1, max_length=200)
    event: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)


class UploadIn(BaseModel):
    digest: str = Field(pattern="^[0-9a-f]{64}$")
    size: int = Field(ge=0)


# ------------------------------------------------------------------------------------------ the app
def create_app(store: Store, *, anonymous_role: str | None = None,
               max_request_bytes: int = DEFAULT_MAX_REQUEST, ui: bool = True) -> FastAPI:
    """The ``/api/v1`` app over ``store``, and the web UI at ``/`` (unless ``ui=False``).  Without an
    accounts table (a non-SQL store), only anonymous access works."""
    accounts = Accounts(store) if isinstance(store, SqlStore) else None
    auth = Authenticator(accounts, anonymous_role)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """Webhooks are delivered by a background thread of each server process, not in requests."""
        dispatcher = None
        if isinstance(store, SqlStore):
            from naiad.config import SETTINGS
            from naiad.store.webhook_delivery import Dispatcher

            store.deliver_inline = False
            dispatcher = Dispatcher(store, SETTINGS.webhook_interval.get()).start()
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop()

    app = FastAPI(title="naiad", version=__version__, openapi_url=f"{API}/openapi.json",
                  docs_url=f"{API}/docs", redoc_url=None, lifespan=lifespan,
                  description="ML metadata store: runs, fields, series, files. Errors are "
                              "`{\"error\": {\"code\", \"message\", \"details\"}}`.")
    app.state.store = store
    app.add_middleware(_BodyLimit, limit=max_request_bytes)
    projects_of: dict[str, str] = {}
    cache_lock = threading.Lock()

    # ---------------------------------------------------------------------- errors
    @app.exception_handler(E.NaiadError)
    async def naiad_error(_request: Request, exc: E.NaiadError) -> JSONResponse:
        details = {k: v for k, v in exc.details.items() if k != "status" and _jsonable(v)}
        return envelope(status_of(exc), exc.code, str(exc), details)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return envelope(422, "bad_request", f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "bad_request"}.get(exc.status_code, "bad_request")
        message = "no such API endpoint; see /api/v1/docs" if exc.status_code == 404 else str(exc.detail)
        return envelope(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        ref = uuidlib.uuid4().hex[:12]
        log.exception("internal error %s", ref)
        return envelope(500, E.StoreError.code, f"internal server error (reference {ref}; the server log has details).")

    # ---------------------------------------------------------------------- helpers
    def who(request: Request) -> Principal:
        return auth.principal(request.headers.get("authorization"))

    release = getattr(store, "release", None)

    def released(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            if release is not None:
                release()  # the worker thread's database connection goes back to the pool

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(released, fn, *args, **kwargs)

    def canonical(project: str) -> str:
        try:
            return store.get_project(project).name
        except E.ProjectNotFound:
            return project

    def project_of(uuid: str) -> str:
        with cache_lock:
            found = projects_of.get(uuid)
        if found is None:
            found = store.get_container(uuid=uuid).project
            with cache_lock:
                projects_of[uuid] = found
        return found

    def unseen(what: str) -> E.ContainerNotFound:
        return E.ContainerNotFound(f"no run, model or version {what!r} you can see.")

    def require_container(principal: Principal, uuid: str, role: str) -> None:
        """``role`` in the project of container ``uuid``; one that is missing, or in a project the
        principal has no role in, is not found (the project is not named)."""
        try:
            project = project_of(uuid)
        except E.ContainerNotFound:
            if principal.admin:
                raise
            raise unseen(uuid) from None
        if not principal.can_see(project):
            raise unseen(uuid)
        principal.require(project, role)

    def require_existing(principal: Principal, uuid: str, role: str) -> None:
        """Like require_container, but a container that does not exist yet passes (it is being made)."""
        try:
            project_of(uuid)
        except E.ContainerNotFound:
            return
        require_container(principal, uuid, role)

    def discreet(principal: Principal, fn: Callable[[], Any], what: str) -> Any:
        """``fn()``, with the store's not-found errors retold to non-admins: the store's own messages
        name its location and the other projects, which only admins may see."""
        try:
            return fn()
        except E.ProjectNotFound:
            if principal.admin:
                raise
            raise E.ProjectNotFound(f"project {what!r} does not exist or you have no role in it; "
                                    "ask its owner for access.") from None
        except E.ContainerNotFound:
            if principal.admin:
                raise
            raise unseen(what) from None

    def require_any(principal: Principal) -> None:
        if not (principal.admin or principal.default_role or principal.roles):
            raise E.PermissionDeniedError(f"{principal.name} has no role in any project.")

    def require_writer(principal: Principal) -> None:
        """Storing files is writing: it takes contributor (or more) in some project."""
        ranks = [role_rank(r) for r in (principal.default_role, *principal.roles.values())]
        if not (principal.admin or max(ranks) >= role_rank("contributor")):
            raise E.PermissionDeniedError(f"{principal.name} may only read (a viewer); uploading files needs "
                                          "contributor or above in a project. Ask a project's owner.")

    def not_here(principal: Principal, message: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``; a NotFoundError from the blob store (its message names the server's folders)
        is retold to non-admins as ``message``."""
        try:
            return fn(*args)
        except E.NotFoundError:
            if principal.admin:
                raise
            raise E.NotFoundError(message) from None

    def no_upload(upload_id: str) -> str:
        return (f"upload {upload_id[:80]!r} does not exist on this server: it was completed or aborted, or the id "
                "is not one begin_upload gave out. Begin a new upload.")

    # ---------------------------------------------------------------------- service
    @app.get(f"{API}/health", tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness: answers without a token."""
        return {"status": "ok", "version": __version__}

    @app.get(f"{API}/whoami", tags=["service"])
    async def whoami(request: Request) -> dict[str, Any]:
        p = await call(who, request)
        return {"name": p.name, "admin": p.admin, "roles": p.roles, "anonymous": p.anonymous}

    # ---------------------------------------------------------------------- projects
    @app.get(f"{API}/projects", tags=["projects"])
    async def list_projects(request: Request) -> list[dict[str, Any]]:
        p = await call(who, request)
        found = await call(store.list_projects)
        return [wire.project_to_json(x) for x in found if p.can_see(x.name)]

    @app.post(f"{API}/projects", tags=["projects"])
    async def get_or_create_project(body: ProjectIn, request: Request) -> dict[str, Any]:
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(body.name), "contributor")
            return store.get_or_create_project(body.name)

        return wire.project_to_json(await call(work))

    @app.get(f"{API}/projects/lookup", tags=["projects"])
    async def get_project(request: Request, name: str = Query(..., max_length=200)) -> dict[str, Any]:
        p = await call(who, request)

        def work() -> Any:
            info = discreet(p, lambda: store.get_project(name), name)
            p.require(info.name, "viewer")
            return info

        return wire.project_to_json(await call(work))

    @app.get(f"{API}/projects/count", tags=["projects"])
    async def count_containers(request: Request, project: str, kind: str = "run") -> dict[str, int]:
        p = await call(who, request)

        def work() -> int:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.count_containers(project, kind), project)

        return {"count": await call(work)}

    # ---------------------------------------------------------------------- containers
    @app.post(f"{API}/containers", tags=["containers"])
    async def create_container(body: ContainerIn, request: Request) -> dict[str, Any]:
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(body.project), "contributor")
            require_existing(p, body.uuid, "contributor")  # not a way into another project's container
            return store.create_container(body.project, body.kind, body.uuid, custom_run_id=body.custom_run_id,
                                          created=body.created,
                                          owner=body.owner if (p.anonymous or p.admin) else p.name,
                                          key=body.key, parent=body.parent)

        return wire.container_to_json(await call(work))

    @app.get(f"{API}/containers/lookup", tags=["containers"])
    async def get_container(request: Request, uuid: str | None = None, short_id: str | None = None,
                            project: str | None = None) -> dict[str, Any]:
        p = await call(who, request)
        if (uuid is None) == (short_id is None):
            raise E.RequestError("give exactly one of uuid and short_id")

        def work() -> Any:
            what = str(uuid or short_id)
            info = discreet(p, lambda: store.get_container(uuid=uuid, short_id=short_id, project=project), what)
            if not p.can_see(info.project):
                raise unseen(what)
            return info

        return wire.container_to_json(await call(work))

    @app.get(f"{API}/containers/{{uuid}}/structure", tags=["containers"])
    async def structure(uuid: str, request: Request) -> dict[str, str]:
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")
        result: dict[str, str] = await call(store.structure, uuid)
        return result

    @app.get(f"{API}/containers/{{uuid}}/series-last-steps", tags=["containers"])
    async def series_last_steps(uuid: str, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")
        steps = await call(store.series_last_steps, uuid)
        return {k: wire.num_out(v) for k, v in steps.items()}

    @app.post(f"{API}/containers/{{uuid}}/fields", tags=["containers"])
    async def read_fields(uuid: str, body: FieldsIn, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")
        return wire.fields_to_json(await call(store.read_fields, uuid, body.paths))

    @app.get(f"{API}/containers/{{uuid}}/series", tags=["containers"],
             responses={200: {"content": {wire.BATCH_MEDIA_TYPE: {}}}})
    async def read_series(uuid: str, request: Request, path: str) -> Response:
        """All points of a series, in the binary batch format (one points op)."""
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")

        def work() -> bytes:
            ftype = store.structure(uuid).get(path)
            if ftype is None:
                raise E.MissingFieldError(f"'{path}' is not a series of this container.")
            return wire.series_to_bytes(path, ftype, store.read_series(uuid, path))

        return Response(await call(work), media_type=wire.BATCH_MEDIA_TYPE)

    @app.get(f"{API}/containers/{{uuid}}/buckets", tags=["containers"])
    async def series_buckets(uuid: str, request: Request, path: str, n: int = Query(1000, ge=1, le=100_000),
                             step_min: float | None = None, step_max: float | None = None) -> dict[str, Any]:
        """A float series downsampled to at most ``n`` buckets (min, max, first, last, count each)."""
        p = await call(who, request)
        await call(require_container, p, uuid, "viewer")
        b = await call(store.series_buckets, uuid, path, n, step_min=step_min, step_max=step_max)
        return wire.buckets_to_json(b)

    # ---------------------------------------------------------------------- writes
    @app.post(f"{API}/batches", tags=["writes"],
              openapi_extra={"requestBody": {"required": True, "content": {
                  wire.BATCH_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}})
    async def apply(request: Request) -> dict[str, Any]:
        """Apply one batch of operations, at most once per (writer, seq); returns the writer's
        high-water mark and the ops the store refused."""
        p = await call(who, request)
        raw = await request.body()
        try:
            batch = O.decode_batch(raw)
            O.validate_batch(batch)
        except (ValueError, KeyError, TypeError, IndexError, struct.error, RecursionError) as exc:
            raise E.RequestError(f"malformed batch: {str(exc)[:300]}") from None

        def work() -> Any:
            creates = [op for op in batch.ops if op[0] == O.CREATE]
            for create in creates:  # each one: a later create op may name another project
                p.require(canonical(create[2]["project"]), "contributor")
                if not (p.anonymous or p.admin):  # admins (imports, services) may name the owner
                    create[2]["owner"] = p.name
            if creates:  # a create op naming a container that exists writes into that container
                require_existing(p, batch.container, "contributor")
            else:
                require_container(p, batch.container, "contributor")
            return store.apply(batch)

        result = await call(work)
        return {"seq": result.seq, "errors": result.errors}

    @app.get(f"{API}/writers/{{writer}}", tags=["writes"])
    async def writer_seq(writer: str, request: Request) -> dict[str, int]:
        p = await call(who, request)
        require_any(p)
        return {"seq": await call(store.writer_seq, writer)}

    # ---------------------------------------------------------------------- tables
    @app.post(f"{API}/table", tags=["tables"])
    async def query_table(body: TableIn, request: Request) -> dict[str, Any]:
        """The runs table: rows matching ``query`` (naiad's query language), projected on ``columns``."""
        p = await call(who, request)

        if body.layout == "columns" and body.columns is None:
            raise E.RequestError("layout 'columns' needs the list of columns")
        if body.offset and body.layout != "columns":
            raise E.RequestError("offset pages the 'columns' layout only")

        def work() -> Any:
            p.require(canonical(body.project), "viewer")
            if body.layout == "columns":
                return discreet(p, lambda: table_columns(body), body.project)
            return wire.table_to_json(discreet(p, lambda: store.query_table(
                body.project, body.kind, query=body.query, columns=body.columns, sort_by=body.sort_by,
                ascending=body.ascending, limit=body.limit), body.project))

        result: dict[str, Any] = await call(work)
        return result

    def table_columns(body: TableIn) -> dict[str, Any]:
        columns = body.columns or []
        if isinstance(store, SqlStore):
            return store.table_columns(body.project, body.kind, columns=columns, query=body.query,
                                       sort_by=body.sort_by, ascending=body.ascending, offset=body.offset,
                                       limit=body.limit)
        table = store.query_table(body.project, body.kind, query=body.query, columns=columns, sort_by=body.sort_by,
                                  ascending=body.ascending)
        return wire.table_to_columns(table, columns, body.offset, body.limit)

    # ---------------------------------------------------------------------- registry and datasets
    def actor_of(p: Principal, claimed: str) -> str:
        return (f"anonymous ({claimed})" if claimed else "anonymous") if p.anonymous else p.name

    def require_short_id(p: Principal, short_id: str, role: str, missing: type[E.ContainerNotFound]) -> None:
        """``role`` in the project of ``short_id``; a missing one (or one the caller cannot see) is
        ``missing`` (ModelNotFound, ModelVersionNotFound), as the store itself would say."""
        try:
            info = discreet(p, lambda: store.get_container(short_id=short_id), short_id)
        except E.ContainerNotFound as exc:
            raise missing(str(exc)) from None
        if not p.can_see(info.project):
            raise missing(str(unseen(short_id)))
        p.require(info.project, role)

    from . import models_api, ui_api

    models_api.register(app, store, who=who, call=call, require_short_id=require_short_id)
    ui_api.register(app, store, who=who, call=call, canonical=canonical, discreet=discreet,
                    require_container=require_container)

    @app.post(f"{API}/registry/stage", tags=["registry"])
    async def change_stage(body: StageIn, request: Request) -> list[dict[str, Any]]:
        """Move a model version to a stage (production archives the version there before); the
        events recorded.  Needs contributor."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.version, "contributor", E.ModelVersionNotFound)
            return store.change_stage(body.version, body.stage, actor=actor_of(p, body.actor), reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.post(f"{API}/registry/alias", tags=["registry"])
    async def set_alias(body: AliasIn, request: Request) -> list[dict[str, Any]]:
        """Point a model's alias at a version (``version: null`` removes it).  Needs contributor."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.model, "contributor", E.ModelNotFound)
            return store.set_alias(body.model, body.alias, body.version, actor=actor_of(p, body.actor),
                                   reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.post(f"{API}/registry/policy", tags=["registry"])
    async def set_policy(body: PolicyIn, request: Request) -> list[dict[str, Any]]:
        """Require (or not) a passing gate decision before a version goes to production.  Needs maintainer."""
        p = await call(who, request)

        def work() -> Any:
            require_short_id(p, body.model, "maintainer", E.ModelNotFound)
            return store.set_policy(body.model, require_gate=body.require_gate, actor=actor_of(p, body.actor),
                                    reason=body.reason)

        return [wire.event_to_json(e) for e in await call(work)]

    # ---------------------------------------------------------------------- webhooks
    def require_hooks(p: Principal, project: str) -> None:
        if project == "*":
            if not p.admin:
                raise E.PermissionDeniedError(f"{p.name}: only an admin may subscribe to every project's events.")
            return
        p.require(canonical(project), "maintainer")

    @app.post(f"{API}/webhooks", tags=["webhooks"])
    async def add_webhook(body: WebhookIn, request: Request) -> dict[str, Any]:
        """Subscribe a URL to a project's events (maintainer)."""
        p = await call(who, request)

        def work() -> Any:
            require_hooks(p, body.project)
            return store.add_webhook(body.project, body.url, body.secret, body.events, actor=p.name)

        result: dict[str, Any] = await call(work)
        return result

    @app.get(f"{API}/webhooks", tags=["webhooks"])
    async def list_webhooks(request: Request, project: str | None = Query(None, max_length=200)) -> list[Any]:
        """Subscriptions (secrets are never returned)."""
        p = await call(who, request)

        def work() -> Any:
            if project is None:
                if not p.admin:
                    raise E.PermissionDeniedError("name a project (only admins list every subscription).")
            else:
                p.require(canonical(project), "maintainer")
            return store.list_webhooks(project)

        found: list[Any] = await call(work)
        return found

    @app.delete(f"{API}/webhooks/{{hook_id}}", tags=["webhooks"])
    async def remove_webhook(hook_id: int, request: Request) -> dict[str, Any]:
        p = await call(who, request)

        def work() -> None:
            hook = next((h for h in store.list_webhooks(None) if h["id"] == hook_id), None)
            if hook is None or not (p.admin or hook["project"] == "*" or p.can_see(hook["project"])):
                raise E.NotFoundError(f"no webhook {hook_id} you can see.")
            require_hooks(p, hook["project"])
            store.remove_webhook(hook_id)

        await call(work)
        return {"removed": hook_id}

    @app.get(f"{API}/webhooks/deliveries", tags=["webhooks"])
    async def list_deliveries(request: Request, project: str | None = Query(None, max_length=200),
                              limit: int = Query(100, ge=1, le=10_000)) -> list[Any]:
        """The delivery log, newest first (maintainer)."""
        p = await call(who, request)

        def work() -> Any:
            if project is None:
                if not p.admin:
                    raise E.PermissionDeniedError("name a project (only admins read every delivery).")
            else:
                p.require(canonical(project), "maintainer")
            return store.list_deliveries(project, limit)

        found: list[Any] = await call(work)
        return found

    @app.post(f"{API}/events", tags=["webhooks"])
    async def emit_event(body: EventIn, request: Request) -> dict[str, int]:
        """Queue an event (gate and monitoring results) for the project's subscribers (contributor)."""
        p = await call(who, request)

        def work() -> int:
            p.require(canonical(body.project), "contributor")
            payload = dict(body.payload) | {"actor": actor_of(p, str(body.payload.get("actor", "")))}
            return int(discreet(p, lambda: store.emit_event(body.project, body.event, payload), body.project))

        return {"queued": await call(work)}

    @app.get(f"{API}/registry/events", tags=["registry"])
    async def registry_events(request: Request, project: str = Query(..., max_length=200),
                              model: str | None = Query(None, max_length=200)) -> list[dict[str, Any]]:
        """The append-only history of stage and alias changes (of one model, or of the project)."""
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.registry_events(project, model), model or project)

        return [wire.event_to_json(e) for e in await call(work)]

    @app.get(f"{API}/datasets/uses", tags=["datasets"])
    async def dataset_uses(request: Request, project: str = Query(..., max_length=200),
                           digest: str | None = Query(None, max_length=200)) -> list[dict[str, Any]]:
        """Every tracked dataset version of the project's runs and model versions, one row per field."""
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.dataset_uses(project, digest), project)

        return [wire.use_to_json(u) for u in await call(work)]

    @app.get(f"{API}/datasets/manifest", tags=["datasets"])
    async def dataset_manifest(request: Request, project: str = Query(..., max_length=200),
                               digest: str = Query(..., pattern="^[0-9a-f]{64}$")) -> list[dict[str, Any]]:
        """The file list (path, size, content hash) of one dataset version."""
        p = await call(who, request)

        def work() -> Any:
            p.require(canonical(project), "viewer")
            return discreet(p, lambda: store.dataset_manifest(project, digest), project)

        result: list[dict[str, Any]] = await call(work)
        return result

    # ---------------------------------------------------------------------- blobs
    def digest_of(digest: str) -> str:
        if not _HEX64.fullmatch(digest):
            raise E.RequestError(f"{digest[:80]!r} is not a blob hash (64 lowercase hex digits)")
        return digest

    @app.post(f"{API}/blobs/missing", tags=["blobs"])
    async def blobs_missing(body: DigestsIn, request: Request) -> dict[str, list[str]]:
        """Which of these blobs the server lacks: a client sends only those (one request, not one per file)."""
        p = await call(who, request)
        require_any(p)
        wanted = [digest_of(d) for d in dict.fromkeys(body.digests)]

        def work() -> list[str]:
            return [d for d in wanted if not store.blobs.exists(d)]

        return {"missing": await call(work)}

    @app.head(f"{API}/blobs/{{digest}}", tags=["blobs"])
    async def blob_head(digest: str, request: Request) -> Response:
        p = await call(who, request)
        require_any(p)
        size = await call(not_here, p, f"blob {digest} is not stored on this server.", store.blobs.size,
                          digest_of(digest))
        return Response(headers={"content-length": str(size), "accept-ranges": "bytes",
                                 "etag": f'"{digest}"'})

    @app.get(f"{API}/blobs/{{digest}}", tags=["blobs"],
             responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "a range"}})
    async def blob_get(digest: str, request: Request) -> Response:
        """The bytes of a blob, streamed; honours a single ``Range: bytes=a-b``."""
        p = await call(who, request)
        require_any(p)
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

    @app.put(f"{API}/blobs/{{digest}}", tags=["blobs"])
    async def blob_put(digest: str, request: Request) -> dict[str, Any]:
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
        return {"digest": got, "size": size}

    @app.post(f"{API}/blobs/uploads", tags=["blobs"])
    async def upload_begin(body: UploadIn, request: Request) -> dict[str, Any]:
        """Start (or find already stored) a resumable upload of ``size`` bytes with SHA-256 ``digest``."""
        p = await call(who, request)
        require_writer(p)
        if await call(store.blobs.exists, body.digest):
            return {"exists": True, "digest": body.digest, "size": body.size}
        upload_id = await call(store.blobs.begin_upload, body.digest, body.size)
        return {"exists": False, "upload_id": upload_id, "part_size": PART_SIZE, "parts": {}}

    @app.get(f"{API}/blobs/uploads/{{upload_id}}", tags=["blobs"])
    async def upload_status(upload_id: str, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        require_any(p)
        parts = await call(not_here, p, no_upload(upload_id), store.blobs.uploaded_parts, upload_id)
        return {"upload_id": upload_id, "part_size": PART_SIZE, "parts": {str(k): v for k, v in parts.items()}}

    @app.put(f"{API}/blobs/uploads/{{upload_id}}/parts/{{number}}", tags=["blobs"])
    async def upload_part(upload_id: str, number: int, request: Request) -> dict[str, Any]:
        """One part (``part_size`` bytes, the last may be shorter); sending a part again replaces it."""
        p = await call(who, request)
        require_writer(p)
        if not 0 <= number < 100_000:
            raise E.RequestError(f"part number {number} is out of range")
        data = await request.body()
        if len(data) > PART_SIZE:
            raise E.RequestError(f"a part holds at most {PART_SIZE} bytes", status=413)
        size = await call(not_here, p, no_upload(upload_id), store.blobs.upload_part, upload_id, number, [data])
        return {"number": number, "size": size}

    @app.post(f"{API}/blobs/uploads/{{upload_id}}/complete", tags=["blobs"])
    async def upload_complete(upload_id: str, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        require_writer(p)
        digest, size = await call(not_here, p, no_upload(upload_id), store.blobs.complete_upload, upload_id)
        return {"digest": digest, "size": size}

    @app.delete(f"{API}/blobs/uploads/{{upload_id}}", tags=["blobs"])
    async def upload_abort(upload_id: str, request: Request) -> dict[str, Any]:
        p = await call(who, request)
        require_writer(p)
        await call(not_here, p, no_upload(upload_id), store.blobs.abort_upload, upload_id)
        return {"aborted": upload_id}

    if ui:
        from .ui import mount_ui

        mount_ui(app)
    return app


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


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))
