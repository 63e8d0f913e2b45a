"""The ranking snapshot's scripts and their codecs: publish.lua and tombstone.lua."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

PUBLISH = load("publish")
TOMBSTONE = load("tombstone")


def publish_call(
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
        PUBLISH,
        [
            keys.LEADER,
            keys.CURRENT,
            keys.snapshot(generation),
            keys.TOMBSTONES,
            keys.snapshot(previous),
        ],
        [lease_token, generation, repr(as_of), tombstones_before, grace_s, previous],
    )


def publish_decode(reply: Any) -> bool:
    """True when published; False when fenced off."""
    return bool(reply)


def tombstone_call(article: str, deleted_at: float | None) -> Call:
    """Tombstone ``article`` (deleted at ``deleted_at``), or lift its tombstone (None)."""
    return Call(
        TOMBSTONE,
        [keys.TOMBSTONES, keys.CURRENT],
        [article, "" if deleted_at is None else repr(deleted_at)],
    )
