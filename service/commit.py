"""Group commit: the views of concurrent requests go to Redis together, in one script call.

Every request waits for the flush that carries its view, so nothing is acknowledged before it
is in Redis. While a flush is in flight, new views queue; when it lands, the queue becomes
the next flush. Under load a flush carries many views for one round trip; at rest, one.
On a single node a flush is one record call holding a section per shard, which checks the
per-IP rate limit too; on a Redis Cluster, where a call's keys must share a slot, a rate-limit
call per client shard, then a record call per article shard.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from typing import Any

from . import keys
from .clock import Clock
from .errors import RateLimited
from .ingest import View
from .metrics import Metrics
from .settings import Settings
from .store import Call, Script, StorageUnavailable, Store
from .windows import DAY, M5

COUNTED, DUPLICATE, DUPLICATE_EVENT, UNKNOWN, BOT, RATE_LIMITED = 1, 2, 3, 4, 5, 6
READERS_RETENTION_S = 2 * 86400
PER_MINUTE_RETENTION_S = 2 * 3600
# The rollup empties the inbox every interval; the TTL only bounds what a service left with no
# scheduler for a month keeps.
INBOX_RETENTION_S = 32 * 86400
DAY_S, M5_S = DAY.bucket_s, M5.bucket_s
WATCHDOG_TICKS = 4  # a waiter times out between 1 and 1.25 Redis timeouts after it came

_RECORD = Script.load("record")
_RATELIMIT = Script.load("ratelimit")
_Section = tuple[int, list[int]]  # shard, indexes of its views


class Committer:
    """Batches views from concurrent callers into as few Redis round trips as possible."""

    def __init__(self, store: Store, settings: Settings, clock: Clock,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self._queue: list[tuple[View, asyncio.Future[int]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Waiters in submission order, with the watchdog tick they arrived in.
        self._waiting: deque[tuple[int, asyncio.Future[int]]] = deque()
        self._tick = 0
        self._tick_s = settings.redis_timeout_s / WATCHDOG_TICKS
        self._watchdog: asyncio.TimerHandle | None = None

    async def submit(self, view: View) -> int:
        """Record one view; returns its outcome code once it is written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.append((view, future))
        self._waiting.append((self._tick, future))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._tick_s, self._expire)
        self._kick()
        return await future

    def _expire(self) -> None:
        """Fail the waiters older than the Redis timeout.

        A view queued behind a flush stuck on a stalled Redis would wait for two socket
        timeouts; its caller gets a 503 after one (at most a tick later). The view may still
        land, never acknowledged. One timer for all waiters: a timer per request cost more
        than a tenth of the beacon path.
        """
        self._tick += 1
        waiting = self._waiting
        while waiting:
            tick, future = waiting[0]
            if not future.done():
                if self._tick - tick <= WATCHDOG_TICKS:
                    break
                future.set_exception(StorageUnavailable("Redis did not answer in time"))
            waiting.popleft()
        self._watchdog = None
        if waiting:
            self._watchdog = asyncio.get_running_loop().call_later(self._tick_s, self._expire)

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
        """Rate-limit, then record; -1 marks a view refused by the rate limit.

        On a single node record.lua checks the limit itself, so a flush is one call; on a
        cluster the limit's keys live in other slots than the articles', so it goes first.
        """
        now = self.clock.now()
        limited = self.settings.rate_limit_per_min > 0
        inline = limited and not self.store.cluster
        allowed = await self._rate_limit(views, now) if limited and not inline else None
        by_shard: dict[int, list[int]] = defaultdict(list)
        outcomes = [0] * len(views)
        for index, view in enumerate(views):
            if allowed is None or allowed[index]:
                by_shard[keys.shard_of(view.article)].append(index)
            else:
                outcomes[index] = -1
        sections = list(by_shard.items())
        calls = [self._record_call([(shard, [views[i] for i in idx]) for shard, idx in group],
                                   now, inline) for group in self.store.per_call(sections)]
        order = [index for _, idx in sections for index in idx]
        codes = [code for result in await self.store.run_all(calls) for code in result]
        for index, code in zip(order, codes, strict=True):
            outcomes[index] = -1 if code == RATE_LIMITED else int(code)
        if self.metrics is not None:  # once per flush, not once per request
            self._count(codes)
        return outcomes

    def _count(self, codes: list[int]) -> None:
        assert self.metrics is not None
        tally = Counter(codes)
        for code, metric in ((COUNTED, self.metrics.views), (BOT, self.metrics.bots),
                             (DUPLICATE, self.metrics.duplicates),
                             (DUPLICATE_EVENT, self.metrics.duplicates)):
            if tally[code]:
                metric.inc(tally[code])

    async def _rate_limit(self, views: list[View], now: float) -> list[bool]:
        """ratelimit.lua, a call per slot: the flag of each view, True when allowed."""
        limit = self.settings.rate_limit_per_min
        allowed = [True] * len(views)
        minute = int(now // 60)
        by_shard: dict[int, list[int]] = defaultdict(list)
        for index, view in enumerate(views):
            if view.client is not None:
                by_shard[keys.shard_of_digest(view.client)].append(index)
        sections = list(by_shard.items())
        head = [limit, _weight(now), _ttl((minute + 2) * 60, now)]
        calls = []
        for group in self.store.per_call(sections):
            key_list: list[str] = []
            args: list[Any] = [*head, len(group)]
            for shard, idx in group:
                key_list += [keys.rate(shard, minute), keys.rate(shard, minute - 1)]
                args.append(len(idx))
                args += [views[i].client.hex() for i in idx]  # type: ignore[union-attr]
            calls.append(Call(_RATELIMIT, key_list, args))
        order = [index for _, idx in sections for index in idx]
        flags = [flag for result in await self.store.run_all(calls) for flag in result]
        for index, flag in zip(order, flags, strict=True):
            allowed[index] = bool(flag)
        return allowed

    def _record_call(self, sections: list[tuple[int, list[View]]], now: float,
                     rate_limited: bool) -> Call:
        """One record.lua call holding a section per shard (checking the rate limit too when
        ``rate_limited``)."""
        minute = int(now // 60)
        key_list: list[str] = []
        args: list[Any] = [self.settings.dedupe_window_s, self.settings.event_id_ttl_s,
                           _ttl((minute + 1) * 60 + PER_MINUTE_RETENTION_S, now),
                           INBOX_RETENTION_S, self.settings.rate_limit_per_min, _weight(now),
                           _ttl((minute + 2) * 60, now), len(sections)]
        rate_keys: dict[int, int] = {}  # client shard -> key number of its minute's hash

        def rate_key(view: View) -> int:
            if not rate_limited or view.client is None:
                return 0
            shard = keys.shard_of_digest(view.client)
            number = rate_keys.get(shard)
            if number is None:
                key_list.extend((keys.rate(shard, minute), keys.rate(shard, minute - 1)))
                number = rate_keys[shard] = len(key_list) - 1
            return number

        for shard, views in sections:
            base = len(key_list) + 1
            key_list += [keys.articles(shard), keys.totals(shard), keys.bots(shard),
                         keys.inbox(shard), keys.per_minute(shard, minute)]
            args += [base, len(views)]
            for view in views:
                args += _view_args(view, key_list, now)
                number = rate_key(view)
                args += [number, view.client.hex() if number else ""]  # type: ignore[union-attr]
        return Call(_RECORD, key_list, args)


def _weight(now: float) -> str:
    """The share of the previous minute still inside the sliding minute that ends now."""
    return f"{1.0 - (now % 60) / 60:.3f}"


def _view_args(view: View, key_list: list[str], now: float) -> list[Any]:
    """A view's first 8 fields for record.lua; appends the keys they name to ``key_list``."""
    article = view.article
    event_k = seen_k = readers_k = 0
    member = ""
    if view.event_id is not None:
        digest = hashlib.blake2b(f"{article}\0{view.event_id}".encode(),
                                 digest_size=16).hexdigest()
        key_list.append(keys.event(article, digest))
        event_k = len(key_list)
    day = int(view.at // DAY_S)
    if view.reader is not None:
        if view.dedupe and not view.bot:
            seen = hashlib.blake2b(view.reader + article.encode(), digest_size=16).hexdigest()
            key_list.append(keys.seen(article, seen))
            seen_k = len(key_list)
        key_list.append(keys.readers(article, day))
        readers_k = len(key_list)
        member = view.reader.hex()
    readers_ttl = _ttl((day + 1) * DAY_S + READERS_RETENTION_S, now)
    return [article, "b" if view.bot else "v", event_k, seen_k, readers_k, member,
            readers_ttl, int(view.at // M5_S)]


def _ttl(expire_at: float, now: float) -> int:
    """Seconds from the service clock's now: Redis counts TTLs on its own clock, and tests
    run the service clock elsewhere in time."""
    return max(1, math.ceil(expire_at - now))
