"""`viewcount recount`: the logged views re-judged by the current per-client cap.

For every client network and article, the logged views (counted, and automated ones, which
passed the cap's counter too) are replayed in the order they were counted, with the clock
hours record.lua used (each entry's `t`): a view past VIEWCOUNT_MAX_VIEWS_PER_CLIENT in its
hour and the one before together is automated now. Counted views that the current cap refuses
are taken back from the totals, buckets, windows and the next rankings and counted as
automated views (purge.lua, logged as "recounted" so a replay reproduces it and a second
recount finds nothing left to do).

Only a cap lower than the one the views were counted under changes anything: the log cannot
tell a view refused by the cap from one refused for its User-Agent, so a higher cap brings no
refused view back.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from .. import keys
from ..clock import Clock
from ..scripts import purge
from ..settings import Settings
from ..storage import Storage
from ..windows import HOUR
from . import record
from .archive import Archive, day_of
from .purge import stream_events

JUDGED = ("counted", "automated")  # views that reached the cap's counter
TAKEN_BACK = ("purged", "recounted")


@dataclass(frozen=True, slots=True)
class Correction:
    article: str
    client: str
    views_by_m5: dict[int, int]

    @property
    def views(self) -> int:
        return sum(self.views_by_m5.values())


def corrections(
    events: Iterable[record.Event], cap: int, start: float, end: float
) -> list[Correction]:
    """The counted views the cap refuses now, per client network and article: those counted
    in a clock hour from ``start`` to ``end`` (the hour before ``start`` only adds to the cap's
    count)."""
    by_pair: dict[tuple[str, str], list[record.Event]] = defaultdict(list)
    for event in events:
        if event.client and (event.outcome in JUDGED or event.outcome in TAKEN_BACK):
            by_pair[event.article, event.client].append(event)
    first_hour, end_hour = HOUR.index(start), HOUR.index(end - 1) + 1
    found = []
    for (article, client), logged in sorted(by_pair.items()):
        logged.sort(key=lambda e: (e.recorded_s, e.logged_ms, e.seq, e.line))
        per_hour: Counter[int] = Counter()
        still: Counter[int] = Counter()  # m5 -> views counted now, after earlier corrections
        allowed: Counter[int] = Counter()  # m5 -> views the current cap counts
        for event in logged:
            hour = HOUR.index(event.recorded_s)
            if event.outcome in TAKEN_BACK:
                if first_hour <= hour < end_hour:
                    still[event.m5] -= 1
                continue
            per_hour[hour] += 1  # refused views count towards the cap too, as in record.lua
            if not first_hour <= hour < end_hour or event.outcome != "counted":
                continue
            still[event.m5] += 1
            if per_hour[hour] <= cap and per_hour[hour] + per_hour[hour - 1] <= cap:
                allowed[event.m5] += 1
        excess = {m5: still[m5] - allowed[m5] for m5 in still if still[m5] > allowed[m5]}
        if excess:
            found.append(Correction(article, client, excess))
    return found


async def recount(
    storage: Storage, settings: Settings, clock: Clock, start: float, end: float, dry_run: bool
) -> list[Correction]:
    """Judge the views counted from ``start`` to ``end`` by the current cap; apply what it
    refuses unless ``dry_run``. The corrections, applied or not."""
    cap = settings.max_views_per_client
    if cap <= 0:
        return []
    events: list[record.Event] = []
    for shard in range(keys.SHARDS):  # the streams first: see purge.py
        events += [e async for e in stream_events(storage, shard, settings.event_log_file_entries)]
    seen = {(e.shard, e.entry, e.line) for e in events}
    archive = Archive(settings.event_log_url)
    first_day = day_of(int((start - HOUR.bucket_s) * 1000)) - timedelta(days=1)
    archived = await asyncio.to_thread(lambda: list(archive.events(first_day, date.max)))
    events += [e for e in archived if (e.shard, e.entry, e.line) not in seen]
    found = corrections(events, cap, start, end)
    if not dry_run:
        now = clock.now()
        calls = [
            purge.call(
                c.article,
                c.client,
                c.views_by_m5,
                [],
                [],
                settings.event_log_max_entries,
                now,
                settings.min_readers,
                recount=True,
            )
            for c in found
        ]
        for start_at in range(0, len(calls), 100):
            await storage.run_all(calls[start_at : start_at + 100])
    return found
