"""The neptune client's artifacts (``track_files``): it hashes the files itself and sends only their
manifest, by its own hash, before it assigns that hash to a field.  The manifest waits in the store
(``manifests``) until the ``assignArtifact`` operation names it; the field is then the same Artifact
field ``track_files`` of the naiad SDK writes (its hash naiad's, over path, content hash, size, type)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request

from naiad import errors as E
from naiad.core import fields as F
from naiad.store.sql.apply import artifact_hash

ARTIFACTS = "/api/artifacts"


def to_naiad(dto: Any) -> dict[str, Any]:
    """A manifest entry as the client sends it, in naiad's shape; refused (ValueError) when malformed.  A
    ``blob`` key in its metadata is dropped: only naiad says where a file's bytes are stored."""
    if not isinstance(dto, dict):
        raise ValueError("a manifest entry is an object {filePath, fileHash, type, size, metadata}")
    raw = dto.get("metadata") or []
    meta = {str(m.get("key")): m.get("value") for m in (raw if isinstance(raw, list) else []) if isinstance(m, dict)}
    meta.pop("blob", None)
    size = dto.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ValueError(f"a manifest entry's size is a whole number of bytes (got {str(size)[:40]})")
    path = str(dto.get("filePath") or "")
    problem = F.relative_name_problem(path)
    if problem:
        raise ValueError(f"file name {path[:200]!r} cannot be stored: {problem}")
    return {"file_path": path, "file_hash": str(dto.get("fileHash") or ""),
            "type": str(dto.get("type") or "Local"), "size": size, "metadata": meta}


def to_neptune(entry: dict[str, Any]) -> dict[str, Any]:
    meta = [{"key": k, "value": str(v)} for k, v in sorted((entry.get("metadata") or {}).items())]
    return {"filePath": entry.get("file_path"), "fileHash": entry.get("file_hash"), "type": entry.get("type"),
            "size": entry.get("size"), "metadata": meta}


def swagger_doc() -> dict[str, Any]:
    from .swagger import doc, obj, op, param, ref

    _S, _I = {"type": "string"}, {"type": "integer", "format": "int64"}

    project, digest = param("projectIdentifier", required=True), param("hash", required=True)
    files = param("artifactFilesDTO", "body", ref("ArtifactFiles"))
    version = param("X-Neptune-Artifact-Api-Version", "header")
    v2 = f"{ARTIFACTS}/v2"
    return doc("naiad: neptune artifacts API", {
        f"{v2}/artifacts/new": {"post": op("createNewArtifact", [
            project, digest, param("size", kind="integer"), param("parentIdentifier"), version], ref("Artifact"))},
        f"{v2}/artifacts/metadata": {"post": op("uploadArtifactFilesMetadata", [project, digest, files, version],
                                                ref("Artifact"))},
        f"{v2}/artifacts/version": {"post": op("createArtifactVersion", [
            project, digest, param("parentIdentifier"), files, version], ref("Artifact"))},
        f"{v2}/artifacts/files": {"get": op("listArtifactFiles", [project, digest, version], ref("ArtifactFiles"))},
    }, {
        "Artifact": obj(artifactHash=_S, receivedMetadata={"type": "boolean"}, size=_I),
        "ArtifactFiles": obj(files={"type": "array", "items": ref("ArtifactFile")}),
        "ArtifactFile": obj(filePath=_S, fileHash=_S, type=_S, size=_I,
                            metadata={"type": "array", "items": ref("ArtifactMetadata")}),
        "ArtifactMetadata": obj(key=_S, value=_S),
    })


def register(app: FastAPI, store: Any, guarded: Callable[..., Any], principal: Callable[[Request], Any],
             find: Callable[..., Any]) -> None:
    v2 = f"{ARTIFACTS}/v2"

    @app.get(f"{ARTIFACTS}/swagger.json", include_in_schema=False)
    async def document() -> dict[str, Any]:
        return swagger_doc()

    def project_of(request: Request, name: str, role: str) -> str:
        p = principal(request)
        if not p.can_see(name):
            raise E.ProjectNotFound(f"project {name!r} does not exist or you have no role in it")
        p.require(name, role)
        return str(store.get_project(name).name)

    def answer(digest: str, files: list[dict[str, Any]] | None) -> dict[str, Any]:
        size = sum(int(f.get("size") or 0) for f in files or [])
        return {"artifactHash": digest, "receivedMetadata": files is not None, "size": size}

    @app.post(f"{v2}/artifacts/new", include_in_schema=False)
    async def new(request: Request, projectIdentifier: str, hash: str) -> Any:
        def run() -> dict[str, Any]:
            project = project_of(request, projectIdentifier, "contributor")
            return answer(hash, store.get_manifest(project, hash))
        return await guarded(run)

    @app.post(f"{v2}/artifacts/metadata", include_in_schema=False)
    async def metadata(request: Request, projectIdentifier: str, hash: str,
                       artifactFilesDTO: Annotated[dict[str, Any], Body()]) -> Any:
        def run() -> dict[str, Any]:
            project = project_of(request, projectIdentifier, "contributor")
            files = [to_naiad(f) for f in artifactFilesDTO.get("files") or []]
            store.put_manifest(project, hash, files)
            return answer(hash, files)
        return await guarded(run)

    @app.post(f"{v2}/artifacts/version", include_in_schema=False)
    async def version(request: Request, projectIdentifier: str, hash: str,
                      artifactFilesDTO: Annotated[dict[str, Any], Body()]) -> Any:
        def run() -> dict[str, Any]:
            project = project_of(request, projectIdentifier, "contributor")
            old = store.get_manifest(project, hash)
            if old is None:
                raise E.ContainerNotFound(f"no artifact {hash[:16]} in project {project!r}")
            merged = {e["file_path"]: e for e in old}
            merged.update({e["file_path"]: e for e in (to_naiad(f) for f in artifactFilesDTO.get("files") or [])})
            files = sorted(merged.values(), key=lambda e: e["file_path"])
            digest = artifact_hash(files)
            store.put_manifest(project, digest, files)
            return answer(digest, files)
        return await guarded(run)

    @app.get(f"{v2}/artifacts/files", include_in_schema=False)
    async def listed(request: Request, projectIdentifier: str, hash: str) -> Any:
        def run() -> dict[str, Any]:
            project = project_of(request, projectIdentifier, "viewer")
            files = store.get_manifest(project, hash)
            if files is None:
                raise E.ContainerNotFound(f"no artifact {hash[:16]} in project {project!r}")
            return {"files": [to_neptune(e) for e in files]}
        return await guarded(run)
