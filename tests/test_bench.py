"""`make bench` itself: one short run of the throughput harness, end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .support import RedisProcess, require_tool

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_a_short_bench_run_prints_the_table_and_counts_every_acknowledged_view() -> None:
    """The rows of the POST side with one worker, one round of a second each: the table, the
    acknowledged-versus-stored check (the run fails without it) and the targets."""
    require_tool("wrk", "`apt-get install wrk` (.ci/run does)")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--workers",
            "1",
            "--rounds",
            "1",
            "--duration",
            "1",
            "--only",
            "POST",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for row in (
        "limit: raw ASGI, POST body",
        "naive: POST /v1/views",
        "viewcount: POST /v1/views",
        "viewcount: POST /v1/views/batch",
    ):
        assert f"| 1 | {row}" in out, row
    checks = [line for line in out.splitlines() if "acknowledged" in line and "stored" in line]
    assert len(checks) == 2 and all(line.strip().startswith("ok") for line in checks), checks
    assert "beacon / limit:" in out and "beacon / naive:" in out


def test_bench_rollup_runs_at_a_days_end_in_any_hour() -> None:
    """bench rollup's zone: 22 o'clock local at every UTC hour, so `today` holds 22 hours."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bench.seed import late_day_zone

    day = 1_796_083_200  # a UTC midnight
    for hour in range(24):
        now = day + hour * 3600 + 1234
        local = datetime.fromtimestamp(now, ZoneInfo(late_day_zone(now)))
        assert (local.hour, local.minute) == (22, 20), hour


def test_bench_seed_marks_the_hours_a_rollup_folds_as_a_running_service_leaves_them(
    single_server: RedisProcess,
) -> None:
    """bench rollup's seed writes the day and all-time samples already folded; it marks the
    hours a rollup folds so that the first rollup folds only what grew, as on a store the
    service has been running on (not the one-time whole pass of a store from before)."""
    import time

    import redis

    from bench.seed import mark_folded
    from service import keys
    from service.scripts import samples

    client = redis.Redis.from_url(single_server.url)
    client.flushdb()
    now = time.time()
    mark_folded(client, now)
    for shard in range(keys.SHARDS):
        for hour in samples.hours(now):
            key = keys.readers_folded(shard, hour)
            assert client.get(key) == b"1", key
            assert 0 < client.ttl(key) <= samples.mark_ttl(hour, now)
    client.close()
