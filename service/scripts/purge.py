"""purge.lua's codec: one client network's counted views of one article, taken back (a purge,
or a recount that finds them over the current cap)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import keys
from ..eventlog.record import PURGED, RECOUNTED
from ..storage import Call
from . import load, recent
from .record import INBOX_RETENTION_S

SCRIPT = load("purge", uses=("recent_readers",))
SAMPLE_ID = 8  # characters of a reader id in a readers sample (record.lua's ID)


def call(
    article: str,
    client: str,
    views_by_m5: Mapping[int, int],
    samples: Sequence[str],
    tops: Sequence[str],
    log_max_entries: int,
    now: float,
    keep: int,
    recount: bool = False,
) -> Call:
    """Take back ``views_by_m5`` (5-minute bucket -> views) of ``client`` (its digest as the
    log keeps it, 16 hex) from ``article``; ``samples`` and ``tops`` are the readers-sample
    and top-clients keys of the purged range (keys.readers_sample, keys.top_clients); the
    article's most recent readers are rebuilt from every sample kept (``keep`` readers) when
    the client leaves some samples."""
    shard = keys.shard_of(article)
    names = [keys.totals(shard), keys.inbox(shard), keys.event_log(shard), keys.automated(shard)]
    kept, hours = recent.sources(shard, now) if samples else ([], [])  # no reader removed
    names += [*samples, *tops, keys.recent_readers(shard), *kept]
    buckets = [
        part for m5, views in sorted(views_by_m5.items()) if views > 0 for part in (m5, views)
    ]
    args: list[Any] = [
        article,
        client[:SAMPLE_ID],
        client,
        INBOX_RETENTION_S,
        log_max_entries,
        SAMPLE_ID,
        len(samples),
        len(tops),
        int(now),
        len(buckets) // 2,
        *buckets,
        RECOUNTED if recount else PURGED,
        1 if recount else 0,
        keep,
        len(kept),
        *hours,
    ]
    return Call(SCRIPT, names, args)


def decode(reply: Any) -> int:
    """The views taken back."""
    return int(reply)
