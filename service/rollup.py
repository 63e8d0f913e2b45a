"""Counters to rankings: slide the window sets, rank site-wide and per theme, publish.

A rollup reads each shard's window sets (kept incrementally by every view), takes the top
``ranking_size`` articles site-wide and per theme (by the catalog's current theme), and writes
a new snapshot generation that a fenced script makes current in one step.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from . import keys
from .clock import Clock
from .settings import Settings
from .store import Call, Script, Store
from .windows import LAST_WINDOW, SLIDING, WINDOWS

log = logging.getLogger("viewcount.rollup")

_ADVANCE = Script.load("advance")
_PUBLISH = Script.load("publish")
SCAN_COUNT = 2000
META_CHUNK = 500
TOMBSTONE_MARGIN_S = 60
MAX_BACKLOG = 1000  # buckets one advance call may look back over, per window

Scores = dict[str, float]


def list_name(window: str, theme: str | None) -> str:
    """Field of a list in a snapshot hash."""
    return f"{window}|{theme or ''}"


@dataclass(frozen=True, slots=True)
class RollupResult:
    published: bool
    as_of: float
    duration_ms: int
    generation: int


class Rollup:
    """One rollup run: reads counters, writes a snapshot, publishes it if still allowed."""

    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    async def run(self, lease_token: str = "") -> RollupResult:
        started = time.monotonic()
        as_of = self.clock.now()
        await self._advance(as_of)
        themes, window_scores = await self._read(as_of)
        lists = self._rank(themes, window_scores)
        generation = await self._write(lists, window_scores)
        published = await self._publish(lease_token, generation, as_of)
        duration_ms = int((time.monotonic() - started) * 1000)
        log.info("rollup", extra={"published": published, "generation": generation,
                                  "duration_ms": duration_ms})
        return RollupResult(published, as_of, duration_ms, generation)

    async def _advance(self, as_of: float) -> None:
        starts = await self._window_starts()
        calls = []
        for shard in range(keys.SHARDS):
            key_list, args = [keys.window_starts(shard)], [len(SLIDING)]
            for window in SLIDING:
                gran = window.granularity
                assert gran is not None
                start = window.first_bucket(as_of)
                kept = gran.index(as_of - gran.retention_s) - 1
                # From the last start too, so buckets a slow rollup skipped are dropped.
                lo = max(min(kept, starts[shard].get(window.name, kept)), start - MAX_BACKLOG)
                hi = gran.index(as_of) + 1
                key_list.append(keys.window(shard, window.name))
                key_list += [keys.bucket(shard, gran.name, i) for i in range(lo, hi + 1)]
                drop = LAST_WINDOW[gran.name] is window
                args += [window.name, lo, hi, start, int(drop), kept]
            calls.append(Call(_ADVANCE, key_list, args))
        await asyncio.gather(*(self.store.run(c) for c in calls))

    async def _window_starts(self) -> list[dict[str, int]]:
        pipe = self.store.client.pipeline(transaction=False)
        for shard in range(keys.SHARDS):
            pipe.hgetall(keys.window_starts(shard))
        return [{name: int(index) for name, index in starts.items()}
                for starts in await pipe.execute()]

    async def _read(self, as_of: float) -> tuple[dict[str, str], dict[str, Scores]]:
        """Every article's theme, and every window's article -> views (views > 0 only)."""
        client = self.store.client
        themes: dict[str, str] = {}
        window_scores: dict[str, Scores] = {w.name: {} for w in WINDOWS}

        async def scan_themes(shard: int) -> None:
            async for article, theme in client.hscan_iter(keys.article_themes(shard),
                                                          count=SCAN_COUNT):
                themes[article] = theme

        async def scan_window(shard: int, window: str) -> None:
            key = keys.totals(shard) if window == "all" else keys.window(shard, window)
            scores = window_scores[window]
            async for article, score in client.zscan_iter(key, count=SCAN_COUNT):
                if score > 0:
                    scores[article] = score

        jobs = [scan_themes(s) for s in range(keys.SHARDS)]
        jobs += [scan_window(s, w.name) for s in range(keys.SHARDS) for w in WINDOWS]
        await asyncio.gather(*jobs)
        # An article deleted between the scans may linger in a window set: themes decide.
        for scores in window_scores.values():
            for article in [a for a in scores if a not in themes]:
                del scores[article]
        return themes, window_scores

    def _rank(self, themes: dict[str, str],
              window_scores: dict[str, Scores]) -> dict[str, list[tuple[str, int]]]:
        """List name -> [(article, window views)], best first, ties by article id."""
        size = self.settings.ranking_size
        lists: dict[str, list[tuple[str, int]]] = {}
        for window, scores in window_scores.items():
            lists[list_name(window, None)] = _top(scores.items(), size)
            by_theme: dict[str, list[tuple[str, float]]] = defaultdict(list)
            for article, score in scores.items():
                by_theme[themes[article]].append((article, score))
            for theme, members in by_theme.items():
                lists[list_name(window, theme)] = _top(members, size)
        return lists

    async def _write(self, lists: dict[str, list[tuple[str, int]]],
                     window_scores: dict[str, Scores]) -> int:
        client = self.store.client
        listed = sorted({article for items in lists.values() for article, _ in items})
        meta: dict[str, list[str | None]] = {}
        for start in range(0, len(listed), META_CHUNK):
            chunk = listed[start:start + META_CHUNK]
            pipe = client.pipeline(transaction=False)
            for article in chunk:
                pipe.hmget(keys.meta(article), ["title", "url", "theme", "published_at"])
            meta.update(zip(chunk, await pipe.execute(), strict=True))
        totals = window_scores["all"]
        snapshot: dict[str, bytes] = {}
        for name, items in lists.items():
            entries = []
            for article, window_views in items:
                title, url, theme, published = meta[article]
                if title is None:  # deleted while we ranked
                    continue
                entries.append({"article": article, "title": title, "url": url, "theme": theme,
                                "published_at": published or None,
                                "window_views": window_views,
                                "views": int(totals.get(article, 0))})
            snapshot[name] = orjson.dumps(entries)
        generation = int(await client.incr(keys.GENERATION))  # type: ignore[misc]
        key = keys.snapshot(generation)
        fields = list(snapshot.items())
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, "_", "")  # a snapshot with no lists still exists
        for start in range(0, len(fields), 64):
            pipe.hset(key, mapping=dict(fields[start:start + 64]))
        # Unpublished snapshots (a rollup that died here) vanish on their own.
        pipe.expire(key, self._grace_s())
        await pipe.execute()
        return generation

    async def _publish(self, lease_token: str, generation: int, as_of: float) -> bool:
        previous = await self.store.client.hget(keys.CURRENT, "generation")  # type: ignore[misc]
        previous_gen = int(previous or 0)
        published = await self.store.run(Call(_PUBLISH, [
            keys.LEADER, keys.CURRENT, keys.snapshot(generation), keys.TOMBSTONES,
            keys.snapshot(previous_gen),
        ], [lease_token, generation, repr(as_of), as_of - TOMBSTONE_MARGIN_S,
            self._grace_s(), previous_gen]))
        return bool(published)

    def _grace_s(self) -> int:
        return int(max(3 * self.settings.rollup_interval_s, 300))


def _top(members: Iterable[tuple[str, float]], size: int) -> list[tuple[str, int]]:
    best = heapq.nsmallest(size, members, key=lambda m: (-m[1], m[0]))
    return [(article, int(score)) for article, score in best]
