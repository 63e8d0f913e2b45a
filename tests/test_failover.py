"""A three-master, three-replica cluster losing a master under load; WAIT for replicas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from redis.crc import key_slot

from service import keys

from .cluster import ClusterNode, RedisClusterProcess, redis_client
from .live import (
    HttpConnection,
    LoadResult,
    admin_put,
    audit,
    beacon_load,
    service,
    total_views,
)
from .support import client_for, make_settings, put_article, views_of
from .test_faults import record_figure

pytestmark = pytest.mark.cluster
ARTICLES = [f"ha-article-{n}" for n in range(48)]  # every shard, so every master


@pytest.fixture(scope="module")
def ha_cluster() -> Iterator[RedisClusterProcess]:
    """3 masters + 3 replicas; a dead master is noticed after one second."""
    cluster = RedisClusterProcess(
        masters=3,
        replicas=1,
        node_timeout_ms=1000,
        node_args=("--appendonly", "yes", "--appendfsync", "always"),
    ).start()
    yield cluster
    cluster.stop()


def replica_of(cluster: RedisClusterProcess, master: ClusterNode) -> ClusterNode:
    for node in cluster.nodes:
        if node.alive():
            info = node.info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == master.port:
                return node
    raise LookupError(f"no replica follows {master.port}")


def article_on(shard: int) -> str:
    n = 0
    while keys.shard_of(f"wait-{n}") != shard:
        n += 1
    return f"wait-{n}"


def shard_served_by(cluster: RedisClusterProcess, master: ClusterNode) -> int:
    return next(
        s
        for s, tag in enumerate(keys.SHARD_TAGS)
        if cluster.master_of_slot(key_slot(tag.encode())) is master
    )


async def test_wait_replicas_trades_availability_for_durability(
    ha_cluster: RedisClusterProcess,
) -> None:
    """With VIEWCOUNT_REDIS_WAIT_REPLICAS=1 a view is acknowledged only once a replica has it;
    while a shard's replica is frozen, that shard's views answer 503 (and count once)."""
    await asyncio.to_thread(ha_cluster.wait_healthy)
    ha_cluster.flush()
    settings = make_settings(
        ha_cluster.url, redis_cluster=True, redis_wait_replicas=1, redis_wait_timeout_ms=1000
    )
    frozen_master, other_master = ha_cluster.masters[0], ha_cluster.masters[1]
    stuck = article_on(shard_served_by(ha_cluster, frozen_master))
    free = article_on(shard_served_by(ha_cluster, other_master))
    async with client_for(settings) as http:
        for article in (stuck, free):
            await put_article(http, article)
            assert (await beacon(http, article, "before")).json() == {"counted": True}
        replica = replica_of(ha_cluster, frozen_master)
        replica.pause()
        try:
            unconfirmed = await beacon(http, stuck, "during")
            confirmed = await beacon(http, free, "during")
        finally:
            replica.resume()
        assert unconfirmed.status_code == 503
        assert unconfirmed.json()["code"] == "storage_unavailable"
        assert confirmed.json() == {"counted": True}
        # The unconfirmed view is on the master: the client's retry is a duplicate.
        assert (await beacon(http, stuck, "during")).json() == {
            "counted": False,
            "reason": "duplicate",
        }
        assert (await beacon(http, stuck, "after")).json() == {"counted": True}
        assert await views_of(http, stuck) == 3
        assert await views_of(http, free) == 2


async def beacon(http: httpx.AsyncClient, article: str, visitor: str) -> httpx.Response:
    return await http.post("/v1/views", json={"article": article, "visitor": visitor})


async def test_a_dead_master_is_replaced_and_no_acknowledged_view_is_lost(
    ha_cluster: RedisClusterProcess,
) -> None:
    """SIGKILL one master under load: its replica takes over, the dead one comes back as a
    replica, the API answers 202 or 503 throughout (never 500, never silence), and every 202
    is in the count (WAIT 1: every acknowledged view was on a replica too), checked view by
    view by its event id's marker."""
    await asyncio.to_thread(ha_cluster.wait_healthy)
    ha_cluster.flush()
    victim = ha_cluster.masters[1]
    victim_slot = key_slot(keys.SHARD_TAGS[shard_served_by(ha_cluster, victim)].encode())
    with service(
        ha_cluster.url,
        redis_cluster="true",
        redis_wait_replicas=1,
        redis_timeout_s=1.0,
        rate_limit_per_min=10_000_000,
    ) as svc:
        conn = HttpConnection(svc.port)
        for article in ARTICLES:
            await admin_put(conn, article)
        before = await total_views(conn, ARTICLES)
        stop = asyncio.Event()
        result = LoadResult()
        load = asyncio.create_task(
            beacon_load(
                svc.port, ARTICLES, None, connections=16, stop=stop, timeout_s=15, result=result
            )
        )
        await asyncio.sleep(1.0)
        acked_before_kill = result.acked
        victim.kill()
        killed_at = time.monotonic()
        await asyncio.to_thread(wait_promoted, ha_cluster, victim, victim_slot)
        promoted_at = time.monotonic()
        victim.start()  # the old master comes back as a replica of the promoted one
        await asyncio.to_thread(ha_cluster.wait_healthy, 30)
        healed_at = time.monotonic()
        await asyncio.sleep(1.5)
        stop.set()
        await load
        after = await total_views(conn, ARTICLES)
        await conn.close()
        log = svc.log()
    client = redis_client(ha_cluster)
    try:
        stored = await audit(client, result)
    finally:
        await client.aclose()
    assert result.failures == {}, result.failures  # every request got an answer
    assert set(result.statuses) <= {202, 503}, (result.statuses, log)
    assert acked_before_kill > 0
    assert any(at > healed_at for at in result.acked_at)  # serving again after the switch
    counted = after - before
    assert stored.lost == [], (stored.lost_count, stored.lost[:5])  # no acknowledged view lost
    assert counted == stored.stored  # a view counts exactly when its marker is stored
    assert counted >= result.acked
    assert counted <= result.acked + result.statuses[503]  # nothing counted twice
    record_figure("cluster_failover_promoted_s", round(promoted_at - killed_at, 2))
    record_figure("cluster_failover_503", result.statuses[503])
    record_figure("cluster_failover_acked", result.acked)
    record_figure("cluster_failover_lost", stored.lost_count)
    record_figure("cluster_failover_503_but_counted", stored.stored_unacked)


def wait_promoted(cluster: RedisClusterProcess, victim: ClusterNode, slot: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if cluster.master_of_slot(slot) is not victim and cluster.healthy():
                return
        except LookupError:
            pass
        time.sleep(0.05)
    raise TimeoutError("no replica was promoted")
