"""Catalog discovery against a real nginx serving a small news site: pages, feeds, sitemaps,
and every way a page can be wrong, slow, large, off-site or hostile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from service.discovery.errors import (
    DiscoveryError,
    HttpStatus,
    NoArticleMetadata,
    NotFeed,
    NotHtml,
    NotXml,
    OffSite,
    TooLarge,
    TooManyRedirects,
    TooSlow,
    XmlForbidden,
)
from service.discovery.feeds import FeedReader, Validators
from service.discovery.fetch import Fetcher
from service.discovery.fields import to_article
from service.discovery.page import PageMeta, read_page
from service.settings import Settings

from .newsroom import NewsSite
from .support import require_tool

TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NewsSite]:
    require_tool("nginx", "the discovery tests serve their news site with it")
    with NewsSite(tmp_path_factory.mktemp("newsroom")) as served:
        yield served


def discovery_settings(site: NewsSite, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"sites": site.origin, "fetch_timeout_s": TIMEOUT_S}
    return Settings(**(values | overrides))


@pytest.fixture
async def fetcher(site: NewsSite) -> AsyncIterator[Fetcher]:
    async with Fetcher(discovery_settings(site)) as client:
        yield client


async def page_meta(fetcher: Fetcher, url: str) -> PageMeta:
    fetched = await fetcher.page(url)
    return read_page(fetched.body, fetched.charset, max_jsonld_bytes=65536, page_url=fetched.url)


def assert_nothing_elsewhere(site: NewsSite) -> None:
    assert site.other_hits() == [], "a request reached an origin VIEWCOUNT_SITES does not list"


# --- article pages --------------------------------------------------------------------------


async def test_a_json_ld_news_article_gives_its_headline_section_author_and_time(
    site: NewsSite, fetcher: Fetcher
) -> None:
    meta = await page_meta(fetcher, site.url("/news/ceasefire-talks-resume"))
    assert meta == PageMeta(
        title="Ceasefire talks resume in Geneva",
        section="World Politics",
        author_name="Ana Reporter",
        published_at="2026-11-27T07:35:00Z",  # +02:00 in the page
        canonical_url=site.url("/news/ceasefire-talks-resume"),
        source="json-ld",
    )
    url = meta.canonical_url or ""
    article = to_article(
        "ceasefire-talks-resume", url, meta.title, meta.section, meta.published_at, "news"
    )
    assert (article.title, article.theme, article.published_at) == (
        "Ceasefire talks resume in Geneva",
        "world-politics",
        "2026-11-27T07:35:00Z",
    )


async def test_a_plain_article_with_entities_in_its_headline(
    site: NewsSite, fetcher: Fetcher
) -> None:
    meta = await page_meta(fetcher, site.url("/news/budget-vote-delayed"))
    assert (meta.title, meta.section, meta.source) == (
        "Budget vote delayed & MPs fume",
        "Économie",
        "json-ld",
    )
    article = to_article("budget-vote-delayed", site.url("/x"), meta.title, meta.section, None, "n")
    assert article.theme == "economie"


async def test_a_page_with_only_open_graph_tags(site: NewsSite, fetcher: Fetcher) -> None:
    meta = await page_meta(fetcher, site.url("/news/flood-warnings-issued"))
    assert meta == PageMeta(
        title="Flood warnings issued for the river valley",
        section="Weather",
        author_name="Bo Weather",  # article:author is a profile URL: the author meta names her
        published_at="2026-11-28T06:00:00Z",
        canonical_url=site.url("/news/flood-warnings-issued"),
        source="open-graph",
    )


async def test_a_home_page_registers_nothing(site: NewsSite, fetcher: Fetcher) -> None:
    with pytest.raises(NoArticleMetadata, match="no JSON-LD Article"):
        await page_meta(fetcher, site.url("/"))


async def test_a_feed_is_not_a_page(site: NewsSite, fetcher: Fetcher) -> None:
    with pytest.raises(NotHtml, match="application/rss\\+xml"):
        await fetcher.page(site.url("/feeds/news.rss"))


async def test_a_missing_page_is_its_status(site: NewsSite, fetcher: Fetcher) -> None:
    with pytest.raises(HttpStatus) as caught:
        await fetcher.page(site.url("/news/no-such-story"))
    assert caught.value.status == 404 and caught.value.reason == "http_status"


# --- where the fetcher goes -----------------------------------------------------------------


async def test_a_redirect_within_the_site_is_followed(site: NewsSite, fetcher: Fetcher) -> None:
    fetched = await fetcher.page(site.url("/moved"))
    assert fetched.url == site.url("/news/ceasefire-talks-resume")
    assert site.site_hits("/news/ceasefire-talks-resume") >= 1


async def test_a_redirect_to_another_origin_is_never_followed(
    site: NewsSite, fetcher: Fetcher
) -> None:
    with pytest.raises(OffSite, match="is not one of VIEWCOUNT_SITES"):
        await fetcher.page(site.url("/away"))
    assert_nothing_elsewhere(site)


async def test_a_redirect_loop_ends(site: NewsSite) -> None:
    async with Fetcher(discovery_settings(site, fetch_max_redirects=3)) as fetcher:
        before = site.site_hits("/loop")
        with pytest.raises(TooManyRedirects, match="more than 3 redirects"):
            await fetcher.page(site.url("/loop"))
    assert site.site_hits("/loop") - before == 4  # the first request and three redirects


@pytest.mark.parametrize(
    "trick",
    [
        "http://127.0.0.1:{site}@127.0.0.1:{other}/news/elsewhere",  # userinfo: host is other
        "http://user@127.0.0.1:{site}/news/ceasefire-talks-resume",  # userinfo at all
        "http://127.0.0.1:{other}\\@127.0.0.1:{site}/news/elsewhere",  # parsers disagree
        "http://127.0.0.1:{other}/news/elsewhere",
        "https://127.0.0.1:{site}/news/ceasefire-talks-resume",  # another scheme
        "file:///etc/passwd",
        "http://127.0.0.1:{site}/news/\nx",
    ],
)
async def test_urls_off_the_sites_are_refused_before_any_request(
    site: NewsSite, fetcher: Fetcher, trick: str
) -> None:
    url = trick.format(site=site.site_port, other=site.other_port)
    with pytest.raises(OffSite):
        await fetcher.page(url)
    with pytest.raises(OffSite):
        await fetcher.feed(url)
    assert_nothing_elsewhere(site)
    assert fetcher.in_flight == 0


async def test_a_page_that_trickles_is_dropped_at_the_time_limit(
    site: NewsSite, fetcher: Fetcher
) -> None:
    started = time.monotonic()
    with pytest.raises(TooSlow, match=f"within {TIMEOUT_S:g} s"):
        await fetcher.page(site.url("/slow"))
    assert TIMEOUT_S - 0.1 <= time.monotonic() - started < TIMEOUT_S + 1.0


async def test_fetches_in_flight_are_bounded_per_process(site: NewsSite) -> None:
    """Two trickling pages with one slot: the second waits, then gets its own whole limit."""
    settings = discovery_settings(site, fetch_concurrency=1, fetch_timeout_s=0.5)
    async with Fetcher(settings) as fetcher:
        started = time.monotonic()
        slow = [fetcher.page(site.url("/slow")) for _ in range(2)]
        results = await asyncio.gather(*slow, return_exceptions=True)
        assert all(isinstance(result, TooSlow) for result in results)
        assert time.monotonic() - started >= 0.95 and fetcher.in_flight == 0


async def test_a_five_megabyte_page_is_refused(site: NewsSite, fetcher: Fetcher) -> None:
    with pytest.raises(TooLarge, match="over the 2097152"):
        await fetcher.page(site.url("/news/big-story"))


async def test_a_gzip_bomb_stops_at_the_limit_of_decompressed_bytes(
    site: NewsSite, fetcher: Fetcher
) -> None:
    started = time.monotonic()
    with pytest.raises(TooLarge, match="over the 2097152-byte limit"):
        await fetcher.page(site.url("/gzip-bomb"))
    assert time.monotonic() - started < 1.0  # 50 MB were never inflated


async def test_a_page_under_the_limit_is_read_whole(site: NewsSite) -> None:
    async with Fetcher(discovery_settings(site, fetch_max_bytes=6 * 1024 * 1024)) as fetcher:
        fetched = await fetcher.page(site.url("/news/big-story"))
    assert len(fetched.body) > 5 * 1024 * 1024
    with pytest.raises(NoArticleMetadata):  # it is a copy of the home page, padded
        read_page(fetched.body, fetched.charset, max_jsonld_bytes=65536)


# --- feeds and sitemaps ---------------------------------------------------------------------


async def test_an_rss_feed_lists_the_sites_articles(site: NewsSite, fetcher: Fetcher) -> None:
    result = await FeedReader(fetcher).read(site.url("/feeds/news.rss"))
    (read,) = result.reads
    assert read.document is not None and read.document.kind == "rss20"
    assert [(e.article, e.title, e.section, e.published_at) for e in result.entries] == [
        (
            "ceasefire-talks-resume",
            "Ceasefire talks resume in Geneva",
            "World Politics",
            "2026-11-27T07:35:00Z",
        ),
        ("budget-vote-delayed", "Budget vote delayed", "Économie", "2026-11-27T09:00:00Z"),
    ]
    assert read.document.skipped == 2  # another site's story, and the front page (no id)


async def test_an_atom_feed(site: NewsSite, fetcher: Fetcher) -> None:
    result = await FeedReader(fetcher).read(site.url("/feeds/news.atom"))
    (entry,) = result.entries
    assert (entry.article, entry.title, entry.section, entry.author_name, entry.published_at) == (
        "flood-warnings-issued",
        "Flood warnings issued",  # the markup in its HTML title is dropped
        "weather",
        "Bo Weather",
        "2026-11-28T06:00:00Z",
    )


async def test_a_news_sitemap(site: NewsSite, fetcher: Fetcher) -> None:
    result = await FeedReader(fetcher).read(site.url("/sitemaps/news.xml"))
    assert [(e.article, e.title, e.published_at) for e in result.entries] == [
        ("ceasefire-talks-resume", "Ceasefire talks resume in Geneva", "2026-11-27T07:35:00Z"),
        ("plain-sitemap-entry", None, None),  # a plain sitemap URL: its page has the title
    ]


async def test_a_sitemap_index_is_read_one_level_down(site: NewsSite, fetcher: Fetcher) -> None:
    result = await FeedReader(fetcher).read(site.url("/sitemaps/index.xml"))
    index = result.reads[0].document
    assert index is not None and index.kind == "sitemapindex" and index.skipped == 1
    assert [e.article for e in result.entries] == ["ceasefire-talks-resume", "plain-sitemap-entry"]
    (missing,) = result.failures  # the one child that is not there does not hide the other
    assert isinstance(missing, HttpStatus) and missing.status == 404
    assert_nothing_elsewhere(site)  # the child on another origin was never asked for


async def test_a_feed_read_again_is_a_conditional_get(site: NewsSite, fetcher: Fetcher) -> None:
    reader = FeedReader(fetcher)
    url = site.url("/feeds/news.rss")
    first = (await reader.read(url)).reads[0]
    assert first.validators.etag and first.validators.last_modified
    again = (await reader.read(url)).reads[0]
    assert again.document is None  # nginx answered 304 Not Modified
    assert again.validators == first.validators == reader.validators[url]
    # Without validators the same feed is read whole.
    assert (await FeedReader(fetcher).read(url)).reads[0].document is not None


@pytest.mark.parametrize(
    ("path", "error", "words"),
    [
        ("/feeds/bomb.rss", XmlForbidden, "entity declarations"),
        ("/feeds/xxe.rss", XmlForbidden, "entity declarations"),
        ("/feeds/broken.rss", NotXml, "not well-formed XML"),
        ("/feeds/wrong-type", NotXml, "Content-Type text/html"),
        ("/feeds/home.xml", NotFeed, "root <html>"),
        ("/away", OffSite, "not one of VIEWCOUNT_SITES"),
        ("/slow", TooSlow, "no whole answer"),
    ],
)
async def test_a_bad_feed_is_a_clear_error_and_changes_nothing(
    site: NewsSite, fetcher: Fetcher, path: str, error: type[DiscoveryError], words: str
) -> None:
    good = site.url("/feeds/news.rss")
    reader = FeedReader(fetcher, {good: Validators('"kept"', "Fri, 27 Nov 2026 07:35:00 GMT")})
    started = time.monotonic()
    with pytest.raises(error, match=words) as caught:
        await reader.read(site.url(path))
    assert caught.value.url and caught.value.reason == error.reason
    assert reader.validators == {good: Validators('"kept"', "Fri, 27 Nov 2026 07:35:00 GMT")}
    assert time.monotonic() - started < TIMEOUT_S + 1.0  # the bomb was never expanded
    assert_nothing_elsewhere(site)
