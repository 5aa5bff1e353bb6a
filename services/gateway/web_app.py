"""Serves the built web app (web/, Svelte + Vite, built to web/dist by `make run`, `make test` and the
Dockerfile) under /app/. Every /app/* path answers the same index.html: the app routes on the client.
Hashed assets (/app/assets/*) are cached for a year; index.html is revalidated on every load so a
deploy shows at once."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

# the repository's web/dist; ATELIER_WEB_DIR points elsewhere (the container image copies it in)
DEFAULT_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Atelier</title>
<p>The web app is not built. <code>make run</code> builds it (npm ci and vite build in web/).</p>"""


class ImmutableFiles(StaticFiles):
    async def get_response(self, path: str, scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def web_dist() -> Path:
    return Path(os.environ.get("ATELIER_WEB_DIR") or DEFAULT_DIST)


def app_page(status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The app's index.html (it routes on the client), or a page saying it is not built."""
    index = web_dist() / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503)
    return FileResponse(
        index, status_code=status_code, headers={"Cache-Control": "no-cache", **(headers or {})}
    )


def mount_web_app(app: FastAPI) -> None:
    app.mount(
        "/app/assets", ImmutableFiles(directory=web_dist() / "assets", check_dir=False), name="web-assets"
    )

    async def page() -> Response:
        return app_page()

    app.add_api_route("/app", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/app/{path:path}", page, methods=["GET"], include_in_schema=False)

    async def home() -> RedirectResponse:
        return RedirectResponse("/app/sessions", status_code=302)

    app.add_api_route("/", home, methods=["GET"], include_in_schema=False)
