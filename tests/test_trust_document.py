"""The OpenAPI document tells the truth, and what fuzzing it found stays fixed (issue 19, hole 7).

Each test here replays a request schemathesis found (tests/test_fuzz_api.py) or a promise of the
document: strict types, no unknown fields, the NUL rule and the token stated, every status documented,
a true ``Allow`` on 405, and no request that makes the server build something as big as a client says.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from naiad.store.base import MAX_PARTS, PART_SIZE
from registry_kit import PROJECT
from services import TeamServer, team_server

pytestmark = pytest.mark.trust


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    with team_server(tmp_path_factory.mktemp("trust-document"), [("carl", PROJECT, "contributor")]) as found:
        yield found


def call(server: TeamServer, method: str, path: str, who: str = "admin", **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}/api/v1{path}", timeout=30,
                         headers={"authorization": f"Bearer {server.tokens[who]}"}, **kwargs)


def document(server: TeamServer) -> dict[str, Any]:
    return httpx.get(f"{server.url}/api/v1/openapi.json").json()


def test_an_upload_announced_huge_is_refused_and_completing_one_builds_no_giant_list(server: TeamServer) -> None:
    # found: {"size": 21980860668} then /complete listed every missing part number, and a server with
    # 24 GiB was killed for memory (a few such requests from any contributor)
    digest = hashlib.sha256(b"big").hexdigest()
    over = call(server, "POST", "/blobs/uploads", json={"digest": digest, "size": MAX_PARTS * PART_SIZE + 1})
    assert over.status_code == 422 and "size" in over.json()["error"]["message"]
    largest = call(server, "POST", "/blobs/uploads", json={"digest": digest, "size": MAX_PARTS * PART_SIZE})
    upload = largest.json()["upload_id"]
    started = time.monotonic()
    early = call(server, "POST", f"/blobs/uploads/{upload}/complete")
    assert time.monotonic() - started < 5
    assert early.status_code == 400, early.text
    message = early.json()["error"]["message"]
    assert "part(s) 0, 1, 2" in message and f"({MAX_PARTS} in all)" in message and len(message) < 600
    assert call(server, "DELETE", f"/blobs/uploads/{upload}").status_code == 200


def test_the_store_refuses_an_upload_larger_than_its_parts_can_hold(server: TeamServer) -> None:
    from naiad import errors as E

    with pytest.raises(E.RequestError, match=f"at most {MAX_PARTS} parts") as refused:
        server.store.blobs.begin_upload("0" * 64, MAX_PARTS * PART_SIZE + 1)
    assert refused.value.details["status"] == 413


def test_a_second_uuid_for_a_projects_container_joins_it(server: TeamServer) -> None:
    # found: a second "project" container of one project was a UNIQUE violation, answered 500
    first = call(server, "POST", "/containers", json={"project": "joined", "kind": "project", "uuid": uuid.uuid4().hex})
    second = call(server, "POST", "/containers", json={"project": "joined", "kind": "project",
                                                        "uuid": uuid.uuid4().hex})
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert first.json()["short_id"] == second.json()["short_id"]
    assert server.store.get_container(uuid=second.json()["uuid"]).short_id == first.json()["short_id"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/blobs/uploads", {"digest": "0" * 64, "size": False}, "size"),  # a bool is not an integer
    ("/blobs/uploads", {"digest": "0" * 64, "size": "12"}, "size"),  # nor a string of digits
    ("/containers", {"project": PROJECT, "kind": "run", "uuid": "u-strict", "created": False}, "created"),
    ("/containers", {"project": PROJECT, "kind": "run", "uuid": "u-extra", "colour": "red"}, "colour"),
    ("/projects", {"name": PROJECT, "owner": "someone"}, "owner"),
])
def test_bodies_are_strict_and_unknown_fields_are_refused(server: TeamServer, path: str, body: dict[str, Any],
                                                          field: str) -> None:
    answer = call(server, "POST", path, json=body)
    assert answer.status_code == 422, answer.text
    assert f"body.{field}" in answer.json()["error"]["message"]


def test_the_document_states_the_nul_rule_the_token_and_every_error(server: TeamServer) -> None:
    doc = document(server)
    strings: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string":
                strings.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert len(strings) > 100
    assert all("pattern" in s or "format" in s or "enum" in s for s in strings), [
        s for s in strings if "pattern" not in s][:3]
    assert doc["components"]["securitySchemes"]["token"] == {
        "type": "http", "scheme": "bearer", "description": "an API token (`naiad token create`)"}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if path == "/api/v1/health":
                assert "security" not in operation
                continue
            assert operation["security"] == [{"token": []}], (method, path)
            for status in ("400", "401", "422", "503"):
                response = operation["responses"][status]
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}


def test_a_405_names_every_method_of_the_path(server: TeamServer) -> None:
    # Starlette's own Allow named only the first route of the path (one route per method)
    answer = call(server, "PATCH", "/projects/views")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, PUT"
    assert call(server, "PATCH", f"/blobs/{'0' * 64}").headers["allow"] == "GET, HEAD, PUT"


def test_ids_in_paths_are_matched_by_their_form(server: TeamServer) -> None:
    # /blobs/uploads is no blob named "uploads"; /webhooks/deliveries no webhook: PUT and DELETE there are 405
    assert call(server, "PUT", "/blobs/uploads").status_code == 405
    assert call(server, "DELETE", "/webhooks/deliveries").status_code == 405
    wrong = call(server, "GET", "/blobs/xyz")
    assert wrong.status_code == 404 and "SHA-256" in wrong.json()["error"]["message"]
    assert call(server, "PUT", f"/blobs/uploads/{uuid.uuid4().hex}/parts/{MAX_PARTS}").status_code == 422


@pytest.mark.parametrize("container, writer", [("a\x00b", "w"), ("\ud9e5\uddd8", "w"), ("c" * 32, "w\x00")])
def test_a_batch_whose_ids_no_store_keeps_is_refused_with_400(server: TeamServer, container: str,
                                                             writer: str) -> None:
    # found by fuzzing: a NUL or lone surrogate in a binary batch's container id reached PostgreSQL: 500
    from naiad.core import fields as F
    from naiad.core import ops as O
    from naiad.core.ops import Batch

    body = O.encode_batch(Batch(container, writer, 1, [(O.ASSIGN, "a", F.FLOAT, 1.0)]))
    answer = httpx.post(f"{server.url}/api/v1/batches", content=body, timeout=30, headers={
        "authorization": f"Bearer {server.tokens['admin']}", "content-type": "application/x-naiad-batch"})
    assert answer.status_code == 400, answer.text
    assert "not printable text" in answer.json()["error"]["message"]
