"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
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
            "Duration of rollups run by this process",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.rollup_age = Gauge(
            "viewcount_rollup_age_seconds",
            "Age of the ranking snapshot this process serves",
            registry=r,
        )
