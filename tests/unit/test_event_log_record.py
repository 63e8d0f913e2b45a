"""The event-log record format and the log scripts' codecs, without Redis."""

from __future__ import annotations

import pytest

from service import keys
from service.eventlog import record
from service.scripts import log_state, log_trim, purge, recent

ARTICLE = "a1"
READER, CLIENT = "0123456789abcdef" * 2, "fedcba9876543210" + "00112233"


def test_a_stream_entry_reads_back_as_events_and_survives_a_table() -> None:
    lines = [
        record.line(record.CODES["counted"], 5_985_936, ARTICLE, READER, CLIENT),
        record.line(record.CODES["automated"], 5_985_937, "b2", READER, CLIENT),
        record.line(record.CODES["counted"], 5_985_936, ARTICLE, "9abcdef0", ""),  # a batch view
    ]
    assert lines[0] == f"1,5985936,{ARTICLE},01234567,fedcba9876543210"  # digests cut short
    fields = {"v": record.VERSION, "t": "1795780799", "e": "\n".join(lines)}
    events = record.decode_entry(3, "1795780800123-2", fields)
    assert [(e.outcome, e.article, e.line, e.client) for e in events] == [
        ("counted", ARTICLE, 0, "fedcba9876543210"),
        ("automated", "b2", 1, "fedcba9876543210"),
        ("counted", ARTICLE, 2, ""),
    ]
    assert events[0].at == 5_985_936 * 300 and events[0].logged_ms == 1795780800123
    assert events[0].seq == 2 and events[0].shard == 3 and events[0].recorded_s == 1795780799
    table = record.to_table(events)
    assert table.schema.names == record.schema().names
    assert table.column("article").to_pylist() == [ARTICLE, ARTICLE, "b2"]  # by article
    assert sorted(record.from_table(table), key=lambda e: e.line) == events


def test_an_entry_of_another_version_is_refused_not_misread() -> None:
    with pytest.raises(record.UnknownVersion):
        record.decode_entry(0, "1-0", {"v": "2", "e": "1,2,a,b,c"})


def test_a_code_the_table_lacks_is_kept_by_number() -> None:
    events = record.decode_entry(0, "1-0", {"v": "1", "t": "0", "e": "9,1,a1,01234567,"})
    assert events[0].outcome == "code_9"


def test_every_outcome_has_one_code() -> None:
    assert len(set(record.OUTCOMES.values())) == len(record.OUTCOMES)
    assert record.CODES["purged"] == record.PURGED == 20


def test_log_trim_keeps_what_comes_after_the_archived_id() -> None:
    assert log_trim.next_id("1795780800123-7") == "1795780800123-8"
    call = log_trim.call(4, "10-0")
    assert call.keys == [keys.event_log(4), keys.event_log_state(4)]
    assert call.args == ["10-1"]


def test_log_state_counts_what_the_bound_dropped() -> None:
    states = log_state.decode([5, 120, 100, "0", "0", "0"])
    assert [(s.held, s.dropped) for s in states] == [(5, 15), (0, 0)]
    assert log_state.call([1]).keys == [keys.event_log(1), keys.event_log_state(1)]


def test_purge_takes_back_buckets_in_order_and_skips_empty_ones() -> None:
    shard = keys.shard_of(ARTICLE)
    samples, tops = [keys.readers_sample(shard, "h", 7)], [keys.top_clients(shard, 7)]
    call = purge.call(ARTICLE, CLIENT[:16], {12: 3, 10: 2, 11: 0}, samples, tops, 500, 99.5, 3)
    kept, hours = recent.sources(shard, 99.5)  # every sample kept: the recent readers' rebuild
    assert call.keys == [
        *(keys.totals(shard), keys.inbox(shard), keys.event_log(shard), keys.automated(shard)),
        *samples,
        *tops,
        keys.recent_readers(shard),
        *kept,
    ]
    assert call.args == [
        *(ARTICLE, CLIENT[:8], CLIENT[:16]),  # the article, the client's sample id and digest
        *(32 * 86400, 500, 8),  # the inbox TTL, the log's bound, a sample id's length
        *(1, 1, 99),  # one readers sample, one top-clients hash, the clock
        *(2, 10, 2, 12, 3),  # two buckets, oldest first; the empty one is left out
        *(record.PURGED, 0),  # the lines' code; the views do not become automated ones
        *(3, len(kept), *hours),  # readers kept, the samples to rebuild them from
    ]
    recount = purge.call(ARTICLE, CLIENT[:16], {10: 1}, [], [], 500, 99.5, 3, recount=True)
    assert recount.args[-4:] == [record.RECOUNTED, 1, 3, 0]  # no sample: nothing to rebuild
