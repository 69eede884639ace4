"""A run's attributes with their values, as the neptune client reads them — and what its
``neptune.legacy`` (the 0.x session API inside the 1.x package) asks beyond that.

``getExperimentAttributes`` answers each field with its typed properties (value, last value and step,
set members) and the run's system attributes; 1.x reads the names and types, ``neptune.legacy`` the
values (``get_parameters``, ``get_properties``, ``get_tags``, ``get_system_properties``, channels' last
values).  Also served: the project's leaderboard (``project.get_leaderboard()`` /
``get_experiments``), a float series as CSV (``get_numeric_channels_values``), the project's members,
and the git state the client sends when it creates a run.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.responses import PlainTextResponse

from naiad import errors as E
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.store.base import RUN, ContainerInfo, FieldValue

from . import swagger, tables

_SERIES = (F.FLOAT_SERIES, F.STRING_SERIES, F.FILE_SERIES)
_GIT_COMMIT = {"commitId": "commit_id", "message": "message", "authorName": "author_name",
               "authorEmail": "author_email"}
MAX_PAGE = 10_000


def git_ops(git: Any) -> list[O.Op]:
    """The client's ``gitInfo`` (sent when it creates a run) as naiad's ``source_code/git/…`` fields."""
    if not isinstance(git, dict):
        return []
    commit: dict[str, Any] = git["commit"] if isinstance(git.get("commit"), dict) else {}
    ops: list[O.Op] = [(O.ASSIGN, f"source_code/git/{name}", F.STRING, commit[key].rstrip("\n"))
                       for key, name in _GIT_COMMIT.items() if isinstance(commit.get(key), str)]
    date = commit.get("commitDate")
    if isinstance(date, str):
        try:
            when = _dt.datetime.fromisoformat(date)
        except ValueError:
            when = None
        if when is not None:
            when = when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)
            ops.append((O.ASSIGN, "source_code/git/commit_date", F.DATETIME, when.timestamp()))
    if isinstance(git.get("currentBranch"), str):
        ops.append((O.ASSIGN, "source_code/git/branch", F.STRING, git["currentBranch"]))
    if isinstance(git.get("repositoryDirty"), bool):
        ops.append((O.ASSIGN, "source_code/git/dirty", F.BOOLEAN, git["repositoryDirty"]))
    remotes = [r for r in git.get("remotes") or [] if isinstance(r, str)]
    if remotes:
        ops.append((O.ADD, "source_code/git/remotes", remotes))
    return ops


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return _dt.datetime.fromtimestamp(stamp, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _value(fields: dict[str, FieldValue], path: str, default: Any = None) -> Any:
    fv = fields.get(path)
    return default if fv is None or fv.value is None else fv.value


def _stored_bytes(fields: dict[str, FieldValue]) -> int:
    """The bytes of the files the run holds (File and FileSet fields; tracked artifacts are not stored)."""
    total = 0
    for fv in fields.values():
        if fv.type == F.FILE and isinstance(fv.value, dict):
            total += int(fv.value.get("size") or 0)
        elif fv.type == F.FILE_SET and isinstance(fv.value, dict):
            total += sum(int(entry.get("size") or 0) for entry in fv.value.values() if isinstance(entry, dict))
    return total


def running_time(fields: dict[str, FieldValue], created: float) -> float:
    """Seconds from creation to the last sign of life (a ping or a write)."""
    start = _value(fields, "sys/creation_time", created)
    last = max(_value(fields, "sys/ping_time", start), _value(fields, "sys/modification_time", start))
    return round(max(0.0, last - start), 3)


def _hostname(fields: dict[str, FieldValue]) -> str | None:
    if "environment/hostname" in fields:
        return str(fields["environment/hostname"].value)
    for path, fv in sorted(fields.items()):  # the 1.x client and naiad's SDK: one namespace a process
        if path.startswith("monitoring/") and path.endswith("/hostname") and fv.type == F.STRING:
            return str(fv.value)
    return None


def experiment_attributes(info: ContainerInfo, fields: dict[str, FieldValue],
                          last_steps: dict[str, float]) -> dict[str, Any]:
    """``getExperimentAttributes``' answer: every field with its typed properties, and the run's system
    attributes (the legacy client's ``LegacyExperiment``)."""
    listed = []
    for path, fv in sorted(fields.items()):
        kind = tables.neptune_type(path, fv.type)
        props = {"attributeName": path, "attributeType": kind, **tables.properties(path, fv)}
        if fv.type in _SERIES:
            props["lastStep"] = last_steps.get(path)
        listed.append({"name": path, "type": kind, f"{kind}Properties": props})
    workspace, _, project = info.project.rpartition("/")
    state = _value(fields, "sys/state", "running")
    system = {
        "id": {"value": info.uuid}, "shortId": {"value": info.short_id},
        "name": {"value": _value(fields, "sys/name", "")},
        "creationTime": {"value": _iso(_value(fields, "sys/creation_time", info.created))},
        "runningTime": {"value": running_time(fields, info.created)},
        "owner": {"value": _value(fields, "sys/owner", "")},
        "size": {"value": _stored_bytes(fields)},
        "tags": {"values": sorted(_value(fields, "sys/tags", set()))},
        "description": {"value": _value(fields, "sys/description", "")},
        "hostname": {"value": _hostname(fields)},
        "state": {"value": "running" if state == "running" else "idle"},
    }
    return {"id": info.uuid, "organizationName": workspace, "projectName": project, "type": "run",
            "attributes": listed, "systemAttributes": system}


def register(app: FastAPI, api: Any, guarded: Callable[..., Any], principal: Callable[[Request], Any],
             find: Callable[..., ContainerInfo]) -> None:
    store = api.store
    lb = f"{swagger.LEADERBOARD}/v1"

    def described(info: ContainerInfo) -> dict[str, Any]:
        return experiment_attributes(info, store.read_fields(info.uuid), store.series_last_steps(info.uuid))

    @app.get(f"{lb}/experiments/attributes", include_in_schema=False)
    async def attributes(request: Request, experimentId: str) -> Any:
        def answer() -> dict[str, Any]:
            p = principal(request)
            try:
                info = find(p, experimentId)
            except E.ContainerNotFound:
                if p.can_see(experimentId):  # a project with no fields of its own yet
                    return {"id": experimentId, "attributes": []}
                raise
            return described(info)
        return await guarded(answer)

    @app.get(f"{lb}/leaderboard", include_in_schema=False)
    async def leaderboard(request: Request, projectIdentifier: str,
                          shortId: Annotated[list[str] | None, Query()] = None,
                          state: Annotated[list[str] | None, Query()] = None,
                          owner: Annotated[list[str] | None, Query()] = None,
                          tags: Annotated[list[str] | None, Query()] = None, tagsMode: str = "and",
                          minRunningTimeSeconds: float | None = None,
                          sortDirection: Annotated[list[str] | None, Query()] = None,
                          limit: int = 100, offset: int = 0) -> Any:
        def answer() -> dict[str, Any]:
            p = principal(request)
            if not p.can_see(projectIdentifier):
                raise E.ProjectNotFound(f"project {projectIdentifier!r} does not exist or you have no role in it")
            project = store.get_project(projectIdentifier).name
            table = store.query_table(project, RUN, columns=["sys/owner", "sys/tags", "sys/state", "sys/creation_time",
                                                             "sys/ping_time", "sys/modification_time"])
            wanted_tags = set(tags or [])
            kept: list[tuple[int, str]] = []
            for short_id, row in zip(table.ids, table.rows, strict=True):
                run_state = "running" if _value(row, "sys/state") == "running" else "idle"
                run_tags = set(_value(row, "sys/tags", set()))
                if (shortId and short_id not in shortId) or (state and run_state not in state):
                    continue
                if owner and _value(row, "sys/owner") not in owner:
                    continue
                if wanted_tags and not (wanted_tags <= run_tags if tagsMode != "or" else wanted_tags & run_tags):
                    continue
                if minRunningTimeSeconds is not None and running_time(row, 0.0) < minRunningTimeSeconds:
                    continue
                kept.append((int(short_id.rpartition("-")[2]), short_id))
            kept.sort(reverse=(sortDirection or ["ascending"])[0] == "descending")  # by number: X-2 < X-10
            start = max(0, offset)
            page = kept[start:start + max(0, min(limit, MAX_PAGE))]
            entries = [described(store.get_container(short_id=short_id)) for _, short_id in page]
            return {"entries": entries, "matchingItemCount": len(kept), "totalItemCount": len(kept)}
        return await guarded(answer)

    @app.get(f"{lb}/attributes/series/float/csv", include_in_schema=False)
    async def float_csv(request: Request, experimentId: str, attribute: str) -> Any:
        def answer() -> Any:
            info = find(principal(request), experimentId)
            if store.structure(info.uuid).get(attribute) != F.FLOAT_SERIES:
                raise E.MissingFieldError(f"{info.short_id} has no float series {attribute!r}")
            data = store.read_series(info.uuid, attribute)
            millis = np.rint(np.asarray(data.timestamps) * 1000).astype(np.int64)
            lines = [f"{step!r},{stamp},{value!r}" for step, stamp, value in
                     zip(np.asarray(data.steps, dtype=float).tolist(), millis.tolist(),
                         np.asarray(data.values, dtype=float).tolist(), strict=True)]
            return PlainTextResponse("".join(line + "\n" for line in lines), media_type="text/csv")
        return await guarded(answer)

    @app.get(f"{swagger.BACKEND}/v1/projects/members", include_in_schema=False)
    async def members(request: Request, projectIdentifier: str) -> Any:
        def answer() -> list[dict[str, Any]]:
            p = principal(request)
            if not p.can_see(projectIdentifier):
                raise E.ProjectNotFound(f"project {projectIdentifier!r} does not exist or you have no role in it")
            return [{"role": role, "registeredMemberInfo": {"username": name}}
                    for name, role in api.auth.accounts.members(projectIdentifier)]
        return await guarded(answer)
