"""log_trim.lua's codec: trim a shard's event-log stream past an archived file."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("log_trim")


def next_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id`` (XTRIM MINID keeps ids from it on)."""
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"


def call(shard: int, last_id: str) -> Call:
    """Trim a shard's stream up to and including ``last_id``."""
    return Call(SCRIPT, [keys.event_log(shard), keys.event_log_state(shard)], [next_id(last_id)])


def decode(reply: Any) -> int:
    """Entries the stream still holds."""
    return int(reply)
