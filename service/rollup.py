"""Counters to rankings: merge the inbox, slide the window sets, rank, publish.

A rollup moves the views counted since the last one from each shard's inbox into its time
buckets and window sets (merge.lua), subtracts the buckets that left each window (advance.lua),
reads the top of each shard's window sets (see topk.py for how deep), takes the top
``ranking_size`` articles site-wide and per theme (by the catalog's current theme), and writes
a new snapshot generation that a fenced script makes current in one step.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import orjson
from redis.exceptions import ResponseError

from . import keys, topk
from .clock import Clock
from .settings import Settings
from .store import Call, Script, Store
from .windows import GRANULARITIES, LAST_WINDOW, M5, SLIDING, WINDOWS

log = logging.getLogger("viewcount.rollup")

_ADVANCE = Script.load("advance")
_MERGE = Script.load("merge", durable=False)  # merges each entry once, however often it runs
_PUBLISH = Script.load("publish")
META_CHUNK = 500
SNAPSHOT_FIELDS_PER_HSET = 16  # lists per HSET: a list is up to ~20 KB of JSON
TOMBSTONE_MARGIN_S = 60
MERGE_CHUNK = 250  # inbox entries per merge call: each holds Redis for ~2-3 ms
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
        await asyncio.gather(*(self._merge(shard, as_of) for shard in range(keys.SHARDS)))
        await self._advance(as_of)
        lists = await self._lists()
        generation = await self._write(lists)
        published = await self._publish(lease_token, generation, as_of)
        duration_ms = int((time.monotonic() - started) * 1000)
        log.info(
            "rollup",
            extra={"published": published, "generation": generation, "duration_ms": duration_ms},
        )
        return RollupResult(published, as_of, duration_ms, generation)

    async def _merge(self, shard: int, as_of: float) -> None:
        """Move the shard's inbox into its buckets and window sets, a chunk per call.

        A draining set left by a rollup that died is finished first; then the inbox is
        claimed (renamed, so the views counted meanwhile start a new one) and drained.
        """
        store, client = self.store, self.store.client
        draining, claimed = keys.draining(shard), False
        while True:
            members = cast(
                list[str], await store.retrying(lambda: client.zrange(draining, 0, MERGE_CHUNK - 1))
            )
            if members:
                await store.run(_merge_call(shard, members, as_of))
                continue
            if claimed:
                return
            claimed = True
            await store.retrying(lambda: self._claim(shard))

    async def _claim(self, shard: int) -> None:
        """Rename the inbox to the draining set (empty: the caller drained it)."""
        try:
            await self.store.client.renamenx(keys.inbox(shard), keys.draining(shard))
        except ResponseError as exc:  # no inbox: nothing counted since the last claim
            if "no such key" not in str(exc).lower():
                raise

    async def _advance(self, as_of: float) -> None:
        starts = await self._window_starts()
        calls = []
        for shard in range(keys.SHARDS):
            key_list, args = [keys.window_starts(shard)], [len(SLIDING)]  # type: list[str], list[Any]
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
        return [
            {name: int(index) for name, index in starts.items()} for starts in await pipe.execute()
        ]

    async def _lists(self) -> dict[str, list[tuple[str, int]]]:
        """List name -> [(article, window views)], best first, ties by article id: site-wide
        and per theme (the catalog's current theme), read from the top of each window set."""
        reader = topk.TopReader(
            self.store, self.settings.ranking_size, await topk.theme_sizes(self.store)
        )
        lists: dict[str, list[tuple[str, int]]] = {}
        for window in WINDOWS:
            name = window.name
            top, by_theme = await reader.lists(
                keys.totals if name == "all" else partial(keys.window, name=name)
            )
            lists[list_name(name, None)] = _whole(top)
            for theme, items in by_theme.items():
                lists[list_name(name, theme)] = _whole(items)
        return lists

    async def _write(self, lists: dict[str, list[tuple[str, int]]]) -> int:
        client = self.store.client
        listed = sorted({article for items in lists.values() for article, _ in items})
        meta: dict[str, list[str | None]] = {}
        for start in range(0, len(listed), META_CHUNK):
            chunk = listed[start : start + META_CHUNK]
            meta.update(
                zip(
                    chunk,
                    await topk.commands(
                        self.store,
                        [
                            ("HMGET", keys.meta(article), "title", "url", "theme", "published_at")
                            for article in chunk
                        ],
                    ),
                    strict=True,
                )
            )
        totals = await topk.scores(self.store, listed)
        snapshot: dict[str, bytes] = {}
        for name, items in lists.items():
            entries = []
            for article, window_views in items:
                title, url, theme, published = meta[article]
                if title is None:  # deleted while we ranked
                    continue
                entries.append(
                    {
                        "article": article,
                        "title": title,
                        "url": url,
                        "theme": theme,
                        "published_at": published or None,
                        "window_views": window_views,
                        "views": int(totals.get(article, 0)),
                    }
                )
            snapshot[name] = orjson.dumps(entries)
        generation = int(await client.incr(keys.GENERATION))
        key = keys.snapshot(generation)
        fields = list(snapshot.items())
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, "_", "")  # a snapshot with no lists still exists
        for start in range(0, len(fields), SNAPSHOT_FIELDS_PER_HSET):
            pipe.hset(key, mapping=dict(fields[start : start + SNAPSHOT_FIELDS_PER_HSET]))
        # Unpublished snapshots (a rollup that died here) vanish on their own.
        pipe.expire(key, self._grace_s())
        await pipe.execute()
        return generation

    async def _publish(self, lease_token: str, generation: int, as_of: float) -> bool:
        previous = await self.store.client.hget(keys.CURRENT, "generation")
        previous_gen = int(previous or 0)
        published = await self.store.run(
            Call(
                _PUBLISH,
                [
                    keys.LEADER,
                    keys.CURRENT,
                    keys.snapshot(generation),
                    keys.TOMBSTONES,
                    keys.snapshot(previous_gen),
                ],
                [
                    lease_token,
                    generation,
                    repr(as_of),
                    as_of - TOMBSTONE_MARGIN_S,
                    self._grace_s(),
                    previous_gen,
                ],
            )
        )
        return bool(published)

    def _grace_s(self) -> int:
        return int(max(3 * self.settings.rollup_interval_s, 300))


def _merge_call(shard: int, members: list[str], as_of: float) -> Call:
    """merge.lua for inbox entries ("m5 index|article"): each with its three bucket keys."""
    bucket_numbers: dict[tuple[str, int], int] = {}
    key_list = [
        keys.draining(shard),
        keys.window_starts(shard),
        *(keys.window(shard, window.name) for window in SLIDING),
    ]
    bucket_args: list[Any] = []
    entry_args: list[Any] = []
    for member in members:
        at = int(member.split("|", 1)[0]) * M5.bucket_s
        entry_args.append(member)
        for gran in GRANULARITIES:
            index = gran.index(at)
            number = bucket_numbers.get((gran.name, index))
            if number is None:
                key_list.append(keys.bucket(shard, gran.name, index))
                number = bucket_numbers[gran.name, index] = len(key_list)
                expire_at = (index + 1) * gran.bucket_s + gran.retention_s
                bucket_args += [gran.name, index, max(1, math.ceil(expire_at - as_of))]
            entry_args.append(number)
    return Call(_MERGE, key_list, [len(bucket_numbers), *bucket_args, *entry_args])


def _whole(items: list[tuple[str, float]]) -> list[tuple[str, int]]:
    return [(article, int(score)) for article, score in items]
