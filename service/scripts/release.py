"""release.lua's codec: give up the leader lease if this scheduler still holds it."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("release")


def call(token: str) -> Call:
    return Call(SCRIPT, [keys.LEADER], [token])


def decode(reply: Any) -> bool:
    """True when released."""
    return bool(reply)
