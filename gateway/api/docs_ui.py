"""Route: ``/docs``, Swagger UI over ``/openapi.json``, every asset served by this gateway.

The Swagger UI files come from the ``swagger-ui-py`` package (a dependency; nothing is copied into
this repository), located without importing it (its ``__init__`` pulls in web-framework glue we
do not use). The page runs under a strict CSP: scripts and styles from this origin only, no
inline script (the initializer is a file of ours), no framing.
"""

from __future__ import annotations

import functools
import importlib.util
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import Response

from gateway.errors import NotFoundError

router = APIRouter(include_in_schema=False)

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
"""The only files of the package this gateway serves (an allow-list, never a path from the URL)."""

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# style-src 'unsafe-inline': Swagger UI (React) sets style attributes; no script is inline.
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
CACHE = {"Cache-Control": "public, max-age=86400"}


@functools.cache
def _asset_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@functools.cache
def _asset(name: str) -> bytes:
    return (_asset_dir() / name).read_bytes()


def _own(name: str) -> bytes:
    return resources.files("gateway").joinpath("static", name).read_bytes()


@router.get("/docs")
def docs() -> Response:
    return Response(_own("docs.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/docs/init.js")
def docs_init() -> Response:
    return Response(_own("docs.js"), media_type=ASSETS["swagger-ui-bundle.js"], headers=HEADERS)


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundError("no such asset")
    return Response(_asset(name), media_type=media_type, headers=HEADERS | CACHE)
