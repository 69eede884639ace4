"""The neptune client's HTTP API (backend and leaderboard), over naiad's store.

A slice of what the client calls (see docs/neptune-wire.md): configuration, the token exchange and
refresh, projects, creating and finding runs, pings, operations on atoms, series and string sets, the
structure of a run and reads of its atoms and series.  A request the client makes that is not served yet
answers 404 with a message naming it.
"""

from __future__ import annotations

import datetime as _dt
import uuid as uuidlib
from typing import Annotated, Any
from urllib.parse import parse_qs

import numpy as np
import orjson
from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse

from naiad import errors as E
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store.accounts import Accounts
from naiad.store.base import MODEL, MODEL_VERSION, RUN, ContainerInfo
from naiad.store.sql import SqlStore

from ..auth import Principal
from ..context import Api
from . import artifacts, files, legacy, signals, swagger, tables, tokens
from .operations import translate

_KINDS = {"run": RUN, "model": MODEL, "modelVersion": MODEL_VERSION}
_API_KINDS = {RUN: "run", MODEL: "model", MODEL_VERSION: "modelVersion", "project": "project"}


def _error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"errorType": error_type, "title": message, "message": message, "code": status},
                        status_code=status)


def _operations(body: bytes) -> list[Any]:
    """The list of operations a request carries (a malformed body: a clear 400)."""
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise E.InvalidValueError(f"the operations are not JSON ({exc})") from None
    if not isinstance(items, list):
        raise E.InvalidValueError("the body is a JSON list of operations, {'path': ..., '<kind>': {...}} each")
    return items


def register(app: FastAPI, api: Api) -> None:
    store = api.store
    accounts = api.auth.accounts

    def need_accounts() -> Accounts:
        if accounts is None:
            raise E.AuthError("this naiad server has no accounts, so the neptune client cannot sign in to it.")
        return accounts

    def principal(request: Request) -> Principal:
        return principal_of(request.headers.get("authorization", ""))

    def principal_of(header: str) -> Principal:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise E.AuthError("the neptune client signs in with NEPTUNE_API_TOKEN; no access token came.")
        claims = tokens.check(need_accounts(), token.strip())
        found = need_accounts().account(claims["sub"])
        return Principal(found.name, admin=found.admin, roles=need_accounts().roles(found.name))

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def experiment(info: ContainerInfo) -> dict[str, Any]:
        workspace, _, name = info.project.rpartition("/")
        return {"id": info.uuid, "type": _API_KINDS.get(info.kind, info.kind), "shortId": info.short_id,
                "organizationName": workspace, "projectName": name, "projectId": info.project,
                "organizationId": workspace, "trashed": False}

    def project_container(p: Principal, name: str, role: str) -> ContainerInfo | None:
        """The project's own container (``init_project``: the client names it by the project's id, which
        is its name here); made on a contributor's first write, None for a reader before that."""
        if not p.can_see(name):
            return None
        project = store.get_project(name).name
        ids = store.query_table(project, "project", columns=["sys/id"]).ids
        if ids:
            return store.get_container(short_id=ids[0])
        if role == "viewer":
            return None
        p.require(project, role)
        return store.create_container(project, "project", uuidlib.uuid5(uuidlib.NAMESPACE_URL,
                                                                          f"naiad:project:{project}").hex)

    def find(p: Principal, experiment_id: str, role: str = "viewer") -> ContainerInfo:
        try:
            if experiment_id.count("/") >= 2:  # workspace/project/SHORT-ID
                project, _, short_id = experiment_id.rpartition("/")
                info = store.get_container(short_id=short_id, project=project)
            else:
                info = store.get_container(uuid=experiment_id)
        except E.ContainerNotFound:
            try:
                found = project_container(p, experiment_id, role)
            except E.ProjectNotFound:
                found = None
            if found is None:
                raise E.ContainerNotFound(f"no run {experiment_id!r} here") from None
            info = found
        if not p.can_see(info.project):
            raise E.ContainerNotFound(f"no run {experiment_id!r} here")
        p.require(info.project, role)
        return info

    async def guarded(fn: Any, *args: Any) -> Any:
        try:
            return await api.call(fn, *args)
        except E.AuthError as exc:
            return _error(401 if not isinstance(exc, E.PermissionDeniedError) else 403, "UNAUTHORIZED", str(exc))
        except E.MissingFieldError as exc:  # the field, not its run: the client's plain 404
            return _error(404, "ATTRIBUTE_NOT_FOUND", str(exc))
        except (E.ContainerNotFound, E.ProjectNotFound) as exc:
            kind = "EXPERIMENT_NOT_FOUND" if isinstance(exc, E.ContainerNotFound) else "PROJECT_NOT_FOUND"
            return _error(404, kind, str(exc))
        except E.NaiadError as exc:
            return _error(400, "BAD_REQUEST", str(exc))
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:  # a malformed request
            return _error(400, "BAD_REQUEST", f"malformed request: {str(exc)[:300]}")

    # ------------------------------------------------------------------ documents and sign-in
    @app.get(f"{swagger.BACKEND}/swagger.json", include_in_schema=False)
    async def backend_doc() -> dict[str, Any]:
        return swagger.backend()

    @app.get(f"{swagger.LEADERBOARD}/swagger.json", include_in_schema=False)
    async def leaderboard_doc() -> dict[str, Any]:
        return swagger.leaderboard()

    @app.get(f"{swagger.BACKEND}/v1/clients/config", include_in_schema=False)
    async def client_config(request: Request) -> Any:
        def answer() -> dict[str, Any]:
            need_accounts().verify(tokens.api_key_of(request.headers.get("x-neptune-api-token", "")))
            url = base(request)
            return {"apiUrl": url, "applicationUrl": url,
                    "multiPartUpload": files.multipart_config(),
                    "artifacts": {"enabled": True, "apiVersion": 2},
                    "sysNameSetByBackend": False}
        return await guarded(answer)

    @app.get(f"{swagger.BACKEND}/v1/authorization/oauth-token", include_in_schema=False)
    async def exchange(request: Request) -> Any:
        def answer() -> dict[str, Any]:
            key = tokens.api_key_of(request.headers.get("x-neptune-api-token", ""))
            return tokens.issue(need_accounts(), key, base(request))
        return await guarded(answer)

    @app.post(tokens.AUTH_PATH + tokens.REFRESH_PATH, include_in_schema=False)
    async def refresh(request: Request) -> Any:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        refresh_token, grant_type = form.get("refresh_token", ""), form.get("grant_type", "")

        def answer() -> Any:
            if grant_type != "refresh_token":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            return tokens.refresh(need_accounts(), refresh_token, base(request))
        try:
            return await api.call(answer)
        except E.AuthError as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, status_code=400)

    # ------------------------------------------------------------------ projects
    def project_answer(name: str, key: str) -> dict[str, Any]:
        workspace, _, short = name.rpartition("/")
        return {"id": name, "name": short, "organizationName": workspace, "organizationId": workspace,
                "projectKey": key, "version": 2}

    @app.get(f"{swagger.BACKEND}/v1/projects/get", include_in_schema=False)
    async def get_project(request: Request, projectIdentifier: str) -> Any:
        def answer() -> dict[str, Any]:
            p = principal(request)
            if not p.can_see(projectIdentifier):
                raise E.ProjectNotFound(f"project {projectIdentifier!r} does not exist or you have no role in it")
            try:
                found = store.get_project(projectIdentifier)
            except E.ProjectNotFound:
                p.require(projectIdentifier, "contributor")  # a contributor's first run makes it, as init_run does
                found = store.get_or_create_project(projectIdentifier)
            return project_answer(found.name, found.key)
        return await guarded(answer)

    @app.get(f"{swagger.BACKEND}/v1/projects", include_in_schema=False)
    async def list_projects(request: Request, searchTerm: str = "") -> Any:
        def answer() -> dict[str, Any]:
            p = principal(request)
            seen = [project_answer(x.name, x.key) for x in store.list_projects()
                    if p.can_see(x.name) and searchTerm in x.name]
            return {"entries": seen, "matchingItemCount": len(seen), "totalItemCount": len(seen)}
        return await guarded(answer)

    @app.get(f"{swagger.BACKEND}/v1/myOrganizations", include_in_schema=False)
    async def list_organizations(request: Request) -> Any:
        def answer() -> list[dict[str, Any]]:
            p = principal(request)
            names = sorted({x.name.rpartition("/")[0] for x in store.list_projects() if p.can_see(x.name)})
            return [{"id": n, "name": n} for n in names]
        return await guarded(answer)

    # ------------------------------------------------------------------ runs
    lb = f"{swagger.LEADERBOARD}/v1"

    @app.post(f"{lb}/experiments", include_in_schema=False)
    async def create(request: Request, params: Annotated[dict[str, Any], Body()]) -> Any:
        def answer() -> Any:
            p = principal(request)
            project = str(params.get("projectIdentifier") or "")
            kind = _KINDS.get(str(params.get("type") or "run"))  # neptune.legacy sends no type: a run
            if kind is None:
                return _error(400, "BAD_REQUEST", f"this naiad server does not create {params.get('type')!r} "
                                                   "containers over the neptune API yet")
            if not p.can_see(project):
                raise E.ProjectNotFound(f"project {project!r} does not exist or you have no role in it")
            p.require(project, "contributor")
            custom = params.get("customId") or None
            if (custom is not None and not isinstance(custom, str)) or not isinstance(params.get("key") or "", str):
                raise E.InvalidValueError("customId and key are strings")
            parent = None
            if kind == MODEL_VERSION:  # the client names the model by its uuid
                parent = find(p, str(params.get("parentId") or ""), "contributor").short_id
            try:
                info = store.create_container(project, kind, uuidlib.uuid4().hex, custom_run_id=custom, owner=p.name,
                                              key=params.get("key"), parent=parent)
            except E.ModelKeyTakenError as exc:
                return _error(409, "CONFLICT", str(exc))  # the client's NeptuneModelKeyAlreadyExistsError
            git = legacy.git_ops(params.get("gitInfo"))
            if git and info.is_new:
                write(info, git)
            return experiment(info)
        return await guarded(answer)

    @app.get(f"{lb}/experiments", include_in_schema=False)
    async def get_experiment(request: Request, experimentId: str) -> Any:
        return await guarded(lambda: experiment(find(principal(request), experimentId)))

    def write(info: ContainerInfo, ops: list[O.Op]) -> list[str]:
        """Apply ops the client's requests became; an op the shape checks refuse is said, the rest stored."""
        kept: list[O.Op] = []
        refused: list[str] = []
        for op in ops:
            try:
                O.validate_batch(Batch(info.uuid, "neptune", 1, [op]))
            except ValueError as exc:
                refused.append(f"'{op[1]}': {str(exc)[:300]}; it was not stored")
                kept.append((O.ERROR, "", refused[-1]))
            else:
                kept.append(op)
        result = store.apply(Batch(info.uuid, f"neptune-{uuidlib.uuid4().hex}", 1, kept))
        return refused + result.errors

    files.register(app, guarded, find, principal, write, store.blobs)
    files.register_downloads(app, guarded, find, principal, store)
    tables.register(app, api, guarded, principal)
    artifacts.register(app, store, guarded, principal, find)
    signals.register(app, store, principal_of, find, write, lambda: api.released(lambda: None))
    legacy.register(app, api, guarded, principal, find)

    @app.post(f"{lb}/experiments/ping", include_in_schema=False)
    async def ping(request: Request, experimentId: str) -> Any:
        def answer() -> Any:
            info = find(principal(request), experimentId, "contributor")
            now = _dt.datetime.now(_dt.timezone.utc).timestamp()
            ops: list[O.Op] = [(O.ASSIGN, "sys/ping_time", F.DATETIME, now)]
            if info.kind == RUN:
                ops.append((O.ASSIGN, "sys/state", F.STRING, "running"))
            write(info, ops)
            return None
        return await guarded(answer)

    @app.post(f"{lb}/experiments/operations", include_in_schema=False)
    async def execute(request: Request, experimentId: str) -> Any:
        body = await request.body()  # parsed on the worker thread (orjson), not validated item by item

        def answer() -> Any:
            p = principal(request)
            info = find(p, experimentId, "contributor")
            operations = _operations(body)
            stages = [item for item in operations if isinstance(item, dict) and item.get("path") == "sys/stage"]
            rest = [item for item in operations if not (isinstance(item, dict) and item.get("path") == "sys/stage")]
            last = store.series_last_steps(info.uuid)
            ops, problems = translate(rest, store.structure(info.uuid), last.get, store.blobs.put_bytes,
                                      lambda digest: store.get_manifest(info.project, digest)
                                      if isinstance(store, SqlStore) else None)
            for item in stages:  # change_stage(): the registry moves it, with its history and its policy
                payload = item.get("assignString")
                stage = payload.get("value") if isinstance(payload, dict) else None
                try:
                    if info.kind != MODEL_VERSION or not isinstance(stage, str):
                        raise E.ProtectedPathError("'sys/stage' is a model version's stage, moved by change_stage")
                    store.change_stage(info.short_id, stage, actor=p.name, reason="neptune client change_stage")
                except E.NaiadError as exc:
                    problems.append(f"'sys/stage': {exc}")
            ops += [(O.ERROR, "", problem) for problem in problems]
            if any(op[0] == O.ASSIGN and op[1] == "sys/failed" and op[3] for op in ops) and info.kind == RUN:
                state = store.read_fields(info.uuid, ["sys/state"]).get("sys/state")
                if state is not None and state.value == "finished":  # the failure came after the close
                    ops.append((O.ASSIGN, "sys/state", F.STRING, "failed"))
            refused = write(info, ops) if ops else []
            return [{"errorDescription": text} for text in problems + refused]
        return await guarded(answer)

    def atom(request: Request, experiment_id: str, attribute: str, kind: str) -> Any:
        """The field ``attribute`` of the run, which must be of the client's type ``kind``."""
        info = find(principal(request), experiment_id)
        fv = store.read_fields(info.uuid, [attribute]).get(attribute)
        if fv is None:
            raise E.MissingFieldError(f"{info.short_id} has no field {attribute!r}")
        if tables.neptune_type(attribute, fv.type) != kind:
            raise E.MissingFieldError(f"'{attribute}' of {info.short_id} is not a {kind} field")
        return fv

    for kind in ("float", "int", "bool", "string", "datetime"):
        def make(kind: str) -> Any:
            async def read(request: Request, experimentId: str, attribute: str) -> Any:
                def answer() -> dict[str, Any]:
                    value = atom(request, experimentId, attribute, kind).value
                    if kind == "datetime" and value is not None:
                        value = _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc).isoformat()
                    return {"attributeName": attribute, "attributeType": kind, "value": value}
                return await guarded(answer)
            return read
        app.get(f"{lb}/attributes/{kind}", include_in_schema=False)(make(kind))

    @app.get(f"{lb}/attributes/artifact", include_in_schema=False)
    async def artifact(request: Request, experimentId: str, attribute: str) -> Any:
        def answer() -> dict[str, Any]:
            return {"hash": (atom(request, experimentId, attribute, "artifact").value or {}).get("hash")}
        return await guarded(answer)

    @app.get(f"{lb}/attributes/stringSet", include_in_schema=False)
    async def string_set(request: Request, experimentId: str, attribute: str) -> Any:
        def answer() -> dict[str, Any]:
            values = atom(request, experimentId, attribute, "stringSet").value
            return {"attributeName": attribute, "attributeType": "stringSet", "values": sorted(values or [])}
        return await guarded(answer)

    for kind, label in (("floatSeries", "float"), ("stringSeries", "string")):
        def make_last(kind: str) -> Any:
            async def read(request: Request, experimentId: str, attribute: str) -> Any:
                def answer() -> dict[str, Any]:
                    last = atom(request, experimentId, attribute, kind).value
                    return {"attributeName": attribute, "attributeType": kind, "last": last}
                return await guarded(answer)
            return read

        def make_values(label: str) -> Any:
            async def values(request: Request, experimentId: str, attribute: str,
                             limit: int = 1000, offset: int = 0) -> Any:
                def answer() -> dict[str, Any]:
                    atom(request, experimentId, attribute, f"{label}Series")
                    info = find(principal(request), experimentId)
                    data, total = store.read_series_window(info.uuid, attribute, offset, min(limit, 10_000))
                    millis = np.rint(np.asarray(data.timestamps) * 1000).astype(np.int64).tolist()
                    steps = np.asarray(data.steps, dtype=float).tolist()
                    values = (np.asarray(data.values, dtype=float).tolist() if label == "float"
                              else [str(v) for v in data.values])
                    points = [{"step": step, "timestampMillis": stamp, "value": value}
                              for step, stamp, value in zip(steps, millis, values, strict=True)]
                    return {"totalItemCount": total, "values": points}
                return await guarded(answer)
            return values
        app.get(f"{lb}/attributes/{kind}", include_in_schema=False)(make_last(kind))
        app.get(f"{lb}/attributes/series/{label}", include_in_schema=False)(make_values(label))
