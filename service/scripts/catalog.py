"""The catalog's scripts and their codecs: put_article.lua and delete_article.lua."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from ..windows import DAY, GRANULARITIES, SLIDING
from . import load

PUT = load("put_article")
DELETE = load("delete_article")
# Days of reader HyperLogLogs a delete removes: every day whose count can still exist.
READER_DAYS_BACK, READER_DAYS_AHEAD = 32, 2


def put_call(
    article: str, title: str, url: str, theme: str, published_at: str | None, imported: int
) -> Call:
    shard = keys.shard_of(article)
    return Call(
        PUT,
        [
            keys.meta(article),
            keys.articles(shard),
            keys.article_themes(shard),
            keys.theme_counts(shard),
            keys.totals(shard),
        ],
        [article, title, url, theme, published_at or "", imported],
    )


def put_decode(reply: Any) -> bool:
    """True when the article was created, False when replaced."""
    return bool(reply)


def delete_call(article: str, now: float) -> Call:
    """Every key that may hold the article: its shard's member holders, the buckets that may
    still exist, and its reader counts."""
    shard = keys.shard_of(article)
    holders = [keys.totals(shard), keys.bots(shard), keys.automated(shard)]
    holders += [keys.window(shard, window.name) for window in SLIDING]
    for gran in GRANULARITIES:
        newest = gran.index(now) + 1
        oldest = gran.index(now - gran.retention_s) - 1  # older ones have expired
        holders += [keys.bucket(shard, gran.name, i) for i in range(oldest, newest + 1)]
    today = DAY.index(now)
    readers = [
        keys.readers(article, day)
        for day in range(today - READER_DAYS_BACK, today + READER_DAYS_AHEAD)
    ]
    return Call(
        DELETE,
        [
            keys.meta(article),
            keys.articles(shard),
            keys.article_themes(shard),
            keys.theme_counts(shard),
            keys.inbox(shard),
            keys.draining(shard),
            *holders,
            *readers,
        ],
        [article, len(holders)],
    )


def delete_decode(reply: Any) -> bool:
    """True when deleted, False when there was no such article."""
    return bool(reply)
