"""merge.lua's codec: a chunk of one shard's claimed inbox into its buckets and window sets,
with the windows and granularities of windows.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import keys
from ..storage import Call
from ..windows import GRANULARITIES, LAST_WINDOW, M5, MAINTAINED, Granularity
from . import load
from .record import ttl

SCRIPT = load("merge", durable=False)  # merges each entry once, however often it runs
CHUNK = 250  # inbox entries per call: each holds Redis for ~2-3 ms


def _table() -> list[Any]:
    """The windows and which of them each granularity feeds, as merge.lua reads them."""
    number = {window.name: n for n, window in enumerate(MAINTAINED, 1)}
    table: list[Any] = [len(MAINTAINED), *number, len(GRANULARITIES)]
    for gran in GRANULARITIES:
        fed = [number[w.name] for w in MAINTAINED if w.granularity is gran]
        table += [gran.name, number[LAST_WINDOW[gran.name].name], len(fed), *fed]
    return table


TABLE = _table()


def bucket_ttl_s(gran: Granularity, index: int, as_of: float) -> int:
    """The TTL a bucket gets when it is written at ``as_of``: a safety net past its end (the
    rollup deletes buckets no window needs)."""
    return ttl((index + 1) * gran.bucket_s + gran.retention_s, as_of)


def call(shard: int, members: Sequence[str], as_of: float) -> Call:
    """merge.lua for inbox entries ("m5 index|article"), each with its bucket keys."""
    bucket_numbers: dict[tuple[str, int], int] = {}
    key_list = [
        keys.draining(shard),
        keys.window_starts(shard),
        *(keys.window(shard, window.name) for window in MAINTAINED),
    ]
    bucket_args: list[Any] = []
    entry_args: list[Any] = []
    for member in members:
        at = keys.inbox_m5(member) * M5.bucket_s
        entry_args.append(member)
        for gran in GRANULARITIES:
            index = gran.index(at)
            number = bucket_numbers.get((gran.name, index))
            if number is None:
                key_list.append(keys.bucket(shard, gran.name, index))
                number = bucket_numbers[gran.name, index] = len(key_list)
                bucket_args += [gran.name, index, bucket_ttl_s(gran, index, as_of)]
            entry_args.append(number)
    return Call(SCRIPT, key_list, [*TABLE, len(bucket_numbers), *bucket_args, *entry_args])


def decode(reply: Any) -> int:
    """How many entries the call merged."""
    return int(reply)
