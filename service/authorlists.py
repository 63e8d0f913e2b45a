"""Author lists: each author's best articles of a window, exact, without reading deeper.

The site-wide and theme lists read the top of each shard's window set (topk.py). An author's
list is settled by those reads when it has its ``size`` listable articles scoring above the
best score left unread. Most are not: an author's articles spread over the whole ranking, and
reading deep enough to settle 500 authors read nearly every window set whole and took the
rollup at 100,000 articles from 3 s to 16-24 s. So for the authors not settled, the rollup
looks up the window views of their unread articles alone (ZMSCORE, in chunks), from the
catalog's article -> author index read once per rollup, and only the best of those face the
minimum-readers gate: a handful of round trips a window, no new keys to keep.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from . import keys
from .storage import Storage, ops

Scored = tuple[str, float]
Eligible = Callable[[set[str]], Awaitable[set[str]]]

INDEX_PAGE = 2000  # article -> author fields per HSCAN page
SCORE_CHUNK = 1000  # members per ZMSCORE: a few hundred µs of Redis each
RANGE_CHUNK = 4000  # ranks per ZRANGE of a shard's rest: about a millisecond of Redis each
OVERLAP = 64  # ranks each range reads of the one before it (see _rest)
NAMED_COST = 4  # looking an article up by name costs about this many read by rank


@dataclass(slots=True)
class AuthorIndex:
    """Every article's author, and each author's articles by shard, as one rollup saw them."""

    author_of: dict[str, str] = field(default_factory=dict)
    articles: dict[str, dict[int, list[str]]] = field(default_factory=dict)


async def index(storage: Storage) -> AuthorIndex:
    """The catalog's article -> author hashes, every shard's read in pages at once."""
    hashes = await asyncio.gather(
        *(storage.whole_hash(keys.article_authors(s), INDEX_PAGE) for s in range(keys.SHARDS))
    )
    found = AuthorIndex()
    for shard, authors in enumerate(hashes):
        found.author_of.update(authors)
        for article, author in authors.items():
            found.articles.setdefault(author, {}).setdefault(shard, []).append(article)
    return found


async def lists(
    storage: Storage,
    authors: AuthorIndex,
    key_of: Any,
    read: dict[int, list[Scored]],
    candidates: Iterable[Scored],
    ceiling: float,
    exhausted: set[int],
    excluded: frozenset[str],
    eligible: Eligible | None,
    size: int,
) -> dict[str, list[Scored]]:
    """Every author's list of one window (``key_of(shard)`` names its sets): ``size``
    articles, best first, ties by article. ``read``: what the site and theme lists read of
    each shard; ``candidates``: the listable ones among them; ``ceiling``: the best score
    left unread in a shard not ``exhausted``."""
    pools: dict[str, list[Scored]] = defaultdict(list)
    above: dict[str, int] = defaultdict(int)
    for article, score in candidates:
        author = authors.author_of.get(article)
        if author is not None:
            pools[author].append((article, score))
            above[author] += score > ceiling
    short = [a for a in authors.articles if above[a] < size]
    wanted, author_of = set(short), authors.author_of
    # One pass over what may be 90,000 articles: each step of it costs tens of ms.
    for article, score in await _unread(storage, authors, key_of, read, exhausted, short):
        author = author_of.get(article)
        if author in wanted and score > 0 and article not in excluded:
            pools[author].append((article, score))
    for pool in pools.values():
        pool.sort()  # by article, then (a stable sort) by score, best first: no key per entry
        pool.sort(key=itemgetter(1), reverse=True)
    return await _gated(pools, eligible, size)


async def _unread(
    storage: Storage,
    authors: AuthorIndex,
    key_of: Any,
    read: dict[int, list[Scored]],
    exhausted: set[int],
    short: list[str],
) -> list[Scored]:
    """The window views of (at least) the short authors' articles that the reads did not
    reach (none in a shard read to its end; the caller keeps the short authors' above 0):
    looked up by name where they are few, else the rest of each
    shard read by rank, which costs Redis and this process far less per article than naming
    it (a ZRANGE walks the set; a ZMSCORE of 90,000 names packs, sends and hashes each)."""
    shards = [s for s in range(keys.SHARDS) if s not in exhausted]
    if not shards or not short:
        return []
    sizes = await storage.execute([ops.zcard(key_of(s)) for s in shards])
    rest = {s: size - len(read.get(s, ())) for s, size in zip(shards, sizes, strict=True)}
    named = sum(len(authors.articles[a].get(s, ())) for a in short for s in shards)
    if named * NAMED_COST < sum(rest.values()):
        return await _looked_up(storage, authors, key_of, read, shards, short)
    return await _rest(storage, key_of, read, rest)


async def _looked_up(
    storage: Storage,
    authors: AuthorIndex,
    key_of: Any,
    read: dict[int, list[Scored]],
    shards: list[int],
    short: list[str],
) -> list[Scored]:
    """The short authors' unread articles' scores, by name (ZMSCORE, in chunks)."""
    seen = {shard: {a for a, _ in items} for shard, items in read.items()}
    unread: dict[int, list[str]] = defaultdict(list)
    for author in short:
        for shard, articles in authors.articles[author].items():
            if shard in shards:
                held = seen.get(shard, set())
                unread[shard].extend(a for a in articles if a not in held)
    asked = [
        (shard, members[i : i + SCORE_CHUNK])
        for shard, members in unread.items()
        for i in range(0, len(members), SCORE_CHUNK)
    ]
    replies = await storage.execute([ops.zmscore(key_of(s), members) for s, members in asked])
    return [
        (article, score)
        for (_, members), scores in zip(asked, replies, strict=True)
        for article, score in zip(members, scores, strict=True)
        if score is not None
    ]


async def _rest(
    storage: Storage,
    key_of: Any,
    read: dict[int, list[Scored]],
    rest: dict[int, int],
    chunk: int = RANGE_CHUNK,
    overlap: int = OVERLAP,
) -> list[Scored]:
    """Every article ranked below what ``read`` holds of each shard (``rest``: how many
    more each holds), read by rank ``chunk`` at a time. The ranges overlap by ``overlap``
    (at least 1) ranks: an article deleted meanwhile moves the ones below it up a rank, and
    without the overlap the one at a range's edge would be skipped; what the overlap reads
    twice is taken once."""
    asked: list[tuple[int, int]] = []  # shard, first rank
    for shard, left in rest.items():
        end = len(read.get(shard, ())) + left
        start = max(0, len(read.get(shard, ())) - overlap)
        while start < end:
            asked.append((shard, start))
            start += chunk
    replies = await storage.execute(
        [ops.zrange_rev(key_of(s), start, start + chunk + overlap - 1) for s, start in asked]
    )
    found: list[Scored] = []
    edge = {
        s: {a for a, _ in read.get(s, [])[max(0, len(read.get(s, [])) - overlap) :]} for s in rest
    }
    for (shard, _), items in zip(asked, replies, strict=True):
        taken = edge[shard]
        head = [item for item in items[:overlap] if item[0] not in taken]
        found += head
        found += items[overlap:]
        edge[shard] = {a for a, _ in items[max(0, len(items) - overlap) :]}
    return found


async def _gated(
    pools: dict[str, list[Scored]], eligible: Eligible | None, size: int
) -> dict[str, list[Scored]]:
    """Each pool's first ``size`` eligible entries. Only the entries that could make a list
    are judged, a round at a time: each pool's next unjudged ones, as many as it still
    misses (twice that once some failed: where many fail, fewer rounds)."""
    known: dict[str, bool] = {}
    if eligible is not None:
        cursors = {author: (0, 0) for author in pools}  # next unjudged entry, passed before it
        while cursors:
            asked: set[str] = set()
            for author, (at, passed) in list(cursors.items()):
                pool = pools[author]
                while (
                    at < len(pool) and passed < size and (ok := known.get(pool[at][0])) is not None
                ):
                    passed += ok
                    at += 1
                if passed >= size or at >= len(pool):
                    del cursors[author]
                    continue
                cursors[author] = (at, passed)
                wanted = (size - passed) * (2 if passed < at else 1)
                asked.update(a for a, _ in pool[at : at + wanted] if a not in known)
            if asked:
                passing = await eligible(asked)
                known.update((a, a in passing) for a in asked)
    return {author: _first(pool, known, size) for author, pool in pools.items()}


def _first(pool: list[Scored], known: dict[str, bool], size: int) -> list[Scored]:
    """The first ``size`` entries not judged ineligible (without a gate none is judged)."""
    kept: list[Scored] = []
    for item in pool:
        if len(kept) >= size:
            break
        if known.get(item[0], True):
            kept.append(item)
    return kept
