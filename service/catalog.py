"""Article metadata, themes and live counts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import keys
from .clock import Clock, parse_rfc3339, rfc3339
from .coalesce import Coalescer
from .errors import InvalidField, UnknownArticle
from .store import STORAGE_ERRORS, Call, Script, StorageUnavailable, Store
from .validate import has_visible, is_theme
from .windows import DAY, GRANULARITIES, HOUR, M5

_PUT = Script.load("put_article")
_DELETE = Script.load("delete_article")
_COUNTS = Script.load("counts", durable=False)
_HOURLY = Script.load("hourly", durable=False)
COUNTS_PER_CALL = 1000  # ids per counts.lua call: about a millisecond of Redis time
MAX_TITLE = 300
MAX_URL = 2048
MAX_IMPORTED = 2**53 - 1  # counts stay exact in JSON and Lua numbers


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    url: str
    theme: str
    published_at: str | None
    imported_views: int

    def as_json(self) -> dict[str, Any]:
        return {
            "article": self.id,
            "title": self.title,
            "url": self.url,
            "theme": self.theme,
            "published_at": self.published_at,
            "imported_views": self.imported_views,
        }


def article_from_fields(article_id: str, fields: object) -> Article:
    """An Article from a PUT body, or InvalidField naming the first bad field."""
    if not isinstance(fields, dict):
        raise InvalidField("the body must be a JSON object with title, url and theme")
    title = fields.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE or not has_visible(title):
        raise InvalidField(f"title: a string of 1-{MAX_TITLE} characters is required")
    url = fields.get("url")
    if not isinstance(url, str) or len(url) > MAX_URL or not _is_http_url(url):
        raise InvalidField("url: an absolute http(s) URL is required")
    theme = fields.get("theme")
    if not is_theme(theme):
        raise InvalidField("theme: 1-64 characters from a-z 0-9 - are required")
    published = fields.get("published_at")
    if published is not None:
        try:
            published = rfc3339(parse_rfc3339(published))
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            raise InvalidField(
                "published_at: an RFC 3339 time such as 2026-11-27T09:35:00Z is required"
            ) from exc
    imported = fields.get("imported_views", 0)
    if isinstance(imported, float) and imported.is_integer():  # JSON Schema: 2.0 is an integer
        imported = int(imported)
    if (
        isinstance(imported, bool)
        or not isinstance(imported, int)
        or not 0 <= imported <= MAX_IMPORTED
    ):
        raise InvalidField("imported_views: an integer >= 0 is required")
    return Article(article_id, title, url, theme, published, imported)  # type: ignore[arg-type]


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not any(c.isspace() or ord(c) < 32 for c in url)
    )


class Catalog:
    """Reads and writes of the article catalog and its counters."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._counts = Coalescer(self._fetch_counts, max_keys=COUNTS_PER_CALL)

    async def put(self, article: Article) -> bool:
        """Create or replace; True when created."""
        shard = keys.shard_of(article.id)
        created = await self.store.run(
            Call(
                _PUT,
                [
                    keys.meta(article.id),
                    keys.articles(shard),
                    keys.article_themes(shard),
                    keys.theme_counts(shard),
                    keys.totals(shard),
                ],
                [
                    article.id,
                    article.title,
                    article.url,
                    article.theme,
                    article.published_at or "",
                    article.imported_views,
                ],
            )
        )
        return bool(created)

    async def delete(self, article_id: str) -> None:
        """Remove the article and its counters; UnknownArticle when absent."""
        shard = keys.shard_of(article_id)
        holders = [keys.totals(shard), keys.bots(shard), keys.automated(shard)]
        holders += [keys.window(shard, name) for name in ("1h", "24h", "7d", "30d")]
        now = self.clock.now()
        for gran in GRANULARITIES:
            newest = gran.index(now) + 1
            oldest = gran.index(now - gran.retention_s) - 1  # older ones have expired
            holders += [keys.bucket(shard, gran.name, i) for i in range(oldest, newest + 1)]
        today = DAY.index(now)
        readers = [keys.readers(article_id, day) for day in range(today - 32, today + 2)]
        deleted = await self.store.run(
            Call(
                _DELETE,
                [
                    keys.meta(article_id),
                    keys.articles(shard),
                    keys.article_themes(shard),
                    keys.theme_counts(shard),
                    keys.inbox(shard),
                    keys.draining(shard),
                    *holders,
                    *readers,
                ],
                [article_id, len(holders)],
            )
        )
        if not deleted:
            raise UnknownArticle(f"no article '{article_id}' in the catalog")

    async def get(self, article_id: str) -> dict[str, Any]:
        """The article with its live counts; UnknownArticle when absent."""
        shard = keys.shard_of(article_id)
        pipe = self.store.client.pipeline(transaction=False)
        pipe.hgetall(keys.meta(article_id))
        pipe.zscore(keys.totals(shard), article_id)
        pipe.hget(keys.bots(shard), article_id)
        pipe.hget(keys.automated(shard), article_id)
        fields, views, bot_views, automated_views = await self._execute(pipe)
        if not fields:
            raise UnknownArticle(f"no article '{article_id}' in the catalog")
        return {
            "article": article_id,
            "title": fields["title"],
            "url": fields["url"],
            "theme": fields["theme"],
            "published_at": fields["published_at"] or None,
            "imported_views": int(fields["imported_views"]),
            "views": int(views or 0),
            "bot_views": int(bot_views or 0),
            "automated_views": int(automated_views or 0),
        }

    async def views(self, article_id: str) -> dict[str, Any]:
        """Live counts of one article."""
        shard = keys.shard_of(article_id)
        pipe = self.store.client.pipeline(transaction=False)
        pipe.sismember(keys.articles(shard), article_id)
        pipe.zscore(keys.totals(shard), article_id)
        pipe.hget(keys.bots(shard), article_id)
        pipe.hget(keys.automated(shard), article_id)
        # Cluster pipelines refuse .pfcount() (it may name keys of several slots); this
        # one key shares the shard's slot, so the raw command is safe on both backends.
        pipe.execute_command("PFCOUNT", keys.readers(article_id, DAY.index(self.clock.now())))
        known, views, bot_views, automated_views, readers = await self._execute(pipe)
        if not known:
            raise UnknownArticle(f"no article '{article_id}' in the catalog")
        return {
            "article": article_id,
            "views": int(views or 0),
            "bot_views": int(bot_views or 0),
            "automated_views": int(automated_views or 0),
            "readers_today": int(readers),
        }

    async def many_views(self, article_ids: Sequence[str]) -> dict[str, int | None]:
        """Live counts of several articles; None for ids not in the catalog. Callers asking
        for the same ids at once may share the answer: read it, do not change it."""
        # Requests that arrive together share one script call (see coalesce.py): a Redis
        # round trip per request cost the client more than the rest of the request.
        return await self._counts.get(tuple(article_ids))

    async def _fetch_counts(self, article_ids: list[str]) -> dict[str, int | None]:
        by_shard: dict[int, list[str]] = defaultdict(list)
        for article_id in article_ids:
            by_shard[keys.shard_of(article_id)].append(article_id)
        calls = []
        for group in self.store.per_call(list(by_shard.items())):
            key_list: list[str] = []
            args: list[Any] = [len(group)]
            for shard, ids in group:
                key_list += [keys.articles(shard), keys.totals(shard)]
                args += [len(ids), *ids]
            calls.append(Call(_COUNTS, key_list, args))
        if len(calls) == 1:  # as run_all would, without a task for one call
            replies = await self.store.run(calls[0])
        else:
            replies = [count for reply in await self.store.run_all(calls) for count in reply]
        ordered = (article_id for ids in by_shard.values() for article_id in ids)
        return {
            article_id: (None if count < 0 else count)
            for article_id, count in zip(ordered, replies, strict=True)
        }

    async def themes(self) -> list[dict[str, Any]]:
        """Every theme that has articles, with how many."""
        pipe = self.store.client.pipeline(transaction=False)
        for shard in range(keys.SHARDS):
            pipe.hgetall(keys.theme_counts(shard))
        totals: dict[str, int] = defaultdict(int)
        for counts in await self._execute(pipe):
            for theme, count in counts.items():
                totals[theme] += int(count)
        return [{"theme": t, "articles": n} for t, n in sorted(totals.items()) if n > 0]

    async def views_per_minute(self, minutes: int = 1) -> int:
        """Views counted over the last complete minutes, site-wide."""
        current = int(self.clock.now() // 60)
        pipe = self.store.client.pipeline(transaction=False)
        for shard in range(keys.SHARDS):
            for minute in range(current - minutes, current):
                pipe.get(keys.per_minute(shard, minute))
        return sum(int(v or 0) for v in await self._execute(pipe))

    async def hourly(self, article_id: str, hours: int) -> list[dict[str, Any]]:
        """Views of one article in each of the last ``hours`` hours, oldest first."""
        shard = keys.shard_of(article_id)
        current = HOUR.index(self.clock.now())
        indexes = range(current - hours + 1, current + 1)
        # Views since the last rollup are still in the inbox (or the set it is merging).
        per_hour = HOUR.bucket_s // M5.bucket_s
        scores = await self.store.run(
            Call(
                _HOURLY,
                [
                    keys.articles(shard),
                    keys.inbox(shard),
                    keys.draining(shard),
                    *(keys.bucket(shard, HOUR.name, index) for index in indexes),
                ],
                [article_id, per_hour, *(index * per_hour for index in indexes)],
            )
        )
        if scores == -1:
            raise UnknownArticle(f"no article '{article_id}' in the catalog")
        return [
            {"at": rfc3339(index * HOUR.bucket_s), "views": int(score or 0)}
            for index, score in zip(indexes, scores, strict=True)
        ]

    @staticmethod
    async def _execute(pipe: Any) -> list[Any]:
        try:
            return list(await pipe.execute())
        except STORAGE_ERRORS as exc:
            raise StorageUnavailable(str(exc) or type(exc).__name__) from exc
