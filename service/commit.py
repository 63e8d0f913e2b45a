"""Group commit: the views of concurrent requests go to Redis together, in one script call.

Every request waits for the flush that carries its view, so nothing is acknowledged before it
is in Redis (batching.py: while a flush is in flight, new views queue and become the next).
This module is the lane policy: on a single node one lane, whose record call holds a section
per shard and checks the per-client rate limit too. On a Redis Cluster, where a call's keys
must share a slot, views queue first in the rate-limit lane of their client's shard, then in
the record lane of their article's shard, each flushing on its own, so a master that hangs or
fails over holds up only the views whose keys it serves.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from functools import partial

from . import keys
from .batching import Batcher
from .clock import Clock
from .errors import RateLimited
from .eventlog import record as log_record
from .ingest import View
from .metrics import Metrics
from .scripts import ratelimit, record
from .scripts.record import AUTOMATED, BOT, COUNTED, DUPLICATE, DUPLICATE_EVENT, RATE_LIMITED
from .settings import Settings
from .storage import Storage, StorageError, StorageUnavailable
from .windows import M5

WATCHDOG_TICKS = 4  # a waiter times out between 1 and 1.25 Redis timeouts after it came
# A view's outcome: a record.lua code, or why its shard's call failed.
Outcome = int | StorageError
Waiter = tuple[View, "asyncio.Future[int]"]
LaneKey = tuple[bool, int]  # (rate-limit lane?, shard)


def _unanswered(waiter: Waiter) -> bool:
    # A view whose caller was answered meanwhile (a 503 from the watchdog, a request that
    # went away) is not written: nothing answered 503 is counted afterwards.
    return not waiter[1].done()


def _log_partial(view: View) -> str:
    """The event-log line of a view the rate limit may refuse (on a cluster, where record.lua
    never sees such a view), but its code and client."""
    reader = view.reader.hex() if view.reader is not None else ""
    return log_record.partial_line(M5.index(view.at), view.article, reader)


class Committer:
    """Batches views from concurrent callers into as few Redis round trips as possible."""

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.limits = record.Limits(
            settings.dedupe_window_s,
            settings.event_id_ttl_s,
            settings.rate_limit_per_min,
            settings.max_views_per_client,
            settings.min_readers,
            settings.event_log_max_entries,
        )
        self._lanes: dict[LaneKey, Batcher[Waiter]] = {}
        self._rate_first = settings.rate_limit_per_min > 0 and storage.cluster
        # Waiters in submission order, with the watchdog tick they arrived in.
        self._waiting: deque[tuple[int, asyncio.Future[int]]] = deque()
        self._tick = 0
        self._tick_s = settings.redis_timeout_s / WATCHDOG_TICKS
        self._watchdog: asyncio.TimerHandle | None = None
        self._pending = 0  # views submitted and not yet answered

    async def submit(self, view: View) -> int:
        """Record one view; its record.lua code once it is written.

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
            self._lane((True, keys.shard_of_digest(view.client))).add((view, future))
        else:
            self._record_lane(view).add((view, future))
        self._pending += 1
        try:
            return await future
        finally:
            self._pending -= 1

    async def submit_many(self, views: Sequence[View]) -> list[int]:
        """Record views in chunks (a batch upload); one code per view, in order.

        The views go in article order (stable: of two with the same event id, the first still
        counts), so a chunk holds few articles with many views each: record.lua's writes per
        article (catalog check, total, inbox, readers) are then shared by many views.
        """
        order = sorted(range(len(views)), key=lambda index: views[index].article)
        outcomes = [0] * len(views)
        size = self.settings.commit_max_batch
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            # Never the per-minute rate limit: a batch's times are its log's, and one shipper
            # posts a whole site's readers at once (the per-client cap still applies).
            results = await self._write([views[index] for index in chunk], rate_limit=False)
            for index, outcome in zip(chunk, results, strict=True):
                if isinstance(outcome, StorageError):  # the batch answer has no room for it
                    raise outcome
                outcomes[index] = outcome
        return outcomes

    async def replay(self, views: Sequence[View]) -> list[int]:
        """Record views that were held (discovery): the normal record path, dedupe and caps
        included, but not the rate limit, which each one's own request already passed."""
        outcomes = []
        size = self.settings.commit_max_batch
        for start in range(0, len(views), size):
            for outcome in await self._write(list(views[start : start + size]), rate_limit=False):
                if isinstance(outcome, StorageError):
                    raise outcome
                outcomes.append(outcome)
        return outcomes

    # --- lanes -------------------------------------------------------------------------------
    def _lane(self, key: LaneKey) -> Batcher[Waiter]:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Batcher(
                partial(self._flush, key[0]),
                max_batch=self.settings.commit_max_batch,
                max_inflight=self.settings.commit_max_inflight,
                keep=_unanswered,
            )
        return lane

    def _record_lane(self, view: View) -> Batcher[Waiter]:
        return self._lane((False, keys.shard_of(view.article) if self.storage.cluster else 0))

    def _expire(self) -> None:
        """Fail the waiters older than the Redis timeout.

        A view queued behind a flush stuck on a stalled Redis would wait for two socket
        timeouts; its caller gets a 503 after one (at most a tick later), and the view is
        then dropped unsent (see _unanswered). One timer for all waiters: a timer per request
        cost more than a tenth of the beacon path.
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

    async def _flush(self, rate_lane: bool, batch: list[Waiter]) -> None:
        try:
            views = [view for view, _ in batch]
            outcomes: Sequence[bool | Outcome] = await (
                self._rate_limit(views, self.clock.now())
                if rate_lane
                else self._write(views, rate_checked=True)
            )
        except BaseException as exc:  # every waiter learns the write failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            if not isinstance(exc, Exception):
                raise
            return
        onward: dict[int, list[Waiter]] = defaultdict(list)
        for (view, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if outcome is True:  # allowed by its rate-limit lane: on to its record lane
                onward[keys.shard_of(view.article)].append((view, future))
            elif isinstance(outcome, StorageError):  # its shard's call failed
                future.set_exception(outcome)
            elif outcome is False or outcome == RATE_LIMITED:
                future.set_exception(RateLimited("too many views from this address; slow down", 60))
            else:
                future.set_result(outcome)
        for shard, waiters in onward.items():  # each flushes what came on together
            self._lane((False, shard)).extend(waiters)

    # --- calls -------------------------------------------------------------------------------
    async def _write(
        self, views: list[View], rate_checked: bool = False, *, rate_limit: bool = True
    ) -> list[Outcome]:
        """Rate-limit (unless ``rate_checked``), then record; a code per view (RATE_LIMITED
        for one the limit refused), or the error of its shard's failed call.

        On a single node record.lua checks the limit itself, so a flush is one call; on a
        cluster the limit's keys live in other slots than the articles', so it goes first."""
        now = self.clock.now()
        limited = rate_limit and self.settings.rate_limit_per_min > 0
        inline = limited and not self.storage.cluster
        allowed: Sequence[bool | StorageError] | None = None
        if limited and not inline and not rate_checked:
            allowed = await self._rate_limit(views, now)
        by_shard: dict[int, list[int]] = defaultdict(list)
        outcomes: list[Outcome] = [0] * len(views)
        for index, view in enumerate(views):
            flag = True if allowed is None else allowed[index]
            if flag is True:
                by_shard[keys.shard_of(view.article)].append(index)
            else:
                outcomes[index] = RATE_LIMITED if flag is False else flag
        groups = self.storage.per_call(list(by_shard.items()))
        calls = [
            record.call(
                [(shard, [views[i] for i in idx]) for shard, idx in group], now, self.limits, inline
            )
            for group in groups
        ]
        results = await self.storage.run_all(calls, return_exceptions=True)
        codes: list[int] = []
        for group, result in zip(groups, results, strict=True):
            order = [index for _, idx in group for index in idx]
            if isinstance(result, BaseException):
                if not isinstance(result, StorageError):
                    raise result
                for index in order:
                    outcomes[index] = result
                continue
            group_codes = record.decode(result)
            for index, code in zip(order, group_codes, strict=True):
                outcomes[index] = code
            codes += group_codes
        if self.metrics is not None:  # once per flush, not once per request
            self._count(codes)
        return outcomes

    async def _rate_limit(self, views: list[View], now: float) -> list[bool | StorageError]:
        """ratelimit.lua, a call per slot: True for each view allowed, False for one refused,
        or the error of its slot's failed call."""
        allowed: list[bool | StorageError] = [True] * len(views)
        by_shard: dict[int, list[int]] = defaultdict(list)
        for index, view in enumerate(views):
            if view.client is not None:
                by_shard[keys.shard_of_digest(view.client)].append(index)
        groups = self.storage.per_call(list(by_shard.items()))
        calls = [
            ratelimit.call(
                [(shard, [views[i].client for i in idx]) for shard, idx in group],  # type: ignore[misc]
                now,
                self.settings.rate_limit_per_min,
                [[_log_partial(views[i]) for i in idx] for _, idx in group],
                self.settings.event_log_max_entries,
            )
            for group in groups
        ]
        results = await self.storage.run_all(calls, return_exceptions=True)
        for group, result in zip(groups, results, strict=True):
            order = [index for _, idx in group for index in idx]
            if isinstance(result, BaseException):
                if not isinstance(result, StorageError):
                    raise result
                for index in order:
                    allowed[index] = result
            else:
                for index, flag in zip(order, ratelimit.decode(result), strict=True):
                    allowed[index] = flag
        return allowed

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
