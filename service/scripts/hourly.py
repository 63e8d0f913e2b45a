"""hourly.lua's codec: one article's views per hour, the unmerged inbox included."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import keys
from ..storage import Call
from ..windows import HOUR, M5
from . import load

SCRIPT = load("hourly", durable=False)
NOT_IN_CATALOG = -1


def call(article: str, hours: Sequence[int]) -> Call:
    """Views of ``article`` in each hour bucket index of ``hours``."""
    shard = keys.shard_of(article)
    per_hour = HOUR.bucket_s // M5.bucket_s
    return Call(
        SCRIPT,
        [
            keys.articles(shard),
            keys.inbox(shard),
            keys.draining(shard),
            *(keys.bucket(shard, HOUR.name, index) for index in hours),
        ],
        [article, per_hour, *(index * per_hour for index in hours)],
    )


def decode(reply: Any) -> list[int] | None:
    """One count per hour; None when the article is not in the catalog."""
    if reply == NOT_IN_CATALOG:
        return None
    return [int(views or 0) for views in reply]
