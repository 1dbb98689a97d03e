"""The command center at /ui: the React app built into web/dist (`make web`), or, when it is not built,
the plain page `ui.html`. The plain page is also at /ui/classic either way.

Built files are read on request (a rebuild needs no gateway restart). Hashed assets under /ui/assets are sent
gzipped when the browser accepts it (compressed once per file and kept), and may be cached for good; the
index is never cached, so a new build is picked up on the next load."""

from __future__ import annotations

import gzip
import mimetypes
import os
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from serve_apps.errors import ApiError

CLASSIC_PAGE = resources.files("serve_apps").joinpath("ui.html").read_text(encoding="utf-8")
# DTO_WEB_DIST: another build folder (a packaged install has no repository around it).
WEB_DIST = Path(os.environ.get("DTO_WEB_DIST") or Path(__file__).resolve().parent.parent / "web" / "dist")
IMMUTABLE = "public, max-age=31536000, immutable"

router = APIRouter(include_in_schema=False)
_gzipped: dict[Path, tuple[float, bytes]] = {}


def _index() -> Path | None:
    index = WEB_DIST / "index.html"
    return index if index.is_file() else None


@router.get("/ui")
async def command_center() -> HTMLResponse:
    """The React app if built, else the plain page."""
    index = _index()
    if index is None:
        return HTMLResponse(CLASSIC_PAGE)
    return HTMLResponse(index.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/ui/classic")
async def classic_page() -> HTMLResponse:
    """The plain page (no build step)."""
    return HTMLResponse(CLASSIC_PAGE)


@router.get("/ui/assets/{name:path}")
async def asset(name: str, request: Request) -> Response:
    """A built file: JavaScript, CSS, fonts (names carry a content hash)."""
    root = (WEB_DIST / "assets").resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ApiError(404, "not_found", f"no file {name!r} in the web build")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    if "gzip" not in request.headers.get("accept-encoding", ""):
        return Response(path.read_bytes(), media_type=media_type, headers=headers)
    mtime = path.stat().st_mtime
    cached = _gzipped.get(path)
    if cached is None or cached[0] != mtime:
        cached = _gzipped[path] = (mtime, gzip.compress(path.read_bytes(), compresslevel=9))
    return Response(cached[1], media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
