"""lease.lua's codec: take or keep the scheduler leader lease."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("lease")


def call(owner: str, token: str, lease_ms: int) -> Call:
    """Take or keep the leader lease, holding ``token`` ("" for none)."""
    return Call(SCRIPT, [keys.LEADER, keys.EPOCH], [owner, token, lease_ms])


def decode(reply: Any) -> str:
    """The token held after the call; "" when another scheduler leads."""
    return str(reply or "")
