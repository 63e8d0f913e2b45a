"""Snapshot safety: failed or fenced rollups leave the current one alone; storage stays bounded."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service import keys
from service.clock import ManualClock
from service.rollup import Rollup
from service.scheduler import Lease
from service.settings import Settings
from service.storage import Storage, StorageUnavailable

from .support import ADMIN, put_article


class FailsBeforePublishing(Rollup):
    """A rollup whose connection drops after it wrote its snapshot, before it published it."""

    async def _publish(self, lease_token: str, generation: int, as_of: float) -> bool:
        raise StorageUnavailable("connection lost")


async def snapshot_state(client: httpx.AsyncClient) -> tuple[str, bytes]:
    response = await client.get("/v1/popular", params={"window": "all"})
    return response.headers["etag"], response.content


async def test_a_rollup_failing_halfway_leaves_the_snapshot_intact(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings, store: Storage, redis: Any
) -> None:
    await put_article(client, "a")
    await client.post("/v1/views", json={"article": "a"})
    await client.post("/v1/rollup", headers=ADMIN)
    before = await snapshot_state(client)
    await put_article(client, "b")
    for n in range(5):
        await client.post("/v1/views", json={"article": "b", "visitor": str(n)})
    with pytest.raises(StorageUnavailable):
        await FailsBeforePublishing(store, settings, clock).run()
    await client.app.holder["services"].rankings.refresh()  # type: ignore[attr-defined]
    assert await snapshot_state(client) == before
    # The orphaned snapshot expires on its own.
    generation = int(await redis.get(keys.GENERATION))
    assert 0 < await redis.ttl(keys.snapshot(generation)) <= 3 * 86400
    assert await redis.ttl(keys.snapshot(generation - 1)) == -1  # the current one stays


async def test_a_paused_old_leader_cannot_publish(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings, store: Storage, redis: Any
) -> None:
    await put_article(client, "a")
    await client.post("/v1/views", json={"article": "a"})
    old, new = Lease(store, 0.2), Lease(store, 30)
    assert await old.keep()
    stale_token = old.token
    await redis.delete(keys.LEADER)  # its lease ran out while it was paused
    assert await new.keep() and new.token != stale_token
    assert int(new.token.split(":")[0]) > int(stale_token.split(":")[0])
    assert (await Rollup(store, settings, clock).run(new.token)).published
    current = await redis.hgetall(keys.CURRENT)
    clock.advance(60)
    fenced = await Rollup(store, settings, clock).run(stale_token)
    assert not fenced.published
    assert await redis.hgetall(keys.CURRENT) == current


async def test_an_older_snapshot_never_replaces_a_newer_one(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings, store: Storage, redis: Any
) -> None:
    await put_article(client, "a")
    await client.post("/v1/views", json={"article": "a"})
    late = ManualClock(clock.now() - 60)
    assert (await Rollup(store, settings, clock).run()).published
    assert not (await Rollup(store, settings, late).run()).published


@pytest.mark.single_node  # 130 rollups: the key layout is the same on a cluster
async def test_storage_levels_off_over_simulated_days(
    client: httpx.AsyncClient, clock: ManualClock, redis: Any
) -> None:
    """Keys and memory stop growing once buckets age out, while views keep arriving."""
    articles = [f"story-{n}" for n in range(40)]
    for article in articles:
        await put_article(client, article, theme=f"t{len(article) % 3}")
    counts: list[int] = []
    memory: list[int] = []
    # 65 days, a rollup every 12 hours: at every 6 hours the test took 118 s of its 120.
    for step in range(65 * 2):
        events = [{"article": articles[(step * 7 + n) % 40]} for n in range(30)]
        response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
        assert response.json()["counted"] == 30
        await client.post("/v1/rollup", headers=ADMIN)
        if step % 2 == 1:
            counts.append(await _managed_keys(redis))
            memory.append(await _lasting_memory(redis))
        clock.advance(12 * 3600)
    # After the day buckets age out (60 days: 30d and the 30 days before, read for
    # previous_window_views), nothing grows any more.
    settled = counts[62:]
    assert max(settled) - min(settled) <= 16, settled
    assert max(counts[62:]) <= max(counts[:62]) + 16
    assert max(memory[62:]) < max(memory[:62]) * 1.1, memory
    # Every other key vanishes on its own (their TTLs run on Redis's clock, not the test's).
    async for key in redis.scan_iter(count=1000):
        if not _managed(key) and not key.startswith(_PERMANENT):
            assert await redis.ttl(key) != -1, key  # -2: it expired meanwhile


_PERMANENT = (
    *(
        f"{keys.PREFIX}:{tag}:{name}"
        for tag in keys.SHARD_TAGS
        for name in (
            *("articles", "theme", "themes", "total", "bots", "win", "winfrom", "a:"),
            *("auto", "rs:all", "unranked"),  # per article, kept as long as it is
            "rr",  # most recent readers, per article as long as it is (and rr:ready)
            "catalogv",  # the catalog's version: one short token per shard
            # The event log's stream: capped at EVENT_LOG_MAX_ENTRIES, emptied by the drain.
            *("log", "logstate"),
        )
    ),
    keys.RANK,
)


def _managed(key: str) -> bool:
    """Buckets: created by views, deleted by the rollup once no window needs them."""
    return ":b:" in key


async def _lasting_memory(redis: Any) -> int:
    """Bytes held by keys that have no TTL, plus the buckets the rollup deletes."""
    total = 0
    async for key in redis.scan_iter(count=1000):
        if _managed(key) or await redis.ttl(key) == -1:
            total += int(await redis.memory_usage(key) or 0)
    return total


async def _managed_keys(redis: Any) -> int:
    return len([key async for key in redis.scan_iter(match="*:b:*", count=1000)])
