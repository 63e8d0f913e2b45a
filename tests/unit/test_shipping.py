"""Log-shipper bodies and events, as pure code (tests/test_shippers.py posts them for real)."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr, ValidationError

from service.errors import InvalidArticleId, InvalidBody, PayloadTooLarge
from service.ingest import AUTOMATED, BOT, HUMAN, Identity, Salts
from service.settings import Settings
from service.shipping import UNREADABLE, EventContext, InvalidTime, event_view, parse_events

NOW = 1_795_780_800.0  # 2026-11-27T12:00:00Z
CONTEXT = EventContext(NOW, Identity(b"k" * 32, Salts(None)), b"r" * 32, 512)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("VIEWCOUNT_")]:
        monkeypatch.delenv(name)


def test_the_three_body_shapes() -> None:
    events = [{"article": "a"}, {"article": "b"}]
    assert parse_events(b'{"events": [{"article": "a"}, {"article": "b"}]}', "", 10) == events
    assert parse_events(b'[{"article": "a"}, {"article": "b"}]', "application/json", 10) == events
    lines = b'{"article": "a"}\r\n\n{"article": "b"}\n'
    assert parse_events(lines, "application/x-ndjson; charset=utf-8", 10) == events
    assert parse_events(b'{"article": "a"}\n{"art', "application/json_lines", 10) == [
        {"article": "a"},
        UNREADABLE,
    ]


def test_bodies_refused_whole() -> None:
    with pytest.raises(InvalidBody, match="application/x-ndjson"):
        parse_events(b'{"article": "a"}\n{"article": "b"}\n', "application/json", 10)
    with pytest.raises(InvalidBody, match="a JSON array of events"):
        parse_events(b'{"article": "a"}', "application/json", 10)
    with pytest.raises(PayloadTooLarge):
        parse_events(b"[1, 2, 3]", "application/json", 2)
    with pytest.raises(PayloadTooLarge):
        parse_events(b"1\n2\n3\n", "application/x-ndjson", 2)


@pytest.mark.parametrize(
    ("field", "value", "at"),
    [
        ("at", "2026-11-27T11:00:00Z", NOW - 3600),
        ("@timestamp", "2026-11-27T11:00:00.123Z", NOW - 3600 + 0.123),
        ("timestamp", "2026-11-27T11:00:00.123456789Z", NOW - 3600 + 0.123456),
        ("date", NOW - 3600.5, NOW - 3600.5),
        ("date", int((NOW - 3600) * 1000), NOW - 3600),  # epoch_ms
        ("date", "2026-11-27 11:00:00.000681", NOW - 3600 + 0.000681),  # java_sql_timestamp
        ("timestamp", "2026-11-27T12:04:00Z", NOW),  # 4 minutes ahead: a fast clock, now
    ],
)
def test_time_fields(field: str, value: object, at: float) -> None:
    assert event_view({"article": "a", field: value}, CONTEXT).at == pytest.approx(at)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", NOW),  # `at` stays RFC 3339, as API.md states
        ("at", "2026-11-27 11:00:00"),
        ("date", True),
        ("timestamp", "yesterday"),
        ("timestamp", "2026-11-27T13:00:00Z"),
        ("@timestamp", "2026-10-01T00:00:00Z"),
        ("date", 1e300),
    ],
)
def test_bad_times(field: str, value: object) -> None:
    with pytest.raises(InvalidTime):
        event_view({"article": "a", field: value}, CONTEXT)


def test_the_article_from_its_url_and_the_reader_from_ip_and_agent() -> None:
    view = event_view({"url": "https://news.example.com/news/a-b?x=1"}, CONTEXT)
    assert (view.article, view.kind, view.reader, view.dedupe) == ("a-b", HUMAN, None, False)
    assert event_view({"article": "x", "url": "/news/y"}, CONTEXT).article == "x"
    assert event_view({"url": {"original": "/news/z"}}, CONTEXT).article == "z"  # Logstash ECS
    with pytest.raises(InvalidArticleId):
        event_view({"url": "https://news.example.com/"}, CONTEXT)
    one = event_view({"article": "a", "ip": "198.51.100.7", "user_agent": "Mozilla/5.0"}, CONTEXT)
    same = event_view({"article": "a", "ip": "198.51.100.7", "user_agent": "Mozilla/5.0"}, CONTEXT)
    assert one.reader is not None and one.reader == same.reader
    assert b"198.51.100.7" not in one.reader
    bot = event_view({"article": "a", "user_agent": {"original": "Googlebot/2.1"}}, CONTEXT)
    assert bot.kind == BOT
    assert event_view({"article": "a", "user_agent": "M" * 600}, CONTEXT).kind == AUTOMATED
    for bad in ({"article": "a", "ip": "300.1.1.1"}, {"article": "a", "user_agent": 5}, {}):
        with pytest.raises(InvalidBody):
            event_view(bad, CONTEXT)


def test_ingest_tokens() -> None:
    settings = Settings(admin_token="admin-0123456789", ingest_tokens="a" * 16 + ", " + "b" * 20)
    assert settings.batch_tokens == (b"admin-0123456789", b"a" * 16, b"b" * 20)
    assert Settings(ingest_tokens=SecretStr("c" * 16)).batch_tokens == (b"c" * 16,)
    assert Settings().batch_tokens == ()
    with pytest.raises(ValidationError, match="16 or more characters"):
        Settings(ingest_tokens="a" * 16 + ",short")
