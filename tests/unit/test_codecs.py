"""The scripts' call layouts, pinned without Redis: what each codec puts in KEYS and ARGV is
what its .lua header says it reads, and every key of a one-shard call shares one slot."""

from __future__ import annotations

import hashlib
import pkgutil
from importlib import import_module
from zoneinfo import ZoneInfo

import pytest
from redis.crc import key_slot

from service import keys, scripts
from service.ingest import BOT, HUMAN, View
from service.scripts import (
    advance,
    counts,
    delete_article,
    hourly,
    lease,
    merge,
    meta,
    publish,
    put_article,
    ratelimit,
    record,
    release,
    samples,
    tombstone,
)
from service.storage import Call

T0 = 1_795_780_800.0  # 2026-11-27 12:00:00 UTC, on every bucket boundary
KYIV = ZoneInfo("Europe/Kyiv")
NOW = T0 + 90  # 90 s into the hour: the sliding minute keeps half of the previous one
MINUTE = int(NOW // 60)
DAY = int(NOW // 86400)
M5_NOW = int(NOW // 300)
LIMITS = record.Limits(
    dedupe_ttl_s=1800,
    event_ttl_s=86400,
    rate_limit_per_min=600,
    max_views_per_client=20,
    min_readers=3,
    event_log_max_entries=5000,
)
ARTICLE = "a1"
SHARD = keys.shard_of(ARTICLE)
READER, CLIENT = bytes(range(16)), bytes(12)


def one_slot(call: Call) -> bool:
    return len({key_slot(key.encode()) for key in call.keys}) == 1


def test_every_script_has_its_codec_beside_it() -> None:
    names = {m.name for m in pkgutil.iter_modules(scripts.__path__)}
    lua = {path.stem for path in scripts.HERE.glob("*.lua")}
    assert lua <= names
    for name in lua:
        codec = import_module(f"service.scripts.{name}")
        assert codec.SCRIPT.name == name
        assert (scripts.HERE / f"{name}.lua").read_text() in codec.SCRIPT.source
        assert callable(codec.call) and callable(codec.decode)


# --- record.lua -------------------------------------------------------------------------------
HOUR = MINUTE // 60


def header(fields: int, sections: int) -> list[object]:
    """ARGV[1..15] as record.lua's header lists them."""
    per_minute_ttl = (MINUTE + 1) * 60 - NOW + 2 * 3600
    rate_ttl = (MINUTE + 2) * 60 - NOW
    hour_end = (HOUR + 1) * 3600 - NOW
    return [
        *(1800, 86400, per_minute_ttl, 32 * 86400, 600, "0.500", rate_ttl, fields),
        *(20, 3),  # the per-client cap, the ids a readers sample keeps
        *(hour_end + 3600, hour_end + 26 * 3600, hour_end + 26 * 3600),  # caps, samples, tops
        3,  # views from which a client is an article's top client
        sections,
    ]


def section_keys(shard: int, log_shard: int | None = None) -> list[str]:
    """KEYS b .. b+11 of a section: articles, totals, bots, inbox, per-minute, automated, this
    and the previous hour's caps, the hour's readers sample, top clients, automated views, and
    the shard's event-log stream."""
    return [
        keys.articles(shard),
        keys.totals(shard),
        keys.bots(shard),
        keys.inbox(shard),
        keys.per_minute(shard, MINUTE),
        keys.automated(shard),
        keys.caps(shard, HOUR),
        keys.caps(shard, HOUR - 1),
        keys.readers_sample(shard, "h", HOUR),
        keys.top_clients(shard, HOUR),
        keys.automated_hourly(shard, HOUR),
        keys.event_log(shard if log_shard is None else log_shard),
        keys.readers_unfolded(shard, HOUR),
    ]


def test_record_batch_views_take_six_fields() -> None:
    event = "e" * 32
    views = [View(ARTICLE, NOW, event=event, dedupe=False), View(ARTICLE, NOW - 600, dedupe=False)]
    call = record.call([(SHARD, views)], NOW, LIMITS, rate_limited=False)
    assert record.BATCH_FIELDS == 6
    assert call.keys == [*section_keys(SHARD), keys.event(ARTICLE, event)]
    # Views without a reader get a random readers member each (the lists' readers samples).
    first, second = call.args[20], call.args[26]
    assert len(first) == len(second) == 8 and first != second
    assert call.args == [
        *header(6, 1),
        *(1, 2),  # the section's base key number, its number of views
        *(ARTICLE, 14, 0, first, 0, M5_NOW),  # article, event key 14, no reader, 5-minute bucket
        *(ARTICLE, 0, 0, second, 0, M5_NOW - 2),
        *(int(NOW), 5000),  # last: the clock and the event log's bound, for its log block
    ]
    assert one_slot(call)


def test_record_beacon_views_take_eleven_fields() -> None:
    human = View(ARTICLE, NOW, event="e" * 32, reader=READER, client=CLIENT)
    bot = View(ARTICLE, NOW, kind=BOT, reader=READER, client=CLIENT)
    call = record.call([(SHARD, [human, bot])], NOW, LIMITS, rate_limited=True)
    assert record.BEACON_FIELDS == 11
    # The dedupe marker: one reader, one article, derived from the (keyed) reader digest.
    seen = hashlib.blake2b(READER + ARTICLE.encode(), digest_size=16).hexdigest()
    # The cap field: one client network, one article.
    field = hashlib.blake2b(CLIENT + ARTICLE.encode(), digest_size=8).hexdigest()
    client_shard = keys.shard_of_digest(CLIENT)
    assert call.keys == [
        *section_keys(SHARD),
        keys.event(ARTICLE, "e" * 32),  # 14
        keys.readers(ARTICLE, DAY),  # 15
        keys.seen(ARTICLE, seen),  # 16
        keys.rate(client_shard, MINUTE),  # 17: this minute's
        keys.rate(client_shard, MINUTE - 1),  # 18: the previous minute's
        keys.readers(ARTICLE, DAY),  # 19: the bot's reader count (no dedupe, no cap for bots)
    ]
    readers_ttl = (DAY + 1) * 86400 + 2 * 86400 - NOW
    member = READER.hex()
    assert call.args == [
        *header(11, 1),
        *(1, 2),
        *(ARTICLE, 14, 15, member, readers_ttl, M5_NOW, HUMAN, 16, 17, CLIENT.hex(), field),
        *(ARTICLE, 0, 19, member, readers_ttl, M5_NOW, BOT, 0, 17, CLIENT.hex(), ""),
        *(int(NOW), 5000),
    ]


def test_record_sections_number_their_keys_from_their_base() -> None:
    other = next(f"b{n}" for n in range(100) if keys.shard_of(f"b{n}") != SHARD)
    sections = [(SHARD, [View(ARTICLE, NOW)]), (keys.shard_of(other), [View(other, NOW)])]
    call = record.call(sections, NOW, LIMITS, rate_limited=False)
    # Both sections log to the first one's stream: one XADD for the call.
    assert call.keys == [*section_keys(SHARD), *section_keys(keys.shard_of(other), SHARD)]
    first, second = call.args[20], call.args[28]
    assert call.args[15:] == [
        *(1, 1, ARTICLE, 0, 0, first, 0, M5_NOW),
        *(14, 1, other, 0, 0, second, 0, M5_NOW),
        *(int(NOW), 5000),
    ]
    assert record.decode([1, "2", 7]) == [record.COUNTED, record.DUPLICATE, record.AUTOMATED]


def test_samples_fold_a_page_of_an_hour_into_its_day_all_time_and_recent_readers() -> None:
    assert list(samples.hours(NOW)) == [HOUR - 1, HOUR]
    call = samples.call(SHARD, HOUR - 1, NOW, 3, 17, whole=True)
    assert call.keys == [
        keys.readers_sample(SHARD, "h", HOUR - 1),
        keys.readers_sample(SHARD, "d", DAY),  # T0 is noon: both hours are of one day
        keys.readers_sample(SHARD, "all"),
        keys.recent_readers(SHARD),
        keys.readers_unfolded(SHARD, HOUR - 1),
        keys.readers_folded(SHARD, HOUR - 1),
    ]
    day_ttl = (DAY + 1) * 86400 + 32 * 86400 - NOW
    mark_ttl = HOUR * 3600 + 26 * 3600 - NOW  # the hour sample's own TTL
    assert call.args == [3, day_ttl, HOUR - 1, 17, samples.PAGE, "whole", mark_ttl]
    assert samples.call(SHARD, HOUR - 1, NOW, 3).args[5] == "new"  # the grown samples
    assert one_slot(call) and samples.decode(["0", 4]) == (0, 4)


# --- merge.lua and advance.lua: windows from windows.py -----------------------------------------
def test_merge_gets_the_window_table_from_windows_py() -> None:
    assert [
        *(8, "1h", "24h", "7d", "30d", "today"),  # NW, then the window names
        *("24h-before", "7d-before", "30d-before"),  # the windows just before a list's
        *(0, 0, 0, 0, 0, 24, 7, 30),  # their spans in buckets (0: up to now)
        3,  # NG, then per granularity: name, longest window fed, windows fed and their numbers
        *("m5", 1, 1, 1),
        *("h", 3, 4, 2, 3, 5, 6),
        *("d", 4, 3, 4, 7, 8),
    ] == merge.TABLE


def test_merge_names_each_bucket_once_and_numbers_it_per_entry() -> None:
    m5 = int(T0 // 300)
    members = [
        keys.inbox_member(m5, "x"),
        keys.inbox_member(m5, "y"),
        keys.inbox_member(m5 - 12, "x"),
    ]
    call = merge.call(SHARD, members, T0)
    hour, day = int(T0 // 3600), int(T0 // 86400)  # UTC, the default zone: local day = day
    assert call.keys == [
        keys.draining(SHARD),
        keys.window_starts(SHARD),
        *(keys.window(SHARD, name) for name in ("1h", "24h", "7d", "30d", "today")),
        *(keys.window(SHARD, name) for name in ("24h-before", "7d-before", "30d-before")),
        keys.article_themes(SHARD),  # 11
        keys.bucket(SHARD, "m5", m5),  # 12
        keys.bucket(SHARD, "h", hour),  # 13
        keys.bucket(SHARD, "d", day),  # 14
        keys.bucket(SHARD, "m5", m5 - 12),  # 15
        keys.bucket(SHARD, "h", hour - 1),  # 16
        keys.day_views(SHARD, day),  # 17
        keys.series(SHARD, "h", hour),  # 18
        keys.series(SHARD, "ld", day),  # 19
        keys.series(SHARD, "h", hour - 1),  # 20
    ]
    ttl = {  # a bucket's end plus its granularity's retention, from the rollup's as_of
        ("m5", m5): 300 + 2 * 3600,
        ("h", hour): 3600 + 8 * 86400,
        ("d", day): (day + 1) * 86400 - T0 + 62 * 86400,
        ("m5", m5 - 12): 300 + 2 * 3600 - 3600,
        ("h", hour - 1): 8 * 86400,
    }
    day_ttl = (day + 1) * 86400 - T0 + 32 * 86400
    assert call.args == [
        *merge.TABLE,
        5,
        *(field for (gran, index), ttl_s in ttl.items() for field in (gran, index, ttl_s)),
        11,  # the article -> theme hash
        "*",  # the site's field in the series hashes
        4,  # series keys: the local day's article set, then the hours' and day's totals
        *(17, day_ttl, 18, 3600 + 2 * 86400, 19, day_ttl, 20, 2 * 86400),
        *(members[0], 12, 13, 14, 17, 18, 19),
        *(members[1], 12, 13, 14, 17, 18, 19),
        *(members[2], 15, 16, 14, 17, 20, 19),
    ]
    assert one_slot(call) and merge.decode("3") == 3


def test_merge_puts_views_in_their_local_day() -> None:
    """In Kyiv (UTC+2 in winter) a view at 23:00 UTC belongs to the next local day."""
    late = (int(T0 // 86400) * 86400) + 23 * 3600
    call = merge.call(SHARD, [keys.inbox_member(int(late // 300), "x")], late, KYIV)
    utc_day = int(late // 86400)
    assert keys.day_views(SHARD, utc_day + 1) in call.keys
    assert keys.series(SHARD, "ld", utc_day + 1) in call.keys
    assert keys.day_views(SHARD, utc_day) not in call.keys


def test_advance_reads_every_bucket_that_may_still_exist() -> None:
    call = advance.call(SHARD, T0, {})
    m5, hour, day = int(T0 // 300), int(T0 // 3600), int(T0 // 86400)
    # Per window: name, lo, hi, start, drop, kept, reset, span (advance.lua's header). T0 is
    # noon UTC: today (in UTC, the default zone) began 12 hours before; it is rebuilt, from
    # there. A window before a list's ends where that one starts (7d's: at the day its first
    # hour is in, day - 7).
    expected = [
        ("1h", "m5", m5 - 25, m5 + 1, m5 - 12, 1, m5 - 25, 0, 0),
        ("24h", "h", hour - 193, hour + 1, hour - 24, 0, hour - 193, 0, 0),
        ("7d", "h", hour - 193, hour + 1, hour - 168, 1, hour - 193, 0, 0),
        ("30d", "d", day - 63, day + 1, day - 30, 0, day - 63, 0, 0),  # days stay 60 (kept to TTL)
        ("today", "h", hour - 12, hour + 1, hour - 12, 0, hour - 193, 1, 0),
        ("24h-before", "h", hour - 193, hour - 25, hour - 48, 0, hour - 193, 0, 24),
        ("7d-before", "d", day - 63, day - 8, day - 14, 0, day - 63, 0, 7),
        ("30d-before", "d", day - 63, day - 31, day - 60, 0, day - 63, 0, 30),
    ]
    assert call.args == [8, *(f for name, _, *rest in expected for f in (name, *rest))]
    assert call.keys == [
        keys.window_starts(SHARD),
        *(
            key
            for name, gran, lo, hi, *_ in expected
            for key in (
                keys.window(SHARD, name),
                *(keys.bucket(SHARD, gran, i) for i in range(lo, hi + 1)),
            )
        ),
    ]
    assert one_slot(call)


@pytest.mark.parametrize(
    ("held", "lo"),
    [
        (int(T0 // 86400) - 31, int(T0 // 86400) - 63),  # a recent start: from `kept`
        (int(T0 // 86400) - 70, int(T0 // 86400) - 70),  # a rollup skipped: from the old start
        (0, int(T0 // 86400) - 30 - advance.MAX_BACKLOG),  # never further back than the backlog
    ],
)
def test_advance_looks_back_to_the_start_it_holds(held: int, lo: int) -> None:
    args = advance.call(SHARD, T0, {"30d": held}).args
    at = args.index("30d")
    assert args[at : at + 3] == ["30d", lo, int(T0 // 86400) + 1]


# --- the other scripts -------------------------------------------------------------------------
def test_the_other_calls_keep_their_layout_and_one_slot() -> None:
    assert counts.call([(SHARD, ["a1", "a2"])]).args == [1, 2, "a1", "a2"]
    assert counts.decode([5, -1]) == [5, None]
    rate = ratelimit.call([(0, [CLIENT, CLIENT])], NOW, 600)
    assert rate.keys == [keys.rate(0, MINUTE), keys.rate(0, MINUTE - 1)]
    head = [600, "0.500", (MINUTE + 2) * 60 - NOW, 1, 2, CLIENT.hex(), CLIENT.hex()]
    assert rate.args == [*head, int(NOW), 0]  # last: the clock and no event log
    logged = ratelimit.call([(0, [CLIENT, CLIENT])], NOW, 600, [["1,a1,r", "2,a2,r"]], 900)
    assert logged.keys == [*rate.keys, keys.event_log(0)]  # refused views: the shard's stream
    assert logged.args == [*head, "1,a1,r", "2,a2,r", int(NOW), 900]
    assert one_slot(logged)
    assert ratelimit.decode([1, 0]) == [True, False]
    put = put_article.call(ARTICLE, "Title", "https://x.example/a1", "war", None, 3)
    assert put.args[:-1] == [ARTICLE, "Title", "https://x.example/a1", "war", "", 3, "1", "", ""]
    assert put.keys[5] == keys.unranked(SHARD) and one_slot(put)
    assert put.keys[6:] == [*keys.author_entry(ARTICLE), keys.catalog_version(SHARD)]
    hidden = put_article.call(
        ARTICLE, "Title", "https://x.example/a1", "war", None, 3, False, "ann-lee", "Ann Lee"
    )
    assert hidden.args[-4:-1] == ["0", "ann-lee", "Ann Lee"] and one_slot(hidden)
    deleted = delete_article.call(ARTICLE, T0)
    assert deleted.keys[9] == keys.catalog_version(SHARD) and deleted.args[1] == len(
        deleted.keys[10:]
    ) - (delete_article.READER_DAYS_BACK + delete_article.READER_DAYS_AHEAD)
    # every call a new version token, so that a rollup's cache of the catalog never matches
    # the one it held before the change
    assert len({put.args[-1], hidden.args[-1], deleted.args[-1]}) == 3
    hours = hourly.call(ARTICLE, [10, 11])
    assert hours.args == [ARTICLE, 12, 120, 132] and hourly.decode(-1) is None
    assert lease.call("me", "", 5000).keys == [keys.LEADER, keys.EPOCH]
    assert lease.decode(None) == "" and lease.decode("7-me") == "7-me"
    published = publish.call("7-me", 9, T0, 8, T0 - 60, 120)
    assert published.keys == [
        keys.LEADER,
        keys.CURRENT,
        keys.snapshot(9),
        keys.TOMBSTONES,
        keys.snapshot(8),
    ]
    assert published.args == ["7-me", 9, repr(T0), T0 - 60, 120, 8]
    assert tombstone.call(ARTICLE, None).args == [ARTICLE, ""]
    calls = [
        counts.call([(SHARD, ["a1"])]),
        rate,
        put,
        hours,
        delete_article.call(ARTICLE, T0),
        lease.call("me", "", 5000),
        release.call("7-me"),
        published,
        tombstone.call(ARTICLE, T0),
    ]
    assert all(one_slot(call) for call in calls)


def test_meta_reads_a_chunk_of_one_shard_per_call() -> None:
    ids = [f"a{n}" for n in range(5 * meta.ARTICLES_PER_CALL)]
    chunks = meta.chunks([*ids, ids[3]])  # a repeat is read once
    assert sorted(a for _, chunk in chunks for a in chunk) == sorted(ids)
    for shard, chunk in chunks:
        assert 0 < len(chunk) <= meta.ARTICLES_PER_CALL
        assert {keys.shard_of(a) for a in chunk} == {shard}
        call = meta.call(shard, chunk, ("title", "url"))
        assert call.keys == [keys.meta(a) for a in chunk] and one_slot(call)
        assert call.args == ["title", "url"]
    fields = ("title", "url")
    assert meta.decode([["T", None], [None, None]], fields) == [{"title": "T", "url": None}, None]
