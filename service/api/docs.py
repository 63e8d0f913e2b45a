"""/docs: Swagger UI on the service's OpenAPI document, every file served by the service itself.

The Swagger UI files come from the swagger-ui-bundle-v2 package (Swagger UI 5: the document is
OpenAPI 3.1), so the page works offline and behind networks that block CDNs. The page has no
inline script: its settings travel as JSON in a data attribute, read by static/docs.js, so its
CSP allows the service's own files and nothing else.
"""

from __future__ import annotations

from functools import cache
from html import escape

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.openapi.docs import swagger_ui_default_parameters
from swagger_ui_bundle import swagger_ui_path

from .assets import Asset, as_asset, asset, asset_response

router = APIRouter(include_in_schema=False)

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Swagger UI's files the page loads; nothing else of the package is served.
SWAGGER_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})
MAX_AGE_S = 3600
OPENAPI_URL = "/openapi.json"


@router.api_route("/docs", methods=["GET", "HEAD"])
async def docs(request: Request) -> Response:
    """The Swagger UI page."""
    root = request.scope.get("root_path", "")
    settings = {**swagger_ui_default_parameters, "url": root + OPENAPI_URL, "validatorUrl": None}
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>viewcount API</title>
<link rel="icon" type="image/png" href="{root}/docs/favicon-32x32.png">
<link rel="stylesheet" href="{root}/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-settings="{escape(orjson.dumps(settings).decode())}"></div>
<script src="{root}/docs/swagger-ui-bundle.js"></script>
<script src="{root}/docs/docs.js"></script>
</body>
</html>
"""
    headers = {"content-security-policy": DOCS_CSP, "cache-control": "no-cache"}
    return Response(page, headers=headers, media_type="text/html; charset=utf-8")


@router.api_route("/docs/{name}", methods=["GET", "HEAD"])
async def docs_file(name: str, request: Request) -> Response:
    """Swagger UI's script, stylesheet and icon, and the page's own script."""
    if name == "docs.js":
        return asset_response(request, asset(name), MAX_AGE_S)
    if name not in SWAGGER_FILES:
        raise HTTPException(404, f"no file {name!r} under /docs")
    return asset_response(request, _swagger_file(name), MAX_AGE_S)


@cache
def _swagger_file(name: str) -> Asset:
    return as_asset(name, (swagger_ui_path / name).read_bytes())
