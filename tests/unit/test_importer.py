"""The access-log import and the feeds' catalog call, as pure code (tests/test_import.py and
tests/test_feeds.py run them against a real nginx and a real service)."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from redis.crc import key_slot

from service import keys
from service.importer import (
    TOO_LONG,
    Events,
    Summary,
    Unparseable,
    batches,
    parse_combined,
    parse_json,
    read_lines,
)
from service.scripts import feed_article
from service.settings import Settings

PATTERN = Settings.model_fields["import_path_pattern"].default
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
COMBINED = (
    '198.51.100.7 - - [27/Nov/2026:13:59:30 +0200] "GET /news/ceasefire?utm=x HTTP/1.1" 200 '
    f'5120 "https://news.example.com/" "{UA}"'
)
JSON = (
    '{"time":"2026-11-27T11:59:30+00:00","remote_addr":"198.51.100.7","request_method":"GET",'
    '"request_uri":"/news/ceasefire?utm=x","status":200,"body_bytes_sent":5120,'
    f'"http_referer":"https://news.example.com/","http_user_agent":"{UA}"}}'
)


def test_a_combined_line_and_its_json_twin_are_one_request() -> None:
    combined, json_line = parse_combined(COMBINED), parse_json(JSON)
    assert combined == json_line
    assert (combined.at, combined.target, combined.user_agent) == (
        1_795_780_770.0,  # 11:59:30Z
        "/news/ceasefire?utm=x",
        UA,
    )
    assert combined.digest(0) == json_line.digest(0) != combined.digest(1)


def test_a_request_without_a_user_agent_is_the_same_in_both_formats() -> None:
    combined = parse_combined(COMBINED.replace(f'"{UA}"', '"-"'))
    assert combined == parse_json(JSON.replace(UA, "")) and combined.user_agent == ""


def test_quotes_escaped_by_nginx_and_by_apache() -> None:
    nginx = COMBINED.replace(UA, r"Evil \x22quoted\x22 agent")
    apache = COMBINED.replace(UA, r"Evil \"quoted\" agent")
    assert parse_combined(nginx).user_agent == parse_combined(apache).user_agent
    assert parse_combined(apache).user_agent == 'Evil "quoted" agent'


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        COMBINED.replace("27/Nov/2026", "27/Nev/2026"),
        COMBINED.replace('"GET /news/ceasefire?utm=x HTTP/1.1"', '"\\x16\\x03\\x01"'),
    ],
)
def test_lines_that_are_not_combined(line: str) -> None:
    with pytest.raises(Unparseable):
        parse_combined(line)


@pytest.mark.parametrize(
    "line",
    [
        "[1, 2]",
        '{"status": 200}',
        JSON.replace("+00:00", ""),  # a time without an offset
        JSON.replace('"status":200', '"status":"ok"'),
        "{not json",
    ],
)
def test_json_lines_that_do_not_read(line: str) -> None:
    with pytest.raises(Unparseable):
        parse_json(line)


def test_other_json_field_names_and_a_request_line() -> None:
    line = (
        '{"@timestamp": 1795780770.5, "ip": "2001:db8::1", "request": "GET /news/a HTTP/2.0",'
        ' "code": "200", "user_agent": "x"}'
    )
    request = parse_json(line)
    assert (request.ip, request.method, request.target, request.status) == (
        "2001:db8::1",
        "GET",
        "/news/a",
        200,
    )


def test_lines_are_bounded_and_constant_in_memory() -> None:
    stream = io.BytesIO(b"a\r\n" + b"x" * 5000 + b"\nb\n" + b"y" * 600)
    assert list(read_lines(stream, 256)) == [b"a", TOO_LONG, b"b", TOO_LONG]


def test_events_filter_and_count_every_line() -> None:
    summary = Summary()
    lines = [
        COMBINED.encode(),
        COMBINED.encode(),  # the same again: a reload, a second view with another id
        COMBINED.replace('"GET ', '"HEAD ').encode(),
        COMBINED.replace(" 200 ", " 404 ").encode(),
        COMBINED.replace("/news/ceasefire", "/about/us").encode(),
        COMBINED.replace("/news/ceasefire", "/news/%7Bbad%7D").encode(),
        b"  ",
        b"not a line",
        TOO_LONG,
    ]
    events = list(Events("combined", PATTERN, summary).of(lines))
    assert [e["article"] for e in events] == ["ceasefire", "ceasefire"]
    assert events[0]["event_id"] != events[1]["event_id"]
    assert events[0] == {
        "article": "ceasefire",
        "at": "2026-11-27T11:59:30Z",
        "event_id": events[0]["event_id"],
        "ip": "198.51.100.7",
        "user_agent": UA,
    }
    assert summary.skipped == Counter(not_get=1, not_2xx=1, not_article=2, blank=1)
    assert (summary.lines, summary.unparseable, summary.too_long) == (9, 1, 1)


def test_batches_hold_at_most_their_size() -> None:
    assert [len(b) for b in batches(({"n": n} for n in range(7)), 3)] == [3, 3, 1]


def test_the_feed_article_call_keeps_its_layout_and_one_slot() -> None:
    call = feed_article.call("a1", None, "https://x.example/a1", None, None, "news")
    shard = keys.shard_of("a1")
    assert call.keys == [
        *keys.catalog_entry("a1"),
        keys.totals(shard),
        keys.unranked(shard),
        *keys.author_entry("a1"),
        keys.catalog_version(shard),
    ]
    assert call.args[:-1] == ["a1", "", "https://x.example/a1", "", "", "news", "", ""]
    signed = feed_article.call("a1", "T", "https://x.example/a1", None, None, "news", "bo", "Bo")
    assert signed.args[-3:-1] == ["bo", "Bo"]
    assert len({call.args[-1], signed.args[-1]}) == 2  # each call a new catalog version
    assert len({key_slot(key.encode()) for key in signed.keys}) == 1
    assert [feed_article.decode(code) for code in range(5)] == list(feed_article.CHANGES)
