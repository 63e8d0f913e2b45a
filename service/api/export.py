"""GET /v1/export/articles: every catalog article with its counts, streamed (admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from .. import export
from ..errors import InvalidParameter
from ..windows import WINDOWS_BY_NAME
from .auth import Admin, Svc
from .openapi import schema
from .rankings import window_parameter
from .schemas import DEFAULT_WINDOW, EXPORT_PATH

router = APIRouter(tags=["admin"])
DEFAULT_FORMAT = "csv"


@router.get(
    EXPORT_PATH,
    dependencies=[Admin],
    response_class=Response,
    responses={
        200: {
            "description": "One row per catalog article: "
            + ", ".join(export.COLUMNS)
            + " (CSV with a header row; NDJSON one object a line, null for a missing value)",
            "content": {media: {"schema": {"type": "string"}} for media in export.FORMATS.values()},
        },
        **schema("unauthorized", "admin_disabled", "invalid_parameter", "storage_unavailable"),
    },
)
async def export_articles(
    svc: Svc, format: str = DEFAULT_FORMAT, window: str = DEFAULT_WINDOW
) -> Response:
    """Every catalog article with its title, url, theme, author, published_at, live
    totals and its views in the window as of the latest rollup; streamed in no particular
    order (admin)."""
    media_type = export.FORMATS.get(format)
    if media_type is None:
        raise InvalidParameter(f"format: one of {', '.join(export.FORMATS)}")
    picked = WINDOWS_BY_NAME[window_parameter(window)]
    first, rest = await export.encoded(svc.storage, picked, format, svc.settings.export_batch)

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in rest:
            yield chunk

    filename = f"viewcount-articles-{window}.{format}"
    headers = {
        "content-disposition": f'attachment; filename="{filename}"',
        "cache-control": "no-store",
    }
    return StreamingResponse(body(), media_type=media_type, headers=headers)
