"""meta.lua's codec: the catalog fields of many articles, a hundred of one shard a call."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("meta", durable=False)
# Articles one call reads: a rollup's ~24,000 listed articles take ~250 calls, each ~0.3 ms of
# Redis (0.4-0.6 ms with all eight fields) on bench rollup's data; 250 a call took 0.7-1 ms.
# Redis spends about twice a pipelined HMGET's time on each article (2.5-3 µs against 1.25 µs
# of its CPU, four fields), this process half: one command to pack and parse, not 100.
ARTICLES_PER_CALL = 100


def chunks(article_ids: Iterable[str]) -> list[tuple[int, list[str]]]:
    """(shard, ids) of at most ARTICLES_PER_CALL articles, every id once, each in its shard's."""
    by_shard: dict[int, list[str]] = defaultdict(list)
    for article in dict.fromkeys(article_ids):
        by_shard[keys.shard_of(article)].append(article)
    return [
        (shard, ids[start : start + ARTICLES_PER_CALL])
        for shard, ids in by_shard.items()
        for start in range(0, len(ids), ARTICLES_PER_CALL)
    ]


def call(shard: int, article_ids: Sequence[str], fields: Sequence[str]) -> Call:
    """Read ``fields`` of ``article_ids``, all of ``shard``."""
    return Call(SCRIPT, [keys.meta_in(shard, article) for article in article_ids], list(fields))


def decode(reply: Sequence[Any], fields: Sequence[str]) -> list[dict[str, str | None] | None]:
    """Each article's fields by name, None for one not in the catalog (no title: the first
    field asked for)."""
    return [
        None if values[0] is None else dict(zip(fields, values, strict=True)) for values in reply
    ]
