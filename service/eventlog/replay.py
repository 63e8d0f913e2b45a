"""`viewcount replay`: every counter rebuilt from the archive, into an empty Redis.

The catalog comes from the export the drain keeps beside the archive; then, per article, the
all-time total (imported views plus counted, minus purged), bot and automated views, the
inbox of every 5-minute bucket (which the closing rollup merges into the buckets and window
sets exactly as it merges beacons), the readers samples the lists' minimum-readers rule reads
and the daily unique-reader counts still kept. Everything is written as absolute values, so a
replay that stopped half way is simply run again.

Not rebuilt (nothing the log holds says them): dedupe and event-id markers (a retry of an
event already counted may count again within their TTLs), rate-limit and cap counters of the
current hour, the suspicious report's hourly history, the views-per-minute figure.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from .. import keys
from ..clock import Clock
from ..rollup import Rollup
from ..scripts import put_article
from ..scripts.record import READERS_RETENTION_S, SAMPLE_RETENTION_S, ttl
from ..scripts.samples import DAY_RETENTION_S
from ..settings import Settings
from ..storage import Storage, ops
from ..windows import DAY, HOUR
from . import record
from .archive import CATALOG, Archive

CHUNK = 1000  # commands per round trip


class NotEmpty(Exception):
    """The target Redis already holds counters: replay writes only into an empty one."""


class NoCatalog(Exception):
    """The archive has no catalog export (no drain ever ran there)."""


@dataclass(slots=True)
class Tally:
    """What the events add up to, per article and bucket."""

    totals: Counter[str] = field(default_factory=Counter)
    bots: Counter[str] = field(default_factory=Counter)
    automated: Counter[str] = field(default_factory=Counter)
    inbox: Counter[tuple[int, str]] = field(default_factory=Counter)
    # (period, index or None, article) -> reader ids in first-seen order; a dict keeps order.
    samples: dict[tuple[str, int | None, str], dict[str, None]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    readers: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    events: int = 0

    def add(self, event: record.Event, now: float) -> None:
        self.events += 1
        article, at = event.article, event.at
        if event.outcome == "bot":
            self.bots[article] += 1
        elif event.outcome == "automated":
            self.automated[article] += 1
        elif event.outcome == "counted":
            self.totals[article] += 1
            self.inbox[event.m5, article] += 1
            reader = event.client[:8] or event.reader  # what record.lua's samples keep
            # Samples are by the hour the view was counted in, not the hour it was viewed.
            for period, index in _sample_periods(event.recorded_s, now):
                self.samples[period, index, article].setdefault(reader, None)
            if event.client and DAY.index(at) >= DAY.index(now) - 2:
                self.readers[article, DAY.index(at)].add(event.reader)
        elif event.outcome in ("purged", "recounted"):
            self.totals[article] -= 1
            self.inbox[event.m5, article] -= 1
            if event.outcome == "recounted":  # moved from counted to automated
                self.automated[article] += 1
                return
            for period, index in _sample_periods(event.recorded_s, now):
                if period != "all":  # purge.lua leaves the all-time sample
                    self.samples[period, index, article].pop(event.client[:8], None)


def _sample_periods(at: float, now: float) -> Iterable[tuple[str, int | None]]:
    hour, day = HOUR.index(at), DAY.index(at)
    if (hour + 1) * HOUR.bucket_s + SAMPLE_RETENTION_S > now:
        yield "h", hour
    if (day + 1) * DAY.bucket_s + DAY_RETENTION_S > now:
        yield "d", day
    yield "all", None


async def replay(storage: Storage, settings: Settings, clock: Clock) -> dict[str, Any]:
    """Rebuild every counter from the archive into ``storage`` (empty), then roll up."""
    if any(await storage.execute([ops.exists(keys.totals(s)) for s in range(keys.SHARDS)])):
        raise NotEmpty("the target Redis holds counters already: replay into an empty one")
    archive = Archive(settings.event_log_url)
    text = await asyncio.to_thread(archive.read_text, CATALOG)
    if text is None:
        raise NoCatalog(f"no {CATALOG} under {settings.event_log_url}")
    catalog = [orjson.loads(line) for line in text.splitlines() if line]
    await storage.run_all([_put(entry) for entry in catalog])
    now = clock.now()
    imported = {e["article"]: int(e.get("imported_views") or 0) for e in catalog}
    tally = Tally()

    def read() -> None:
        for event in archive.events(date.min, date.max):
            if event.article in imported:  # an article deleted since: its counters went too
                tally.add(event, now)

    await asyncio.to_thread(read)
    await _write(storage, tally, imported, settings.min_readers, now)
    result = await Rollup(storage, settings, clock).run()
    return {"articles": len(catalog), "events": tally.events, "as_of": result.as_of}


def _put(entry: dict[str, Any]) -> Any:
    return put_article.call(
        entry["article"],
        entry["title"],
        entry["url"],
        entry["theme"],
        entry.get("published_at") or None,
        int(entry.get("imported_views") or 0),
        entry.get("ranked") != "0",
        entry.get("author") or None,
        entry.get("author_name") or None,
    )


async def _write(
    storage: Storage, tally: Tally, imported: dict[str, int], keep: int, now: float
) -> None:
    commands: list[ops.Op[Any]] = []
    for article, views in tally.totals.items():
        commands.append(
            ops.zadd(keys.totals(keys.shard_of(article)), {article: imported[article] + views})
        )
    for name, counts in ((keys.bots, tally.bots), (keys.automated, tally.automated)):
        by_shard: dict[int, dict[str, int]] = defaultdict(dict)
        for article, views in counts.items():
            by_shard[keys.shard_of(article)][article] = views
        commands += [ops.hset(name(shard), held) for shard, held in by_shard.items()]
    inbox: dict[int, dict[str, float]] = defaultdict(dict)
    for (m5, article), views in tally.inbox.items():
        if views > 0:
            inbox[keys.shard_of(article)][keys.inbox_member(m5, article)] = views
    for shard, members in inbox.items():
        items = list(members.items())
        for start in range(0, len(items), CHUNK):
            commands.append(ops.zadd(keys.inbox(shard), dict(items[start : start + CHUNK])))
    for (period, index, article), ids in tally.samples.items():
        key = keys.readers_sample(keys.shard_of(article), period, index)
        commands.append(ops.hset(key, {article: "".join(list(ids)[:keep])}))
        if period == "h" and index is not None:
            commands.append(
                ops.expire(key, ttl((index + 1) * HOUR.bucket_s + SAMPLE_RETENTION_S, now))
            )
        elif period == "d" and index is not None:
            commands.append(ops.expire(key, ttl((index + 1) * DAY.bucket_s + DAY_RETENTION_S, now)))
    for (article, day), readers in tally.readers.items():
        key = keys.readers(article, day)
        commands.append(ops.pfadd(key, sorted(readers)))
        commands.append(ops.expire(key, ttl((day + 1) * DAY.bucket_s + READERS_RETENTION_S, now)))
    for start in range(0, len(commands), CHUNK):
        await storage.execute(commands[start : start + CHUNK])
    # The closing rollup builds the articles' most recent readers from these samples.
    await storage.execute([ops.unlink(keys.recent_ready(s)) for s in range(keys.SHARDS)])
