"""unhold.lua's codec: forget the oldest held views of an article once they are counted."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("unhold")


def call(article: str, counted: int) -> Call:
    due, counts, total, _, urls = keys.held_keys(keys.shard_of(article))
    return Call(SCRIPT, [keys.held(article), due, counts, total, urls], [article, counted])


def decode(reply: Any) -> int:
    """Records the list still holds."""
    return int(reply)
