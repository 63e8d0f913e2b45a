"""`python -m bench rollup`: the rollup at scale, and what it costs the beacons meanwhile.

Seeds 100,000 articles over 50 themes and 500 authors with 10 million views over the last 7
days (bench/seed.py), then measures: one full rollup with every list on (popular, themes,
authors, today, trending, movement: rollups MOVEMENT_S apart, so each compares with the one
before; target 2 s), the slowest Redis command during it (SLOWLOG, target 20 ms), the size of
the snapshot and the rank checkpoints, beacon p99 while rollups run back to back against p99
at rest (target 3x), and Redis memory per article.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import redis

from service import keys
from service.clock import SystemClock
from service.rollup import Rollup
from service.settings import Settings
from service.storage import Storage, connect
from service.windows import DAY, M5, local_midnight

from . import procs, seed, wrk
from .report import RESULTS
from .throughput import SERVICE, service_env

SLOWLOG_US = 1000  # log every command of a millisecond or more
INBOX_VIEWS = 1_200_000  # one 60 s rollup interval at 20,000 beacons/s
PACED = wrk.Load("beacon", connections=32, delay_ms=10)  # ~3k beacons/s, below saturation
LOAD_S = 8


def _settings(url: str, movement_s: float, **more: Any) -> Settings:
    return Settings(
        redis_url=url, log_json=False, log_level="warning", movement_s=movement_s, **more
    )


class Scheduled:
    """Rollups as a scheduler process runs them: one Rollup kept from one run to the next (what
    it read of the catalog and the movement checkpoint carry over), on one event loop and one
    Redis client; the first run is the cold one of a process that just started."""

    def __init__(self, url: str, movement_s: float, **settings: Any) -> None:
        self.runner = asyncio.Runner()
        self.settings = _settings(url, movement_s, **settings)
        self.store = self.runner.run(self._connect())
        self.rollup = Rollup(self.store, self.settings, SystemClock(), helped=True)
        # As `viewcount scheduler` does before its first rollup.
        self.helpers = self.runner.run(self.rollup.start_helpers())

    async def _connect(self) -> Storage:
        return connect(self.settings)

    def resident_mib(self) -> list[float]:
        """Resident memory of each helper process (this one also holds the bench's seed and
        its other Rollup, so its own says nothing of a scheduler's)."""
        return [_rss_mib(helper.pid) for helper in self.rollup.helpers.helpers]

    def run(self) -> tuple[int, bool, int, int]:
        result = self.runner.run(self.rollup.run())
        return result.duration_ms, result.published, result.generation, result.processes

    def close(self) -> None:
        self.rollup.close()
        self.runner.run(self.store.close())
        self.runner.close()


def timed_rollup(client: redis.Redis, scheduled: Scheduled) -> dict[str, Any]:
    """One rollup: its duration, the slowest command Redis ran meanwhile, and the size of
    what it wrote (the snapshot; the rank checkpoints movement keeps)."""
    client.slowlog_reset()
    duration_ms, published, generation, processes = scheduled.run()
    slow = client.slowlog_get(100_000)
    worst = max(slow, key=lambda e: e["duration"], default=None)
    snapshot_key = keys.snapshot(generation)
    checkpoints = [key for key in client.scan_iter(match=f"{keys.RANK}:ranks:*", count=1000)]
    return {
        "duration_ms": duration_ms,
        "published": published,
        "processes": processes,
        "resident_mib": scheduled.resident_mib(),
        "slowlog_max_ms": worst["duration"] / 1000 if worst else 0.0,
        "slowest_command": _command(worst) if worst else "",
        "commands_over_1ms": len(slow),
        "snapshot_lists": client.hlen(snapshot_key),
        "snapshot_bytes": client.memory_usage(snapshot_key, samples=0) or 0,
        "author_lists_short": _short_author_lists(client, snapshot_key),
        "checkpoints": len(checkpoints),
        "checkpoint_bytes": sum(client.memory_usage(k, samples=0) or 0 for k in checkpoints),
    }


def _rss_mib(pid: int) -> float:
    """A process's resident memory (VmRSS), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _short_author_lists(client: redis.Redis, snapshot_key: str) -> dict[str, int]:
    """Window -> author lists holding fewer than AUTHOR_RANKING_SIZE items (their authors have
    fewer listable articles with views in the window), and their total as "of"."""
    size = Settings.model_fields["author_ranking_size"].default
    short: dict[str, int] = defaultdict(int)
    for name, payload in client.hscan_iter(snapshot_key, match="*|@*", count=64):
        short["of"] += 1
        if len(json.loads(payload)) < size:
            short[name.split("|", 1)[0]] += 1
    return dict(short)


def _command(entry: dict[str, Any]) -> str:
    text = entry["command"]
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return text[:60]


def memory(client: redis.Redis, articles: list[str], now: float) -> dict[str, int]:
    """Bytes of every key kept for one article alone (its catalog hash, its reader counts)."""
    sizes = {}
    today = DAY.index(now)
    for article in articles:
        own = [keys.meta(article)] + [keys.readers(article, d) for d in range(today - 8, today + 1)]
        sizes[article] = sum(client.memory_usage(key) or 0 for key in own)
    return sizes


def fill_inboxes(client: redis.Redis, per_article: list[int], now: float, views: int) -> int:
    """One rollup interval of beacon views waiting in the inboxes, drawn with the seed's
    popularity (the inbox holds one entry per article and 5 minutes); returns the entries."""
    rng = random.Random(7)
    drawn = Counter(rng.choices(range(len(per_article)), weights=per_article, k=views))
    m5 = M5.index(now)
    by_shard: dict[int, dict[str, int]] = defaultdict(dict)
    for n, count in drawn.items():
        article = seed.article_id(n)
        by_shard[keys.shard_of(article)][keys.inbox_member(m5, article)] = count
    pipe = client.pipeline(transaction=False)
    for shard, entries in by_shard.items():
        items = list(entries.items())
        for start in range(0, len(items), 10_000):
            pipe.zadd(keys.inbox(shard), dict(items[start : start + 10_000]))
    pipe.execute()
    return len(drawn)


def beacon_p99(port: int, articles: int, url: str, rollups_nice: int | None) -> dict[str, Any]:
    """p99 of a paced beacon load: at rest (``rollups_nice`` None), or while another process
    runs rollups back to back at that nice level, as a scheduler process would."""
    roller = None
    if rollups_nice is not None:
        roller = subprocess.Popen(
            [sys.executable, "-m", "bench.roller", url],
            cwd=procs.ROOT,
            text=True,
            stdout=subprocess.PIPE,
            preexec_fn=lambda: os.nice(rollups_nice),
        )
        time.sleep(1.0)  # imported and rolling
    outcome = wrk.run(procs.ensure_wrk(), port, PACED, LOAD_S, uuid.uuid4().hex[:8], articles, "")
    durations: list[int] = []
    if roller is not None:
        roller.terminate()
        out, _ = roller.communicate(timeout=30)
        durations = [int(line) for line in out.split() if line.isdigit()]
    return {
        "p50_ms": outcome.p50_ms,
        "p99_ms": outcome.p99_ms,
        "per_s": outcome.per_s,
        "errors": outcome.errors,
        "rollups_ms": durations,
    }


def main(args: argparse.Namespace, log: Any) -> None:
    started = time.monotonic()
    log(
        f"bench rollup: {args.articles:,} articles over {args.themes} themes and "
        f"{args.authors} authors, {args.views:,} "
        "views over the last 7 days (Zipf s=1), written straight to a private redis-server "
        "(appendonly no): the catalog through its script, the views as buckets, the "
        "windows by the service's own maintenance (bench/seed.py)"
    )
    now = time.time()
    # Every Settings of this run and of the processes it starts (the seed's maintenance, the
    # rollups, the service, the roller) in one zone, where it is 22 o'clock now.
    os.environ["VIEWCOUNT_TIMEZONE"] = zone = seed.late_day_zone(now)
    today_h = (now - local_midnight(now, ZoneInfo(zone))) / 3600
    log(f"`today` in {zone}: its last {today_h:.1f} hours (a day's end, at any hour of the run)")
    with procs.redis_server() as redis_port:
        url = f"redis://127.0.0.1:{redis_port}/0"
        client = redis.Redis(port=redis_port, decode_responses=True)
        empty = int(client.info("memory")["used_memory"])
        shards, per_article = seed.build(args.articles, args.views, now)
        built = time.monotonic()
        asyncio.run(seed.write_catalog(url, args.articles, args.themes, args.authors))
        seed.write_counters(client, shards, now)
        asyncio.run(seed.slide_windows(url, now))
        seed.write_readers(client, shards, now)
        keep = Settings.model_fields["min_readers"].default
        seed.write_samples(client, shards, now, keep)
        seed.mark_folded(client, now)
        building = time.monotonic()
        rebuilt = asyncio.run(seed.build_recent(url, now, keep))
        built_recent_s = time.monotonic() - building
        del shards
        used = int(client.info("memory")["used_memory"])
        log(
            f"seeded in {time.monotonic() - started:.0f} s ({built - started:.0f} s to build, "
            f"{len(client.keys('*')) if args.articles <= 1000 else client.dbsize():,} keys)"
        )
        ranked = sorted(range(args.articles), key=lambda n: -per_article[n])
        picks = {"hottest": ranked[0], "median": ranked[len(ranked) // 2], "coldest": ranked[-1]}
        own = memory(client, [seed.article_id(n) for n in picks.values()], now)
        log(
            f"recent readers built from the samples (as for a store from before them): "
            f"{rebuilt:,} articles in {built_recent_s:.1f} s"
        )
        record: dict[str, Any] = {
            "recent_readers_built_s": round(built_recent_s, 1),
            "timezone": zone,
            "today_hours": round(today_h, 2),
            "articles": args.articles,
            "themes": args.themes,
            "views": args.views,
            "used_memory_per_article": (used - empty) // args.articles,
            "own_keys_bytes": {
                name: {"views": per_article[n], "bytes": own[seed.article_id(n)]}
                for name, n in picks.items()
            },
        }
        log(
            f"Redis memory: {(used - empty) / 2**20:,.0f} MiB in all, "
            f"{record['used_memory_per_article']:,} B per article; one article's own keys "
            "(catalog hash + a week of reader HyperLogLogs): "
            + ", ".join(
                f"{name} ({v['views']:,} views) {v['bytes']:,} B"
                for name, v in record["own_keys_bytes"].items()
            )
        )
        client.config_set("slowlog-log-slower-than", SLOWLOG_US)
        client.config_set("slowlog-max-len", 100_000)
        record["rollups"] = []
        record["authors"], record["movement_s"] = args.authors, args.movement_s
        # Two Rollups in turn, each as a scheduler keeps one: the service's default (helper
        # processes from VIEWCOUNT_ROLLUP_SPLIT_ARTICLES on, started before the first rollup as
        # `viewcount scheduler` starts them), and the same in one process, the baseline of the
        # same sitting.
        scheduled = Scheduled(url, args.movement_s)
        alone = Scheduled(url, args.movement_s, rollup_processes=1)
        record["rollups_one_process"] = []
        for n in range(args.rollups):
            for rollup, rows, label in (
                (scheduled, record["rollups"], ""),
                (alone, record["rollups_one_process"], ", one process"),
            ):
                if n or label:  # the next rollup has a checkpoint MOVEMENT_S old to compare with
                    time.sleep(args.movement_s)
                result = timed_rollup(client, rollup)
                result["cold"] = n == 0
                rows.append(result)
                log(
                    f"rollup {n + 1}{label}"
                    + (" (the process's first: nothing read before)" if n == 0 else "")
                    + f": {result['duration_ms']:,} ms in {result['processes']} process"
                    + ("es" if result["processes"] > 1 else "")
                    + f" (target ≤ 2,000), slowest command {result['slowlog_max_ms']:.1f} ms "
                    f"(target ≤ 20): {result['slowest_command']}; "
                    f"{result['commands_over_1ms']} commands ≥ 1 ms; "
                    f"snapshot {result['snapshot_lists']:,} lists, "
                    f"{result['snapshot_bytes'] / 2**20:.1f} MiB; {result['checkpoints']} rank "
                    f"checkpoints, {result['checkpoint_bytes'] / 2**20:.1f} MiB; author lists "
                    f"shorter than {Settings.model_fields['author_ranking_size'].default}: "
                    f"{result['author_lists_short']}; helper resident MiB: "
                    + (", ".join(f"{mib:.0f}" for mib in result["resident_mib"]) or "none")
                )
        alone.close()
        warm = {
            key: statistics.median([r["duration_ms"] for r in record[key][1:]] or [0])
            for key in ("rollups", "rollups_one_process")
        }
        record["warm_ratio"] = warm["rollups"] / warm["rollups_one_process"]
        log(
            f"warm rollups, median: {warm['rollups']:,.0f} ms as the service runs them, "
            f"{warm['rollups_one_process']:,.0f} ms in one process "
            f"({record['warm_ratio']:.2f}x)"
        )
        entries = fill_inboxes(client, per_article, time.time(), INBOX_VIEWS)
        result = timed_rollup(client, scheduled)
        scheduled.close()
        record["rollup_full_inbox"] = {"views": INBOX_VIEWS, "entries": entries, **result}
        log(
            f"rollup after one interval of {INBOX_VIEWS:,} beacon views ({entries:,} inbox "
            f"entries to merge): {result['duration_ms']:,} ms, slowest command "
            f"{result['slowlog_max_ms']:.1f} ms: {result['slowest_command']}; "
            f"{result['commands_over_1ms']} commands ≥ 1 ms"
        )
        if args.no_beacons:
            client.close()
            _save(record, log, started)
            return
        env = service_env(url)
        with procs.uvicorn(SERVICE, 1, env, factory=True) as port:
            beacon_p99(port, args.articles, url, None)  # warm up
            for label, nice in (("at rest", None), ("during rollups", 0)) * 3:
                result = beacon_p99(port, args.articles, url, nice)
                record.setdefault("beacons", []).append({"while": label, **result})
                log(
                    f"beacon p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms {label}"
                    + (
                        f" ({len(result['rollups_ms'])} back to back, median "
                        f"{statistics.median(result['rollups_ms'] or [0]):.0f} ms)"
                        if nice is not None
                        else ""
                    )
                )
        p99 = {
            label: statistics.median(b["p99_ms"] for b in record["beacons"] if b["while"] == label)
            for label in ("at rest", "during rollups")
        }
        record["p99_ratio"] = p99["during rollups"] / p99["at rest"]
        log(
            f"median p99 during rollups {p99['during rollups']:.1f} ms / at rest "
            f"{p99['at rest']:.1f} ms = {record['p99_ratio']:.1f}x (target ≤ 3x); paced beacons: "
            f"{PACED.connections} connections, one request each per {PACED.delay_ms} ms; rollups "
            "back to back in a process of their own, as the scheduler runs them"
        )
        client.close()
    _save(record, log, started)


def _save(record: dict[str, Any], log: Any, started: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / time.strftime("rollup-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(record, indent=2))
    log(f"\nresults: {path} ({time.monotonic() - started:.0f} s)")
