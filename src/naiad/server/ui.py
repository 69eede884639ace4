"""The web UI's files, served beside ``/api/v1`` by ``naiad server`` and ``naiad ui``.

The UI is a single-page app built from ``ui/`` (TypeScript) into ``naiad/server/ui_dist``: hashed
assets under ``/assets`` (cached for a year), and ``index.html`` for every other page path so that a
shared URL (``/p/demo/runs?q=...``) opens the page it names.  A checkout that has not built the UI
answers its pages with a short page saying how to build it; the API works either way.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

DIST = Path(__file__).with_name("ui_dist")

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>naiad: UI not built</title>
<body style="font: 15px system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1 style="font-size: 1.3rem">naiad's web UI is not built in this installation</h1>
<p>The API is up (<a href="/api/v1/docs">/api/v1/docs</a>). To build the UI from a checkout, run
<code>scripts/build-ui</code> (needs Node.js 20 or newer) and reload this page; installed packages
from a release already contain it.</p>"""


def ui_built(dist: Path = DIST) -> bool:
    return (dist / "index.html").is_file()


def mount_ui(app: FastAPI, dist: Path = DIST) -> None:
    """Serve the built UI at ``/``: page paths that no API route matches get ``index.html``.

    It answers only where the router found nothing (its default handler), and only GET/HEAD outside
    ``/api``: a wrong method or an unknown API path keeps the API's own JSON 404/405.
    """
    if (dist / "assets").is_dir():
        app.mount("/assets", _ImmutableFiles(directory=dist / "assets"), name="ui-assets")
    not_found = app.router.default

    async def pages(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or path == "/api" \
                or path.startswith("/api/"):
            await not_found(scope, receive, send)
            return
        await _page(dist, path.lstrip("/"))(scope, receive, send)

    app.router.default = pages


def _page(dist: Path, page: str) -> Response:
    if not ui_built(dist):
        return HTMLResponse(_NOT_BUILT, status_code=503)
    top = dist / page
    if page and "/" not in page and top.name != "index.html" and top.is_file():
        return FileResponse(top)  # favicon and the like, at the top of the build
    return FileResponse(dist / "index.html", headers={"Cache-Control": "no-cache"})


class _ImmutableFiles(StaticFiles):
    """Vite names assets by their content hash: a name never changes meaning, so cache it for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
