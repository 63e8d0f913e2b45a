"""GET /v1/articles/{id}/timeseries and /v1/timeseries: views per hour or per local day."""

from __future__ import annotations

from fastapi import APIRouter, Response

from .. import timeseries
from ..clock import rfc3339
from ..errors import InvalidParameter
from ..validate import article_id
from .auth import Svc
from .openapi import schema
from .rankings import theme_parameter
from .responses import json
from .schemas import DEFAULT_WINDOW, TIMESERIES_WINDOW, SiteTimeseries, Timeseries
from .state import Services

router = APIRouter(tags=["timeseries"])
ARTICLE_WINDOWS = (TIMESERIES_WINDOW, *timeseries.ARTICLE_SHAPES)
SITE_WINDOWS = tuple(timeseries.SITE_SHAPES)


@router.get(
    "/v1/articles/{article}/timeseries",
    response_model=Timeseries,
    responses=schema(
        "invalid_article_id", "invalid_parameter", "unknown_article", "storage_unavailable"
    ),
)
async def article_series(article: str, svc: Svc, window: str = TIMESERIES_WINDOW) -> Response:
    """Views of one article: 24h gives 24 live hourly points (UTC hours, the current one
    included); 7d and 30d give 7 or 30 local days in VIEWCOUNT_TIMEZONE, today last, as of
    the latest rollup."""
    article = article_id(article)
    if window not in ARTICLE_WINDOWS:
        raise InvalidParameter(f"window: one of {', '.join(ARTICLE_WINDOWS)}")
    if window == TIMESERIES_WINDOW:  # live, inbox included: the dashboard's last hours
        as_of = svc.clock.now()
        points = await svc.counts.hourly(article, 24)
        granularity = "hour"
    else:
        as_of = _as_of(svc)
        count = timeseries.ARTICLE_SHAPES[window].points
        points = await timeseries.article_days(
            svc.storage, article, as_of, svc.settings.zone, count
        )
        granularity = "day"
    body = {"article": article, "window": window, "granularity": granularity}
    return json({**body, **_about(svc, as_of, window != TIMESERIES_WINDOW), "points": points})


@router.get(
    "/v1/timeseries",
    response_model=SiteTimeseries,
    responses=schema("invalid_parameter", "storage_unavailable"),
)
async def site_series(svc: Svc, window: str = DEFAULT_WINDOW, theme: str | None = None) -> Response:
    """Views of the whole site, or of one theme's articles: 24h gives 24 hourly points (UTC
    hours), 7d and 30d 7 or 30 local days in VIEWCOUNT_TIMEZONE; newest last, as of the
    latest rollup. A view counts in the theme its article had when the rollup merged it."""
    shape = timeseries.SITE_SHAPES.get(window)
    if shape is None:
        raise InvalidParameter(f"window: one of {', '.join(SITE_WINDOWS)}")
    if theme is not None:
        theme = theme_parameter(theme)
    as_of = _as_of(svc)
    points = await timeseries.site(svc.storage, theme, as_of, svc.settings.zone, shape)
    body = {"window": window, "theme": theme, "granularity": shape.granularity}
    return json({**body, **_about(svc, as_of, True), "points": points})


def _as_of(svc: Services) -> float:
    """The latest rollup's moment (before any: now, and every point is 0)."""
    return svc.rankings.as_of or svc.clock.now()


def _about(svc: Services, as_of: float, rolled: bool) -> dict[str, str | None]:
    published = svc.rankings.as_of if rolled else as_of
    return {
        "timezone": svc.settings.timezone,
        "as_of": None if published is None else rfc3339(published),
    }
