"""Two API processes and two schedulers on one Redis (and on the cluster) act as one service."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import orjson

from service import keys
from service.settings import Settings

from .live import BEACON_HEADERS, HttpConnection, ServiceProcess, admin_put, total_views
from .test_faults import record_figure

INTERVAL_S = 2.0
LEASE_S = 3.0
ARTICLES = [f"replica-article-{n}" for n in range(32)]


@contextlib.contextmanager
def processes(settings: Settings) -> Iterator[tuple[list[ServiceProcess], list[ServiceProcess]]]:
    """Two `viewcount scheduler` and two `viewcount serve --no-scheduler` processes."""
    env: dict[str, Any] = {
        "redis_cluster": str(settings.redis_cluster).lower(),
        "rollup_interval_s": INTERVAL_S,
        # 3 s, not the default 1 s (half the interval): a scheduler the loaded test box holds
        # off for over a second would lose the lease and the follower would take a turn.
        "leader_lease_s": LEASE_S,
        "rate_limit_per_min": 10_000_000,
        "log_level": "info",
    }
    schedulers = [
        ServiceProcess(settings.redis_url or "", command="scheduler", **env) for _ in range(2)
    ]
    apis = [ServiceProcess(settings.redis_url or "", **env) for _ in range(2)]
    try:
        for proc in schedulers + apis:
            proc.start()
        yield apis, schedulers
    finally:
        for proc in apis + schedulers:
            proc.stop()


async def beacon(conn: HttpConnection, article: str, visitor: str) -> dict[str, Any]:
    body = orjson.dumps({"article": article, "visitor": visitor})
    reply = await conn.request("POST", "/v1/views", body, BEACON_HEADERS)
    assert reply.status == 202, reply.body
    answer: dict[str, Any] = reply.json()
    return answer


async def published(redis: Any) -> tuple[int, int]:
    """(published rollups, rollups run) so far, read between rollups: one that has taken its
    generation and not yet published it would count as run and not published."""
    for _ in range(200):
        current = await redis.hgetall(keys.CURRENT)
        generation = int(await redis.get(keys.GENERATION) or 0)
        if int(current.get("generation", 0)) == generation:
            break
        await asyncio.sleep(0.02)
    return int(current.get("version", 0)), generation


async def leader_pid(redis: Any) -> int | None:
    token = await redis.get(keys.LEADER)
    return int(token.split("-")[-2]) if token else None


def rollups_logged(proc: ServiceProcess) -> int:
    return len(re.findall(r"viewcount\.rollup: rollup", proc.log(100_000)))


def unpublished_logged(schedulers: list[ServiceProcess]) -> int:
    """Rollups that took a generation and did not publish it: fenced off (the leader stalled
    past its lease and the other scheduler took over) or failed."""
    pattern = r"rollup fenced off|rollup failed"
    return sum(len(re.findall(pattern, proc.log(100_000))) for proc in schedulers)


async def test_two_apis_and_two_schedulers_behave_as_one(settings: Settings, redis: Any) -> None:
    with processes(settings) as (apis, schedulers):
        # Closed however the test ends: a socket left open fails a later test's warnings.
        async with HttpConnection(apis[0].port) as first, HttpConnection(apis[1].port) as second:
            for article in ARTICLES:
                await admin_put(first, article)
            # Every view exactly once, whichever replica takes it.
            answers = [
                await beacon((first, second)[n % 2], ARTICLES[n % 32], f"reader-{n}")
                for n in range(400)
            ]
            assert all(a == {"counted": True} for a in answers)
            assert await beacon(first, ARTICLES[0], "twice") == {"counted": True}
            assert await beacon(second, ARTICLES[0], "twice") == {
                "counted": False,
                "reason": "duplicate",
            }  # dedupe is shared through Redis
            assert await total_views(first, ARTICLES) == await total_views(second, ARTICLES) == 401

            # One rollup per interval between the two schedulers, all from the leader.
            await wait_for(lambda: published(redis), lambda p: p[0] > 0, 20)
            (runs_before, gen_before), started = await published(redis), time.monotonic()
            unpublished_before = unpublished_logged(schedulers)
            await asyncio.sleep(3 * INTERVAL_S)
            runs, generations = await published(redis)
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.2)  # a fenced rollup's warning is written as it returns
            unpublished = unpublished_logged(schedulers) - unpublished_before
            # Every generation taken was published or said why not: none ran unaccounted for,
            # and (below) no more were published than one an interval.
            assert generations - gen_before == runs - runs_before + unpublished, [
                p.log(4000) for p in schedulers
            ]
            assert unpublished <= 1, [p.log(4000) for p in schedulers]
            assert elapsed / INTERVAL_S - 1.5 <= runs - runs_before <= elapsed / INTERVAL_S + 1
            logged = sorted(rollups_logged(proc) for proc in schedulers)
            assert logged[0] == 0 and logged[1] > 0, (logged, [p.log(3000) for p in schedulers])

            # The leader dies: the other scheduler takes over.
            leader = await leader_pid(redis)
            victim = next(p for p in schedulers if p.process and p.process.pid == leader)
            survivor = next(p for p in schedulers if p is not victim)
            victim.kill()
            killed_at, before = time.monotonic(), (await published(redis))[0]
            await wait_for(lambda: published(redis), lambda p: p[0] > before, 6 * INTERVAL_S)
            took = time.monotonic() - killed_at
            assert survivor.process is not None
            assert await leader_pid(redis) == survivor.process.pid
            rankings = await first.request("GET", "/v1/popular?window=1h&limit=3")
            assert len(rankings.json()["items"]) == 3
    record_figure(
        f"scheduler_takeover_s_{'cluster' if settings.redis_cluster else 'single'}", round(took, 2)
    )


async def wait_for(read: Any, done: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done(await read()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
