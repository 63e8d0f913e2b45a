"""Concurrent lookups share Redis round trips, the way concurrent beacons share a commit.

While one lookup is in flight, the keys asked for meanwhile queue; when it lands they go out
together, deduplicated, in the next. Each caller gets what it asked for, read after it asked
(live counts stay live). Under load many requests share one Redis call; at rest each has its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """Batches the key lookups of concurrent callers into as few fetches as possible."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], max_keys: int,
                 max_inflight: int = 2) -> None:
        self.fetch = fetch
        self.max_keys = max_keys
        self.max_inflight = max_inflight
        self._queue: list[tuple[list[K], asyncio.Future[dict[K, V]]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, wanted: list[K]) -> dict[K, V]:
        """The values of ``wanted`` (and perhaps of other keys), fetched after this call
        began; shared with the other callers of the same fetch: read it, do not change it."""
        future: asyncio.Future[dict[K, V]] = asyncio.get_running_loop().create_future()
        self._queue.append((wanted, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        while self._queue and self._inflight < self.max_inflight:
            batch: list[tuple[list[K], asyncio.Future[dict[K, V]]]] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0][0]) <= self.max_keys):
                batch.append(self._queue.pop(0))
                size += len(batch[-1][0])
            self._inflight += 1
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[list[K], asyncio.Future[dict[K, V]]]]) -> None:
        try:
            unique = list(dict.fromkeys(key for wanted, _ in batch for key in wanted))
            found = await self.fetch(unique)
        except Exception as exc:
            # Whoever queued behind a failed fetch (Redis down or stalled) fails with it
            # rather than wait for a timeout of its own.
            failed, self._queue = batch + self._queue, []
            for _, future in failed:
                if not future.done():
                    future.set_exception(exc)
        else:
            for _, future in batch:
                if not future.done():
                    future.set_result(found)
        finally:
            self._inflight -= 1
            self._kick()
