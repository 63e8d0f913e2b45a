"""counts.lua's codec: live all-time totals of several articles, a section per shard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("counts", durable=False)
NOT_IN_CATALOG = -1


def call(sections: Sequence[tuple[int, Sequence[str]]]) -> Call:
    """One call for (shard, article ids) sections."""
    key_list: list[str] = []
    args: list[Any] = [len(sections)]
    for shard, ids in sections:
        key_list += [keys.articles(shard), keys.totals(shard)]
        args += [len(ids), *ids]
    return Call(SCRIPT, key_list, args)


def decode(reply: Sequence[Any]) -> list[int | None]:
    """One count per id, sections in order; None for an id not in the catalog."""
    return [None if count == NOT_IN_CATALOG else int(count) for count in reply]
