"""The ranking snapshot as readers see it: a per-process cache, refreshed when it changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import snapshot
from .storage import Storage, StorageError

log = logging.getLogger("viewcount.rankings")
_CACHE_LIMIT = 4096
MAX_EXCLUDE = snapshot.SPARE_ITEMS  # ids one list request may leave out
FRESHNESS_S = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}  # published_within values


class Filters(NamedTuple):
    """What a list request leaves out: some articles, and those published too long ago."""

    exclude: frozenset[str] = frozenset()
    published_within_s: int | None = None


NO_FILTERS = Filters()


@dataclass
class _Cached:
    current: snapshot.Current = field(default_factory=snapshot.Current)
    raw: dict[str, str] = field(default_factory=dict)  # list name -> JSON as the rollup wrote it
    deleted: frozenset[str] = frozenset()  # tombstones: left out of every list
    lists: dict[str, list[snapshot.Entry]] = field(default_factory=dict)  # items without rank
    bodies: dict[tuple[str, str | None, int, Filters, str | None], bytes] = field(
        default_factory=dict
    )
    answers: dict[bytes, Any] = field(default_factory=dict)  # fast path: query -> answer

    @property
    def etag(self) -> str:
        return f'"{self.current.generation}.{self.current.version}"'

    def items(self, name: str) -> list[snapshot.Entry]:
        """One list's items, parsed on first use: a snapshot holds hundreds of lists, and
        parsing them all at once blocked the event loop for tens of ms after every rollup."""
        items = self.lists.get(name)
        if items is None:
            items = self.lists[name] = snapshot.parse(self.raw.get(name, ""), self.deleted)
        return items


class Rankings:
    """Serves popular lists from memory; a background task notices new snapshots."""

    def __init__(self, storage: Storage, poll_s: float) -> None:
        self.storage = storage
        self.poll_s = poll_s
        self._cached = _Cached()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def as_of(self) -> float | None:
        return self._cached.current.as_of

    @property
    def etag(self) -> str:
        """The ETag of the snapshot served now: it changes with each rollup and delete."""
        return self._cached.etag

    @property
    def answers(self) -> dict[bytes, Any]:
        """A cache of ready HTTP answers by query string, dropped with its snapshot."""
        answers = self._cached.answers
        if len(answers) >= _CACHE_LIMIT:  # bounded: queries come from the internet
            answers.clear()
        return answers

    def body(
        self,
        window: str,
        theme: str | None,
        limit: int,
        filters: Filters = NO_FILTERS,
        author: str | None = None,
    ) -> tuple[str, bytes]:
        """ETag and JSON body of one list (an author's when ``author`` is given), built once
        per snapshot, limit and filters, from memory alone: the snapshot keeps MAX_EXCLUDE
        spare items, so a list that leaves some out is still filled to ``limit``."""
        cached = self._cached
        cache_key = (window, theme, limit, filters, author)
        body = cached.bodies.get(cache_key)
        if body is None:
            name = (
                snapshot.author_list_name(window, author)
                if author is not None
                else snapshot.list_name(window, theme)
            )
            entries = cached.items(name)
            if filters is not NO_FILTERS:
                entries = _filtered(entries, filters, cached.current.as_of)
            items = [entry.json for entry in entries[:limit]]
            previous = snapshot.previous_as_of(cached.raw)
            body = snapshot.render(window, theme, cached.current.as_of, items, previous, author)
            if len(cached.bodies) < _CACHE_LIMIT:
                cached.bodies[cache_key] = body
        return cached.etag, body

    async def refresh(self) -> None:
        """Load the current snapshot if its generation or version changed."""
        current = await snapshot.current(self.storage)
        held = self._cached.current
        if (current.generation, current.version) == (held.generation, held.version):
            return
        if current.generation and current.generation == held.generation:
            raw = self._cached.raw  # only the tombstones changed
        elif current.generation:
            loaded = await snapshot.lists(self.storage, current.generation)
            if loaded is None:
                return  # expired under us: keep serving what we have
            raw = loaded
        else:
            raw = {}
        deleted = await snapshot.tombstones(self.storage)
        self._cached = _Cached(current, raw, deleted)

    async def forget(self, article: str, deleted_at: float) -> None:
        """Drop a deleted article from every list at once, in every process."""
        await snapshot.forget(self.storage, article, deleted_at)
        await self.refresh()

    async def remember(self, article: str) -> None:
        """A re-created article may rank again."""
        await snapshot.remember(self.storage, article)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task:
            # Python 3.11's asyncio.wait_for (inside redis-py's socket writes) can swallow a
            # cancellation that lands as a write completes: the flag ends the loop anyway.
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            try:
                await self.refresh()
            except StorageError as exc:
                log.warning("snapshot refresh failed", extra={"error": str(exc)})
            if self._stopping:
                return
            await asyncio.sleep(self.poll_s)


def _filtered(
    entries: list[snapshot.Entry], filters: Filters, as_of: float | None
) -> list[snapshot.Entry]:
    """The entries a request keeps: not excluded, and published within its span before
    ``as_of`` (an article without a publication time is not known to be fresh)."""
    exclude, within_s = filters
    kept = [entry for entry in entries if entry.article not in exclude]
    if within_s is None:
        return kept
    oldest = (as_of or 0.0) - within_s
    return [e for e in kept if e.published_s is not None and e.published_s >= oldest]
