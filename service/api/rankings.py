"""GET /v1/popular, /v1/trending, their per-theme lists and the author lists, served from the
snapshot cache."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..errors import InvalidParameter
from ..rankings import FRESHNESS_S, MAX_EXCLUDE, NO_FILTERS, Filters
from ..snapshot import TRENDING
from ..validate import int_parameter, is_article_id, is_theme
from ..windows import WINDOWS_BY_NAME
from .auth import Svc
from .openapi import schema
from .schemas import DEFAULT_LIMIT, DEFAULT_WINDOW, MAX_LIMIT, AuthorRanking, Ranking, Trending
from .state import Services

router = APIRouter(tags=["rankings"])
_LIMIT = str(DEFAULT_LIMIT)


@router.get(
    "/v1/popular",
    response_model=Ranking,
    responses={304: {"description": "Not modified"}, **schema("invalid_parameter")},
)
async def popular(
    svc: Svc,
    request: Request,
    window: str = DEFAULT_WINDOW,
    limit: str = _LIMIT,
    exclude: str | None = None,
    published_within: str | None = None,
) -> Response:
    """The most viewed articles site-wide in a window, as of the latest rollup."""
    return _ranking(svc, request, window, None, limit, exclude, published_within)


@router.get(
    "/v1/themes/{theme}/popular",
    response_model=Ranking,
    responses={304: {"description": "Not modified"}, **schema("invalid_parameter")},
)
async def theme_popular(
    theme: str,
    svc: Svc,
    request: Request,
    window: str = DEFAULT_WINDOW,
    limit: str = _LIMIT,
    exclude: str | None = None,
    published_within: str | None = None,
) -> Response:
    """The most viewed articles of one theme in a window, as of the latest rollup."""
    return _ranking(svc, request, window, theme_parameter(theme), limit, exclude, published_within)


_TRENDING_DOC = (
    " Score: (last-hour views + P) / (expected hour + P), the expected hour being the "
    "article's hourly rate over the rest of the 24h window and P VIEWCOUNT_TRENDING_PRIOR_VIEWS "
    "(10); listed from VIEWCOUNT_TRENDING_MIN_SCORE (2) up, best first. `window_views` are "
    "the last hour's views (`window` is 1h)."
)


@router.get(
    "/v1/trending",
    response_model=Trending,
    responses={304: {"description": "Not modified"}, **schema("invalid_parameter")},
    description="The articles whose last hour most exceeds what their own previous day "
    "predicts, as of the latest rollup." + _TRENDING_DOC,
)
async def trending(
    svc: Svc,
    request: Request,
    limit: str = _LIMIT,
    exclude: str | None = None,
    published_within: str | None = None,
) -> Response:
    """The trending articles site-wide (the description says how they are scored)."""
    return _ranking(svc, request, TRENDING, None, limit, exclude, published_within)


@router.get(
    "/v1/themes/{theme}/trending",
    response_model=Trending,
    responses={304: {"description": "Not modified"}, **schema("invalid_parameter")},
    description="The trending articles of one theme, as of the latest rollup." + _TRENDING_DOC,
)
async def theme_trending(
    theme: str,
    svc: Svc,
    request: Request,
    limit: str = _LIMIT,
    exclude: str | None = None,
    published_within: str | None = None,
) -> Response:
    """The trending articles of one theme."""
    theme = theme_parameter(theme)
    return _ranking(svc, request, TRENDING, theme, limit, exclude, published_within)


@router.get(
    "/v1/authors/{author}/popular",
    response_model=AuthorRanking,
    responses={304: {"description": "Not modified"}, **schema("invalid_parameter")},
)
async def author_popular(
    author: str,
    svc: Svc,
    request: Request,
    window: str = DEFAULT_WINDOW,
    limit: str = _LIMIT,
    exclude: str | None = None,
    published_within: str | None = None,
) -> Response:
    """The most viewed articles of one author in a window, as of the latest rollup (each
    author's list keeps VIEWCOUNT_AUTHOR_RANKING_SIZE items, 20 by default)."""
    author = author_parameter(author)
    return _ranking(svc, request, window, None, limit, exclude, published_within, author)


def _ranking(
    svc: Svc,
    request: Request,
    window: str,
    theme: str | None,
    limit_text: str,
    exclude: str | None,
    published_within: str | None,
    author: str | None = None,
) -> Response:
    filters = filters_parameter(exclude, published_within)
    if window != TRENDING:
        window_parameter(window)
    if_none_match = request.headers.get("if-none-match", "")
    body, headers = listed(svc, window, theme, limit_text, if_none_match, filters, author)
    if body is None:
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="application/json")


def ranking(
    svc: Services,
    window: str,
    theme: str | None,
    limit_text: str,
    if_none_match: str,
    filters: Filters = NO_FILTERS,
) -> tuple[bytes | None, dict[str, str]]:
    """The body (None when the client's copy is current) and caching headers of one list.

    Shared by the routes and the fast path in reads.py; InvalidParameter when asked wrongly.
    """
    window_parameter(window)
    return listed(svc, window, theme, limit_text, if_none_match, filters)


def listed(
    svc: Services,
    window: str,
    theme: str | None,
    limit_text: str,
    if_none_match: str,
    filters: Filters = NO_FILTERS,
    author: str | None = None,
) -> tuple[bytes | None, dict[str, str]]:
    """As ranking, for a window already checked (or the trending lists); an author's list
    when ``author`` is given."""
    limit = int_parameter(limit_text, "limit", 1, MAX_LIMIT)
    etag, body = svc.rankings.body(window, theme, limit, filters, author)
    max_age = max(1, int(svc.settings.rollup_interval_s // 2))
    headers = {"etag": etag, "cache-control": f"public, max-age={max_age}"}
    return (None if etag in if_none_match else body), headers


def window_parameter(window: str) -> str:
    """``window`` if it names a ranking window; InvalidParameter if not."""
    if window not in WINDOWS_BY_NAME:
        raise InvalidParameter(f"window: one of {', '.join(WINDOWS_BY_NAME)}")
    return window


def filters_parameter(exclude: str | None, published_within: str | None) -> Filters:
    """The ``exclude`` and ``published_within`` parameters; InvalidParameter if malformed.
    An empty ``exclude`` leaves nothing out (a widget on a page without an article id)."""
    if not exclude and published_within is None:
        return NO_FILTERS
    ids = exclude.split(",") if exclude else []
    if len(ids) > MAX_EXCLUDE or not all(is_article_id(i) for i in ids):
        raise InvalidParameter(
            f"exclude: up to {MAX_EXCLUDE} comma-separated article ids "
            "(1-200 characters from A-Z a-z 0-9 . _ ~ -)"
        )
    within_s = None
    if published_within is not None:
        within_s = FRESHNESS_S.get(published_within)
        if within_s is None:
            raise InvalidParameter(f"published_within: one of {', '.join(FRESHNESS_S)}")
    return Filters(frozenset(ids), within_s)


def author_parameter(author: str) -> str:
    """``author`` if it is an author slug; InvalidParameter if not."""
    if not is_theme(author):
        raise InvalidParameter("author: 1-64 characters from a-z 0-9 - (the author's slug)")
    return author


def theme_parameter(theme: str) -> str:
    """``theme`` if it is a theme id; InvalidParameter if not."""
    if not is_theme(theme):
        raise InvalidParameter("theme: 1-64 characters from a-z 0-9 -")
    return theme
