"""Batches of views from log shippers: the bodies Vector, Fluent Bit and Logstash send, the
field names they use, and one event on its way to a View."""

from __future__ import annotations

import ipaddress
import math
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from .catalog import MAX_URL
from .clock import parse_rfc3339
from .discovery.urls import article_id_from_url
from .errors import (
    DomainError,
    InvalidArticleId,
    InvalidBody,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from .ingest import (
    HUMAN,
    MAX_EVENT_ID,
    MAX_VISITOR,
    Identity,
    View,
    client_network,
    kind_of,
    optional_text,
    reader_digest,
)
from .validate import article_id
from .windows import MAX_EVENT_AGE_S

# Vector (newline_delimited framing) and Fluent Bit (json_lines) say application/x-ndjson;
# Logstash's json_lines says application/json_lines; the rest are names the same framing goes by.
NDJSON_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/json-lines",
        "application/json_lines",
    }
)
# `at` is ours; Logstash sends @timestamp, Vector timestamp, Fluent Bit date (json_date_key).
TIME_FIELDS = ("at", "@timestamp", "timestamp", "date")
EPOCH_MS_FROM = 100_000_000_000  # an epoch this large is in milliseconds (year 5138 in seconds)
CLOCK_SKEW_S = 300  # a shipper's clock this far ahead is taken as now, not refused
MAX_IP_CHARS = 45


class InvalidTime(DomainError):
    code = "invalid_time"


class Unreadable:
    """An NDJSON line that is not JSON: rejected on its own, the other lines still count."""

    __slots__ = ()


UNREADABLE = Unreadable()


def inflate(body: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """The body as sent before ``Content-Encoding: gzip`` (Fluent Bit's ``compress gzip``,
    Vector's and Logstash's compression), refused past ``max_bytes`` decompressed."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding}: send gzip or none")
    inflater = zlib.decompressobj(wbits=31)
    try:
        # One byte past the limit is enough to know: a gzip bomb is never inflated whole.
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise InvalidBody(f"a gzip body that does not inflate: {exc}") from exc
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the body is over the {max_bytes}-byte limit once inflated")
    if not inflater.eof:
        raise InvalidBody("a gzip body cut short")
    return data


def parse_events(body: bytes, content_type: str, max_events: int) -> list[Any]:
    """The events of ``{"events": [...]}``, a JSON array, or NDJSON (by Content-Type)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in NDJSON_TYPES:
        return _lines(body, max_events)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        hint = " (for NDJSON send Content-Type: application/x-ndjson)" if b"}\n" in body else ""
        raise InvalidBody(f"the body is not valid JSON{hint}") from exc
    events = data.get("events") if isinstance(data, dict) else data
    if not isinstance(events, list):
        raise InvalidBody('the body must be {"events": [...]}, a JSON array of events, or NDJSON')
    _check_count(len(events), max_events)
    return events


def _lines(body: bytes, max_events: int) -> list[Any]:
    lines = [line for line in body.split(b"\n") if line.strip()]
    _check_count(len(lines), max_events)
    events: list[Any] = []
    for line in lines:
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            events.append(UNREADABLE)
    return events


def _check_count(count: int, max_events: int) -> None:
    if count > max_events:
        raise PayloadTooLarge(f"at most {max_events} events per batch; send the rest in another")


@dataclass(frozen=True, slots=True)
class EventContext:
    """What every event of one batch is read against."""

    now: float
    identity: Identity
    reader_key: bytes
    max_user_agent_chars: int
    min_user_agent_chars: int = 0
    client_prefix_v4: int = 32
    client_prefix_v6: int = 64


def event_view(event: Any, context: EventContext) -> View:
    """The View of one event; InvalidBody, InvalidArticleId or InvalidTime naming its fault."""
    if event is UNREADABLE:
        raise InvalidBody("this line is not valid JSON")
    if not isinstance(event, dict):
        raise InvalidBody("an event must be a JSON object")
    article = _article(event)
    event_id = optional_text(event, "event_id", MAX_EVENT_ID)
    visitor = optional_text(event, "visitor", MAX_VISITOR)
    at = _time(event, context.now)
    ip = _ip(event.get("ip"))
    agent = _original(event.get("user_agent"))
    if agent is not None and not isinstance(agent, str):
        raise InvalidBody("the field 'user_agent' must be a string")
    kind = HUMAN
    if agent is not None:  # a log line with its User-Agent is filtered as a beacon would be
        kind = kind_of(agent.encode(), context.max_user_agent_chars, context.min_user_agent_chars)
        agent = agent[: context.max_user_agent_chars]
    reader = client = None
    if ip or agent or visitor:  # only digests leave this function: never the IP or agent
        reader = reader_digest(context.reader_key, ip or "", agent or "", visitor)
    if ip is not None:
        # A log line from a known address is capped as that address's beacon would be
        # (VIEWCOUNT_MAX_VIEWS_PER_CLIENT per client network and article): a shipper must not
        # be a way round the cap. The per-minute rate limit is not applied (commit.py): a
        # shipper's batch holds minutes of a whole site's traffic at once.
        network = client_network(ip, context.client_prefix_v4, context.client_prefix_v6)
        client = context.identity.client(network)
    event_key = context.identity.event(article, event_id) if event_id is not None else None
    return View(article, at, kind=kind, event=event_key, reader=reader, client=client, dedupe=False)


def _article(event: dict[str, Any]) -> str:
    raw = event.get("article")
    if raw is None and "url" in event:
        url = _original(event["url"])
        if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
            raise InvalidBody(f"the field 'url' must be a string of 1-{MAX_URL} characters")
        found = article_id_from_url(url)
        if found is None:
            raise InvalidArticleId("the last path segment of 'url' is not an article id")
        return found
    if not isinstance(raw, str):
        raise InvalidBody("the field 'article' (or 'url') is required")
    return article_id(raw)


def _original(value: object) -> object:
    """Logstash's ECS fields nest the text: ``{"user_agent": {"original": "Mozilla/5.0 ..."}}``."""
    return value.get("original") if isinstance(value, dict) else value


def _time(event: dict[str, Any], now: float) -> float:
    """The first time field given (TIME_FIELDS order), checked against the 30-day window."""
    for name in TIME_FIELDS:
        value = event.get(name)
        if value is None:
            continue
        at = _epoch(name, value)
        if now < at <= now + CLOCK_SKEW_S:
            return now
        if at > now or at < now - MAX_EVENT_AGE_S:
            raise InvalidTime(f"{name}: not in the future, not older than 30 days")
        return at
    return now


def _epoch(name: str, value: object) -> float:
    try:
        if name == "at":  # ours, as API.md states it: RFC 3339 only
            return parse_rfc3339(value)  # type: ignore[arg-type]
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value) / (1000 if value >= EPOCH_MS_FROM else 1)
            if math.isfinite(seconds):
                return seconds
        elif isinstance(value, str) and len(value) <= 40:
            # ISO 8601 as the shippers write it: Fluent Bit's iso8601 and java_sql_timestamp
            # carry no offset and are UTC; nanoseconds (Vector) are cut to microseconds.
            parsed = datetime.fromisoformat(value)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    except (ValueError, TypeError, OverflowError, OSError):
        pass
    shape = "an RFC 3339 time" if name == "at" else "an ISO 8601 time or epoch seconds"
    raise InvalidTime(f"{name}: {shape} is required")


def _ip(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_IP_CHARS:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
    raise InvalidBody("the field 'ip' must be an IPv4 or IPv6 address")
