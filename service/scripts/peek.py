"""peek.lua's codec: the oldest held views of an article, while its hold lasts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("peek", durable=False)


def call(article: str, now: float, limit: int) -> Call:
    shard = keys.shard_of(article)
    return Call(SCRIPT, [keys.held(article), keys.held_due(shard)], [f"{now:.3f}", article, limit])


def decode(reply: Sequence[Any] | None) -> list[str]:
    return [r.decode() if isinstance(r, bytes) else str(r) for r in reply or ()]
