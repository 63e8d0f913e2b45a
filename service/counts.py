"""Live counts, read straight from the counters (no waiting for a rollup)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from . import keys
from .clock import Clock, rfc3339
from .coalesce import Coalescer
from .errors import UnknownArticle
from .scripts import counts, hourly
from .storage import Storage, ops
from .windows import DAY, HOUR

COUNTS_PER_CALL = 1000  # ids per counts.lua call: about a millisecond of Redis time


class Counts:
    """The live read model of the counters: one article's, many articles', the site's."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self.storage = storage
        self.clock = clock
        self._many = Coalescer(self._fetch, max_keys=COUNTS_PER_CALL)

    async def views(self, article_id: str) -> dict[str, Any]:
        """Live counts of one article; UnknownArticle when it is not in the catalog."""
        shard = keys.shard_of(article_id)
        known, views, bot_views, automated_views, readers = await self.storage.execute(
            [
                ops.sismember(keys.articles(shard), article_id),
                ops.zscore(keys.totals(shard), article_id),
                ops.hget(keys.bots(shard), article_id),
                ops.hget(keys.automated(shard), article_id),
                ops.pfcount(keys.readers(article_id, DAY.index(self.clock.now()))),
            ]
        )
        if not known:
            raise UnknownArticle(f"no article '{article_id}' in the catalog")
        return {
            "article": article_id,
            "views": int(views or 0),
            "bot_views": int(bot_views or 0),
            "automated_views": int(automated_views or 0),
            "readers_today": readers,
        }

    async def many(self, article_ids: Sequence[str]) -> dict[str, int | None]:
        """Live counts of several articles; None for ids not in the catalog. Callers asking
        for the same ids at once may share the answer: read it, do not change it."""
        # Requests that arrive together share one script call (see coalesce.py): a Redis
        # round trip per request cost the client more than the rest of the request.
        return await self._many.get(tuple(article_ids))

    async def _fetch(self, article_ids: list[str]) -> dict[str, int | None]:
        by_shard: dict[int, list[str]] = defaultdict(list)
        for article_id in article_ids:
            by_shard[keys.shard_of(article_id)].append(article_id)
        calls = [counts.call(group) for group in self.storage.per_call(list(by_shard.items()))]
        if len(calls) == 1:  # as run_all would, without a task for one call
            replies = counts.decode(await self.storage.run(calls[0]))
        else:
            replies = [
                c for reply in await self.storage.run_all(calls) for c in counts.decode(reply)
            ]
        ordered = (article_id for ids in by_shard.values() for article_id in ids)
        return dict(zip(ordered, replies, strict=True))

    async def per_minute(self, minutes: int = 1) -> int:
        """Views counted over the last complete minutes, site-wide."""
        current = int(self.clock.now() // 60)
        replies = await self.storage.execute(
            [
                ops.get(keys.per_minute(shard, minute))
                for shard in range(keys.SHARDS)
                for minute in range(current - minutes, current)
            ]
        )
        return sum(int(value or 0) for value in replies)

    async def hourly(self, article_id: str, hours: int) -> list[dict[str, Any]]:
        """Views of one article in each of the last ``hours`` hours, oldest first."""
        current = HOUR.index(self.clock.now())
        indexes = range(current - hours + 1, current + 1)
        # Views since the last rollup are still in the inbox (or the set it is merging).
        counts = hourly.decode(await self.storage.run(hourly.call(article_id, indexes)))
        if counts is None:
            raise UnknownArticle(f"no article '{article_id}' in the catalog")
        return [
            {"at": rfc3339(index * HOUR.bucket_s), "views": views}
            for index, views in zip(indexes, counts, strict=True)
        ]
