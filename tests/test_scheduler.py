"""Several scheduler processes against one Redis: one leader, one rollup per interval."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service import keys
from service.clock import SystemClock
from service.scheduler import RollupScheduler
from service.settings import Settings
from service.storage import connect

from .support import put_article

INTERVAL_S = 1.0


def start_scheduler(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VIEWCOUNT_REDIS_URL": settings.redis_url or "",
        "VIEWCOUNT_REDIS_CLUSTER": str(settings.redis_cluster).lower(),
        "VIEWCOUNT_ROLLUP_INTERVAL_S": str(INTERVAL_S),
        "VIEWCOUNT_LOG_JSON": "true",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def schedulers(settings: Settings) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [start_scheduler(settings), start_scheduler(settings)]
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


async def published(redis: Any) -> int:
    return int(await redis.hget(keys.CURRENT, "version") or 0)


async def leader_pid(redis: Any) -> int | None:
    token = await redis.get(keys.LEADER)
    return int(token.split("-")[-2]) if token else None


async def test_two_schedulers_roll_up_once_per_interval(
    client: Any, redis: Any, schedulers: list[subprocess.Popen[bytes]]
) -> None:
    await put_article(client, "a")
    await client.post("/v1/views", json={"article": "a"})
    deadline = time.monotonic() + 15
    while await published(redis) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    first, started = await published(redis), time.monotonic()
    await asyncio.sleep(6 * INTERVAL_S)
    rollups = await published(redis) - first
    elapsed = time.monotonic() - started
    # One per interval between them: two schedulers would make twice as many.
    assert elapsed / INTERVAL_S - 2 <= rollups <= elapsed / INTERVAL_S + 1, (rollups, elapsed)
    pids = {proc.pid for proc in schedulers}
    assert await leader_pid(redis) in pids


async def test_a_killed_leader_is_replaced_within_an_interval(
    client: Any, redis: Any, schedulers: list[subprocess.Popen[bytes]]
) -> None:
    await put_article(client, "a")
    deadline = time.monotonic() + 15
    while (
        await leader_pid(redis) is None or await published(redis) == 0
    ) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    leader = await leader_pid(redis)
    victim = next(proc for proc in schedulers if proc.pid == leader)
    survivor = next(proc for proc in schedulers if proc.pid != leader)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = time.monotonic()
    before = await published(redis)
    while await published(redis) == before and time.monotonic() - killed_at < 10:
        await asyncio.sleep(0.05)
    took = time.monotonic() - killed_at
    assert await published(redis) > before
    assert await leader_pid(redis) == survivor.pid
    # The lease (half an interval, at least 1 s) runs out, then the new leader rolls up at once.
    assert took <= max(INTERVAL_S / 2, 1.0) + INTERVAL_S + 1.0, took


async def test_overlapping_ticks_do_not_run_two_rollups(settings: Settings, redis: Any) -> None:
    store = connect(settings)
    scheduler = RollupScheduler(store, settings, SystemClock())
    try:
        assert await scheduler.lease.keep()
        await asyncio.gather(*(scheduler.tick() for _ in range(5)))
        assert scheduler.rollups == 1
        await scheduler.tick()
        assert scheduler.rollups == 2
    finally:
        await scheduler.lease.release()
        await store.close()


@pytest.mark.single_node
def test_the_scheduler_process_gives_way_on_the_cpu(settings: Settings) -> None:
    """`viewcount scheduler` lowers its CPU priority by VIEWCOUNT_SCHEDULER_NICE (10), so
    rollups on a shared machine do not slow the API and Redis."""
    expected = min(19, os.nice(0) + Settings().scheduler_nice)
    proc = start_scheduler(settings)
    try:
        deadline = time.monotonic() + 30
        nice = None
        while time.monotonic() < deadline and proc.poll() is None:
            stat = Path(f"/proc/{proc.pid}/stat").read_text()
            nice = int(stat.rsplit(")", 1)[1].split()[16])
            if nice == expected:
                break
            time.sleep(0.1)
        assert nice == expected
    finally:
        proc.terminate()
        proc.wait(10)
