"""hold.lua's codec, and the held-view record: what a view of an article not yet in the
catalog keeps until its page is read (digests and a time only, never an IP or User-Agent)."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

from .. import keys
from ..eventlog import record as log_record
from ..ingest import View
from ..storage import Call
from ..windows import M5
from . import load

SCRIPT = load("hold")
HELD_FIRST, HELD_MORE, KNOWN, ARTICLE_FULL, SHARD_FULL, NOTHING = 1, 2, 3, -1, -2, 0
HELD = 0  # what Discovery.hold answers for a view held (record.lua's codes start at 1)
PURGE_PER_CALL = 32  # expired holds one call forgets: bounded work, the next call goes on
VERSION = "1"


@dataclass(frozen=True, slots=True)
class Bounds:
    """The hold's limits, from the settings."""

    ttl_s: int
    per_article: int
    per_shard: int


def call(view: View, url: str, now: float, bounds: Bounds, log_max_entries: int = 0) -> Call:
    """Hold ``view`` unless its article is in the catalog by now; ``url`` is its page. With
    ``log_max_entries`` the held view is logged as pending (the event log)."""
    shard = keys.shard_of(view.article)
    key_list = [*keys.held_keys(shard), keys.held(view.article), keys.event_log(shard)]
    args = _args(now, bounds, encode(view), view.article, url)
    line = ""
    if log_max_entries > 0:
        reader = view.reader.hex() if view.reader is not None else ""
        client = view.client.hex() if view.client is not None else ""
        line = log_record.line(log_record.PENDING, M5.index(view.at), view.article, reader, client)
    return Call(SCRIPT, key_list, [*args, line, log_max_entries, int(now)])


def purge_call(shard: int, now: float, bounds: Bounds) -> Call:
    """Forget a shard's expired holds; the views it still holds after."""
    return Call(SCRIPT, keys.held_keys(shard), _args(now, bounds, "", "", ""))


def _args(now: float, bounds: Bounds, record: str, article: str, url: str) -> list[Any]:
    return [
        f"{now:.3f}",
        f"{now + bounds.ttl_s:.3f}",
        bounds.ttl_s,
        bounds.per_article,
        bounds.per_shard,
        PURGE_PER_CALL,
        record,
        article,
        url,
    ]


def decode(reply: Any) -> tuple[int, int, str | None]:
    """(code, views the shard holds, the page to read for a held view's article)."""
    code, total, *url = reply
    page = url[0].decode() if url and isinstance(url[0], bytes) else (str(url[0]) if url else None)
    return int(code), int(total), page


def encode(view: View) -> str:
    """A held view: version, time, kind, event digest, reader and client digests.

    A view without an event id gets a random one: counting held views is then idempotent (a
    process that dies between counting and forgetting them leaves them to be counted again,
    and the event marker makes the second count a duplicate)."""
    event = view.event if view.event is not None else secrets.token_hex(16)
    reader = view.reader.hex() if view.reader is not None else ""
    client = view.client.hex() if view.client is not None else ""
    return f"{VERSION}|{view.at:.3f}|{view.kind}|{event}|{reader}|{client}"


def decode_view(article: str, record: str) -> View | None:
    """The view a record holds; None for a record this version cannot read."""
    parts = record.split("|")
    if len(parts) != 6 or parts[0] != VERSION:
        return None
    _, at, kind, event, reader, client = parts
    try:
        moment = float(at)
        return View(
            article,
            moment if math.isfinite(moment) else 0.0,
            kind=kind,
            event=event or None,
            reader=bytes.fromhex(reader) if reader else None,
            client=bytes.fromhex(client) if client else None,
        )
    except ValueError:
        return None
