"""Rollups and rankings: window edges, ties, themes, deletes, caching, failures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.clock import ManualClock, parse_rfc3339, rfc3339
from service.windows import WINDOWS, Window

from .support import ADMIN, put_article

AS_OF_OFFSET_S = 130  # rollups at 12:02:10, so rounding the window start down matters


async def view_at(client: httpx.AsyncClient, clock: ManualClock, article: str, at: float) -> None:
    """A view that arrived at `at` (the clock moves there for it)."""
    clock.t = at
    response = await client.post(
        "/v1/views/batch", json={"events": [{"article": article}]}, headers=ADMIN
    )
    assert response.json()["counted"] == 1, response.text


async def rollup(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/v1/rollup", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def popular(
    client: httpx.AsyncClient, window: str = "24h", theme: str | None = None, limit: int = 100
) -> dict[str, Any]:
    path = f"/v1/themes/{theme}/popular" if theme else "/v1/popular"
    response = await client.get(path, params={"window": window, "limit": limit})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def window_start(window: Window, as_of: float) -> float:
    assert window.granularity is not None and window.span_s is not None
    size = window.granularity.bucket_s
    return (as_of - window.span_s) // size * size


@pytest.mark.parametrize("warm", [False, True], ids=["first-rollup", "incremental"])
async def test_window_edges(client: httpx.AsyncClient, clock: ManualClock, warm: bool) -> None:
    """A view at the (rounded) start of each window is in it; one a second earlier is not."""
    as_of = clock.now() + 31 * 86400 + AS_OF_OFFSET_S
    edges = []
    for window in WINDOWS[:-1]:
        start = window_start(window, as_of)
        for name, at in ((f"in-{window.name}", start), (f"out-{window.name}", start - 1)):
            await put_article(client, name, theme="edges")
            edges.append((at, name))
    if warm:  # the window sets were already rolled forward once before these views
        clock.t = min(at for at, _ in edges) - 3600
        await rollup(client)
    for at, name in sorted(edges):
        await view_at(client, clock, name, at)
    clock.t = as_of
    result = await rollup(client)
    assert result["as_of"] == rfc3339(as_of)
    for window in WINDOWS:
        listed = {item["article"] for item in (await popular(client, window.name))["items"]}
        if window.name == "all":
            assert listed == {name for _, name in edges}
            continue
        older = {w.name for w in WINDOWS[:-1] if w.span_s <= window.span_s}  # type: ignore[operator]
        # Inside: its own edge view and every view inside a shorter window's start.
        expected = {f"in-{w}" for w in older} | {
            f"out-{w.name}"
            for w in WINDOWS[:-1]
            if w.span_s < window.span_s  # type: ignore[operator]
            and window_start(w, as_of) - 1 >= window_start(window, as_of)
        }
        assert listed == expected, window.name


async def test_a_ten_minute_old_view_is_in_every_window(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await put_article(client, "fresh")
    now = clock.now()
    await view_at(client, clock, "fresh", now - 600)
    clock.t = now
    await rollup(client)
    for window in WINDOWS:
        items = (await popular(client, window.name))["items"]
        assert [(i["article"], i["window_views"]) for i in items] == [("fresh", 1)], window


async def test_windows_slide_as_time_passes(client: httpx.AsyncClient, clock: ManualClock) -> None:
    await put_article(client, "old-news")
    await view_at(client, clock, "old-news", clock.now())
    start = clock.now()
    for hours, listed in (
        (0.5, {"1h", "24h", "7d", "30d", "all"}),
        (2, {"24h", "7d", "30d", "all"}),
        (25, {"7d", "30d", "all"}),
        (8 * 24, {"30d", "all"}),
        (32 * 24, {"all"}),
    ):
        clock.t = start + hours * 3600
        await rollup(client)
        present = {w.name for w in WINDOWS if (await popular(client, w.name))["items"]}
        assert present == listed, hours


async def test_items_carry_catalog_fields_and_totals(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await put_article(
        client, "a", theme="war", imported_views=36000, published_at="2026-11-27T09:35:00Z"
    )
    for n in range(3):
        await client.post("/v1/views", json={"article": "a", "visitor": str(n)})
    result = await rollup(client)
    body = await popular(client, "24h", limit=10)
    assert body["window"] == "24h" and body["theme"] is None
    assert body["as_of"] == result["as_of"]
    assert body["items"] == [
        {
            "rank": 1,
            "article": "a",
            "title": "Title of a",
            "url": "https://news.example.com/a",
            "theme": "war",
            "published_at": "2026-11-27T09:35:00Z",
            "window_views": 3,
            "views": 36003,
            "previous_rank": None,
            "previous_window_views": 0,  # no views in the 24 hours before
        }
    ]
    # All time counts imported views too: the old counter's views happened.
    assert (await popular(client, "all"))["items"][0]["window_views"] == 36003


async def test_order_ties_and_limit(client: httpx.AsyncClient) -> None:
    counts = {"delta": 3, "alpha": 5, "charlie": 3, "bravo": 3, "echo": 1}
    for article, views in counts.items():
        await put_article(client, article)
        for n in range(views):
            await client.post("/v1/views", json={"article": article, "visitor": str(n)})
    await rollup(client)
    items = (await popular(client))["items"]
    assert [(i["rank"], i["article"], i["window_views"]) for i in items] == [
        (1, "alpha", 5),
        (2, "bravo", 3),
        (3, "charlie", 3),
        (4, "delta", 3),
        (5, "echo", 1),
    ]
    assert [i["article"] for i in (await popular(client, limit=2))["items"]] == ["alpha", "bravo"]


async def test_articles_without_views_are_not_listed(client: httpx.AsyncClient) -> None:
    await put_article(client, "quiet")
    await rollup(client)
    for window in WINDOWS:
        assert (await popular(client, window.name))["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"limit": ""},
        {"window": "2h"},
        {"window": ""},
        {"window": "ALL"},
    ],
)
async def test_bad_parameters(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    for path in ("/v1/popular", "/v1/themes/war/popular"):
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert response.json()["code"] == "invalid_parameter"


async def test_bad_theme(client: httpx.AsyncClient) -> None:
    for theme in ("War", "a_b", "x" * 65, "a%3Ab"):
        response = await client.get(f"/v1/themes/{theme}/popular")
        assert response.status_code == 422, theme
        assert response.json()["code"] == "invalid_parameter"


async def test_before_the_first_rollup(client: httpx.AsyncClient) -> None:
    body = await popular(client, "7d")
    assert body == {
        "window": "7d",
        "theme": None,
        "as_of": None,
        "previous_as_of": None,
        "items": [],
    }
    themed = await popular(client, "24h", theme="war")
    assert themed == {
        "window": "24h",
        "theme": "war",
        "as_of": None,
        "previous_as_of": None,
        "items": [],
    }


async def test_theme_lists_and_empty_themes(client: httpx.AsyncClient) -> None:
    await put_article(client, "w1", theme="war")
    await put_article(client, "e1", theme="economy")
    await put_article(client, "s1", theme="science")  # a theme with no views yet
    for article, views in (("w1", 2), ("e1", 1)):
        for n in range(views):
            await client.post("/v1/views", json={"article": article, "visitor": str(n)})
    result = await rollup(client)
    war = await popular(client, theme="war")
    assert war["theme"] == "war" and war["as_of"] == result["as_of"]
    assert [i["article"] for i in war["items"]] == ["w1"]
    assert (await popular(client, theme="science"))["items"] == []
    assert (await popular(client, theme="no-such-theme"))["items"] == []


async def test_theme_lists_follow_the_current_theme(client: httpx.AsyncClient) -> None:
    await put_article(client, "moving", theme="war")
    await client.post("/v1/views", json={"article": "moving"})
    await rollup(client)
    assert [i["article"] for i in (await popular(client, theme="war"))["items"]] == ["moving"]
    await put_article(client, "moving", theme="economy")
    await rollup(client)
    assert (await popular(client, theme="war"))["items"] == []
    economy = (await popular(client, theme="economy"))["items"]
    assert [(i["article"], i["theme"]) for i in economy] == [("moving", "economy")]


async def test_delete_leaves_every_ranking_at_once(client: httpx.AsyncClient) -> None:
    for article in ("keep", "gone"):
        await put_article(client, article, theme="war")
    for n in range(3):
        await client.post("/v1/views", json={"article": "gone", "visitor": str(n)})
    await client.post("/v1/views", json={"article": "keep"})
    await rollup(client)
    assert (await popular(client))["items"][0]["article"] == "gone"
    assert (await client.delete("/v1/articles/gone", headers=ADMIN)).status_code == 204
    for window in WINDOWS:
        for theme in (None, "war"):
            items = (await popular(client, window.name, theme))["items"]
            assert [(i["rank"], i["article"]) for i in items] == [(1, "keep")], window
    await rollup(client)  # and the next rollup does not bring it back
    assert [i["article"] for i in (await popular(client))["items"]] == ["keep"]


async def test_etag_and_304(client: httpx.AsyncClient, clock: ManualClock) -> None:
    await put_article(client, "a")
    await client.post("/v1/views", json={"article": "a"})
    await rollup(client)
    first = await client.get("/v1/popular")
    etag = first.headers["etag"]
    max_age = int(first.headers["cache-control"].split("max-age=")[1])
    assert 0 < max_age <= 60
    again = await client.get("/v1/popular", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    clock.advance(60)
    await rollup(client)
    fresh = await client.get("/v1/popular", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag


async def test_large_catalog(client: httpx.AsyncClient, clock: ManualClock) -> None:
    """10,000 articles over 50 themes: every list matches a ranking computed here."""
    import random

    from service.catalog import Article

    catalog = client.app.holder["services"].catalog  # type: ignore[attr-defined]
    rng = random.Random(42)
    themes = {f"article-{n:05d}": f"theme-{n % 50:02d}" for n in range(10_000)}
    for article, theme in themes.items():
        await catalog.put(Article(article, article, f"https://x.test/{article}", theme, None, 0))
    now = clock.now()
    ids = list(themes)
    events = [
        {
            "article": rng.choice(ids[: rng.choice((100, 2000, 10_000))]),
            "at": rfc3339(now - rng.uniform(0, 3 * 86400)),
        }
        for _ in range(30_000)
    ]
    for start in range(0, len(events), 10_000):
        response = await client.post(
            "/v1/views/batch", json={"events": events[start : start + 10_000]}, headers=ADMIN
        )
        assert response.json()["counted"] == 10_000
    await rollup(client)
    expected: dict[str, dict[str, int]] = {"24h": {}, "all": {}}
    start_24h = window_start(WINDOWS[1], now)
    for event in events:
        at = parse_rfc3339(event["at"])
        for window in ("24h", "all"):
            if window == "all" or at >= start_24h:
                counts = expected[window]
                counts[event["article"]] = counts.get(event["article"], 0) + 1
    for window, counts in expected.items():
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        assert [
            (i["article"], i["window_views"]) for i in (await popular(client, window))["items"]
        ] == ranked[:100]
        for theme in ("theme-00", "theme-17", "theme-49"):
            themed = [kv for kv in ranked if themes[kv[0]] == theme][:100]
            items = (await popular(client, window, theme))["items"]
            assert [(i["article"], i["window_views"]) for i in items] == themed


async def test_inbox_merges_in_chunks_and_after_a_died_rollup(
    client: httpx.AsyncClient, clock: ManualClock, redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Views wait in each shard's inbox until a rollup merges them, chunk by chunk; a draining
    set left by a rollup that died is merged by the next one, each view once."""
    from service import keys
    from service.scripts import merge

    monkeypatch.setattr(merge, "CHUNK", 100)  # several chunks in every shard
    now = clock.now()
    articles = [f"m-{n}" for n in range(60)]
    for article in articles:
        await put_article(client, article)
    # Distinct (5-minute bucket, article) pairs, ~270 per shard.
    events = [
        {"article": article, "at": rfc3339(now - 300 * age)}
        for age in range(0, 12 * 24, 2)
        for article in articles
    ]
    half = len(events) // 2
    await client.post("/v1/views/batch", json={"events": events[:half]}, headers=ADMIN)
    for shard in range(keys.SHARDS):  # a rollup claimed these, then died before merging
        if await redis.exists(keys.inbox(shard)):
            await redis.rename(keys.inbox(shard), keys.draining(shard))
    await client.post("/v1/views/batch", json={"events": events[half:]}, headers=ADMIN)
    await rollup(client)
    for shard in range(keys.SHARDS):
        assert not await redis.exists(keys.inbox(shard), keys.draining(shard))
    expected: dict[str, int] = {}
    start_24h = window_start(WINDOWS[1], now)
    for event in events:
        if parse_rfc3339(event["at"]) >= start_24h:
            expected[event["article"]] = expected.get(event["article"], 0) + 1
    items = (await popular(client, "24h"))["items"]
    assert {i["article"]: i["window_views"] for i in items} == expected
    await rollup(client)  # nothing merged twice
    items = (await popular(client, "24h"))["items"]
    assert {i["article"]: i["window_views"] for i in items} == expected


async def test_timeseries_counts_views_before_their_rollup(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """The hourly series is live: views still in the inbox count, once, and the same after."""
    await put_article(client, "series")
    now = clock.now()
    events = [
        {"article": "series", "at": rfc3339(now - 3600 * hours - 60 * n)}
        for hours in (0, 1, 5)
        for n in range(hours + 1)
    ]
    await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)

    async def series() -> list[int]:
        response = await client.get("/v1/articles/series/timeseries")
        assert response.status_code == 200, response.text
        return [point["views"] for point in response.json()["points"]]

    before = await series()
    assert sum(before) == len(events) and before[-1] >= 1
    await rollup(client)
    assert await series() == before
    await client.post("/v1/views/batch", json={"events": events[:1]}, headers=ADMIN)
    after = await series()
    assert sum(after) == len(events) + 1


async def test_a_deleted_article_leaves_no_views_waiting_in_the_inbox(
    client: httpx.AsyncClient,
) -> None:
    """Deleted before a rollup merged its views, then created again: it starts from zero."""
    await put_article(client, "again")
    for n in range(3):
        await client.post("/v1/views", json={"article": "again", "visitor": str(n)})
    assert (await client.delete("/v1/articles/again", headers=ADMIN)).status_code == 204
    await put_article(client, "again")
    await rollup(client)
    for window in WINDOWS:
        assert (await popular(client, window.name))["items"] == [], window.name
