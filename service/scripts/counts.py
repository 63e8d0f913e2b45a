"""The live-count scripts and their codecs: counts.lua (all-time totals of several articles)
and hourly.lua (one article's views per hour, inbox included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import keys
from ..storage import Call
from ..windows import HOUR, M5
from . import load

COUNTS = load("counts", durable=False)
HOURLY = load("hourly", durable=False)
NOT_IN_CATALOG = -1


def counts_call(sections: Sequence[tuple[int, Sequence[str]]]) -> Call:
    """One call for (shard, article ids) sections."""
    key_list: list[str] = []
    args: list[Any] = [len(sections)]
    for shard, ids in sections:
        key_list += [keys.articles(shard), keys.totals(shard)]
        args += [len(ids), *ids]
    return Call(COUNTS, key_list, args)


def counts_decode(reply: Sequence[Any]) -> list[int | None]:
    """One count per id, sections in order; None for an id not in the catalog."""
    return [None if count == NOT_IN_CATALOG else int(count) for count in reply]


def hourly_call(article: str, hours: Sequence[int]) -> Call:
    """Views of ``article`` in each hour bucket index of ``hours``."""
    shard = keys.shard_of(article)
    per_hour = HOUR.bucket_s // M5.bucket_s
    return Call(
        HOURLY,
        [
            keys.articles(shard),
            keys.inbox(shard),
            keys.draining(shard),
            *(keys.bucket(shard, HOUR.name, index) for index in hours),
        ],
        [article, per_hour, *(index * per_hour for index in hours)],
    )


def hourly_decode(reply: Any) -> list[int] | None:
    """One count per hour; None when the article is not in the catalog."""
    if reply == NOT_IN_CATALOG:
        return None
    return [int(views or 0) for views in reply]
