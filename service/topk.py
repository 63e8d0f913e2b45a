"""The top of every ranking list, read from the top of the window sets only.

A list needs the ``size`` best articles site-wide, or of one theme. Each shard's window set is
read best first (ZRANGE ... REV: one atomic read per shard, so a view landing meanwhile cannot
make an article slip between two pages); every article's theme is the catalog's current one.
Reading stops once every list is settled: when at least ``size`` of its candidates score above
the best score any shard may still hold unread, nothing unread can enter it. Otherwise the
shards still holding more are read again, twice as deep. With 100,000 articles over 50 themes
that is about 1,000 articles per shard instead of all 6,000; a theme too small to fill its list
still makes the reads go to the end, as reading everything did before. Author lists start
from the same reads and look up what they still need (authorlists.py).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from itertools import chain, compress
from operator import is_not, itemgetter, lt
from typing import Any

from . import authorlists, keys
from .authorlists import ids_of, scores_of
from .catalogcache import ShardCatalog
from .storage import READS_A_TURN, Storage, ops

FIRST_DEPTH_FACTOR = 1.5  # first read: 1.5x the candidates the lists need, spread over shards
Scored = tuple[str, float]
Eligible = Callable[[set[str]], Awaitable[set[str]]]

LOOKUP_CHUNK = 1000  # article fields per HMGET of the themes

_positive = partial(lt, 0)
_known = partial(is_not, None)


def _compress(items: list[Scored], keep: Iterable[Any]) -> list[Scored]:
    return list(compress(items, keep))


class TopReader:
    """Reads window sets for one rollup; knows each article's current theme once looked up."""

    def __init__(
        self,
        storage: Storage,
        size: int,
        theme_sizes: dict[str, int],
        excluded: frozenset[str] = frozenset(),
        author_sizes: dict[str, int] | None = None,
        author_size: int = 0,
        catalog: list[ShardCatalog] | None = None,
    ) -> None:
        self.storage = storage
        self.size = size
        self.theme_sizes = theme_sizes  # theme -> articles in the catalog
        self.themes: dict[str, str | None] = {}  # article -> theme (None: deleted)
        self.excluded = excluded  # never listed (editors took them out)
        self.author_sizes = author_sizes or {}  # author -> articles (author lists if any)
        self.author_size = author_size  # items of an author's list
        self.authors: authorlists.AuthorIndex | None = None  # set where authors are listed
        # What earlier rollups learnt of each shard's themes, still current (catalogcache.py).
        self.catalog = catalog or [ShardCatalog(None) for _ in range(keys.SHARDS)]

    async def lists(
        self, key_of: Any, eligible: Eligible | None = None
    ) -> tuple[list[Scored], dict[str, list[Scored]], dict[str, list[Scored]]]:
        """The site-wide list, every theme's and every author's list of one window;
        ``key_of(shard)`` names the shard's sorted set. Lists hold (article, views), best
        first, ties by article.
        ``eligible(articles)`` says which of some read articles may be listed (the minimum
        readers rule); the others are passed over as the excluded ones are."""
        need = self.size * (len(self.theme_sizes) + 1)
        depth = {
            shard: max(64, math.ceil(need * FIRST_DEPTH_FACTOR / keys.SHARDS))
            for shard in range(keys.SHARDS)
        }
        read: dict[int, list[Scored]] = {}
        exhausted: set[int] = set()
        listable: dict[str, bool] = {}  # article -> may be listed
        passed_over = 0
        while depth:
            for shard, items in zip(depth, await self._read(key_of, depth), strict=True):
                read[shard] = items
                if len(items) < depth[shard]:
                    exhausted.add(shard)
            await self.learn_themes(a for items in read.values() for a, _ in items)
            ceiling = max(
                (read[s][-1][1] for s in read if s not in exhausted and read[s]), default=-math.inf
            )
            # C-level passes (map, compress, sets) over the ~10,000 articles read a window.
            every = list(chain.from_iterable(read.values()))
            viewed = _compress(every, map(_positive, scores_of(every)))
            considered = _compress(viewed, map(_known, map(self.themes.get, ids_of(viewed))))
            # Each article is judged once per window, when first read.
            fresh = set(ids_of(considered)).difference(listable)
            allowed = fresh - self.excluded
            if eligible is not None and allowed:
                allowed = await eligible(allowed)
            passed_over += len(fresh) - len(allowed)
            listable.update(dict.fromkeys(fresh, False))
            listable.update(dict.fromkeys(allowed, True))
            candidates = (
                _compress(considered, map(listable.__getitem__, ids_of(considered)))
                if passed_over
                else considered
            )
            if self._settled(candidates, considered, ceiling):
                break
            depth = {s: 2 * len(read[s]) for s in read if s not in exhausted}
        top, by_theme = self._rank(candidates)
        if not self.author_sizes:
            return top, by_theme, {}
        assert self.authors is not None, "author lists need the author index"
        by_author = await authorlists.lists(
            self.storage,
            self.authors,
            key_of,
            read,
            candidates,
            ceiling,
            exhausted,
            self.excluded,
            eligible,
            self.author_size,
        )
        return top, by_theme, by_author

    def _settled(self, candidates: list[Scored], considered: list[Scored], ceiling: float) -> bool:
        """Whether no unread article (all score at most ``ceiling``) can enter any list: each
        list has enough ``candidates`` above it, or its theme has no article left unread
        (``considered``: every read article, listable or not)."""
        if ceiling == -math.inf:
            return True
        themes = self.themes.__getitem__
        seen = Counter(map(themes, ids_of(considered)))
        higher = _compress(candidates, map(partial(lt, ceiling), scores_of(candidates)))
        if len(higher) < self.size:
            return False
        above = Counter(map(themes, ids_of(higher)))
        return all(
            above[theme] >= self.size or seen[theme] >= articles
            for theme, articles in self.theme_sizes.items()
        )

    def _rank(self, candidates: list[Scored]) -> tuple[list[Scored], dict[str, list[Scored]]]:
        """The site-wide and theme lists from what was read."""
        # By article, then (a stable sort) by score, best first: no key tuple per candidate.
        ordered = sorted(candidates)
        ordered.sort(key=itemgetter(1), reverse=True)
        by_theme: dict[str, list[Scored]] = defaultdict(list)
        for article, score in ordered:
            members = by_theme[self.themes[article]]  # type: ignore[index]
            if len(members) < self.size:
                members.append((article, score))
        return ordered[: self.size], dict(by_theme)

    async def _read(self, key_of: Any, depth: dict[int, int]) -> list[list[Scored]]:
        return await self.storage.execute_in_turns(
            [ops.ztop(key_of(shard), count) for shard, count in depth.items()], READS_A_TURN
        )

    async def learn_themes(self, articles: Iterable[str]) -> None:
        """Look up the current theme (None: deleted) of the articles not yet known to this
        rollup or, at the shard's current catalog version, to an earlier one."""
        unknown: dict[int, list[str]] = defaultdict(list)
        themes, catalog = self.themes, self.catalog
        for article in articles:
            if article not in themes:
                shard = keys.shard_of(article)
                known = catalog[shard].themes
                if article in known:
                    themes[article] = known[article]
                else:
                    themes[article] = None
                    unknown[shard].append(article)
        if not unknown:
            return
        # At most LOOKUP_CHUNK fields an HMGET: after a busy interval a shard can have tens of
        # thousands of candidates, and one HMGET of them all held Redis for 36 ms.
        chunks = [
            (shard, found[start : start + LOOKUP_CHUNK])
            for shard, found in unknown.items()
            for start in range(0, len(found), LOOKUP_CHUNK)
        ]
        replies = await self.storage.execute_in_turns(
            [ops.hmget(keys.article_themes(shard), found) for shard, found in chunks], READS_A_TURN
        )
        for (shard, found), values in zip(chunks, replies, strict=True):
            learnt = dict(zip(found, values, strict=True))
            themes.update(learnt)
            catalog[shard].themes.update(learnt)


async def theme_sizes(storage: Storage) -> dict[str, int]:
    """Every theme in the catalog with its number of articles."""
    replies = await storage.execute(
        [ops.hgetall(keys.theme_counts(shard)) for shard in range(keys.SHARDS)]
    )
    sizes: dict[str, int] = defaultdict(int)
    for counts in replies:
        for theme, count in counts.items():
            sizes[theme] += int(count)
    return {theme: count for theme, count in sizes.items() if count > 0}


async def author_sizes(storage: Storage) -> dict[str, int]:
    """Every author in the catalog with their number of articles."""
    replies = await storage.execute(
        [ops.hgetall(keys.author_counts(shard)) for shard in range(keys.SHARDS)]
    )
    sizes: dict[str, int] = defaultdict(int)
    for counts in replies:
        for author, count in counts.items():
            sizes[author] += int(count)
    return {author: count for author, count in sizes.items() if count > 0}


async def scores(storage: Storage, articles: Iterable[str]) -> dict[str, float]:
    """All-time totals of some articles."""
    by_shard: dict[int, list[str]] = defaultdict(list)
    for article in articles:
        by_shard[keys.shard_of(article)].append(article)
    if not by_shard:
        return {}
    replies = await storage.execute_in_turns(
        [ops.zmcount(keys.totals(shard), members) for shard, members in by_shard.items()],
        READS_A_TURN,
    )
    found: dict[str, float] = {}
    for members, values in zip(by_shard.values(), replies, strict=True):
        found.update((m, v or 0) for m, v in zip(members, values, strict=True))
    return found
