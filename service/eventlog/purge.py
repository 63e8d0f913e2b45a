"""POST /v1/admin/purge: one client network's views of one article in a time range, taken
back from the counters, found in the event log."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, timedelta

from .. import keys
from ..clock import Clock
from ..scripts import purge
from ..settings import Settings
from ..storage import Storage, ops
from ..windows import DAY, HOUR, M5
from . import record
from .archive import Archive, day_of


async def stream_events(storage: Storage, shard: int, page: int) -> AsyncIterator[record.Event]:
    """The events a shard's log stream holds (not yet archived), oldest first."""
    cursor = "-"
    while True:
        entries = await storage.one(ops.xrange(keys.event_log(shard), cursor, page))
        for entry_id, fields in entries:
            for event in record.decode_entry(shard, entry_id, fields):
                yield event
        if len(entries) < page:
            return
        cursor = "(" + entries[-1][0]


SAMPLE_HOURS = 26  # hourly readers samples are kept this long (record.SAMPLE_RETENTION_S)
SAMPLE_DAYS = 32
TOP_HOURS = 26


async def purge_views(
    storage: Storage,
    settings: Settings,
    clock: Clock,
    article: str,
    client: str,
    start: float,
    end: float,
) -> int:
    """Take back the counted views of ``article`` from ``client`` (a client-network digest,
    hex) whose 5-minute bucket starts in [``start`` rounded down to one, ``end``); the views
    taken back. What an earlier purge took back is not taken again; a range that ends
    before it starts is empty."""
    if end <= start:
        return 0
    client = client[: record.CLIENT_CHARS]
    first_m5, end_m5 = M5.index(start), math.ceil(end / M5.bucket_s)
    shard = keys.shard_of(article)
    found: dict[tuple[int, str, int], record.Event] = {}

    def keep(event: record.Event) -> None:
        if event.article == article and event.client == client and first_m5 <= event.m5 < end_m5:
            found[event.shard, event.entry, event.line] = event

    # The streams first, then the archive: an entry the drain moves in between is read twice
    # and kept once (it is known by its id), never missed. Every shard's stream: on a single
    # node a group commit logs all its shards' views in one of them.
    for log_shard in range(keys.SHARDS):
        async for event in stream_events(storage, log_shard, settings.event_log_file_entries):
            keep(event)
    archive = Archive(settings.event_log_url)
    # A view is logged when it is counted: on its day, or later for a batch event (up to 30
    # days); a day's slack for clocks, and every later day.
    first = day_of(int(start * 1000))
    first_day = first - timedelta(days=1) if first > date.min else first  # from 0001-01-01
    for event in await asyncio.to_thread(
        lambda: list(archive.events(first_day, date.max, article=article, client=client))
    ):
        keep(event)
    balance: Counter[int] = Counter()
    for event in found.values():
        if event.outcome == "counted":
            balance[event.m5] += 1
        elif event.outcome in ("purged", "recounted"):  # taken back already
            balance[event.m5] -= 1
    now = clock.now()
    # No sample lies in the future: a `to` of 9999-12-31 must not name 70 million hours' keys.
    last = min(end, now + HOUR.bucket_s)
    hours = range(max(HOUR.index(start), HOUR.index(now) - SAMPLE_HOURS), HOUR.index(last) + 1)
    days = range(max(DAY.index(start), DAY.index(now) - SAMPLE_DAYS), DAY.index(last) + 1)
    samples = [keys.readers_sample(shard, "h", h) for h in hours]
    samples += [keys.readers_sample(shard, "d", d) for d in days]
    tops = [keys.top_clients(shard, h) for h in hours if h >= HOUR.index(now) - TOP_HOURS]
    call = purge.call(
        article,
        client,
        balance,
        samples,
        tops,
        settings.event_log_max_entries,
        now,
        settings.min_readers,
    )
    return purge.decode(await storage.run(call))
