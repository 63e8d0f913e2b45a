"""Counters to rankings: slide the window sets, rank site-wide and per theme, publish.

A rollup reads the top of each shard's window sets (kept incrementally by every view: see
topk.py for how deep), takes the top ``ranking_size`` articles site-wide and per theme (by the
catalog's current theme), and writes a new snapshot generation that a fenced script makes
current in one step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial

import orjson

from . import keys, topk
from .clock import Clock
from .settings import Settings
from .store import Call, Script, Store
from .windows import LAST_WINDOW, SLIDING, WINDOWS

log = logging.getLogger("viewcount.rollup")

_ADVANCE = Script.load("advance")
_PUBLISH = Script.load("publish")
META_CHUNK = 500
TOMBSTONE_MARGIN_S = 60
MAX_BACKLOG = 1000  # buckets one advance call may look back over, per window


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
        lists = await self._lists()
        generation = await self._write(lists)
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

    async def _lists(self) -> dict[str, list[tuple[str, int]]]:
        """List name -> [(article, window views)], best first, ties by article id: site-wide
        and per theme (the catalog's current theme), read from the top of each window set."""
        reader = topk.TopReader(self.store, self.settings.ranking_size,
                                await topk.theme_sizes(self.store))
        lists: dict[str, list[tuple[str, int]]] = {}
        for window in WINDOWS:
            name = window.name
            top, by_theme = await reader.lists(
                keys.totals if name == "all" else partial(keys.window, name=name))
            lists[list_name(name, None)] = _whole(top)
            for theme, items in by_theme.items():
                lists[list_name(name, theme)] = _whole(items)
        return lists

    async def _write(self, lists: dict[str, list[tuple[str, int]]]) -> int:
        client = self.store.client
        listed = sorted({article for items in lists.values() for article, _ in items})
        meta: dict[str, list[str | None]] = {}
        for start in range(0, len(listed), META_CHUNK):
            chunk = listed[start:start + META_CHUNK]
            meta.update(zip(chunk, await topk.commands(self.store, [
                ("HMGET", keys.meta(article), "title", "url", "theme", "published_at")
                for article in chunk]), strict=True))
        totals = await topk.scores(self.store, listed)
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


def _whole(items: list[tuple[str, float]]) -> list[tuple[str, int]]:
    return [(article, int(score)) for article, score in items]
