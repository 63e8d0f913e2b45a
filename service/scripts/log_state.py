"""log_state.lua's codec: each shard's event-log stream, held, added and archived."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("log_state", durable=False)  # reads only


@dataclass(frozen=True, slots=True)
class StreamState:
    held: int  # entries in Redis, not yet archived
    added: int  # entries ever appended
    archived: int  # entries ever written to the archive and trimmed

    @property
    def dropped(self) -> int:
        """Entries the stream's bound (VIEWCOUNT_EVENT_LOG_MAX_ENTRIES) dropped unarchived."""
        return max(0, self.added - self.held - self.archived)


def call(shards: Sequence[int]) -> Call:
    names = [k for shard in shards for k in (keys.event_log(shard), keys.event_log_state(shard))]
    return Call(SCRIPT, names, [])


def decode(reply: Sequence[Any]) -> list[StreamState]:
    values = [int(v) for v in reply]
    return [StreamState(*values[i : i + 3]) for i in range(0, len(values), 3)]
