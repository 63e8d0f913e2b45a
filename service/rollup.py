"""Counters to rankings: maintain the buckets, rank, write a snapshot, publish it.

A rollup merges the views counted since the last one into the buckets and window sets and
slides the windows (buckets.py), folds the readers samples (integrity.py), then ranks every
window's lists (rollpart.py: the top of each shard's window sets, topk.py; the top
``ranking_size`` articles site-wide and per theme by the catalog's current theme, per author,
trending) into a new snapshot generation, which a fenced script makes current in one step
(snapshot.py). At VIEWCOUNT_ROLLUP_SPLIT_ARTICLES articles and more, helper processes rank
some of the windows meanwhile (rollhelpers.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from . import buckets, integrity, keys, movement, snapshot
from .clock import Clock
from .rollhelpers import Helper, HelperFailed, Helpers
from .rollpart import Part, Ranked, Ranker, Tasks, no_cycle_collection
from .settings import Settings
from .storage import Storage, StorageError, ops
from .windows import LISTED

log = logging.getLogger("viewcount.rollup")

# The windows dealt over a rollup's processes in this order, the first to a helper. At 100,000
# articles and 500 authors (bench rollup) two processes finish together this way: the 24h, 7d
# and 30d lists also read the windows before (previous_window_views), `all` and today do not,
# and 1h brings the trending lists.
DEALT = ("all", "30d", "today", "7d", "1h", "24h")
assert sorted(DEALT) == sorted(w.name for w in LISTED)


@dataclass(frozen=True, slots=True)
class RollupResult:
    published: bool
    as_of: float
    duration_ms: int
    generation: int
    processes: int = 1  # that ranked its windows: its own, and helpers


class Rollup:
    """Rollup runs, one after another: each reads counters, writes a snapshot, publishes it if
    still allowed. ``helped``: rank windows in helper processes as the settings say, for a
    scheduler's Rollup that runs for the process's life (close() ends them); a one-off
    rollup (the CLI's, a replay's, the API's on demand) ranks them all in its own process."""

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, *, helped: bool = False
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.ranker = Ranker(storage, settings, clock)
        self.helpers = Helpers(settings, storage.url if helped else None)

    async def run(self, lease_token: str = "") -> RollupResult:
        with no_cycle_collection():
            return await self._run(lease_token)

    async def start_helpers(self) -> int:
        """Start the helpers a catalog of this size wants and wait for them (a scheduler
        starting up, before its first rollup: a new interpreter takes a second or so to import
        the service, and a rollup whose helper is not up yet ranks every window itself), each
        process reading the catalog's author index meanwhile; how many are up. Nothing when
        Redis does not answer: the first rollup starts them then."""
        try:
            if not self.helpers.wanted:
                return 0
            size = await catalog_size(self.storage)
            if size < self.settings.rollup_split_articles:
                return 0
            # This process reads the author index meanwhile, as each helper does before it
            # says it is up.
            up, _ = await asyncio.gather(self.helpers.started(size), self.ranker.prime())
        except StorageError:
            return 0
        return len(up)

    def close(self) -> None:
        self.helpers.close()

    async def _catalog_size(self) -> int:
        """Articles in the catalog where helpers could take parts (0 where they cannot)."""
        return await catalog_size(self.storage) if self.helpers.wanted else 0

    async def _run(self, lease_token: str) -> RollupResult:
        started = time.monotonic()
        as_of = self.clock.now()
        await buckets.maintain(self.storage, as_of, self.settings.zone)
        async with Tasks() as tasks:
            # Independent: Redis folds the readers samples while the others are answered.
            folding = tasks.start(
                integrity.fold_samples(self.storage, as_of, self.settings.min_readers)
            )
            generation, held, size = await asyncio.gather(
                snapshot.new_generation(self.storage),
                movement.checkpoints(self.storage),
                self._catalog_size(),
            )
            await folding
        helpers = self.helpers.ready(size)
        own, *others = [
            Part(windows, as_of, generation, held, self._grace_s)
            for windows in split(DEALT, 1 + len(helpers))
        ]
        ranked, processes = await self._rank(own, list(zip(helpers, others, strict=True)))
        shown = {name: ids for part in ranked for name, ids in part.shown.items()}
        await snapshot.write_head(self.storage, generation, self._grace_s, ranked[0].previous_as_of)
        published = await self._publish(lease_token, generation, as_of)
        if published:  # only what readers saw is compared with later
            await movement.record(
                self.storage, held, generation, as_of, shown, self.settings.movement_s
            )
        duration_ms = int((time.monotonic() - started) * 1000)
        log.info(
            "rollup",
            extra={
                "published": published,
                "generation": generation,
                "duration_ms": duration_ms,
                "processes": processes,
            },
        )
        return RollupResult(published, as_of, duration_ms, generation, processes)

    async def _rank(
        self, own: Part, helped: Sequence[tuple[Helper, Part]]
    ) -> tuple[list[Ranked], int]:
        """Each part ranked, this process's own first, and the processes that ranked them: a
        part a helper fails is ranked here, after this process's own."""
        processes = 1
        async with Tasks() as tasks:
            asked = [
                (part, tasks.start(helper.rank(part, self.settings.lease_s)))
                for helper, part in helped
            ]
            ranked = [await self.ranker.rank(own)]
            for part, answer in asked:
                try:
                    ranked.append(await answer)
                    processes += 1
                except HelperFailed as exc:
                    log.warning("rollup helper failed: ranked here", extra={"error": str(exc)})
                    ranked.append(await self.ranker.rank(part))
        return ranked, processes

    @property
    def _grace_s(self) -> int:
        """How long an unpublished or replaced snapshot stays readable."""
        return int(max(3 * self.settings.rollup_interval_s, 300))

    async def _publish(self, lease_token: str, generation: int, as_of: float) -> bool:
        return await snapshot.publish(self.storage, lease_token, generation, as_of, self._grace_s)


def split(windows: Sequence[str], parts: int) -> list[tuple[str, ...]]:
    """``windows`` dealt over ``parts`` in turn, the first to the second part: the first
    part is the rollup's own process, which also has the rest of the rollup to do."""
    if parts == 1:  # in the order the lists have always been ranked in
        return [tuple(w.name for w in LISTED)]
    dealt: list[list[str]] = [[] for _ in range(parts)]
    for n, window in enumerate(windows):
        dealt[(n + 1) % parts].append(window)
    return [tuple(part) for part in dealt]


async def catalog_size(storage: Storage) -> int:
    """Articles in the catalog."""
    counts = await storage.execute([ops.scard(keys.articles(s)) for s in range(keys.SHARDS)])
    return sum(counts)
