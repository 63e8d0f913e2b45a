"""The scheduler's lease scripts and their codecs: lease.lua and release.lua."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

LEASE = load("lease")
RELEASE = load("release")


def keep_call(owner: str, token: str, lease_ms: int) -> Call:
    """Take or keep the leader lease, holding ``token`` ("" for none)."""
    return Call(LEASE, [keys.LEADER, keys.EPOCH], [owner, token, lease_ms])


def keep_decode(reply: Any) -> str:
    """The token held after the call; "" when another scheduler leads."""
    return str(reply or "")


def release_call(token: str) -> Call:
    return Call(RELEASE, [keys.LEADER], [token])
