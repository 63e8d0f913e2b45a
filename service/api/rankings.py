"""GET /v1/popular and /v1/themes/{theme}/popular, served from the snapshot cache."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..errors import InvalidParameter
from ..validate import int_parameter, is_theme
from ..windows import WINDOWS_BY_NAME
from .auth import Svc
from .openapi import schema
from .schemas import DEFAULT_LIMIT, DEFAULT_WINDOW, MAX_LIMIT, Ranking
from .state import Services

router = APIRouter(tags=["rankings"])
_LIMIT = str(DEFAULT_LIMIT)


@router.get(
    "/v1/popular",
    response_model=Ranking,
    responses={304: {"description": "Not modified"}, **schema("invalid_parameter")},
)
async def popular(
    svc: Svc, request: Request, window: str = DEFAULT_WINDOW, limit: str = _LIMIT
) -> Response:
    """The most viewed articles site-wide in a window, as of the latest rollup."""
    return _ranking(svc, request, window, None, limit)


@router.get(
    "/v1/themes/{theme}/popular",
    response_model=Ranking,
    responses={304: {"description": "Not modified"}, **schema("invalid_parameter")},
)
async def theme_popular(
    theme: str, svc: Svc, request: Request, window: str = DEFAULT_WINDOW, limit: str = _LIMIT
) -> Response:
    """The most viewed articles of one theme in a window, as of the latest rollup."""
    return _ranking(svc, request, window, theme_parameter(theme), limit)


def _ranking(
    svc: Svc, request: Request, window: str, theme: str | None, limit_text: str
) -> Response:
    body, headers = ranking(
        svc, window, theme, limit_text, request.headers.get("if-none-match", "")
    )
    if body is None:
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="application/json")


def ranking(
    svc: Services, window: str, theme: str | None, limit_text: str, if_none_match: str
) -> tuple[bytes | None, dict[str, str]]:
    """The body (None when the client's copy is current) and caching headers of one list.

    Shared by the routes and the fast path in reads.py; InvalidParameter when asked wrongly.
    """
    window_parameter(window)
    limit = int_parameter(limit_text, "limit", 1, MAX_LIMIT)
    etag, body = svc.rankings.body(window, theme, limit)
    max_age = max(1, int(svc.settings.rollup_interval_s // 2))
    headers = {"etag": etag, "cache-control": f"public, max-age={max_age}"}
    return (None if etag in if_none_match else body), headers


def window_parameter(window: str) -> str:
    """``window`` if it names a ranking window; InvalidParameter if not."""
    if window not in WINDOWS_BY_NAME:
        raise InvalidParameter(f"window: one of {', '.join(WINDOWS_BY_NAME)}")
    return window


def theme_parameter(theme: str) -> str:
    """``theme`` if it is a theme id; InvalidParameter if not."""
    if not is_theme(theme):
        raise InvalidParameter("theme: 1-64 characters from a-z 0-9 -")
    return theme
