"""settle.lua's codec: end a fetch, its lease given up and, after a failure, a cool-down."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("settle")


def call(article: str, token: str, cooldown_ms: int) -> Call:
    return Call(
        SCRIPT, [keys.fetch_lease(article), keys.fetch_cooldown(article)], [token, cooldown_ms]
    )


def decode(reply: Any) -> bool:
    """True when the lease was still ours."""
    return bool(reply)
