"""advance.lua's codec: slide one shard's window sets forward to a rollup's as_of."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import Any

from .. import keys
from ..storage import Call
from ..windows import KEPT, LAST_WINDOW, OUTLIVE_WINDOWS, span_of
from . import load

SCRIPT = load("advance")
MAX_BACKLOG = 1000  # buckets one call may look back over, per window


def call(shard: int, as_of: float, starts: Mapping[str, int], zone: tzinfo = UTC) -> Call:
    """The call for one shard, given the window starts it holds now (``starts``); ``zone``
    is where the daily window's day begins."""
    key_list: list[str] = [keys.window_starts(shard)]
    args: list[Any] = [len(KEPT)]
    for window in KEPT:
        gran = window.granularity
        assert gran is not None
        start = window.first_bucket(as_of, zone)
        kept = gran.index(as_of - gran.retention_s) - 1
        if window.daily:  # rebuilt from its day's buckets whenever its start moves
            lo = start
        else:  # from the last start too, so buckets a slow rollup skipped are dropped
            lo = max(min(kept, starts.get(window.name, kept)), start - MAX_BACKLOG)
        span = span_of(window)
        # A window up to now ends with the bucket being written (and the next: clock skew);
        # a window before another ends where that one starts.
        hi = start + span - 1 if span else gran.index(as_of) + 1
        key_list.append(keys.window(shard, window.name))
        key_list += [keys.bucket(shard, gran.name, i) for i in range(lo, hi + 1)]
        drop = LAST_WINDOW[gran.name] is window and gran.name not in OUTLIVE_WINDOWS
        args += [window.name, lo, hi, start, int(drop), kept, int(window.daily), span]
    return Call(SCRIPT, key_list, args)


def decode(reply: Any) -> int:
    """How many buckets the call subtracted."""
    return int(reply)
