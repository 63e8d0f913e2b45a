"""Faults with real processes: exact counts under load, Redis killed, stalled or slow."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from service import keys
from service.clock import SystemClock, rfc3339
from service.commit import Committer
from service.ingest import View
from service.scripts import put_article
from service.settings import Settings
from service.storage import connect

from .live import (
    Audit,
    HttpConnection,
    LoadResult,
    ServiceProcess,
    admin_put,
    audit,
    beacon_load,
    marker_key,
    service,
    total_views,
)
from .support import RedisProcess, make_settings

ARTICLES = [f"load-article-{n}" for n in range(40)]  # spread over every shard
REDIS_TIMEOUT_S = 1.0
FIGURES = Path(os.environ.get("VIEWCOUNT_FIGURES", "test-output/reliability.json"))


def record_figure(name: str, value: object) -> None:
    """Keep a measured figure for the README (test-output/reliability.json)."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    figures[name] = value
    FIGURES.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"\n{name}: {value}")


async def catalog(port: int) -> HttpConnection:
    conn = HttpConnection(port)
    for article in ARTICLES:
        await admin_put(conn, article)
    return conn


async def audit_at(redis_url: str, result: LoadResult) -> Audit:
    """Every view of ``result`` looked up in the Redis at ``redis_url`` (one node)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return await audit(client, result)
    finally:
        await client.aclose()


async def exact_count(redis_url: str, views: int, connections: int = 64) -> LoadResult:
    with service(redis_url, rate_limit_per_min=10_000_000) as svc:
        conn = await catalog(svc.port)
        before = await total_views(conn, ARTICLES)
        result = await beacon_load(svc.port, ARTICLES, views, connections=connections)
        after = await total_views(conn, ARTICLES)
        await conn.close()
    assert result.failures == {} and dict(result.statuses) == {202: views}, result
    assert result.acked == views
    assert after - before == views
    stored = await audit_at(redis_url, result)
    assert stored.lost == [] and stored.stored == views, stored.lost[:5]
    return result


async def test_exact_count_under_load(redis_server: RedisProcess, redis: aioredis.Redis) -> None:
    """20,000 new readers from 64 connections: the count rises by exactly 20,000."""
    result = await exact_count(redis_server.url, 20_000)
    record_figure("load_20k_views_per_s", round(result.rate_per_s))


@pytest.mark.soak
async def test_exact_count_under_long_load(
    redis_server: RedisProcess, redis: aioredis.Redis
) -> None:
    result = await exact_count(redis_server.url, 200_000)
    record_figure("soak_200k_views_per_s", round(result.rate_per_s))


# --- Redis killed under load ----------------------------------------------------------------
async def probe_outage(port: int) -> None:
    """While Redis is down: beacons and readiness answer 503 storage_unavailable, promptly."""
    probe = HttpConnection(port, timeout_s=5 * REDIS_TIMEOUT_S)
    ready = await probe.request("GET", "/readyz")
    assert ready.status == 503 and ready.json()["code"] == "storage_unavailable"
    beacon = await probe.request(
        "POST", "/v1/views", b'{"article":"load-article-0"}', {"Content-Type": "application/json"}
    )
    assert beacon.status == 503, beacon.body
    assert beacon.json()["code"] == "storage_unavailable"
    assert int(beacon.headers["retry-after"]) > 0
    assert (await probe.request("GET", "/healthz")).status == 200
    await probe.close()


async def wait_ready(port: int, deadline_s: float = 30.0) -> float:
    """Seconds until /readyz answers 200 again, with the same service process."""
    started = time.monotonic()
    probe = HttpConnection(port, timeout_s=5 * REDIS_TIMEOUT_S)
    while (await probe.request("GET", "/readyz")).status != 200:
        assert time.monotonic() - started < deadline_s, "the service did not recover"
        await asyncio.sleep(0.1)
    await probe.close()
    return time.monotonic() - started


async def kill_redis_under_load(
    fsync: str, kills: int = 1, down_s: float = 1.5, up_s: float = 2.0
) -> tuple[LoadResult, int, Audit]:
    """SIGKILL Redis ``kills`` times under load, restart it on the same port and data; the
    load result, the views counted at the end, and what Redis holds of each view."""
    args = ("--appendonly", "yes", "--appendfsync", fsync)
    first = RedisProcess(*args).start()
    redis_server, recoveries = first, []
    try:
        with service(
            first.url,
            rate_limit_per_min=10_000_000,
            redis_timeout_s=REDIS_TIMEOUT_S,
            retry_after_s=2,
        ) as svc:
            conn = await catalog(svc.port)
            stop = asyncio.Event()
            result = LoadResult()
            load = asyncio.create_task(
                beacon_load(
                    svc.port,
                    ARTICLES,
                    None,
                    stop=stop,
                    result=result,
                    timeout_s=5 * REDIS_TIMEOUT_S,
                )
            )
            for _ in range(kills):
                await asyncio.sleep(up_s)
                redis_server.kill()
                await asyncio.sleep(0.3)
                await probe_outage(svc.port)
                await asyncio.sleep(down_s)
                redis_server = RedisProcess(*args, port=first.port, directory=first.dir)
                await asyncio.to_thread(redis_server.start)
                recoveries.append(await wait_ready(svc.port))
                acked, back = result.acked, time.monotonic()
                while result.acked == acked:  # beacons are written again
                    assert time.monotonic() - back < 30, "no beacon was written after restart"
                    await asyncio.sleep(0.05)
            await asyncio.sleep(up_s)
            stop.set()
            await load
            counted = await total_views(conn, ARTICLES)
            await conn.close()
            # Connections to the dead server were dropped, not kept alongside the new ones.
            clients = await connected_clients(redis_server.url)
            pool_size = Settings.model_fields["redis_max_connections"].default
            assert clients <= pool_size + DEDICATED_CONNECTIONS, clients
        stored = await audit_at(redis_server.url, result)
    finally:
        redis_server.kill()
        first.stop()
    assert result.failures == {}, result.failures  # every request got an HTTP answer in time
    assert set(result.statuses) <= {202, 503}, result.statuses
    assert set(result.codes) <= {"storage_unavailable"}, result.codes
    assert result.missing_retry_after == 0
    assert counted <= result.sent
    # A view is counted exactly when its marker is stored (one script writes both), whatever
    # the answer was: nothing counted twice, nothing counted without its view.
    assert counted == stored.stored, (counted, stored.stored)
    record_figure(f"kill_{fsync}_recovery_s", round(max(recoveries), 2))
    record_figure(f"kill_{fsync}_max_latency_s", round(result.max_latency_s, 2))
    return result, counted, stored


async def test_redis_killed_loses_no_acknowledged_view_with_fsync_always() -> None:
    """Every view answered counted is in Redis after the restart, checked by its event id (a
    total would let a lost view hide behind a 503 view that was counted anyway)."""
    result, counted, stored = await kill_redis_under_load("always")
    assert result.statuses[503] > 0  # the outage was seen by the load
    assert stored.lost == [], (stored.lost_count, stored.lost[:5])
    assert result.acked <= counted <= result.sent
    record_figure(
        "kill_always",
        {
            "sent": result.sent,
            "acked": result.acked,
            "counted": counted,
            "lost": stored.lost_count,
            "answered_503": result.statuses[503],
            "unacked_but_counted": stored.stored_unacked,
        },
    )


async def test_redis_killed_loses_at_most_a_second_with_fsync_everysec() -> None:
    result, counted, stored = await kill_redis_under_load("everysec")
    per_s = result.acked / max(1e-9, result.ended - result.started)
    # AOF everysec: about one second at most, counted view by view.
    assert stored.lost_count <= per_s * 1.5, (stored.lost_count, per_s)
    record_figure(
        "kill_everysec",
        {
            "sent": result.sent,
            "acked": result.acked,
            "counted": counted,
            "lost": stored.lost_count,
            "acked_per_s": round(per_s),
            "unacked_but_counted": stored.stored_unacked,
        },
    )


@pytest.mark.soak
async def test_redis_killed_repeatedly_loses_nothing() -> None:
    result, counted, stored = await kill_redis_under_load("always", kills=6, down_s=3.0, up_s=5.0)
    assert stored.lost == [], (stored.lost_count, stored.lost[:5])
    assert result.acked <= counted <= result.sent
    record_figure(
        "soak_kills_always",
        {
            "kills": 6,
            "sent": result.sent,
            "acked": result.acked,
            "counted": counted,
            "lost": stored.lost_count,
        },
    )


# --- the scheduler killed mid-rollup --------------------------------------------------------
CATALOG_SIZE = 30_000


async def big_catalog(url: str, size: int) -> None:
    """``size`` articles with a view each, and a clear leader, written straight to Redis."""
    settings = make_settings(url)
    store = connect(settings)
    try:
        calls = [
            put_article.call(
                a, f"Title of {a}", f"https://news.example.com/{a}", f"t{n % 40}", None, 0
            )
            for n, a in ((n, f"bulk-{n}") for n in range(size))
        ]
        for start in range(0, size, 2000):
            await store.run_all(calls[start : start + 2000])
        now = time.time()
        views = [View(f"bulk-{n}", now - n % 1800) for n in range(size)]
        views += [View("bulk-7", now)] * 50
        await Committer(store, settings, SystemClock()).submit_many(views)
    finally:
        await store.close()


async def commands_in_order(redis_url: str, wanted: list[tuple[str, str]]) -> None:
    """Return once clients have sent each (command, text in it) of ``wanted`` in that order
    (watched with MONITOR)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        async with client.monitor() as monitor:
            for name, text in wanted:
                while True:
                    command = (await monitor.next_command())["command"]
                    if command.split(" ", 1)[0].upper() == name and text in command:
                        break
    finally:
        await client.aclose()


async def current_ranking(conn: HttpConnection) -> tuple[str | None, list[str]]:
    reply = await conn.request("GET", "/v1/popular?window=24h&limit=3")
    assert reply.status == 200, reply.body
    body = reply.json()
    return body["as_of"], [item["article"] for item in body["items"]]


async def until_new_ranking(
    conn: HttpConnection, old_as_of: str | None, deadline_s: float = 40.0
) -> tuple[str | None, list[str]]:
    started = time.monotonic()
    while (ranking := await current_ranking(conn))[0] == old_as_of:
        assert time.monotonic() - started < deadline_s, "no new rollup was published"
        await asyncio.sleep(0.1)
    return ranking


async def test_scheduler_killed_mid_rollup(
    redis_server: RedisProcess, redis: aioredis.Redis
) -> None:
    """SIGKILL during a rollup: readers keep the last snapshot, the next leader publishes."""
    await big_catalog(redis_server.url, CATALOG_SIZE)
    interval = {"rollup_interval_s": 3, "snapshot_poll_s": 0.2}
    first = ServiceProcess(redis_server.url, command="scheduler", **interval).start()
    second = ServiceProcess(redis_server.url, command="scheduler", **interval)
    try:
        with service(redis_server.url, **interval) as svc:
            async with HttpConnection(svc.port) as conn:
                as_of, top = await until_new_ranking(conn, None)
                assert top[0] == "bulk-7"
                # The first scan of a rollup that began after the last one numbered its snapshot:
                # the kill lands in the middle of that rollup's reads.
                await asyncio.wait_for(
                    commands_in_order(
                        redis_server.url, [("INCR", keys.GENERATION), ("ZRANGE", ":win:")]
                    ),
                    60,
                )
                first.kill()
                current = await redis.hgetall(keys.CURRENT)
                generation = int(current["generation"])
                # Nothing half-written is current: the killed rollup's generation (and one a
                # rollup that failed or was fenced off on a loaded box left) is above it, never
                # published, and expires by itself; the current one is whole.
                assert int(await redis.get(keys.GENERATION)) >= generation
                held = await redis.hgetall(keys.snapshot(generation))
                assert held.get("_format") and "bulk-7" in held.get("24h|", "")
                as_of = rfc3339(float(current["as_of"]))
                waited = time.monotonic()
                while (await current_ranking(conn))[0] != as_of:  # readers poll for snapshots
                    assert time.monotonic() - waited < 10, "readers never saw the last snapshot"
                    await asyncio.sleep(0.1)
                for _ in range(10):  # and keep it while no scheduler runs
                    assert await current_ranking(conn) == (as_of, top)
                    await asyncio.sleep(0.1)
                second.start()  # takes the lease once the dead leader's expires
                new_as_of, new_top = await until_new_ranking(conn, as_of)
                assert new_as_of is not None and as_of is not None and new_as_of > as_of
                assert new_top[0] == "bulk-7"
                current = await redis.hgetall(keys.CURRENT)
                assert int(current["generation"]) > generation
                assert first.process is not None
                assert f"-{first.process.pid}-" not in (await redis.get(keys.LEADER) or "")
    finally:
        first.stop()
        second.stop()


# --- a stalled Redis ------------------------------------------------------------------------
STALL_S = 3.0
MAX_CONNECTIONS = 16
DEDICATED_CONNECTIONS = 2  # outside the pool, e.g. the pipelined beacon connection


async def stall(server: RedisProcess, how: str) -> asyncio.Task[None]:
    """Freeze Redis for STALL_S: a DEBUG SLEEP from another client, or SIGSTOP/SIGCONT."""
    assert server.process is not None
    if how == "sigstop":
        pid = server.process.pid
        os.kill(pid, signal.SIGSTOP)

        async def resume() -> None:
            await asyncio.sleep(STALL_S)
            os.kill(pid, signal.SIGCONT)

        return asyncio.create_task(resume())
    sleeper = aioredis.Redis.from_url(server.url)

    async def sleep() -> None:
        try:
            await sleeper.execute_command("DEBUG", "SLEEP", STALL_S)
        finally:
            await sleeper.aclose()

    task = asyncio.create_task(sleep())
    await asyncio.sleep(0.1)  # the server is asleep from here on
    return task


@pytest.mark.parametrize("how", ["debug-sleep", "sigstop"])
async def test_stalled_redis_times_out_cleanly(how: str) -> None:
    server = RedisProcess("--enable-debug-command", "yes").start()
    try:
        with service(
            server.url,
            rate_limit_per_min=10_000_000,
            redis_timeout_s=REDIS_TIMEOUT_S,
            redis_max_connections=MAX_CONNECTIONS,
        ) as svc:
            conn = await catalog(svc.port)
            warm = await beacon_load(svc.port, ARTICLES, 2000, prefix="warm")
            assert warm.acked == 2000
            resumed = await stall(server, how)
            # No answer within the Redis timeout (plus slack for a busy box) is a failure.
            stalled = asyncio.create_task(
                beacon_load(
                    svc.port, ARTICLES, 256, prefix="stall", timeout_s=REDIS_TIMEOUT_S + 1.5
                )
            )
            await asyncio.sleep(0.05)
            health = HttpConnection(svc.port)
            for _ in range(5):  # the event loop answers while beacons wait on Redis
                assert (await health.request("GET", "/healthz")).status == 200
            assert not stalled.done()
            during = await stalled
            assert during.failures == {} and during.missing_retry_after == 0, during
            assert set(during.statuses) <= {202, 503} and during.statuses[503] > 0, during
            assert set(during.codes) == {"storage_unavailable"}
            await resumed
            await wait_ready(svc.port)
            before = await total_views(conn, ARTICLES)
            after_stall = await beacon_load(svc.port, ARTICLES, 2000, prefix="after")
            assert after_stall.acked == 2000  # pooled connections are sound again
            counted = await total_views(conn, ARTICLES)
            assert counted == before + 2000
            await health.close()
            await conn.close()
            clients = await connected_clients(server.url)
            # Each view answered counted, before, during and after the stall, is stored; and
            # a view is counted exactly when its marker is (the 503s that committed anyway).
            audits = [await audit_at(server.url, r) for r in (warm, during, after_stall)]
            assert [a.lost for a in audits] == [[], [], []], [a.lost_count for a in audits]
            assert counted == sum(a.stored for a in audits), (counted, audits)
            record_figure(
                f"stall_{how}",
                {
                    "answered_503": during.statuses[503],
                    "answered_503_but_counted": audits[1].stored_unacked,
                    "max_latency_s": round(during.max_latency_s, 2),
                    "redis_clients_after": clients,
                },
            )
            assert clients <= MAX_CONNECTIONS + DEDICATED_CONNECTIONS  # the pool did not leak
    finally:
        server.stop()


async def connected_clients(url: str) -> int:
    """Clients connected to Redis, not counting the one asking."""
    client = aioredis.Redis.from_url(url)
    try:
        return len(await client.client_list()) - 1
    finally:
        await client.aclose()


async def test_the_audit_sees_a_lost_view(
    redis_server: RedisProcess, redis: aioredis.Redis
) -> None:
    """The per-view check finds an acknowledged view whose write is gone, and counts a view
    that was not acknowledged yet stored as such (what a total alone would hide)."""
    with service(redis_server.url, rate_limit_per_min=10_000_000) as svc:
        conn = await catalog(svc.port)
        result = await beacon_load(svc.port, ARTICLES, 200, connections=8)
        await conn.close()
    assert result.acked == 200
    assert (await audit_at(redis_server.url, result)).lost == []
    gone, unacked = result.acked_views[17], result.acked_views[42]
    await redis.delete(marker_key(gone, make_settings(redis_server.url).secret_key))
    result.acked_views.remove(unacked)  # as if it had been answered 503
    result.other_views.append(unacked)
    stored = await audit_at(redis_server.url, result)
    assert (stored.lost, stored.stored, stored.stored_unacked) == ([gone], 199, 1)
