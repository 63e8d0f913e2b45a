"""merge.lua's codec: a chunk of one shard's claimed inbox into its buckets and window sets,
with the windows and granularities of windows.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, tzinfo
from functools import lru_cache
from typing import Any

from .. import keys
from ..storage import Call
from ..windows import (
    GRANULARITIES,
    HOUR,
    KEPT,
    LAST_WINDOW,
    M5,
    SERIES_DAY_RETENTION_S,
    SERIES_HOUR_RETENTION_S,
    Granularity,
    local_day,
    local_day_start,
    span_of,
)
from . import load
from .record import ttl

SCRIPT = load("merge", durable=False)  # merges each entry once, however often it runs
CHUNK = 125  # inbox entries per call: ~1-3 ms of Redis; 250 took 13-37 ms at worst (bench rollup)


def _table() -> list[Any]:
    """The windows (their names, then their spans) and which of them each granularity
    feeds, as merge.lua reads them."""
    number = {window.name: n for n, window in enumerate(KEPT, 1)}
    table: list[Any] = [len(KEPT), *number, *(span_of(w) for w in KEPT), len(GRANULARITIES)]
    for gran in GRANULARITIES:
        fed = [number[w.name] for w in KEPT if w.granularity is gran]
        table += [gran.name, number[LAST_WINDOW[gran.name].name], len(fed), *fed]
    return table


TABLE = _table()


def bucket_ttl_s(gran: Granularity, index: int, as_of: float) -> int:
    """The TTL a bucket gets when it is written at ``as_of``: a safety net past its end (the
    rollup deletes buckets no window needs)."""
    return ttl((index + 1) * gran.bucket_s + gran.retention_s, as_of)


@lru_cache(maxsize=4096)
def _local_day(m5_index: int, zone: tzinfo) -> int:
    # Every zone's offset is a multiple of 5 minutes: a 5-minute bucket lies in one local day.
    return local_day(m5_index * M5.bucket_s, zone)


def call(shard: int, members: Sequence[str], as_of: float, zone: tzinfo = UTC) -> Call:
    """merge.lua for inbox entries ("m5 index|article"), each with its bucket keys and its
    series keys (local days in ``zone``)."""
    fixed = [
        keys.draining(shard),
        keys.window_starts(shard),
        *(keys.window(shard, window.name) for window in KEPT),
        keys.article_themes(shard),
    ]
    buckets: dict[tuple[str, int], int] = {}  # bucket -> its key's number
    bucket_args: list[Any] = []
    series: dict[str, tuple[int, int]] = {}  # series key -> its place among them, its TTL
    entries: list[tuple[str, list[int], tuple[str, str, str]]] = []
    for member in members:
        m5 = keys.inbox_m5(member)
        at = m5 * M5.bucket_s
        numbers = []
        for gran in GRANULARITIES:
            index = gran.index(at)
            number = buckets.get((gran.name, index))
            if number is None:
                number = buckets[gran.name, index] = len(fixed) + len(buckets) + 1
                bucket_args += [gran.name, index, bucket_ttl_s(gran, index, as_of)]
            numbers.append(number)
        day, hour = _local_day(m5, zone), HOUR.index(at)
        day_ttl = ttl(local_day_start(day + 1, zone) + SERIES_DAY_RETENTION_S, as_of)
        hour_ttl = ttl((hour + 1) * HOUR.bucket_s + SERIES_HOUR_RETENTION_S, as_of)
        named = (
            keys.day_views(shard, day),
            keys.series(shard, "h", hour),
            keys.series(shard, "ld", day),
        )
        for key, ttl_s in zip(named, (day_ttl, hour_ttl, day_ttl), strict=True):
            series.setdefault(key, (len(series), ttl_s))
        entries.append((member, numbers, named))
    # The series keys follow the buckets (merge.lua numbers those from the fixed keys on).
    first = len(fixed) + len(buckets) + 1
    series_args = [field for place, ttl_s in series.values() for field in (first + place, ttl_s)]
    entry_args = [
        field
        for member, numbers, named in entries
        for field in (member, *numbers, *(first + series[key][0] for key in named))
    ]
    return Call(
        SCRIPT,
        [*fixed, *(keys.bucket(shard, g, i) for g, i in buckets), *series],
        [
            *TABLE,
            len(buckets),
            *bucket_args,
            len(fixed),  # the article -> theme hash
            keys.SERIES_SITE,
            len(series),
            *series_args,
            *entry_args,
        ],
    )


def decode(reply: Any) -> int:
    """How many entries the call merged."""
    return int(reply)
