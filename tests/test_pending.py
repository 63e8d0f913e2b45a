"""Views of articles not in the catalog, held while the service reads the article's page from a
real nginx serving the publisher's site, then counted; and every way that must not happen."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from service import keys
from service.clock import ManualClock
from service.discovery.pending import Discovery
from service.settings import Settings

from .live import ServiceProcess
from .newsroom import HOME_PAGE, NewsSite, json_ld_page
from .support import (
    ADMIN,
    BROWSER_UA,
    RedisProcess,
    client_for,
    put_article,
    require_tool,
    views_of,
)
from .test_metrics import UVICORN_WORKER, children, paused

PENDING = {"counted": False, "reason": "pending"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NewsSite]:
    require_tool("nginx", "the pending-view tests serve their news site with it")
    with NewsSite(tmp_path_factory.mktemp("newsroom")) as served:
        yield served


def with_sites(settings: Settings, site: NewsSite, **overrides: Any) -> Settings:
    # The sweep runs when a test calls it: its timer would race the test's own steps.
    values = {"sites": site.origin, "fetch_timeout_s": 8.0, "pending_poll_s": 3600.0}
    return Settings(**(settings.model_dump() | values | overrides))


def write_page(site: NewsSite, path: str, headline: str, section: str = "World") -> str:
    """An article page at ``path``; its URL. Under /paced/ it is padded to take nginx a few
    seconds: views sent meanwhile are held for certain."""
    article = path.rstrip("/").rpartition("/")[2]
    page = json_ld_page(article, headline, section, "NewsArticle", site.origin)
    if path.startswith("/paced/"):
        page += "<!--" + "x" * 6000 + "-->"
    (site.root / "site" / path.lstrip("/")).write_text(page)
    return site.url(path)


async def hits(site: NewsSite, path: str, at_least: int) -> int:
    """nginx's requests for ``path``, once it has logged ``at_least`` (it logs a request the
    fetcher gave up on only when it notices, a little later), or what it has after 10 s."""
    for _ in range(100):
        if site.site_hits(path) >= at_least:
            break
        await asyncio.sleep(0.1)
    return site.site_hits(path)


def discovery_of(http: httpx.AsyncClient) -> Discovery:
    found = http.app.holder["services"].discovery  # type: ignore[attr-defined]
    assert isinstance(found, Discovery)
    return found


@contextlib.asynccontextmanager
async def app(
    settings: Settings, clock: ManualClock, peer: str = "203.0.113.7"
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings, clock, peer) as http:
        yield http


async def beacon(http: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await http.post("/v1/views", json=fields)


def metric(text: str, name: str) -> float:
    """One sample's value (0 when absent) from the Prometheus text."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def metrics_of(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return response.text


async def gauge_reaches(http: httpx.AsyncClient, name: str, value: float) -> bool:
    """Whether the gauge shows ``value`` within 5 s (a background fetch starts a moment after
    the beacon that asked for it is answered)."""
    for _ in range(50):
        if metric(await metrics_of(http), name) == value:
            return True
        await asyncio.sleep(0.1)
    return False


# --- held, read, counted --------------------------------------------------------------------


async def test_views_of_an_unknown_article_count_once_its_page_is_read(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    url = write_page(site, "/paced/harbour-reopens", "Harbour reopens after the storm", "Local")
    before = site.site_hits("/paced/harbour-reopens")  # nginx serves both backends' runs
    async with app(with_sites(settings, site), clock) as http:
        # A forged title rides along: it is never read.
        forged = {"title": "BUY CHEAP PILLS", "headline": "BUY CHEAP PILLS"}
        first = await http.post(
            "/v1/views", json={"article": "harbour-reopens", "url": url, "visitor": "a", **forged}
        )
        assert (first.status_code, first.json()) == (202, PENDING)
        for visitor in ("a", "b"):  # "a" again: the record path dedupes it when counted
            again = await beacon(http, article="harbour-reopens", url=url, visitor=visitor)
            assert again.json() == PENDING
        await discovery_of(http).settled()
        article = (await http.get("/v1/articles/harbour-reopens")).json()
        assert (article["title"], article["theme"], article["url"], article["views"]) == (
            "Harbour reopens after the storm",
            "local",
            site.url("/news/harbour-reopens"),  # the page's <link rel=canonical>, on the site
            2,
        )
        # The page's JSON-LD author names the article's author list.
        assert (article["author"], article["author_name"]) == ("ana-reporter", "Ana Reporter")
        text = await metrics_of(http)
        assert "BUY CHEAP PILLS" not in (await http.get("/v1/articles/harbour-reopens")).text
        assert metric(text, 'viewcount_discovery_fetches_total{outcome="registered"}') == 1
        assert metric(text, "viewcount_views_pending_total") == 3
        assert metric(text, "viewcount_discovery_held_views") == 0
        assert metric(text, "viewcount_views_duplicate_total") == 1
        # Known now: the next view counts at once, and nothing is fetched again.
        assert (await beacon(http, article="harbour-reopens", url=url, visitor="c")).json() == {
            "counted": True
        }
        assert await views_of(http, "harbour-reopens") == 3
    assert site.site_hits("/paced/harbour-reopens") == before + 1


async def test_the_article_id_can_come_from_the_url_and_the_pixel_carries_a_url(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    url = write_page(site, "/paced/rail-strike-ends", "Rail strike ends", "Transport")
    async with app(with_sites(settings, site), clock) as http:
        assert (await beacon(http, url=url + "?utm_source=x")).json() == PENDING
        query = {"article": "rail-strike-ends", "url": url, "visitor": "p"}
        pixel = await http.get("/v1/views/pixel.gif", params=query)
        assert (pixel.status_code, pixel.headers["content-type"]) == (200, "image/gif")
        # A page's <img> names its article: a pixel without one is refused, url or not.
        nameless_pixel = await http.get("/v1/views/pixel.gif", params={"url": url})
        assert (nameless_pixel.status_code, nameless_pixel.json()["code"]) == (400, "invalid_body")
        await discovery_of(http).settled()
        article = (await http.get("/v1/articles/rail-strike-ends")).json()
        assert (article["title"], article["views"]) == ("Rail strike ends", 2)
        nameless = await beacon(http, url=site.url("/"))
        assert (nameless.status_code, nameless.json()["code"]) == (422, "invalid_article_id")


async def test_held_views_keep_the_per_client_cap_and_bot_rules(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    url = write_page(site, "/paced/capped-story", "A story one client keeps opening")
    capped = with_sites(settings, site, max_views_per_client=2)
    async with app(capped, clock) as http:
        for visitor in ("1", "2", "3"):
            assert (
                await beacon(http, article="capped-story", url=url, visitor=visitor)
            ).json() == (PENDING)
        bot = await http.post(
            "/v1/views",
            json={"article": "capped-story", "url": url},
            headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"},
        )
        assert bot.json() == PENDING
        await discovery_of(http).settled()
        counts = (await http.get("/v1/articles/capped-story/views")).json()
        assert (counts["views"], counts["automated_views"], counts["bot_views"]) == (2, 1, 1)


# --- where the service never goes -----------------------------------------------------------


@pytest.mark.parametrize(
    "trick",
    [
        "http://127.0.0.1:{other}/news/elsewhere",
        "http://127.0.0.1:{site}@127.0.0.1:{other}/news/elsewhere",
        "http://user@127.0.0.1:{site}/news/elsewhere",
        "http://127.0.0.1:{other}\\@127.0.0.1:{site}/news/elsewhere",
        "https://127.0.0.1:{site}/news/elsewhere",
        "file:///news/elsewhere",
    ],
)
async def test_a_url_off_the_sites_is_unknown_and_never_fetched(
    settings: Settings, clock: ManualClock, site: NewsSite, trick: str
) -> None:
    url = trick.format(site=site.site_port, other=site.other_port)
    before = site.site_hits("/news/elsewhere")
    async with app(with_sites(settings, site), clock) as http:
        refused = await beacon(http, article="elsewhere", url=url)
        assert (refused.status_code, refused.json()["code"]) == (404, "unknown_article")
        await discovery_of(http).settled()
        assert metric(await metrics_of(http), "viewcount_discovery_held_views") == 0
        assert (await http.get("/v1/articles/elsewhere")).status_code == 404
    assert site.other_hits() == [] and site.site_hits("/news/elsewhere") == before


async def test_without_sites_a_view_with_a_url_is_still_unknown(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    url = write_page(site, "/news/not-listened-for", "Nobody reads this page")
    async with app(settings, clock) as http:
        refused = await beacon(http, article="not-listened-for", url=url)
        assert (refused.status_code, refused.json()["code"]) == (404, "unknown_article")
    assert site.site_hits("/news/not-listened-for") == 0


async def test_a_known_article_counts_whatever_url_its_beacon_names(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    async with app(with_sites(settings, site), clock) as http:
        await put_article(http, "known-story")
        answer = await beacon(http, article="known-story", url="http://evil.example/x")
        assert answer.json() == {"counted": True}
        too_long = await beacon(http, article="known-story", url="http://x/" + "a" * 2048)
        assert (too_long.status_code, too_long.json()["code"]) == (400, "invalid_body")
        assert await views_of(http, "known-story") == 1


# --- pages that give nothing ----------------------------------------------------------------


async def test_a_page_without_metadata_registers_nothing_and_its_held_views_expire(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    path = "/news/section-front"
    (site.root / "site" / path.lstrip("/")).write_text(HOME_PAGE)
    url = site.url(path)
    quick = with_sites(settings, site, fetch_cooldown_s=0, pending_ttl_s=60)
    async with app(quick, clock) as http:
        discovery = discovery_of(http)
        for visitor in ("a", "b"):
            assert (
                await beacon(http, article="section-front", url=url, visitor=visitor)
            ).json() == (PENDING)
            await discovery.settled()
        text = await metrics_of(http)
        assert metric(text, 'viewcount_discovery_fetches_total{outcome="no_article_metadata"}') == 2
        assert metric(text, "viewcount_discovery_held_views") == 2
        assert (await http.get("/v1/articles/section-front")).status_code == 404
        clock.advance(61)
        assert await discovery.sweep() == 0
        assert metric(await metrics_of(http), "viewcount_discovery_held_views") == 0
        # The page becomes an article: only the view after it counts, not the expired ones.
        write_page(site, path, "Now a real story")
        assert (await beacon(http, article="section-front", url=url, visitor="c")).json() == (
            PENDING
        )
        await discovery.settled()
        article = (await http.get("/v1/articles/section-front")).json()
        assert (article["title"], article["views"]) == ("Now a real story", 1)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/news/big-story", "too_large"),
        ("/slow", "too_slow"),
        ("/away", "off_site"),
        ("/news/not-there-yet", "http_status"),
    ],
)
async def test_a_failed_fetch_registers_nothing_and_cools_down(
    settings: Settings, clock: ManualClock, site: NewsSite, path: str, reason: str
) -> None:
    article = path.rpartition("/")[2]
    before = site.site_hits(path)
    async with app(with_sites(settings, site, fetch_timeout_s=1.5), clock) as http:
        discovery = discovery_of(http)
        assert (await beacon(http, article=article, url=site.url(path), visitor="a")).json() == (
            PENDING
        )
        await discovery.settled()
        assert await hits(site, path, before + 1) == before + 1
        # Within the cool-down a view is still held, but the page is not asked for again,
        # neither by the view nor by the sweep.
        assert (await beacon(http, article=article, url=site.url(path), visitor="b")).json() == (
            PENDING
        )
        await discovery.settled()
        assert await discovery.sweep() == 2
        await discovery.settled()
        text = await metrics_of(http)
        assert metric(text, f'viewcount_discovery_fetches_total{{outcome="{reason}"}}') == 1
        assert (await http.get(f"/v1/articles/{article}")).status_code == 404
    assert site.site_hits(path) == before + 1  # a fetch nginx had not logged yet: in the metric
    assert site.other_hits() == []


async def test_views_held_for_an_article_an_editor_adds_count_without_a_fetch(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    path = "/news/added-by-hand"  # not on the site: its fetch fails and cools down
    before = site.site_hits(path)
    async with app(with_sites(settings, site), clock) as http:
        discovery = discovery_of(http)
        for visitor in ("a", "b"):
            answer = await beacon(
                http, article="added-by-hand", url=site.url(path), visitor=visitor
            )
            assert answer.json() == PENDING
        await discovery.settled()
        await put_article(http, "added-by-hand", title="Written by an editor")
        assert await discovery.sweep() == 2
        await discovery.settled()
        article = (await http.get("/v1/articles/added-by-hand")).json()
        assert (article["title"], article["views"]) == ("Written by an editor", 2)
        assert metric(await metrics_of(http), "viewcount_discovery_held_views") == 0
    assert site.site_hits(path) == before + 1  # the first, failed fetch only


async def test_an_articles_page_is_the_one_its_first_held_view_named(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    """A later view of the same id naming another page of the site does not redirect the
    fetch while the first views are held."""
    missing, other = "/news/first-named-story", "/news/another-page-of-the-site"
    write_page(site, other, "Another page")
    before = site.site_hits(missing)
    async with app(with_sites(settings, site, fetch_cooldown_s=0), clock) as http:
        discovery = discovery_of(http)
        for url, visitor in ((site.url(missing), "a"), (site.url(other), "b")):
            answer = await beacon(http, article="first-named-story", url=url, visitor=visitor)
            assert answer.json() == PENDING
            await discovery.settled()
        assert (await http.get("/v1/articles/first-named-story")).status_code == 404
    assert site.site_hits(missing) == before + 2 and site.site_hits(other) == 0


# --- bounds -----------------------------------------------------------------------------------


async def test_held_views_are_bounded_per_article_and_in_all(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    # Pages that are not there: every fetch fails, and the cool-down keeps the views held.
    small = with_sites(settings, site, pending_max_per_article=2, pending_max_total=16 * 3)
    shard = keys.shard_of("missing-0")
    same_shard = [f"missing-{n}" for n in range(200) if keys.shard_of(f"missing-{n}") == shard]
    async with app(small, clock) as http:
        first = same_shard[0]
        url = site.url(f"/news/{first}")
        for visitor in ("a", "b"):
            assert (await beacon(http, article=first, url=url, visitor=visitor)).json() == PENDING
        full = await beacon(http, article=first, url=url, visitor="c")
        assert (full.status_code, full.json()["code"]) == (404, "unknown_article")
        assert "limit" in full.json()["detail"]
        # The shard holds three in all: one more article's view fits, the next does not.
        second = same_shard[1]
        other_url = site.url(f"/news/{second}")
        assert (await beacon(http, article=second, url=other_url)).json() == PENDING
        third = await beacon(http, article=same_shard[2], url=site.url(f"/news/{same_shard[2]}"))
        assert (third.status_code, third.json()["code"]) == (404, "unknown_article")
        await discovery_of(http).settled()
        assert metric(await metrics_of(http), "viewcount_discovery_held_views") == 3
    assert site.site_hits(f"/news/{same_shard[2]}") == 0


# --- one fetch at a time, across processes ----------------------------------------------------


async def test_two_app_instances_fetch_a_page_once(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    path = "/paced/election-night-live"  # both instances hold a view while it is read
    url = write_page(site, path, "Election night, live")
    before = site.site_hits(path)
    shared = with_sites(settings, site)
    async with app(shared, clock, "198.51.100.1") as one, app(shared, clock, "198.51.100.2") as two:
        assert (await beacon(one, article="election-night-live", url=url)).json() == PENDING
        assert (await beacon(two, article="election-night-live", url=url)).json() == PENDING
        in_flight = "viewcount_discovery_fetches_in_flight"
        assert (
            await gauge_reaches(one, in_flight, 1) and metric(await metrics_of(two), in_flight) == 0
        )
        # The second instance's own attempt (a sweep) meets the lease too.
        await discovery_of(two).sweep()
        await asyncio.gather(discovery_of(one).settled(), discovery_of(two).settled())
        article = (await one.get("/v1/articles/election-night-live")).json()
        assert (article["title"], article["views"]) == ("Election night, live", 2)
        assert metric(await metrics_of(one), in_flight) == 0
    assert site.site_hits(path) == before + 1


async def test_two_workers_of_a_serve_fetch_a_page_once(
    redis_server: RedisProcess, site: NewsSite
) -> None:
    """`viewcount serve --workers 2`: one view through each worker (the other one stopped for
    the moment), one fetch between them, both views counted."""
    path = "/paced/two-workers-story"
    url = write_page(site, path, "Two workers, one fetch")
    before = site.site_hits(path)
    svc = ServiceProcess(redis_server.url, workers=2, sites=site.origin, rate_limit_per_min=0)
    svc.start()
    try:
        assert svc.process is not None
        workers = [c for c, cmd in children(svc.process.pid).items() if UVICORN_WORKER in cmd]
        assert len(workers) == 2
        base, agent = f"http://127.0.0.1:{svc.port}", {"User-Agent": BROWSER_UA}
        answers = []
        for index, worker in enumerate(workers):
            (other,) = set(workers) - {worker}
            with paused(other):  # a new connection: the running worker takes it
                async with httpx.AsyncClient(base_url=base, headers=agent) as http:
                    body = {"article": "two-workers-story", "url": url, "visitor": str(index)}
                    answers.append((await http.post("/v1/views", json=body)).json())
        assert answers == [PENDING, PENDING]
        async with httpx.AsyncClient(base_url=base, headers=agent) as http:
            for _ in range(300):  # the paced page takes a few seconds
                found = await http.get("/v1/articles/two-workers-story")
                if found.status_code == 200 and found.json()["views"] == 2:
                    break
                await asyncio.sleep(0.1)
            assert (found.json()["title"], found.json()["views"]) == ("Two workers, one fetch", 2)
            text = await metrics_of(http)  # summed over both workers
            assert metric(text, 'viewcount_discovery_fetches_total{outcome="registered"}') == 1
            assert metric(text, "viewcount_views_pending_total") == 2
    finally:
        svc.stop()
    assert site.site_hits(path) == before + 1


# --- reading a page again ---------------------------------------------------------------------


async def test_a_changed_headline_shows_after_the_re_read_and_on_an_editors_refresh(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    path = "/news/minister-resigns"
    url = write_page(site, path, "Minister under pressure", "Politics")
    before = site.site_hits(path)
    async with app(with_sites(settings, site, reread_after_s=3600), clock) as http:
        discovery = discovery_of(http)
        assert (await beacon(http, article="minister-resigns", url=url)).json() == PENDING
        await discovery.settled()
        assert (await http.get("/v1/articles/minister-resigns")).json()["title"] == (
            "Minister under pressure"
        )
        write_page(site, path, "Minister resigns", "Politics")
        await discovery.sweep()  # not due yet
        await discovery.settled()
        assert site.site_hits(path) == before + 1
        clock.advance(3601)
        await discovery.sweep()
        await discovery.settled()
        article = (await http.get("/v1/articles/minister-resigns")).json()
        assert (article["title"], article["views"]) == ("Minister resigns", 1)
        assert site.site_hits(path) == before + 2
        clock.advance(3601)  # once only: no third read without an editor
        await discovery.sweep()
        await discovery.settled()
        assert site.site_hits(path) == before + 2
        # An editor asks for it: read now, what editors set is kept.
        await http.put(
            "/v1/articles/minister-resigns",
            json={"title": "Minister resigns", "url": url, "theme": "politics",
                  "imported_views": 40},
            headers=ADMIN,
        )  # fmt: skip
        write_page(site, path, "Minister resigns; successor named", "Politics")
        refreshed = await http.post("/v1/admin/articles/minister-resigns/refresh", headers=ADMIN)
        assert refreshed.status_code == 200, refreshed.text
        assert (refreshed.json()["title"], refreshed.json()["imported_views"]) == (
            "Minister resigns; successor named",
            40,
        )
        assert refreshed.json()["views"] == 41
        assert site.site_hits(path) == before + 3


async def test_an_editors_refresh_refuses_clearly(
    settings: Settings, clock: ManualClock, site: NewsSite
) -> None:
    async with app(with_sites(settings, site), clock) as http:
        refresh = "/v1/admin/articles/{}/refresh"
        assert (await http.post(refresh.format("gone"), headers=ADMIN)).json()["code"] == (
            "unknown_article"
        )
        assert (await http.post(refresh.format("gone"))).status_code == 401
        await put_article(http, "vanished", url=site.url("/news/vanished"))
        failed = await http.post(refresh.format("vanished"), headers=ADMIN)
        assert (failed.status_code, failed.json()["code"]) == (502, "fetch_failed")
        assert failed.json()["detail"].startswith("http_status")
        assert (await http.get("/v1/articles/vanished")).json()["title"] == "Title of vanished"
    async with app(settings, clock) as http:
        await put_article(http, "vanished", url=site.url("/news/vanished"))
        disabled = await http.post(refresh.format("vanished"), headers=ADMIN)
        assert (disabled.status_code, disabled.json()["code"]) == (409, "discovery_disabled")
