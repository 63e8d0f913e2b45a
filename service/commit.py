"""Group commit: the views of concurrent requests go to Redis together, one script per shard.

Every request waits for the flush that carries its view, so nothing is acknowledged before it
is in Redis. While a flush is in flight, new views queue; when it lands, the queue becomes
the next flush. Under load a flush carries many views for one round trip; at rest, one.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from . import keys
from .clock import Clock
from .errors import RateLimited
from .ingest import View
from .settings import Settings
from .store import Call, Script, Store
from .windows import DAY, GRANULARITIES

COUNTED, DUPLICATE, DUPLICATE_EVENT, UNKNOWN, BOT = 1, 2, 3, 4, 5
READERS_RETENTION_S = 2 * 86400
PER_MINUTE_RETENTION_S = 2 * 3600

_RECORD = Script.load("record")
_RATELIMIT = Script.load("ratelimit")


class Committer:
    """Batches views from concurrent callers into as few Redis round trips as possible."""

    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._queue: list[tuple[View, asyncio.Future[int]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, view: View) -> int:
        """Record one view; returns its outcome code once it is written."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((view, future))
        self._kick()
        return await future

    async def submit_many(self, views: Sequence[View]) -> list[int]:
        """Record views in chunks (a batch upload); one outcome per view, in order."""
        outcomes: list[int] = []
        size = self.settings.commit_max_batch
        for start in range(0, len(views), size):
            chunk = views[start:start + size]
            outcomes += await self._write(list(chunk))
        return outcomes

    def _kick(self) -> None:
        while self._queue and self._inflight < self.settings.commit_max_inflight:
            batch = self._queue[: self.settings.commit_max_batch]
            del self._queue[: len(batch)]
            self._inflight += 1
            task = asyncio.create_task(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[tuple[View, asyncio.Future[int]]]) -> None:
        try:
            outcomes = await self._write([view for view, _ in batch])
        except BaseException as exc:  # every waiter learns the write failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    if outcome < 0:
                        future.set_exception(RateLimited(
                            "too many views from this address; slow down", 60))
                    else:
                        future.set_result(outcome)
        finally:
            self._inflight -= 1
            self._kick()

    async def _write(self, views: list[View]) -> list[int]:
        """Rate-limit, then record; -1 marks a view refused by the rate limit."""
        now = self.clock.now()
        outcomes = [0] * len(views)
        allowed = await self._rate_limit(views, now)
        by_shard: dict[int, list[int]] = defaultdict(list)
        for index, view in enumerate(views):
            if allowed[index]:
                by_shard[keys.shard_of(view.article)].append(index)
            else:
                outcomes[index] = -1
        calls = [self._record_call(shard, [views[i] for i in idx], now)
                 for shard, idx in by_shard.items()]
        results = await self.store.run_all(calls)
        for idx, codes in zip(by_shard.values(), results, strict=True):
            for index, code in zip(idx, codes, strict=True):
                outcomes[index] = int(code)
        return outcomes

    async def _rate_limit(self, views: list[View], now: float) -> list[bool]:
        limit = self.settings.rate_limit_per_min
        allowed = [True] * len(views)
        if limit <= 0:
            return allowed
        minute = int(now // 60)
        weight = 1.0 - (now % 60) / 60
        by_shard: dict[int, list[int]] = defaultdict(list)
        for index, view in enumerate(views):
            if view.client is not None:
                by_shard[keys.shard_of_digest(view.client)].append(index)
        calls = [
            Call(_RATELIMIT, [keys.rate(shard, minute), keys.rate(shard, minute - 1)],
                 [limit, f"{weight:.3f}", _ttl((minute + 2) * 60, now),
                  *(views[i].client.hex() for i in idx)])  # type: ignore[union-attr]
            for shard, idx in by_shard.items()
        ]
        for idx, flags in zip(by_shard.values(), await self.store.run_all(calls), strict=True):
            for index, flag in zip(idx, flags, strict=True):
                allowed[index] = bool(flag)
        return allowed

    def _record_call(self, shard: int, views: list[View], now: float) -> Call:
        fixed = [
            keys.articles(shard), keys.totals(shard), keys.bots(shard),
            keys.window(shard, "1h"), keys.window(shard, "24h"), keys.window(shard, "7d"),
            keys.window(shard, "30d"), keys.window_starts(shard),
            keys.per_minute(shard, int(now // 60)),
        ]
        bucket_numbers: dict[str, int] = {}
        bucket_args: list[Any] = []
        slots: list[str] = []
        for view in views:
            numbers = []
            for gran in GRANULARITIES:
                index = gran.index(view.at)
                name = keys.bucket(shard, gran.name, index)
                if name not in bucket_numbers:
                    bucket_numbers[name] = len(fixed) + len(bucket_numbers) + 1
                    expire_at = (index + 1) * gran.bucket_s + gran.retention_s
                    bucket_args += [gran.name, index, _ttl(expire_at, now)]
                numbers.append(str(bucket_numbers[name]))
            slots.append(",".join(numbers))
        key_list = fixed + list(bucket_numbers)
        view_args: list[Any] = []
        for view, view_slots in zip(views, slots, strict=True):
            event_k = seen_k = readers_k = 0
            member = ""
            if view.event_id is not None:
                digest = hashlib.blake2b(f"{view.article}\0{view.event_id}".encode(),
                                         digest_size=16).hexdigest()
                key_list.append(keys.event(view.article, digest))
                event_k = len(key_list)
            if view.reader is not None:
                if view.dedupe and not view.bot:
                    seen = hashlib.blake2b(view.reader + view.article.encode(),
                                           digest_size=16).hexdigest()
                    key_list.append(keys.seen(view.article, seen))
                    seen_k = len(key_list)
                day = DAY.index(view.at)
                key_list.append(keys.readers(view.article, day))
                readers_k = len(key_list)
                member = view.reader.hex()
            readers_ttl = _ttl((DAY.index(view.at) + 1) * DAY.bucket_s + READERS_RETENTION_S, now)
            view_args += [view.article, "b" if view.bot else "v", event_k, seen_k, readers_k,
                          member, readers_ttl, view_slots]
        args = [self.settings.dedupe_window_s, self.settings.event_id_ttl_s,
                _ttl((int(now // 60) + 1) * 60 + PER_MINUTE_RETENTION_S, now),
                len(bucket_numbers), *bucket_args, *view_args]
        return Call(_RECORD, key_list, args)



def _ttl(expire_at: float, now: float) -> int:
    """Seconds from the service clock's now: Redis counts TTLs on its own clock, and tests
    run the service clock elsewhere in time."""
    return max(1, math.ceil(expire_at - now))
