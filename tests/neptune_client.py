"""Running the real neptune client (``neptune==1.14.0.post2``) against a throw-away naiad server: each
script in a fresh interpreter, with only the client's environment variables pointing it there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_script
from naiad.server.neptune.tokens import neptune_token
from services import TeamServer, team_server

PROJECT = "acme/vision"


def client_env(server: TeamServer, who: str, tmp: Path) -> dict[str, str]:
    return {"NEPTUNE_API_TOKEN": neptune_token(server.tokens[who], server.url), "NEPTUNE_PROJECT": PROJECT,
            # the client's OAuth library refuses plain http unless told this is on purpose (loopback here)
            "OAUTHLIB_INSECURE_TRANSPORT": "1", "NEPTUNE_DATA_DIRECTORY": str(tmp / ".neptune")}


def neptune(code: str, server: TeamServer, who: str, tmp: Path, timeout: float = 120) -> str:
    """Run ``code`` as ``who``; it must succeed.  Its stdout and stderr, together."""
    result = run_script(code, env=client_env(server, who, tmp), timeout=timeout, cwd=tmp)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout + result.stderr


def contributor_server(factory: pytest.TempPathFactory, name: str) -> Iterator[TeamServer]:
    """A throw-away embedded server where ``nell`` is a contributor of PROJECT (a module fixture's body)."""
    with team_server(factory.mktemp(name), [("nell", PROJECT, "contributor")]) as found:
        yield found
