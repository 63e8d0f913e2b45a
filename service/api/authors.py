"""GET /v1/authors, served from the authors index of the process (service/authors.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from .auth import Svc
from .openapi import schema
from .schemas import Authors

router = APIRouter(tags=["articles"])


@router.get(
    "/v1/authors",
    response_model=Authors,
    responses={304: {"description": "Not modified"}, **schema("storage_unavailable")},
)
async def authors(svc: Svc, request: Request) -> Response:
    """Authors in the catalog by slug, with their name and number of articles, as of the
    latest rollup (a delete shows at once); each has a list at /v1/authors/{author}/popular."""
    etag, body = await svc.authors.body(svc.catalog, svc.rankings.etag)
    max_age = max(1, int(svc.settings.rollup_interval_s // 2))
    headers = {"etag": etag, "cache-control": f"public, max-age={max_age}"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="application/json")
