"""earlier.lua's codec: articles' views in the window of equal length just before a list's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import keys
from ..storage import Call
from ..windows import DAY, W7D, W24H, W30D, Granularity
from . import load

SCRIPT = load("earlier", durable=False)
# Lookups one call makes at most (articles x buckets): each call holds Redis a few ms; and
# ZMSCORE gets at most this many articles (Lua's unpack has a stack limit). With author lists
# filled, most 24h calls are full: at 4,000 the slowest took 3-59 ms (over 11 in three of four
# rollups) on the busy box, at 1,500 6-9 ms (bench rollup's data, 100k articles).
MAX_LOOKUPS = 1500


def buckets(window: str, as_of: float) -> tuple[Granularity, range]:
    """The granularity and bucket indexes of the window before ``window``'s (24h, 7d, 30d).

    24h and 30d: as many buckets as the window spans, just before its first one. 7d: the
    seven whole days before the day its first hour is in, since hour buckets are kept only
    while the 7d window holds them (and day buckets for 60 days)."""
    if window == W24H.name:
        first = W24H.first_bucket(as_of)
        return W24H.granularity, range(first - 24, first)  # type: ignore[return-value]
    if window == W7D.name:
        first = DAY.index(W7D.start(as_of))
        return DAY, range(first - 7, first)
    if window == W30D.name:
        first = W30D.first_bucket(as_of)
        return DAY, range(first - 30, first)
    raise ValueError(f"no previous window for {window}")


def call(shard: int, window: str, as_of: float, articles: Sequence[str]) -> Call:
    """Sum ``articles`` (all of ``shard``) over the window before ``window``."""
    gran, indexes = buckets(window, as_of)
    return Call(SCRIPT, [keys.bucket(shard, gran.name, i) for i in indexes], list(articles))


def calls(shard: int, window: str, as_of: float, articles: Sequence[str]) -> list[Call]:
    """As call, in chunks of at most MAX_LOOKUPS lookups each."""
    chunk = max(1, min(MAX_LOOKUPS // len(buckets(window, as_of)[1]), 1000))
    return [
        call(shard, window, as_of, articles[start : start + chunk])
        for start in range(0, len(articles), chunk)
    ]


def decode(reply: Any) -> list[int]:
    return [int(views) for views in reply]
