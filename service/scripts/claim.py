"""claim.lua's codec: the lease on fetching one article's page, across every process."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("claim")
CLAIMED, BUSY, COOLING = 1, 0, -1


def call(article: str, token: str, lease_ms: int, *, forced: bool = False) -> Call:
    """``forced``: an editor's refresh, which a cool-down does not hold back."""
    return Call(
        SCRIPT,
        [keys.fetch_lease(article), keys.fetch_cooldown(article)],
        [token, lease_ms, "1" if forced else "0"],
    )


def decode(reply: Any) -> int:
    return int(reply)
