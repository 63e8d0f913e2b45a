"""POST /v1/views and the pixel: body types, dedupe, event ids, bots, errors."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from service.clock import ManualClock
from service.settings import Settings

from .cluster import dump_all
from .support import BROWSER_UA, client_for, put_article, views_of

ARTICLE = "blinken-discusses-peace-process-between-azerbaijan-and-armenia-with-aliyev"


@pytest.fixture(autouse=True)
async def article(client: httpx.AsyncClient) -> None:
    await put_article(client, ARTICLE)


async def test_json_beacon_is_counted(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/views", json={"article": ARTICLE})
    assert response.status_code == 202
    assert response.json() == {"counted": True}
    assert await views_of(client, ARTICLE) == 1


async def test_text_plain_beacon_as_sendbeacon_sends_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/views",
        content=orjson.dumps({"article": ARTICLE}),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 202
    assert await views_of(client, ARTICLE) == 1


async def test_form_beacon(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/views", data={"article": ARTICLE, "visitor": "v1"})
    assert response.status_code == 202
    assert response.json() == {"counted": True}
    assert await views_of(client, ARTICLE) == 1


async def test_pixel_counts_and_is_a_gif(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/views/pixel.gif", params={"article": ARTICLE})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"GIF89a")
    assert await views_of(client, ARTICLE) == 1


async def test_same_reader_counts_once_within_the_window(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/views", json={"article": ARTICLE})
    second = await client.post("/v1/views", json={"article": ARTICLE})
    assert first.json() == {"counted": True}
    assert second.json() == {"counted": False, "reason": "duplicate"}
    assert await views_of(client, ARTICLE) == 1


async def test_visitor_id_tells_readers_behind_one_address_apart(client: httpx.AsyncClient) -> None:
    for visitor in ("a", "b", "a"):
        await client.post("/v1/views", json={"article": ARTICLE, "visitor": visitor})
    assert await views_of(client, ARTICLE) == 2


async def test_reader_counts_again_after_the_dedupe_window(
    redis_server: object, settings: Settings
) -> None:
    short = settings.model_copy(update={"dedupe_window_s": 1})
    async with client_for(short, ManualClock(1_795_780_800.0)) as http:
        await put_article(http, ARTICLE)
        assert (await http.post("/v1/views", json={"article": ARTICLE})).json()["counted"]
        assert not (await http.post("/v1/views", json={"article": ARTICLE})).json()["counted"]
        await asyncio.sleep(1.2)  # the dedupe marker's TTL runs on Redis's own clock
        assert (await http.post("/v1/views", json={"article": ARTICLE})).json()["counted"]
        assert await views_of(http, ARTICLE) == 2


async def test_retried_event_id_counts_once(client: httpx.AsyncClient) -> None:
    body = {"article": ARTICLE, "event_id": "e-1", "visitor": "first"}
    assert (await client.post("/v1/views", json=body)).json() == {"counted": True}
    retry = {**body, "visitor": "other"}  # even from another reader: same event
    assert (await client.post("/v1/views", json=retry)).json() == {
        "counted": False,
        "reason": "duplicate",
    }
    assert await views_of(client, ARTICLE) == 1


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/126.0.0.0 Safari/537.36",
        "curl/8.5.0",
        "",
    ],
)
async def test_bots_are_counted_apart(client: httpx.AsyncClient, user_agent: str) -> None:
    response = await client.post(
        "/v1/views", json={"article": ARTICLE}, headers={"User-Agent": user_agent}
    )
    assert response.status_code == 202
    assert response.json() == {"counted": False, "reason": "bot"}
    counts = (await client.get(f"/v1/articles/{ARTICLE}/views")).json()
    assert counts["views"] == 0
    assert counts["bot_views"] == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"not json", "application/json", 400, "invalid_body"),
        (b"[1, 2]", "text/plain", 400, "invalid_body"),
        (b"{}", "application/json", 400, "invalid_body"),
        (b'{"article": 5}', "application/json", 400, "invalid_body"),
        (b'{"article": "a", "event_id": 7}', "application/json", 400, "invalid_body"),
        (
            b'{"article": "a", "event_id": "' + b"x" * 65 + b'"}',
            "application/json",
            400,
            "invalid_body",
        ),
        (
            b'{"article": "a", "visitor": "' + b"v" * 129 + b'"}',
            "application/json",
            400,
            "invalid_body",
        ),
        (b'{"article": "no spaces allowed"}', "application/json", 422, "invalid_article_id"),
        (b'{"article": "vc:{s1}:x"}', "application/json", 422, "invalid_article_id"),
        (b'{"article": "' + b"a" * 201 + b'"}', "application/json", 422, "invalid_article_id"),
        (b'{"article": "not-in-the-catalog"}', "application/json", 404, "unknown_article"),
        (b"<xml/>", "application/xml", 415, "unsupported_media_type"),
        (b'{"article": "' + b"a" * 5000 + b'"}', "application/json", 413, "payload_too_large"),
    ],
)
async def test_bad_beacons_get_problem_documents_and_change_nothing(
    client: httpx.AsyncClient, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = await client.post("/v1/views", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["title"] and problem["detail"] and problem["type"]
    assert await views_of(client, ARTICLE) == 0


async def test_pixel_errors_are_problem_documents(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/views/pixel.gif", params={"article": "bad id"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_article_id"
    missing = await client.get("/v1/views/pixel.gif")
    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid_body"


async def test_concurrent_beacons_are_counted_exactly(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(
            client.post("/v1/views", json={"article": ARTICLE, "visitor": f"reader-{n}"})
            for n in range(500)
        )
    )
    assert all(r.status_code == 202 and r.json()["counted"] for r in responses)
    assert await views_of(client, ARTICLE) == 500


async def test_rate_limit_per_client_ip(redis_server: object, settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_min": 5})
    async with client_for(limited, ManualClock(1_795_780_800.0)) as http:
        await put_article(http, ARTICLE)
        statuses = [
            (await http.post("/v1/views", json={"article": ARTICLE, "visitor": str(n)}))
            for n in range(8)
        ]
        assert [r.status_code for r in statuses] == [202] * 5 + [429] * 3
        assert statuses[-1].json()["code"] == "rate_limited"
        assert int(statuses[-1].headers["retry-after"]) > 0
        assert await views_of(http, ARTICLE) == 5
    # Another address has its own allowance (the limit is per client IP).
    async with client_for(limited, ManualClock(1_795_780_800.0), peer="198.51.100.9") as http:
        assert (await http.post("/v1/views", json={"article": ARTICLE})).status_code == 202


async def test_forwarded_for_is_trusted_only_from_configured_proxies(
    redis_server: object, settings: Settings
) -> None:
    behind = settings.model_copy(
        update={"trusted_proxies": "203.0.113.0/24", "rate_limit_per_min": 2}
    )
    async with client_for(behind, ManualClock(1_795_780_800.0)) as http:
        await put_article(http, ARTICLE)
        for reader in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            response = await http.post(
                "/v1/views", json={"article": ARTICLE}, headers={"X-Forwarded-For": reader}
            )
            assert response.json() == {"counted": True}  # three readers, three allowances
    untrusted = settings.model_copy(update={"rate_limit_per_min": 2})
    async with client_for(untrusted, ManualClock(1_795_780_800.0), peer="192.0.2.1") as http:
        spoofed = [
            await http.post(
                "/v1/views",
                json={"article": ARTICLE, "visitor": str(n)},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            )
            for n in range(3)
        ]
        assert [r.status_code for r in spoofed] == [202, 202, 429]


async def test_no_raw_ip_or_user_agent_lands_in_redis(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36 UniqueMarker-7f3a9"
    await client.post(
        "/v1/views",
        json={"article": ARTICLE, "visitor": "visitor-marker-42"},
        headers={"User-Agent": ua},
    )
    await client.post(
        "/v1/views",
        json={"article": ARTICLE},
        headers={"User-Agent": "Googlebot/2.1 UniqueMarker-bot"},
    )
    dump = await _dump_all(redis)
    for secret in (b"203.0.113.7", b"UniqueMarker", b"visitor-marker-42", BROWSER_UA.encode()):
        assert secret not in dump


async def _dump_all(redis: aioredis.Redis) -> bytes:
    """Every key and every value, on every node."""
    return await dump_all(redis)
