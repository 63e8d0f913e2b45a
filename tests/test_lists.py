"""The lists editors ask for: filters (exclude, published_within) on every list endpoint, the
``today`` window, trending and movement."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from service import keys
from service import movement as checkpoints
from service.clock import ManualClock, rfc3339
from service.settings import Settings
from service.storage import Storage

from .support import ADMIN, batch_views, client_for, make_settings, put_article, rollup

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


# --- trending ---------------------------------------------------------------------------------
async def batch_at(
    client: httpx.AsyncClient, clock: ManualClock, at: float, counts: dict[str, int]
) -> None:
    """Views at ``at`` (the clock moves there), each from its own visitor."""
    clock.t = at
    events = [
        {"article": article, "visitor": f"{article}-{at}-{n}"}
        for article, count in counts.items()
        for n in range(count)
    ]
    response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    assert response.json()["counted"] == len(events), response.text


async def test_a_sudden_rise_trends_and_a_steady_article_does_not(
    settings: Settings, clock: ManualClock
) -> None:
    """Steady at 10 an hour for a day against 0 then 60 in the last half hour."""
    async with kyiv_client(settings, clock, min_readers=3) as client:
        start = clock.now()
        await put_article(client, "steady", theme="economy")
        await put_article(client, "rising", theme="war")
        await put_article(client, "small", theme="war")
        for hour in range(24):  # ten views spread over each hour of the day before
            for tenth in range(10):
                await batch_at(client, clock, start + hour * 3600 + tenth * 360, {"steady": 1})
            if hour % 6 == 0:
                await rollup_at(client, clock, rfc3339(clock.now()))
        end = start + 24 * 3600
        for minute in range(0, 30, 5):  # the last half hour: 60 views of the new one
            await batch_at(client, clock, end - 1800 + minute * 60, {"rising": 10, "small": 1})
        await rollup_at(client, clock, rfc3339(end))
        response = await client.get("/v1/trending")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["window"] == "1h" and body["theme"] is None and body["as_of"] == rfc3339(end)
        [item] = body["items"]
        assert item["article"] == "rising" and item["rank"] == 1
        assert item["window_views"] == 60 and item["views"] == 60
        assert item["score"] == 7.0  # (60 + 10) / (0 + 10)
        assert item["title"] == "Title of rising" and item["theme"] == "war"
        # The steady one is read as usual: (10 + 10) / (10 + 10) = 1, not a trend.
        steady = await listed(client, "/v1/popular", window="1h")
        assert steady[:1] == ["rising"] and "steady" in steady
        assert await listed(client, "/v1/themes/war/trending") == ["rising"]
        assert await listed(client, "/v1/themes/economy/trending") == []
        assert await listed(client, "/v1/trending", exclude="rising") == []
        assert await listed(client, "/v1/trending", published_within="24h") == []


async def test_trending_needs_minimum_readers(settings: Settings, clock: ManualClock) -> None:
    async with kyiv_client(settings, clock, min_readers=3) as client:
        await put_article(client, "one-reader")
        clock.t += 60
        events = [{"article": "one-reader", "visitor": "same"} for _ in range(40)]
        await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
        await rollup(client)
        assert await listed(client, "/v1/popular", window="1h") == []
        assert await listed(client, "/v1/trending") == []


async def test_trending_order_and_threshold(client: httpx.AsyncClient, clock: ManualClock) -> None:
    """Best score first; an article twice as read as usual is listed, one 1.9 times not."""
    articles = {"double": (10, 30), "under": (10, 28), "triple": (20, 80), "tie": (20, 80)}
    for article in articles:
        await put_article(client, article)
    start = clock.now()
    for hour in range(23):  # a day before at the given hourly rate (23 full hours)
        at = start + hour * 3600
        await batch_at(client, clock, at, {a: rate for a, (rate, _) in articles.items()})
    end = start + 24 * 3600
    await batch_at(client, clock, end - 600, {a: last for a, (_, last) in articles.items()})
    await rollup_at(client, clock, rfc3339(end))
    items = (await client.get("/v1/trending", params={"limit": 100})).json()["items"]
    # The 24h window began at 'start' (an hour boundary), so the earlier part is 23 hours.
    assert [(i["article"], i["score"]) for i in items] == [
        ("tie", 3.0),  # (80 + 10) / (20 + 10); ties by last-hour views, then id
        ("triple", 3.0),
        ("double", 2.0),  # (30 + 10) / (10 + 10)
    ]
    assert [i["article"] for i in (await client.get("/v1/trending?limit=1")).json()["items"]] == [
        "tie"
    ]


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "101"}, {"exclude": "a b"}, {"published_within": "2h"}]
)
async def test_bad_trending_parameters(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    for path in ("/v1/trending", "/v1/themes/war/trending"):
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert response.json()["code"] == "invalid_parameter"
    assert (await client.get("/v1/themes/War/trending")).status_code == 422


async def test_trending_before_the_first_rollup_and_etag(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/trending")).json()
    assert body == {
        "window": "1h",
        "theme": None,
        "as_of": None,
        "previous_as_of": None,
        "items": [],
    }
    await rollup(client)
    first = await client.get("/v1/themes/war/trending")
    assert first.json()["theme"] == "war" and first.headers["etag"]
    again = await client.get(
        "/v1/themes/war/trending", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304


# --- movement: previous_rank and previous_as_of ----------------------------------------------
async def movement(client: httpx.AsyncClient, path: str = "/v1/popular", **params: Any) -> Any:
    response = await client.get(path, params={"window": "24h", **params})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["previous_as_of"], [(i["article"], i["previous_rank"]) for i in body["items"]]


async def test_movement_across_snapshots(
    settings: Settings, clock: ManualClock, redis: Any
) -> None:
    async with kyiv_client(settings, clock, movement_s=600) as client:
        t0 = clock.now()
        for article in ("a", "b", "c"):
            await put_article(client, article)
        await batch_at(client, clock, t0, {"a": 3, "b": 2})
        await rollup_at(client, clock, rfc3339(t0))
        assert await movement(client) == (None, [("a", None), ("b", None)])
        await batch_at(client, clock, t0 + 300, {"b": 2})
        await rollup_at(client, clock, rfc3339(t0 + 300))  # nothing 600 s old yet
        assert await movement(client) == (None, [("b", None), ("a", None)])
        await batch_at(client, clock, t0 + 700, {"c": 9})
        await rollup_at(client, clock, rfc3339(t0 + 700))  # compared with t0
        assert await movement(client) == (rfc3339(t0), [("c", None), ("b", 2), ("a", 1)])
        theme = await movement(client, "/v1/themes/war/popular")
        assert theme == (rfc3339(t0), [("c", None), ("b", 2), ("a", 1)])
        # A filtered list keeps the ranks of the list as published.
        assert await movement(client, exclude="c") == (rfc3339(t0), [("b", 2), ("a", 1)])
        await rollup_at(client, clock, rfc3339(t0 + 1000))  # compared with t0 + 300
        assert await movement(client) == (rfc3339(t0 + 300), [("c", None), ("b", 1), ("a", 2)])


async def test_a_kept_checkpoint_is_the_same_generation_at_the_same_time(store: Storage) -> None:
    """A rollup reuses the checkpoint it parsed only while the reference is that one: the same
    generation of another time (a store that lost its last writes hands numbers out again)
    is read afresh."""
    await checkpoints.record(store, [], 7, 1000.0, {"24h|": ["a", "b"]}, 600)
    held = await checkpoints.checkpoints(store)
    read = await checkpoints.previous(store, held, 2000.0, 600, names=["24h|"])
    assert read.ranks == {"24h|": {"a": 1, "b": 2}} and read.generation == "7"
    assert await checkpoints.previous(store, held, 2000.0, 600, read, names=["24h|"]) is read
    stale = checkpoints.Previous(999.0, {"24h|": {"b": 1}}, "7")
    assert (
        await checkpoints.previous(store, held, 2000.0, 600, stale, names=["24h|"])
    ).ranks == read.ranks


async def test_movement_keeps_a_few_checkpoints(
    settings: Settings, clock: ManualClock, redis: Any
) -> None:
    """Rollups every minute for an hour, movement over 10 minutes: about five checkpoints."""
    async with kyiv_client(settings, clock, movement_s=600) as client:
        await put_article(client, "a")
        for _ in range(60):
            await batch_at(client, clock, clock.now() + 60, {"a": 1})
            await rollup(client)
        assert await redis.zcard(keys.CHECKPOINTS) <= 6
        held = await redis.zrange(keys.CHECKPOINTS, 0, -1)
        found = [await redis.exists(keys.checkpoint(g)) for g in held]
        assert found == [1] * len(held)
        previous, ranks = await movement(client)
        assert ranks == [("a", 1)]
        assert clock.now() - 750 <= epoch(previous) <= clock.now() - 600


async def before(client: httpx.AsyncClient, window: str) -> list[tuple[str, int, int | None]]:
    response = await client.get("/v1/popular", params={"window": window})
    assert response.status_code == 200, response.text
    return [
        (i["article"], i["window_views"], i.get("previous_window_views", -1))
        for i in response.json()["items"]
    ]


async def test_previous_window_views(client: httpx.AsyncClient, clock: ManualClock) -> None:
    """Views in the window of equal length just before: 24h from hour buckets, 7d and 30d
    from day buckets (kept 60 days for it); the other lists do not carry the field."""
    t = clock.now()
    day, hour = 86400, 3600
    for article in ("a", "b"):
        await put_article(client, article)
    await batch_views(client, [("a", t - 30 * hour, 3), ("a", t - hour, 4)])
    await batch_views(client, [("b", t - 9 * day, 5), ("b", t - 2 * hour, 3)])
    await rollup(client)
    assert await before(client, "24h") == [("a", 4, 3), ("b", 3, 0)]
    assert await before(client, "7d") == [("a", 7, 0), ("b", 3, 5)]  # b's 5: 9 days ago
    assert await before(client, "30d") == [("b", 8, 0), ("a", 7, 0)]
    assert await before(client, "1h") == [("a", 4, -1)]  # no such field
    for window in ("all", "today"):
        assert all(views == -1 for _, _, views in await before(client, window))
    # Five weeks on, with a rollup a day between: the 30 days before the 30d window still
    # hold every old view; b's are all out of the window, so b is not listed.
    for _ in range(35):
        clock.advance(day)
        await rollup(client)
    await batch_views(client, [("a", clock.now(), 3)])
    await rollup(client)
    assert await before(client, "30d") == [("a", 3, 7)]
    assert await before(client, "7d") == [("a", 3, 0)]
