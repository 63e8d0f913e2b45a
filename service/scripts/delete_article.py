"""delete_article.lua's codec: remove an article and every counter kept for it."""

from __future__ import annotations

import secrets
from typing import Any

from .. import keys
from ..storage import Call
from ..windows import DAY, GRANULARITIES, KEPT, SERIES_DAY_RETENTION_S
from . import load

SCRIPT = load("delete_article", uses=("catalog_index",))
# Days of reader HyperLogLogs a delete removes: every day whose count can still exist.
READER_DAYS_BACK, READER_DAYS_AHEAD = 32, 2


def call(article: str, now: float) -> Call:
    """Every key that may hold the article: its shard's member holders, the buckets that may
    still exist, and its reader counts."""
    shard = keys.shard_of(article)
    holders = [keys.totals(shard), keys.bots(shard), keys.automated(shard)]
    holders += [keys.unranked(shard), keys.readers_sample(shard, "all")]
    holders.append(keys.recent_readers(shard))
    holders += [keys.window(shard, window.name) for window in KEPT]
    for gran in GRANULARITIES:
        newest = gran.index(now) + 1
        oldest = gran.index(now - gran.retention_s) - 1  # older ones have expired
        holders += [keys.bucket(shard, gran.name, i) for i in range(oldest, newest + 1)]
    today = DAY.index(now)
    # Its daily series: a local day's number is within one of the UTC day's, in any zone.
    series_days = range(today - SERIES_DAY_RETENTION_S // DAY.bucket_s - 2, today + 2)
    holders += [keys.day_views(shard, day) for day in series_days]
    readers = [
        keys.readers(article, day)
        for day in range(today - READER_DAYS_BACK, today + READER_DAYS_AHEAD)
    ]
    return Call(
        SCRIPT,
        [
            *keys.catalog_entry(article),
            keys.inbox(shard),
            keys.draining(shard),
            *keys.author_entry(article),
            keys.catalog_version(shard),
            *holders,
            *readers,
        ],
        [article, len(holders), secrets.token_hex(8)],
    )


def decode(reply: Any) -> bool:
    """True when deleted, False when there was no such article."""
    return bool(reply)
