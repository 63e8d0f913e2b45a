"""What browsers load, over HTTP: the scripts, popular.html, the demo page, stats, timeseries."""

from __future__ import annotations

import gzip
import html as html_lib
import json
import re
from html.parser import HTMLParser
from importlib.resources import files

import httpx
import pytest

from service.api.schemas import MAX_IDS
from service.clock import ManualClock, rfc3339
from service.demo import HEADLINES, byline
from service.demo_words import SCRIPT_WORDS, WORDS
from service.locale import DEFAULT_LANG, LABELS, LANGS
from service.validate import ARTICLE_ID_PATTERN

from .conftest import T0
from .pagedata import (
    EXPECTED_COUNTS,
    HOSTILE_THEME,
    HOSTILE_TITLE,
    PLURAL_ARTICLES,
    PLURAL_THEME,
    article_bodies,
    batch_events,
    spaced,
)
from .support import ADMIN, client_for, free_port, make_settings, put_article

FRONT_ARTICLE, FRONT_TITLE = HEADLINES[0][0], HEADLINES[0][1]
BEACON_GZIP_LIMIT = 2048


async def seed(client: httpx.AsyncClient) -> None:
    for article, body in article_bodies():
        response = await client.put(f"/v1/articles/{article}", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
    response = await client.post("/v1/views/batch", json={"events": batch_events()}, headers=ADMIN)
    assert response.json()["rejected"] == []
    assert (await client.post("/v1/rollup", headers=ADMIN)).status_code == 200


class Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def max_age(response: httpx.Response) -> int:
    found = re.search(r"max-age=(\d+)", response.headers["cache-control"])
    assert found, response.headers["cache-control"]
    return int(found.group(1))


# --- scripts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["beacon.js", "widget.js"])
async def test_scripts_are_cacheable_javascript(client: httpx.AsyncClient, name: str) -> None:
    plain = await client.get(f"/v1/{name}", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert 0 < max_age(plain) <= 3600
    assert plain.headers["cross-origin-resource-policy"] == "cross-origin"
    zipped = await client.get(f"/v1/{name}", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content
    assert zipped.headers["etag"] != plain.headers["etag"]
    for response in (plain, zipped):
        again = await client.get(f"/v1/{name}", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
    # Titles and counts go in as text; the scripts never parse HTML nor touch cookies.
    assert b"innerHTML" not in plain.content and b"insertAdjacentHTML" not in plain.content
    assert b"document.cookie" not in plain.content


async def test_beacon_is_small_and_sends_without_preflight(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/beacon.js", headers={"Accept-Encoding": "gzip"})
    assert int(response.headers["content-length"]) <= BEACON_GZIP_LIMIT
    assert len(gzip.compress(response.content, 9)) <= BEACON_GZIP_LIMIT
    source = response.text
    assert "sendBeacon" in source and "keepalive: true" in source
    assert "data-article" in source and "currentScript" in source


async def test_widget_defines_both_elements(client: httpx.AsyncClient) -> None:
    source = (await client.get("/v1/widget.js")).text
    assert 'define("viewcount-popular"' in source and 'define("viewcount-views"' in source
    assert "Intl.PluralRules" in source and "Intl.NumberFormat" in source


async def test_widget_is_served_with_the_services_own_facts(client: httpx.AsyncClient) -> None:
    """The labels, the article-id pattern and the languages reach the widget from the modules
    that own them; the file in the package carries no copy."""
    source = (await client.get("/v1/widget.js")).text
    start = source.index("var FACTS = ") + len("var FACTS = ")
    facts, _ = json.JSONDecoder().raw_decode(source, start)
    assert facts["labels"] == LABELS and facts["default_lang"] == DEFAULT_LANG
    assert facts["article_id"] == ARTICLE_ID_PATTERN and facts["max_ids"] == MAX_IDS
    assert "/*@facts*/" not in source
    packaged = files("service").joinpath("static", "widget.js").read_text("utf-8")
    assert packaged.count("/*@facts*/ null") == 1
    assert not re.search(r"\b(one|few|many|other)\s*:", packaged)  # no table of labels
    for lang, labels in LABELS.items():
        if lang != "en":  # English labels are words the script uses otherwise too ("views")
            assert not any(label in packaged for label in labels.values()), labels


# --- the demo page ----------------------------------------------------------------------------
async def test_demo_page_runs_only_its_own_files(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "style-src 'self'" in csp and "unsafe" not in csp
    tags = tags_of(response.text)
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert {s["src"] for s in scripts} == {"/v1/beacon.js", "/v1/widget.js", "/static/demo.js"}
    assert not any(tag == "style" for tag, _ in tags)
    assert not any(name == "style" or name.startswith("on") for _, attrs in tags for name in attrs)
    beacon = next(s for s in scripts if s["src"] == "/v1/beacon.js")
    assert beacon["data-article"] == FRONT_ARTICLE
    assert f'<h1 class="headline">{FRONT_TITLE}</h1>' in response.text
    widgets = [attrs for tag, attrs in tags if tag.startswith("viewcount-")]
    assert len(widgets) >= 4 and all(w["lang"] == "uk" for w in widgets)


async def test_demo_page_language_switch(client: httpx.AsyncClient) -> None:
    english = tags_of((await client.get("/", params={"lang": "en-GB"})).text)
    assert all(attrs["lang"] == "en" for tag, attrs in english if tag.startswith("viewcount-"))
    unknown = tags_of((await client.get("/", params={"lang": "<x>"})).text)
    assert all(attrs["lang"] == "uk" for tag, attrs in unknown if tag.startswith("viewcount-"))


async def test_demo_page_words_follow_its_lang(client: httpx.AsyncClient) -> None:
    """Headings, buttons, chart labels and the footer in each widget language: every word of
    the language's table is on the page, and the English ones it translates are not."""
    for lang in LANGS:
        page = (await client.get("/", params={"lang": lang})).text
        assert f'<html lang="{lang}">' in page
        words = WORDS[lang]
        for key, text in words.items():
            if key == "more_by":
                text = text.replace("{name}", byline(0)[1])
            if key not in SCRIPT_WORDS:
                assert html_lib.escape(text) in page, (lang, key)
        said = json.loads(html_lib.unescape(re.search(r'data-words="([^"]*)"', page).group(1)))
        assert said == {k: words[k] for k in SCRIPT_WORDS}
        headings = re.findall(r"<h2[^>]*>(.*?)</h2>", page)
        for key in ("popular", "trending", "by_theme", "dashboard"):
            assert html_lib.escape(words[key]) in headings, (lang, key)
        if lang != "en":  # the embed snippet is code, its comments in English
            prose = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
            for key in ("trending", "by_theme", "movers", "hourly", "embed", "read_also"):
                assert html_lib.escape(WORDS["en"][key]) not in prose, (lang, key)


async def test_demo_page_needs_no_redis() -> None:
    dead = make_settings(f"redis://127.0.0.1:{free_port()}/0", redis_timeout_s=0.5)
    async with client_for(dead) as http:
        page = await http.get("/")
        script = await http.get("/v1/widget.js")
    assert page.status_code == 200 and FRONT_TITLE in page.text
    assert script.status_code == 200


async def test_article_pages_escape_titles(client: httpx.AsyncClient) -> None:
    await seed(client)
    page = await client.get("/news/hostile-title")
    assert page.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert HOSTILE_TITLE not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for missing in ("/news/no-such-article", "/news/bad!id"):
        response = await client.get(missing)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")


async def test_only_the_page_assets_are_static_files(client: httpx.AsyncClient) -> None:
    css = await client.get("/static/demo.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    for hidden in ("/static/demo.html", "/static/demo-article.txt", "/static/..%2Fdemo.py"):
        assert (await client.get(hidden)).status_code == 404


# --- popular.html -----------------------------------------------------------------------------
def fragment_items(html: str) -> list[tuple[str, str]]:
    """(title, count) of each list item, unescaped."""
    import html as html_lib

    rows = re.findall(
        r'<a class="viewcount-link"[^>]*>(.*?)</a> '
        r'<span class="viewcount-count">(.*?)</span>',
        html,
    )
    return [(html_lib.unescape(title), html_lib.unescape(count)) for title, count in rows]


async def test_popular_html_is_ordered_and_localised(client: httpx.AsyncClient) -> None:
    await seed(client)
    ranking = (await client.get(f"/v1/themes/{PLURAL_THEME}/popular")).json()
    titles = [item["title"] for item in ranking["items"]]
    assert [item["article"] for item in ranking["items"]] == [a for a, *_ in PLURAL_ARTICLES]
    for lang, expected in EXPECTED_COUNTS.items():
        response = await client.get(
            "/v1/popular.html", params={"theme": PLURAL_THEME, "lang": lang}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        items = fragment_items(response.text)
        assert [title for title, _ in items] == titles
        assert [spaced(count) for _, count in items] == expected
        assert f'lang="{lang}"' in response.text


async def test_popular_html_escapes_titles(client: httpx.AsyncClient) -> None:
    await seed(client)
    response = await client.get("/v1/popular.html", params={"theme": HOSTILE_THEME})
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text
    assert "<img" not in response.text
    assert fragment_items(response.text) == [(HOSTILE_TITLE, "1 view")]


async def test_popular_html_caching_and_framing(client: httpx.AsyncClient) -> None:
    empty = await client.get("/v1/popular.html")
    assert empty.status_code == 200 and "<li" not in empty.text  # no rollup yet
    await seed(client)
    first = await client.get("/v1/popular.html", params={"lang": "uk", "limit": "3"})
    assert len(fragment_items(first.text)) == 3
    assert 0 < max_age(first) <= 60
    assert "frame-ancestors *" in first.headers["content-security-policy"]
    again = await client.get(
        "/v1/popular.html",
        params={"lang": "uk", "limit": "3"},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    other_lang = await client.get("/v1/popular.html", params={"lang": "en", "limit": "3"})
    assert other_lang.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize(
    "params",
    [{"lang": "xx"}, {"window": "2h"}, {"limit": "0"}, {"limit": "101"}, {"theme": "Bad Theme"}],
)
async def test_popular_html_refuses_bad_parameters(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/v1/popular.html", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_parameter"


# --- dashboard data ---------------------------------------------------------------------------
async def test_timeseries_has_the_contract_shape(client: httpx.AsyncClient) -> None:
    await put_article(client, "charted")
    events = [{"article": "charted", "at": rfc3339(T0 - 2 * 3600 + 300)}] * 2 + [
        {"article": "charted"}
    ]
    response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    assert response.json()["counted"] == 3
    series = (await client.get("/v1/articles/charted/timeseries", params={"window": "24h"})).json()
    assert set(series) == {"article", "window", "granularity", "timezone", "as_of", "points"}
    assert series["article"] == "charted" and series["granularity"] == "hour"
    points = series["points"]
    assert [p["at"] for p in points] == [rfc3339(T0 - h * 3600) for h in range(23, -1, -1)]
    assert [p["views"] for p in points] == [0] * 21 + [2, 0, 1]
    assert (
        await client.get("/v1/articles/charted/timeseries", params={"window": "1h"})
    ).status_code == 422
    assert (await client.get("/v1/articles/nothing/timeseries")).status_code == 404


async def test_stats_counts_the_last_complete_minute(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await put_article(client, "busy")
    clock.advance(10)
    events = [{"article": "busy"}] * 3
    await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    during = (await client.get("/v1/stats")).json()
    assert during == {"views_per_minute": 0, "as_of": rfc3339(T0)}
    clock.advance(60)
    after = await client.get("/v1/stats")
    assert after.json() == {"views_per_minute": 3, "as_of": rfc3339(T0 + 60)}
    assert 0 < max_age(after) <= 60


async def test_openapi_describes_the_widget_endpoints(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    stats = paths["/v1/stats"]["get"]["responses"]["200"]["content"]["application/json"]
    assert stats["schema"]["$ref"] == "#/components/schemas/Stats"
    assert set(spec["components"]["schemas"]["Stats"]["properties"]) == {
        "views_per_minute",
        "as_of",
    }
    assert "text/html" in paths["/v1/popular.html"]["get"]["responses"]["200"]["content"]
    lang = [p for p in paths["/v1/popular.html"]["get"]["parameters"] if p["name"] == "lang"]
    assert lang
    for script in ("/v1/beacon.js", "/v1/widget.js"):
        assert "text/javascript" in paths[script]["get"]["responses"]["200"]["content"]
    assert "/" not in paths and "/news/{article}" not in paths


async def test_fragment_and_stats_answer_cross_origin_reads(client: httpx.AsyncClient) -> None:
    for path in ("/v1/popular.html", "/v1/stats"):
        response = await client.get(path, headers={"Origin": "https://site.example"})
        assert response.headers["access-control-allow-origin"] == "*"
