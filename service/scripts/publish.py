"""publish.lua's codec: make a finished ranking snapshot current, atomically and fenced."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("publish")


def call(
    lease_token: str,
    generation: int,
    as_of: float,
    previous: int,
    tombstones_before: float,
    grace_s: int,
) -> Call:
    """Make ``generation`` current if the lease still holds and no newer snapshot is; the
    ``previous`` one stays readable for ``grace_s``; older tombstones go."""
    return Call(
        SCRIPT,
        [
            keys.LEADER,
            keys.CURRENT,
            keys.snapshot(generation),
            keys.TOMBSTONES,
            keys.snapshot(previous),
        ],
        [lease_token, generation, repr(as_of), tombstones_before, grace_s, previous],
    )


def decode(reply: Any) -> bool:
    """True when published; False when fenced off."""
    return bool(reply)
