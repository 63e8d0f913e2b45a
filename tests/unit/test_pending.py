"""Discovery's held views without Redis: the record a held view keeps, the call layouts of its
scripts (every key of a call in the article's slot), and a beacon's url."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from service import keys
from service.errors import InvalidArticleId, InvalidBody
from service.ingest import BOT, HUMAN, View, beacon_fields, beacon_url
from service.scripts import claim, due, hold, peek, settle, unhold
from service.storage import Call

T0 = 1_795_780_800.0
BOUNDS = hold.Bounds(ttl_s=900, per_article=1000, per_shard=6250)
ARTICLE = "pending-story"


def one_slot(call: Call) -> bool:
    return len({key_slot(key.encode()) for key in call.keys}) == 1


def test_a_held_view_keeps_digests_and_a_time_only() -> None:
    view = View(
        ARTICLE, T0 + 1.25, kind=BOT, event="ab" * 16, reader=bytes(16), client=b"\x01" * 12
    )
    record = hold.encode(view)
    assert record == f"1|{T0 + 1.25:.3f}|b|{'ab' * 16}|{'00' * 16}|{'01' * 12}"
    assert hold.decode_view(ARTICLE, record) == view


def test_a_held_view_without_an_event_id_gets_one_so_counting_it_twice_counts_once() -> None:
    view = View(ARTICLE, T0, kind=HUMAN, reader=bytes(16))
    first, second = hold.encode(view), hold.encode(view)
    held = hold.decode_view(ARTICLE, first)
    assert held is not None and held.event is not None and len(held.event) == 32
    assert first != second  # two views of one reader are two views until dedupe decides


@pytest.mark.parametrize("record", ["", "2|1|v||||", "1|x|v||||", "1|1|v|e|zz|"])
def test_a_record_this_version_cannot_read_is_skipped(record: str) -> None:
    assert hold.decode_view(ARTICLE, record) is None


def test_every_call_of_an_article_stays_in_its_slot() -> None:
    view = View(ARTICLE, T0, reader=bytes(16))
    calls = [
        hold.call(view, "https://news.example.com/x", T0, BOUNDS),
        hold.purge_call(keys.shard_of(ARTICLE), T0, BOUNDS),
        peek.call(ARTICLE, T0, 512),
        unhold.call(ARTICLE, 3),
        claim.call(ARTICLE, "token", 40_000),
        settle.call(ARTICLE, "token", 600_000),
        due.call(keys.rereads(keys.shard_of(ARTICLE)), T0, 4),
    ]
    assert all(one_slot(call) for call in calls)
    slots = {key_slot(call.keys[0].encode()) for call in calls}
    assert slots == {key_slot(keys.articles(keys.shard_of(ARTICLE)).encode())}


def test_hold_lays_out_its_keys_and_arguments_as_its_header_says() -> None:
    view = View(ARTICLE, T0, reader=bytes(16))
    call = hold.call(view, "https://news.example.com/x", T0, BOUNDS)
    shard = keys.shard_of(ARTICLE)
    assert call.keys == [
        keys.held_due(shard),
        keys.held_counts(shard),
        keys.held_total(shard),
        keys.articles(shard),
        keys.held_urls(shard),
        keys.held(ARTICLE),
        keys.event_log(shard),  # the event log's pending line goes there
    ]
    assert call.args[:6] == [f"{T0:.3f}", f"{T0 + 900:.3f}", 900, 1000, 6250, hold.PURGE_PER_CALL]
    assert str(call.args[6]).startswith(f"1|{T0:.3f}|v|")  # its record (a random event id)
    assert call.args[7:] == [ARTICLE, "https://news.example.com/x", "", 0, int(T0)]  # no log
    logged = hold.call(view, "https://news.example.com/x", T0, BOUNDS, 500)
    m5 = int(T0 // 300)
    assert logged.args[9:] == [f"22,{m5},{ARTICLE},00000000,", 500, int(T0)]  # pending
    purge = hold.purge_call(shard, T0, BOUNDS)
    assert len(purge.keys) == 5 and purge.args[6] == ""  # no record: forget expired holds only
    assert claim.call(ARTICLE, "t", 1, forced=True).args == ["t", 1, "1"]


def test_a_beacon_may_name_its_article_by_its_url() -> None:
    url = "https://news.example.com/news/harbour-reopens/?utm=x"
    assert beacon_fields({"url": url}) == ("harbour-reopens", None, None)
    assert beacon_url({"article": "a1", "url": url}) == url
    assert beacon_url({"article": "a1"}) is None
    with pytest.raises(InvalidArticleId, match="last path segment"):
        beacon_fields({"url": "https://news.example.com/"})
    with pytest.raises(InvalidBody, match="'article' is required"):
        beacon_fields({"url": ""})
    with pytest.raises(InvalidBody, match="'url' must be a string of 1-2048"):
        beacon_url({"article": "a1", "url": "x" * 2049})
