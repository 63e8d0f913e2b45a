"""ratelimit.lua's codec: sliding-minute request counts per client digest, a section per shard
of digests (several on a single node, one per call on a cluster)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import keys
from ..storage import Call
from . import load
from .record import rate_weight, ttl

SCRIPT = load("ratelimit")


def call(
    sections: Sequence[tuple[int, Sequence[bytes]]],
    now: float,
    limit: int,
    log_partials: Sequence[Sequence[str]] | None = None,
    log_max_entries: int = 0,
) -> Call:
    """One call for (client shard, client digests of each request) sections. With
    ``log_max_entries`` and ``log_partials`` (per section, each request's "m5,article,reader",
    eventlog/record.py's partial_line) the refused requests are logged in each client shard's
    stream."""
    minute = int(now // 60)
    key_list: list[str] = []
    args: list[Any] = [limit, rate_weight(now), ttl((minute + 2) * 60, now), len(sections)]
    logging = bool(log_max_entries and log_partials is not None)
    for number, (shard, clients) in enumerate(sections):
        key_list += [keys.rate(shard, minute), keys.rate(shard, minute - 1)]
        args.append(len(clients))
        args += [client.hex() for client in clients]
        if logging:
            assert log_partials is not None
            args += log_partials[number]
    if logging:
        key_list += [keys.event_log(shard) for shard, _ in sections]
    args += [int(now), log_max_entries if logging else 0]  # last: the event-log block's
    return Call(SCRIPT, key_list, args)


def decode(reply: Sequence[Any]) -> list[bool]:
    """One flag per request, sections in order: True when allowed."""
    return [bool(flag) for flag in reply]
