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


def call(sections: Sequence[tuple[int, Sequence[bytes]]], now: float, limit: int) -> Call:
    """One call for (client shard, client digests of each request) sections."""
    minute = int(now // 60)
    key_list: list[str] = []
    args: list[Any] = [limit, rate_weight(now), ttl((minute + 2) * 60, now), len(sections)]
    for shard, clients in sections:
        key_list += [keys.rate(shard, minute), keys.rate(shard, minute - 1)]
        args.append(len(clients))
        args += [client.hex() for client in clients]
    return Call(SCRIPT, key_list, args)


def decode(reply: Sequence[Any]) -> list[bool]:
    """One flag per request, sections in order: True when allowed."""
    return [bool(flag) for flag in reply]
