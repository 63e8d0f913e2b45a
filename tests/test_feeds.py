"""VIEWCOUNT_FEEDS into the catalog: RSS, Atom and a news sitemap served by a real nginx,
conditional GETs whose validators live in Redis, editors' entries left alone, bad feeds
logged and changing nothing, and the scheduler's leader (only) reading them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from service import keys
from service.clock import SystemClock
from service.discovery.feedsync import FeedSync, summary
from service.discovery.fetch import Fetcher
from service.metrics import Metrics
from service.scheduler import RollupScheduler
from service.settings import Settings
from service.storage import Storage, connect, ops

from .live import ServiceProcess
from .newsroom import RSS, NewsSite
from .support import ADMIN, client_for, require_tool

FEEDS = ("/feeds/news.rss", "/feeds/news.atom", "/sitemaps/news.xml")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NewsSite]:
    require_tool("nginx", "the feed tests read their feeds from it")
    with NewsSite(tmp_path_factory.mktemp("feeds")) as served:
        yield served


def feed_settings(settings: Settings, site: NewsSite, *paths: str, **more: Any) -> Settings:
    feeds = ",".join(site.url(path) for path in paths)
    values = {"sites": site.origin, "feeds": feeds, "fetch_timeout_s": 3.0, **more}
    return Settings(**(settings.model_dump() | values))


@pytest.fixture
async def storage(settings: Settings, redis: Any) -> AsyncIterator[Storage]:
    store = connect(settings)
    yield store
    await store.close()


async def sync_once(storage: Storage, settings: Settings, metrics: Metrics | None = None) -> Any:
    async with Fetcher(settings) as fetcher:
        return await FeedSync(storage, settings, fetcher, metrics).run()


async def article(http: httpx.AsyncClient, article_id: str) -> dict[str, Any] | None:
    response = await http.get(f"/v1/articles/{article_id}")
    return response.json() if response.status_code == 200 else None


async def test_rss_atom_and_a_news_sitemap_fill_the_catalog(
    site: NewsSite, settings: Settings, storage: Storage
) -> None:
    configured = feed_settings(settings, site, *FEEDS)
    metrics = Metrics()
    reports = await sync_once(storage, configured, metrics)
    # The sitemap lists the ceasefire story again (unchanged) and a URL with no title: a plain
    # sitemap names no headline, so it creates nothing (its page would have to).
    assert summary(reports) == {"created": 3, "unchanged": 1, "untitled": 1}
    assert [r.skipped for r in reports] == [2, 0, 0]  # another site's story, the front page
    async with client_for(configured) as http:
        ceasefire = await article(http, "ceasefire-talks-resume")
        budget = await article(http, "budget-vote-delayed")
        flood = await article(http, "flood-warnings-issued")
        themes = (await http.get("/v1/themes")).json()["themes"]
        authors = (await http.get("/v1/authors")).json()["authors"]
        assert await article(http, "plain-sitemap-entry") is None
    assert ceasefire is not None and budget is not None and flood is not None
    # Authors as a discovered page's: RSS <author> (its name, not the address), <dc:creator>
    # (a name without ASCII letters gets a digest slug), Atom <author><name>; the news sitemap
    # names none and leaves the ceasefire story's as the RSS feed gave it.
    assert (ceasefire["author"], ceasefire["author_name"]) == ("ann-lee", "Ann Lee")
    assert budget["author"].startswith("author-") and budget["author_name"] == "Олена Коваль"
    assert (flood["author"], flood["author_name"]) == ("bo-weather", "Bo Weather")
    assert sorted((a["author_name"], a["articles"]) for a in authors) == [
        ("Ann Lee", 1),
        ("Bo Weather", 1),
        ("Олена Коваль", 1),
    ]
    assert (ceasefire["title"], ceasefire["theme"], ceasefire["published_at"]) == (
        "Ceasefire talks resume in Geneva",
        "world-politics",  # the first category, as a slug
        "2026-11-27T07:35:00Z",
    )
    assert ceasefire["url"] == site.url("/news/ceasefire-talks-resume")
    assert ceasefire["ranked"] is True and ceasefire["imported_views"] == 0
    assert (budget["theme"], budget["published_at"]) == ("economie", "2026-11-27T09:00:00Z")
    assert (flood["title"], flood["theme"]) == ("Flood warnings issued", "weather")
    assert {t["theme"]: t["articles"] for t in themes} == {
        "economie": 1,
        "weather": 1,
        "world-politics": 1,
    }
    value = metrics.registry.get_sample_value
    assert value("viewcount_feed_reads_total", {"outcome": "read"}) == 3
    assert value("viewcount_feed_articles_total", {"change": "created"}) == 3


async def test_a_second_read_is_conditional_and_a_new_leader_keeps_the_validators(
    site: NewsSite, settings: Settings, storage: Storage
) -> None:
    path = "/feeds/news.atom"
    configured = feed_settings(settings, site, path)
    await sync_once(storage, configured)
    before = len(site.json_hits(path))
    # A fresh FeedSync with a fresh fetcher, as a new leader in another process would have:
    # only Redis carries what the last read answered.
    (report,) = await sync_once(storage, configured)
    assert (report.documents, report.not_modified, dict(report.changes)) == (0, 1, {})
    (hit,) = site.json_hits(path)[before:]
    assert hit["status"] == 304
    assert hit["if_none_match"].startswith('"') and hit["if_modified_since"].endswith("GMT")
    stored = await storage.one(ops.hgetall(keys.FEED_VALIDATORS))
    assert site.url(path) in stored


async def test_feeds_never_override_an_editor(
    site: NewsSite, settings: Settings, storage: Storage
) -> None:
    """An editor's entry keeps its title, theme and url; feeds only fill a missing
    published_at. An unranked article stays unranked; imported views stay."""
    configured = feed_settings(settings, site, "/feeds/news.rss")
    edited = {
        "title": "Editor's own headline",
        "url": "https://news.example.com/ceasefire",
        "theme": "war",
        "ranked": False,
        "imported_views": 40,
    }
    async with client_for(configured) as http:
        put = await http.put("/v1/articles/ceasefire-talks-resume", json=edited, headers=ADMIN)
        assert put.status_code == 201
        reports = await sync_once(storage, configured)
        assert summary(reports) == {"filled": 1, "created": 1}
        entry = await article(http, "ceasefire-talks-resume")
        assert entry is not None
        assert {k: entry[k] for k in edited} == edited
        assert entry["published_at"] == "2026-11-27T07:35:00Z"  # filled: the editor gave none
        assert entry["author"] is None  # unsigned by the editor: the feed's author is not taken
        # The feed's own article, once an editor replaces it, is the editor's from then on.
        budget = await article(http, "budget-vote-delayed")
        assert budget is not None and budget["title"] == "Budget vote delayed"
        mine = {
            **edited,
            "title": "Budget: the vote",
            "ranked": True,
            "imported_views": 0,
            "author": "desk",
            "author_name": "The Desk",
        }
        await http.put("/v1/articles/budget-vote-delayed", json=mine, headers=ADMIN)
        await storage.one(ops.unlink(keys.FEED_VALIDATORS))  # the feed is read whole again
        assert summary(await sync_once(storage, configured)) == {"unchanged": 1, "filled": 1}
        budget = await article(http, "budget-vote-delayed")
        assert budget is not None
        assert (budget["title"], budget["theme"]) == ("Budget: the vote", "war")
        assert (budget["author"], budget["author_name"]) == ("desk", "The Desk")
        assert budget["published_at"] == "2026-11-27T09:00:00Z"  # the PUT gave none
        authors = (await http.get("/v1/authors")).json()["authors"]
        assert [(a["author"], a["articles"]) for a in authors] == [("desk", 1)]


async def test_a_feed_that_changes_updates_the_articles_it_created(
    site: NewsSite, settings: Settings, storage: Storage, backend: str
) -> None:
    path = f"/feeds/changing-{backend}.rss"
    feed = site.root / "site" / path.lstrip("/")
    feed.write_text(RSS.format(origin=site.origin, other=site.other))
    configured = feed_settings(settings, site, path)
    assert summary(await sync_once(storage, configured)) == {"created": 2}
    changed = RSS.format(origin=site.origin, other=site.other).replace(
        "<title>Budget vote delayed</title>", "<title>Budget vote delayed again, MPs say</title>"
    )
    changed = changed.replace("<category>Économie</category>", "<category>Money</category>")
    # Ann Lee now signs both stories: Олена Коваль has none left and leaves the index.
    feed.write_text(changed.replace("Олена Коваль", "Ann Lee"))
    later = time.time() + 10  # another Last-Modified, whatever the clock's resolution
    os.utime(feed, (later, later))
    assert summary(await sync_once(storage, configured)) == {"updated": 1, "unchanged": 1}
    async with client_for(configured) as http:
        budget = await article(http, "budget-vote-delayed")
        themes = (await http.get("/v1/themes")).json()["themes"]
        authors = (await http.get("/v1/authors")).json()["authors"]
    assert budget is not None
    assert (budget["title"], budget["theme"]) == ("Budget vote delayed again, MPs say", "money")
    assert (budget["author"], budget["author_name"]) == ("ann-lee", "Ann Lee")
    assert {t["theme"] for t in themes} == {"money", "world-politics"}  # economie is empty
    assert authors == [{"author": "ann-lee", "author_name": "Ann Lee", "articles": 2}]


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/feeds/bomb.rss", "xml_forbidden"), ("/feeds/broken.rss", "not_xml")],
)
async def test_a_bad_feed_is_logged_and_changes_nothing(
    site: NewsSite,
    settings: Settings,
    storage: Storage,
    caplog: pytest.LogCaptureFixture,
    path: str,
    reason: str,
) -> None:
    configured = feed_settings(settings, site, path, "/feeds/news.atom")
    metrics = Metrics()
    with caplog.at_level(logging.WARNING, logger="viewcount.feeds"):
        bad, good = await sync_once(storage, configured, metrics)
    assert bad.error is not None and bad.error.reason == reason and not bad.changes
    assert summary([good]) == {"created": 1}  # the next feed is still read
    (record,) = [r for r in caplog.records if r.getMessage() == "feed not read"]
    assert record.__dict__["reason"] == reason and record.__dict__["feed"] == site.url(path)
    stored = await storage.one(ops.hgetall(keys.FEED_VALIDATORS))
    assert site.url(path) not in stored  # no validators for what was never read
    async with client_for(configured) as http:
        assert [t["theme"] for t in (await http.get("/v1/themes")).json()["themes"]] == ["weather"]
    assert metrics.registry.get_sample_value("viewcount_feed_reads_total", {"outcome": reason})


async def test_only_the_leader_reads_the_feeds(
    site: NewsSite, settings: Settings, storage: Storage
) -> None:
    configured = feed_settings(
        settings, site, *FEEDS, feed_interval_s=0.5, rollup_interval_s=30, leader_lease_s=20
    )
    schedulers = [
        RollupScheduler(storage, configured, SystemClock()),
        RollupScheduler(storage, configured, SystemClock()),
    ]
    schedulers[0].start()
    try:
        async with asyncio.timeout(30):
            while schedulers[0].feed_passes < 2:  # at once on taking the lease, then the job
                await asyncio.sleep(0.1)
        schedulers[1].start()
        async with asyncio.timeout(30):
            while not schedulers[1].scheduler.get_job("feeds") or schedulers[0].feed_passes < 4:
                await asyncio.sleep(0.1)
    finally:
        for scheduler in schedulers:
            if scheduler.scheduler.running:
                await scheduler.stop()
    assert schedulers[0].lease.token == "" and schedulers[1].feed_passes == 0
    async with client_for(configured) as http:
        assert await article(http, "flood-warnings-issued") is not None


@pytest.mark.single_node
async def test_a_serve_with_feeds_fills_its_catalog_and_shows_the_reads_in_metrics(
    site: NewsSite, single_server: Any, redis: Any
) -> None:
    """`viewcount serve`: its scheduler process reads the feeds, and the API's /metrics, summed
    over the serve's processes, counts those reads."""
    feeds = ",".join(site.url(path) for path in FEEDS)
    # Feeds read again every 2 s: a read that failed on a loaded box is made again, and the
    # ones already read answer 304 (not_modified), so "read" reaches 3 and stays there.
    proc = ServiceProcess(
        single_server.url,
        scheduler=True,
        sites=site.origin,
        feeds=feeds,
        rollup_interval_s=30,
        feed_interval_s=2,
    ).start()
    wanted = (
        'viewcount_feed_articles_total{change="created"} 3.0',
        'viewcount_feed_reads_total{outcome="read"} 3.0',
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proc.port}") as http:
            text = ""
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(60):
                    while not all(line in text for line in wanted):
                        await asyncio.sleep(0.2)
                        text = (await http.get("/metrics")).text
            shown = [line for line in text.splitlines() if line.startswith("viewcount_feed")]
            assert all(line in text for line in wanted), shown
            entry = (await http.get("/v1/articles/flood-warnings-issued")).json()
            assert (entry["title"], entry["theme"]) == ("Flood warnings issued", "weather")
    finally:
        proc.stop()
