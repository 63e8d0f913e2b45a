"""Article metadata: the catalog entries, their validation, and the themes they are in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import keys
from .clock import Clock, parse_rfc3339, rfc3339
from .errors import InvalidField, UnknownArticle
from .scripts import delete_article, put_article
from .scripts import meta as meta_script
from .storage import Storage, ops
from .validate import has_visible, is_theme

# The limits of an article's fields: the PUT check below and the OpenAPI schema use these.
MAX_TITLE = 300
MAX_URL = 2048
MAX_IMPORTED = 2**53 - 1  # counts stay exact in JSON and Lua numbers
MAX_AUTHOR_NAME = 100
META_FIELDS = (
    *("title", "url", "theme", "published_at", "imported_views", "ranked"),
    *("author", "author_name"),
)


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    url: str
    theme: str
    published_at: str | None
    imported_views: int
    ranked: bool = True  # False: counted, but in no public list
    author: str | None = None  # a slug, as a theme is
    author_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "article": self.id,
            "title": self.title,
            "url": self.url,
            "theme": self.theme,
            "published_at": self.published_at,
            "imported_views": self.imported_views,
            "ranked": self.ranked,
            "author": self.author,
            "author_name": self.author_name,
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
    ranked = fields.get("ranked", True)
    if not isinstance(ranked, bool):
        raise InvalidField("ranked: true or false")
    author, author_name = _author_fields(fields)
    return Article(
        article_id,
        title,
        url,
        theme,  # type: ignore[arg-type]
        published,
        imported,
        ranked,
        author,
        author_name,
    )


def _author_fields(fields: dict[str, Any]) -> tuple[str | None, str | None]:
    """``author`` (a slug) and ``author_name`` (1-100 characters; the name the author list
    shows, kept on the article alone when it has no author)."""
    author = fields.get("author")
    if author is not None and not is_theme(author):
        raise InvalidField("author: 1-64 characters from a-z 0-9 - (a slug, as a theme)")
    name = fields.get("author_name")
    if name is None:
        return author, None
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_AUTHOR_NAME or not has_visible(name):
        raise InvalidField(f"author_name: a string of 1-{MAX_AUTHOR_NAME} characters")
    return author, name


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
    """Reads and writes of the article catalog."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self.storage = storage
        self.clock = clock

    async def put(self, article: Article) -> bool:
        """Create or replace; True when created."""
        call = put_article.call(
            article.id,
            article.title,
            article.url,
            article.theme,
            article.published_at,
            article.imported_views,
            article.ranked,
            article.author,
            article.author_name,
        )
        return put_article.decode(await self.storage.run(call))

    async def delete(self, article_id: str) -> None:
        """Remove the article and its counters; UnknownArticle when absent."""
        call = delete_article.call(article_id, self.clock.now())
        if not delete_article.decode(await self.storage.run(call)):
            raise UnknownArticle(f"no article '{article_id}' in the catalog")

    async def get(self, article_id: str) -> dict[str, Any]:
        """The article's catalog entry; UnknownArticle when absent."""
        fields = (await self.meta([article_id]))[0]
        if fields is None:
            raise UnknownArticle(f"no article '{article_id}' in the catalog")
        return {
            "article": article_id,
            "title": fields["title"],
            "url": fields["url"],
            "theme": fields["theme"],
            "published_at": fields["published_at"] or None,
            "imported_views": int(fields["imported_views"] or 0),
            "ranked": fields["ranked"] != "0",  # articles written before the field: ranked
            "author": fields["author"] or None,
            "author_name": fields["author_name"] or None,
        }

    async def meta(
        self, article_ids: list[str], fields: Sequence[str] = META_FIELDS
    ) -> list[dict[str, str | None] | None]:
        """The stored ``fields`` of each article (None for one not in the catalog: one with no
        title, so ``fields`` start with it), read by meta.lua a hundred articles of one
        shard a call: a rollup reads ~24,000, and one HMGET each cost this process more to
        pack and parse than the reads themselves."""
        chunks = meta_script.chunks(article_ids)
        replies = await self.storage.run_all(
            [meta_script.call(shard, ids, fields) for shard, ids in chunks]
        )
        found: dict[str, dict[str, str | None] | None] = {}
        for (_, ids), reply in zip(chunks, replies, strict=True):
            found.update(zip(ids, meta_script.decode(reply, fields), strict=True))
        return [found[article] for article in article_ids]

    async def themes(self) -> list[dict[str, Any]]:
        """Every theme that has articles, with how many."""
        totals: dict[str, int] = defaultdict(int)
        for counts in await self.storage.execute(
            [ops.hgetall(keys.theme_counts(shard)) for shard in range(keys.SHARDS)]
        ):
            for theme, count in counts.items():
                totals[theme] += int(count)
        return [{"theme": t, "articles": n} for t, n in sorted(totals.items()) if n > 0]

    async def authors(self) -> list[dict[str, Any]]:
        """Every author that has articles, with their name and how many, by slug."""
        replies = await self.storage.execute(
            [
                op
                for shard in range(keys.SHARDS)
                for op in (
                    ops.hgetall(keys.author_counts(shard)),
                    ops.hgetall(keys.author_names(shard)),
                )
            ]
        )
        totals: dict[str, int] = defaultdict(int)
        names: dict[str, str] = {}
        for counts, named in zip(replies[::2], replies[1::2], strict=True):
            for author, count in counts.items():
                totals[author] += int(count)
            names.update(named)
        return [
            {"author": a, "author_name": names.get(a), "articles": n}
            for a, n in sorted(totals.items())
            if n > 0
        ]
