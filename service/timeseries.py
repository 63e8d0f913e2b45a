"""Daily and hourly series of views: one article's, the site's and a theme's, as of a rollup.

The rollup's merge keeps them (merge.lua): each article's views per local day in
VIEWCOUNT_TIMEZONE, and per shard the site's and each theme's views per UTC hour and per local
day. A series therefore holds every view the latest rollup merged, as the lists do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from . import keys
from .clock import rfc3339
from .errors import UnknownArticle
from .storage import Storage, ops
from .windows import HOUR, local_date, local_day, local_day_start


@dataclass(frozen=True, slots=True)
class Shape:
    """What a series window shows: points of one granularity, how many, newest last."""

    granularity: str  # "day" (local days) or "hour" (UTC hours)
    points: int


ARTICLE_SHAPES = {"7d": Shape("day", 7), "30d": Shape("day", 30)}
SITE_SHAPES = {"24h": Shape("hour", 24), **ARTICLE_SHAPES}


def _days(as_of: float, zone: tzinfo, count: int) -> range:
    today = local_day(as_of, zone)
    return range(today - count + 1, today + 1)


def _day_point(day: int, zone: tzinfo, views: int) -> dict[str, Any]:
    return {
        "at": rfc3339(local_day_start(day, zone)),
        "date": local_date(day).isoformat(),
        "views": views,
    }


async def article_days(
    storage: Storage, article: str, as_of: float, zone: tzinfo, count: int
) -> list[dict[str, Any]]:
    """The article's views on each of the last ``count`` local days up to as_of's (today,
    partial, last); UnknownArticle when it is not in the catalog."""
    shard, days = keys.shard_of(article), _days(as_of, zone, count)
    known, *views = await storage.execute(
        [
            ops.sismember(keys.articles(shard), article),
            *(ops.zscore(keys.day_views(shard, day), article) for day in days),
        ]
    )
    if not known:
        raise UnknownArticle(f"no article '{article}' in the catalog")
    return [_day_point(day, zone, int(v or 0)) for day, v in zip(days, views, strict=True)]


async def site(
    storage: Storage, theme: str | None, as_of: float, zone: tzinfo, shape: Shape
) -> list[dict[str, Any]]:
    """The site's (or one theme's) views per point of ``shape``, oldest first."""
    field = keys.SERIES_SITE if theme is None else theme
    if shape.granularity == "hour":
        current = HOUR.index(as_of)
        periods, name = range(current - shape.points + 1, current + 1), "h"
    else:
        periods, name = _days(as_of, zone, shape.points), "ld"
    # One HGET per shard and period: 16 x 30 small replies at most, one round trip per node.
    replies = await storage.execute(
        [
            ops.hget(keys.series(shard, name, period), field)
            for period in periods
            for shard in range(keys.SHARDS)
        ]
    )
    totals = [
        sum(int(v or 0) for v in replies[i * keys.SHARDS : (i + 1) * keys.SHARDS])
        for i in range(len(periods))
    ]
    if shape.granularity == "hour":
        return [
            {"at": rfc3339(period * HOUR.bucket_s), "views": views}
            for period, views in zip(periods, totals, strict=True)
        ]
    return [_day_point(day, zone, views) for day, views in zip(periods, totals, strict=True)]
