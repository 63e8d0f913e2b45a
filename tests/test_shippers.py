"""POST /v1/views/batch with the bodies log shippers send as they send them: Vector's http sink
(json codec; newline_delimited framing), Fluent Bit's http output (format json and json_lines,
each json_date_format) and Logstash's http output (format json_batch); ip and user_agent
bot-filtered and never stored; ingest tokens that open the batch endpoint and nothing else."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from service.clock import ManualClock, rfc3339
from service.settings import Settings

from .conftest import T0
from .support import ADMIN, ADMIN_TOKEN, BROWSER_UA, client_for, free_port, put_article, views_of
from .test_security import everything_in, forms_of

SITE = "https://news.example.com"
INGEST_TOKEN = "shipper-token-0123456789abcdef"
INGEST = {"Authorization": f"Bearer {INGEST_TOKEN}"}
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
T_VIEW = T0 - 30  # the log line's time: half a minute before the service's now


def nginx_line(path: str, ip: str, agent: str) -> str:
    return f'{ip} - - [27/Nov/2026:11:59:30 +0000] "GET {path} HTTP/1.1" 200 5120 "-" "{agent}"'


def vector_event(article: str, ip: str = "198.51.100.7", agent: str = BROWSER_UA) -> dict[str, Any]:
    """An event of Vector's file source after a remap that parses the nginx line."""
    path = f"/news/{article}"
    return {
        "file": "/var/log/nginx/access.log",
        "host": "web-1",
        "message": nginx_line(path, ip, agent),
        "source_type": "file",
        "timestamp": "2026-11-27T11:59:30.123456789Z",  # Vector keeps nanoseconds
        "url": SITE + path,
        "ip": ip,
        "user_agent": agent,
    }


def fluent_bit_record(article: str, date: Any, agent: str = BROWSER_UA) -> dict[str, Any]:
    """A record of Fluent Bit's tail input with its nginx parser, keys renamed by a modify
    filter; ``date`` is the json_date_key the http output adds."""
    return {
        "date": date,
        "ip": "198.51.100.8",
        "host": "-",
        "user": "-",
        "method": "GET",
        "url": f"/news/{article}",  # the parser's `path`: a path is enough
        "code": "200",
        "size": "5120",
        "referer": "-",
        "user_agent": agent,
    }


def logstash_event(article: str, agent: str = BROWSER_UA) -> dict[str, Any]:
    """A Logstash 8 event after grok %{COMBINEDAPACHELOG} in ECS mode, url and ip renamed."""
    return {
        "@timestamp": "2026-11-27T11:59:30.123Z",
        "@version": "1",
        "message": nginx_line(f"/news/{article}", "198.51.100.9", agent),
        "host": {"name": "web-1"},
        "event": {"original": nginx_line(f"/news/{article}", "198.51.100.9", agent)},
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
        "url": {"original": f"/news/{article}"},
        "user_agent": {"original": agent},
        "ip": "198.51.100.9",
    }


async def post(
    client: httpx.AsyncClient, body: bytes, content_type: str, headers: dict[str, str] = INGEST
) -> httpx.Response:
    return await client.post(
        "/v1/views/batch", content=body, headers={**headers, "Content-Type": content_type}
    )


def ndjson(events: list[Any]) -> bytes:
    return b"".join(orjson.dumps(event) + b"\n" for event in events)


@pytest.fixture
def shipping(settings: Settings) -> Settings:
    return settings.model_copy(update={"ingest_tokens": SecretStr(INGEST_TOKEN)})


@pytest.fixture
async def shipper(shipping: Settings) -> Any:
    async with client_for(shipping, ManualClock(T0)) as http:
        for article in ("a", "b", "c"):
            await put_article(http, article)
        yield http


def answer(counted: int = 0, bots: int = 0, rejected: list[Any] | None = None) -> dict[str, Any]:
    return {
        "counted": counted,
        "duplicates": 0,
        "bots": bots,
        "automated": 0,
        "rejected": rejected or [],
    }


async def test_vector_json_codec_sends_an_array(shipper: httpx.AsyncClient) -> None:
    events = [vector_event("a"), vector_event("b"), vector_event("a", agent=GOOGLEBOT)]
    response = await post(shipper, orjson.dumps(events), "application/json")
    assert response.status_code == 200, response.text
    assert response.json() == answer(counted=2, bots=1)
    assert (await views_of(shipper, "a"), await views_of(shipper, "b")) == (1, 1)
    counts = (await shipper.get("/v1/articles/a/views")).json()
    assert counts["bot_views"] == 1


async def test_vector_newline_delimited_framing_sends_ndjson(shipper: httpx.AsyncClient) -> None:
    body = b"\n".join(orjson.dumps(vector_event(a)) for a in "abc")  # no newline after the last
    response = await post(shipper, body, "application/x-ndjson")
    assert response.json() == answer(counted=3)
    timeseries = await shipper.get("/v1/articles/c/timeseries", params={"window": "24h"})
    points = [p for p in timeseries.json()["points"] if p["views"]]
    assert [p["at"] for p in points] == [rfc3339(T0 - 3600)]  # the hour of 11:59:30


@pytest.mark.parametrize(
    ("date_format", "date"),
    [
        ("double", T_VIEW + 0.123456),  # Fluent Bit's default
        ("epoch", int(T_VIEW)),
        ("epoch_ms", int(T_VIEW * 1000) + 123),
        ("iso8601", "2026-11-27T11:59:30.123456Z"),
        ("java_sql_timestamp", "2026-11-27 11:59:30.123456"),  # UTC, without an offset
    ],
)
async def test_fluent_bit_json_and_json_lines(
    shipper: httpx.AsyncClient, date_format: str, date: Any
) -> None:
    records = [fluent_bit_record("a", date), fluent_bit_record("b", date)]
    as_json = await post(shipper, orjson.dumps(records), "application/json")
    as_lines = await post(shipper, ndjson(records), "application/x-ndjson")
    assert as_json.json() == as_lines.json() == answer(counted=2), date_format
    assert await views_of(shipper, "a") == 2


async def test_gzip_bodies_are_inflated_within_the_limit(
    shipper: httpx.AsyncClient, shipping: Settings
) -> None:
    """Fluent Bit's `compress gzip`, Vector's and Logstash's compression."""
    records = ndjson([fluent_bit_record("a", T_VIEW), fluent_bit_record("b", T_VIEW)])
    gzipped = {**INGEST, "Content-Encoding": "gzip"}
    response = await post(shipper, gzip.compress(records), "application/x-ndjson", gzipped)
    assert response.json() == answer(counted=2)
    bomb = gzip.compress(b" " * (shipping.batch_max_body_bytes + 1) + b"[]")
    cut_short = gzip.compress(records)[:-20]
    refused = [
        (bomb, "gzip", 413, "payload_too_large"),
        (records, "gzip", 400, "invalid_body"),  # says gzip, is not
        (cut_short, "gzip", 400, "invalid_body"),
        (records, "br", 415, "unsupported_media_type"),
    ]
    for body, encoding, status, code in refused:
        headers = {**INGEST, "Content-Encoding": encoding}
        response = await post(shipper, body, "application/x-ndjson", headers)
        assert (response.status_code, response.json()["code"]) == (status, code), encoding
    assert await views_of(shipper, "a") == 1


async def test_logstash_json_batch(shipper: httpx.AsyncClient) -> None:
    events = [logstash_event("a"), logstash_event("c"), logstash_event("c", agent=GOOGLEBOT)]
    response = await post(shipper, orjson.dumps(events), "application/json")
    assert response.json() == answer(counted=2, bots=1)
    assert await views_of(shipper, "c") == 1


async def test_one_bad_event_or_line_never_drops_the_batch(shipper: httpx.AsyncClient) -> None:
    lines = [
        orjson.dumps(vector_event("a")),
        b'{"url": "https://news.example.com/news/a", "timestamp": "2026-11-',  # cut short
        orjson.dumps({**vector_event("a"), "url": SITE + "/news/not-in-the-catalog"}),
        orjson.dumps({**vector_event("a"), "url": SITE + "/news/caf%C3%A9"}),
        orjson.dumps({**vector_event("a"), "timestamp": rfc3339(T0 - 40 * 86400)}),
        orjson.dumps({**vector_event("a"), "ip": "not-an-ip"}),
        orjson.dumps({**vector_event("a"), "user_agent": 42}),
        b"[1, 2]",
        b"",  # blank lines are no events
        orjson.dumps(vector_event("b")),
    ]
    response = await post(shipper, b"\n".join(lines), "application/x-ndjson")
    assert response.status_code == 200
    assert response.json() == answer(
        counted=2,
        rejected=[
            {"index": 1, "code": "invalid_body"},
            {"index": 2, "code": "unknown_article"},
            {"index": 3, "code": "invalid_article_id"},
            {"index": 4, "code": "invalid_time"},
            {"index": 5, "code": "invalid_body"},
            {"index": 6, "code": "invalid_body"},
            {"index": 7, "code": "invalid_body"},
        ],
    )


async def test_a_shipper_clock_a_little_ahead_counts_as_now(shipper: httpx.AsyncClient) -> None:
    ahead = {"article": "a", "timestamp": rfc3339(T0 + 60)}
    far_ahead = {"article": "a", "timestamp": rfc3339(T0 + 3600)}
    response = await post(shipper, orjson.dumps([ahead, far_ahead]), "application/json")
    assert response.json() == answer(counted=1, rejected=[{"index": 1, "code": "invalid_time"}])


async def test_an_over_long_user_agent_is_automated(shipper: httpx.AsyncClient) -> None:
    event = {"article": "a", "ip": "198.51.100.7", "user_agent": BROWSER_UA + "x" * 600}
    response = await post(shipper, orjson.dumps([event]), "application/json")
    assert response.json() == {**answer(), "automated": 1}
    assert await views_of(shipper, "a") == 0


async def test_the_same_log_line_twice_counts_once_with_its_event_id(
    shipper: httpx.AsyncClient,
) -> None:
    events = [{**vector_event("a"), "event_id": "access.log:1042"}]
    first = await post(shipper, orjson.dumps(events), "application/json")
    again = await post(shipper, ndjson(events), "application/x-ndjson")
    assert first.json()["counted"] == 1
    assert again.json() == {**answer(), "duplicates": 1}


async def test_whole_batch_refusals_are_not_worth_a_retry(
    shipper: httpx.AsyncClient, shipping: Settings
) -> None:
    """Shippers retry 429 and 5xx and drop other 4xx: only what a retry can fix is 429/503."""
    cases = [
        (b"{not json", "application/json", 400),
        (b"[" + b'{"article": "a"},' * 10 + b'{"article": "a"}]', "application/json", 200),
        (b"\n" * 3, "application/x-ndjson", 200),
        (
            orjson.dumps([{"article": "a"}] * (shipping.batch_max_events + 1)),
            "application/json",
            413,
        ),
        (b'{"article": "a"}\n' * (shipping.batch_max_events + 1), "application/x-ndjson", 413),
    ]
    for body, content_type, status in cases:
        response = await post(shipper, body, content_type)
        assert response.status_code == status, (body[:40], response.text)
    assert await views_of(shipper, "a") == 11
    down = shipping.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with client_for(down, ManualClock(T0)) as http:
        response = await post(http, orjson.dumps([{"article": "a"}]), "application/json")
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json()["code"] == "storage_unavailable"


async def test_ingest_tokens_open_the_batch_endpoint_and_nothing_else(
    shipper: httpx.AsyncClient,
) -> None:
    body = orjson.dumps([{"article": "a"}])
    assert (await post(shipper, body, "application/json")).status_code == 200
    assert (await post(shipper, body, "application/json", ADMIN)).status_code == 200
    wrong = {"Authorization": "Bearer shipper-token-0123456789abcdeX"}
    assert (await post(shipper, body, "application/json", wrong)).status_code == 401
    assert (await post(shipper, body, "application/json", {})).status_code == 401
    article = {"title": "t", "url": SITE + "/news/d", "theme": "war"}
    refused = [
        await shipper.put("/v1/articles/d", json=article, headers=INGEST),
        await shipper.delete("/v1/articles/a", headers=INGEST),
        await shipper.post("/v1/rollup", headers=INGEST),
    ]
    assert [r.status_code for r in refused] == [401, 401, 401]
    assert all(r.json()["code"] == "unauthorized" for r in refused)
    assert (await shipper.get("/v1/articles/d")).status_code == 404
    assert await views_of(shipper, "a") == 2


async def test_ingest_tokens_without_an_admin_token(settings: Settings) -> None:
    only_ingest = settings.model_copy(
        update={"ingest_tokens": SecretStr(INGEST_TOKEN), "admin_token": None}
    )
    async with client_for(only_ingest, ManualClock(T0)) as http:
        body = orjson.dumps([{"article": "a"}])
        response = await post(http, body, "application/json")
        assert response.json() == answer(rejected=[{"index": 0, "code": "unknown_article"}])
        refused = await http.post("/v1/rollup", headers=INGEST)
        assert refused.status_code == 403 and refused.json()["code"] == "admin_disabled"
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # no admin token is configured
        wrong = await post(http, body, "application/json", admin)
        assert wrong.status_code == 401


@pytest.mark.single_node
async def test_neither_ip_nor_user_agent_is_stored(shipping: Settings, redis: Any) -> None:
    ips = ["198.51.100.77", "2001:db8::4242"]
    agents = [f"{BROWSER_UA} shipper-marker-{n}" for n in range(3)]
    async with client_for(shipping, ManualClock(T0)) as http:
        await put_article(http, "a")
        events = [
            {**vector_event("a", ip=ip, agent=agent), "event_id": f"line-marker-{n}"}
            for n, (ip, agent) in enumerate((ip, agent) for ip in ips for agent in agents)
        ]
        events.append(vector_event("a", ip=ips[0], agent=GOOGLEBOT))
        response = await post(http, orjson.dumps(events), "application/json")
        assert response.json() == answer(counted=6, bots=1)
        counts = (await http.get("/v1/articles/a/views")).json()
        assert counts["readers_today"] == 6  # each (ip, user_agent) is one reader
        await http.post("/v1/rollup", headers=ADMIN)
    stored = await everything_in(shipping.redis_url or "")
    assert b"a" in stored
    for ip in ips:
        for form in forms_of(ip):
            assert form not in stored, (ip, form)
    for marker in ("shipper-marker", "line-marker", "Googlebot", "Mozilla"):
        assert marker.encode() not in stored, marker


async def test_log_lines_from_one_client_are_capped_as_its_beacons_would_be(
    shipping: Settings,
) -> None:
    """VIEWCOUNT_MAX_VIEWS_PER_CLIENT holds for batch events with an `ip`: a log shipper is no
    way round the per-client cap. The per-minute rate limit (here 10) does not apply to
    batches: one shipper posts a whole site's readers, and their log's times."""
    cap = 20
    capped = shipping.model_copy(update={"max_views_per_client": cap, "rate_limit_per_min": 10})
    async with client_for(capped, ManualClock(T0)) as http:
        for article in ("a", "b"):
            await put_article(http, article)
        flood = [vector_event("a", ip="203.0.113.5") for _ in range(cap + 5)]
        others = [vector_event("a", ip=f"198.51.100.{n}") for n in range(1, 4)]
        response = await post(http, orjson.dumps(flood + others), "application/json")
        assert response.json() == {**answer(counted=cap + 3), "automated": 5}
        assert await views_of(http, "a") == cap + 3
        counts = (await http.get("/v1/articles/a/views")).json()
        assert counts["automated_views"] == 5
        # One IPv6 /64 is one client network, as for beacons: its addresses share one cap.
        same_net = [
            vector_event("b", ip="2001:db8:1:2::1"),
            vector_event("b", ip="2001:db8:1:2::9"),
        ]
        many = same_net * (cap // 2 + 2)
        response = await post(http, ndjson(many), "application/x-ndjson")
        assert response.json() == {**answer(counted=cap), "automated": len(many) - cap}
        # Without `ip` an event names no client: trusted, as the batch endpoint always was.
        plain = [{"article": "a"} for _ in range(cap + 5)]
        response = await post(http, orjson.dumps(plain), "application/json")
        assert response.json() == answer(counted=cap + 5)


async def test_a_short_user_agent_in_a_log_line_is_automated(shipper: httpx.AsyncClient) -> None:
    """VIEWCOUNT_MIN_USER_AGENT_CHARS, as for a beacon: `Go-http` or `x` is no reader."""
    events = [vector_event("a", agent="xyz/1.0"), vector_event("a")]
    response = await post(shipper, orjson.dumps(events), "application/json")
    assert response.json() == {**answer(counted=1), "automated": 1}
