"""Movement: each list item's rank in the same list as published VIEWCOUNT_MOVEMENT_S before,
and its views in the window just before its list's window.

The rollup keeps rank checkpoints of published snapshots: one hash per checkpoint
(keys.checkpoint), a field per list holding its article ids in rank order, indexed by
keys.CHECKPOINTS (generation -> as_of). A new one is written when the newest is at least a
quarter of MOVEMENT_S old; a rollup's previous ranks come from the newest checkpoint at least
MOVEMENT_S old, and every older one is deleted. So at most about five exist, whatever the
rollup interval, each a list of ids per list (no titles, no counts).

previous_window_views come from the window sets of the windows just before the 24h, 7d and 30d
windows (windows.BEFORE), which the rollup slides with the others: one ZMSCORE per shard and
thousand listed articles.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, count
from typing import Any, cast

from . import keys
from .storage import READS_A_TURN, Storage, ops
from .windows import BEFORE_BY_WINDOW

CHECKPOINTS_PER_SPAN = 4  # checkpoints written per MOVEMENT_S
FIELDS_PER_HSET = 32
SCORE_CHUNK = 1000  # articles per ZMSCORE of a window-before set: a few hundred µs of Redis
# Lists per HSCAN page when a checkpoint is read. At 100,000 articles, 50 themes and 500 authors
# a checkpoint holds ~3,300 lists (1.9 MB): a page of 256 is ~150 KB and ~0.3 ms of Redis, and
# 13 round trips where pages of 64 took 52, one after another.
PAGE = 256


@functools.cache  # ranks go up to a list's length: a few hundred entries
def _rank_json(rank: int) -> bytes:
    return b"%d" % rank


@dataclass(frozen=True, slots=True)
class Previous:
    """The checkpoint a rollup compares with: its time and each list's ranks then."""

    as_of: float | None = None
    ranks: dict[str, dict[str, int]] = field(default_factory=dict)  # list -> article -> rank
    generation: str | None = None  # the checkpoint's
    _json: dict[str, dict[str, bytes]] = field(default_factory=dict, compare=False, repr=False)

    def rank(self, name: str, article: str) -> int | None:
        return self.ranks.get(name, {}).get(article)

    def ranks_json(self, name: str) -> dict[str, bytes]:
        """Each article's rank in list ``name`` as JSON, made once per checkpoint: a rollup
        keeps the checkpoint it read while it stays the one to compare with (~120,000 ranks
        at 100,000 articles and 500 authors)."""
        found = self._json.get(name)
        if found is None:
            ranks = self.ranks.get(name, {})
            found = self._json[name] = dict(
                zip(ranks, map(_rank_json, ranks.values()), strict=True)
            )
        return found


async def checkpoints(storage: Storage) -> list[tuple[str, float]]:
    """Every checkpoint's generation and as_of, oldest first."""
    return await storage.one(ops.zrange_scored(keys.CHECKPOINTS))


def reference(held: Sequence[tuple[str, float]], as_of: float, movement_s: float) -> str | None:
    """The newest checkpoint at least ``movement_s`` older than ``as_of``."""
    old_enough = [generation for generation, at in held if at <= as_of - movement_s]
    return old_enough[-1] if old_enough else None


async def previous(
    storage: Storage,
    held: Sequence[tuple[str, float]],
    as_of: float,
    movement_s: float,
    known: Previous | None = None,
    *,
    names: Iterable[str],
) -> Previous:
    """The ranks of the lists ``names`` in the checkpoint to compare with (a part of a rollup
    ranks some windows only, rollpart.py). ``known`` (what an earlier rollup of the same
    process read) is reused while it is that checkpoint, and only the lists it lacks are read:
    a checkpoint never changes once indexed, and the same one is the reference for a quarter
    of MOVEMENT_S, while reading and parsing one (~3,300 lists at 100,000 articles and 500
    authors) takes ~40 ms. Known by its generation and time: a store that lost its last writes
    can hand a generation number out again, to another snapshot."""
    generation = reference(held, as_of, movement_s)
    if generation is None:
        return Previous()
    at = dict(held)[generation]
    same = known is not None and (known.generation, known.as_of) == (generation, at)
    read = cast(Previous, known) if same else Previous(at, {}, generation)
    missing = [name for name in names if name not in read.ranks]
    if not missing:
        return read
    # The "_" field every checkpoint has says whether it expired under us.
    asked = [CHECKPOINT_FIELD, *missing]
    pages = [asked[start : start + PAGE] for start in range(0, len(asked), PAGE)]
    key = keys.checkpoint(generation)
    replies = await storage.execute_in_turns([ops.hmget(key, page) for page in pages], 2)
    found = dict(zip(asked, chain.from_iterable(replies), strict=True))
    if found[CHECKPOINT_FIELD] is None:
        return Previous()
    read.ranks.update((name, _ranks(found[name])) for name in missing)
    return read


def _ranks(ids: str | None) -> dict[str, int]:
    """A checkpoint field's ranks: article -> rank (none for a list not kept then)."""
    return dict(zip(ids.split(","), count(1))) if ids else {}


CHECKPOINT_FIELD = "_"  # in every checkpoint, lists or none


async def record(
    storage: Storage,
    held: Sequence[tuple[str, float]],
    generation: int,
    as_of: float,
    ranked: Mapping[str, Sequence[str]],
    movement_s: float,
) -> None:
    """Keep the published lists' ranks as a checkpoint if the newest is old enough, and drop
    the checkpoints no later rollup can compare with."""
    writes: list[ops.Op[Any]] = []
    if not held or as_of - held[-1][1] >= movement_s / CHECKPOINTS_PER_SPAN:
        key = keys.checkpoint(str(generation))
        fields = [(name, ",".join(ids)) for name, ids in ranked.items()]
        writes.append(
            ops.hset(key, {CHECKPOINT_FIELD: ""})
        )  # a checkpoint with no lists still exists
        for start in range(0, len(fields), FIELDS_PER_HSET):
            writes.append(ops.hset(key, dict(fields[start : start + FIELDS_PER_HSET])))
        writes.append(ops.expire(key, int(2 * movement_s) + 600))  # a safety net
        writes.append(ops.zadd(keys.CHECKPOINTS, {str(generation): as_of}))
    kept = reference(held, as_of, movement_s)
    if kept is not None:
        older = [g for g, _ in held[: [g for g, _ in held].index(kept)]]
        if older:
            writes.append(ops.unlink(*(keys.checkpoint(g) for g in older)))
            writes.append(ops.zrem(keys.CHECKPOINTS, *older))
    if writes:
        await storage.execute(writes)


PREVIOUS_WINDOWS = ("24h", "7d", "30d")  # the lists whose items carry previous_window_views


async def previous_views(
    storage: Storage, listed: Mapping[str, Iterable[str]]
) -> dict[str, dict[str, int]]:
    """Window -> article -> views in the window of equal length just before it, for the
    articles ``listed`` in each of PREVIOUS_WINDOWS' lists."""
    asked: list[tuple[str, list[str]]] = []
    reads: list[ops.Op[list[float | None]]] = []
    for window in PREVIOUS_WINDOWS:
        before = BEFORE_BY_WINDOW[window]
        by_shard: dict[int, list[str]] = defaultdict(list)
        for article in set(listed.get(window, ())):
            by_shard[keys.shard_of(article)].append(article)
        for shard, articles in by_shard.items():
            for start in range(0, len(articles), SCORE_CHUNK):
                chunk = articles[start : start + SCORE_CHUNK]
                asked.append((window, chunk))
                reads.append(ops.zmscore(keys.window(shard, before.name), chunk))
    found: dict[str, dict[str, int]] = {window: {} for window in PREVIOUS_WINDOWS}
    replies = await storage.execute_in_turns(reads, READS_A_TURN)
    for (window, ids), views in zip(asked, replies, strict=True):
        found[window].update(zip(ids, (int(v) if v else 0 for v in views), strict=True))
    return found
