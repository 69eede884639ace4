"""What the OpenAPI document of ``/api/v1`` promises, kept true to the code.

- Request bodies are :class:`Body` models: strict types (``"size": false`` is not an integer, ``"1"`` is
  not a number) and no unknown fields (a field this server does not know is refused, not ignored: a
  newer client's setting is never dropped silently).
- Every route names the error statuses it can answer with :func:`errors`; all of them carry the one
  error envelope (:class:`ErrorOut`).
- :func:`tighten` writes into the document what the edge enforces for every string (no NUL: see
  :class:`naiad.server.errors.NulGuard`) and which routes take a token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict
from starlette.convertors import Convertor, register_url_convertor

from naiad.core.fields import MAX_PATH_LENGTH
from naiad.store.base import MAX_PARTS

NO_NUL = "^[^\\u0000]*$"  # JSON Schema (ECMA-262) for "holds no NUL character"
HEX64 = "^[0-9a-f]{64}$"  # a SHA-256, as blobs and dataset versions are named

# path parameters, as every route takes them
ContainerId = Annotated[str, Path(min_length=1, max_length=200, description="a run's, model's or version's uuid")]
Digest = Annotated[str, Path(pattern=HEX64, description="a file's SHA-256: 64 lowercase hex digits")]
PartNumber = Annotated[int, Path(ge=0, lt=MAX_PARTS, description="0-based; parts are PART_SIZE bytes each")]
# a query parameter naming a field
FieldPath = Annotated[str, Query(min_length=1, max_length=MAX_PATH_LENGTH, description="a field path, e.g. train/loss")]
UploadId = Annotated[str, Path(min_length=1, max_length=300, description="an id POST /blobs/uploads gave out")]

_SAID = {
    400: "A value this API does not take (the message says which and what to do): a NUL character, a "
         "malformed hash, a part number out of range, a query that does not parse.",
    401: "No token, or not a valid one: send `Authorization: Bearer <token>` (`naiad token create`).",
    403: "Your role in the project is too low for this; the message names the role it takes.",
    404: "Not found — or in a project you have no role in: those do not exist for you.",
    409: "A conflict: the run or model is not active any more, or a change conflicts with what is stored.",
    413: "The request body, or the announced upload, is larger than this server takes.",
    416: "The `Range` asked for lies outside the file.",
    422: "The request does not match this document (a missing or unknown field, a wrong type), or sent "
         "bytes do not match their hash.",
    503: "The store is busy, unreachable or its disk is full; nothing was changed: try again later.",
}

# what every route with a token can answer: a bad value, no token, a body or parameter that does not
# match the document, a store that is down
COMMON = (400, 401, 422, 503)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    """Every failure of ``/api/v1``: ``code`` names a class of :mod:`naiad.errors`."""

    error: ErrorDetail


class Body(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Sha256Convertor(Convertor[str]):
    """``{digest:sha256}`` in a route's path: only a SHA-256 matches (``/blobs/uploads`` is not a blob)."""

    regex = "[0-9a-f]{64}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("sha256", Sha256Convertor())


def errors(*statuses: int, common: tuple[int, ...] = COMMON) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that can fail with ``statuses`` besides the common ones."""
    unknown = set(statuses) - set(_SAID)
    if unknown:
        raise ValueError(f"no description for status(es) {sorted(unknown)}: add them to naiad.server.schema")
    return {status: {"model": ErrorOut, "description": _SAID[status]} for status in sorted({*common, *statuses})}


def tighten(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (an OpenAPI document) with the NUL rule on every string schema and object key."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "string" and "pattern" not in node and "format" not in node and "enum" not in node \
                    and "const" not in node:
                node["pattern"] = NO_NUL
            if kind == "object" and node.get("additionalProperties") not in (None, False):
                node.setdefault("propertyNames", {"pattern": NO_NUL})
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document.get("paths", {}))
    walk(document.get("components", {}).get("schemas", {}))
    document.setdefault("components", {})["securitySchemes"] = {
        "token": {"type": "http", "scheme": "bearer", "description": "an API token (`naiad token create`)"}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if "401" in operation.get("responses", {}):  # a route that answers 401 takes a token
                operation["security"] = [{"token": []}]
    return document
