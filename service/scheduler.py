"""The rollup schedule: APScheduler runs it, a Redis lease makes one scheduler the leader,
which also reads VIEWCOUNT_FEEDS into the catalog every VIEWCOUNT_FEED_INTERVAL_S."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from . import snapshot
from .clock import Clock
from .discovery.errors import DiscoveryError
from .eventlog.drain import Drain
from .metrics import Metrics, shared
from .rollup import Rollup
from .scripts import lease, release
from .settings import Settings
from .storage import Storage, StorageError

if TYPE_CHECKING:
    from .discovery.feedsync import FeedSync

log = logging.getLogger("viewcount.scheduler")


class Lease:
    """The leader lease in Redis: renewed while held, fenced by an epoch in its token."""

    def __init__(self, storage: Storage, lease_s: float) -> None:
        self.storage = storage
        self.lease_ms = int(lease_s * 1000)
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.token = ""

    async def keep(self) -> bool:
        """Take the lease or renew it; True while this scheduler leads."""
        try:
            reply = await self.storage.run(lease.call(self.owner, self.token, self.lease_ms))
            self.token = lease.decode(reply)
        except StorageError as exc:
            log.warning("lease renewal failed", extra={"error": str(exc)})
            self.token = ""
        return bool(self.token)

    async def release(self) -> None:
        if self.token:
            await self.storage.run(release.call(self.token))
            self.token = ""


class RollupScheduler:
    """Runs a rollup every interval while this process holds the lease.

    A heartbeat job keeps (or takes) the lease every third of its length; the rollup job runs
    every interval, coalesced, one instance at a time. A new leader rolls up at once when the
    last snapshot is older than an interval, so a dead leader costs at most about one interval.
    Each rollup's duration goes to ``metrics`` when given (see run_forever).
    """

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.lease = Lease(storage, settings.lease_s)
        self.rollup = Rollup(storage, settings, clock, helped=True)
        self.scheduler = AsyncIOScheduler()
        self.rollups = 0
        self.drain = Drain(storage, settings, clock)
        self.drains = 0
        self._lock = asyncio.Lock()
        self._catch_up: asyncio.Task[None] | None = None
        self._feeds_lock = asyncio.Lock()
        self._feeds_now: asyncio.Task[None] | None = None
        self.feeds: FeedSync | None = None
        self.feed_passes = 0

    def start(self) -> None:
        interval = self.settings.rollup_interval_s
        self.scheduler.add_job(
            self.heartbeat,
            "interval",
            seconds=self.settings.lease_s / 3,
            id="lease",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=interval,
            id="rollup",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        if self.settings.event_log_max_entries > 0:
            # A job of its own: a slow or failing archive never delays a rollup.
            self.scheduler.add_job(
                self.drain_log,
                "interval",
                seconds=interval,
                id="eventlog",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        if self.settings.feeds:
            # Here, not at the top: httpx and feedparser only where feeds are configured.
            from .discovery.feedsync import FeedSync
            from .discovery.fetch import Fetcher

            self.feeds = FeedSync(self.storage, self.settings, Fetcher(self.settings), self.metrics)
            self.scheduler.add_job(
                self.read_feeds,
                "interval",
                seconds=self.settings.feed_interval_s,
                id="feeds",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        self.scheduler.start()

    async def drain_log(self) -> None:
        """Archive the event log, if this process leads. A failed write loses nothing: the
        streams keep the events (up to their bound) and the next run writes them."""
        if not self.lease.token:
            return
        try:
            result = await self.drain.run()
        except StorageError as exc:
            log.warning("event log drain failed: Redis", extra={"error": str(exc)})
        except Exception as exc:  # an archive that cannot be written, whatever its kind
            log.error(
                "event log drain failed: the archive cannot be written",
                extra={"error": repr(exc), "archive": self.settings.event_log_url},
            )
            if self.metrics is not None:
                self.metrics.event_log_failures.inc()
        else:
            self.drains += 1
            if self.metrics is not None:
                self.metrics.event_log_archived.inc(result.events)

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        if self._feeds_now is not None:
            self._feeds_now.cancel()
        async with self._lock:
            with contextlib.suppress(StorageError):
                await self.lease.release()
        await asyncio.to_thread(self.rollup.close)  # its helper processes, if any
        if self.feeds is not None:
            await self.feeds.fetcher.aclose()

    async def heartbeat(self) -> None:
        was_leader = bool(self.lease.token)
        if await self.lease.keep() and not was_leader:
            log.info("became leader", extra={"token": self.lease.token})
            try:
                overdue = await self._overdue()
            except StorageError as exc:
                log.warning("rollup check failed", extra={"error": str(exc)})
                return
            if overdue:
                # Its own task: a rollup run inside this job would hold off the next
                # heartbeats (one instance at a time), and a rollup longer than the lease
                # would then lose the lease it runs under and be fenced off, every time.
                self._catch_up = asyncio.create_task(self.tick())
            if self.feeds is not None:  # the old leader's pass may have died with it
                self._feeds_now = asyncio.create_task(self.read_feeds())

    async def tick(self) -> None:
        """One scheduled rollup, if this process leads and no rollup is running here."""
        if not self.lease.token or self._lock.locked():
            return
        async with self._lock:
            try:
                result = await self.rollup.run(self.lease.token)
            except StorageError as exc:
                log.warning("rollup failed", extra={"error": str(exc)})
                return
            if self.metrics is not None:
                self.metrics.rollup_duration.observe(result.duration_ms / 1000)
            if result.published:
                self.rollups += 1
            else:
                log.warning("rollup fenced off: another scheduler leads now")
                self.lease.token = ""

    async def read_feeds(self) -> None:
        """One pass over the feeds, if this process leads and no pass is running here."""
        if self.feeds is None or not self.lease.token or self._feeds_lock.locked():
            return
        async with self._feeds_lock:
            try:
                await self.feeds.run()
            except (StorageError, DiscoveryError) as exc:
                log.warning("feeds not read", extra={"error": str(exc)})
                return
            self.feed_passes += 1

    async def _overdue(self) -> bool:
        as_of = (await snapshot.current(self.storage)).as_of
        return as_of is None or self.clock.now() - as_of >= self.settings.rollup_interval_s * 0.9


def yield_cpu(settings: Settings) -> None:
    """Lower this process's CPU priority by VIEWCOUNT_SCHEDULER_NICE: a scheduler process
    sharing cores with the API and Redis should not slow the beacons it rolls up."""
    if settings.scheduler_nice > 0:
        os.nice(settings.scheduler_nice)


async def run_forever(storage: Storage, settings: Settings, clock: Clock) -> None:
    """`viewcount scheduler`: schedule rollups until cancelled.

    Started by `viewcount serve`, it records rollup durations in the serve's shared metrics
    directory, which the API's /metrics exports; run on its own it has no endpoint to export
    them from, so it records none (service/metrics.py)."""
    scheduler = RollupScheduler(storage, settings, clock, Metrics() if shared() else None)
    await scheduler.rollup.start_helpers()
    scheduler.start()
    log.info(
        "scheduler started",
        extra={"interval_s": settings.rollup_interval_s, "lease_s": settings.lease_s},
    )
    try:
        await asyncio.Event().wait()  # until cancelled
    finally:
        await scheduler.stop()
