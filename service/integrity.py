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
from collections import defaultdict
from datetime import UTC, tzinfo
from itertools import compress
from typing import Any

from . import keys
from .clock import rfc3339
from .scripts import samples
from .scripts.record import HOUR_S
from .settings import Settings
from .storage import Storage, ops
from .windows import DAY, WALL, Window

ID = 8  # characters of a reader id in a sample
# Articles per HMGET of a sample: one of all a shard's candidates held Redis 15-31 ms.
GATE_CHUNK = 500


async def fold_samples(storage: Storage, as_of: float, keep: int) -> None:
    """The last two hours' reader samples into their days' and the all-time ones."""
    await asyncio.gather(
        *(storage.run(samples.call(shard, as_of, keep)) for shard in range(keys.SHARDS))
    )


def sample_keys(shard: int, window: Window, as_of: float, zone: tzinfo = UTC) -> list[str]:
    """The samples that hold a window's readers: its hours for windows of a day or less
    (``today`` included), its days for longer ones (a window's readers then include those of
    the hour or day its start falls in), the all-time sample for ``all``."""
    if window is WALL or (window.span_s is None and not window.daily):
        return [keys.readers_sample(shard, "all")]
    start = window.start(as_of, zone)
    if window.daily or (window.span_s or 0) <= DAY.bucket_s:
        hours = range(int(start // HOUR_S), int(as_of // HOUR_S) + 1)
        return [keys.readers_sample(shard, "h", h) for h in hours]
    days = range(DAY.index(start), DAY.index(as_of) + 1)
    return [keys.readers_sample(shard, "d", d) for d in days]


def _judged(held: list[list[str | None]], count: int, minimum: int) -> list[bool]:
    """Whether each of ``count`` articles has ``minimum`` distinct reader ids in its samples
    (``held``: one reply per sample, aligned with the articles). A sample's ids are distinct,
    so one full sample settles it; only an article whose samples together are long enough
    has its ids counted. A rollup judges tens of thousands of articles a window over up to
    31 samples each: one pass per sample over the articles it holds, no work per empty one."""
    width = minimum * ID
    joined = [""] * count
    full = [False] * count
    for values in held:
        for index in compress(range(count), values):
            found = values[index]
            assert found is not None
            if len(found) >= width:
                full[index] = True
            else:
                joined[index] += found
    return [
        ok
        or (len(ids) >= width and len({ids[i : i + ID] for i in range(0, len(ids), ID)}) >= minimum)
        for ok, ids in zip(full, joined, strict=True)
    ]


class ReaderGate:
    """Which articles have VIEWCOUNT_MIN_READERS distinct readers in a window, for one rollup.

    For beacons a reader is a client network; for batch events a visitor (an event without
    one is a reader of its own: batches come with the admin or an ingest token). Articles with
    imported views pass the all-time gate: the counts an editor carried over are trusted."""

    def __init__(self, storage: Storage, minimum: int, as_of: float, zone: tzinfo = UTC) -> None:
        self.storage = storage
        self.minimum = minimum
        self.as_of = as_of
        self.zone = zone
        self._known: dict[str, dict[str, bool]] = defaultdict(dict)  # window -> article -> ok
        self._sources: dict[str, frozenset[str]] = {}  # window -> its samples (of shard 0)

    async def passing(self, window: Window, articles: set[str]) -> set[str]:
        if self.minimum <= 1:  # any article with a view has a reader
            return articles
        known = self._known[window.name]
        unknown = [a for a in articles if a not in known]
        if unknown:
            unknown = self._carried(window, unknown, known)
        if unknown:
            await self._learn(window, unknown, known)
        return {a for a in articles if known[a]}

    def _carried(self, window: Window, articles: list[str], known: dict[str, bool]) -> list[str]:
        """Judge what other windows' judgments settle, and return the rest: an article
        passing over some of a window's samples passes over all of them, and one failing over
        a window's samples fails over any part of them (today's hours are part of the 24h
        window's; the 1h window's too). The all-time gate also trusts imported views: it is
        not carried."""
        mine = self._sources.setdefault(
            window.name, frozenset(sample_keys(0, window, self.as_of, self.zone))
        )
        if window is WALL:
            return articles
        for other, sources in self._sources.items():
            judged = self._known[other]
            if other in (WALL.name, window.name) or not judged:
                continue
            carried = {True} if sources <= mine else set()  # its passes
            if sources >= mine:
                carried.add(False)  # its failures
            if not carried:
                continue
            rest = []
            for article in articles:
                ok = judged.get(article)
                if ok in carried:
                    known[article] = bool(ok)
                else:
                    rest.append(article)
            articles = rest
        return articles

    async def _learn(self, window: Window, articles: list[str], known: dict[str, bool]) -> None:
        by_shard: dict[int, list[str]] = defaultdict(list)
        for article in articles:
            by_shard[keys.shard_of(article)].append(article)
        chunks = [
            members[start : start + GATE_CHUNK]
            for members in by_shard.values()
            for start in range(0, len(members), GATE_CHUNK)
        ]
        batch: list[ops.Op[Any]] = []
        layout: list[tuple[list[str], int]] = []
        for members in chunks:
            sources = sample_keys(keys.shard_of(members[0]), window, self.as_of, self.zone)
            batch += [ops.hmget(source, members) for source in sources]
            layout.append((members, len(sources)))
        replies = iter(await self.storage.execute(batch))
        short: list[str] = []
        for members, count in layout:
            held = [next(replies) for _ in range(count)]
            for article, ok in zip(members, _judged(held, len(members), self.minimum), strict=True):
                known[article] = ok
                if not ok:
                    short.append(article)
        if window is WALL and short:  # imported views vouch for an article's all-time count
            imported = await self.storage.execute(
                [ops.hget(keys.meta(a), "imported_views") for a in short]
            )
            for article, value in zip(short, imported, strict=True):
                known[article] = int(value or 0) > 0


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
