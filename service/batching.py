"""Queue while a flush is in flight: the batching that group commits and shared reads use.

Items queue while ``max_inflight`` flushes run; when one lands, what queued meanwhile goes out
together as the next. Under load a flush carries many items for one Redis round trip; at
rest an item goes out at once, alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("viewcount.batching")


def _one(item: object) -> int:
    return 1


class Batcher(Generic[T]):
    """Runs ``flush`` on batches of queued items, at most ``max_inflight`` at a time."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[None]],
        *,
        max_batch: int,
        max_inflight: int = 1,
        size: Callable[[T], int] = _one,
        keep: Callable[[T], bool] | None = None,
    ) -> None:
        self.flush = flush
        self.max_batch = max_batch  # in ``size`` units; a batch holds at least one item
        self.max_inflight = max_inflight
        self.size = size
        self.keep = keep  # checked as a batch leaves: items it refuses are dropped unsent
        self.queue: list[T] = []
        self.inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, item: T) -> None:
        self.queue.append(item)
        self.kick()

    def extend(self, items: Iterable[T]) -> None:
        self.queue.extend(items)
        self.kick()

    def take_all(self) -> list[T]:
        """Everything still queued, no longer to be flushed."""
        taken, self.queue = self.queue, []
        return taken

    def kick(self) -> None:
        queue = self.queue
        while queue and self.inflight < self.max_inflight:
            if self.size is _one:  # the common case, without a loop over the queue
                count = min(len(queue), self.max_batch)
            else:
                count, total = 0, 0
                for item in queue:
                    total += self.size(item)
                    if count and total > self.max_batch:
                        break
                    count += 1
            batch = queue[:count]
            del queue[:count]
            if self.keep is not None:
                batch = [item for item in batch if self.keep(item)]
                if not batch:
                    continue
            self.inflight += 1
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[T]) -> None:
        try:
            await self.flush(batch)
        except Exception:  # a flush answers its own callers; this is a bug in it
            log.exception("flush failed")
        finally:
            self.inflight -= 1
            self.kick()
