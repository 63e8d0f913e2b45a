"""samples.lua's codec: fold one shard's hourly readers samples into daily and all-time ones."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from ..windows import DAY
from . import load
from .record import HOUR_S, ttl

SCRIPT = load("samples", durable=False, uses=("recent_readers",))  # a union: idempotent
DAY_RETENTION_S = 32 * 86400  # the 30-day lists read 31 days of samples
HOURS = 2  # the hours folded by each rollup: this one and the one before


def call(shard: int, as_of: float, keep: int) -> Call:
    hour = int(as_of // HOUR_S)
    hours = range(hour - HOURS + 1, hour + 1)
    days = [DAY.index(h * HOUR_S) for h in hours]
    key_list = [keys.readers_sample(shard, "h", h) for h in hours]
    key_list += [keys.readers_sample(shard, "d", d) for d in days]
    key_list += [keys.readers_sample(shard, "all"), keys.recent_readers(shard)]
    day_ttl = ttl((days[-1] + 1) * DAY.bucket_s + DAY_RETENTION_S, as_of)
    return Call(SCRIPT, key_list, [keep, HOURS, day_ttl, *hours])


def decode(reply: Any) -> int:
    """How many samples and recent readers' values grew."""
    return int(reply)
