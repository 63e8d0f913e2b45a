"""record.lua's codec: a group of views counted atomically, one section per shard.

A view's fields, in the order record.lua reads them (``BATCH_FIELDS`` for batch views, which
need no dedupe, bot or rate-limit fields; ``BEACON_FIELDS`` otherwise):
article, event key #, readers key #, readers member, readers TTL s, 5-minute bucket index,
then kind ("v" view, "b" bot, "a" automated), dedupe key #, rate key #, client digest,
cap field ("" for no cap).
A key number is an index into KEYS, 0 when absent.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import keys
from ..ingest import HUMAN, View
from ..storage import Call
from ..windows import DAY, M5
from . import load

SCRIPT = load("record")
# The codes of record.lua's reply, one per view.
COUNTED, DUPLICATE, DUPLICATE_EVENT, UNKNOWN, BOT, RATE_LIMITED, AUTOMATED = 1, 2, 3, 4, 5, 6, 7
BATCH_FIELDS, BEACON_FIELDS = 6, 11
READERS_RETENTION_S = 2 * 86400
PER_MINUTE_RETENTION_S = 2 * 3600
# The rollup empties the inbox every interval; the TTL only bounds what a service left with no
# scheduler for a month keeps.
INBOX_RETENTION_S = 32 * 86400
HOUR_S = 3600
CAPS_RETENTION_S = HOUR_S  # past its hour: the next hour's calls read it
SAMPLE_RETENTION_S = 26 * HOUR_S  # the 24-hour lists read 25 hours of samples
HOURLY_RETENTION_S = 26 * HOUR_S  # the suspicious report reads up to 25 hours
TOP_CLIENT_FROM = 3  # views of one article in an hour from which a client's share is tracked


def section_keys(shard: int, minute: int, log_shard: int | None = None) -> list[str]:
    """A section's own keys, from its base key number b (see record.lua); its decisions go
    to ``log_shard``'s event-log stream (default: its own)."""
    hour = minute // 60
    return [
        keys.articles(shard),
        keys.totals(shard),
        keys.bots(shard),
        keys.inbox(shard),
        keys.per_minute(shard, minute),
        keys.automated(shard),
        keys.caps(shard, hour),
        keys.caps(shard, hour - 1),
        keys.readers_sample(shard, "h", hour),
        keys.top_clients(shard, hour),
        keys.automated_hourly(shard, hour),
        keys.event_log(shard if log_shard is None else log_shard),  # b+11: the event log
        keys.readers_unfolded(shard, hour),  # b+12: the articles whose sample grew
    ]


@dataclass(frozen=True, slots=True)
class Limits:
    """The settings a record call carries in its header."""

    dedupe_ttl_s: int
    event_ttl_s: int
    rate_limit_per_min: int
    max_views_per_client: int = 0  # 0: no per-client cap
    min_readers: int = 3
    event_log_max_entries: int = 0  # the bound of each shard's log stream; 0: no event log


def rate_weight(now: float) -> str:
    """The share of the previous minute still inside the sliding minute that ends now."""
    return f"{1.0 - (now % 60) / 60:.3f}"


def ttl(expire_at: float, now: float) -> int:
    """Seconds from the service clock's now: Redis counts TTLs on its own clock, and tests
    run the service clock elsewhere in time."""
    return max(1, math.ceil(expire_at - now))


def call(
    sections: Sequence[tuple[int, Sequence[View]]],
    now: float,
    limits: Limits,
    rate_limited: bool,
) -> Call:
    """One record.lua call holding a section per shard (checking the rate limit too when
    ``rate_limited``)."""
    minute = int(now // 60)
    compact = not any(
        view.kind != HUMAN or (view.dedupe and view.reader is not None) or view.client is not None
        for _, views in sections
        for view in views
    )
    key_list: list[str] = []
    args: list[Any] = [
        limits.dedupe_ttl_s,
        limits.event_ttl_s,
        ttl((minute + 1) * 60 + PER_MINUTE_RETENTION_S, now),
        INBOX_RETENTION_S,
        limits.rate_limit_per_min,
        rate_weight(now),
        ttl((minute + 2) * 60, now),
        BATCH_FIELDS if compact else BEACON_FIELDS,
        limits.max_views_per_client,
        limits.min_readers,
        ttl((minute // 60 + 1) * HOUR_S + CAPS_RETENTION_S, now),
        ttl((minute // 60 + 1) * HOUR_S + SAMPLE_RETENTION_S, now),
        ttl((minute // 60 + 1) * HOUR_S + HOURLY_RETENTION_S, now),
        TOP_CLIENT_FROM,
        len(sections),
    ]
    rate_keys: dict[int, int] = {}  # client shard -> key number of its minute's hash
    readers_ttls: dict[int, int] = {}  # day -> TTL of its reader counts, from now

    def rate_key(view: View) -> int:
        if not rate_limited or view.client is None:
            return 0
        shard = keys.shard_of_digest(view.client)
        number = rate_keys.get(shard)
        if number is None:
            key_list.extend((keys.rate(shard, minute), keys.rate(shard, minute - 1)))
            number = rate_keys[shard] = len(key_list) - 1
        return number

    # One stream for the whole call (a single node, where any keys share a call): one XADD
    # per group commit rather than one per shard it touches.
    log_shard = sections[0][0] if sections else None
    for shard, views in sections:
        base = len(key_list) + 1
        key_list += section_keys(shard, minute, log_shard)
        args += [base, len(views)]
        for view in views:
            args += _view_fields(view, key_list, now, readers_ttls)
            if not compact:
                seen_k = _dedupe_key(view, key_list)
                client = field = ""
                if view.client is not None:
                    client = view.client.hex()
                    if limits.max_views_per_client and view.kind == HUMAN:
                        field = cap_field(view.client, view.article)
                args += [view.kind, seen_k, rate_key(view), client, field]
    # Last: record.lua's event-log block pops them (the hour views are capped and sampled in
    # is the service clock's, which the log keeps beside Redis's own time in entry ids).
    args += [int(now), limits.event_log_max_entries]
    return Call(SCRIPT, key_list, args)


def cap_field(client: bytes, article: str) -> str:
    """A client network's field in the caps hashes for one article: 16 hex characters (the
    client digest is keyed by the secret already, so is this)."""
    return hashlib.blake2b(client + article.encode(), digest_size=8).hexdigest()


def decode(reply: Sequence[Any]) -> list[int]:
    """One code per view, sections in the order of the call."""
    return [int(code) for code in reply]


def _view_fields(
    view: View, key_list: list[str], now: float, readers_ttls: dict[int, int]
) -> list[Any]:
    """A view's first BATCH_FIELDS fields; appends the keys they name to ``key_list``. The
    readers member is the reader digest, or a random id (8 hex characters) for a view without
    one."""
    article = view.article
    event_k = readers_k = readers_ttl = 0
    if view.event is not None:
        key_list.append(keys.event(article, view.event))
        event_k = len(key_list)
    if view.reader is not None:
        day = DAY.index(view.at)
        key_list.append(keys.readers(article, day))
        readers_k = len(key_list)
        member = view.reader.hex()
        readers_ttl = readers_ttls.get(day) or 0
        if not readers_ttl:
            readers_ttl = readers_ttls[day] = ttl(
                (day + 1) * DAY.bucket_s + READERS_RETENTION_S, now
            )
    else:  # a batch event without a visitor: a reader of its own in the readers samples
        member = secrets.token_hex(4)
    return [article, event_k, readers_k, member, readers_ttl, M5.index(view.at)]


def _dedupe_key(view: View, key_list: list[str]) -> int:
    """The key number of the view's dedupe marker (one reader, one article), 0 for none."""
    if view.reader is None or not view.dedupe or view.kind != HUMAN:
        return 0
    # The reader digest is keyed by the secret already: so is anything derived from it.
    seen = hashlib.blake2b(view.reader + view.article.encode(), digest_size=16).hexdigest()
    key_list.append(keys.seen(view.article, seen))
    return len(key_list)
