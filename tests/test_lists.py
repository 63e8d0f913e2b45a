"""The lists editors ask for: filters (exclude, published_within) on every list endpoint, and
the ``today`` window."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from service.clock import ManualClock, rfc3339
from service.settings import Settings

from .support import ADMIN, client_for, make_settings, put_article

LIST_PATHS = ("/v1/popular", "/v1/themes/war/popular")


async def views(client: httpx.AsyncClient, counts: dict[str, int]) -> None:
    """Each article's views, as batch events from distinct visitors."""
    events = [
        {"article": article, "visitor": f"{article}-{n}"}
        for article, count in counts.items()
        for n in range(count)
    ]
    for start in range(0, len(events), 5000):
        response = await client.post(
            "/v1/views/batch", json={"events": events[start : start + 5000]}, headers=ADMIN
        )
        assert not response.json()["rejected"], response.text


async def rollup(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/rollup", headers=ADMIN)
    assert response.status_code == 200, response.text


async def listed(client: httpx.AsyncClient, path: str, **params: Any) -> list[str]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["rank"] for i in items] == list(range(1, len(items) + 1))
    return [i["article"] for i in items]


async def test_exclude_still_fills_to_limit(client: httpx.AsyncClient) -> None:
    """Twenty left out of a full list of 100: the snapshot's spare items fill it."""
    counts = {f"a{n:03d}": 200 - n for n in range(125)}
    for article in counts:
        await put_article(client, article)
    await views(client, counts)
    await rollup(client)
    ranked = sorted(counts, key=lambda a: (-counts[a], a))
    top3 = ranked[:3]
    for path in LIST_PATHS:
        assert await listed(client, path, limit=10, exclude=",".join(top3)) == ranked[3:13]
        twenty = ranked[:40:2]
        kept = [a for a in ranked if a not in twenty][:100]
        assert await listed(client, path, limit=100, exclude=",".join(twenty)) == kept
        # Ids that are not listed, or not in the catalog, change nothing.
        assert await listed(client, path, limit=5, exclude="nobody,a124") == ranked[:5]
        assert await listed(client, path, limit=5, exclude="") == ranked[:5]


async def test_published_within_edges(client: httpx.AsyncClient, clock: ManualClock) -> None:
    as_of = clock.now()
    spans = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
    counts: dict[str, int] = {"undated": 50, "future": 49}
    await put_article(client, "undated")
    await put_article(client, "future", published_at=rfc3339(as_of + 60))
    for n, (name, span_s) in enumerate(spans.items()):
        for edge, at in (("in", as_of - span_s), ("out", as_of - span_s - 1)):
            article = f"{edge}-{name}"
            await put_article(client, article, published_at=rfc3339(at))
            counts[article] = 40 - 2 * n - (edge == "out")
    await views(client, counts)
    await rollup(client)
    for path in LIST_PATHS:
        everything = await listed(client, path, limit=100)
        assert set(everything) == set(counts)
        for name, span_s in spans.items():
            fresh = {a for a in counts if a.startswith("in-") and spans[a[3:]] <= span_s}
            fresh |= {a for a in counts if a.startswith("out-") and spans[a[4:]] < span_s}
            expected = [a for a in everything if a in fresh | {"future"}]
            assert await listed(client, path, limit=100, published_within=name) == expected
        both = await listed(client, path, published_within="24h", exclude="future", limit=100)
        assert both == ["in-24h"]


async def test_filters_on_popular_html(client: httpx.AsyncClient, clock: ManualClock) -> None:
    await put_article(client, "old", published_at=rfc3339(clock.now() - 3 * 86400))
    await put_article(client, "new", published_at=rfc3339(clock.now() - 3600))
    await put_article(client, "read", published_at=rfc3339(clock.now() - 60))
    await views(client, {"old": 9, "new": 5, "read": 7})
    await rollup(client)
    params = {"published_within": "24h", "exclude": "read", "lang": "en"}
    page = (await client.get("/v1/popular.html", params=params)).text
    assert "Title of new" in page and "Title of old" not in page and "Title of read" not in page
    assert (await client.get("/v1/popular.html", params={"exclude": "a b"})).status_code == 422


@pytest.mark.parametrize(
    "params",
    [
        {"exclude": "a,,b"},
        {"exclude": "has space"},
        {"exclude": "x" * 201},
        {"exclude": ",".join(f"a{n}" for n in range(21))},
        {"published_within": "1h"},
        {"published_within": ""},
        {"published_within": "24H"},
    ],
    ids=["empty-id", "bad-id", "long-id", "21-ids", "1h", "empty", "upper"],
)
async def test_bad_filters(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    for path in (*LIST_PATHS, "/v1/popular.html"):
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_parameter"


async def test_twenty_ids_are_accepted(client: httpx.AsyncClient) -> None:
    for path in LIST_PATHS:
        exclude = ",".join(f"a{n}" for n in range(20))
        assert (await client.get(path, params={"exclude": exclude})).status_code == 200


@pytest.mark.single_node
async def test_filtered_lists_are_served_without_redis(
    client: httpx.AsyncClient, redis: Any
) -> None:
    """While Redis answers nobody, a new filtered query is still answered, from memory."""
    for article, count in (("a", 3), ("b", 2), ("c", 1)):
        await put_article(client, article)
        await views(client, {article: count})
    await rollup(client)
    await listed(client, "/v1/popular")  # the snapshot is loaded
    await redis.execute_command("CLIENT", "PAUSE", "1500", "ALL")
    started = time.monotonic()
    assert await listed(client, "/v1/popular", exclude="a", published_within="7d") == []
    assert await listed(client, "/v1/popular", exclude="b,a", limit=3) == ["c"]
    assert time.monotonic() - started < 0.5


# --- today: since local midnight in VIEWCOUNT_TIMEZONE -----------------------------------------
def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@contextlib.asynccontextmanager
async def kyiv_client(
    settings: Settings, clock: ManualClock, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    kyiv = make_settings(
        str(settings.redis_url),
        redis_cluster=settings.redis_cluster,
        timezone="Europe/Kyiv",
        **overrides,
    )
    async with client_for(kyiv, clock) as client:
        yield client


async def view_at(
    client: httpx.AsyncClient, clock: ManualClock, article: str, at: str, visitor: str = "v"
) -> None:
    clock.t = epoch(at)
    events = [{"article": article, "visitor": visitor}]
    response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    assert response.json()["counted"] == 1, response.text


async def rollup_at(client: httpx.AsyncClient, clock: ManualClock, at: str) -> None:
    clock.t = epoch(at)
    await rollup(client)


async def test_today_across_local_midnight(settings: Settings, clock: ManualClock) -> None:
    async with kyiv_client(settings, clock) as client:
        for article in ("late", "early"):
            await put_article(client, article)
        await view_at(client, clock, "late", "2026-11-27T21:40:00Z")  # 23:40 in Kyiv
        await rollup_at(client, clock, "2026-11-27T21:59:59Z")
        assert await listed(client, "/v1/popular", window="today") == ["late"]
        await view_at(client, clock, "early", "2026-11-27T22:00:00Z")  # midnight in Kyiv
        await view_at(client, clock, "early", "2026-11-27T22:01:00Z", "w")
        await rollup_at(client, clock, "2026-11-27T22:05:00Z")
        for path in LIST_PATHS:
            assert await listed(client, path, window="today") == ["early"]
            assert await listed(client, path, window="24h") == ["early", "late"]
        # The next day's first rollup comes late: today is rebuilt from that day's hours.
        await view_at(client, clock, "late", "2026-11-28T22:30:00Z")
        await rollup_at(client, clock, "2026-11-29T09:00:00Z")
        assert await listed(client, "/v1/popular", window="today") == ["late"]


async def test_today_on_the_day_clocks_fall_back(settings: Settings, clock: ManualClock) -> None:
    """2026-10-25 in Kyiv has 25 hours (03:00 EEST becomes 03:00 EET... 04:00 -> 03:00)."""
    async with kyiv_client(settings, clock) as client:
        for article in ("eve", "dawn", "night"):
            await put_article(client, article)
        await view_at(client, clock, "eve", "2026-10-24T20:59:59Z")  # 23:59:59 EEST
        await rollup_at(client, clock, "2026-10-24T20:59:59Z")
        assert await listed(client, "/v1/popular", window="today") == ["eve"]
        await view_at(client, clock, "dawn", "2026-10-24T21:00:00Z")  # 00:00 EEST
        await rollup_at(client, clock, "2026-10-25T02:00:00Z")  # 04:00 EET, after the change
        assert await listed(client, "/v1/popular", window="today") == ["dawn"]
        await view_at(client, clock, "night", "2026-10-25T21:59:00Z")  # 23:59 EET
        await view_at(client, clock, "night", "2026-10-25T21:59:30Z", "w")
        await rollup_at(client, clock, "2026-10-25T21:59:59Z")  # 24 h 59 min into the day
        assert await listed(client, "/v1/popular", window="today") == ["night", "dawn"]
        await rollup_at(client, clock, "2026-10-25T22:00:00Z")  # midnight EET
        assert await listed(client, "/v1/popular", window="today") == []


async def test_today_on_the_day_clocks_spring_forward(
    settings: Settings, clock: ManualClock
) -> None:
    async with kyiv_client(settings, clock) as client:
        for article in ("before", "after"):
            await put_article(client, article)
        await view_at(client, clock, "before", "2026-03-28T21:59:59Z")  # 23:59:59 EET
        await view_at(client, clock, "after", "2026-03-28T22:00:00Z")  # 00:00 EET
        await rollup_at(client, clock, "2026-03-29T20:59:59Z")  # 23:59:59 EEST, 23 hours on
        assert await listed(client, "/v1/popular", window="today") == ["after"]


async def test_today_needs_its_minimum_readers(settings: Settings, clock: ManualClock) -> None:
    async with kyiv_client(settings, clock, min_readers=2) as client:
        await put_article(client, "a")
        await view_at(client, clock, "a", "2026-11-27T21:00:00Z", "x")
        await view_at(client, clock, "a", "2026-11-27T21:10:00Z", "y")
        await view_at(client, clock, "a", "2026-11-27T22:10:00Z", "x")
        await rollup_at(client, clock, "2026-11-27T22:20:00Z")
        assert await listed(client, "/v1/popular", window="24h") == ["a"]
        assert await listed(client, "/v1/popular", window="today") == []


async def test_today_leaves_a_deleted_article(client: httpx.AsyncClient) -> None:
    await put_article(client, "gone")
    await views(client, {"gone": 2})
    await rollup(client)
    assert await listed(client, "/v1/popular", window="today") == ["gone"]
    assert (await client.delete("/v1/articles/gone", headers=ADMIN)).status_code == 204
    await put_article(client, "gone")
    await rollup(client)
    assert await listed(client, "/v1/popular", window="today") == []
