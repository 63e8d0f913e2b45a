"""Rankings no single client can buy: client networks, per-client caps, minimum readers, the
editors' controls and the suspicious report, against a real Redis (single node and cluster),
through the app's real HTTP handling, behind a trusted proxy that names each client."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import keys
from service.clock import ManualClock
from service.ingest import client_network
from service.settings import Settings
from service.storage import ops

from .conftest import T0
from .support import ADMIN, BROWSER_UA, client_for, put_article, views_of
from .test_faults import record_figure

PROXY = "10.0.0.1"  # the trusted proxy every request comes through
DEFAULTS = Settings.model_fields
CAP = DEFAULTS["max_views_per_client"].default  # 20
FLOOD_V4 = "198.51.100.7"
FLOOD_V6_NET = "2001:db8:77:1"  # a /64: one home connection or cloud server
FLOODED = 900  # beacons per flood in its minute: past the per-minute rate limit too
HONEST = 200  # distinct client networks reading the honest article once each


def defaults(settings: Settings, **overrides: Any) -> Settings:
    """The test backend's settings with the integrity rules at the service's own defaults."""
    rules = {
        name: DEFAULTS[name].default
        for name in (
            "rate_limit_per_min",
            "max_views_per_client",
            "min_readers",
            "min_user_agent_chars",
            "client_prefix_v4",
            "client_prefix_v6",
        )
    }
    return settings.model_copy(update={**rules, "trusted_proxies": "10.0.0.0/8", **overrides})


async def beacon(
    http: httpx.AsyncClient, article: str, address: str, agent: str, visitor: str
) -> httpx.Response:
    return await http.post(
        "/v1/views",
        json={"article": article, "visitor": visitor},
        headers={"X-Forwarded-For": address, "User-Agent": agent},
    )


def outcome(response: httpx.Response) -> str:
    """counted, a reason (automated, duplicate, ...), or the status of a refusal."""
    if response.status_code != 202:
        return str(response.status_code)
    body = response.json()
    return "counted" if body["counted"] else str(body["reason"])


async def rollup(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/rollup", headers=ADMIN)
    assert response.status_code == 200 and response.json()["published"], response.text


async def listed(http: httpx.AsyncClient, path: str, window: str) -> list[str]:
    response = await http.get(path, params={"window": window, "limit": 100})
    assert response.status_code == 200, response.text
    return [item["article"] for item in response.json()["items"]]


def digest(http: httpx.AsyncClient, address: str) -> str:
    """The keyed digest of an address's client network: what the report names it by."""
    services = http.app.holder["services"]  # type: ignore[attr-defined]
    network = client_network(address, DEFAULTS["client_prefix_v4"].default, 64)
    return str(services.identity.client(network).hex())


# --- floods -------------------------------------------------------------------------------------
async def test_floods_from_one_network_cannot_outrank_real_readers(settings: Settings) -> None:
    """For a minute, one IPv4 address and one IPv6 /64 each flood an article, rotating
    User-Agents, visitor ids and (IPv6) addresses, while 200 client networks read another
    article once each. Each flood counts the cap; the rest is automated or rate-limited; the
    honest article leads every list; the report names both floods by their networks."""
    clock = ManualClock(T0 + 1800)
    async with client_for(defaults(settings), clock, peer=PROXY) as http:
        for article in ("honest", "flood-v4", "flood-v6"):
            await put_article(http, article, theme="war")
        seen: dict[str, Counter[str]] = {"flood-v4": Counter(), "flood-v6": Counter()}
        honest: Counter[str] = Counter()
        readers = 0
        start = clock.t
        for n in range(FLOODED):
            clock.t = start + n * 60 / FLOODED
            agent = f"{BROWSER_UA} rotating/{n}"
            v4 = await beacon(http, "flood-v4", FLOOD_V4, agent, f"v{n}")
            host = f"{n % 65536:x}:{n * 7919 % 65536:x}:{n // 7 % 65536:x}:{n + 1:x}"
            v6 = await beacon(http, "flood-v6", f"{FLOOD_V6_NET}:{host}", agent, f"w{n}")
            seen["flood-v4"][outcome(v4)] += 1
            seen["flood-v6"][outcome(v6)] += 1
            if n % (FLOODED // HONEST) == 0 and readers < HONEST:
                address = f"100.64.{readers // 250}.{readers % 250 + 1}"
                honest[outcome(await beacon(http, "honest", address, BROWSER_UA, "r"))] += 1
                readers += 1
        assert honest == {"counted": HONEST}
        for article, counts in seen.items():
            assert counts["counted"] == CAP, (article, counts)
            assert counts["automated"] > 0 and counts["429"] > 0, (article, counts)
            assert sum(counts.values()) == FLOODED
            views = (await http.get(f"/v1/articles/{article}/views")).json()
            assert views["views"] == CAP
            assert views["automated_views"] == counts["automated"]
        clock.t = start + 90
        await rollup(http)
        for window in ("1h", "24h"):
            for path in ("/v1/popular", "/v1/themes/war/popular"):
                # A flood holds one reader (its network): it enters no list at all.
                assert await listed(http, path, window) == ["honest"], (path, window)
        report = await http.get("/v1/admin/suspicious", params={"window": "1h"}, headers=ADMIN)
        assert report.status_code == 200, report.text
        items = {item["article"]: item for item in report.json()["items"]}
        assert set(items) == {"flood-v4", "flood-v6"}  # the honest readers are no one's flood
        assert report.json()["items"][0]["automated_views"] >= items["flood-v6"]["automated_views"]
        record_figure(
            f"integrity_floods_{'cluster' if settings.redis_cluster else 'single'}",
            {
                "sent_each": FLOODED,
                "counted": {a: c["counted"] for a, c in seen.items()},
                "automated": {a: c["automated"] for a, c in seen.items()},
                "rate_limited": {a: c["429"] for a, c in seen.items()},
                "honest_sent": HONEST,
                "honest_counted": honest["counted"],
            },
        )
        for article, address in (("flood-v4", FLOOD_V4), ("flood-v6", f"{FLOOD_V6_NET}::1")):
            item = items[article]
            assert item["window_views"] == CAP
            assert item["automated_views"] == seen[article]["automated"]
            assert item["top_client"] == digest(http, address)
            assert item["top_client_share"] == 1.0
            assert address not in report.text  # a digest, never the address


async def test_readers_behind_one_carrier_nat_all_count(settings: Settings) -> None:
    """300 readers behind one IPv4 address (a mobile carrier's NAT), each with its own browser
    and visitor id, read three of 100 articles each, over a few minutes: every view counts."""
    clock = ManualClock(T0 + 600)
    articles = [f"nat-{n}" for n in range(100)]
    async with client_for(defaults(settings), clock, peer=PROXY) as http:
        for article in articles:
            await put_article(http, article)
        outcomes: Counter[str] = Counter()
        expected: Counter[str] = Counter()
        start = clock.t
        for step, (reader, k) in enumerate(itertools.product(range(300), range(3))):
            clock.t = start + step * 0.15  # 400 a minute from the one address
            article = articles[(reader * 3 + k) % 100]
            agent = f"Mozilla/5.0 (Linux; Android 14; Phone {reader}) Mobile Safari/537.36"
            outcomes[outcome(await beacon(http, article, "192.0.2.44", agent, f"nat{reader}"))] += 1
            expected[article] += 1
        assert outcomes == {"counted": 900}
        for article in articles:
            assert await views_of(http, article) == expected[article]


async def test_every_address_of_a_network_shares_one_rate_limit(settings: Settings) -> None:
    """The per-minute limit is per client network: a whole IPv6 /64 is one client, and an
    IPv4-mapped IPv6 address is its IPv4 address."""
    clock = ManualClock(T0 + 60)
    limited = defaults(settings, rate_limit_per_min=5, max_views_per_client=0)
    async with client_for(limited, clock, peer=PROXY) as http:
        await put_article(http, "limited")
        one_net = [f"2001:db8:5:6:{n:x}::{n + 1:x}" for n in range(8)]
        answers = [outcome(await beacon(http, "limited", a, BROWSER_UA, a)) for a in one_net]
        assert answers == ["counted"] * 5 + ["429"] * 3
        assert outcome(await beacon(http, "limited", "2001:db8:5:7::1", BROWSER_UA, "x")) == (
            "counted"
        )
        mapped = ["198.51.100.9", "::ffff:198.51.100.9"] * 3
        answers = [outcome(await beacon(http, "limited", a, BROWSER_UA, f"m{n}")) for n, a in
                   enumerate(mapped)]  # fmt: skip
        assert answers == ["counted"] * 5 + ["429"]
    wider = defaults(settings, rate_limit_per_min=2, max_views_per_client=0, client_prefix_v6=48)
    async with client_for(wider, clock, peer=PROXY) as http:
        clock.t += 120
        addresses = ["2001:db8:9:1::1", "2001:db8:9:2::1", "2001:db8:9:3::1"]  # one /48
        answers = [outcome(await beacon(http, "limited", a, BROWSER_UA, a)) for a in addresses]
        assert answers == ["counted", "counted", "429"]


async def test_automated_actor_user_agents(settings: Settings) -> None:
    """Wikimedia's User-Agent rules: one shorter than VIEWCOUNT_MIN_USER_AGENT_CHARS (and no
    known crawler) or longer than VIEWCOUNT_MAX_USER_AGENT_CHARS is automated."""
    clock = ManualClock(T0 + 60)
    async with client_for(defaults(settings), clock, peer=PROXY) as http:
        await put_article(http, "agents")
        short = await beacon(http, "agents", "192.0.2.1", "Mozilla/5.0 X", "a")
        long = await beacon(http, "agents", "192.0.2.2", "Mozilla/5.0 " + "x" * 600, "b")
        crawler = await beacon(http, "agents", "192.0.2.3", "curl/8.5.0", "c")
        browser = await beacon(http, "agents", "192.0.2.4", BROWSER_UA, "d")
        assert [outcome(r) for r in (short, long, crawler, browser)] == [
            "automated",
            "automated",
            "bot",
            "counted",
        ]
        views = (await http.get("/v1/articles/agents/views")).json()
        assert (views["views"], views["bot_views"], views["automated_views"]) == (1, 1, 2)


async def test_minimum_readers_for_beacons_and_batches(settings: Settings) -> None:
    """An article enters a list with VIEWCOUNT_MIN_READERS distinct readers in the window:
    client networks for beacons, visitors for batch events (one without is its own)."""
    clock = ManualClock(T0 + 60)
    async with client_for(defaults(settings), clock, peer=PROXY) as http:
        for article in ("two-networks", "three-networks", "batch-one-visitor", "batch-anon"):
            await put_article(http, article)
        for n in range(2):
            for visitor in ("a", "b", "c"):  # three readers, but of two networks only
                agent = f"{BROWSER_UA} {visitor}"
                await beacon(http, "two-networks", f"192.0.2.{n + 1}", agent, visitor)
        for n in range(3):
            await beacon(http, "three-networks", f"198.51.100.{n + 1}", BROWSER_UA, "x")
        batch = [{"article": "batch-one-visitor", "visitor": "same"} for _ in range(9)]
        batch += [{"article": "batch-anon"} for _ in range(3)]
        answer = await http.post("/v1/views/batch", json={"events": batch}, headers=ADMIN)
        assert answer.json()["counted"] == 12, answer.text
        clock.t += 60
        await rollup(http)
        for window in ("1h", "24h", "7d", "30d", "all"):
            # Ties by article id; 9 views of one visitor and 6 of two networks are not listed.
            assert await listed(http, "/v1/popular", window) == ["batch-anon", "three-networks"]


# --- editors' controls --------------------------------------------------------------------------
async def test_ranked_false_leaves_every_list_at_once_and_keeps_counting(
    settings: Settings,
) -> None:
    clock = ManualClock(T0 + 60)
    async with client_for(defaults(settings), clock, peer=PROXY) as http:
        for article in ("kept", "hidden"):
            await put_article(http, article, theme="war")
        for n in range(5):
            await beacon(http, "hidden", f"192.0.2.{n + 1}", BROWSER_UA, "h")
        for n in range(3):
            await beacon(http, "kept", f"198.51.100.{n + 1}", BROWSER_UA, "k")
        await rollup(http)
        assert await listed(http, "/v1/popular", "24h") == ["hidden", "kept"]
        out = await put_article(http, "hidden", theme="war", ranked=False)
        assert out.json()["ranked"] is False
        for path in ("/v1/popular", "/v1/themes/war/popular"):  # at once, before any rollup
            for window in ("1h", "24h", "all"):
                assert await listed(http, path, window) == ["kept"], (path, window)
        assert outcome(await beacon(http, "hidden", "192.0.2.99", BROWSER_UA, "h")) == "counted"
        assert await views_of(http, "hidden") == 6
        clock.t += 60
        await rollup(http)
        assert await listed(http, "/v1/popular", "24h") == ["kept"]
        assert (await http.get("/v1/articles/hidden")).json()["ranked"] is False
        back = await put_article(http, "hidden", theme="war", ranked=True)
        assert back.json()["ranked"] is True
        clock.t += 60
        await rollup(http)
        assert await listed(http, "/v1/popular", "24h") == ["hidden", "kept"]
        assert await listed(http, "/v1/themes/war/popular", "1h") == ["hidden", "kept"]


async def test_the_suspicious_report_is_admin_only_and_checks_its_window(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/v1/admin/suspicious")).status_code == 401
    wrong = await client.get("/v1/admin/suspicious?window=5m", headers=ADMIN)
    assert wrong.status_code == 422 and wrong.json()["code"] == "invalid_parameter"
    empty = await client.get("/v1/admin/suspicious", headers=ADMIN)
    assert empty.status_code == 200 and empty.json()["window"] == "24h"
    assert empty.json()["items"] == []


# --- the cap as a property --------------------------------------------------------------------
ARTICLES = (f"prop-{n}" for n in itertools.count())
beacons = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=900, allow_nan=False),  # seconds since the last one
        st.integers(min_value=0, max_value=2**16 - 1),  # the host part of an address
        st.integers(min_value=0, max_value=3),  # User-Agent variant
        st.text(alphabet="abc", min_size=1, max_size=3),  # visitor id
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture
async def capped(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ManualClock]]:
    """One app for all of a property's examples (each takes an article of its own)."""
    clock = ManualClock(T0)
    rules = defaults(settings, max_views_per_client=CAP_UNDER_TEST, rate_limit_per_min=0)
    async with client_for(rules, clock, peer=PROXY) as http:
        yield http, clock


CAP_UNDER_TEST = 4


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=beacons)
async def test_one_network_never_adds_more_than_the_cap_in_any_hour(
    capped: tuple[httpx.AsyncClient, ManualClock], sequence: list[tuple[float, int, int, str]]
) -> None:
    """Whatever one client network sends (any times, addresses in its /64, User-Agents,
    visitor ids), no hour holds more than the cap of its counted views of one article, nor
    does the 1h window the rollup merges (up to 65 minutes)."""
    http, clock = capped
    cap = CAP_UNDER_TEST
    article = next(ARTICLES)
    clock.t += 4 * 3600  # past every earlier example's caps
    await put_article(http, article)
    counted: list[float] = []
    for gap, host, agent, visitor in sequence:
        clock.t += gap
        address = f"2001:db8:ca:fe:{host:x}::{agent + 1:x}"
        answer = await beacon(http, article, address, f"{BROWSER_UA} v{agent}", visitor)
        assert answer.status_code == 202, answer.text
        if answer.json()["counted"]:
            counted.append(clock.t)
    for at in counted:
        assert sum(at <= t < at + 3600 for t in counted) <= cap
    await rollup(http)
    storage = http.app.holder["services"].storage  # type: ignore[attr-defined]
    window = keys.window(keys.shard_of(article), "1h")
    (merged,) = await storage.execute([ops.zscore(window, article)])
    assert int(merged or 0) <= cap
