"""popular.html takes the widget's list attributes: kind (trending), author, movement arrows and
count, validated as the JSON lists are, with their ETag and Cache-Control."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from service.clock import ManualClock, rfc3339
from service.locale import MOVEMENT, format_count
from service.settings import Settings

from .support import put_article
from .test_lists import batch_at, kyiv_client, rollup_at

ANN = {"author": "ann-lee", "author_name": "Ann Lee"}
ROW = re.compile(
    r'<li class="viewcount-item"><a class="viewcount-link"[^>]*>(?P<title>.*?)</a> '
    r'(?:<span class="viewcount-move (?P<way>viewcount-\w+)"(?: aria-label="(?P<label>[^"]*)")?'
    r'[^>]*>(?P<move>.*?)</span> )?<span class="viewcount-count">(?P<count>.*?)</span></li>'
)


def rows(fragment: str) -> list[dict[str, str | None]]:
    """Each list item's title, arrow (text, class, aria-label) and count, unescaped."""
    found = [
        {k: html.unescape(v) if v else v for k, v in m.groupdict().items()}
        for m in ROW.finditer(fragment)
    ]
    assert len(found) == fragment.count("<li"), fragment
    return found


def expected_move(item: dict[str, Any], lang: str) -> tuple[str | None, str | None]:
    """The arrow widget.js draws for an item, and its aria-label."""
    if item["previous_rank"] is None:
        return MOVEMENT[lang]["new"], None
    places = item["previous_rank"] - item["rank"]
    if places == 0:
        return None, None
    way = "up" if places > 0 else "down"
    arrow = "▲" if places > 0 else "▼"
    return f"{arrow} {abs(places)}", MOVEMENT[lang][way].replace("{n}", str(abs(places)))


async def fragment(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    response = await client.get("/v1/popular.html", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return response


async def two_rollups(client: httpx.AsyncClient, clock: ManualClock) -> float:
    """a and b (Ann Lee's) first, a ahead; 700 s later (movement over 600 s) b passes a and c
    arrives. Popular 24h and trending rank b, c, a: b up one place, c new, a down two."""
    t0 = clock.now()
    await put_article(client, "a", **ANN)
    await put_article(client, "b", **ANN)
    await put_article(client, "c", theme="economy")
    await batch_at(client, clock, t0, {"a": 12, "b": 11})
    await rollup_at(client, clock, rfc3339(t0))
    await batch_at(client, clock, t0 + 700, {"b": 5, "c": 14})
    await rollup_at(client, clock, rfc3339(t0 + 700))
    return t0


async def test_trending_with_arrows_and_window_counts(
    settings: Settings, clock: ManualClock
) -> None:
    async with kyiv_client(settings, clock, movement_s=600) as client:
        t0 = await two_rollups(client, clock)
        listed = (await client.get("/v1/trending")).json()
        assert listed["previous_as_of"] == rfc3339(t0)
        assert [i["article"] for i in listed["items"]] == ["b", "c", "a"]
        for lang in ("uk", "en"):
            params = {"kind": "trending", "movement": "1", "count": "window", "lang": lang}
            response = await fragment(client, **params)
            assert 'data-kind="trending"' in response.text
            assert f'data-previous-as-of="{rfc3339(t0)}"' in response.text
            shown = rows(response.text)
            assert [r["title"] for r in shown] == [i["title"] for i in listed["items"]]
            assert [(r["move"], r["label"]) for r in shown] == [
                expected_move(i, lang) for i in listed["items"]
            ]
            assert [r["count"] for r in shown] == [
                format_count(i["window_views"], lang) for i in listed["items"]
            ]
        en = rows((await fragment(client, kind="trending", movement="true", lang="en")).text)
        assert [(r["move"], r["way"], r["label"]) for r in en] == [
            ("▲ 1", "viewcount-up", "up 1"),
            ("new", "viewcount-new", None),
            ("▼ 2", "viewcount-down", "down 2"),
        ]
        assert [r["count"] for r in en] == ["16 views", "14 views", "12 views"]  # all-time
        uk = rows((await fragment(client, kind="trending", movement="", lang="uk")).text)
        assert [r["label"] for r in uk] == ["вище на 1", None, "нижче на 2"]
        assert uk[1]["move"] == "нове"
        plain = await fragment(client, kind="trending", lang="en")
        assert "viewcount-move" not in plain.text and len(rows(plain.text)) == 3
        off = await fragment(client, kind="trending", movement="0", lang="en")
        assert off.text == plain.text


async def test_an_authors_list_today_and_theme_trending(
    settings: Settings, clock: ManualClock
) -> None:
    async with kyiv_client(settings, clock, movement_s=600) as client:
        await two_rollups(client, clock)
        ann = await fragment(client, author="ann-lee", movement="1", lang="en")
        assert 'data-author="ann-lee"' in ann.text and 'data-window="24h"' in ann.text
        assert [(r["title"], r["move"]) for r in rows(ann.text)] == [
            ("Title of b", "▲ 1"),
            ("Title of a", "▼ 1"),
        ]
        within = await fragment(client, author="ann-lee", exclude="b", window="7d")
        assert [r["title"] for r in rows(within.text)] == ["Title of a"]
        today = await fragment(client, window="today", lang="en", count="window")
        assert 'data-window="today"' in today.text
        assert [(r["title"], r["count"]) for r in rows(today.text)] == [
            ("Title of b", "16 views"),
            ("Title of c", "14 views"),
            ("Title of a", "12 views"),
        ]
        economy = await fragment(client, kind="trending", theme="economy", lang="en")
        assert 'data-theme="economy"' in economy.text
        assert [r["title"] for r in rows(economy.text)] == ["Title of c"]


async def test_the_new_parameters_keep_etag_and_cache_control(
    settings: Settings, clock: ManualClock
) -> None:
    async with kyiv_client(settings, clock, movement_s=600) as client:
        before = await fragment(client, kind="trending", movement="1")
        assert "<li" not in before.text and "data-previous-as-of" not in before.text
        await two_rollups(client, clock)
        params = {"kind": "trending", "movement": "1", "lang": "uk"}
        first = await fragment(client, **params)
        assert first.headers["etag"] != before.headers["etag"]
        assert "max-age=" in first.headers["cache-control"]
        assert "frame-ancestors *" in first.headers["content-security-policy"]
        again = await client.get(
            "/v1/popular.html", params=params, headers={"If-None-Match": first.headers["etag"]}
        )
        assert again.status_code == 304 and again.text == ""
        author = await fragment(client, author="ann-lee")
        assert "max-age=" in author.headers["cache-control"]


async def test_combinations_read_as_the_widget_reads_its_attributes(
    settings: Settings, clock: ManualClock
) -> None:
    """A trending list has no window (a valid one given is not read), an author's list no
    theme; an author's trending list is what the widget's request would be: 404 not_found."""
    async with kyiv_client(settings, clock, movement_s=600) as client:
        await two_rollups(client, clock)
        trending = await fragment(client, kind="trending", lang="en")
        assert (await fragment(client, kind="trending", window="7d", lang="en")).text == (
            trending.text
        )
        ann = await fragment(client, author="ann-lee", lang="en")
        assert (await fragment(client, author="ann-lee", theme="economy", lang="en")).text == (
            ann.text
        )
        assert [r["title"] for r in rows(ann.text)] == ["Title of b", "Title of a"]
        response = await client.get(
            "/v1/popular.html", params={"kind": "trending", "author": "ann-lee"}
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
        widget_call = await client.get("/v1/authors/ann-lee/trending")  # what the widget asks
        assert widget_call.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "hot"},
        {"kind": "Trending"},
        {"author": "Ann Lee"},
        {"author": "a" * 65},
        {"movement": "yes"},
        {"movement": "2"},
        {"count": "total"},
        {"window": "today ", "author": "ann-lee"},
        {"window": "", "kind": "trending"},
    ],
)
async def test_bad_list_parameters_are_problems_and_change_nothing(
    settings: Settings, clock: ManualClock, params: dict[str, str]
) -> None:
    async with kyiv_client(settings, clock, movement_s=600) as client:
        await two_rollups(client, clock)
        good = await fragment(client, author="ann-lee", lang="en")
        views = (await client.get("/v1/views", params={"articles": "a,b,c"})).json()
        response = await client.get("/v1/popular.html", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "invalid_parameter" and problem["status"] == 422
        assert any(problem["detail"].startswith(name) for name in params), problem  # names it
        after = await fragment(client, author="ann-lee", lang="en")
        assert (after.headers["etag"], after.text) == (good.headers["etag"], good.text)
        assert (await client.get("/v1/views", params={"articles": "a,b,c"})).json() == views
