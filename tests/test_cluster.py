"""Redis Cluster specifics: keys spread over every master, NOSCRIPT, slots that move."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from service import keys
from service.ingest import client_network
from service.settings import Settings

from .cluster import ClusterNode, RedisClusterProcess, redis_client, stall
from .support import ADMIN, RedisProcess, client_for, make_settings, put_article, views_of

PEER = "203.0.113.7"  # client_for's client address


def articles_of_shard(shard: int, count: int) -> list[str]:
    found = []
    n = 0
    while len(found) < count:
        if keys.shard_of(f"story-{n}") == shard:
            found.append(f"story-{n}")
        n += 1
    return found


@pytest.fixture
async def cluster_settings(cluster_server: RedisClusterProcess) -> AsyncIterator[Settings]:
    """Settings for the session's three-master cluster, emptied first (cluster tests only)."""
    client = redis_client(cluster_server)
    await client.flushall(target_nodes=client.PRIMARIES)
    await client.aclose()
    yield make_settings(cluster_server.url, redis_cluster=True)


@pytest.mark.cluster
async def test_keys_spread_over_every_master(
    cluster_server: RedisClusterProcess, cluster_settings: Settings
) -> None:
    articles = [f"article-{n}" for n in range(64)]
    async with client_for(cluster_settings) as http:
        for n, article in enumerate(articles):
            await put_article(http, article, theme=f"theme-{n % 5}")
        replies = await asyncio.gather(
            *(
                http.post("/v1/views", json={"article": articles[n % 64], "visitor": f"v{n}"})
                for n in range(400)
            )
        )
        assert all(r.status_code == 202 and r.json()["counted"] for r in replies)
        assert (await http.post("/v1/rollup", headers=ADMIN)).json()["published"]
        counts = (await http.get("/v1/views", params={"articles": ",".join(articles)})).json()
    assert sum(counts["views"].values()) == 400
    per_master: Counter[int] = Counter()
    per_shard: Counter[int] = Counter()
    for node in cluster_server.masters:
        with node.client() as conn:
            for key in conn.scan_iter("vc:*", count=1000):
                per_master[node.port] += 1
                tag = key[key.index("{") : key.index("}") + 1]
                if tag in keys.SHARD_TAGS:
                    per_shard[keys.SHARD_TAGS.index(tag)] += 1
    assert set(per_master) == {node.port for node in cluster_server.masters}
    assert set(per_shard) == set(range(keys.SHARDS))
    # No master takes most of the load: each holds a fair share of the keys.
    assert min(per_master.values()) > sum(per_master.values()) / 6


async def test_a_write_retried_after_a_lost_reply_counts_once(
    redis_server: RedisProcess | RedisClusterProcess, settings: Settings
) -> None:
    """Redis stalls past the client's timeout, then runs the record call the client gave up on
    (its reply is lost) and the retry of it. The retry finds the first run's marker and returns
    its result: batch events without event ids have no other protection against counting
    twice."""
    patient = settings.model_copy(update={"redis_timeout_s": 0.3, "redis_retry_s": 5.0})
    async with client_for(patient) as http:
        await put_article(http, "a")
        warm = await http.post(
            "/v1/views/batch", headers=ADMIN, json={"events": [{"article": "a"}]}
        )  # the day's salt and the script are loaded before the stall
        assert warm.json()["counted"] == 1
        sleepers = stall(redis_server, 1.0)
        await asyncio.sleep(0.05)
        reply = await http.post(
            "/v1/views/batch", headers=ADMIN, json={"events": [{"article": "a"}] * 50}
        )
        await asyncio.to_thread(lambda: [t.join() for t in sleepers])
        assert reply.status_code == 200, reply.text
        assert reply.json() == {
            "counted": 50,
            "duplicates": 0,
            "bots": 0,
            "automated": 0,
            "rejected": [],
        }
        assert await views_of(http, "a") == 51


async def test_scripts_survive_an_empty_script_cache(client: httpx.AsyncClient, redis: Any) -> None:
    """After a failover or restart a node's script cache is empty: NOSCRIPT, then EVAL."""
    await put_article(client, "a")
    assert (
        await client.post("/v1/views", json={"article": "a", "visitor": "1"})
    ).status_code == 202
    await redis.script_flush()
    assert (await client.post("/v1/views", json={"article": "a", "visitor": "2"})).json() == {
        "counted": True
    }
    await redis.script_flush()
    await put_article(client, "b")
    assert await views_of(client, "a") == 2


def move_slot(cluster: RedisClusterProcess, slot: int, target: ClusterNode) -> None:
    """Migrate one slot to ``target``, the way redis-cli --cluster reshard does."""
    source = cluster.master_of_slot(slot)
    with source.client() as src, target.client() as dst:
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        while batch := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 50):
            src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *batch)
        for node in cluster.masters:
            with node.client() as conn:
                conn.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)


@pytest.mark.cluster
async def test_views_keep_counting_while_a_shard_moves(
    cluster_server: RedisClusterProcess, cluster_settings: Settings
) -> None:
    """MOVED, ASK and TRYAGAIN during a live reshard are followed; nothing counts twice."""
    shard = 3
    articles = articles_of_shard(shard, 8)
    slot = key_slot(keys.SHARD_TAGS[shard].encode())
    home = cluster_server.master_of_slot(slot)
    away = next(m for m in cluster_server.masters if m is not home)
    moved = asyncio.Event()
    replies: Counter[str] = Counter()
    async with client_for(cluster_settings) as http:
        for article in articles:
            await put_article(http, article)

        async def load(worker: int) -> None:
            n = 0
            while not moved.is_set() or n < 300:
                reply = await http.post(
                    "/v1/views", json={"article": articles[n % 8], "visitor": f"v{worker}-{n}"}
                )
                replies[
                    "counted"
                    if reply.status_code == 202 and reply.json()["counted"]
                    else str(reply.status_code)
                ] += 1
                n += 1

        async def reshard() -> None:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(move_slot, cluster_server, slot, away)
            moved.set()

        await asyncio.gather(*(load(w) for w in range(4)), reshard())
        total = sum([await views_of(http, article) for article in articles])
        assert cluster_server.master_of_slot(slot) is away
        await asyncio.to_thread(move_slot, cluster_server, slot, home)  # and back again
        after = await http.post("/v1/views", json={"article": articles[0], "visitor": "back"})
        assert after.json() == {"counted": True}
    assert set(replies) <= {"counted", "503"}, replies
    assert total == replies["counted"]


@pytest.mark.cluster
@pytest.mark.parametrize("rate_limit", [0, 600], ids=["no-rate-limit", "rate-limit"])
async def test_a_stalled_master_fails_only_the_views_of_its_shards(
    cluster_server: RedisClusterProcess, cluster_settings: Settings, rate_limit: int
) -> None:
    """Beacons for every shard share a group commit while one master hangs: the views of that
    master's shards get 503, the views the other masters counted are answered as counted.
    With the rate limit on, every view first passes the lane of its client's shard (served by
    another master here)."""
    settings = cluster_settings.model_copy(
        update={"redis_timeout_s": 0.3, "redis_retry_s": 0.0, "rate_limit_per_min": rate_limit}
    )
    articles = [articles_of_shard(shard, 1)[0] for shard in range(keys.SHARDS)]

    def master_of_shard(shard: int) -> ClusterNode:
        return cluster_server.master_of_slot(key_slot(keys.SHARD_TAGS[shard].encode()))

    async with client_for(settings) as http:
        for article in articles:
            await put_article(http, article)
            warm = await http.post("/v1/views", json={"article": article, "visitor": "warm"})
            assert warm.status_code == 202, warm.text  # script and salt loaded everywhere
        services = http.app.holder["services"]  # type: ignore[attr-defined]
        client = services.identity.client(client_network(PEER, 32, 64))
        client_master = master_of_shard(keys.shard_of_digest(client))
        victim = next(m for m in cluster_server.masters if m is not client_master)
        stalled = {shard for shard in range(keys.SHARDS) if master_of_shard(shard) is victim}
        assert 0 < len(stalled) < keys.SHARDS

        def sleep() -> None:
            with victim.client() as conn:
                conn.execute_command("DEBUG", "SLEEP", 1.0)

        sleeper = asyncio.create_task(asyncio.to_thread(sleep))
        await asyncio.sleep(0.1)
        replies = await asyncio.gather(
            *(
                http.post("/v1/views", json={"article": article, "visitor": "during"})
                for article in articles
            )
        )
        await sleeper
        for shard, (article, reply) in enumerate(zip(articles, replies, strict=True)):
            if shard in stalled:
                assert reply.status_code == 503, (article, reply.text)
            else:
                assert reply.status_code == 202 and reply.json() == {"counted": True}, article
                assert await views_of(http, article) == 2
