"""`python -m bench eventlog`: what the event log costs. Redis CPU per view with the log on and
off (record.lua calls as the group commit sends them, interleaved rounds on one private
Redis), Redis memory per event buffered in the streams, and bytes per event in the Parquet
archive after a drain.

The views are a news site's in miniature: 2,000 articles read with a long tail (the top one
gets about a fifth of the views), 25,000 readers on as many client networks, each reading a
few articles; every view a beacon with a reader and a client (dedupe and the per-client cap
on, as in production).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service import keys
from service.clock import ManualClock
from service.embedded import RedisServer
from service.eventlog.drain import Drain
from service.ingest import View
from service.scripts import put_article, record
from service.settings import Settings
from service.storage import Storage, connect, ops

from . import procs

ARTICLES = 2_000
READERS = 25_000
VIEWS = 40_000
ROUNDS = 3
LOG_BOUND = 1_000_000  # never reached here: nothing is trimmed while measuring
Log = Callable[[str], None]


def _views(count: int, seed: int) -> list[View]:
    rng = random.Random(seed)
    now = time.time()
    views = []
    for _ in range(count):
        article = f"article-{int(ARTICLES * rng.random() ** 3)}"
        reader = rng.randrange(READERS)
        views.append(
            View(
                article,
                now,
                reader=hashlib.blake2b(f"reader{reader}".encode(), digest_size=16).digest(),
                client=hashlib.blake2b(f"net{reader}".encode(), digest_size=12).digest(),
            )
        )
    return views


def _calls(views: list[View], group: int, now: float, limits: record.Limits) -> list[Any]:
    """record.lua calls of ``group`` views each, one section per shard: a single node's
    group commit (service/commit.py)."""
    calls = []
    for start in range(0, len(views), group):
        by_shard: dict[int, list[View]] = defaultdict(list)
        for view in views[start : start + group]:
            by_shard[keys.shard_of(view.article)].append(view)
        calls.append(record.call(sorted(by_shard.items()), now, limits, rate_limited=False))
    return calls


async def _fresh(storage: Storage) -> None:
    await storage.execute([ops.Op(("FLUSHALL",), str)])
    puts = [
        put_article.call(
            f"article-{n}", f"Title {n}", f"https://news.example.com/{n}", "news", None, 0
        )
        for n in range(ARTICLES)
    ]
    await storage.run_all(puts)


async def _round(storage: Storage, pid: int, calls: list[Any], views: int) -> float:
    """Redis CPU µs per view for running ``calls``."""
    before = procs.cpu_seconds([pid])
    for start in range(0, len(calls), 64):  # 64 calls in flight, as 64 connections would
        await storage.run_all(calls[start : start + 64])
    return 1e6 * (procs.cpu_seconds([pid]) - before) / views


async def _measure(server: RedisServer, log: Log) -> dict[str, Any]:
    assert server.process is not None
    settings = Settings(redis_url=server.url, log_json=False)
    storage = connect(settings)
    now = time.time()
    found: dict[str, Any] = {}
    try:
        for group in (32, 1):
            count = VIEWS if group > 1 else VIEWS // 4
            views = _views(count, seed=group)
            cpu: dict[str, list[float]] = {"off": [], "on": []}
            for n in range(ROUNDS):
                for side in ("off", "on") if n % 2 == 0 else ("on", "off"):
                    bound = LOG_BOUND if side == "on" else 0
                    limits = record.Limits(1800, 86400, 0, 20, 3, bound)
                    await _fresh(storage)
                    cpu[side].append(
                        await _round(
                            storage, server.process.pid, _calls(views, group, now, limits), count
                        )
                    )
            off, on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
            row = f"{group} view{'s' if group > 1 else ''} a call"
            found[row] = {"redis_cpu_us_per_view_off": round(off, 2), "on": round(on, 2)}
            found[row]["increase"] = round(on / off - 1, 3)
            log(
                f"  {row}: Redis CPU per view {off:.2f} µs without the log, {on:.2f} µs "
                f"with it ({on / off - 1:+.1%})"
            )
            found[row].update(await _sizes(storage, settings, count, log, row))
    finally:
        await storage.close()
    return found


async def _sizes(
    storage: Storage, settings: Settings, views: int, log: Log, row: str
) -> dict[str, float]:
    """After an "on" round: Redis memory per buffered event, then bytes per archived event."""
    usage = await storage.execute(
        [
            ops.Op(("MEMORY", "USAGE", keys.event_log(s), "SAMPLES", "0"), lambda r: int(r or 0))
            for s in range(keys.SHARDS)
        ]
    )
    logged = views  # every view is a decision: counted, duplicate or automated
    memory = sum(usage) / logged
    with tempfile.TemporaryDirectory(prefix="vc-eventlog-") as directory:
        drain = Drain(
            storage,
            settings.model_copy(update={"event_log_dir": directory}),
            ManualClock(time.time()),
        )
        result = await drain.run()
        size = _archived_bytes(Path(directory))
    assert result.events == logged, (result.events, logged)
    log(
        f"  {row}: {memory:.1f} B of Redis memory per buffered event, "
        f"{size / logged:.1f} B per event in Parquet ({len(result.files)} files)"
    )
    return {
        "redis_bytes_per_event": round(memory, 1),
        "parquet_bytes_per_event": round(size / logged, 2),
    }


def _archived_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("day=*/*.parquet"))


def main(log: Log) -> dict[str, Any]:
    log(
        f"bench eventlog: {VIEWS:,} views over {ARTICLES:,} articles and {READERS:,} readers, "
        f"{ROUNDS} interleaved rounds"
    )
    with RedisServer() as server:
        return asyncio.run(_measure(server, log))
