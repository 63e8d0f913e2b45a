"""due.lua's codec: take what a schedule (a zset of member -> time) holds for now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..storage import Call
from . import load

SCRIPT = load("due")


def call(schedule: str, now: float, limit: int) -> Call:
    return Call(SCRIPT, [schedule], [f"{now:.3f}", limit])


def decode(reply: Sequence[Any] | None) -> list[str]:
    return [r.decode() if isinstance(r, bytes) else str(r) for r in reply or ()]
