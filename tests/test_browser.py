"""The beacon, the widgets and the demo page in headless Chromium, on a real server and Redis."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from service.demo import HEADLINES
from service.demo_words import WORDS
from service.locale import LANGS, format_count, format_number, plural_category

from .browserkit import CHROMIUM, CHROMIUM_ARGS, OUTPUT, Stack, Tab, wait_until, widget_page
from .pagedata import (
    EXPECTED_COUNTS,
    HOSTILE_ARTICLE,
    HOSTILE_THEME,
    HOSTILE_TITLE,
    PLURAL_ARTICLES,
    PLURAL_THEME,
    spaced,
)
from .support import ADMIN, require_tool

pytestmark = pytest.mark.browser

FRONT_ARTICLE = HEADLINES[0][0]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require_tool(str(CHROMIUM), "`apt-get install chromium` (.ci/run does)")
    require_tool(
        "Playwright for Python",
        "pip install -e '.[dev]'",
        found=importlib.util.find_spec("playwright") is not None,
    )
    with contextlib.ExitStack() as cleanup:
        yield Stack(cleanup)


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Debian's Chromium only: Playwright never downloads a browser here.
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def tab(browser: Any, request: pytest.FixtureRequest) -> Iterator[Tab]:
    # A reader of its own per test: the dedupe window never links two tests.
    opened = Tab(browser, reader=2 + zlib.crc32(request.node.name.encode()) % 10_000)
    yield opened
    opened.close()


# --- the beacon -------------------------------------------------------------------------------
def test_article_page_counts_one_view_and_a_reload_none(stack: Stack, tab: Tab) -> None:
    service = stack.service
    views, beacons = service.views(FRONT_ARTICLE), service.beacons()
    tab.page.goto(service.base + "/")
    wait_until(lambda: sum(service.beacons().values()) > sum(beacons.values()), "the beacon")
    tab.page.wait_for_load_state("networkidle")
    after = service.beacons()
    assert after["counted"] == beacons["counted"] + 1
    assert sum(after.values()) == sum(beacons.values()) + 1
    assert service.views(FRONT_ARTICLE) == views + 1

    tab.page.reload()
    wait_until(lambda: service.beacons()["duplicate"] > after["duplicate"], "the second beacon")
    tab.page.wait_for_load_state("networkidle")
    assert service.beacons()["counted"] == after["counted"]
    assert service.views(FRONT_ARTICLE) == views + 1
    headline = tab.page.locator(".headline-count [part=count]")
    headline.wait_for()
    assert spaced(headline.text_content() or "") == spaced(format_count(views + 1, "uk"))
    assert tab.errors == [] and tab.csp == []


def test_a_page_not_in_the_catalog_counts_once_the_service_has_read_it(
    stack: Stack, tab: Tab
) -> None:
    """beacon.js sends the canonical URL; the service reads that page (never the beacon) for
    the title, and counts the view it held meanwhile."""
    service, host, article = stack.service, stack.host, "discovered-in-a-browser"
    story = json.dumps(
        {"@context": "https://schema.org", "@type": "NewsArticle", "articleSection": "Tech",
         "headline": "Found by its own page", "datePublished": "2026-11-27T08:00:00Z"}
    )  # fmt: skip
    head = (
        f'<link rel="canonical" href="/news/{article}">'
        f'<script type="application/ld+json">{story}</script>'
    )
    host.page(f"/news/{article}", f"<!doctype html><html><head>{head}</head><body></body></html>")
    # The reader opens another address of the story (an AMP-like copy): its canonical one is read.
    beacon = f'<script async src="{service.base}/v1/beacon.js" data-article="{article}"></script>'
    copy = host.page("/amp/story-copy", f"<!doctype html><html><head>{head}{beacon}</head></html>")
    assert service.http.get(f"/v1/articles/{article}").status_code == 404
    tab.page.goto(copy)
    wait_until(lambda: service.http.get(f"/v1/articles/{article}").is_success, "the page read")
    wait_until(lambda: service.views(article) == 1, "the held view counted")
    entry = service.http.get(f"/v1/articles/{article}").json()
    assert (entry["title"], entry["theme"], entry["url"]) == (
        "Found by its own page",
        "tech",
        f"{host.base}/news/{article}",
    )
    assert tab.errors == []


# --- the widgets ------------------------------------------------------------------------------
def test_popular_widget_titles_order_and_plurals(stack: Stack, tab: Tab) -> None:
    ranking = stack.service.http.get(f"/v1/themes/{PLURAL_THEME}/popular").json()["items"]
    url = widget_page(
        stack,
        "/popular",
        (
            f'<viewcount-popular id="uk" theme="{PLURAL_THEME}"></viewcount-popular>'
            f'<viewcount-popular id="en" theme="{PLURAL_THEME}" lang="en"></viewcount-popular>'
            f'<viewcount-popular id="reads" theme="{PLURAL_THEME}" lang="en" count="window" '
            'label-one="read" label-other="reads"></viewcount-popular>'
        ),
    )
    tab.page.goto(url)
    for widget in ("uk", "en", "reads"):
        tab.page.locator(f"#{widget}[state=ready]").wait_for()
    assert tab.texts("#uk [part=link]") == [item["title"] for item in ranking]
    assert [item["article"] for item in ranking] == [a for a, *_ in PLURAL_ARTICLES]
    links = tab.page.locator("#en a[part=link]")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        item["url"] for item in ranking
    ]
    assert [spaced(t) for t in tab.texts("#uk [part=count]")] == EXPECTED_COUNTS["uk"]
    assert tab.texts("#en [part=count]") == EXPECTED_COUNTS["en"]
    assert tab.texts("#reads [part=count]") == [
        "5 reads",
        "4 reads",
        "3 reads",
        "2 reads",
        "1 read",
    ]
    # The widget's styles live in a constructed sheet, which the host's style-src allows.
    list_style = tab.page.evaluate(
        "document.getElementById('uk').shadowRoot"
        ".querySelector('ol').computedStyleMap().get('list-style-type')"
        ".toString()"
    )
    assert list_style == "none"
    assert tab.errors == [] and tab.csp == []


def test_widgets_format_counts_as_popular_html_does(stack: Stack, tab: Tab) -> None:
    widgets = "".join(
        f'<viewcount-popular id="w-{lang}" theme="{PLURAL_THEME}" lang="{lang}">'
        "</viewcount-popular>"
        for lang in LANGS
    )
    tab.page.goto(widget_page(stack, "/languages", widgets))
    for lang in LANGS:
        tab.page.locator(f"#w-{lang}[state=ready]").wait_for()
        fragment = stack.service.http.get(
            "/v1/popular.html", params={"theme": PLURAL_THEME, "lang": lang}
        ).text
        counts = re.findall(r'<span class="viewcount-count">(.*?)</span>', fragment)
        assert tab.texts(f"#w-{lang} [part=count]") == counts  # to the no-break space


def test_python_plurals_and_grouping_match_the_browser(stack: Stack, tab: Tab) -> None:
    numbers = [
        *range(0, 251),
        1000,
        1001,
        1234,
        5000,
        9999,
        10_000,
        12_345,
        36_232,
        100_000,
        1_000_000,
        1_000_001,
        2_000_000,
        1_234_567,
        21_000_000,
    ]
    tab.page.goto(stack.host.page("/blank", "<!doctype html><title>blank</title>"))
    browser_says = tab.page.evaluate(
        "([langs, numbers]) => Object.fromEntries(langs.map(lang => [lang, numbers.map(n =>"
        " [new Intl.PluralRules(lang).select(n), new Intl.NumberFormat(lang).format(n)])]))",
        [list(LANGS), numbers],
    )
    for lang in LANGS:
        python_says = [[plural_category(n, lang), format_number(n, lang)] for n in numbers]
        assert browser_says[lang] == python_says, lang


def test_hostile_title_renders_as_text(stack: Stack, tab: Tab) -> None:
    url = widget_page(
        stack,
        "/hostile",
        f'<viewcount-popular id="xss" theme="{HOSTILE_THEME}" lang="en"></viewcount-popular>',
        lang="en",
    )
    tab.page.goto(url)
    title = tab.page.locator("#xss [part=link]")
    title.wait_for()
    assert title.text_content() == HOSTILE_TITLE
    assert title.is_visible()
    assert tab.page.locator("#xss img").count() == 0
    tab.page.goto(f"{stack.service.base}/news/{HOSTILE_ARTICLE}?lang=en")
    assert tab.page.locator("h1.headline").text_content() == HOSTILE_TITLE
    assert tab.page.locator("main img").count() == 0
    tab.page.wait_for_load_state("networkidle")
    assert tab.dialogs == [] and tab.errors == []


# --- the demo page ----------------------------------------------------------------------------
def test_demo_page_shows_live_counts_lists_and_chart(stack: Stack, tab: Tab) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page = tab.page
    for lang in ("uk", "en"):
        page.goto(f"{stack.service.base}/?lang={lang}")
        page.locator("#popular[state=ready] [part=item]").first.wait_for()
        page.locator("#by-theme[state=ready] [part=item]").first.wait_for()
        page.locator("#chart svg rect.bar").first.wait_for()
        assert page.locator("#chart rect.bar").count() == 24
        assert page.locator("#popular [part=item]").count() == 5
        # A number as the page's language groups it ("1 574" in uk, "1,574" in en).
        wait_until(
            lambda: re.sub(r"[\s,.]", "", page.text_content("#vpm") or "").isdigit(), "the counter"
        )
        for counter in ("#bot-views", "#automated-views"):  # counted apart, beside each other
            wait_until(
                lambda c=counter: re.sub(r"[\s,.]", "", page.text_content(c) or "").isdigit(),
                counter,
            )
        count = page.locator(".headline-count [part=count]").text_content() or ""
        assert spaced(count).endswith("переглядів" if lang == "uk" else "views")
        # The page's own words follow its language too, and what its script writes.
        words = WORDS[lang]
        assert page.evaluate("document.documentElement.lang") == lang
        for selector, key in (
            ("#popular-title", "popular"),
            ("#trending-title", "trending"),
            ("#theme-title", "by_theme"),
            ("#dashboard-title", "dashboard"),
            (".seg button[data-window=today]", "window_today"),
            (".read-also-label", "read_also"),
        ):
            assert page.text_content(selector) == words[key], (lang, key)
        assert page.get_attribute("#chart-7d", "aria-label") == words["daily_aria"]
        assert page.get_attribute("#chart", "aria-label") == words["hourly_aria"]
        as_of = words["as_of"].split("{time}")[0]
        wait_until(
            lambda start=as_of: (page.text_content("#vpm-as-of") or "").startswith(start), "as of"
        )
        page.wait_for_load_state("networkidle")
        page.screenshot(path=OUTPUT / f"demo-{lang}.png", full_page=True)
    # The theme chips switch the by-theme list.
    page.locator(f"#theme-chips button[data-theme={PLURAL_THEME}]").click()
    wait_until(
        lambda: tab.texts("#by-theme [part=link]")[:1] == ["Story with 36232 views"],
        "the by-theme list to switch",
    )
    assert tab.errors == [] and tab.csp == [] and tab.dialogs == []


MOVERS_THEME = "movers"
MOVERS_AUTHOR = "ann-lee"  # wrote m-a and m-b
MOVER_TITLES = {
    "m-a": "Kyiv metro runs all night over the holidays",
    "m-b": "Storm warning: wind gusts up to 25 m/s expected tonight",
    "m-c": "Central bank keeps its key rate at 13.5%",
}
ARROWS = {"uk": ["▲ 1", "▼ 1", "нове"], "en": ["▲ 1", "▼ 1", "new"]}


@pytest.fixture(scope="module")
def movers(stack: Stack) -> None:
    """Theme "movers", two rollups a movement span (1 s here) apart: first a (30 views in the
    hour) then b (20); then b gains 380 (it tops the site's lists) and c arrives with 25.
    Trending ranks b, a, c: b up one place, a down one, c new. c was published in January,
    a and b within the minute."""
    http = stack.service.http
    fresh = stack.service.http.get("/v1/stats").json()["as_of"]  # the service's clock, now
    for article, published in (("m-a", fresh), ("m-b", fresh), ("m-c", "2026-01-01T00:00:00Z")):
        body = {
            "title": MOVER_TITLES[article],
            "theme": MOVERS_THEME,
            "url": f"https://news.example.com/{article}",
            "published_at": published,
        }
        if article != "m-c":
            body |= {"author": MOVERS_AUTHOR, "author_name": "Ann Lee"}
        assert http.put(f"/v1/articles/{article}", json=body, headers=ADMIN).is_success

    def views_then_rollup(counts: dict[str, int]) -> str:
        events = [
            {"article": a, "visitor": f"{a}-{n}"} for a, c in counts.items() for n in range(c)
        ]
        assert http.post("/v1/views/batch", json={"events": events}, headers=ADMIN).is_success
        response = http.post("/v1/rollup", headers=ADMIN)
        assert response.is_success
        return str(response.json()["as_of"])

    first = views_then_rollup({"m-a": 30, "m-b": 20})
    time.sleep(1.1)  # a movement span (VIEWCOUNT_MOVEMENT_S=1) after the first list
    views_then_rollup({"m-b": 380, "m-c": 25})
    listed = http.get(f"/v1/themes/{MOVERS_THEME}/trending").json()
    assert listed["previous_as_of"] == first
    assert [(i["article"], i["previous_rank"]) for i in listed["items"]] == [
        ("m-b", 2),
        ("m-a", 1),
        ("m-c", None),
    ]


def test_trending_widget_with_arrows_in_uk_and_en(stack: Stack, tab: Tab, movers: None) -> None:
    common = f'kind="trending" theme="{MOVERS_THEME}"'
    url = widget_page(
        stack,
        "/trending",
        (
            f'<viewcount-popular id="uk" {common} movement></viewcount-popular>'
            f'<viewcount-popular id="en" {common} movement lang="en"></viewcount-popular>'
            f'<viewcount-popular id="plain" {common} lang="en"></viewcount-popular>'
            f'<viewcount-popular id="own" {common} article="m-b" exclude-current>'
            "</viewcount-popular>"
            f'<viewcount-popular id="fresh" {common} published-within="24h"></viewcount-popular>'
            f'<viewcount-popular id="hour" {common} lang="en" count="window"></viewcount-popular>'
            f'<viewcount-popular id="author" author="{MOVERS_AUTHOR}" window="1h" lang="en" '
            'count="window"></viewcount-popular>'
        ),
    )
    tab.page.goto(url)
    for widget in ("uk", "en", "plain", "own", "fresh", "hour", "author"):
        tab.page.locator(f"#{widget}[state=ready]").wait_for()
    titles = [MOVER_TITLES[a] for a in ("m-b", "m-a", "m-c")]
    for lang in ("uk", "en"):
        assert tab.texts(f"#{lang} [part=link]") == titles
        assert tab.texts(f"#{lang} [part~=move]") == ARROWS[lang]
    labels = tab.page.locator("#uk [part~=move][aria-label]")
    assert [labels.nth(i).get_attribute("aria-label") for i in range(2)] == [
        "вище на 1",
        "нижче на 1",
    ]
    en = tab.page.locator("#en [part~=move][aria-label]")
    assert [en.nth(i).get_attribute("aria-label") for i in range(2)] == ["up 1", "down 1"]
    assert tab.texts("#plain [part~=move]") == []  # arrows only when asked for
    # popular.html draws the same arrows and reads them aloud the same, server-side.
    for lang in ("uk", "en"):
        params = {"kind": "trending", "theme": MOVERS_THEME, "movement": "1", "lang": lang}
        served = stack.service.http.get("/v1/popular.html", params=params).text
        moves = re.findall(
            r'<span class="viewcount-move [^"]*"(?: aria-label="([^"]*)")?[^>]*>(.*?)</span>',
            served,
        )
        assert [text for _, text in moves] == tab.texts(f"#{lang} [part~=move]") == ARROWS[lang]
        widget = tab.page.locator(f"#{lang} [part~=move][aria-label]")
        assert [label for label, _ in moves if label] == [
            widget.nth(i).get_attribute("aria-label") for i in range(widget.count())
        ]
    assert tab.texts("#own [part=link]") == [MOVER_TITLES["m-a"], MOVER_TITLES["m-c"]]
    assert tab.texts("#fresh [part=link]") == [MOVER_TITLES["m-b"], MOVER_TITLES["m-a"]]
    assert tab.texts("#hour [part=count]") == ["400 views", "30 views", "25 views"]
    assert tab.texts("#author [part=link]") == [MOVER_TITLES["m-b"], MOVER_TITLES["m-a"]]
    assert tab.texts("#author [part=count]") == ["400 views", "30 views"]
    OUTPUT.mkdir(exist_ok=True)
    tab.page.screenshot(path=OUTPUT / "trending-widgets.png", full_page=True)
    assert tab.errors == [] and tab.csp == []


def test_exclude_current_reads_the_page_beacon(stack: Stack, tab: Tab, movers: None) -> None:
    """Without an article attribute, exclude-current leaves out the beacon's data-article."""
    api = stack.service.base
    url = widget_page(
        stack,
        "/read-a",
        (
            f'<script async src="{api}/v1/beacon.js" data-article="m-a"></script>'
            f'<viewcount-popular id="rest" kind="trending" theme="{MOVERS_THEME}" '
            "exclude-current></viewcount-popular>"
        ),
    )
    tab.page.goto(url)
    tab.page.locator("#rest[state=ready]").wait_for()
    assert MOVER_TITLES["m-a"] not in tab.texts("#rest [part=link]")
    assert tab.texts("#rest [part=link]")[:1] == [MOVER_TITLES["m-b"]]
    assert tab.errors == [] and tab.csp == []


def arrow(item: dict[str, Any]) -> str | None:
    """What the widget shows for an item's movement, in English."""
    if item["previous_rank"] is None:
        return "new"
    places = item["previous_rank"] - item["rank"]
    return None if places == 0 else ("▲ " if places > 0 else "▼ ") + str(abs(places))


def test_demo_page_lists_trending_today_and_movers(stack: Stack, tab: Tab, movers: None) -> None:
    """The demo's Trending now (arrows, without the article being read), its Popular list
    switched to Today with arrows, the 7-day chart and the movers list; docs/demo-lists.png
    is this screenshot."""
    page = tab.page
    page.goto(f"{stack.service.base}/?lang=en")
    trending = page.locator("#trending[state=ready] [part=item]")
    trending.first.wait_for()
    assert MOVER_TITLES["m-b"] in tab.texts("#trending [part=link]")
    assert HEADLINES[0][1] not in tab.texts("#trending [part=link]")  # the page's own article
    page.locator(".seg[data-controls=popular] button[data-window=today]").click()
    wait_until(lambda: page.get_attribute("#popular", "window") == "today", "the Today switch")
    listed = stack.service.http.get("/v1/popular", params={"window": "today", "limit": 5}).json()
    assert listed["previous_as_of"] is not None and listed["items"][0]["article"] == "m-b"
    wait_until(
        lambda: tab.texts("#popular [part=link]") == [i["title"] for i in listed["items"]],
        "the today list",
    )
    arrows = [arrow(item) for item in listed["items"]]
    items = page.locator("#popular [part=item]")
    shown = [items.nth(n).locator("[part~=move]").all_text_contents() for n in range(5)]
    assert shown == [[a] if a else [] for a in arrows]
    page.locator("#chart-7d svg rect.bar").first.wait_for(state="attached")
    assert page.locator("#chart-7d rect.bar").count() == 7
    page.locator("#movers li").first.wait_for()
    # More by the article's author (every third demo headline is hers), without this one.
    page.locator("#by-author[state=ready] [part=item]").first.wait_for()
    by_her = {HEADLINES[n][1] for n in range(3, len(HEADLINES), 3)}
    assert set(tab.texts("#by-author [part=link]")) == by_her
    assert page.locator("#movers li").count() <= 5
    page.wait_for_load_state("networkidle")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "demo-lists-en.png", full_page=True)
    assert tab.errors == [] and tab.csp == [] and tab.dialogs == []


def test_outages_never_break_the_page(stack: Stack, browser: Any) -> None:
    """Runs last: it stops Redis, then the service."""
    tab = Tab(browser, reader=1)
    try:
        storage_down(stack, tab)
        service_down(stack, tab)
    finally:
        tab.close()


def storage_down(stack: Stack, tab: Tab) -> None:
    stack.redis.kill()
    tab.page.goto(stack.service.base + "/")
    tab.page.locator(".headline-count[state=error]").wait_for(state="attached")
    # Rankings are served from the process's snapshot: they outlive Redis.
    tab.page.locator("#popular[state=ready] [part=item]").first.wait_for()
    assert tab.page.locator("h1.headline").is_visible()
    tab.page.screenshot(path=OUTPUT / "demo-storage-down.png")
    assert tab.errors == []


def service_down(stack: Stack, tab: Tab) -> None:
    service = stack.service
    service.stop()
    api = service.base
    article = (
        f'<script async src="{api}/v1/beacon.js" data-article="{FRONT_ARTICLE}"></script>'
        f'<script async src="{api}/v1/widget.js"></script>'
    )
    cached = (
        f'<script src="/beacon.js" data-api="{api}/v1/" data-article="{FRONT_ARTICLE}">'
        f'</script><script src="/widget.js" data-api="{api}/v1"></script>'
    )
    for name, source in stack.scripts.items():
        stack.host.page(f"/{name}", source, {"Content-Type": "text/javascript"})
    body = (
        '<h1 id="title">Host article</h1><p>Text.</p>'
        f'<viewcount-views id="views" article="{FRONT_ARTICLE}"></viewcount-views>'
        '<viewcount-popular id="list"><a href="/more">More news</a></viewcount-popular>'
    )
    for path, scripts in (("/down", article), ("/down-cached", cached)):
        tab.page.goto(
            stack.host.page(
                path,
                f"<!doctype html><html lang='en'><head>{scripts}</head><body>{body}</body></html>",
            )
        )
        tab.page.wait_for_load_state("networkidle")
        assert tab.page.locator("#title").is_visible()
        assert tab.page.locator("text=More news").is_visible()  # the fallback stays
    tab.page.locator("#list[state=error]").wait_for()
    assert tab.page.evaluate("window.viewcount.view('another') === true")
    tab.page.wait_for_load_state("networkidle")
    assert tab.errors == [] and tab.dialogs == []
