"""What the time series cost Redis: memory per article-day and per shard-hour, and the merge
script's time per inbox entry.

    .venv/bin/python deploy/series_cost.py

31 simulated days (VIEWCOUNT_TIMEZONE=Europe/Kyiv) of 2,000 articles in 12 themes, every
article viewed four times a day, a rollup every six simulated hours; then MEMORY USAGE of
every series key; then the Redis CPU time of merging (merge.lua, nothing else) an inbox of
100,000 views spread over eight hours of 5-minute buckets, per inbox entry. Prints one JSON
object. Runs against whatever ``service`` package is on the path, so the same run on a
checkout without the series gives the merge's time before them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from service import buckets, keys
from service.catalog import Article, Catalog
from service.clock import ManualClock
from service.commit import Committer
from service.embedded import RedisServer
from service.ingest import View
from service.rollup import Rollup
from service.settings import Settings
from service.storage import connect

ARTICLES = 2000
THEMES = 12
DAYS = 31
VIEWS_PER_ARTICLE_DAY = 4
ROLLUP_EVERY_H = 6
MERGE_VIEWS = 100_000
START = 1_793_145_600.0  # 2026-10-28 00:00 UTC


async def simulate(server: RedisServer, sync: redis.Redis) -> dict[str, Any]:
    # A shared two-core box: a rollup's script may wait its turn longer than the 2 s default.
    settings = Settings(
        redis_url=server.url, log_json=False, timezone="Europe/Kyiv", redis_timeout_s=30
    )
    clock = ManualClock(START)
    store = connect(settings)
    rng = random.Random(13)
    try:
        catalog = Catalog(store, clock)
        ids = [f"series-article-{n:05d}-with-a-typical-news-slug" for n in range(ARTICLES)]
        for n, article in enumerate(ids):
            await catalog.put(
                Article(
                    article, f"Headline {n}", f"https://x.example/{n}", f"t-{n % THEMES}", None, 0
                )
            )
        committer, rollup = Committer(store, settings, clock), Rollup(store, settings, clock)
        # Memory: a rollup every ROLLUP_EVERY_H simulated hours, each article viewed a few
        # times a day at random moments.
        for block in range(DAYS * 24 // ROLLUP_EVERY_H):
            clock.t = START + (block + 1) * ROLLUP_EVERY_H * 3600
            views = [
                View(article, clock.t - rng.uniform(0, ROLLUP_EVERY_H * 3600), dedupe=False)
                for article in ids
                for _ in range(VIEWS_PER_ARTICLE_DAY * ROLLUP_EVERY_H // 24)
            ]
            await committer.submit_many(views)
            await rollup.run()
        memory = sizes(sync)
        # Merge cost: an inbox of MERGE_VIEWS views spread over eight hours of 5-minute
        # buckets, merged (and the windows slid) with Redis' own CPU clock around it.
        clock.t += 3600
        views = [
            View(rng.choice(ids), clock.t - rng.uniform(0, 8 * 3600), dedupe=False)
            for _ in range(MERGE_VIEWS)
        ]
        await committer.submit_many(views)
        entries = sum(int(sync.zcard(keys.inbox(shard))) for shard in range(keys.SHARDS))
        # The merge alone (a checkout without the series takes no zone).
        zoned = "zone" in inspect.signature(buckets._merge).parameters
        extra = (settings.zone,) if zoned else ()
        cpu_before = cpu_s(sync)
        for shard in range(keys.SHARDS):
            await buckets._merge(store, shard, clock.t, *extra)
        merge_cpu_s = cpu_s(sync) - cpu_before
        return {
            **memory,
            "merged_entries": entries,
            "merge_redis_cpu_us_per_entry": round(merge_cpu_s * 1e6 / entries, 2),
        }
    finally:
        await store.close()


def cpu_s(sync: redis.Redis) -> float:
    info = sync.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def sizes(sync: redis.Redis) -> dict[str, Any]:
    groups: dict[str, list[int]] = {"ld": [], "ser:h": [], "ser:ld": []}
    for key in sync.scan_iter(match="vc:*", count=1000):
        text = key.decode()
        for name in groups:
            if f":{name}:" in text and (name != "ld" or ":ser:" not in text):
                groups[name].append(int(sync.memory_usage(key, samples=0) or 0))
    return {
        "day_views_keys": len(groups["ld"]),
        "day_views_bytes_per_article_day": round(sum(groups["ld"]) / (ARTICLES * DAYS)),
        "hour_totals_keys": len(groups["ser:h"]),
        "hour_totals_bytes_per_key": round(sum(groups["ser:h"]) / max(1, len(groups["ser:h"]))),
        "day_totals_keys": len(groups["ser:ld"]),
        "day_totals_bytes_per_key": round(sum(groups["ser:ld"]) / max(1, len(groups["ser:ld"]))),
        "series_bytes_total": sum(sum(g) for g in groups.values()),
    }


def main() -> None:
    server = RedisServer().start()
    sync = redis.Redis(port=server.port)
    try:
        result = asyncio.run(simulate(server, sync))
    finally:
        sync.close()
        server.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
