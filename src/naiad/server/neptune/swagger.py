"""The Swagger 2.0 documents the neptune client builds its HTTP client from: naiad's own, describing
exactly what :mod:`naiad.server.neptune` serves.

The client (bravado) calls operations by id, on the resource named by the tag ``api``; it turns a
response into attribute-readable objects only where the schema is a named definition, and refuses a
parameter the document does not declare.  So every operation here is tagged ``api``, every response the
client reads by attribute is a ``$ref``, and every parameter it sends is declared.  Paths are absolute
(no ``basePath``, no ``host``: the client joins them to the URL its token names).
"""

from __future__ import annotations

from typing import Any

BACKEND = "/api/backend"
LEADERBOARD = "/api/leaderboard"

_S = {"type": "string"}
_B = {"type": "boolean"}
_I = {"type": "integer", "format": "int64"}
_N = {"type": "number", "format": "double"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{name}"}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def _param(name: str, where: str = "query", schema: dict[str, Any] | None = None, required: bool = False,
           kind: str = "string", array: bool = False) -> dict[str, Any]:
    if where == "body":
        return {"name": name, "in": "body", "required": True, "schema": schema}
    out: dict[str, Any] = {"name": name, "in": where, "required": required, "type": "array" if array else kind}
    if array:
        out["items"] = {"type": kind}
        out["collectionFormat"] = "multi"
    return out


def _op(op_id: str, params: list[dict[str, Any]], response: dict[str, Any] | None) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    if response is not None:
        ok["schema"] = response
    return {"operationId": op_id, "tags": ["api"], "parameters": params, "produces": ["application/json"],
            "consumes": ["application/json"], "responses": {"200": ok}}


def _doc(title: str, paths: dict[str, dict[str, Any]], definitions: dict[str, Any]) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": title, "version": "1.0"}, "basePath": "/",
            "paths": paths, "definitions": definitions}


def backend() -> dict[str, Any]:
    token = _param("X-Neptune-Api-Token", "header", required=True)
    v1 = f"{BACKEND}/v1"
    return _doc("naiad: neptune backend API", {
        f"{v1}/clients/config": {"get": _op("getClientConfig", [token, _param("alpha", kind="boolean")],
                                            _ref("ClientConfig"))},
        f"{v1}/authorization/oauth-token": {"get": _op("exchangeApiToken", [token], _ref("NeptuneOauthToken"))},
        f"{v1}/projects/get": {"get": _op("getProject", [_param("projectIdentifier", required=True)],
                                          _ref("ProjectWithVersion"))},
        f"{v1}/projects": {"get": _op("listProjects", [
            _param("limit", kind="integer"), _param("offset", kind="integer"), _param("organizationIdentifier"),
            _param("searchTerm"), _param("sortBy", array=True), _param("sortDirection", array=True),
            _param("userRelation"), _param("viewedUsername")], _ref("ProjectList"))},
        f"{v1}/myOrganizations": {"get": _op("listOrganizations", [], {"type": "array",
                                                                       "items": _ref("Organization")})},
    }, {
        "ClientConfig": _obj(apiUrl=_S, applicationUrl=_S, pyLibVersions=_ref("ClientVersions"),
                             multiPartUpload=_ref("MultipartUploadConfig"), artifacts=_ref("ArtifactsConfig"),
                             sysNameSetByBackend=_B),
        "ClientVersions": _obj(minRecommendedVersion=_S, minCompatibleVersion=_S, maxCompatibleVersion=_S),
        "MultipartUploadConfig": _obj(enabled=_B, minChunkSize=_I, maxChunkSize=_I, maxChunkCount=_I,
                                      maxSinglePartSize=_I),
        "ArtifactsConfig": _obj(enabled=_B, apiVersion=_I),
        "NeptuneOauthToken": _obj(accessToken=_S, refreshToken=_S, username=_S),
        "ProjectWithVersion": _obj(id=_S, name=_S, organizationName=_S, organizationId=_S, projectKey=_S,
                                   version=_I),
        "ProjectList": _obj(entries={"type": "array", "items": _ref("ProjectListItem")}, matchingItemCount=_I,
                            totalItemCount=_I),
        "ProjectListItem": _obj(id=_S, name=_S, organizationName=_S, organizationId=_S, projectKey=_S),
        "Organization": _obj(id=_S, name=_S),
    })


def leaderboard() -> dict[str, Any]:
    v1 = f"{LEADERBOARD}/v1"
    exp = _param("experimentId", required=True)
    attribute = _param("attribute", required=True)
    commit = _obj(commitId=_S, message=_S, authorName=_S, authorEmail=_S,
                  commitDate={"type": "string", "format": "date-time"})
    git = _obj(commit=commit, repositoryDirty=_B, currentBranch=_S, remotes={"type": "array", "items": _S})
    creation = _obj(projectIdentifier=_S, parentId=_S, type=_S, cliVersion=_S, customId=_S, key=_S,
                    notebookId=_S, checkpointId=_S, gitInfo=git)
    atoms = {f"get{kind}Attribute": (kind, schema) for kind, schema in (
        ("Float", _N), ("Int", _I), ("Bool", _B), ("String", _S), ("Datetime", {"type": "string",
                                                                                 "format": "date-time"}))}
    paths: dict[str, dict[str, Any]] = {
        f"{v1}/experiments": {
            "get": _op("getExperiment", [exp], _ref("Experiment")),
            "post": _op("createExperiment", [_param("experimentCreationParams", "body", creation),
                                             _param("X-Neptune-CliVersion", "header")], _ref("Experiment"))},
        f"{v1}/experiments/ping": {"post": _op("ping", [exp], None)},
        f"{v1}/experiments/operations": {"post": _op("executeOperations", [
            exp, _param("operations", "body", {"type": "array", "items": {"type": "object"}})],
            {"type": "array", "items": _ref("Error")})},
        f"{v1}/experiments/attributes": {"get": _op("getExperimentAttributes", [exp], _ref("ExperimentAttributes"))},
        f"{v1}/attributes/stringSet": {"get": _op("getStringSetAttribute", [exp, attribute],
                                                  _ref("StringSetAttribute"))},
        f"{v1}/attributes/series/float": {"get": _op("getFloatSeriesValues", [
            exp, attribute, _param("limit", kind="integer"), _param("offset", kind="integer")],
            _ref("FloatSeriesValues"))},
        f"{v1}/attributes/series/string": {"get": _op("getStringSeriesValues", [
            exp, attribute, _param("limit", kind="integer"), _param("offset", kind="integer")],
            _ref("StringSeriesValues"))},
        f"{v1}/attributes/floatSeries": {"get": _op("getFloatSeriesAttribute", [exp, attribute],
                                                    _ref("FloatSeriesAttribute"))},
        f"{v1}/attributes/stringSeries": {"get": _op("getStringSeriesAttribute", [exp, attribute],
                                                     _ref("StringSeriesAttribute"))},
    }
    definitions: dict[str, Any] = {
        "Experiment": _obj(id=_S, type=_S, shortId=_S, organizationName=_S, projectName=_S, trashed=_B,
                           projectId=_S, organizationId=_S),
        "Error": _obj(errorDescription=_S),
        "ExperimentAttributes": _obj(id=_S, attributes={"type": "array", "items": _ref("Attribute")}),
        "Attribute": _obj(name=_S, type=_S),
        "StringSetAttribute": _obj(attributeName=_S, attributeType=_S, values={"type": "array", "items": _S}),
        "FloatSeriesValues": _obj(totalItemCount=_I, values={"type": "array", "items": _ref("FloatPoint")}),
        "FloatPoint": _obj(step=_N, timestampMillis=_I, value=_N),
        "StringSeriesValues": _obj(totalItemCount=_I, values={"type": "array", "items": _ref("StringPoint")}),
        "StringPoint": _obj(step=_N, timestampMillis=_I, value=_S),
        "FloatSeriesAttribute": _obj(attributeName=_S, attributeType=_S, last=_N),
        "StringSeriesAttribute": _obj(attributeName=_S, attributeType=_S, last=_S),
    }
    for op_id, (kind, schema) in atoms.items():
        paths[f"{v1}/attributes/{kind.lower()}"] = {"get": _op(op_id, [exp, attribute], _ref(f"{kind}Attribute"))}
        definitions[f"{kind}Attribute"] = _obj(attributeName=_S, attributeType=_S, value=schema)
    return _doc("naiad: neptune leaderboard API", paths, definitions)
