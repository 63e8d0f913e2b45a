"""Measure what one Redis node takes with viewcount's key design: the README's "Sizing" figures.

    .venv/bin/python deploy/sizing.py            # about two minutes on two cores

1. Throughput: beacon-like views (a new reader each, dedupe, unique readers, rate limit) go
   through the service's own group commit for a while; Redis's CPU time (INFO cpu) and its
   script time (INFO commandstats) per view give the views/s one Redis core can take, apart
   from how fast this Python client can feed it; then the same against a three-master Redis
   Cluster (CPU summed over the masters, and the busiest master's share).
2. Memory: a catalog lives through 31 simulated days (views every hour, a rollup every hour,
   old buckets aged out), then batch events with an event_id; MEMORY USAGE of every key,
   grouped, gives the bytes per article, per dedupe marker (one per view for
   VIEWCOUNT_DEDUPE_WINDOW_S) and per event_id marker (one per event for EVENT_ID_TTL_S).
3. Integrity memory: one hour of beacons, each from a new client network, gives the bytes
   the per-client caps keep per counted view-second, and the readers samples per article-hour.
Each part runs its own redis-server (AOF everysec, as in docker-compose.yml) on a free port.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from service.catalog import Article, Catalog
from service.clock import ManualClock, SystemClock
from service.commit import Committer
from service.embedded import RedisServer
from service.ingest import View
from service.rollup import Rollup
from service.scripts.record import CAPS_RETENTION_S
from service.settings import Settings
from service.storage import Storage, connect

THROUGHPUT_S = 20.0
PRODUCERS = 1024
ARTICLES = 2000
MEMORY_ARTICLES = 200
MEMORY_DAYS = 31
VIEWS_PER_ARTICLE_HOUR = 2
EVENT_MARKERS = 1000
INTEGRITY_VIEWS = 100_000  # ~28 views a second for an hour
T0 = 1_795_780_800.0


class Server:
    """A redis-server configured like the compose file's (AOF everysec), in a temporary
    directory, with a client for INFO and MEMORY USAGE."""

    def __init__(self) -> None:
        self.redis = RedisServer("--appendonly", "yes", "--appendfsync", "everysec").start()
        self.port = self.redis.port
        self.sync = redis.Redis(port=self.port, decode_responses=True)

    @property
    def url(self) -> str:
        return self.redis.url

    def cpu_s(self) -> float:
        info = self.sync.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def stop(self) -> None:
        self.sync.close()
        self.redis.stop()


def settings_for(server: Server, **overrides: Any) -> Settings:
    return Settings(redis_url=server.url, log_json=False, **overrides)


async def load_catalog(store: Storage, clock: Any, count: int) -> list[str]:
    catalog = Catalog(store, clock)
    ids = [f"sizing-article-{n:05d}-with-a-typical-news-slug" for n in range(count)]
    for n, article in enumerate(ids):
        await catalog.put(
            Article(
                article,
                f"A typical headline of article {n}, sixty chars",
                f"https://news.example.com/2026/11/{article}",
                f"theme-{n % 12}",
                "2026-11-27T09:35:00Z",
                0,
            )
        )
    return ids


class Cluster:
    """Three masters from the test suite's cluster harness (repository checkouts only)."""

    def __init__(self) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.cluster import RedisClusterProcess

        self.cluster = RedisClusterProcess(
            masters=3, node_args=("--appendonly", "yes", "--appendfsync", "everysec")
        ).start()
        self.url = self.cluster.url
        self.nodes = [redis.Redis(port=m.port, decode_responses=True) for m in self.cluster.masters]

    def cpu_s(self) -> list[float]:
        return [
            float(i["used_cpu_user"]) + float(i["used_cpu_sys"])
            for i in (n.info("cpu") for n in self.nodes)
        ]

    def stop(self) -> None:
        for node in self.nodes:
            node.close()
        self.cluster.stop()


async def throughput(cluster: bool) -> dict[str, Any]:
    """Beacon views through the group commit, as fast as this client can send them."""
    server: Any = Cluster() if cluster else Server()
    nodes = server.nodes if cluster else [server.sync]
    settings = Settings(
        redis_url=server.url, redis_cluster=cluster, log_json=False, rate_limit_per_min=600
    )
    store = connect(settings)
    clock = SystemClock()
    try:
        ids = await load_catalog(store, clock, ARTICLES)
        committer = Committer(store, settings, clock)
        weights = [1 / (rank + 1) for rank in range(len(ids))]  # a long tail, like a news site
        for node in nodes:
            node.config_resetstat()
        cpu_before, started = cpu_of(server), time.monotonic()
        views = 0
        deadline = started + THROUGHPUT_S

        async def producer() -> None:
            nonlocal views
            while time.monotonic() < deadline:
                article = random.choices(ids, weights)[0]
                await committer.submit(
                    View(article, clock.now(), reader=os.urandom(16), client=os.urandom(12))
                )
                views += 1

        await asyncio.gather(*(producer() for _ in range(PRODUCERS)))
        elapsed = time.monotonic() - started
        cpu = [after - before for after, before in zip(cpu_of(server), cpu_before, strict=True)]
        calls = sum(
            int(stat["calls"])
            for node in nodes
            for name, stat in node.info("commandstats").items()
            if "eval" in name
        )
        return {
            "views": views,
            "seconds": round(elapsed, 1),
            "client_views_per_s": round(views / elapsed),
            "redis_cpu_s_per_node": [round(c, 2) for c in cpu],
            "views_per_redis_cpu_s": round(views / sum(cpu)),
            "busiest_node_share": round(max(cpu) / sum(cpu), 2),
            "script_calls": calls,
            "views_per_call": round(views / max(1, calls), 1),
        }
    finally:
        await store.close()
        server.stop()


def cpu_of(server: Any) -> list[float]:
    cpu = server.cpu_s()
    return cpu if isinstance(cpu, list) else [cpu]


async def memory() -> dict[str, Any]:
    """A catalog through 31 simulated days; bytes per article once old buckets age out."""
    server = Server()
    settings = settings_for(server, rate_limit_per_min=0)
    store = connect(settings)
    clock = ManualClock(T0)
    try:
        ids = await load_catalog(store, clock, MEMORY_ARTICLES)
        committer = Committer(store, settings, clock)
        rollup = Rollup(store, settings, clock)
        views = 0
        for _hour in range(MEMORY_DAYS * 24):
            batch = [
                View(article, clock.now(), reader=os.urandom(16), client=os.urandom(12))
                for article in ids
                for _ in range(VIEWS_PER_ARTICLE_HOUR)
            ]
            views += sum(1 for code in await committer.submit_many(batch) if code == 1)
            await rollup.run()
            clock.advance(3600)
        # Batch events that carry an event_id: one idempotency marker each.
        events = [
            View(ids[n % len(ids)], clock.now(), event=os.urandom(16).hex(), dedupe=False)
            for n in range(EVENT_MARKERS)
        ]
        views += sum(1 for code in await committer.submit_many(events) if code == 1)
        groups = key_memory(server.sync)
        return {
            "articles": MEMORY_ARTICLES,
            "days": MEMORY_DAYS,
            "views_counted": views,
            "used_memory_bytes": int(server.sync.info("memory")["used_memory"]),
            "groups": groups,
            **per_article(groups),
        }
    finally:
        await store.close()
        server.stop()


async def integrity_memory() -> dict[str, Any]:
    """What the per-client caps and the lists' readers samples keep: one clock hour of
    beacon views, each from a new client network (the worst case: a cap field per view),
    over MEMORY_ARTICLES articles, one of them flooded by one network past its cap."""
    server = Server()
    settings = settings_for(server, rate_limit_per_min=0)
    store = connect(settings)
    clock = ManualClock(T0 + 60)
    try:
        ids = await load_catalog(store, clock, MEMORY_ARTICLES)
        committer = Committer(store, settings, clock)
        flood = os.urandom(12)
        for start in range(0, INTEGRITY_VIEWS, 1000):
            views = [
                View(ids[n % len(ids)], clock.now(), reader=os.urandom(16), client=os.urandom(12))
                for n in range(start, min(INTEGRITY_VIEWS, start + 1000))
            ]
            views += [View(ids[0], clock.now(), reader=os.urandom(16), client=flood)] * 50
            await committer.submit_many(views)
        groups = key_memory(server.sync)
        fields = sum(int(server.sync.hlen(key)) for key in server.sync.scan_iter("*:cap:*"))
        per_field = groups["cap"]["bytes"] / fields
        # An hour's caps hash lives through that hour and the next (record.lua reads both),
        # so a steady rate of one counted view a second from new networks holds two hours
        # of fields.
        resident_s = 3600 + CAPS_RETENTION_S
        samples = groups["rs"]["bytes"] + groups.get("top", {}).get("bytes", 0)
        return {
            "views": INTEGRITY_VIEWS,
            "cap_fields": fields,
            "cap_bytes_per_field": round(per_field),
            "cap_bytes_per_view_second": round(per_field * resident_s),
            "sample_bytes_per_article_hour": round(samples / MEMORY_ARTICLES),
            "groups": {k: groups[k] for k in ("cap", "rs", "top", "autoh") if k in groups},
        }
    finally:
        await store.close()
        server.stop()


def key_memory(conn: redis.Redis) -> dict[str, dict[str, int]]:
    """MEMORY USAGE summed by kind of key (the part after the hash tag, numbers dropped)."""
    totals: dict[str, Counter[str]] = {}
    for key in conn.scan_iter(count=1000):
        kind = group_of(str(key))
        usage = int(conn.memory_usage(key, samples=0) or 0)
        entry = totals.setdefault(kind, Counter())
        entry["keys"] += 1
        entry["bytes"] += usage
    return {kind: dict(c) for kind, c in sorted(totals.items())}


def group_of(key: str) -> str:
    if "{rank}" in key:  # rankings: a fixed cost, not per article
        return "rank:snap" if ":snap:" in key else "rank"
    if "{salt}" in key:
        return "salt"
    rest = key.split("}", 1)[1].lstrip(":") if "}" in key else key
    head = rest.split(":", 1)[0]
    if head == "b":
        return f"bucket:{rest.split(':')[1]}"
    if head == "win":
        return "window"
    return head


def per_article(groups: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Bytes per article at steady state, and per short-lived marker.

    The simulation runs 31 days in a minute or two, so keys that expire on Redis's clock
    (reader HyperLogLogs after 2 days, dedupe markers after 30 minutes, snapshots after their
    grace) are all still there: they are reported per key, for the formulas in the README.
    """

    def size(*kinds: str) -> int:
        return sum(groups.get(kind, {}).get("bytes", 0) for kind in kinds)

    def each(kind: str) -> int:
        group = groups.get(kind, {"keys": 0, "bytes": 0})
        return round(group["bytes"] / max(1, group["keys"]))

    meta = size("a") / MEMORY_ARTICLES
    buckets = size("bucket:m5", "bucket:h", "bucket:d") / MEMORY_ARTICLES
    sums = (
        size("window", "total", "articles", "theme", "themes", "winfrom", "bots", "auto")
        / MEMORY_ARTICLES
    )
    readers_day = each("u")
    return {
        "meta_bytes_per_article": round(meta),
        "bucket_bytes_per_article": round(buckets),
        "sums_and_indexes_bytes_per_article": round(sums),
        "readers_bytes_per_article_day": readers_day,
        # today's and two retained days' unique-reader HyperLogLogs
        "steady_bytes_per_active_article": round(meta + buckets + sums + 3 * readers_day),
        "idle_bytes_per_article": round(meta + sums),
        "dedupe_marker_bytes": each("dd"),
        "event_marker_bytes": each("ev"),
        "snapshot_bytes": each("rank:snap"),
    }


async def main() -> None:
    results = {
        "throughput": await throughput(cluster=False),
        "throughput_cluster_3_masters": await throughput(cluster=True),
        "memory": await memory(),
        "integrity_memory": await integrity_memory(),
    }
    text = json.dumps(results, indent=2)
    print(text)
    out = Path(os.environ.get("VIEWCOUNT_FIGURES_DIR", "test-output")) / "sizing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
