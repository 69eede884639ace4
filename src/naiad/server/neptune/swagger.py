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
_ERROR = {"description": "an error: errorType, title, message, code", "schema": {"type": "object"}}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{name}"}


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def param(name: str, where: str = "query", schema: dict[str, Any] | None = None, required: bool = False,
           kind: str = "string", array: bool = False) -> dict[str, Any]:
    if where == "body":
        return {"name": name, "in": "body", "required": True, "schema": schema}
    out: dict[str, Any] = {"name": name, "in": where, "required": required, "type": "array" if array else kind}
    if array:
        out["items"] = {"type": kind}
        out["collectionFormat"] = "multi"
    return out


def op(op_id: str, params: list[dict[str, Any]], response: dict[str, Any] | None) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    if response is not None:
        ok["schema"] = response
    return {"operationId": op_id, "tags": ["api"], "parameters": params, "produces": ["application/json"],
            "consumes": ["application/json"], "responses": {"200": ok, "default": _ERROR}}


def doc(title: str, paths: dict[str, dict[str, Any]], definitions: dict[str, Any]) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": title, "version": "1.0"}, "basePath": "/",
            "paths": paths, "definitions": definitions}


def backend() -> dict[str, Any]:
    token = param("X-Neptune-Api-Token", "header", required=True)
    v1 = f"{BACKEND}/v1"
    return doc("naiad: neptune backend API", {
        f"{v1}/clients/config": {"get": op("getClientConfig", [token, param("alpha", kind="boolean")],
                                            ref("ClientConfig"))},
        f"{v1}/authorization/oauth-token": {"get": op("exchangeApiToken", [token], ref("NeptuneOauthToken"))},
        f"{v1}/projects/get": {"get": op("getProject", [param("projectIdentifier", required=True)],
                                          ref("ProjectWithVersion"))},
        f"{v1}/projects": {"get": op("listProjects", [
            param("limit", kind="integer"), param("offset", kind="integer"), param("organizationIdentifier"),
            param("searchTerm"), param("sortBy", array=True), param("sortDirection", array=True),
            param("userRelation"), param("viewedUsername")], ref("ProjectList"))},
        f"{v1}/myOrganizations": {"get": op("listOrganizations", [], {"type": "array",
                                                                       "items": ref("Organization")})},
        f"{v1}/projects/members": {"get": op("listProjectMembers", [param("projectIdentifier", required=True)],
                                              {"type": "array", "items": ref("ProjectMember")})},
    }, {
        "ProjectMember": obj(role=_S, registeredMemberInfo=ref("RegisteredMember")),
        "RegisteredMember": obj(username=_S),
        "ClientConfig": obj(apiUrl=_S, applicationUrl=_S, pyLibVersions=ref("ClientVersions"),
                             multiPartUpload=ref("MultipartUploadConfig"), artifacts=ref("ArtifactsConfig"),
                             sysNameSetByBackend=_B),
        "ClientVersions": obj(minRecommendedVersion=_S, minCompatibleVersion=_S, maxCompatibleVersion=_S),
        "MultipartUploadConfig": obj(enabled=_B, minChunkSize=_I, maxChunkSize=_I, maxChunkCount=_I,
                                      maxSinglePartSize=_I),
        "ArtifactsConfig": obj(enabled=_B, apiVersion=_I),
        "NeptuneOauthToken": obj(accessToken=_S, refreshToken=_S, username=_S),
        "ProjectWithVersion": obj(id=_S, name=_S, organizationName=_S, organizationId=_S, projectKey=_S,
                                   version=_I),
        "ProjectList": obj(entries={"type": "array", "items": ref("ProjectListItem")}, matchingItemCount=_I,
                            totalItemCount=_I),
        "ProjectListItem": obj(id=_S, name=_S, organizationName=_S, organizationId=_S, projectKey=_S),
        "Organization": obj(id=_S, name=_S),
    })


def upload_paths() -> dict[str, dict[str, Any]]:
    """The Swagger paths of the upload operations (raw bodies: only their paths matter to the client,
    the start and finish of a multi-part upload declare their parameters)."""
    v1 = f"{LEADERBOARD}/v1"
    q = param
    raw = {"fileAtomUpload": "attributes/upload", "fileAtomMultipartUploadPart": "attributes/upload/part",
           "fileSetFileUpload": "attributes/fileset/upload", "fileSetFileMultipartUploadPart":
           "attributes/fileset/upload/part", "uploadFileSetAttributeTar": "attributes/fileset/tar"}
    paths = {f"{v1}/{path}": {"post": op(op_id, [], None)} for op_id, path in raw.items()}
    exp, attribute = q("experimentIdentifier", required=True), q("attribute", required=True)
    for family, extra in (("fileAtom", q("ext")), ("fileSetFile", q("subPath"))):
        base = "attributes/upload" if family == "fileAtom" else "attributes/fileset/upload"
        paths[f"{v1}/{base}/start"] = {"post": op(f"{family}MultipartUploadStart", [
            exp, attribute, extra, q("totalLength", kind="integer")], ref("UploadStart"))}
        paths[f"{v1}/{base}/finish"] = {"post": op(f"{family}MultipartUploadFinish", [
            exp, attribute, extra, q("uploadId")], ref("UploadErrors"))}
    return paths


_ANY: dict[str, Any] = {}  # a value of the field's own type
_PROPS = obj(attributeName=_S, attributeType=_S, value=_ANY, last=_ANY, lastStep=_N,
             values={"type": "array", "items": _S}, hash=_S)
_SYSTEM = obj(**{name: ref("SystemValue") for name in ("id", "shortId", "name", "runningTime", "owner", "size",
                                                       "description", "hostname", "state")},
              creationTime=ref("SystemTime"), tags=ref("SystemValues"))
ATTRIBUTE_DEFINITIONS: dict[str, Any] = {
    "ExperimentAttributes": obj(id=_S, organizationName=_S, projectName=_S, type=_S,
                                attributes={"type": "array", "items": ref("Attribute")},
                                systemAttributes=ref("SystemAttributes")),
    "Attribute": obj(name=_S, type=_S, **{f"{kind}Properties": ref("AttributeProperties") for kind in (
        "float", "int", "bool", "string", "datetime", "stringSet", "floatSeries", "stringSeries", "imageSeries",
        "file", "fileSet", "artifact", "experimentState", "notebookRef", "gitRef")}),
    "AttributeProperties": _PROPS,
    "SystemAttributes": _SYSTEM,
    "SystemValue": obj(value=_ANY),
    "SystemTime": obj(value={"type": "string", "format": "date-time"}),
    "SystemValues": obj(values={"type": "array", "items": _S}),
    "LeaderboardEntries": obj(entries={"type": "array", "items": ref("ExperimentAttributes")},
                              matchingItemCount=_I, totalItemCount=_I),
}
"""A run's fields with their typed properties, and its system attributes (what ``neptune.legacy`` reads)."""

UPLOAD_DEFINITIONS = {
    "UploadStart": obj(uploadId={"type": "string"}, errors={"type": "array", "items": ref("Error")}),
    "UploadErrors": obj(errors={"type": "array", "items": ref("Error")}),
}


def leaderboard() -> dict[str, Any]:
    v1 = f"{LEADERBOARD}/v1"
    exp = param("experimentId", required=True)
    attribute = param("attribute", required=True)
    commit = obj(commitId=_S, message=_S, authorName=_S, authorEmail=_S,
                  commitDate={"type": "string", "format": "date-time"})
    git = obj(commit=commit, repositoryDirty=_B, currentBranch=_S, remotes={"type": "array", "items": _S})
    creation = obj(projectIdentifier=_S, parentId=_S, type=_S, cliVersion=_S, customId=_S, key=_S,
                    notebookId=_S, checkpointId=_S, gitInfo=git)
    atoms = {f"get{kind}Attribute": (kind, schema) for kind, schema in (
        ("Float", _N), ("Int", _I), ("Bool", _B), ("String", _S), ("Datetime", {"type": "string",
                                                                                 "format": "date-time"}))}
    paths: dict[str, dict[str, Any]] = {
        f"{v1}/experiments": {
            "get": op("getExperiment", [exp], ref("Experiment")),
            "post": op("createExperiment", [param("experimentCreationParams", "body", creation),
                                             param("X-Neptune-CliVersion", "header")], ref("Experiment"))},
        f"{v1}/experiments/ping": {"post": op("ping", [exp], None)},
        f"{v1}/experiments/operations": {"post": op("executeOperations", [
            exp, param("operations", "body", {"type": "array", "items": {"type": "object"}})],
            {"type": "array", "items": ref("Error")})},
        f"{v1}/experiments/attributes": {"get": op("getExperimentAttributes", [exp], ref("ExperimentAttributes"))},
        f"{v1}/attributes/stringSet": {"get": op("getStringSetAttribute", [exp, attribute],
                                                  ref("StringSetAttribute"))},
        f"{v1}/attributes/series/float": {"get": op("getFloatSeriesValues", [
            exp, attribute, param("limit", kind="integer"), param("offset", kind="integer")],
            ref("FloatSeriesValues"))},
        f"{v1}/attributes/series/float/csv": {"get": op("getFloatSeriesValuesCSV", [exp, attribute], None)},
        f"{v1}/leaderboard": {"get": op("getLeaderboard", [
            param("projectIdentifier", required=True), *(param(name, array=True) for name in (
                "shortId", "state", "owner", "tags", "sortBy", "sortFieldType", "sortDirection")),
            param("tagsMode"), param("minRunningTimeSeconds", kind="number"), param("limit", kind="integer"),
            param("offset", kind="integer")], ref("LeaderboardEntries"))},
        f"{v1}/attributes/series/string": {"get": op("getStringSeriesValues", [
            exp, attribute, param("limit", kind="integer"), param("offset", kind="integer")],
            ref("StringSeriesValues"))},
        f"{v1}/attributes/floatSeries": {"get": op("getFloatSeriesAttribute", [exp, attribute],
                                                    ref("FloatSeriesAttribute"))},
        f"{v1}/attributes/stringSeries": {"get": op("getStringSeriesAttribute", [exp, attribute],
                                                     ref("StringSeriesAttribute"))},
    }
    definitions: dict[str, Any] = {
        "Experiment": obj(id=_S, type=_S, shortId=_S, organizationName=_S, projectName=_S, trashed=_B,
                           projectId=_S, organizationId=_S),
        "Error": obj(errorDescription=_S),
        **ATTRIBUTE_DEFINITIONS,
        "StringSetAttribute": obj(attributeName=_S, attributeType=_S, values={"type": "array", "items": _S}),
        "FloatSeriesValues": obj(totalItemCount=_I, values={"type": "array", "items": ref("FloatPoint")}),
        "FloatPoint": obj(step=_N, timestampMillis=_I, value=_N),
        "StringSeriesValues": obj(totalItemCount=_I, values={"type": "array", "items": ref("StringPoint")}),
        "StringPoint": obj(step=_N, timestampMillis=_I, value=_S),
        "FloatSeriesAttribute": obj(attributeName=_S, attributeType=_S, last=_N),
        "StringSeriesAttribute": obj(attributeName=_S, attributeType=_S, last=_S),
    }
    for op_id, (kind, schema) in atoms.items():
        paths[f"{v1}/attributes/{kind.lower()}"] = {"get": op(op_id, [exp, attribute], ref(f"{kind}Attribute"))}
        definitions[f"{kind}Attribute"] = obj(attributeName=_S, attributeType=_S, value=schema)
    paths.update(upload_paths())
    definitions.update(UPLOAD_DEFINITIONS)
    search = [param("projectIdentifier", required=True), param("type", array=True),
              param("params", "body", {"type": "object"})]
    paths[f"{v1}/leaderboard/attributes"] = {"post": op("searchLeaderboardAttributes", [
        *search[:2], param("search"), search[2]], ref("LeaderboardAttributes"))}
    paths[f"{v1}/leaderboard/entries"] = {"post": op("searchLeaderboardEntries", search, {"type": "object"})}
    paths[f"{v1}/attributes/file"] = {"get": op("getFileAttribute", [exp, attribute], ref("FileAttribute"))}
    paths[f"{v1}/attributes/download"] = {"get": op("downloadAttribute", [], None)}
    paths[f"{v1}/attributes/fileset/zip/prepare"] = {"post": op("prepareForDownloadFileSetAttributeZip",
                                                                [exp, attribute], ref("DownloadPrepareRequest"))}
    paths[f"{v1}/attributes/fileset/zip/prepared"] = {"get": op("getDownloadPrepareRequest",
                                                                [param("id", required=True)],
                                                                ref("DownloadPrepareRequest"))}
    paths[f"{v1}/attributes/fileset/ls"] = {"get": op("lsFileSetAttribute", [exp, attribute, param("path")],
                                                      {"type": "array", "items": ref("FileEntry")})}
    paths[f"{v1}/attributes/series/image"] = {"get": op("getImageSeriesValues", [
        exp, attribute, param("limit", kind="integer"), param("offset", kind="integer")], ref("ImageSeriesValues"))}
    paths[f"{v1}/attributes/series/image/download"] = {"get": op("getImageSeriesValue", [], None)}
    definitions["FileEntry"] = obj(name=_S, size=_I, mtime={"type": "string", "format": "date-time"}, fileType=_S)
    definitions["ImageSeriesValues"] = obj(totalItemCount=_I)
    paths[f"{v1}/attributes/artifact"] = {"get": op("getArtifactAttribute", [exp, attribute],
                                                    ref("ArtifactAttribute"))}
    definitions["ArtifactAttribute"] = obj(hash=_S)
    definitions["FileAttribute"] = obj(name=_S, ext=_S, size=_I)
    definitions["DownloadPrepareRequest"] = obj(id=_S, downloadUrl=_S)
    definitions["LeaderboardAttributes"] = obj(entries={"type": "array", "items": ref("AttributeDefinition")})
    definitions["AttributeDefinition"] = obj(name=_S, type=_S)
    return doc("naiad: neptune leaderboard API", paths, definitions)
