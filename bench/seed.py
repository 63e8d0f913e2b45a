"""A week of views for a large catalog, written straight into Redis as the record path would.

Writing 10 million views through the API would take longer than the benchmark may; this writes
the same keys (keys.py names) with the values record.lua and put_article.lua would leave after
those views and a rollup at ``now``: catalog entries, totals, time buckets (with their TTLs),
window sets and their starts, unique-reader HyperLogLogs, dedupe markers for the last half hour
and per-minute counters. Views per article follow Zipf's law (a few stories take most of the
traffic, as on a news site); their times are spread evenly over the last seven days.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from service import keys
from service.scripts.record import PER_MINUTE_RETENTION_S, READERS_RETENTION_S
from service.windows import DAY, HOUR, M5, W1H, W7D, W24H, W30D

WEEK_S = 7 * 86400
EXACT_BELOW = 2000  # articles with fewer views get one random time per view
HLL_MEMBERS = 5000  # past ~3,000 readers a HyperLogLog is dense (12 KB) whatever comes next
CHUNK = 1000  # members per ZADD / PFADD


def article_id(n: int) -> str:
    return f"bench-{n}"


@dataclass
class ShardData:
    """What one shard holds: cells are (index, article) -> views."""

    m5: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    hour: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    day: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[str, int] = field(default_factory=dict)


def zipf_views(articles: int, views: int, rng: random.Random) -> list[int]:
    """Views per article under Zipf's law (s = 1), summing to ``views``, in random order."""
    harmonic = sum(1 / r for r in range(1, articles + 1))
    counts = [max(1, int(views / (r * harmonic))) for r in range(1, articles + 1)]
    counts[0] += views - sum(counts)
    rng.shuffle(counts)
    return counts


def spread(total: int, now: float, rng: random.Random) -> Iterator[tuple[float, int]]:
    """(time, views) pairs for ``total`` views spread evenly over the week before ``now``."""
    start = now - WEEK_S
    if total < EXACT_BELOW:
        for _ in range(total):
            yield start + rng.random() * WEEK_S, 1
        return
    # Many views: per 5-minute slot, the expected share plus a random remainder.
    slots = WEEK_S // M5.bucket_s
    base, rest = divmod(total, slots)
    extra = set(rng.sample(range(slots), rest))
    for slot in range(slots):
        count = base + (slot in extra)
        if count:
            yield start + (slot + rng.random()) * M5.bucket_s, count


def build(
    articles: int, views: int, now: float, seed: int = 7
) -> tuple[list[ShardData], list[int]]:
    """Per-shard cells for every article, and the views per article."""
    rng = random.Random(seed)
    per_article = zipf_views(articles, views, rng)
    shards = [ShardData() for _ in range(keys.SHARDS)]
    m5_from = M5.index(now - M5.retention_s)  # older 5-minute buckets have expired
    for n, total in enumerate(per_article):
        article = article_id(n)
        data = shards[keys.shard_of(article)]
        data.totals[article] = total
        for at, count in spread(total, now, rng):
            m5 = M5.index(at)
            if m5 >= m5_from:
                data.m5[m5, article] += count
            data.hour[HOUR.index(at), article] += count
            data.day[DAY.index(at), article] += count
    return shards, per_article


def _ttl(expire_at: float, now: float) -> int:
    return max(1, math.ceil(expire_at - now))


def _zadd_chunks(pipe: Any, key: str, scores: dict[str, int]) -> None:
    items = list(scores.items())
    for start in range(0, len(items), CHUNK):
        pipe.zadd(key, dict(items[start : start + CHUNK]))


def write_catalog(client: redis.Redis, articles: int, themes: int) -> None:
    """What put_article.lua leaves for each article (no imported views)."""
    pipe = client.pipeline(transaction=False)
    per_shard: dict[int, dict[str, str]] = defaultdict(dict)
    for n in range(articles):
        article, theme = article_id(n), f"theme-{n % themes}"
        pipe.hset(
            keys.meta(article),
            mapping={
                "title": f"Story number {n}",
                "url": f"https://news.example/{n}",
                "theme": theme,
                "published_at": "",
                "imported_views": "0",
            },
        )
        per_shard[keys.shard_of(article)][article] = theme
        if len(pipe) >= 5000:
            pipe.execute()
    for shard, members in per_shard.items():
        items = list(members.items())
        for start in range(0, len(items), CHUNK):
            chunk = dict(items[start : start + CHUNK])
            pipe.sadd(keys.articles(shard), *chunk)
            pipe.hset(keys.article_themes(shard), mapping=chunk)
        counts: dict[str, int] = defaultdict(int)
        for theme in members.values():
            counts[theme] += 1
        pipe.hset(keys.theme_counts(shard), mapping=counts)
    pipe.execute()


def write_counters(client: redis.Redis, shards: list[ShardData], now: float) -> None:
    """Totals, buckets, windows and window starts, as after those views and a rollup at now."""
    starts = {
        "1h": W1H.first_bucket(now),
        "24h": W24H.first_bucket(now),
        "7d": W7D.first_bucket(now),
        "30d": W30D.first_bucket(now),
    }
    pipe = client.pipeline(transaction=False)
    for shard, data in enumerate(shards):
        _zadd_chunks(pipe, keys.totals(shard), data.totals)
        windows: dict[str, dict[str, int]] = {name: defaultdict(int) for name in starts}
        for gran, cells, feeds in (
            (M5, data.m5, ("1h",)),
            (HOUR, data.hour, ("24h", "7d")),
            (DAY, data.day, ("30d",)),
        ):
            buckets: dict[int, dict[str, int]] = defaultdict(dict)
            for (index, article), count in cells.items():
                buckets[index][article] = count
                for name in feeds:
                    if index >= starts[name]:
                        windows[name][article] += count
            for index, scores in buckets.items():
                key = keys.bucket(shard, gran.name, index)
                _zadd_chunks(pipe, key, scores)
                pipe.expire(key, _ttl((index + 1) * gran.bucket_s + gran.retention_s, now))
            pipe.execute()
        for name, scores in windows.items():
            _zadd_chunks(pipe, keys.window(shard, name), scores)
        pipe.hset(keys.window_starts(shard), mapping=starts)
        pipe.execute()


def write_readers(client: redis.Redis, shards: list[ShardData], now: float) -> None:
    """Unique-reader HyperLogLogs per article and day, dedupe markers for the last half hour,
    per-minute counters for the last two hours."""
    members = [f"reader-{n}" for n in range(HLL_MEMBERS)]
    pipe = client.pipeline(transaction=False)
    for shard, data in enumerate(shards):
        for (day, article), count in data.day.items():
            key = keys.readers(article, day)
            for start in range(0, min(count, HLL_MEMBERS), CHUNK):
                pipe.pfadd(key, *members[start : min(count, start + CHUNK)])
            pipe.expire(key, _ttl((day + 1) * DAY.bucket_s + READERS_RETENTION_S, now))
            if len(pipe) >= 5000:
                pipe.execute()
        recent = M5.index(now - 1800)
        for (m5, article), count in data.m5.items():
            if m5 >= recent:
                for n in range(count):
                    pipe.set(
                        keys.seen(article, f"{shard:x}{m5:x}{article}{n:x}"),
                        "1",
                        ex=_ttl((m5 + 1) * M5.bucket_s + 1800, now),
                    )
        minute = int(now // 60)
        per_minute = sum(data.totals.values()) // (WEEK_S // 60)
        for back in range(120):
            pipe.set(
                keys.per_minute(shard, minute - back),
                per_minute,
                ex=_ttl((minute - back + 1) * 60 + PER_MINUTE_RETENTION_S, now),
            )
        pipe.execute()
