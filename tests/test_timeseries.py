"""Time series: an article's daily points over 7d and 30d, the site's and a theme's over 24h,
7d and 30d, in VIEWCOUNT_TIMEZONE's local days."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from service.clock import ManualClock, rfc3339
from service.settings import Settings

from .support import ADMIN, client_for, make_settings, put_article

DAY_S = 86400


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@contextlib.asynccontextmanager
async def zoned_client(
    settings: Settings, clock: ManualClock, zone: str = "Europe/Kyiv"
) -> AsyncIterator[httpx.AsyncClient]:
    zoned = make_settings(
        str(settings.redis_url), redis_cluster=settings.redis_cluster, timezone=zone
    )
    async with client_for(zoned, clock) as client:
        yield client


async def views_at(client: httpx.AsyncClient, article: str, *times: str) -> None:
    """One batch event per time (each its own reader): no waiting on the clock."""
    events = [
        {"article": article, "at": at, "visitor": f"{article}-{n}"} for n, at in enumerate(times)
    ]
    response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    assert response.status_code == 200 and not response.json()["rejected"], response.text


async def rollup_at(client: httpx.AsyncClient, clock: ManualClock, at: str) -> None:
    clock.t = epoch(at)
    response = await client.post("/v1/rollup", headers=ADMIN)
    assert response.status_code == 200, response.text


async def series(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_date(body: dict[str, Any]) -> dict[str, int]:
    return {point["date"]: point["views"] for point in body["points"]}


def dates(last: str, count: int) -> list[str]:
    end = date.fromisoformat(last)
    return [(end - timedelta(days=back)).isoformat() for back in range(count - 1, -1, -1)]


async def test_article_days_split_at_local_midnight(settings: Settings, clock: ManualClock) -> None:
    """Kyiv is UTC+2 in November: 21:59 UTC is the 26th's last minute, 22:00 UTC the 27th's
    first; a point's `at` is its local midnight in UTC."""
    async with zoned_client(settings, clock) as client:
        await put_article(client, "edge")
        await views_at(client, "edge", "2026-11-26T21:59:59Z")
        await views_at(client, "edge", "2026-11-26T22:00:00Z", "2026-11-27T11:00:00Z")
        await rollup_at(client, clock, "2026-11-27T12:00:00Z")
        body = await series(client, "/v1/articles/edge/timeseries", window="7d")
        assert body["article"] == "edge" and body["window"] == "7d"
        assert body["granularity"] == "day" and body["timezone"] == "Europe/Kyiv"
        assert body["as_of"] == "2026-11-27T12:00:00Z"
        assert [p["date"] for p in body["points"]] == dates("2026-11-27", 7)
        assert [p["at"] for p in body["points"]][-2:] == [
            "2026-11-25T22:00:00Z",
            "2026-11-26T22:00:00Z",
        ]
        assert [p["views"] for p in body["points"]] == [0, 0, 0, 0, 0, 1, 2]
        # After the next local midnight the 27th is complete and the 28th has begun.
        await rollup_at(client, clock, "2026-11-27T22:00:01Z")
        later = by_date(await series(client, "/v1/articles/edge/timeseries", window="7d"))
        assert list(later) == dates("2026-11-28", 7)
        assert (later["2026-11-26"], later["2026-11-27"], later["2026-11-28"]) == (1, 2, 0)


async def test_7d_and_30d_point_counts(client: httpx.AsyncClient, clock: ManualClock) -> None:
    """UTC (the default zone): 30d reaches 29 days back, 7d 6; both end with today."""
    await put_article(client, "long")
    now = clock.now()
    await views_at(client, "long", rfc3339(now - 29 * DAY_S), rfc3339(now - 29 * DAY_S + 60))
    await views_at(client, "long", rfc3339(now - 6 * DAY_S), rfc3339(now - 60))
    await views_at(client, "long", rfc3339(now - 10 * DAY_S))
    await rollup_at(client, clock, rfc3339(now))
    week = await series(client, "/v1/articles/long/timeseries", window="7d")
    month = await series(client, "/v1/articles/long/timeseries", window="30d")
    assert len(week["points"]) == 7 and len(month["points"]) == 30
    assert [p["date"] for p in month["points"]] == dates("2026-11-27", 30)
    assert [p["views"] for p in week["points"]] == [1, 0, 0, 0, 0, 0, 1]
    views = [p["views"] for p in month["points"]]
    assert views[0] == 2 and views[19] == 1 and views[23] == 1 and views[29] == 1
    assert sum(views) == 5
    assert month["points"][0]["at"] == "2026-10-29T00:00:00Z"


async def test_an_article_with_no_views_has_zero_points(client: httpx.AsyncClient) -> None:
    await put_article(client, "quiet")
    await client.post("/v1/rollup", headers=ADMIN)
    for window, count in (("7d", 7), ("30d", 30)):
        body = await series(client, "/v1/articles/quiet/timeseries", window=window)
        assert [p["views"] for p in body["points"]] == [0] * count


async def test_before_the_first_rollup_points_are_zero_and_as_of_null(
    client: httpx.AsyncClient,
) -> None:
    await put_article(client, "early")
    await views_at(client, "early", rfc3339(1_795_780_000.0))
    body = await series(client, "/v1/articles/early/timeseries", window="7d")
    assert body["as_of"] is None and sum(p["views"] for p in body["points"]) == 0
    site = await series(client, "/v1/timeseries", window="24h")
    assert site["as_of"] is None and sum(p["views"] for p in site["points"]) == 0


async def test_a_day_when_clocks_fall_back_has_25_hours(
    settings: Settings, clock: ManualClock
) -> None:
    """2026-10-25 in Kyiv runs from 21:00 UTC on the 24th (EEST) to 22:00 UTC on the 25th."""
    clock.t = epoch("2026-10-27T12:00:00Z")
    async with zoned_client(settings, clock) as client:
        await put_article(client, "dst")
        await views_at(client, "dst", "2026-10-24T20:59:59Z", "2026-10-24T21:00:00Z")
        await views_at(client, "dst", "2026-10-25T21:59:59Z", "2026-10-25T22:00:00Z")
        await rollup_at(client, clock, "2026-10-27T12:00:00Z")
        points = (await series(client, "/v1/articles/dst/timeseries", window="7d"))["points"]
        day = {p["date"]: p for p in points}
        assert [day[d]["views"] for d in ("2026-10-24", "2026-10-25", "2026-10-26")] == [1, 2, 1]
        assert day["2026-10-25"]["at"] == "2026-10-24T21:00:00Z"
        assert day["2026-10-26"]["at"] == "2026-10-25T22:00:00Z"
        site = by_date(await series(client, "/v1/timeseries", window="7d"))
        assert [site[d] for d in ("2026-10-24", "2026-10-25", "2026-10-26")] == [1, 2, 1]


async def test_a_deleted_article_leaves_no_series(client: httpx.AsyncClient) -> None:
    await put_article(client, "gone")
    await views_at(client, "gone", rfc3339(1_795_780_000.0))
    await client.post("/v1/rollup", headers=ADMIN)
    assert (await client.delete("/v1/articles/gone", headers=ADMIN)).status_code == 204
    assert (await client.get("/v1/articles/gone/timeseries?window=7d")).status_code == 404
    await put_article(client, "gone")
    body = await series(client, "/v1/articles/gone/timeseries", window="30d")
    assert sum(p["views"] for p in body["points"]) == 0


async def test_site_and_theme_series(client: httpx.AsyncClient, clock: ManualClock) -> None:
    await put_article(client, "w1", theme="war")
    await put_article(client, "e1", theme="economy")
    now = clock.now()  # 12:00 UTC: the 24h points are the hours 13:00 yesterday .. 12:00
    await views_at(client, "w1", rfc3339(now - 3 * 3600 + 5), rfc3339(now - 3 * 3600 + 9))
    await views_at(client, "e1", rfc3339(now - 60), rfc3339(now - 3 * DAY_S))
    await views_at(client, "w1", rfc3339(now - 23 * 3600), rfc3339(now - 24 * 3600))
    await rollup_at(client, clock, rfc3339(now))
    hours = await series(client, "/v1/timeseries", window="24h")
    assert hours["granularity"] == "hour" and hours["theme"] is None
    assert [p["at"] for p in hours["points"]] == [
        rfc3339(now - h * 3600) for h in range(23, -1, -1)
    ]
    assert [p["views"] for p in hours["points"]] == [1] + [0] * 19 + [2, 0, 1, 0]
    war = await series(client, "/v1/timeseries", window="24h", theme="war")
    assert war["theme"] == "war" and sum(p["views"] for p in war["points"]) == 3
    week = by_date(await series(client, "/v1/timeseries", window="7d"))
    assert (week["2026-11-24"], week["2026-11-26"], week["2026-11-27"]) == (1, 2, 3)
    economy = by_date(await series(client, "/v1/timeseries", window="30d", theme="economy"))
    assert len(economy) == 30 and sum(economy.values()) == 2 and economy["2026-11-24"] == 1
    nobody = await series(client, "/v1/timeseries", window="7d", theme="sport")
    assert [p["views"] for p in nobody["points"]] == [0] * 7


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/v1/articles/known/timeseries", {"window": "1h"}, "invalid_parameter"),
        ("/v1/articles/known/timeseries", {"window": "all"}, "invalid_parameter"),
        ("/v1/articles/known/timeseries", {"window": "7D"}, "invalid_parameter"),
        ("/v1/articles/known/timeseries", {"window": ""}, "invalid_parameter"),
        ("/v1/articles/no%20such/timeseries", {"window": "7d"}, "invalid_article_id"),
        ("/v1/timeseries", {"window": "1h"}, "invalid_parameter"),
        ("/v1/timeseries", {"window": "today"}, "invalid_parameter"),
        ("/v1/timeseries", {"window": "7d", "theme": "War"}, "invalid_parameter"),
        ("/v1/timeseries", {"window": "7d", "theme": ""}, "invalid_parameter"),
    ],
)
async def test_bad_requests_are_problems(
    client: httpx.AsyncClient, path: str, params: dict[str, str], code: str
) -> None:
    await put_article(client, "known")
    response = await client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def test_an_unknown_article_is_a_404_problem(client: httpx.AsyncClient) -> None:
    for window in ("24h", "7d", "30d"):
        response = await client.get("/v1/articles/nobody/timeseries", params={"window": window})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unknown_article"
