"""The articles export: one row per catalog article with its counts, as CSV or NDJSON.

Rows are read shard by shard with SSCAN, ``VIEWCOUNT_EXPORT_BATCH`` articles per round trip,
and written out as they come: memory holds one batch, whatever the catalog's size. SSCAN
returns every article that is in the catalog for the whole export; one added or deleted
meanwhile may or may not appear, and Redis may return an article twice while its shard's set
is being resized (SCAN's guarantee), so a consumer should key rows by ``article``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from . import keys
from .storage import Storage, ops
from .windows import WALL, Window

COLUMNS = (
    "article",
    "title",
    "url",
    "theme",
    "author",
    "published_at",
    "views",
    "bot_views",
    "automated_views",
    "window_views",
)
_META = ("title", "url", "theme", "author", "published_at")
FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}

Row = dict[str, Any]


async def rows(storage: Storage, window: Window, batch: int) -> AsyncIterator[list[Row]]:
    """The catalog's rows, a batch at a time; ``window_views`` as of the latest rollup."""
    for shard in range(keys.SHARDS):
        cursor = 0
        while True:
            cursor, ids = await storage.one(ops.sscan(keys.articles(shard), cursor, batch))
            if ids:
                yield await _batch(storage, shard, ids, window)
            if cursor == 0:
                break


async def _batch(storage: Storage, shard: int, ids: list[str], window: Window) -> list[Row]:
    # Everything below lives under the shard's hash tag: one round trip, on a cluster too.
    windowed = keys.totals(shard) if window is WALL else keys.window(shard, window.name)
    *metas, totals, bots, automated, in_window = await storage.execute(
        [
            *(ops.hmget(keys.meta_in(shard, article), _META) for article in ids),
            ops.zmscore(keys.totals(shard), ids),
            ops.hmget(keys.bots(shard), ids),
            ops.hmget(keys.automated(shard), ids),
            ops.zmscore(windowed, ids),
        ]
    )
    found = []
    for n, article in enumerate(ids):
        title, url, theme, author, published = metas[n]
        if title is None:  # deleted since the scan read its id
            continue
        found.append(
            {
                "article": article,
                "title": title,
                "url": url,
                "theme": theme,
                "author": author or None,  # an article without one: empty (CSV) or null
                "published_at": published or None,
                "views": int(totals[n] or 0),
                "bot_views": int(bots[n] or 0),
                "automated_views": int(automated[n] or 0),
                "window_views": int(in_window[n] or 0),
            }
        )
    return found


def ndjson(batch: Iterable[Row]) -> bytes:
    """One JSON object per line."""
    return b"".join(orjson.dumps(row) + b"\n" for row in batch)


def csv_header() -> bytes:
    return _csv([COLUMNS])


def csv_rows(batch: Iterable[Row]) -> bytes:
    """RFC 4180 rows (quoted where a field holds a comma, quote or line break), UTF-8; a
    missing value is an empty field."""
    return _csv(("" if row[c] is None else row[c] for c in COLUMNS) for row in batch)


def _csv(records: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(records)
    return buffer.getvalue().encode()


async def encoded(
    storage: Storage, window: Window, fmt: str, batch: int
) -> tuple[bytes, AsyncIterator[bytes]]:
    """The export's first chunk, read before anything is sent (so a Redis failure at the
    start is still an error answer), and an iterator of the rest."""
    batches = rows(storage, window, batch)
    encode = csv_rows if fmt == "csv" else ndjson
    head = csv_header() if fmt == "csv" else b""
    first: list[Row] = await anext(batches, [])

    async def rest() -> AsyncIterator[bytes]:
        async for found in batches:
            if found:  # a batch deleted whole since its scan: nothing to send
                yield encode(found)

    return head + encode(first), rest()
