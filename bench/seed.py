"""A week of views for a large catalog, written into Redis as the service would leave it.

Writing 10 million views through the API would take longer than the benchmark may. The catalog
goes in through put_article.lua's own codec; the views go in as the time buckets merge.lua
leaves (keys.py names, merge.py's TTLs) plus the all-time totals, unique-reader HyperLogLogs,
the lists' readers samples (as record.lua and samples.lua leave them), dedupe markers for the
last half hour and per-minute counters; then the service's own bucket
maintenance (buckets.maintain: the first rollup's rebuild) computes the window sets and their
starts from those buckets. Views per article follow Zipf's law (a few stories take most of the
traffic, as on a news site); their times are spread evenly over the last seven days.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from service import buckets, integrity, keys
from service.integrity import ID
from service.scripts import put_article, samples
from service.scripts.merge import bucket_ttl_s
from service.scripts.record import (
    HOUR_S,
    PER_MINUTE_RETENTION_S,
    READERS_RETENTION_S,
    SAMPLE_RETENTION_S,
    ttl,
)
from service.scripts.samples import DAY_RETENTION_S
from service.settings import Settings
from service.storage import connect
from service.windows import DAY, HOUR, M5

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


def _zadd_chunks(pipe: Any, key: str, scores: dict[str, int]) -> None:
    items = list(scores.items())
    for start in range(0, len(items), CHUNK):
        pipe.zadd(key, dict(items[start : start + CHUNK]))


async def write_catalog(url: str, articles: int, themes: int, authors: int = 0) -> None:
    """Every article through put_article.lua (its codec), 2,000 calls per round trip; with
    ``authors``, article n is by author n mod authors (so each author writes on one beat)."""
    storage = connect(Settings(redis_url=url, log_json=False))
    try:
        calls = [
            put_article.call(
                article_id(n), f"Story number {n}", f"https://news.example/{n}",
                f"theme-{n % themes}", None, 0, True,
                f"author-{n % authors}" if authors else None,
                f"Author {n % authors}" if authors else None,
            )
            for n in range(articles)
        ]  # fmt: skip
        for start in range(0, len(calls), 2000):
            await storage.run_all(calls[start : start + 2000])
    finally:
        await storage.close()


def write_counters(client: redis.Redis, shards: list[ShardData], now: float) -> None:
    """Totals (live counts and the `all` window) and the buckets merge.lua leaves."""
    pipe = client.pipeline(transaction=False)
    for shard, data in enumerate(shards):
        _zadd_chunks(pipe, keys.totals(shard), data.totals)
        for gran, cells in ((M5, data.m5), (HOUR, data.hour), (DAY, data.day)):
            by_bucket: dict[int, dict[str, int]] = defaultdict(dict)
            for (index, article), count in cells.items():
                by_bucket[index][article] = count
            for index, scores in by_bucket.items():
                key = keys.bucket(shard, gran.name, index)
                _zadd_chunks(pipe, key, scores)
                pipe.expire(key, bucket_ttl_s(gran, index, now))
            pipe.execute()


def late_day_zone(now: float, local_hour: int = 22) -> str:
    """A fixed-offset zone (IANA Etc/GMT±N) where ``now`` is ``local_hour`` o'clock: the
    ``today`` window then holds most of a day's views at whatever hour the bench runs, so
    runs early and late in the UTC day compare."""
    offset = (local_hour - int(now // 3600) % 24) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-3 is UTC+3


async def slide_windows(url: str, now: float) -> None:
    """The window sets and their starts, from the buckets, by the service's own maintenance."""
    settings = Settings(redis_url=url, log_json=False)
    storage = connect(settings)
    try:
        await buckets.maintain(storage, now, settings.zone)  # today as the rollups see it
    finally:
        await storage.close()


async def build_recent(url: str, now: float, keep: int) -> int:
    """The articles' most recent readers, from the readers samples, as the service builds
    them for a store written before it kept them (the seed writes samples directly)."""
    storage = connect(Settings(redis_url=url, log_json=False, redis_timeout_s=30))
    try:
        return await integrity.build_recent(storage, now, keep)
    finally:
        await storage.close()


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
            pipe.expire(key, ttl((day + 1) * DAY.bucket_s + READERS_RETENTION_S, now))
            if len(pipe) >= 5000:
                pipe.execute()
        recent = M5.index(now - 1800)
        for (m5, article), count in data.m5.items():
            if m5 >= recent:
                for n in range(count):
                    pipe.set(
                        keys.seen(article, f"{shard:x}{m5:x}{article}{n:x}"),
                        "1",
                        ex=ttl((m5 + 1) * M5.bucket_s + 1800, now),
                    )
        minute = int(now // 60)
        per_minute = sum(data.totals.values()) // (WEEK_S // 60)
        for back in range(120):
            pipe.set(
                keys.per_minute(shard, minute - back),
                per_minute,
                ex=ttl((minute - back + 1) * 60 + PER_MINUTE_RETENTION_S, now),
            )
        pipe.execute()


def write_samples(client: redis.Redis, shards: list[ShardData], now: float, keep: int) -> None:
    """The readers samples the lists' minimum-readers rule reads: per hour of the last 26 (as
    record.lua writes them), per day and all time (as samples.lua folds them), up to ``keep``
    ids each; an article's readers are distinct (one per view, as in write_readers)."""

    def ids(count: int, first: int = 0) -> str:
        return "".join(f"{first + n:0{ID}x}" for n in range(min(count, keep)))

    pipe = client.pipeline(transaction=False)
    hour_from = int(now // HOUR_S) - SAMPLE_RETENTION_S // HOUR_S
    for shard, data in enumerate(shards):
        periods = [
            ("h", hour_from, data.hour, HOUR_S, SAMPLE_RETENTION_S),
            ("d", 0, data.day, DAY.bucket_s, DAY_RETENTION_S),
        ]
        for period, first, cells, span, retention in periods:
            by_index: dict[int, dict[str, str]] = defaultdict(dict)
            for (index, article), count in cells.items():
                if index >= first:
                    # Each period's readers are new ones: with the same ids every hour, an
                    # article read once an hour all day had one reader in the 24h window.
                    by_index[index][article] = ids(count, (index * keep) % 2**31)
            for index, held in by_index.items():
                key = keys.readers_sample(shard, period, index)
                items = list(held.items())
                for start in range(0, len(items), CHUNK):
                    pipe.hset(key, mapping=dict(items[start : start + CHUNK]))
                pipe.expire(key, ttl((index + 1) * span + retention, now))
        everything = list(data.totals.items())
        for start in range(0, len(everything), CHUNK):
            chunk = everything[start : start + CHUNK]
            pipe.hset(keys.readers_sample(shard, "all"), mapping={a: ids(c) for a, c in chunk})
        pipe.execute()


def mark_folded(client: redis.Redis, now: float) -> None:
    """The hours a rollup folds (this one and the one before) marked folded whole, as a
    running service leaves them: the seed writes the day and all-time samples as folded
    already, and without the marks the first rollup read both hours' whole samples again,
    the one-time pass of a store written before the marks existed (integrity.fold_samples)."""
    pipe = client.pipeline(transaction=False)
    for shard in range(keys.SHARDS):
        for hour in samples.hours(now):
            pipe.set(keys.readers_folded(shard, hour), "1", ex=samples.mark_ttl(hour, now))
    pipe.execute()
