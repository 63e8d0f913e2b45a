"""Group commit: the views of concurrent requests go to Redis together, in one script call.

Every request waits for the flush that carries its view, so nothing is acknowledged before it
is in Redis. While a flush is in flight, new views queue; when it lands, the queue becomes
the next flush. Under load a flush carries many views for one round trip; at rest, one.
On a single node a flush is one record call holding a section per shard, which checks the
per-IP rate limit too. On a Redis Cluster, where a call's keys must share a slot, views queue
in lanes: first the rate-limit lane of their client's shard, then the record lane of their
article's shard, each flushing on its own, so a master that hangs or fails over holds up only
the views whose keys it serves.
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
from .ingest import HUMAN, View
from .metrics import Metrics
from .settings import Settings
from .store import Call, Script, StorageUnavailable, Store
from .windows import DAY, M5

COUNTED, DUPLICATE, DUPLICATE_EVENT, UNKNOWN, BOT, RATE_LIMITED, AUTOMATED = 1, 2, 3, 4, 5, 6, 7
READERS_RETENTION_S = 2 * 86400
PER_MINUTE_RETENTION_S = 2 * 3600
# The rollup empties the inbox every interval; the TTL only bounds what a service left with no
# scheduler for a month keeps.
INBOX_RETENTION_S = 32 * 86400
DAY_S, M5_S = DAY.bucket_s, M5.bucket_s
WATCHDOG_TICKS = 4  # a waiter times out between 1 and 1.25 Redis timeouts after it came

_RECORD = Script.load("record")
_RATELIMIT = Script.load("ratelimit")
Outcome = int | BaseException  # a code, -1 (rate limit), or why its shard's call failed


class _Lane:
    """Views waiting for a flush, and how many flushes of theirs are in flight."""

    __slots__ = ("inflight", "queue", "rate")

    def __init__(self, rate: bool) -> None:
        self.rate = rate  # a rate-limit lane: its views go on to their record lane
        self.queue: list[tuple[View, asyncio.Future[int]]] = []
        self.inflight = 0


class Committer:
    """Batches views from concurrent callers into as few Redis round trips as possible."""

    def __init__(
        self, store: Store, settings: Settings, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        # Flushes go by lane: one on a single node; on a cluster a rate-limit lane per client
        # shard, then a record lane per article shard, so a master that hangs only holds up
        # the views whose keys it serves (a flush waits for its slowest call).
        self._lanes: dict[tuple[bool, int], _Lane] = {}  # (rate-limit lane?, shard) -> lane
        self._rate_first = settings.rate_limit_per_min > 0 and store.cluster
        self._tasks: set[asyncio.Task[None]] = set()
        # Waiters in submission order, with the watchdog tick they arrived in.
        self._waiting: deque[tuple[int, asyncio.Future[int]]] = deque()
        self._tick = 0
        self._tick_s = settings.redis_timeout_s / WATCHDOG_TICKS
        self._watchdog: asyncio.TimerHandle | None = None
        self._pending = 0  # views submitted and not yet answered

    async def submit(self, view: View) -> int:
        """Record one view; returns its outcome code once it is written.

        StorageUnavailable at once when VIEWCOUNT_COMMIT_MAX_QUEUE views already wait: while
        Redis stalls, a saturated process answers 503 rather than queue without bound."""
        if self._pending >= self.settings.commit_max_queue:
            raise StorageUnavailable("too many views wait for Redis in this process")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._waiting.append((self._tick, future))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._tick_s, self._expire)
        if self._rate_first and view.client is not None:
            self._enqueue(self._lane(True, keys.shard_of_digest(view.client)), view, future)
        else:
            self._enqueue(self._record_lane(view), view, future)
        self._pending += 1
        try:
            return await future
        finally:
            self._pending -= 1

    def _lane(self, rate: bool, shard: int) -> _Lane:
        lane = self._lanes.get((rate, shard))
        if lane is None:
            lane = self._lanes[rate, shard] = _Lane(rate)
        return lane

    def _record_lane(self, view: View) -> _Lane:
        return self._lane(False, keys.shard_of(view.article) if self.store.cluster else 0)

    def _enqueue(self, lane: _Lane, view: View, future: asyncio.Future[int]) -> None:
        lane.queue.append((view, future))
        self._kick(lane)

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
        """Record views in chunks (a batch upload); one outcome per view, in order.

        The views go in article order (stable: of two with the same event id, the first still
        counts), so a chunk holds few articles with many views each: record.lua's writes per
        article (catalog check, total, inbox, readers) are then shared by many views.
        """
        order = sorted(range(len(views)), key=lambda index: views[index].article)
        outcomes = [0] * len(views)
        size = self.settings.commit_max_batch
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            results = await self._write([views[index] for index in chunk])
            for index, outcome in zip(chunk, results, strict=True):
                if isinstance(outcome, BaseException):  # the batch answer has no room for it
                    raise outcome
                outcomes[index] = outcome
        return outcomes

    def _kick(self, lane: _Lane) -> None:
        queue = lane.queue
        while queue and lane.inflight < self.settings.commit_max_inflight:
            batch = queue[: self.settings.commit_max_batch]
            del queue[: len(batch)]
            # A view whose caller was answered meanwhile (a 503 from the watchdog, a request
            # that went away) is not written: nothing answered 503 is counted afterwards.
            batch = [entry for entry in batch if not entry[1].done()]
            if not batch:
                continue
            lane.inflight += 1
            task = asyncio.create_task(self._flush(lane, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, lane: _Lane, batch: list[tuple[View, asyncio.Future[int]]]) -> None:
        try:
            views = [view for view, _ in batch]
            outcomes = await (
                self._rate_limit(views, self.clock.now())
                if lane.rate
                else self._write(views, rate_checked=True)
            )
        except BaseException as exc:  # every waiter learns the write failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            if not isinstance(exc, Exception):
                raise
        else:
            onward: set[_Lane] = set()
            for (view, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if outcome is True:  # allowed by its rate-limit lane: on to its record lane
                    next_lane = self._record_lane(view)
                    next_lane.queue.append((view, future))
                    onward.add(next_lane)
                elif isinstance(outcome, BaseException):  # its shard's call failed
                    future.set_exception(outcome)
                elif outcome is False or outcome < 0:
                    future.set_exception(
                        RateLimited("too many views from this address; slow down", 60)
                    )
                else:
                    future.set_result(outcome)
            for next_lane in onward:  # each flushes what came on together
                self._kick(next_lane)
        finally:
            lane.inflight -= 1
            self._kick(lane)

    async def _write(self, views: list[View], rate_checked: bool = False) -> list[Outcome]:
        """Rate-limit (unless ``rate_checked``), then record; -1 marks a view refused by the
        rate limit, an exception one whose shard's call failed.

        On a single node record.lua checks the limit itself, so a flush is one call; on a
        cluster the limit's keys live in other slots than the articles', so it goes first.
        A call per slot there: when one master is down or failing over, only the views of its
        shards fail, and the views other masters counted are answered as counted.
        """
        now = self.clock.now()
        limited = self.settings.rate_limit_per_min > 0
        inline = limited and not self.store.cluster
        allowed = None
        if limited and not inline and not rate_checked:
            allowed = await self._rate_limit(views, now)
        by_shard: dict[int, list[int]] = defaultdict(list)
        outcomes: list[Outcome] = [0] * len(views)
        for index, view in enumerate(views):
            flag = True if allowed is None else allowed[index]
            if flag is True:
                by_shard[keys.shard_of(view.article)].append(index)
            else:
                outcomes[index] = -1 if flag is False else flag
        groups = self.store.per_call(list(by_shard.items()))
        calls = [
            self._record_call(
                [(shard, [views[i] for i in idx]) for shard, idx in group], now, inline
            )
            for group in groups
        ]
        results = await self.store.run_all(calls, return_exceptions=True)
        codes: list[int] = []
        for group, result in zip(groups, results, strict=True):
            order = [index for _, idx in group for index in idx]
            if isinstance(result, BaseException):
                for index in order:
                    outcomes[index] = result
                continue
            for index, code in zip(order, result, strict=True):
                outcomes[index] = -1 if code == RATE_LIMITED else int(code)
            codes += result
        if self.metrics is not None:  # once per flush, not once per request
            self._count(codes)
        return outcomes

    def _count(self, codes: list[int]) -> None:
        assert self.metrics is not None
        tally = Counter(codes)
        for code, metric in (
            (COUNTED, self.metrics.views),
            (BOT, self.metrics.bots),
            (AUTOMATED, self.metrics.automated),
            (DUPLICATE, self.metrics.duplicates),
            (DUPLICATE_EVENT, self.metrics.duplicates),
        ):
            if tally[code]:
                metric.inc(tally[code])

    async def _rate_limit(self, views: list[View], now: float) -> list[bool | BaseException]:
        """ratelimit.lua, a call per slot: the flag of each view, True when allowed, or the
        exception of its slot's failed call."""
        limit = self.settings.rate_limit_per_min
        allowed: list[bool | BaseException] = [True] * len(views)
        minute = int(now // 60)
        by_shard: dict[int, list[int]] = defaultdict(list)
        for index, view in enumerate(views):
            if view.client is not None:
                by_shard[keys.shard_of_digest(view.client)].append(index)
        sections = list(by_shard.items())
        head = [limit, _weight(now), _ttl((minute + 2) * 60, now)]
        calls = []
        groups = self.store.per_call(sections)
        for group in groups:
            key_list: list[str] = []
            args: list[Any] = [*head, len(group)]
            for shard, idx in group:
                key_list += [keys.rate(shard, minute), keys.rate(shard, minute - 1)]
                args.append(len(idx))
                args += [views[i].client.hex() for i in idx]  # type: ignore[union-attr]
            calls.append(Call(_RATELIMIT, key_list, args))
        results = await self.store.run_all(calls, return_exceptions=True)
        for group, result in zip(groups, results, strict=True):
            order = [index for _, idx in group for index in idx]
            if isinstance(result, BaseException):
                for index in order:
                    allowed[index] = result
            else:
                for index, flag in zip(order, result, strict=True):
                    allowed[index] = bool(flag)
        return allowed

    def _record_call(
        self, sections: list[tuple[int, list[View]]], now: float, rate_limited: bool
    ) -> Call:
        """One record.lua call holding a section per shard (checking the rate limit too when
        ``rate_limited``)."""
        minute = int(now // 60)
        # Batch views need no dedupe, bot or rate-limit fields: 6 per view instead of 10.
        compact = not any(
            view.kind != HUMAN
            or (view.dedupe and view.reader is not None)
            or (rate_limited and view.client is not None)
            for _, views in sections
            for view in views
        )
        key_list: list[str] = []
        args: list[Any] = [
            self.settings.dedupe_window_s,
            self.settings.event_id_ttl_s,
            _ttl((minute + 1) * 60 + PER_MINUTE_RETENTION_S, now),
            INBOX_RETENTION_S,
            self.settings.rate_limit_per_min,
            _weight(now),
            _ttl((minute + 2) * 60, now),
            6 if compact else 10,
            len(sections),
        ]
        rate_keys: dict[int, int] = {}  # client shard -> key number of its minute's hash
        readers_ttls: dict[int, int] = {}  # day -> TTL of its reader counts, from now

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
            key_list += [
                keys.articles(shard),
                keys.totals(shard),
                keys.bots(shard),
                keys.inbox(shard),
                keys.per_minute(shard, minute),
                keys.automated(shard),
            ]
            args += [base, len(views)]
            for view in views:
                args += _view_args(view, key_list, now, readers_ttls)
                if not compact:
                    seen_k = _dedupe_key(view, key_list)
                    number = rate_key(view)
                    client = view.client.hex() if number else ""  # type: ignore[union-attr]
                    args += [view.kind, seen_k, number, client]
        return Call(_RECORD, key_list, args)


def _weight(now: float) -> str:
    """The share of the previous minute still inside the sliding minute that ends now."""
    return f"{1.0 - (now % 60) / 60:.3f}"


def _view_args(
    view: View, key_list: list[str], now: float, readers_ttls: dict[int, int]
) -> list[Any]:
    """A view's first 6 fields for record.lua; appends the keys they name to ``key_list``."""
    article = view.article
    event_k = readers_k = readers_ttl = 0
    member = ""
    if view.event is not None:
        key_list.append(keys.event(article, view.event))
        event_k = len(key_list)
    if view.reader is not None:
        day = int(view.at // DAY_S)
        key_list.append(keys.readers(article, day))
        readers_k = len(key_list)
        member = view.reader.hex()
        readers_ttl = readers_ttls.get(day) or 0
        if not readers_ttl:
            readers_ttl = readers_ttls[day] = _ttl((day + 1) * DAY_S + READERS_RETENTION_S, now)
    return [article, event_k, readers_k, member, readers_ttl, int(view.at // M5_S)]


def _dedupe_key(view: View, key_list: list[str]) -> int:
    """The key number of the view's dedupe marker (one reader, one article), 0 for none."""
    if view.reader is None or not view.dedupe or view.kind != HUMAN:
        return 0
    # The reader digest is keyed by the secret already: so is anything derived from it.
    seen = hashlib.blake2b(view.reader + view.article.encode(), digest_size=16).hexdigest()
    key_list.append(keys.seen(view.article, seen))
    return len(key_list)


def _ttl(expire_at: float, now: float) -> int:
    """Seconds from the service clock's now: Redis counts TTLs on its own clock, and tests
    run the service clock elsewhere in time."""
    return max(1, math.ceil(expire_at - now))
