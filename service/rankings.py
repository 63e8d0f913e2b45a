"""The ranking snapshot as readers see it: a per-process cache, refreshed when it changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from . import keys
from .clock import rfc3339
from .rollup import list_name
from .store import STORAGE_ERRORS, Store

log = logging.getLogger("viewcount.rankings")
_CACHE_LIMIT = 4096
SNAPSHOT_PAGE = 16  # lists per HSCAN call when a new snapshot is loaded


@dataclass
class _Snapshot:
    generation: int = 0
    version: int = 0
    as_of: float | None = None
    raw: dict[str, str] = field(default_factory=dict)  # list name -> JSON as the rollup wrote it
    deleted: frozenset[str] = frozenset()  # tombstones: left out of every list
    lists: dict[str, list[bytes]] = field(default_factory=dict)  # items without rank
    bodies: dict[tuple[str, str | None, int], bytes] = field(default_factory=dict)
    answers: dict[bytes, Any] = field(default_factory=dict)  # fast path: query -> answer

    @property
    def etag(self) -> str:
        return f'"{self.generation}.{self.version}"'

    def items(self, name: str) -> list[bytes]:
        """One list's items, parsed on first use: a snapshot holds hundreds of lists, and
        parsing them all at once blocked the event loop for tens of ms after every rollup."""
        items = self.lists.get(name)
        if items is None:
            payload = self.raw.get(name)
            items = (
                [
                    orjson.dumps(item)
                    for item in orjson.loads(payload)
                    if item["article"] not in self.deleted
                ]
                if payload
                else []
            )
            self.lists[name] = items
        return items


class Rankings:
    """Serves popular lists from memory; a background task notices new snapshots."""

    def __init__(self, store: Store, poll_s: float) -> None:
        self.store = store
        self.poll_s = poll_s
        self._current = _Snapshot()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def as_of(self) -> float | None:
        return self._current.as_of

    @property
    def answers(self) -> dict[bytes, Any]:
        """A cache of ready HTTP answers by query string, dropped with its snapshot."""
        answers = self._current.answers
        if len(answers) >= _CACHE_LIMIT:  # bounded: queries come from the internet
            answers.clear()
        return answers

    def body(self, window: str, theme: str | None, limit: int) -> tuple[str, bytes]:
        """ETag and JSON body of one list, built once per snapshot and limit."""
        snap = self._current
        cache_key = (window, theme, limit)
        body = snap.bodies.get(cache_key)
        if body is None:
            items = snap.items(list_name(window, theme))[:limit]
            ranked = b",".join(b'{"rank":%d,%s' % (n, item[1:]) for n, item in enumerate(items, 1))
            head = orjson.dumps(
                {
                    "window": window,
                    "theme": theme,
                    "as_of": rfc3339(snap.as_of) if snap.as_of else None,
                }
            )
            body = head[:-1] + b',"items":[' + ranked + b"]}"
            if len(snap.bodies) < _CACHE_LIMIT:
                snap.bodies[cache_key] = body
        return snap.etag, body

    async def refresh(self) -> None:
        """Load the current snapshot if its generation or version changed."""
        client = self.store.client
        current = await client.hgetall(keys.CURRENT)
        generation, version = int(current.get("generation", 0)), int(current.get("version", 0))
        if (generation, version) == (self._current.generation, self._current.version):
            return
        if generation and generation == self._current.generation:
            raw = self._current.raw  # only the tombstones changed
        else:
            raw = await self._lists_of(generation) if generation else {}
            if generation and not raw:
                return  # expired under us: keep serving what we have
        deleted: frozenset[str] = frozenset(await client.zrange(keys.TOMBSTONES, 0, -1))  # type: ignore[arg-type]
        self._current = _Snapshot(
            generation, version, float(current["as_of"]) if generation else None, raw, deleted
        )

    async def _lists_of(self, generation: int) -> dict[str, str]:
        """Every list of a snapshot, a page at a time: a snapshot of 50 themes is megabytes,
        and one HGETALL of it held Redis and then this process's event loop (beacons waiting
        behind both) for milliseconds. A published snapshot never changes, so pages agree."""
        client = self.store.client
        raw: dict[str, str] = {}
        cursor = 0
        while True:
            cursor, page = await client.hscan(
                keys.snapshot(generation), cursor, count=SNAPSHOT_PAGE
            )
            raw.update(cast(dict[str, str], page))
            if not cursor:
                return raw

    async def forget(self, article: str, deleted_at: float) -> None:
        """Drop a deleted article from every list at once, in every process."""
        pipe = self.store.client.pipeline(transaction=True)
        pipe.zadd(keys.TOMBSTONES, {article: deleted_at})
        pipe.hincrby(keys.CURRENT, "version", 1)
        await pipe.execute()
        await self.refresh()

    async def remember(self, article: str) -> None:
        """A re-created article may rank again."""
        client = self.store.client
        if await client.zrem(keys.TOMBSTONES, article):
            await client.hincrby(keys.CURRENT, "version", 1)

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
            except STORAGE_ERRORS as exc:
                log.warning("snapshot refresh failed", extra={"error": str(exc)})
            if self._stopping:
                return
            await asyncio.sleep(self.poll_s)
