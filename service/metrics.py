"""Prometheus metrics: one registry per app, or one set summed over every process of a serve.

prometheus_client picks where values live when it is first imported: in memory, or in files
under PROMETHEUS_MULTIPROC_DIR (multiprocess mode). `viewcount serve` sets that directory (a
fresh private one, removed at exit) before its workers and its scheduler start, so each of
them writes its own file there and /metrics, whichever worker answers, sums them all: the
scheduler's rollup durations included. Without it (tests build many apps in one process) each
Metrics keeps its own registry. A scheduler run on its own (`viewcount scheduler`, e.g. its own
container) has no HTTP endpoint and registers no metrics; there the API's
viewcount_rollup_age_seconds tells whether rollups happen. Under serve, one Metrics per process.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector


def shared() -> bool:
    """Whether prometheus_client keeps this process's values in PROMETHEUS_MULTIPROC_DIR."""
    return values.ValueClass is not values.MutexValue


class RollupAge(Collector):
    """The age of the snapshot the answering process serves, computed at scrape time."""

    def __init__(self) -> None:
        self.age_s: float | None = None  # None: no snapshot yet, no sample

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "viewcount_rollup_age_seconds", "Age of the ranking snapshot this process serves"
        )
        if self.age_s is not None:
            family.add_metric([], self.age_s)
        yield family


class EventLogBacklog(Collector):
    """What the event-log streams hold in Redis, read from Redis when scraped: one value for
    the whole service, whichever process answers."""

    def __init__(self) -> None:
        self.state: tuple[int, int] | None = None  # (held, dropped); None: not read

    def collect(self) -> Iterator[Metric]:
        held = GaugeMetricFamily(
            "viewcount_event_log_backlog_entries",
            "Event-log stream entries in Redis not yet archived (one entry: one group "
            "commit's decisions for one shard)",
        )
        dropped = GaugeMetricFamily(
            "viewcount_event_log_dropped_entries",
            "Event-log entries dropped unarchived because a stream reached "
            "VIEWCOUNT_EVENT_LOG_MAX_ENTRIES (the counts kept them)",
        )
        if self.state is not None:
            held.add_metric([], self.state[0])
            dropped.add_metric([], self.state[1])
        yield held
        yield dropped


class HeldViews(Collector):
    """The views held for articles not in the catalog, read from Redis at scrape time (every
    process sees the same figure, so it is not summed over processes)."""

    def __init__(self) -> None:
        self.views: int | None = None  # None: discovery is off, or Redis did not answer

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "viewcount_discovery_held_views",
            "Views held for articles not in the catalog while their pages are read",
        )
        if self.views is not None:
            family.add_metric([], self.views)
        yield family


class Metrics:
    def __init__(self) -> None:
        multiprocess = shared()
        self.registry = CollectorRegistry(auto_describe=not multiprocess)
        # Under serve the values go to the shared files, exported by MultiProcessCollector.
        r = None if multiprocess else self.registry
        self.views = Counter("viewcount_views_counted", "Views counted", registry=r)
        self.duplicates = Counter(
            "viewcount_views_duplicate",
            "Views dropped as duplicates (reader or event id)",
            registry=r,
        )
        self.bots = Counter("viewcount_views_bot", "Views from bots, counted apart", registry=r)
        self.automated = Counter(
            "viewcount_views_automated",
            "Views from automated clients (over-long User-Agents), counted apart",
            registry=r,
        )
        self.rejected = Counter(
            "viewcount_views_rejected", "Views refused, by problem code", ["code"], registry=r
        )
        self.redis_errors = Counter(
            "viewcount_redis_errors",
            "Requests that failed because Redis did not answer",
            registry=r,
        )
        self.rollup_duration = Histogram(
            "viewcount_rollup_duration_seconds",
            "Duration of rollups (the scheduler's and those asked for by POST /v1/rollup)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        # Log shippers' and `viewcount import`'s events, apart from beacons (which the
        # counters above sum with them).
        self.batch_events = Counter(
            "viewcount_batch_events",
            "Events posted to POST /v1/views/batch, by outcome: counted, duplicate, bot, "
            "automated, rejected",
            ["outcome"],
            registry=r,
        )
        # Catalog discovery's feeds (service/discovery/feedsync.py), read by the scheduler.
        self.feed_reads = Counter(
            "viewcount_feed_reads",
            "Feed and sitemap fetches by outcome: read, not_modified (304), or why one failed",
            ["outcome"],
            registry=r,
        )
        self.feed_articles = Counter(
            "viewcount_feed_articles",
            "Articles feeds listed, by what was done: created, updated, filled, unchanged, "
            "untitled (a sitemap URL not in the catalog) or skipped",
            ["change"],
            registry=r,
        )
        # Their usual labels exist from the start: a service without feeds still exports 0s,
        # and an alert on a rate has a series before the first read.
        for outcome in ("counted", "duplicate", "bot", "automated", "rejected"):
            self.batch_events.labels(outcome)
        for outcome in ("read", "not_modified"):
            self.feed_reads.labels(outcome)
        for change in ("created", "updated", "filled", "unchanged"):
            self.feed_articles.labels(change)
        self.pending = Counter(
            "viewcount_views_pending",
            "Views of articles not in the catalog held (answered pending) while their page is read",
            registry=r,
        )
        self.fetches = Counter(
            "viewcount_discovery_fetches",
            "Article pages fetched, by outcome (registered, updated, or why nothing was read)",
            ["outcome"],
            registry=r,
        )
        for outcome in ("registered", "updated"):  # exported at 0 before the first fetch
            self.fetches.labels(outcome)
        self.fetches_in_flight = Gauge(
            "viewcount_discovery_fetches_in_flight",
            "Article pages being fetched now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.event_log_archived = Counter(
            "viewcount_event_log_archived",
            "Events the scheduler's drain wrote to the event-log archive",
            registry=r,
        )
        self.event_log_failures = Counter(
            "viewcount_event_log_drain_failures",
            "Drains that could not write the event-log archive (the events wait in Redis)",
            registry=r,
        )
        if multiprocess:
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        self.rollup_age = RollupAge()
        self.registry.register(self.rollup_age)
        self.held = HeldViews()
        self.registry.register(self.held)
        self.event_log = EventLogBacklog()
        self.registry.register(self.event_log)

    def export(
        self,
        rollup_age_s: float | None = None,
        held_views: int | None = None,
        *,
        event_log: tuple[int, int] | None = None,
    ) -> bytes:
        """The Prometheus text of every metric; ``rollup_age_s`` is this process's snapshot age,
        ``held_views`` the views discovery holds (None: no sample), ``event_log`` the log
        streams' (entries held, entries dropped) as read at scrape time."""
        self.rollup_age.age_s = rollup_age_s
        self.held.views = held_views
        self.event_log.state = event_log
        return bytes(generate_latest(self.registry))
