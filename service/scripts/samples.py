"""samples.lua's codec: fold one shard's hourly readers samples into daily and all-time ones."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from ..windows import DAY
from . import load
from .record import HOUR_S, SAMPLE_RETENTION_S, ttl

SCRIPT = load("samples", durable=False, uses=("recent_readers",))  # a union: idempotent
DAY_RETENTION_S = 32 * 86400  # the 30-day lists read 31 days of samples
HOURS = 2  # the hours folded by each rollup: this one and the one before


PAGE = 500  # hour-sample entries a call folds: ~1-2 ms of Redis


def hours(as_of: float) -> range:
    """The clock hours a rollup at ``as_of`` folds."""
    hour = int(as_of // HOUR_S)
    return range(hour - HOURS + 1, hour + 1)


def call(
    shard: int, hour: int, as_of: float, keep: int, cursor: int = 0, whole: bool = False
) -> Call:
    """Fold a page of ``shard``'s sample of clock hour ``hour``: of the articles whose sample
    grew since they were last folded, or (``whole``) the one at ``cursor`` of the whole sample."""
    day = DAY.index(hour * HOUR_S)
    key_list = [
        keys.readers_sample(shard, "h", hour),
        keys.readers_sample(shard, "d", day),
        keys.readers_sample(shard, "all"),
        keys.recent_readers(shard),
        keys.readers_unfolded(shard, hour),
        keys.readers_folded(shard, hour),
    ]
    day_ttl = ttl((day + 1) * DAY.bucket_s + DAY_RETENTION_S, as_of)
    mode = "whole" if whole else "new"
    return Call(SCRIPT, key_list, [keep, day_ttl, hour, cursor, PAGE, mode, mark_ttl(hour, as_of)])


def mark_ttl(hour: int, as_of: float) -> int:
    """TTL of an hour's folded-whole mark (keys.readers_folded): as long as its sample."""
    return ttl((hour + 1) * HOUR_S + SAMPLE_RETENTION_S, as_of)


def decode(reply: Any) -> tuple[int, int]:
    """The next cursor (0: the hour is folded) and how many samples and recent readers'
    values grew."""
    return int(reply[0]), int(reply[1])
