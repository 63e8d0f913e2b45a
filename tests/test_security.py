"""Nobody in: admin tokens, CORS, security headers, count inflation, and privacy of readers."""

from __future__ import annotations

import inspect
import ipaddress
import re
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from service import keys
from service.api import auth
from service.clock import ManualClock
from service.ingest import SALT_TTL_S
from service.settings import Settings

from .conftest import T0
from .support import ADMIN, ADMIN_TOKEN, BROWSER_UA, client_for, put_article, views_of

ARTICLE = "security-article"
ADMIN_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    (
        "PUT",
        f"/v1/articles/{ARTICLE}",
        {"title": "t", "url": "https://x.example/a", "theme": "war"},
    ),
    ("DELETE", f"/v1/articles/{ARTICLE}", None),
    ("POST", "/v1/views/batch", {"events": [{"article": ARTICLE}]}),
    ("POST", "/v1/rollup", None),
]
WRONG_TOKENS = [
    {},  # none
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
    {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
    {"Authorization": f"Bearer {ADMIN_TOKEN.upper()}"},
    {"Authorization": f"Basic {ADMIN_TOKEN}"},
    {"Authorization": ADMIN_TOKEN},
    {"X-Admin-Token": ADMIN_TOKEN},
]


async def total_state(redis: Any) -> dict[str, Any]:
    """Catalog and counters of the test article: what an admin call could change."""
    shard = keys.shard_of(ARTICLE)
    return {
        "meta": await redis.hgetall(keys.meta(ARTICLE)),
        "total": await redis.zscore(keys.totals(shard), ARTICLE),
        "rollup": await redis.hgetall(keys.CURRENT),
    }


# --- admin ------------------------------------------------------------------------------------
async def test_every_admin_endpoint_refuses_a_missing_or_wrong_token(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await put_article(client, ARTICLE)
    before = await total_state(redis)
    for method, path, body in ADMIN_CALLS:
        for headers in WRONG_TOKENS:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["code"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert ADMIN_TOKEN not in response.text
    assert await total_state(redis) == before


async def test_admin_is_disabled_without_a_configured_token(settings: Settings, redis: Any) -> None:
    open_settings = settings.model_copy(update={"admin_token": None})
    async with client_for(open_settings) as http:
        for method, path, body in ADMIN_CALLS:
            for headers in [{}, ADMIN, {"Authorization": "Bearer "}]:
                response = await http.request(method, path, json=body, headers=headers)
                assert response.status_code == 403, (method, path, response.text)
                assert response.json()["code"] == "admin_disabled"
    assert await redis.hgetall(keys.meta(ARTICLE)) == {}


def test_the_token_is_compared_in_constant_time() -> None:
    source = inspect.getsource(auth.require_admin)
    assert "hmac.compare_digest" in source
    assert not re.search(
        r"(given|expected|token)\S*\s*[!=]=|[!=]=\s*(given|expected|token)", source
    )  # no early-exit string comparison of the secret


@pytest.mark.parametrize("origins", ["*", "https://news.example.com"])
async def test_admin_endpoints_send_no_cors_allowance(settings: Settings, origins: str) -> None:
    origin = "https://news.example.com"
    async with client_for(settings.model_copy(update={"allowed_origins": origins})) as http:
        for method, path, body in ADMIN_CALLS:
            preflight = await http.options(
                path,
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            )
            assert "access-control-allow-origin" not in preflight.headers, (method, path)
            assert "access-control-allow-methods" not in preflight.headers
            response = await http.request(
                method, path, json=body, headers={"Origin": origin, **ADMIN}
            )
            assert response.status_code < 500
            assert "access-control-allow-origin" not in response.headers, (method, path)
        # Public reads and beacons do answer the configured origins.
        read = await http.get("/v1/popular", headers={"Origin": origin})
        assert read.headers["access-control-allow-origin"] in (origin, "*")
        beacon = await http.options(
            "/v1/views", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert beacon.headers["access-control-allow-origin"] in (origin, "*")
        other = await http.get("/v1/popular", headers={"Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") in (None, "*")
        assert (other.headers.get("access-control-allow-origin") == "*") == (origins == "*")


# --- security headers -------------------------------------------------------------------------
async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    await put_article(client, ARTICLE)
    requests = [
        ("POST", "/v1/views", {"json": {"article": ARTICLE}}),
        ("POST", "/v1/views", {"content": b"not json"}),
        ("GET", f"/v1/views/pixel.gif?article={ARTICLE}", {}),
        ("GET", "/v1/views/pixel.gif?article=%7Bbad%7D", {}),
        ("GET", "/v1/popular", {}),
        ("GET", "/v1/popular?limit=0", {}),
        ("GET", f"/v1/articles/{ARTICLE}", {}),
        ("GET", "/v1/articles/missing/views", {}),
        ("GET", "/v1/themes", {}),
        ("GET", "/v1/views?articles=a,b", {}),
        ("PUT", f"/v1/articles/{ARTICLE}", {"json": {}}),
        ("POST", "/v1/rollup", {"headers": ADMIN}),
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/metrics", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/no/such/path", {}),
        ("DELETE", "/v1/popular", {}),
        ("OPTIONS", "/v1/views", {}),
    ]
    for method, path, extra in requests:
        response = await client.request(method, path, **extra)
        assert response.status_code < 500, (method, path, response.text)
        assert response.headers["x-content-type-options"] == "nosniff", (method, path)
        assert "referrer-policy" in response.headers, (method, path)
        if response.content:  # an empty preflight answer has nothing to confine
            assert "content-security-policy" in response.headers, (method, path)
        if "json" in response.headers.get("content-type", ""):
            assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_the_demo_page_has_a_strict_csp(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    if page.status_code == 404 or "text/html" not in page.headers.get("content-type", ""):
        pytest.skip("no demo page in this build")
    csp = {
        d.split()[0]: d.split()[1:]
        for d in page.headers["content-security-policy"].split(";")
        if d.strip()
    }
    assert csp["default-src"] == ["'none'"]
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in csp.get(directive, [])
        assert "'unsafe-eval'" not in csp.get(directive, [])
        assert "*" not in csp.get(directive, [])
    assert page.headers["x-content-type-options"] == "nosniff"


# --- count inflation --------------------------------------------------------------------------
async def test_rotating_agents_and_visitors_cannot_pass_the_ip_limit(settings: Settings) -> None:
    """One address, a new User-Agent and visitor every time, through two app instances on the
    same Redis (two workers): together they count no more than the per-IP limit."""
    limited = settings.model_copy(update={"rate_limit_per_min": 10})
    clock = ManualClock(T0)
    async with client_for(limited, clock) as one, client_for(limited, clock) as two:
        await put_article(one, ARTICLE)
        statuses = []
        for n in range(40):
            http = (one, two)[n % 2]
            response = await http.post(
                "/v1/views",
                json={"article": ARTICLE, "visitor": str(n)},
                headers={"User-Agent": f"{BROWSER_UA} rotating/{n}"},
            )
            statuses.append(response.status_code)
        assert statuses.count(202) == 10 and statuses.count(429) == 30
        assert await views_of(one, ARTICLE) == 10


async def test_forwarded_for_counts_only_behind_trusted_proxies(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_min": 3, "trusted_proxies": "10.0.0.0/8"})
    clock = ManualClock(T0)
    # A direct client forging X-Forwarded-For: all one address, one allowance.
    async with client_for(limited, clock, peer="198.51.100.20") as http:
        await put_article(http, ARTICLE)
        forged = [
            (
                await http.post(
                    "/v1/views",
                    json={"article": ARTICLE, "visitor": str(n)},
                    headers={"X-Forwarded-For": f"192.0.2.{n}"},
                )
            ).status_code
            for n in range(6)
        ]
        assert forged == [202] * 3 + [429] * 3
    # Behind our proxy, the entry the proxy added is the client; entries the client put in
    # front of it are ignored.
    async with client_for(limited, clock, peer="10.1.2.3") as http:
        spoofed = [
            (
                await http.post(
                    "/v1/views",
                    json={"article": ARTICLE, "visitor": f"s{n}"},
                    headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.50"},
                )
            ).status_code
            for n in range(6)
        ]
        assert spoofed == [202] * 3 + [429] * 3
        distinct = [
            (
                await http.post(
                    "/v1/views",
                    json={"article": ARTICLE, "visitor": f"d{n}"},
                    headers={"X-Forwarded-For": f"203.0.113.{60 + n}"},
                )
            ).status_code
            for n in range(6)
        ]
        assert distinct == [202] * 6


BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/126.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Wget/1.21",
    "",
    "   ",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
]


async def test_bots_and_headless_browsers_are_counted_apart(client: httpx.AsyncClient) -> None:
    await put_article(client, ARTICLE)
    for n, agent in enumerate(BOT_AGENTS):
        response = await client.post(
            "/v1/views", json={"article": ARTICLE, "visitor": str(n)}, headers={"User-Agent": agent}
        )
        assert response.json() == {"counted": False, "reason": "bot"}, agent
    counts = (await client.get(f"/v1/articles/{ARTICLE}/views")).json()
    assert counts["views"] == 0 and counts["bot_views"] == len(BOT_AGENTS)
    await client.post("/v1/rollup", headers=ADMIN)
    assert (await client.get("/v1/popular?window=all")).json()["items"] == []


# --- privacy ----------------------------------------------------------------------------------
def forms_of(ip: str) -> list[bytes]:
    """Every way an address could sit in Redis: text, packed, reversed, as a number."""
    address = ipaddress.ip_address(ip)
    return [
        ip.encode(),
        address.packed,
        address.packed[::-1],
        str(int(address)).encode(),
        address.packed.hex().encode(),
    ]


async def everything_in(url: str) -> bytes:
    """Every key name and DUMP of every value, concatenated."""
    raw = aioredis.Redis.from_url(url)
    try:
        parts = []
        async for key in raw.scan_iter(count=1000):
            parts += [key, await raw.dump(key) or b""]
        return b"\n".join(parts)
    finally:
        await raw.aclose()


@pytest.mark.single_node
async def test_no_ip_or_user_agent_is_stored(settings: Settings, redis: Any) -> None:
    trusted = settings.model_copy(
        update={"trusted_proxies": "10.0.0.0/8", "rate_limit_per_min": 1000}
    )
    ips = [f"198.51.100.{n}" for n in range(1, 30)] + ["2001:db8::1234:5678"]
    agents = [f"{BROWSER_UA} privacy-marker-{n}" for n in range(10)]
    visitors = [f"visitor-marker-{n}" for n in range(5)]
    async with client_for(trusted, peer="10.9.8.7") as http:
        await put_article(http, ARTICLE)
        for n, ip in enumerate(ips):
            headers = {"X-Forwarded-For": ip, "User-Agent": agents[n % len(agents)]}
            body = {
                "article": ARTICLE,
                "visitor": visitors[n % len(visitors)],
                "event_id": f"event-marker-{n}",
            }
            assert (await http.post("/v1/views", json=body, headers=headers)).status_code == 202
            assert (
                await http.get("/v1/views/pixel.gif", params={"article": ARTICLE}, headers=headers)
            ).status_code == 200
        await http.post("/v1/rollup", headers=ADMIN)
        assert await views_of(http, ARTICLE) > 0
    stored = await everything_in(settings.redis_url or "")
    assert ARTICLE.encode() in stored  # the scan sees what was written
    for ip in [*ips, "10.9.8.7"]:
        for form in forms_of(ip):
            assert form not in stored, (ip, form)
    for marker in ("privacy-marker", "visitor-marker", "event-marker", "Mozilla", "Chrome"):
        assert marker.encode() not in stored, marker


async def test_the_daily_salt_rotates_and_old_salts_expire(
    client: httpx.AsyncClient, clock: ManualClock, redis: Any
) -> None:
    await put_article(client, ARTICLE)
    services = client.app.holder["services"]  # type: ignore[attr-defined]
    day = int(T0 // 86400)
    first = await services.identity.reader_key(day)
    assert (await client.post("/v1/views", json={"article": ARTICLE})).json()["counted"]
    assert first != await services.identity.salts.for_day(day)  # the key mixes in the secret
    ttl = await redis.ttl(keys.salt(day))
    assert 0 < ttl <= SALT_TTL_S  # yesterday's salt disappears on its own
    clock.advance(86400)
    assert (await client.post("/v1/views", json={"article": ARTICLE})).json()["counted"]
    second = await services.identity.reader_key(day + 1)
    assert second != first and len(second) >= 16
    assert 0 < await redis.ttl(keys.salt(day + 1)) <= SALT_TTL_S
    # The same reader is a different digest on the new day: readers cannot be linked.
    from service.ingest import reader_digest

    assert reader_digest(first, "203.0.113.7", BROWSER_UA, None) != reader_digest(
        second, "203.0.113.7", BROWSER_UA, None
    )


@pytest.mark.single_node
async def test_a_dump_alone_cannot_be_matched_against_enumerated_addresses(
    settings: Settings, redis: Any
) -> None:
    """What an attacker holding a dump (salt included) would try: digest every candidate
    address with everything Redis holds. Only the secret, kept outside Redis, makes the
    digests that are there; without it nothing matches."""
    import hashlib

    from service.ingest import client_digest, client_network, event_digest, reader_digest

    trusted = settings.model_copy(
        update={"trusted_proxies": "10.0.0.0/8", "rate_limit_per_min": 1000}
    )
    ips = [f"198.51.100.{n}" for n in range(1, 9)]

    def seen(reader: bytes) -> bytes:  # the dedupe marker a reader's view leaves (commit.py)
        return hashlib.blake2b(reader + ARTICLE.encode(), digest_size=16).hexdigest().encode()

    async with client_for(trusted, ManualClock(T0), peer="10.9.8.7") as http:
        await put_article(http, ARTICLE)
        for n, ip in enumerate(ips):
            body = {"article": ARTICLE, "event_id": f"e-{n}"}
            headers = {"X-Forwarded-For": ip}
            assert (await http.post("/v1/views", json=body, headers=headers)).status_code == 202
    stored = await everything_in(settings.redis_url or "")
    salts = [v for k, v in [(k, await redis.get(k)) async for k in redis.scan_iter("*{salt}*")]]
    assert len(salts) == 1  # the dump holds the day's salt
    salt = bytes.fromhex(salts[0])
    secret = settings.secret_key
    with_secret_key = hashlib.blake2b(salt, key=secret, person=b"reader").digest()
    for n, ip in enumerate(ips):
        # The digests the service made are in the dump: the check can see them ...
        network = client_network(ip, 32, 64)  # what a client digest is made of
        assert client_digest(secret, network).hex().encode() in stored
        assert event_digest(secret, ARTICLE, f"e-{n}").encode() in stored
        assert seen(reader_digest(with_secret_key, ip, BROWSER_UA, None)) in stored
        # ... and nothing made from the dump alone matches.
        for key in (salt, b"", b"viewcount"):
            assert client_digest(key, network).hex().encode() not in stored
            assert event_digest(key, ARTICLE, f"e-{n}").encode() not in stored
            assert seen(reader_digest(key, ip, BROWSER_UA, None)) not in stored


async def test_the_rate_limit_carries_across_midnight(settings: Settings) -> None:
    """The limit is per client and sliding minute: a new day does not give a client a new one
    (its digest does not change with the daily salt)."""
    limited = settings.model_copy(update={"rate_limit_per_min": 5})
    clock = ManualClock((int(T0 // 86400) + 1) * 86400 - 20)  # 20 s before midnight UTC
    async with client_for(limited, clock) as http:
        await put_article(http, ARTICLE)
        before = [
            (
                await http.post("/v1/views", json={"article": ARTICLE, "visitor": f"b{n}"})
            ).status_code
            for n in range(8)
        ]
        clock.advance(30)  # 10 s after midnight: the same sliding minute
        after = [
            (
                await http.post("/v1/views", json={"article": ARTICLE, "visitor": f"a{n}"})
            ).status_code
            for n in range(5)
        ]
    assert before == [202] * 5 + [429] * 3
    assert after == [429] * 5  # a reset at midnight would have let all five through
