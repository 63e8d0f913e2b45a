"""What the rollup reads of the catalog, kept from one rollup to the next in one process.

Every rollup read the same catalog again: every article's author (the author lists' index,
100,000 fields at 100,000 articles), the themes of the ~40,000 articles it read off the
window sets and the heads (title, url, theme, published_at) of the ~60,000 it listed, half a
second of a 2.5 s rollup, of a catalog that changes a few articles a minute. Every script that
changes a shard's catalog (put_article, feed_article, delete_article) sets that shard's
version (keys.catalog_version) to a new random token; a rollup reads the sixteen versions
first and keeps what it knew of each shard whose version is the one it saw last. Whatever it
reads of a shard after reading its version is as new as that version or newer: a change
landing meanwhile changes the version too, so the next rollup reads the shard again. A
random token, not a counter: after a failover that lost the last writes a counter could come
back to a value this process saw with other contents.

Bounded by the catalog: themes and authors are known for at most every article in it, and a
shard keeps the heads of the articles the last rollup listed only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import keys
from .authorlists import AuthorIndex
from .storage import Storage, ops

INDEX_PAGE = 2000  # article -> author fields per HSCAN page


@dataclass(slots=True)
class ShardCatalog:
    """What one rollup knows of one shard's catalog, at one version."""

    version: str | None
    themes: dict[str, str | None] = field(default_factory=dict)  # None: not in the catalog
    heads: dict[str, bytes] = field(default_factory=dict)  # article -> snapshot.head()
    authors: dict[str, str] | None = None  # the whole article -> author hash, once read


_UNREAD = ShardCatalog("")  # a version no shard has: the first rollup reads every shard


class CatalogCache:
    """Each shard's ShardCatalog, and the author index merged from theirs."""

    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s  # VIEWCOUNT_CATALOG_CACHE_S: read afresh at least this often
        self.clock = clock
        self.shards: list[ShardCatalog] = [_UNREAD] * keys.SHARDS
        self._index = AuthorIndex()
        self._indexed: list[ShardCatalog | None] = [None] * keys.SHARDS  # what _index holds
        self._since: float | None = None  # when every shard was last read afresh

    async def refresh(self, storage: Storage) -> list[ShardCatalog]:
        """Every shard's catalog as known now: the ones whose version changed start empty,
        and all of them once ``max_age_s`` passed since they last all did."""
        now = self.clock()
        if self._since is None or now - self._since >= self.max_age_s:
            self.shards, self._since = [_UNREAD] * keys.SHARDS, now
        versions = await storage.execute(
            [ops.get(keys.catalog_version(shard)) for shard in range(keys.SHARDS)]
        )
        self.shards = [
            held if held.version == version else ShardCatalog(version)
            for held, version in zip(self.shards, versions, strict=True)
        ]
        return self.shards

    async def authors(self, storage: Storage, shards: list[ShardCatalog]) -> AuthorIndex:
        """Every article's author, and each author's articles by shard, of ``shards`` (what
        refresh() returned): a shard's article -> author hash is read when it changed."""
        unread = [shard for shard, known in enumerate(shards) if known.authors is None]
        hashes = await asyncio.gather(
            *(storage.whole_hash(keys.article_authors(shard), INDEX_PAGE) for shard in unread)
        )
        for shard, authors in zip(unread, hashes, strict=True):
            shards[shard].authors = authors
        index = self._index
        for shard, known in enumerate(shards):
            held = self._indexed[shard]
            if held is known:
                continue
            if held is not None and held.authors:
                _unindex(index, shard, held.authors)
            assert known.authors is not None
            for article, author in known.authors.items():
                index.author_of[article] = author
                index.articles.setdefault(author, {}).setdefault(shard, []).append(article)
            self._indexed[shard] = known
        return index


def _unindex(index: AuthorIndex, shard: int, authors: dict[str, str]) -> None:
    """Take a shard's articles out of the merged index."""
    for article in authors:
        index.author_of.pop(article, None)
    for author in set(authors.values()):
        by_shard = index.articles.get(author)
        if by_shard is not None:
            by_shard.pop(shard, None)
            if not by_shard:
                del index.articles[author]


def keep_heads(shards: list[ShardCatalog], heads: dict[str, bytes], listed: Iterable[str]) -> None:
    """Each shard keeps the heads of the articles listed now, and no others."""
    kept: list[dict[str, bytes]] = [{} for _ in shards]
    for article in listed:
        head = heads.get(article)
        if head is not None:
            kept[keys.shard_of(article)][article] = head
    for known, shard_heads in zip(shards, kept, strict=True):
        known.heads = shard_heads
