"""Author lists: each author's best articles of a window, exact, reading no deeper than needed.

The site-wide and theme lists read the top of each shard's window set (topk.py). An author's
list is settled by what was read once it holds ``size`` listable articles scoring above the
best score left unread (the ceiling). After those reads most of 500 authors are not: an
author's articles spread over the whole ranking. So the rollup reads on down every shard's set
by rank, half as deep again each round, keeping the unsettled authors' listable articles, until
each author is settled or every set is read; once what the unsettled authors still miss is
fewer articles than reading on would read, it looks those up by name (ZMSCORE) instead.

Each article passes the minimum-readers gate once, as it is kept (the gate costs one lookup an
article for every window: integrity.ReaderGate). No keys of their own: the catalog's
article -> author index (as catalogcache.py keeps it) and the window sets the other lists read.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from itertools import compress, repeat
from operator import itemgetter, le
from typing import Any, cast

from . import keys
from .storage import READS_A_TURN, Storage, ops

Scored = tuple[str, float]
Eligible = Callable[[set[str]], Awaitable[set[str]]]

SCORE_CHUNK = 1000  # members per ZMSCORE: a few hundred µs of Redis each
RANGE_CHUNK = 4000  # ranks per ZRANGE: about a millisecond of Redis each
RANGES_A_TURN = 4  # ZRANGEs sent at once: other clients wait for at most ~4 ms of them
OVERLAP = 64  # ranks each read takes again of the one before (see Reading.deeper)
DEEPER = 1.5  # each round reads every open shard this many times as deep
NAMED_COST = 4  # looking an article up by name costs about this many read by rank


@dataclass(slots=True)
class AuthorIndex:
    """Every article's author, and each author's articles by shard, as one rollup saw them."""

    author_of: dict[str, str] = field(default_factory=dict)
    articles: dict[str, dict[int, list[str]]] = field(default_factory=dict)

    def size(self, author: str) -> int:
        """The author's articles in the catalog."""
        return sum(len(articles) for articles in self.articles.get(author, {}).values())


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
    each shard, best first; ``candidates``: the listable ones among them; ``ceiling``: the
    best score left unread in a shard not ``exhausted``."""
    author_of = authors.author_of
    pools = Pools(size)
    candidates = list(candidates)
    owners = list(map(author_of.get, ids_of(candidates)))
    pools.add(compress(zip(ids_of(candidates), scores_of(candidates), owners, strict=True), owners))
    reading = await Reading.start(storage, key_of, read, exhausted)
    short = pools.short(authors.articles, ceiling)
    while short and reading.open:
        missing = sum(authors.size(a) for a in short) * reading.unread_share
        if missing * NAMED_COST < reading.next_read:
            found = await _looked_up(storage, authors, key_of, reading, short)
            await _keep(found, short, author_of, excluded, eligible, pools)
            break
        await _keep(await reading.deeper(), short, author_of, excluded, eligible, pools)
        short = pools.short(short, reading.ceiling)
    return pools.lists()


class Pools:
    """Each author's listable articles read so far, and the ``size`` best scores of them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: dict[str, list[Scored]] = defaultdict(list)
        self.best: dict[str, list[float]] = defaultdict(list)  # a min-heap, ``size`` at most

    def add(self, found: Iterable[tuple[str, float, str | None]]) -> None:
        """Keep some listable articles, each with its author (typed as map(author_of.get)
        gives it; callers pass only articles that have one)."""
        size, push, replace = self.size, heapq.heappush, heapq.heapreplace
        items = cast(dict[str | None, list[Scored]], self.items)
        best = cast(dict[str | None, list[float]], self.best)
        for article, score, author in found:
            items[author].append((article, score))
            heap = best[author]
            if len(heap) < size:
                push(heap, score)
            elif score > heap[0]:
                replace(heap, score)

    def floor(self, author: str) -> float:
        """The least score an article of the author's can still make the list with: its
        ``size``-th best (a tie may, by article), -inf while it has fewer."""
        best = self.best.get(author)
        return best[0] if best is not None and len(best) >= self.size else -math.inf

    def short(self, among: Iterable[str], ceiling: float) -> set[str]:
        """The authors whose list is not settled: fewer than ``size`` listable articles
        above ``ceiling``, the best score left unread (-inf: nothing is)."""
        if ceiling == -math.inf:
            return set()
        return {a for a in among if self.floor(a) <= ceiling}

    def lists(self) -> dict[str, list[Scored]]:
        """Each author's ``size`` best, best first, ties by article."""
        lists = {}
        for author, pool in self.items.items():
            pool.sort()  # by article, then (a stable sort) by score, best first: no key per item
            pool.sort(key=itemgetter(1), reverse=True)
            lists[author] = pool[: self.size]
        return lists


async def _keep(
    found: list[Scored],
    short: set[str],
    author_of: dict[str, str],
    excluded: frozenset[str],
    eligible: Eligible | None,
    pools: Pools,
) -> None:
    """Into their authors' pools: the articles ``found`` of the ``short`` authors that may
    be listed (read, not excluded, passing the gate) and can still make the list (the gate
    judges no article its author's list has no room for)."""
    # C-level passes (map, compress): ~36,000 articles read a window at 100,000 articles.
    floors = {author: max(pools.floor(author), _LEAST) for author in short}
    owners = list(map(author_of.get, ids_of(found)))
    floor_of = cast(Callable[[str | None, float], float], floors.get)
    fits = map(le, map(floor_of, owners, repeat(math.inf)), scores_of(found))
    wanted = list(compress(zip(ids_of(found), scores_of(found), owners, strict=True), fits))
    if excluded:
        wanted = [item for item in wanted if item[0] not in excluded]
    if eligible is None or not wanted:
        pools.add(wanted)
        return
    passing = await eligible(set(ids_of(wanted)))
    pools.add(compress(wanted, map(passing.__contains__, ids_of(wanted))))


_LEAST = math.ulp(0.0)  # the least positive score: as a floor, it keeps out articles with none
# The articles, and the scores, of some (article, score) items, as C-level iterators (topk.py
# and rollup.py use them too).
ids_of = partial(map, itemgetter(0))
scores_of = partial(map, itemgetter(1))


@dataclass
class Reading:
    """How far each shard's window set was read, best first, and reading on by rank."""

    storage: Storage
    key_of: Any
    sizes: dict[int, int]  # shard -> members of its set
    depth: dict[int, int]  # shard -> ranks read
    last: dict[int, float]  # shard -> the lowest score read
    read: dict[int, list[list[Scored]]]  # shard -> what each read returned

    @classmethod
    async def start(
        cls, storage: Storage, key_of: Any, read: dict[int, list[Scored]], exhausted: set[int]
    ) -> Reading:
        shards = [s for s in range(keys.SHARDS) if s not in exhausted]
        sizes = await storage.execute([ops.zcard(key_of(s)) for s in shards])
        held = {s: read.get(s, []) for s in shards}
        return cls(
            storage,
            key_of,
            dict(zip(shards, sizes, strict=True)),
            {s: len(items) for s, items in held.items()},
            {s: items[-1][1] if items else math.inf for s, items in held.items()},
            {s: [items] for s, items in held.items()},
        )

    @property
    def open(self) -> list[int]:
        """The shards with ranks left to read."""
        return [s for s, size in self.sizes.items() if self.depth[s] < size]

    @property
    def ceiling(self) -> float:
        """The best score left unread in any shard (-inf: none)."""
        return max((self.last[s] for s in self.open), default=-math.inf)

    @property
    def unread_share(self) -> float:
        """The share of the sets' members not read yet."""
        total = sum(self.sizes.values())
        return sum(self.sizes[s] - self.depth[s] for s in self.open) / total if total else 0.0

    def ids(self, shard: int) -> set[str]:
        """Every article read of a shard."""
        return {article for items in self.read[shard] for article, _ in items}

    def _tail(self, shard: int) -> list[Scored]:
        """The last OVERLAP articles read of a shard."""
        tail: list[Scored] = []
        for items in reversed(self.read[shard]):
            tail = items[max(0, len(items) - (OVERLAP - len(tail))) :] + tail
            if len(tail) >= OVERLAP:
                break
        return tail

    def _target(self, shard: int) -> int:
        return min(self.sizes[shard], max(RANGE_CHUNK // 4, math.ceil(self.depth[shard] * DEEPER)))

    @property
    def next_read(self) -> int:
        """The articles the next round reads."""
        return sum(self._target(s) - self.depth[s] for s in self.open)

    async def deeper(self) -> list[Scored]:
        """The next ranks of every open shard, each read from OVERLAP ranks above where the
        last read ended: an article deleted meanwhile moves the ones below it up a rank, and
        the one at the edge would be skipped; what the overlap reads twice is taken once."""
        asked: list[tuple[int, int, int]] = []  # shard, first rank, last rank
        for shard in self.open:
            end = self._target(shard)
            for first in range(max(0, self.depth[shard] - OVERLAP), end, RANGE_CHUNK):
                asked.append((shard, first, min(first + RANGE_CHUNK + OVERLAP, end) - 1))
        replies = await self.storage.execute_in_turns(
            [ops.zrange_rev(self.key_of(s), first, last) for s, first, last in asked], RANGES_A_TURN
        )
        found: list[Scored] = []
        for (shard, first, last), items in zip(asked, replies, strict=True):
            edge = {a for a, _ in self._tail(shard)}
            fresh = [item for item in items[:OVERLAP] if item[0] not in edge] + items[OVERLAP:]
            found += fresh
            self.read[shard].append(fresh)
            if items:
                self.last[shard] = items[-1][1]
            self.depth[shard] = first + len(items)
            if len(items) <= last - first:  # the set ends here (it shrank meanwhile)
                self.sizes[shard] = self.depth[shard]
        return found


async def _looked_up(
    storage: Storage, authors: AuthorIndex, key_of: Any, reading: Reading, short: set[str]
) -> list[Scored]:
    """The window views of the short authors' articles not read yet, by name."""
    read = {shard: reading.ids(shard) for shard in reading.open}
    unread: dict[int, list[str]] = defaultdict(list)
    for author in short:
        for shard, articles in authors.articles[author].items():
            if shard in read:
                ids = read[shard]
                unread[shard].extend(a for a in articles if a not in ids)
    asked = [
        (shard, members[i : i + SCORE_CHUNK])
        for shard, members in unread.items()
        for i in range(0, len(members), SCORE_CHUNK)
    ]
    replies = await storage.execute_in_turns(
        [ops.zmcount(key_of(s), members) for s, members in asked], READS_A_TURN
    )
    return [
        (article, score)
        for (_, members), scores in zip(asked, replies, strict=True)
        for article, score in zip(members, scores, strict=True)
        if score is not None
    ]
