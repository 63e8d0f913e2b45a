"""The event log against real Redis (single node and cluster) and real files: every decision
logged in the counting call, drained to Parquet exactly once, read back with DuckDB."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from service import keys
from service.clock import ManualClock, rfc3339
from service.eventlog.archive import Archive
from service.eventlog.drain import Drain, stream_states
from service.eventlog.recount import recount
from service.eventlog.replay import NotEmpty, replay
from service.ingest import client_network
from service.metrics import Metrics
from service.scheduler import RollupScheduler
from service.settings import Settings
from service.storage import Storage, connect, ops

from .conftest import T0
from .live import ServiceProcess
from .support import (
    ADMIN,
    BROWSER_UA,
    SECRET,
    RedisProcess,
    client_for,
    free_port,
    make_settings,
    put_article,
)
from .test_faults import commands_in_order, record_figure

PROXY = "10.0.0.1"
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CAP = 5


def logged(settings: Settings, archive: Path, **overrides: Any) -> Settings:
    """Settings with the archive in ``archive``, clients named through a trusted proxy and a
    per-client cap low enough to reach."""
    return settings.model_copy(
        update={
            "event_log_dir": str(archive),
            "trusted_proxies": "10.0.0.0/8",
            "max_views_per_client": CAP,
            **overrides,
        }
    )


async def beacon(http: httpx.AsyncClient, article: str, address: str, **fields: Any) -> str:
    agent = fields.pop("agent", BROWSER_UA)
    response = await http.post(
        "/v1/views",
        json={"article": article, **fields},
        headers={"X-Forwarded-For": address, "User-Agent": agent},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    return "counted" if body["counted"] else str(body["reason"])


def client_of(http: httpx.AsyncClient, address: str) -> str:
    """The client-network digest as the log keeps it (its first 16 hex characters)."""
    services = http.app.holder["services"]  # type: ignore[attr-defined]
    return str(services.identity.client(client_network(address, 32, 64)).hex())[:16]


def parquet_files(archive: Path) -> list[Path]:
    return sorted(archive.glob("day=*/*.parquet"))


def day_dirs(archive: Path) -> list[str]:
    return sorted(p.name for p in archive.glob("day=*"))


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    store = connect(settings)
    yield store
    await store.close()


async def traffic(http: httpx.AsyncClient) -> Counter[tuple[str, str]]:
    """Beacons of every kind and a batch; (article, outcome) -> decisions, as answered."""
    for article in ("news-a", "news-b"):
        await put_article(http, article)
    sent: Counter[tuple[str, str]] = Counter()
    for n in range(8):  # eight readers of news-a, each once, then once again (a duplicate)
        for _ in range(2):
            sent["news-a", await beacon(http, "news-a", f"198.51.100.{n + 1}", visitor="r")] += 1
    for n in range(CAP + 3):  # one network past the cap: automated
        sent["news-b", await beacon(http, "news-b", "203.0.113.9", visitor=f"v{n}")] += 1
    sent["news-b", await beacon(http, "news-b", "192.0.2.1", agent=BOT_UA)] += 1
    unknown = await http.post("/v1/views", json={"article": "nowhere"})
    assert unknown.status_code == 404  # not a decision: not logged
    batch = await http.post(
        "/v1/views/batch",
        json={"events": [{"article": "news-a", "event_id": f"b{n % 3}"} for n in range(4)]},
        headers=ADMIN,
    )
    assert batch.json()["counted"] == 3 and batch.json()["duplicates"] == 1
    sent["news-a", "counted"] += 3
    sent["news-a", "duplicate_event"] += 1
    return sent


def test_an_api_worker_imports_neither_pyarrow_nor_fsspec() -> None:
    """The archive's libraries load where a table or a file is touched (the drain, the purge,
    the log's commands): an API worker that only counts and serves lists never pays for them
    (pyarrow alone was ~47 MB of every worker's memory and a second of its start)."""
    code = (
        "import sys\n"
        "from service.api import create_app\n"
        "from service.settings import Settings\n"
        f"create_app(Settings(secret={SECRET!r}))\n"
        "print(sorted(m for m in ('pyarrow', 'fsspec') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


async def test_every_decision_is_archived_once_and_duckdb_reads_it(
    settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    """Counted, duplicate, bot, automated and batch decisions reach the archive once each,
    with digests only; a second drain writes nothing; DuckDB reads a day back."""
    settings = logged(settings, tmp_path)
    clock = ManualClock(T0 + 60)
    async with client_for(settings, clock, peer=PROXY) as http:
        sent = await traffic(http)
        assert sent["news-a", "duplicate"] == 8 and sent["news-b", "automated"] == 3
        assert sent["news-b", "bot"] == 1
        held = sum(s.held for s in await stream_states(storage))
        assert held > 0
        metrics = (await http.get("/metrics")).text
        assert f"viewcount_event_log_backlog_entries {float(held)}" in metrics
        drain = Drain(storage, settings, clock)
        result = await drain.run()
        assert result.events == sum(sent.values()) and result.entries == held
        assert all(s.held == 0 and s.dropped == 0 for s in await stream_states(storage))
        again = await drain.run()
        assert again.events == 0 and again.files == []
        flooder = client_of(http, "203.0.113.9")

    files = parquet_files(tmp_path)
    for path in files:  # a day's files hold what was logged that day (UTC), named by first id
        logged_ms = int(path.name.split("-")[1])
        assert path.parent.name == time.strftime("day=%Y-%m-%d", time.gmtime(logged_ms / 1000))
    glob = str(tmp_path / "day=*" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT article, outcome, count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
        "GROUP BY ALL"
    ).fetchall()
    assert Counter({(a, o): n for a, o, n in rows}) == sent
    automated = duckdb.sql(
        f"SELECT DISTINCT client, viewed_at FROM read_parquet('{glob}') WHERE outcome = 'automated'"
    ).fetchall()
    assert [client for client, _ in automated] == [int(flooder, 16)]  # kept as a number
    assert {int(at.timestamp()) for _, at in automated} == {int(T0)}  # its 5-minute bucket
    unique = duckdb.sql(
        "SELECT count(*), count(DISTINCT (shard, logged_at, seq, line)) "
        f"FROM read_parquet('{glob}')"
    ).fetchall()
    assert unique == [(sum(sent.values()), sum(sent.values()))]
    text = b"".join(p.read_bytes() for p in files)
    assert b"198.51.100" not in text and b"203.0.113.9" not in text  # no address is kept
    digests = duckdb.sql(
        f"SELECT printf('%08x', reader), printf('%016x', client) FROM '{glob}' "
        "WHERE client IS NOT NULL"
    ).fetchall()
    assert {client for _, client in digests} == {
        client_of(http, f"198.51.100.{n + 1}") for n in range(8)
    } | {client_of(http, "203.0.113.9"), client_of(http, "192.0.2.1")}
    batch = duckdb.sql(f"SELECT count(*) FROM '{glob}' WHERE client IS NULL").fetchall()
    assert batch == [(4,)]  # batch events have no client network
    record_figure(
        f"event_log_bytes_per_event_small_{'cluster' if settings.redis_cluster else 'single'}",
        round(sum(p.stat().st_size for p in files) / sum(sent.values()), 1),
    )


async def test_old_days_leave_the_archive(
    settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    """Days older than VIEWCOUNT_EVENT_LOG_RETENTION_DAYS are deleted by the drain."""
    settings = logged(settings, tmp_path, event_log_retention_days=3)
    now = time.time()
    old, kept = (time.strftime("%Y-%m-%d", time.gmtime(now - d * 86400)) for d in (4, 2))
    for day in (old, kept):
        (tmp_path / f"day={day}").mkdir()
        (tmp_path / f"day={day}" / "s00-1-0.parquet").write_bytes(b"held")
    await Drain(storage, settings, ManualClock(now)).run()
    assert day_dirs(tmp_path) == [f"day={kept}"]
    assert (tmp_path / "catalog.ndjson").exists()


def unwritable_dir(tmp_path: Path) -> Path:
    """A directory nothing can be written under: a read-only one for a normal user; for root
    (who ignores file modes) sysfs, which the kernel keeps read-only."""
    if os.geteuid() != 0:
        blocked = tmp_path / "read-only"
        blocked.mkdir(mode=0o555)
        return blocked
    target = Path("/sys/fs")
    try:
        (target / "viewcount-probe").mkdir()
    except OSError:
        return target
    pytest.fail("no read-only directory to test with")


async def test_an_unwritable_archive_never_stops_counting(
    settings: Settings, storage: Storage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The drain fails and trims nothing (the leader's scheduler logs it and counts it);
    beacons still count, /readyz is ready, /metrics shows the backlog; once the archive can be
    written the drain archives every event."""
    blocked = unwritable_dir(tmp_path)
    settings = logged(settings, blocked)
    clock = ManualClock(T0 + 60)
    async with client_for(settings, clock, peer=PROXY) as http:
        sent = await traffic(http)
        with pytest.raises(OSError):
            await Drain(storage, settings, clock).run()
        metrics = Metrics()
        scheduler = RollupScheduler(storage, settings, clock, metrics)
        assert await scheduler.lease.keep()
        await scheduler.drain_log()  # as its job runs it: the failure is reported, not raised
        await scheduler.lease.release()
        assert scheduler.drains == 0
        assert "the archive cannot be written" in caplog.text
        assert "viewcount_event_log_drain_failures_total 1.0" in metrics.export().decode()
        for n in range(5):
            assert await beacon(http, "news-a", f"100.64.0.{n + 1}") == "counted"
        assert (await http.get("/readyz")).status_code == 200
        states = await stream_states(storage)
        scraped = (await http.get("/metrics")).text
        assert (
            f"viewcount_event_log_backlog_entries {float(sum(s.held for s in states))}" in scraped
        )
        assert "viewcount_event_log_dropped_entries 0.0" in scraped
        views = (await http.get("/v1/articles/news-a/views")).json()["views"]
        assert views == sent["news-a", "counted"] + 5
    writable = tmp_path / "archive"
    result = await Drain(storage, logged(settings, writable), clock).run()
    assert result.events == sum(sent.values()) + 5


async def test_a_full_stream_drops_its_oldest_and_says_so(
    settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    """Past VIEWCOUNT_EVENT_LOG_MAX_ENTRIES the stream drops its oldest entries (counted in
    /metrics); counting goes on unchanged."""
    settings = logged(settings, tmp_path, event_log_max_entries=10, max_views_per_client=0)
    clock = ManualClock(T0 + 60)
    async with client_for(settings, clock, peer=PROXY) as http:
        await put_article(http, "busy")
        for n in range(400):  # one view a call: one stream entry each
            assert await beacon(http, "busy", f"100.65.{n // 250}.{n % 250 + 1}") == "counted"
        assert (await http.get("/v1/articles/busy/views")).json()["views"] == 400
        state = (await stream_states(storage))[keys.shard_of("busy")]
        assert state.added == 400 and state.dropped > 0
        assert state.held + state.dropped == 400
        assert (
            f"viewcount_event_log_dropped_entries {float(state.dropped)}"
            in (await http.get("/metrics")).text
        )
        result = await Drain(storage, settings, clock).run()
        assert result.events == state.held


# --- the scheduler killed between a file and its trim -------------------------------------------
EVENTS = 30_000


@pytest.mark.single_node
async def test_scheduler_killed_between_file_and_trim_loses_and_doubles_nothing(
    redis_server: RedisProcess, redis: aioredis.Redis, tmp_path: Path
) -> None:
    """A scheduler SIGKILLed after writing an archive file and before trimming its stream (its
    trim held back by CLIENT PAUSE WRITE): the stream still holds the entries; the next leader
    rewrites that same file, and every event is archived exactly once."""
    settings = logged(make_settings(redis_server.url), tmp_path)
    store = connect(settings)
    try:
        async with client_for(
            settings.model_copy(update={"max_views_per_client": 0, "rate_limit_per_min": 0}),
            ManualClock(T0 + 60),
            peer=PROXY,
        ) as http:
            await put_article(http, "kept")
            # Enough events that writing their file takes a while: the pause lands before the
            # trim (on a box so loaded that it does not, the xlen check below says so).
            events = [{"article": "kept", "visitor": f"r{n}"} for n in range(EVENTS)]
            for start in range(0, EVENTS, 10_000):
                batch = {"events": events[start : start + 10_000]}
                response = await http.post("/v1/views/batch", json=batch, headers=ADMIN)
                assert response.json()["counted"] == 10_000
        shard = keys.shard_of("kept")
        entries = await redis.xlen(keys.event_log(shard))
        env = {"event_log_dir": str(tmp_path), "rollup_interval_s": 2}
        first = ServiceProcess(redis_server.url, command="scheduler", **env)
        second = ServiceProcess(redis_server.url, command="scheduler", **env)
        try:
            watch = asyncio.create_task(
                commands_in_order(redis_server.url, [("XRANGE", keys.event_log(shard))])
            )
            await asyncio.sleep(0.2)  # MONITOR is on before the scheduler starts
            first.start()
            await asyncio.wait_for(watch, 60)
            await redis.execute_command("CLIENT", "PAUSE", 30000, "WRITE")
            try:
                deadline = time.monotonic() + 30
                while not parquet_files(tmp_path):
                    assert time.monotonic() < deadline, first.log()
                    await asyncio.sleep(0.02)
                first.kill()
            finally:
                await redis.execute_command("CLIENT", "UNPAUSE")
            written = parquet_files(tmp_path)
            assert len(written) == 1
            # Not trimmed: the kill came first.
            assert await redis.xlen(keys.event_log(shard)) == entries
            second.start()
            deadline = time.monotonic() + 60
            while await redis.xlen(keys.event_log(shard)) > 0:
                assert time.monotonic() < deadline, second.log()
                await asyncio.sleep(0.1)
        finally:
            first.stop()
            second.stop()
        assert parquet_files(tmp_path) == written  # the same file, rewritten
        archive = Archive(str(tmp_path))
        days = archive.days()
        visitors = Counter((e.entry, e.line) for e in archive.events(days[0], days[-1]))
        assert len(visitors) == EVENTS and set(visitors.values()) == {1}
        drained = await store.one(ops.hget(keys.event_log_state(shard), "drained"))
        assert drained == str(entries)
    finally:
        await store.close()


# --- purge --------------------------------------------------------------------------------------
FLOOD = 60


async def rollup(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/rollup", headers=ADMIN)
    assert response.status_code == 200 and response.json()["published"], response.text


async def window_views(http: httpx.AsyncClient, window: str) -> dict[str, int]:
    response = await http.get("/v1/popular", params={"window": window, "limit": 100})
    assert response.status_code == 200, response.text
    return {item["article"]: item["window_views"] for item in response.json()["items"]}


async def test_a_purged_flood_leaves_counts_windows_and_the_next_rankings(
    settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    """One network floods an article (part of it already archived, part still in Redis);
    purging its digest over the flood's hour takes exactly its views out of the total, every
    window and the next rankings, and a second purge takes nothing."""
    # A cap the flood stays under: its views count, and its network is tracked as a top client.
    settings = logged(settings, tmp_path, max_views_per_client=1000, min_readers=1)
    clock = ManualClock(T0 + 60)
    async with client_for(settings, clock, peer=PROXY) as http:
        for article in ("honest", "flooded"):
            await put_article(http, article)
        for n in range(30):
            assert await beacon(http, "honest", f"100.64.1.{n + 1}") == "counted"
            assert await beacon(http, "flooded", f"100.64.2.{n + 1}") == "counted"
        for n in range(FLOOD):
            if n == FLOOD // 2:
                await Drain(storage, settings, clock).run()  # half of it archived by now
            clock.t = T0 + 120 + n * 30  # over half an hour: several 5-minute buckets
            assert await beacon(http, "flooded", "198.51.100.66", visitor=f"f{n}") == "counted"
        clock.t = T0 + 2400
        await rollup(http)
        before = {w: await window_views(http, w) for w in ("1h", "24h", "7d", "30d", "all")}
        assert before["1h"] == {"flooded": 30 + FLOOD, "honest": 30}
        report = await http.get("/v1/admin/suspicious", params={"window": "1h"}, headers=ADMIN)
        top = {i["article"]: i["top_client"] for i in report.json()["items"]}["flooded"]
        assert top is not None and top.startswith(client_of(http, "198.51.100.66"))
        body = {"article": "flooded", "client": top, "from": "2026-11-27T12:00:00Z"}
        empty = await http.post(  # a range that ends before it starts holds nothing
            "/v1/admin/purge", json={**body, "to": "2026-11-27T11:00:00Z"}, headers=ADMIN
        )
        assert empty.status_code == 200 and empty.json()["removed"] == 0
        response = await http.post(
            "/v1/admin/purge", json={**body, "to": "2026-11-27T13:00:00Z"}, headers=ADMIN
        )
        assert response.status_code == 200, response.text
        assert response.json()["removed"] == FLOOD
        assert (await http.get("/v1/articles/flooded/views")).json()["views"] == 30  # at once
        clock.t += 60
        await rollup(http)
        for window, items in before.items():
            after = await window_views(http, window)
            assert after == {"flooded": items["flooded"] - FLOOD, "honest": 30}, window
        again = await http.post(
            "/v1/admin/purge", json={**body, "to": "2026-11-27T13:00:00Z"}, headers=ADMIN
        )
        assert again.json()["removed"] == 0
        report = await http.get("/v1/admin/suspicious", params={"window": "1h"}, headers=ADMIN)
        assert "flooded" not in {i["article"] for i in report.json()["items"]}
        await Drain(storage, settings, clock).run()
    glob = str(tmp_path / "day=*" / "*.parquet")
    purged = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{glob}') WHERE outcome = 'purged'"
    ).fetchall()
    assert purged == [(FLOOD,)]  # the purge is in the log: a replay reproduces it


@pytest.mark.parametrize(
    "body",
    [
        {
            "article": "kept",
            "client": "zz",
            "from": "2026-11-27T12:00:00Z",
            "to": "2026-11-27T13:00:00Z",
        },
        {"article": "kept", "client": "a" * 24, "from": "yesterday", "to": "2026-11-27T13:00:00Z"},
        {
            "article": "no/such",
            "client": "a" * 24,
            "from": "2026-11-27T12:00:00Z",
            "to": "2026-11-27T13:00:00Z",
        },
        ["not", "an", "object"],
    ],
)
async def test_a_bad_purge_is_a_problem_and_changes_nothing(
    settings: Settings, tmp_path: Path, body: Any
) -> None:
    async with client_for(logged(settings, tmp_path), ManualClock(T0 + 60), peer=PROXY) as http:
        await put_article(http, "kept")
        assert await beacon(http, "kept", "198.51.100.1") == "counted"
        response = await http.post("/v1/admin/purge", json=body, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_field"
        assert (await http.get("/v1/articles/kept/views")).json()["views"] == 1
        unknown = await http.post(
            "/v1/admin/purge",
            json={
                "article": "gone",
                "client": "a" * 24,
                "from": "2026-11-27T12:00:00Z",
                "to": "2026-11-27T13:00:00Z",
            },
            headers=ADMIN,
        )
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_article"
        # The widest range the fields allow: answered at once, nothing taken from other clients.
        widest = await http.post(
            "/v1/admin/purge",
            json={
                "article": "kept",
                "client": "a" * 24,
                "from": "0001-01-01T00:00:00Z",
                "to": "9999-12-31T23:59:59Z",
            },
            headers=ADMIN,
        )
        assert widest.status_code == 200 and widest.json()["removed"] == 0, widest.text
        assert (await http.get("/v1/articles/kept/views")).json()["views"] == 1
        no_token = await http.post("/v1/admin/purge", json=body)
        assert no_token.status_code == 401


# --- replay -------------------------------------------------------------------------------------
WINDOWS = ("1h", "24h", "7d", "30d", "all", "today")


async def counters(http: httpx.AsyncClient, articles: list[str]) -> dict[str, Any]:
    """Every article's counts and every window's lists, site-wide and by theme."""
    state: dict[str, Any] = {}
    for article in articles:
        body = (await http.get(f"/v1/articles/{article}/views")).json()
        state[article] = (body["views"], body["bot_views"], body["automated_views"])
    for window in WINDOWS:
        for path in ("/v1/popular", "/v1/themes/war/popular", "/v1/themes/economy/popular"):
            response = await http.get(path, params={"window": window, "limit": 100})
            items = response.json()["items"]
            state[path, window] = [(i["article"], i["window_views"], i["views"]) for i in items]
    return state


async def test_replay_into_an_empty_redis_gives_back_every_counter(
    settings: Settings, storage: Storage, redis: Any, tmp_path: Path
) -> None:
    """Beacons of every kind, batch events of earlier days and a purge; archived; Redis
    flushed; the replay gives back each article's views, bot and automated views and every
    window's lists."""
    settings = logged(settings, tmp_path, min_readers=2)
    clock = ManualClock(T0 + 600)
    articles = ["news-a", "news-b", "old-1", "old-2"]
    async with client_for(settings, clock, peer=PROXY) as http:
        await traffic(http)  # news-a and news-b, theme war
        for article in ("old-1", "old-2"):
            await put_article(http, article, theme="economy", imported_views=7)
        events = [
            {"article": f"old-{n % 2 + 1}", "visitor": f"v{n % 9}", "at": rfc3339(T0 - n * 7200)}
            for n in range(200)  # over 16 days, every two hours
        ]
        assert (await http.post("/v1/views/batch", json={"events": events}, headers=ADMIN)).json()[
            "counted"
        ] == 200
        for n in range(12):
            await beacon(http, "news-a", "198.51.100.200", visitor=f"flood{n}")
        purge = {
            "article": "news-a",
            "client": client_of(http, "198.51.100.200"),
            "from": rfc3339(T0),
            "to": rfc3339(T0 + 3600),
        }
        removed = (await http.post("/v1/admin/purge", json=purge, headers=ADMIN)).json()["removed"]
        assert removed == CAP  # what the cap let count of the flood
        await rollup(http)
        before = await counters(http, articles)
        await Drain(storage, settings, clock).run()
    await flush(redis)
    result = await replay(storage, settings, clock)
    assert result["articles"] == 4 and result["events"] > 200
    async with client_for(settings, clock, peer=PROXY) as http:
        after = await counters(http, articles)
    assert after == before
    assert before["news-a"][0] == 11 and before["old-1"][0] == 7 + 100
    # old-1 has every other batch event, one each four hours: the 7d window, starting on the
    # hour 7 days before as_of, holds n = 0, 2, ..., 84.
    assert before["/v1/themes/economy/popular", "7d"][0] == ("old-1", 43, 107)
    with pytest.raises(NotEmpty):
        await replay(storage, settings, clock)


async def flush(redis: Any) -> None:
    if isinstance(redis, RedisCluster):
        await redis.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        await redis.flushall()


# --- recount ------------------------------------------------------------------------------------
async def test_a_recount_with_a_lower_cap_takes_back_what_it_refuses(
    settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    """Views counted under a cap of 20; a recount under a cap of 5 (a dry run first) moves the
    rest of one network's views to automated, the totals and the next lists drop by them, and
    a second recount finds nothing."""
    counted_under = logged(settings, tmp_path, max_views_per_client=20, min_readers=1)
    clock = ManualClock(T0 + 60)
    async with client_for(counted_under, clock, peer=PROXY) as http:
        await put_article(http, "capped")
        for n in range(15):
            assert await beacon(http, "capped", "198.51.100.77", visitor=f"c{n}") == "counted"
        for n in range(3):
            assert await beacon(http, "capped", f"100.64.3.{n + 1}") == "counted"
        await Drain(storage, counted_under, clock).run()  # part archived, part in the stream
        for n in range(15, 18):
            assert await beacon(http, "capped", "198.51.100.77", visitor=f"c{n}") == "counted"
    lower = counted_under.model_copy(update={"max_views_per_client": 5})
    start, end = T0, T0 + 3600
    dry = await recount(storage, lower, clock, start, end, dry_run=True)
    assert [(c.article, c.views) for c in dry] == [("capped", 18 - 5)]
    async with client_for(lower, clock, peer=PROXY) as http:
        assert (await http.get("/v1/articles/capped/views")).json()["views"] == 21  # unchanged
        applied = await recount(storage, lower, clock, start, end, dry_run=False)
        assert [c.views for c in applied] == [13]
        views = (await http.get("/v1/articles/capped/views")).json()
        assert (views["views"], views["automated_views"]) == (21 - 13, 13)
        clock.t += 60
        await rollup(http)
        assert await window_views(http, "1h") == {"capped": 8}
        assert await recount(storage, lower, clock, start, end, dry_run=False) == []


# --- the command line ---------------------------------------------------------------------------
def viewcount(*args: str, **settings: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWCOUNT_")}
    env.update({f"VIEWCOUNT_{k.upper()}": str(v) for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "VIEWCOUNT_SECRET": SECRET, "VIEWCOUNT_LOG_JSON": "false"},
    )


@pytest.mark.single_node
async def test_log_recount_and_replay_on_the_command_line(
    redis_server: RedisProcess, redis: aioredis.Redis, tmp_path: Path
) -> None:
    """`viewcount log` prints a network's events, `recount --dry-run` what a lower cap would
    take back (changing nothing), `replay` brings the counts back into a flushed Redis."""
    settings = logged(make_settings(redis_server.url), tmp_path, max_views_per_client=20)
    store = connect(settings)
    try:
        async with client_for(settings, ManualClock(T0 + 60), peer=PROXY) as http:
            await put_article(http, "told")
            for n in range(12):
                assert await beacon(http, "told", "198.51.100.9", visitor=f"t{n}") == "counted"
            client = client_of(http, "198.51.100.9")
            await Drain(store, settings, ManualClock(T0 + 60)).run()
    finally:
        await store.close()
    common = {"redis_url": redis_server.url, "event_log_dir": tmp_path}
    span = ("--from", "2026-11-27T12:00:00Z", "--to", "2026-11-27T13:00:00Z")
    shown = viewcount("log", "--client", client, *span, **common)
    assert shown.returncode == 0, shown.stderr
    events = [orjson.loads(line) for line in shown.stdout.splitlines()]
    assert len(events) == 12 and {e["outcome"] for e in events} == {"counted"}
    assert {(e["article"], e["client"], e["viewed_at"]) for e in events} == {
        ("told", client, "2026-11-27T12:00:00Z")
    }
    dry = viewcount("recount", *span, "--dry-run", max_views_per_client=5, **common)
    assert dry.returncode == 0, dry.stderr
    lines = [orjson.loads(line) for line in dry.stdout.splitlines()]
    assert lines[0] == {"article": "told", "client": client, "taken_back": 7}
    assert lines[-1]["taken_back"] == 7 and lines[-1]["dry_run"] is True
    assert await redis.zscore(keys.totals(keys.shard_of("told")), "told") == 12  # unchanged
    await redis.flushall()
    replayed = viewcount("replay", **common)
    assert replayed.returncode == 0, replayed.stderr
    assert orjson.loads(replayed.stdout.splitlines()[-1])["events"] == 12
    assert await redis.zscore(keys.totals(keys.shard_of("told")), "told") == 12
    again = viewcount("replay", **common)
    assert again.returncode != 0 and "empty" in again.stderr


async def test_rate_limited_views_are_logged_too(
    settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    """Past the per-minute rate limit the refused beacons are logged as rate_limited, on a
    cluster too, where the limit answers before the counting call."""
    settings = logged(settings, tmp_path, rate_limit_per_min=5, max_views_per_client=0)
    clock = ManualClock(T0 + 60)
    async with client_for(settings, clock, peer=PROXY) as http:
        await put_article(http, "hammered")
        answers: Counter[int] = Counter()
        for n in range(8):
            response = await http.post(
                "/v1/views",
                json={"article": "hammered", "visitor": f"h{n}"},
                headers={"X-Forwarded-For": "198.51.100.5", "User-Agent": BROWSER_UA},
            )
            answers[response.status_code] += 1
        assert answers == {202: 5, 429: 3}
        flooder = client_of(http, "198.51.100.5")
        await Drain(storage, settings, clock).run()
    glob = str(tmp_path / "day=*" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT outcome, printf('%016x', client), article, count(*) FROM '{glob}' GROUP BY ALL"
    ).fetchall()
    assert sorted(rows) == [
        ("counted", flooder, "hammered", 5),
        ("rate_limited", flooder, "hammered", 3),
    ]


@pytest.mark.single_node
async def test_the_archive_takes_an_fsspec_url(settings: Settings, storage: Storage) -> None:
    """VIEWCOUNT_EVENT_LOG_DIR as an fsspec URL (fsspec's in-memory filesystem here; s3://,
    gs:// and the rest go through the same calls): drained, read back, retention applied."""
    url = f"memory://viewcount-{os.getpid()}-{time.monotonic_ns()}/events"
    settings = logged(settings, Path("unused")).model_copy(update={"event_log_dir": url})
    clock = ManualClock(T0 + 60)
    async with client_for(settings, clock, peer=PROXY) as http:
        sent = await traffic(http)
    result = await Drain(storage, settings, clock).run()
    assert result.events == sum(sent.values()) and all(
        f.startswith("/viewcount-") for f in result.files
    )
    archive = Archive(url)
    days = archive.days()
    assert Counter((e.article, e.outcome) for e in archive.events(days[0], days[-1])) == sent
    assert archive.read_text("catalog.ndjson") is not None
    archive.fs.rm(archive.root, recursive=True)


@pytest.mark.single_node
async def test_two_schedulers_archive_each_event_once(
    redis_server: RedisProcess, redis: aioredis.Redis, tmp_path: Path
) -> None:
    """Two `viewcount scheduler` processes on one Redis while events keep coming: only the
    leader drains, and the archive holds every event exactly once."""
    settings = logged(make_settings(redis_server.url), tmp_path, max_views_per_client=0)
    env = {"event_log_dir": str(tmp_path), "rollup_interval_s": 1}
    schedulers = [ServiceProcess(redis_server.url, command="scheduler", **env) for _ in range(2)]
    sent = 0
    async with client_for(settings, ManualClock(T0 + 60), peer=PROXY) as http:
        await put_article(http, "steady")
        try:
            for process in schedulers:
                process.start()
            for round_number in range(30):  # ~6 s: several drains while both run
                events = [
                    {"article": "steady", "visitor": f"r{round_number}-{n}"} for n in range(50)
                ]
                response = await http.post(
                    "/v1/views/batch", json={"events": events}, headers=ADMIN
                )
                assert response.json()["counted"] == 50
                sent += 50
                await asyncio.sleep(0.2)
            deadline = time.monotonic() + 30
            while any(s.held for s in await stream_states_of(settings)):
                assert time.monotonic() < deadline, schedulers[0].log() + schedulers[1].log()
                await asyncio.sleep(0.2)
        finally:
            for process in schedulers:
                process.stop()
    archive = Archive(str(tmp_path))
    days = archive.days()
    archived = Counter((e.shard, e.entry, e.line) for e in archive.events(days[0], days[-1]))
    assert sum(archived.values()) == sent and set(archived.values()) == {1}


async def stream_states_of(settings: Settings) -> list[Any]:
    store = connect(settings)
    try:
        return await stream_states(store)
    finally:
        await store.close()


async def test_a_held_view_is_logged_as_pending(
    settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    """A view of an article not yet in the catalog whose url is on VIEWCOUNT_SITES is held
    (answered pending): the hold is logged in the same call (hold.lua)."""
    site = f"http://127.0.0.1:{free_port()}"  # nothing listens: the page's fetch just fails
    settings = logged(settings, tmp_path, sites=site, pending_poll_s=3600.0)
    clock = ManualClock(T0 + 60)
    async with client_for(settings, clock, peer=PROXY) as http:
        response = await http.post(
            "/v1/views",
            json={"article": "not-yet", "url": f"{site}/news/not-yet"},
            headers={"X-Forwarded-For": "198.51.100.44", "User-Agent": BROWSER_UA},
        )
        assert response.status_code == 202, response.text
        assert response.json() == {"counted": False, "reason": "pending"}
        client = client_of(http, "198.51.100.44")
        await Drain(storage, settings, clock).run()
    glob = str(tmp_path / "day=*" / "*.parquet")
    rows = duckdb.sql(f"SELECT outcome, article, printf('%016x', client) FROM '{glob}'").fetchall()
    assert rows == [("pending", "not-yet", client)]
