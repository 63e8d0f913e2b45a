"""The lists editors ask for: filters (exclude, published_within) on every list endpoint."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from service.clock import ManualClock, rfc3339

from .support import ADMIN, put_article

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
