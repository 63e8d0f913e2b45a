"""Metrics in one process: each app its own registry, every metric registered exported."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from service.metrics import Metrics, shared


def exported(
    metrics: Metrics, rollup_age_s: float | None = None, held_views: int | None = None
) -> dict[str, float]:
    text = metrics.export(rollup_age_s, held_views).decode()
    rows = (line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    return {name: float(value) for name, value in rows}


def test_apps_in_one_process_count_apart() -> None:
    assert not shared()  # no PROMETHEUS_MULTIPROC_DIR here: in-memory values
    first, second = Metrics(), Metrics()
    first.views.inc(3)
    second.views.inc()
    first.rejected.labels("unknown_article").inc()
    assert exported(first)["viewcount_views_counted_total"] == 3
    assert exported(second)["viewcount_views_counted_total"] == 1
    assert 'viewcount_views_rejected_total{code="unknown_article"}' not in exported(second)


def test_every_metric_registered_is_exported() -> None:
    metrics = Metrics()
    instruments = [v for v in vars(metrics).values() if isinstance(v, Counter | Gauge | Histogram)]
    text = metrics.export(12.5).decode()
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    declared = {name.removesuffix("_total") for name in types if not name.endswith("_created")}
    at_scrape = {
        "viewcount_rollup_age_seconds",
        "viewcount_discovery_held_views",
        "viewcount_event_log_backlog_entries",
        "viewcount_event_log_dropped_entries",
    }
    assert {i._name for i in instruments} | at_scrape == declared
    # The API's and rollups' 7, batches' 1, the feeds' 2, discovery's pending views 3, the
    # event log's drain 2.
    assert len(instruments) == 15


def test_the_rollup_age_is_the_one_given_at_scrape_time() -> None:
    metrics = Metrics()
    assert exported(metrics, 12.5)["viewcount_rollup_age_seconds"] == 12.5
    assert "viewcount_rollup_age_seconds" not in exported(metrics)  # no snapshot: no sample


def test_the_held_views_are_the_figure_given_at_scrape_time() -> None:
    metrics = Metrics()
    assert exported(metrics, held_views=4)["viewcount_discovery_held_views"] == 4
    assert "viewcount_discovery_held_views" not in exported(metrics)  # discovery off: no sample
