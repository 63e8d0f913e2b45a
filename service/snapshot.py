"""The ranking snapshot: its format, and how it is written, published, read and tombstoned.

A snapshot is one Redis hash per generation (keys.snapshot): a field per list, named
``window|theme`` (theme empty for the site-wide list), holding the list's items as JSON, best
first, without ranks. keys.CURRENT names the published generation, its ``as_of`` and a
``version`` that tombstones bump; keys.TOMBSTONES holds deleted articles, which readers leave
out of every list until the next snapshot no longer has them.

Format 1 (written since the first release; a snapshot without ``_format`` is format 1): each
item is {"article", "title", "url", "theme", "published_at", "window_views", "views"}, and an
item of a trending list (``trending|theme``) also has "score". Lists hold RANKING_SIZE +
SPARE_ITEMS items (RANKING_SIZE before filters came). Since movement (issue 13) every item also
has "previous_rank", an item of a 24h, 7d or 30d list "previous_window_views", and the hash a
``_previous_as_of`` field; these only add to format 1 (a reader of the release before ignores
them), and items of an older snapshot are read with "previous_rank": null.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from . import keys
from .clock import parse_rfc3339, rfc3339
from .scripts import publish as publish_script
from .scripts import tombstone
from .storage import Storage, ops

FORMAT = 1
FORMAT_FIELD = "_format"  # also makes a snapshot with no lists exist
PREVIOUS_FIELD = "_previous_as_of"  # as_of of the lists previous_rank compares with
FIELDS_PER_HSET = 16  # lists per HSET: a list is up to ~20 KB of JSON
PAGE = 16  # lists per HSCAN page when a snapshot is read
WRITE_BYTES = 1 << 20  # list JSON a round trip writes
WRITES_IN_FLIGHT = 2  # round trips of WRITE_BYTES sent before the first is answered
TOMBSTONE_MARGIN_S = 60
# Items a list keeps past the longest list served: a request may leave out up to this many
# (the article being read) and still be filled from the snapshot alone.
SPARE_ITEMS = 20


# The trending lists are stored as lists of this name; their items' window_views are views
# in the window the head names.
TRENDING = "trending"
TRENDING_WINDOW = "1h"


def list_name(window: str, theme: str | None) -> str:
    """Field of a list in a snapshot hash."""
    return f"{window}|{theme or ''}"


def author_list_name(window: str, author: str) -> str:
    """Field of an author's list: "@" keeps it apart from a theme's (slugs have no "@")."""
    return f"{window}|@{author}"


def window_of(name: str) -> str:
    """The window of a list (TRENDING for a trending list), from its field name."""
    return name.split("|", 1)[0]


def item(
    article: str,
    meta: Mapping[str, str | None],
    window_views: int,
    views: int,
    score: float | None = None,
    previous_rank: int | None = None,
    previous_window_views: int | None = None,
) -> dict[str, Any]:
    """One list item, as format 1 stores it (a trending item adds its ``score``, one of a
    list over a sliding window of a day or more its ``previous_window_views``)."""
    entry: dict[str, Any] = {
        "article": article,
        "title": meta["title"],
        "url": meta["url"],
        "theme": meta["theme"],
        "published_at": meta["published_at"] or None,
        "window_views": window_views,
        "views": views,
        "previous_rank": previous_rank,
    }
    if previous_window_views is not None:
        entry["previous_window_views"] = previous_window_views
    if score is not None:
        entry["score"] = round(score, 2)
    return entry


HEAD_FIELDS = ("title", "url", "theme", "published_at")  # the catalog fields head() reads


def head(article: str, meta: Mapping[str, str | None]) -> bytes:
    """The start of every item of one article, as item() serialises it: the fields all its
    lists share, serialised once per rollup (an article is in up to a dozen lists)."""
    fields = {
        "article": article,
        "title": meta["title"],
        "url": meta["url"],
        "theme": meta["theme"],
        "published_at": meta["published_at"] or None,
    }
    return orjson.dumps(fields)[:-1]


def item_json(
    start: bytes,
    window_views: float,
    views: int,
    score: float | None = None,
    previous_rank: int | None = None,
    previous_window_views: int | None = None,
) -> bytes:
    """item() as JSON, from its article's head(): a rollup writes ~100,000 items, and a
    dict and its serialisation each cost more than this. ``window_views`` may be a sorted
    set's score as read (a float holding a whole number): %d writes it as an integer."""
    rank = b"null" if previous_rank is None else b"%d" % previous_rank
    end = b"}"
    if score is not None:
        end = b',"score":' + orjson.dumps(round(score, 2)) + end
    if previous_window_views is not None:
        end = b',"previous_window_views":%d%s' % (previous_window_views, end)
    return ITEM_START % (start, window_views, views, rank) + end


# An item from its head to its previous rank (head, window views, views, rank as JSON).
ITEM_START = b'%s,"window_views":%d,"views":%d,"previous_rank":%s'


@dataclass(frozen=True, slots=True)
class Current:
    """What keys.CURRENT says: the published generation, its time, its tombstone version."""

    generation: int = 0
    version: int = 0
    as_of: float | None = None


async def new_generation(storage: Storage) -> int:
    """The number of a new snapshot generation."""
    return await storage.one(ops.incr(keys.GENERATION))


async def write_lists(
    storage: Storage, generation: int, lists: Mapping[str, Iterable[bytes]], grace_s: int
) -> None:
    """Store some lists of an unpublished generation (their items as item_json() gives them;
    a rollup's parts write theirs side by side, rollpart.py); it expires by itself unless
    published: every round trip sets the expiry, so a rollup that dies before publishing
    leaves nothing."""
    key = keys.snapshot(generation)
    fields = [(name, b"[" + b",".join(items) + b"]") for name, items in lists.items()]
    # The lists in round trips of about WRITE_BYTES: one write of a whole snapshot (26 MiB at
    # 100,000 articles and 500 authors) was packed, joined and buffered as one piece, ~160 ms
    # of a rollup's CPU in copies of it.
    batches: list[list[ops.Op[Any]]] = [[]]
    held = 0
    for start in range(0, len(fields), FIELDS_PER_HSET):
        page = dict(fields[start : start + FIELDS_PER_HSET])
        batches[-1].append(ops.hset(key, page))
        held += sum(map(len, page.values()))
        if held >= WRITE_BYTES:
            batches.append([])
            held = 0
    expire = ops.expire(key, grace_s)
    # WRITES_IN_FLIGHT at a time: Redis runs what a client pipelined back to back, and all 26
    # in flight held the beacons' commands up to ~30 ms behind them.
    sent = [[*batch, expire] for batch in batches if batch]
    for start in range(0, len(sent), WRITES_IN_FLIGHT):
        await asyncio.gather(*map(storage.execute, sent[start : start + WRITES_IN_FLIGHT]))


async def write_head(
    storage: Storage, generation: int, grace_s: int, previous_as_of: float | None = None
) -> None:
    """The fields of a generation beside its lists (its format, and when the lists its
    previous ranks come from were published), written once its lists are: the format field
    also makes a generation without lists exist."""
    head: dict[str, Any] = {FORMAT_FIELD: FORMAT}
    if previous_as_of is not None:
        head[PREVIOUS_FIELD] = previous_as_of
    key = keys.snapshot(generation)
    await storage.execute([ops.hset(key, head), ops.expire(key, grace_s)])


async def publish(
    storage: Storage, lease_token: str, generation: int, as_of: float, grace_s: int
) -> bool:
    """Make ``generation`` current, fenced: False when the lease is lost or a newer snapshot
    is current. The replaced one stays readable for ``grace_s``."""
    previous = (await current(storage)).generation
    call = publish_script.call(
        lease_token, generation, as_of, previous, as_of - TOMBSTONE_MARGIN_S, grace_s
    )
    return publish_script.decode(await storage.run(call))


async def current(storage: Storage) -> Current:
    fields = await storage.one(ops.hgetall(keys.CURRENT))
    generation = int(fields.get("generation", 0))
    return Current(
        generation,
        int(fields.get("version", 0)),
        float(fields["as_of"]) if generation and "as_of" in fields else None,
    )


async def lists(storage: Storage, generation: int) -> dict[str, str] | None:
    """Every list of a generation (list name -> JSON), a page at a time: a snapshot of 50
    themes is megabytes, and one HGETALL of it held Redis and then the reader's event loop
    for milliseconds. A published snapshot never changes, so the pages agree. None when the
    generation has expired."""
    found = await storage.whole_hash(keys.snapshot(generation), PAGE)
    if not found:
        return None
    found.pop("_", None)  # how the first release marked a snapshot (format 1)
    stored = int(found.pop(FORMAT_FIELD, 1))
    if stored > FORMAT:
        raise ValueError(f"snapshot format {stored} is newer than this release reads")
    return found


async def tombstones(storage: Storage) -> frozenset[str]:
    members: list[str] = await storage.one(ops.zrange(keys.TOMBSTONES))
    return frozenset(members)


async def forget(storage: Storage, article: str, deleted_at: float) -> None:
    """Leave a deleted article out of every published list at once, in every process."""
    await storage.run(tombstone.call(article, deleted_at))


async def remember(storage: Storage, *articles: str) -> None:
    """Re-created articles may rank again (one round trip on a single node)."""
    await storage.run_all([tombstone.call(article, None) for article in articles])


class Entry(NamedTuple):
    """One stored item as a reader filters it: its id, publication time, and JSON."""

    article: str
    published_s: float | None
    json: bytes


def parse(payload: str, deleted: frozenset[str]) -> list[Entry]:
    """A list's items (JSON objects without rank), deleted articles left out."""
    if not payload:
        return []
    kept = []
    for entry in orjson.loads(payload):
        if entry["article"] in deleted:
            continue
        entry.setdefault("previous_rank", None)  # written before movement
        kept.append(
            Entry(entry["article"], _published_s(entry.get("published_at")), orjson.dumps(entry))
        )
    return kept


def _published_s(text: str | None) -> float | None:
    try:
        return parse_rfc3339(text) if text else None
    except ValueError:
        return None


def previous_as_of(raw: Mapping[str, str]) -> float | None:
    """The time of the lists a snapshot's previous ranks come from (None: none was old enough)."""
    held = raw.get(PREVIOUS_FIELD)
    return float(held) if held else None


def render(
    window: str,
    theme: str | None,
    as_of: float | None,
    items: list[bytes],
    previous: float | None = None,
    author: str | None = None,
) -> bytes:
    """The JSON body of a list: its head (an author's list names its author), then the
    items ranked from 1."""
    if window == TRENDING:
        window = TRENDING_WINDOW
    ranked = b",".join(b'{"rank":%d,%s' % (n, entry[1:]) for n, entry in enumerate(items, 1))
    fields: dict[str, Any] = {"window": window, "theme": theme}
    if author is not None:
        fields["author"] = author
    fields["as_of"] = rfc3339(as_of) if as_of else None
    fields["previous_as_of"] = rfc3339(previous) if previous else None
    head = orjson.dumps(fields)
    return head[:-1] + b',"items":[' + ranked + b"]}"
