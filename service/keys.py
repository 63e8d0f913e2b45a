"""Every Redis key viewcount uses, built here and nowhere else.

Keys carry a hash tag so multi-key scripts stay in one Redis Cluster slot:
- an article and everything counted for it live under its shard's tag, chosen by a hash of the
  article id, so the write load spreads over ``SHARDS`` slots (and so over every cluster node);
- rankings, the leader lease and their fencing live under one ``{rank}`` tag;
- the daily salt lives under ``{salt}``.
Article ids and themes are validated before they reach this module (no ``{``, ``}``, ``:``).
"""

from __future__ import annotations

import zlib

from .storage import HASH_SLOTS, key_slot

PREFIX = "vc"
SHARDS = 16


def _spread_tags(count: int) -> tuple[str, ...]:
    """One tag per shard, each hashing into its own equal slice of the slot space."""
    slice_size = HASH_SLOTS // count
    tags = []
    for shard in range(count):
        candidate = 0
        while key_slot(f"{{s{shard}.{candidate}}}".encode()) // slice_size != shard:
            candidate += 1
        tags.append(f"{{s{shard}.{candidate}}}")
    return tuple(tags)


SHARD_TAGS = _spread_tags(SHARDS)


def shard_of(article: str) -> int:
    # No cache: CRC-32 of an id costs ~150 ns; an LRU cache of 65,536 ids missed on every
    # call of a rollup that walks 100,000 articles, at ~420 ns a call (400,000 calls a rollup).
    return zlib.crc32(article.encode()) % SHARDS


def shard_of_digest(digest: bytes) -> int:
    return digest[0] % SHARDS


_SHARD_PREFIXES = tuple(f"{PREFIX}:{tag}" for tag in SHARD_TAGS)


def _s(shard: int) -> str:
    return _SHARD_PREFIXES[shard]


# --- per shard -------------------------------------------------------------------------------
def articles(shard: int) -> str:
    """Set of the shard's article ids: the catalog check on the beacon path."""
    return f"{_s(shard)}:articles"


def article_themes(shard: int) -> str:
    """Hash article -> theme, for the rollup's theme lists."""
    return f"{_s(shard)}:theme"


def theme_counts(shard: int) -> str:
    """Hash theme -> number of the shard's articles in it."""
    return f"{_s(shard)}:themes"


def totals(shard: int) -> str:
    """Sorted set article -> all-time views (counted plus imported): live counts and `all`."""
    return f"{_s(shard)}:total"


def bots(shard: int) -> str:
    """Hash article -> bot views."""
    return f"{_s(shard)}:bots"


def automated(shard: int) -> str:
    """Hash article -> automated views (over-long User-Agents, per-client caps)."""
    return f"{_s(shard)}:auto"


def inbox(shard: int) -> str:
    """Sorted set "m5 index|article" -> views counted since the rollup last claimed it."""
    return f"{_s(shard)}:inbox"


def draining(shard: int) -> str:
    """The inbox a rollup claimed, while it merges it into the buckets and window sets."""
    return f"{_s(shard)}:draining"


def inbox_member(m5_index: int, article: str) -> str:
    return f"{m5_index}|{article}"


def inbox_m5(member: str) -> int:
    """The 5-minute bucket index of an inbox member."""
    return int(member.split("|", 1)[0])


def day_views(shard: int, day: int) -> str:
    """Sorted set article -> views on one local day (VIEWCOUNT_TIMEZONE; windows.local_day):
    an article's daily series."""
    return f"{_s(shard)}:ld:{day}"


def series(shard: int, period: str, index: int) -> str:
    """Hash SERIES_SITE or theme -> the shard's views in one UTC hour ("h") or one local day
    ("ld"): the site's and each theme's series."""
    return f"{_s(shard)}:ser:{period}:{index}"


SERIES_SITE = "*"  # the field of every view in a series hash (themes are slugs: no "*")


def window(shard: int, name: str) -> str:
    """Sorted set article -> views inside a sliding window, kept incrementally."""
    return f"{_s(shard)}:win:{name}"


def window_starts(shard: int) -> str:
    """Hash window -> index of its oldest bucket still summed into the window set."""
    return f"{_s(shard)}:winfrom"


def bucket(shard: int, granularity: str, index: int) -> str:
    """Sorted set article -> views in one time bucket."""
    return f"{_s(shard)}:b:{granularity}:{index}"


def per_minute(shard: int, minute: int) -> str:
    """Counter of the shard's counted views in one minute (the live views-per-minute figure)."""
    return f"{_s(shard)}:pm:{minute}"


def caps(shard: int, hour: int) -> str:
    """Hash cap field -> views in one clock hour, for the per-client cap; a field digests a
    client network with an article (record.cap_field)."""
    return f"{_s(shard)}:cap:{hour}"


def readers_sample(shard: int, period: str, index: int | None = None) -> str:
    """Hash article -> up to VIEWCOUNT_MIN_READERS distinct reader ids (8 hex characters
    each) seen in one hour ("h"), one day ("d"), or ever ("all", no index): the lists'
    minimum-readers rule reads these."""
    suffix = period if index is None else f"{period}:{index}"
    return f"{_s(shard)}:rs:{suffix}"


def readers_unfolded(shard: int, hour: int) -> str:
    """Set of the articles whose sample of clock hour ``hour`` grew since a rollup last folded
    them (record.lua adds, samples.lua takes them), so that a rollup folds what changed."""
    return f"{_s(shard)}:rs:h:{hour}:new"


def readers_folded(shard: int, hour: int) -> str:
    """Set (to "1") once a rollup folded a shard's whole sample of clock hour ``hour``: from
    then on it folds only readers_unfolded (samples written before that set existed, by an
    earlier version or a seed, are folded by that first whole pass)."""
    return f"{_s(shard)}:rs:h:{hour}:folded"


def recent_readers(shard: int) -> str:
    """Hash article -> its most recent distinct readers, up to VIEWCOUNT_MIN_READERS, each a
    reader id (8 characters) and the clock hour it was last seen in (8 digits), most recent
    first (scripts/lib/recent_readers.lua): the lists' minimum-readers rule reads these."""
    return f"{_s(shard)}:rr"


def recent_ready(shard: int) -> str:
    """Set once a shard's recent readers were built from its readers samples (a store
    written before they existed gets them at its first rollup)."""
    return f"{_s(shard)}:rr:ready"


def top_clients(shard: int, hour: int) -> str:
    """Hash article -> "client digest:views" of the client network with the most views of it
    in one hour, once one has several: what GET /v1/admin/suspicious reports."""
    return f"{_s(shard)}:top:{hour}"


def automated_hourly(shard: int, hour: int) -> str:
    """Hash article -> automated views in one hour (the suspicious report's windows)."""
    return f"{_s(shard)}:autoh:{hour}"


def event_log(shard: int) -> str:
    """Stream of the shard's logged decisions (one entry per record call section), until the
    scheduler's drain has archived them (service/eventlog/)."""
    return f"{_s(shard)}:log"


def event_log_state(shard: int) -> str:
    """Hash of the shard's log drain: ``drained``, the entries archived ever (log_trim.lua)."""
    return f"{_s(shard)}:logstate"


def unranked(shard: int) -> str:
    """Set of the shard's articles an editor took out of every public list ("ranked": false)."""
    return f"{_s(shard)}:unranked"


def rate(shard: int, minute: int) -> str:
    """Hash client-ip digest -> requests in one minute, for the per-IP rate limit."""
    return f"{_s(shard)}:rl:{minute}"


def catalog_entry(article: str) -> list[str]:
    """The keys an article's catalog entry lives in: its meta hash, then its shard's article
    set, article -> theme hash and theme -> count hash (put_article.lua, delete_article.lua)."""
    shard = shard_of(article)
    return [meta(article), articles(shard), article_themes(shard), theme_counts(shard)]


def article_authors(shard: int) -> str:
    """Hash article -> author slug, for the rollup's author lists."""
    return f"{_s(shard)}:author"


def author_counts(shard: int) -> str:
    """Hash author -> number of the shard's articles by them."""
    return f"{_s(shard)}:authors"


def author_names(shard: int) -> str:
    """Hash author -> the name last given with one of the shard's articles by them."""
    return f"{_s(shard)}:authornames"


def author_entry(article: str) -> list[str]:
    """The author indexes of an article's shard (put_article.lua, delete_article.lua)."""
    shard = shard_of(article)
    return [article_authors(shard), author_counts(shard), author_names(shard)]


# --- per article (under its shard's tag) ------------------------------------------------------
def catalog_version(shard: int) -> str:
    """String: a random token, replaced by every change of the shard's catalog (put_article,
    feed_article and delete_article, through lib/catalog_index.lua): the rollup keeps what
    it read of a shard's catalog while the token stays the same (catalogcache.py)."""
    return f"{_s(shard)}:catalogv"


def meta(article: str) -> str:
    """Hash of the article's catalog fields."""
    return meta_in(shard_of(article), article)


def meta_in(shard: int, article: str) -> str:
    """meta() of an article whose shard is known: a walk over the whole catalog (the export)
    would otherwise fill shard_of's cache, kept for the beacons' hot ids, with every id."""
    return f"{_s(shard)}:a:{article}"


def readers(article: str, day: int) -> str:
    """HyperLogLog of the article's unique readers on one day."""
    return f"{_s(shard_of(article))}:u:{article}:{day}"


def seen(article: str, digest: str) -> str:
    """Dedupe marker: this reader viewed this article within the dedupe window."""
    return f"{_s(shard_of(article))}:dd:{digest}"


def event(article: str, digest: str) -> str:
    """Idempotency marker of an event id."""
    return f"{_s(shard_of(article))}:ev:{digest}"


def call_marker(first_key: str, token: str) -> str:
    """The result of one script call, kept briefly so a replay of the call (a retry after a
    lost reply) returns it instead of running again; in the slot of the call's first key."""
    start = first_key.find("{")
    end = first_key.find("}", start + 1)
    tag = first_key[start : end + 1] if start >= 0 and end > start + 1 else "{calls}"
    return f"{PREFIX}:{tag}:once:{token}"


# --- discovery: views held for articles not yet in the catalog (under the shard's tag) -------
def held(article: str) -> str:
    """List of the views held for an article not in the catalog (hold.py's records), oldest
    first, while its page is read."""
    return f"{_s(shard_of(article))}:held:{article}"


def held_due(shard: int) -> str:
    """Sorted set article -> the service-clock time its held views expire."""
    return f"{_s(shard)}:held:due"


def held_counts(shard: int) -> str:
    """Hash article -> views held for it (what the shard's bound counts)."""
    return f"{_s(shard)}:held:n"


def held_total(shard: int) -> str:
    """Counter of the views the shard holds, every article's together."""
    return f"{_s(shard)}:held:total"


def held_urls(shard: int) -> str:
    """Hash article -> the page its held views are waiting on (from its first held view)."""
    return f"{_s(shard)}:held:url"


def held_keys(shard: int) -> list[str]:
    """A shard's held-view bookkeeping: due, counts, total, its article set, urls (hold.lua,
    unhold.lua)."""
    return [
        held_due(shard),
        held_counts(shard),
        held_total(shard),
        articles(shard),
        held_urls(shard),
    ]


def fetch_lease(article: str) -> str:
    """Held by the one process fetching the article's page (SET NX PX), in its slot."""
    return f"{_s(shard_of(article))}:fetch:{article}"


def fetch_cooldown(article: str) -> str:
    """Set after a failed fetch of the article's page, for VIEWCOUNT_FETCH_COOLDOWN_S."""
    return f"{_s(shard_of(article))}:cool:{article}"


def rereads(shard: int) -> str:
    """Sorted set article -> the time its page is read once more (a changed headline)."""
    return f"{_s(shard)}:reread"


# --- rankings and their leader (one slot) -----------------------------------------------------
RANK = f"{PREFIX}:{{rank}}"
LEADER = f"{RANK}:leader"
EPOCH = f"{RANK}:epoch"
CURRENT = f"{RANK}:current"
TOMBSTONES = f"{RANK}:deleted"


def snapshot(generation: int) -> str:
    """Hash list-name -> pre-serialised items of one ranking snapshot."""
    return f"{RANK}:snap:{generation}"


CHECKPOINTS = f"{RANK}:checkpoints"  # sorted set generation -> as_of of the rank checkpoints


def checkpoint(generation: str) -> str:
    """Hash list-name -> comma-separated article ids, in rank order, of a published snapshot:
    what a later rollup's previous_rank compares with."""
    return f"{RANK}:ranks:{generation}"


def salt(day: int) -> str:
    return f"{PREFIX}:{{salt}}:{day}"


GENERATION = f"{RANK}:generation"


# --- feeds (one slot) -------------------------------------------------------------------------
# Hash feed URL -> the validators (ETag, Last-Modified) of its last good read, so a new leader
# sends the same conditional GETs the old one would have.
FEED_VALIDATORS = f"{PREFIX}:{{feeds}}:validators"
