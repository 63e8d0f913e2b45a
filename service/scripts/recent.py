"""recent.lua's codec: some articles' most recent readers rebuilt from their readers samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import keys
from ..storage import Call
from ..windows import DAY
from . import load
from .record import HOUR_S, SAMPLE_RETENTION_S
from .samples import DAY_RETENTION_S

SCRIPT = load("recent", durable=False, uses=("recent_readers",))  # rebuilt, not added to
REBUILD_CHUNK = 40  # articles a call: each reads about 60 samples (~2 ms of Redis a call)


def sources(shard: int, now: float) -> tuple[list[str], list[int]]:
    """Every readers sample of a shard that may still exist, days then hours, with the clock
    hour each stands for: enough to rebuild an article's recent readers exactly, since the
    hour samples cover every window a day's first hour would misjudge (24 hours and less)."""
    hour, today = int(now // HOUR_S), DAY.index(now)
    days = range(today - DAY_RETENTION_S // DAY.bucket_s, today + 1)
    hours = range(hour - SAMPLE_RETENTION_S // HOUR_S, hour + 1)
    names = [keys.readers_sample(shard, "d", d) for d in days]
    names += [keys.readers_sample(shard, "h", h) for h in hours]
    return names, [d * DAY.bucket_s // HOUR_S for d in days] + list(hours)


def call(shard: int, articles: Sequence[str], now: float, keep: int) -> Call:
    """Rebuild ``articles`` (all of ``shard``, at most REBUILD_CHUNK) keeping ``keep``."""
    names, hours = sources(shard, now)
    return Call(
        SCRIPT,
        [keys.recent_readers(shard), *names],
        [keep, len(names), *hours, *articles],
    )


def decode(reply: Any) -> int:
    """How many articles were rebuilt."""
    return int(reply)
