"""tombstone.lua's codec: take a deleted article out of every published list, or back in."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("tombstone")


def call(article: str, deleted_at: float | None) -> Call:
    """Tombstone ``article`` (deleted at ``deleted_at``), or lift its tombstone (None)."""
    return Call(
        SCRIPT,
        [keys.TOMBSTONES, keys.CURRENT],
        [article, "" if deleted_at is None else repr(deleted_at)],
    )


def decode(reply: Any) -> bool:
    """True when the tombstones changed."""
    return bool(reply)
