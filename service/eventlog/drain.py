"""The drain: the scheduler's leader moves each shard's log stream into the archive.

Per shard and step: read the oldest ``VIEWCOUNT_EVENT_LOG_FILE_ENTRIES`` entries, write them as
one Parquet file per logged day, then trim them from the stream (log_trim.lua). Exactly once
without a transaction across Redis and the files: a file's name is its shard and first id
(archive.py), so a drain that died between the write and the trim rewrites the same file with
the same rows or more when it runs again; and a file is never replaced by a smaller one (two
leaders for a moment), the stream is trimmed to whatever the file holds. A write that fails
(disk full, read-only, bucket unreachable) trims nothing: the stream keeps the events, counting
goes on, and the next interval tries again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import orjson

from .. import keys
from ..catalog import META_FIELDS
from ..clock import Clock
from ..scripts import log_state, log_trim
from ..settings import Settings
from ..storage import Storage, ops
from . import record
from .archive import CATALOG, Archive, day_of, days_back

log = logging.getLogger("viewcount.eventlog")
MAX_STEPS = 50  # files per shard and run: a long backlog drains over several intervals


@dataclass(slots=True)
class DrainResult:
    entries: int = 0  # stream entries archived and trimmed
    events: int = 0
    files: list[str] = field(default_factory=list)
    bytes_written: int = 0


class Drain:
    """One drain run over every shard, then retention and the catalog export."""

    def __init__(self, storage: Storage, settings: Settings, clock: Clock) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.archive = Archive(settings.event_log_url)

    async def run(self) -> DrainResult:
        """Archive what the streams hold; OSError (and fsspec's errors) when a write fails,
        after which the streams still hold everything not archived."""
        result = DrainResult()
        for shard in range(keys.SHARDS):
            for _ in range(MAX_STEPS):
                if not await self._step(shard, result):
                    break
        await self.export_catalog()
        self.archive.drop_before(
            days_back(day_of(int(self.clock.now() * 1000)), self.settings.event_log_retention_days)
        )
        return result

    async def _step(self, shard: int, result: DrainResult) -> bool:
        """One file's worth of a shard's stream; True when there may be more."""
        count = self.settings.event_log_file_entries
        entries = await self.storage.one(ops.xrange(keys.event_log(shard), "-", count))
        if not entries:
            return False
        by_day: dict[date, list[record.Event]] = defaultdict(list)
        first_of: dict[date, str] = {}
        last_of: dict[date, str] = {}
        for entry_id, fields in entries:
            day = day_of(int(entry_id.split("-", 1)[0]))
            first_of.setdefault(day, entry_id)
            last_of[day] = entry_id
            by_day[day] += record.decode_entry(shard, entry_id, fields)
        trim_to = entries[-1][0]
        for day, events in sorted(by_day.items()):
            path = self.archive.path(day, shard, first_of[day])
            held = self.archive.last_id(path)
            if held is not None and _after(held, last_of[day]):
                trim_to = _latest(trim_to, held)  # a larger file is there already: keep it
                continue
            result.bytes_written += self.archive.write(
                path, record.to_table(events), first_of[day], last_of[day]
            )
            result.files.append(path)
            result.events += len(events)
        await self.storage.run(log_trim.call(shard, trim_to))
        result.entries += len(entries)
        return len(entries) == count

    async def export_catalog(self) -> int:
        """The catalog as NDJSON beside the archive (what `viewcount replay` restores)."""
        members = await self.storage.execute(
            [ops.smembers(keys.articles(shard)) for shard in range(keys.SHARDS)]
        )
        article_ids = sorted(a for shard_members in members for a in shard_members)
        lines = []
        for start in range(0, len(article_ids), 500):
            chunk = article_ids[start : start + 500]
            replies = await self.storage.execute(
                [ops.hmget(keys.meta(article), META_FIELDS) for article in chunk]
            )
            for article, values in zip(chunk, replies, strict=True):
                if values[0] is not None:
                    entry = dict(zip(META_FIELDS, values, strict=True))
                    lines.append(orjson.dumps({"article": article, **entry}).decode())
        self.archive.write_text(CATALOG, "".join(f"{line}\n" for line in lines))
        return len(lines)


async def stream_states(storage: Storage) -> list[log_state.StreamState]:
    """Each shard's log stream: one call per shard (one round trip on a single node)."""
    replies = await storage.run_all([log_state.call([shard]) for shard in range(keys.SHARDS)])
    return [state for reply in replies for state in log_state.decode(reply)]


def _key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-", 1)
    return int(ms), int(seq)


def _after(a: str, b: str) -> bool:
    return _key(a) > _key(b)


def _latest(a: str, b: str) -> str:
    return a if _key(a) >= _key(b) else b
