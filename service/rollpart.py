"""One part of a rollup: the lists of some windows, ranked and written into a new snapshot.

A rollup (rollup.py) folds the counters, then ranks each window's lists: site-wide and per
theme (topk.py), per author (authorlists.py), and for the 1h window the trending lists
(trending.py). Windows are independent from there on: each list's items need only its own
articles' catalog heads, all-time totals, ranks in the previous checkpoint (movement.py) and
views in the window before. So a rollup can hand some windows to another process
(rollhelpers.py) while it ranks the rest: a Ranker is what ranks a Part, in the rollup's own
process or in a helper, and writes its lists into the generation the rollup publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import Any, TypeVar

from . import catalogcache, integrity, keys, movement, snapshot, topk, trending
from .authorlists import ids_of
from .catalog import Catalog
from .clock import Clock
from .settings import Settings
from .storage import Storage
from .windows import W1H, WINDOWS_BY_NAME

Earlier = dict[str, dict[str, int]]  # window -> article -> views in the window before
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Part:
    """What a part of one rollup ranks: some windows' lists, into snapshot ``generation``."""

    windows: tuple[str, ...]  # names, as windows.LISTED has them
    as_of: float
    generation: int
    held: list[tuple[str, float]]  # the rank checkpoints (movement.checkpoints)
    grace_s: int  # how long the unpublished snapshot stays


@dataclass(frozen=True, slots=True)
class Ranked:
    """What a part wrote: each list's articles as shown (for the rank checkpoint), and when
    the checkpoint its previous ranks come from was published (None: none)."""

    shown: dict[str, list[str]] = field(default_factory=dict)
    previous_as_of: float | None = None


class Ranker:
    """Ranks parts of rollups, one after another, in one process; keeps between them what it
    read of the catalog (catalogcache.py) and the checkpoint it compares with."""

    def __init__(self, storage: Storage, settings: Settings, clock: Clock) -> None:
        self.storage = storage
        self.settings = settings
        self.catalog = Catalog(storage, clock)
        self._previous = movement.Previous()  # the last checkpoint read: reused while current
        # What it read of the catalog, kept while each shard's version stays (catalogcache.py).
        self._catalog = catalogcache.CatalogCache(settings.catalog_cache_s)

    async def prime(self) -> None:
        """Read the catalog's author index ahead of the first part (a scheduler starting up,
        while its helpers import the service): the one catalog read every author list needs,
        ~170 ms of a first rollup at 100,000 articles."""
        shards = await self._catalog.refresh(self.storage)
        if await topk.author_sizes(self.storage):
            await self._catalog.authors(self.storage, shards)

    async def rank(self, part: Part) -> Ranked:
        with no_cycle_collection():
            return await self._rank(part)

    async def _rank(self, part: Part) -> Ranked:
        shards = await self._catalog.refresh(self.storage)
        reader = await self._reader(shards)
        async with Tasks() as tasks:
            ranked, scores, summing = await self._lists(part, reader, tasks)
            listed = list(set(ids_of(chain.from_iterable(ranked.values()))))
            # Independent reads, at once: Redis answers while this process decodes the replies.
            reading = (
                tasks.start(
                    movement.previous(
                        self.storage,
                        part.held,
                        part.as_of,
                        self.settings.movement_s,
                        self._previous,
                        names=ranked,
                    )
                ),
                tasks.start(self._heads(listed, shards)),
                tasks.start(topk.scores(self.storage, listed)),
            )
            previous, heads, totals = await reading[0], await reading[1], await reading[2]
            self._previous = previous
            earlier: Earlier = {}
            for task in summing:  # each task's window, and the others' empty
                for window, views in (await task).items():
                    earlier.setdefault(window, {}).update(views)
        payloads, shown = items(ranked, scores, previous, earlier, heads, totals)
        await snapshot.write_lists(self.storage, part.generation, payloads, part.grace_s)
        return Ranked(shown, previous.as_of)

    async def _reader(self, shards: list[catalogcache.ShardCatalog]) -> topk.TopReader:
        """A reader of the window sets that knows the catalog's themes, authors and the
        articles editors took out, as they are now (``shards``: what is known of each
        shard's catalog at its current version)."""
        theme_sizes, unranked, author_sizes = await asyncio.gather(
            topk.theme_sizes(self.storage),
            integrity.unranked(self.storage),
            topk.author_sizes(self.storage),
        )
        reader = topk.TopReader(
            self.storage,
            self.settings.ranking_size + snapshot.SPARE_ITEMS,
            theme_sizes,
            unranked,
            author_sizes,
            self.settings.author_ranking_size + snapshot.SPARE_ITEMS,
            shards,
        )
        if author_sizes:
            reader.authors = await self._catalog.authors(self.storage, shards)
        return reader

    async def _lists(
        self, part: Part, reader: topk.TopReader, tasks: Tasks
    ) -> tuple[dict[str, list[tuple[str, float]]], dict[str, float], list[asyncio.Task[Earlier]]]:
        """List name -> [(article, window views)], best first, ties by article, of the part's
        windows: site-wide and per theme (the catalog's current theme), read from the top of
        each window set; per author (the catalog's current author), and with the 1h window
        the trending lists (1h views), with each trending article's score; and the tasks
        reading the views of the window before for the articles of the 24h, 7d and 30d
        lists, started as each window is ranked: Redis reads them while this process ranks
        the next windows.
        An article an editor took out is never listed; one without enough distinct readers
        in a window is not listed in that window's lists."""
        summing: list[asyncio.Task[Earlier]] = []
        gate = integrity.ReaderGate(
            self.storage, self.settings.min_readers, part.as_of, self.settings.zone
        )
        ranked: dict[str, list[tuple[str, float]]] = {}
        for window in map(WINDOWS_BY_NAME.__getitem__, part.windows):
            name = window.name
            top, by_theme, by_author = await reader.lists(
                keys.totals if name == "all" else partial(keys.window, name=name),
                partial(gate.passing, window),
            )
            ranked[snapshot.list_name(name, None)] = top
            for theme, entries in by_theme.items():
                ranked[snapshot.list_name(name, theme)] = entries
            for author, entries in by_author.items():
                ranked[snapshot.author_list_name(name, author)] = entries
            if name in movement.PREVIOUS_WINDOWS:
                of_window = (top, *by_theme.values(), *by_author.values())
                articles = set(ids_of(chain.from_iterable(of_window)))
                summing.append(tasks.start(movement.previous_views(self.storage, {name: articles})))
        scores: dict[str, float] = {}
        if W1H.name not in part.windows:
            return ranked, scores, summing
        rising, rising_by_theme = await trending.lists(
            self.storage,
            reader,
            partial(gate.passing, W1H),
            part.as_of,
            self.settings.trending_prior_views,
            self.settings.trending_min_score,
        )
        lists: list[tuple[str | None, list[trending.Scored]]] = [(None, rising)]
        for of_theme, scored in [*lists, *rising_by_theme.items()]:
            scores.update((article, score) for article, _, score in scored)
            ranked[snapshot.list_name(snapshot.TRENDING, of_theme)] = [
                (article, views) for article, views, _ in scored
            ]
        return ranked, scores, summing

    async def _heads(
        self, listed: list[str], shards: list[catalogcache.ShardCatalog]
    ) -> dict[str, bytes]:
        """snapshot.head() of every listed article still in the catalog: read for the ones
        not known at their shard's current catalog version."""
        heads: dict[str, bytes] = {}
        unknown: list[str] = []
        for article in listed:
            head = shards[keys.shard_of(article)].heads.get(article)
            if head is None:
                unknown.append(article)
            else:
                heads[article] = head
        found = await self.catalog.meta(unknown, snapshot.HEAD_FIELDS)
        heads.update(
            (article, snapshot.head(article, fields))
            for article, fields in zip(unknown, found, strict=True)
            if fields is not None
        )
        catalogcache.keep_heads(shards, heads, listed)
        return heads


_collection_off = 0  # rollups running in this process with the cycle collector off


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector held off while a rollup runs. A rollup builds a few
    million objects (tuples, lists, dicts), none in a cycle, that reference counting frees;
    the collector walked them all again each time they had grown by a quarter: 0.3-0.8 s of
    a 2.5-3 s rollup at 100,000 articles (bench rollup; gc callbacks counted ~3 full and
    ~80 middle collections a rollup). It is back on when the last rollup ends, and collects
    whatever cycles arose meanwhile then, as it would have."""
    global _collection_off
    if not _collection_off and not gc.isenabled():  # someone else turned it off: theirs
        yield
        return
    _collection_off += 1
    gc.disable()
    try:
        yield
    finally:
        _collection_off -= 1
        if not _collection_off:
            gc.enable()


class Tasks:
    """The tasks one rollup starts. When it fails they are cancelled and waited for, so that
    none outlives it: a command still running as its caller closes the storage would leave
    its connection open."""

    def __init__(self) -> None:
        self.started: list[asyncio.Task[Any]] = []

    def start(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(work)
        self.started.append(task)
        return task

    async def __aenter__(self) -> Tasks:
        return self

    async def __aexit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if error is not None:
            for task in self.started:
                task.cancel()
            await asyncio.gather(*self.started, return_exceptions=True)


def items(
    ranked: dict[str, list[tuple[str, float]]],
    scores: dict[str, float],
    previous: movement.Previous,
    earlier: dict[str, dict[str, int]],
    heads: dict[str, bytes],
    totals: dict[str, float],
) -> tuple[dict[str, list[bytes]], dict[str, list[str]]]:
    """The ranked lists' items as JSON, and the articles they show, by list: each article's
    head (catalog fields), all-time total, rank in the previous lists and (24h, 7d, 30d
    lists) views in the window before. An article deleted while we ranked (no head) is left
    out.
    snapshot.item_json() inlined: ~135,000 items a rollup at 100,000 articles and 500
    authors, and a call per item cost a third of the time (tests/unit hold them equal)."""
    trending_prefix = snapshot.list_name(snapshot.TRENDING, None)
    total, item_json = totals.get, snapshot.item_json
    payloads: dict[str, list[bytes]] = {}
    shown: dict[str, list[str]] = {}
    for name, listed in ranked.items():
        articles = shown[name] = [a for a, _ in listed if a in heads]
        entries = listed if len(articles) == len(listed) else [i for i in listed if i[0] in heads]
        previous_ranks = previous.ranks.get(name, {})
        if name.startswith(trending_prefix):
            payloads[name] = [
                item_json(heads[a], v, int(total(a, 0)), scores[a], previous_ranks.get(a))
                for a, v in entries
            ]
            continue
        rank = previous.ranks_json(name).get
        before = earlier.get(snapshot.window_of(name))
        if before is None:
            payloads[name] = [
                _ITEM % (heads[a], v, total(a, 0), rank(a, b"null")) for a, v in entries
            ]
        else:
            prior = before.get
            payloads[name] = [
                _ITEM_BEFORE % (heads[a], v, total(a, 0), rank(a, b"null"), prior(a, 0))
                for a, v in entries
            ]
    return payloads, shown


# snapshot.item_json()'s output without a score: an item, and one of a list that carries
# previous_window_views.
_ITEM = snapshot.ITEM_START + b"}"
_ITEM_BEFORE = snapshot.ITEM_START + b',"previous_window_views":%d}'
