"""Counters to rankings: maintain the buckets, rank, write a snapshot, publish it.

A rollup merges the views counted since the last one into the buckets and window sets and
slides the windows (buckets.py), reads the top of each shard's window sets (topk.py), takes
the top ``ranking_size`` articles site-wide and per theme (by the catalog's current theme),
and writes a new snapshot generation that a fenced script makes current in one step
(snapshot.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from . import buckets, integrity, keys, snapshot, topk
from .catalog import Catalog
from .clock import Clock
from .settings import Settings
from .storage import Storage
from .windows import WINDOWS

log = logging.getLogger("viewcount.rollup")
META_CHUNK = 500  # articles whose catalog fields one round trip reads


@dataclass(frozen=True, slots=True)
class RollupResult:
    published: bool
    as_of: float
    duration_ms: int
    generation: int


class Rollup:
    """One rollup run: reads counters, writes a snapshot, publishes it if still allowed."""

    def __init__(self, storage: Storage, settings: Settings, clock: Clock) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.catalog = Catalog(storage, clock)

    async def run(self, lease_token: str = "") -> RollupResult:
        started = time.monotonic()
        as_of = self.clock.now()
        await buckets.maintain(self.storage, as_of)
        await integrity.fold_samples(self.storage, as_of, self.settings.min_readers)
        ranked = await self._rank(as_of)
        generation = await snapshot.write(self.storage, await self._items(ranked), self._grace_s)
        published = await self._publish(lease_token, generation, as_of)
        duration_ms = int((time.monotonic() - started) * 1000)
        log.info(
            "rollup",
            extra={"published": published, "generation": generation, "duration_ms": duration_ms},
        )
        return RollupResult(published, as_of, duration_ms, generation)

    @property
    def _grace_s(self) -> int:
        """How long an unpublished or replaced snapshot stays readable."""
        return int(max(3 * self.settings.rollup_interval_s, 300))

    async def _publish(self, lease_token: str, generation: int, as_of: float) -> bool:
        return await snapshot.publish(self.storage, lease_token, generation, as_of, self._grace_s)

    async def _rank(self, as_of: float) -> dict[str, list[tuple[str, int]]]:
        """List name -> [(article, window views)], best first, ties by article id: site-wide
        and per theme (the catalog's current theme), read from the top of each window set.
        An article an editor took out is never listed; one without enough distinct readers
        in a window is not listed in that window's lists."""
        reader = topk.TopReader(
            self.storage,
            self.settings.ranking_size,
            await topk.theme_sizes(self.storage),
            await integrity.unranked(self.storage),
        )
        gate = integrity.ReaderGate(self.storage, self.settings.min_readers, as_of)
        ranked: dict[str, list[tuple[str, int]]] = {}
        for window in WINDOWS:
            name = window.name
            top, by_theme = await reader.lists(
                keys.totals if name == "all" else partial(keys.window, name=name),
                partial(gate.passing, window),
            )
            ranked[snapshot.list_name(name, None)] = _whole(top)
            for theme, items in by_theme.items():
                ranked[snapshot.list_name(name, theme)] = _whole(items)
        return ranked

    async def _items(
        self, ranked: dict[str, list[tuple[str, int]]]
    ) -> dict[str, list[dict[str, Any]]]:
        """The ranked lists with each article's catalog fields and all-time total."""
        listed = sorted({article for items in ranked.values() for article, _ in items})
        meta: dict[str, Any] = {}
        for start in range(0, len(listed), META_CHUNK):
            chunk = listed[start : start + META_CHUNK]
            meta.update(zip(chunk, await self.catalog.meta(chunk), strict=True))
        totals = await topk.scores(self.storage, listed)
        return {
            name: [
                snapshot.item(article, meta[article], window_views, int(totals.get(article, 0)))
                for article, window_views in items
                if meta[article] is not None  # deleted while we ranked
            ]
            for name, items in ranked.items()
        }


def _whole(items: list[tuple[str, float]]) -> list[tuple[str, int]]:
    return [(article, int(score)) for article, score in items]
