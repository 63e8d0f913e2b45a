"""What one client may add to the public lists, and what editors see of those who try.

record.lua keeps, per shard and clock hour: each client network's views of each article (the
per-client cap), a sample of each article's distinct readers (up to VIEWCOUNT_MIN_READERS ids),
the client with the most views of an article once it has several, and the automated views.
From these, a rollup folds the hour's samples into daily and all-time ones and lets an article
into a window's lists only with enough distinct readers (``ReaderGate``), and the admin report
(``suspicious``) finds the articles one client network leans on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, tzinfo
from typing import Any

from . import keys
from .clock import rfc3339
from .scripts import recent, samples
from .scripts.record import HOUR_S
from .settings import Settings
from .storage import READS_A_TURN, Storage, ops
from .windows import DAY, WALL, Window

log = logging.getLogger("viewcount.integrity")

ID = 8  # characters of a reader id in a sample
RECENT_ENTRY, RECENT_HOUR = 16, 8  # characters of a recent reader, of its hour in it (lib/)
# Articles per HMGET of the recent readers or the all-time sample: one of all a shard's
# candidates at once (samples, before recent readers) held Redis 15-31 ms.
GATE_CHUNK = 1000
REBUILD_PAGE = 2000  # all-time sample fields per HSCAN when recent readers are first built
REBUILD_CALLS = 200  # recent.lua calls a round trip when they are


async def fold_samples(storage: Storage, as_of: float, keep: int) -> None:
    """The last two hours' reader samples into their days', the all-time ones and the
    articles' most recent readers (first built from every sample where they are not yet):
    the samples that grew since the last fold, or an hour's whole sample the first time."""
    await build_recent(storage, as_of, keep)
    folded = [(shard, hour) for shard in range(keys.SHARDS) for hour in samples.hours(as_of)]
    marks = await storage.execute([ops.exists(keys.readers_folded(s, h)) for s, h in folded])
    await asyncio.gather(
        *(
            _fold(storage, shard, hour, as_of, keep, whole=not marked)
            for (shard, hour), marked in zip(folded, marks, strict=True)
        )
    )


async def _fold(
    storage: Storage, shard: int, hour: int, as_of: float, keep: int, whole: bool
) -> None:
    """One shard's sample of one hour, folded a page a call: the whole sample first when
    ``whole``, then the articles whose sample grew (meanwhile, too)."""
    for pass_whole in (True, False) if whole else (False,):
        cursor = 0
        while True:
            call = samples.call(shard, hour, as_of, keep, cursor, whole=pass_whole)
            cursor, _ = samples.decode(await storage.run(call))
            if not cursor:
                break


async def build_recent(storage: Storage, as_of: float, keep: int) -> int:
    """Build the most recent readers of every article with readers, from the readers
    samples, in each shard where they were never built (a store written before they were
    kept; a replay's); returns the articles rebuilt."""
    ready = await storage.execute([ops.exists(keys.recent_ready(s)) for s in range(keys.SHARDS)])
    missing = [shard for shard, done in enumerate(ready) if not done]
    if not missing:
        return 0
    every = await asyncio.gather(
        *(storage.whole_hash(keys.readers_sample(s, "all"), REBUILD_PAGE) for s in missing)
    )
    calls = [
        recent.call(shard, articles[start : start + recent.REBUILD_CHUNK], as_of, keep)
        for shard, held in zip(missing, every, strict=True)
        for articles in [sorted(held)]
        for start in range(0, len(articles), recent.REBUILD_CHUNK)
    ]
    for start in range(0, len(calls), REBUILD_CALLS):
        await storage.run_all(calls[start : start + REBUILD_CALLS])
    await storage.execute([ops.set_value(keys.recent_ready(s), "1") for s in missing])
    rebuilt = sum(len(held) for held in every)
    if rebuilt:
        log.info("recent readers built", extra={"articles": rebuilt, "shards": len(missing)})
    return rebuilt


def first_hour(window: Window, as_of: float, zone: tzinfo = UTC) -> int:
    """The first clock hour whose readers count for a window (not ``all``): the hour its
    start falls in for windows of a day or less (``today`` included), the first hour of the
    (UTC) day it falls in for longer ones, as the hourly and daily samples count them."""
    start = window.start(as_of, zone)
    if window.daily or (window.span_s or 0) <= DAY.bucket_s:
        return int(start // HOUR_S)
    return DAY.index(start) * DAY.bucket_s // HOUR_S


def nth_reader_hour(value: str | None, minimum: int) -> int | None:
    """The clock hour an article's ``minimum``-th most recent reader was last seen in, from
    its recent readers (keys.recent_readers); None when it has fewer."""
    end = minimum * RECENT_ENTRY
    if value is None or len(value) < end:
        return None
    return int(value[end - RECENT_HOUR : end])


def ever_enough(value: str | None, minimum: int) -> bool:
    """Whether an all-time sample (keys.readers_sample) holds ``minimum`` reader ids: a
    sample's ids are distinct."""
    return value is not None and len(value) >= minimum * ID


class ReaderGate:
    """Which articles have VIEWCOUNT_MIN_READERS distinct readers in a window, for one rollup.

    For beacons a reader is a client network; for batch events a visitor (an event without
    one is a reader of its own: batches come with the admin or an ingest token). An article
    passes a window when its N-th most recent reader was seen since the window's first hour
    (keys.recent_readers): one lookup per article for every window, where counting the ids
    of a window's samples read up to 31 of them per article and window, the rollup's largest
    cost. The all-time gate counts the all-time sample, and trusts imported views: the counts
    an editor carried over."""

    def __init__(self, storage: Storage, minimum: int, as_of: float, zone: tzinfo = UTC) -> None:
        self.storage = storage
        self.minimum = minimum
        self.as_of = as_of
        self.zone = zone
        # Each article looked up once a rollup, by the hour its N-th reader was seen in
        # (None: fewer readers); a window fails those before its first hour. Sets, so that
        # judging a window's ~40,000 read articles is set arithmetic, not a step per article.
        self._learnt: set[str] = set()
        self._by_hour: dict[int | None, list[str]] = defaultdict(list)
        self._failing: dict[int, tuple[set[str], dict[int | None, int]]] = {}
        self._ever_learnt: set[str] = set()
        self._ever_failing: set[str] = set()

    async def passing(self, window: Window, articles: set[str]) -> set[str]:
        if self.minimum <= 1:  # any article with a view has a reader
            return articles
        if window is WALL:
            if unknown := articles - self._ever_learnt:
                await self._learn_ever(list(unknown))
            return articles - self._ever_failing
        if unknown := articles - self._learnt:
            await self._learn_hours(list(unknown))
        return articles - self._failing_from(first_hour(window, self.as_of, self.zone))

    def _failing_from(self, first: int) -> set[str]:
        """The articles learnt so far whose N-th reader was seen before hour ``first``."""
        failing, taken = self._failing.setdefault(first, (set(), {}))
        for hour, articles in self._by_hour.items():
            if (hour is None or hour < first) and taken.get(hour, 0) < len(articles):
                failing.update(articles[taken.get(hour, 0) :])
                taken[hour] = len(articles)
        return failing

    async def _learn_hours(self, articles: list[str]) -> None:
        chunks = _chunks(articles)
        replies = await self.storage.execute_in_turns(
            [ops.hmget(keys.recent_readers(shard), members) for shard, members in chunks],
            READS_A_TURN,
        )
        by_hour, minimum = self._by_hour, self.minimum
        for (_, members), values in zip(chunks, replies, strict=True):
            self._learnt.update(members)
            for article, value in zip(members, values, strict=True):
                by_hour[nth_reader_hour(value, minimum)].append(article)

    async def _learn_ever(self, articles: list[str]) -> None:
        chunks = _chunks(articles)
        replies = await self.storage.execute_in_turns(
            [ops.hmget(keys.readers_sample(shard, "all"), members) for shard, members in chunks],
            READS_A_TURN,
        )
        short: list[str] = []
        for (_, members), values in zip(chunks, replies, strict=True):
            for article, value in zip(members, values, strict=True):
                if not ever_enough(value, self.minimum):
                    short.append(article)
        if short:  # imported views vouch for an article's all-time count
            imported = await self.storage.execute(
                [ops.hget(keys.meta(a), "imported_views") for a in short]
            )
            self._ever_failing.update(
                article for article, value in zip(short, imported, strict=True)
                if int(value or 0) <= 0
            )  # fmt: skip
        self._ever_learnt.update(articles)


def _chunks(articles: list[str]) -> list[tuple[int, list[str]]]:
    """Articles by shard, GATE_CHUNK a chunk."""
    by_shard: dict[int, list[str]] = defaultdict(list)
    for article in articles:
        by_shard[keys.shard_of(article)].append(article)
    return [
        (shard, members[start : start + GATE_CHUNK])
        for shard, members in by_shard.items()
        for start in range(0, len(members), GATE_CHUNK)
    ]


async def unranked(storage: Storage) -> frozenset[str]:
    """The articles editors took out of every public list."""
    found = await storage.execute([ops.smembers(keys.unranked(s)) for s in range(keys.SHARDS)])
    return frozenset(article for members in found for article in members)


async def suspicious(
    storage: Storage, settings: Settings, window: Window, as_of: float
) -> dict[str, Any]:
    """GET /v1/admin/suspicious: the articles where automated views were refused, or where
    one client network holds ``suspicious_share`` of the window's views; most automated
    first. The window's views are those merged by the last rollup."""
    assert window.span_s is not None
    hours = range(int((as_of - window.span_s) // HOUR_S), int(as_of // HOUR_S) + 1)
    batch: list[ops.Op[Any]] = []
    for shard in range(keys.SHARDS):
        batch += [ops.hgetall(keys.automated_hourly(shard, h)) for h in hours]
        batch += [ops.hgetall(keys.top_clients(shard, h)) for h in hours]
    replies = iter(await storage.execute(batch))
    automated: dict[str, int] = defaultdict(int)
    by_client: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _ in range(keys.SHARDS):
        for _ in hours:
            for article, views in next(replies).items():
                automated[article] += int(views)
        for _ in hours:
            for article, held in next(replies).items():
                client, _, views = held.rpartition(":")
                by_client[article][client] += int(views)
    articles = sorted(set(automated) | set(by_client))
    window_views = await _window_views(storage, window, articles)
    readers = await _readers(storage, articles, as_of, window)
    items: list[dict[str, Any]] = []
    for article in articles:
        counted = window_views.get(article, 0)
        refused = automated.get(article, 0)
        clients = by_client.get(article, {})
        top_client, top_views = max(clients.items(), key=lambda c: c[1], default=("", 0))
        share = min(1.0, top_views / (counted + refused)) if counted + refused else 0.0
        leaning = counted + refused >= settings.suspicious_min_views
        if refused or (leaning and share >= settings.suspicious_share):
            items.append(
                {
                    "article": article,
                    "window_views": counted,
                    "automated_views": refused,
                    "readers": readers.get(article, 0),
                    "top_client": top_client or None,
                    "top_client_share": round(share, 3),
                }
            )
    items.sort(key=lambda i: (-i["automated_views"], -i["top_client_share"], i["article"]))
    return {"window": window.name, "as_of": rfc3339(as_of), "items": items}


async def _window_views(storage: Storage, window: Window, articles: list[str]) -> dict[str, int]:
    by_shard: dict[int, list[str]] = defaultdict(list)
    for article in articles:
        by_shard[keys.shard_of(article)].append(article)
    replies = await storage.execute(
        [ops.zmscore(keys.window(s, window.name), members) for s, members in by_shard.items()]
    )
    return {
        article: int(score or 0)
        for members, scores in zip(by_shard.values(), replies, strict=True)
        for article, score in zip(members, scores, strict=True)
    }


async def _readers(
    storage: Storage, articles: list[str], as_of: float, window: Window
) -> dict[str, int]:
    """Distinct readers (IP, User-Agent and visitor) in the days the window touches: the
    unique-reader HyperLogLogs, merged on the fly."""
    assert window.span_s is not None
    days = range(DAY.index(as_of - window.span_s), DAY.index(as_of) + 1)
    counts = await storage.execute(
        [ops.pfcount(*(keys.readers(a, d) for d in days)) for a in articles]
    )
    return dict(zip(articles, counts, strict=True))
