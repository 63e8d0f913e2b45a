"""Discovery's pure parts: the origin check, the settings, page and feed parsing, field cleaning.
(tests/test_discovery.py runs the same against a real nginx.)"""

from __future__ import annotations

import json
import os

import pytest
from pydantic import ValidationError

from service.discovery.errors import NoArticleMetadata, NotFeed, NotXml, OffSite, XmlForbidden
from service.discovery.feeds import parse_feed
from service.discovery.fields import clean_text, normalize_time, slug, to_article
from service.discovery.page import decode_html, read_page
from service.discovery.urls import allowed_url, article_id_from_url, feed_urls, parse_sites
from service.settings import Settings

SITES = parse_sites("https://news.example.com, https://Bücher.example, http://127.0.0.1:8080")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("VIEWCOUNT_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("url", "requested"),
    [
        ("https://news.example.com/news/a", "https://news.example.com/news/a"),
        ("HTTPS://NEWS.EXAMPLE.COM:443/news/a", "https://news.example.com/news/a"),
        ("https://news.example.com/news/a#comments", "https://news.example.com/news/a"),
        ("https://BÜCHER.example/a", "https://xn--bcher-kva.example/a"),
        ("https://xn--bcher-kva.example/a", "https://xn--bcher-kva.example/a"),
        ("http://127.0.0.1:8080/a?x=1", "http://127.0.0.1:8080/a?x=1"),
    ],
)
def test_a_url_on_the_sites_is_requested_as_normalised(url: str, requested: str) -> None:
    assert str(allowed_url(url, SITES)) == requested


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://news.example.com@evil.example/a", "userinfo"),
        ("https://evil.example@news.example.com/a", "userinfo"),
        ("https://:@news.example.com/a", "userinfo"),
        ("https://news.example.com\\@evil.example/a", "backslash"),
        ("https://news.example.com /a", "whitespace"),
        ("http://news.example.com/a", "is not one of"),  # another scheme
        ("https://news.example.com:8443/a", "is not one of"),  # another port
        ("https://news.example.com./a", "is not one of"),  # the trailing-dot spelling
        ("https://sub.news.example.com/a", "is not one of"),
        ("http://127.0.0.1/a", "is not one of"),
        ("http://2130706433:8080/a", "is not one of"),  # 127.0.0.1 spelled as a number
        ("//news.example.com/a", "absolute"),
        ("file:///etc/passwd", "absolute"),
        ("https://bu\u0308cher.example/a", "not a URL"),  # not NFC: no IDNA form
        ("https://" + "a" * 2100, "characters"),
        ("", "characters"),
        (None, "characters"),
    ],
)
def test_a_url_off_the_sites_is_refused(url: object, why: str) -> None:
    with pytest.raises(OffSite, match=why):
        allowed_url(url, SITES)


def test_sites_are_origins_only() -> None:
    assert str(min(parse_sites("https://News.Example.com:443/"))) == "https://news.example.com"
    for bad in ("https://news.example.com/news", "ftp://news.example.com", "news.example.com"):
        with pytest.raises(ValueError, match="is not an origin"):
            parse_sites(bad)


def test_settings_check_the_sites_and_that_every_feed_is_on_them() -> None:
    settings = Settings(sites="https://news.example.com", feeds="https://news.example.com/rss")
    assert feed_urls(settings.feeds, settings.sites) == ("https://news.example.com/rss",)
    assert Settings().sites == "" and Settings().fetch_max_redirects == 5
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(sites="https://news.example.com/path")
    with pytest.raises(ValidationError, match=r"feed 'https://other\.example/rss'"):
        Settings(sites="https://news.example.com", feeds="https://other.example/rss")
    with pytest.raises(ValidationError):
        Settings(fetch_user_agent="bad\r\nHeader: injected")
    with pytest.raises(ValidationError):
        Settings(default_theme="Not A Slug")


@pytest.mark.parametrize(
    ("url", "article"),
    [
        ("https://news.example.com/news/ceasefire-talks-resume", "ceasefire-talks-resume"),
        ("https://news.example.com/news/ceasefire-talks-resume/?utm=x", "ceasefire-talks-resume"),
        ("https://news.example.com/2026/11/a%7Eb", "a~b"),
        ("https://news.example.com/", None),
        ("https://news.example.com/news/caf%C3%A9", None),  # not an article id
    ],
)
def test_the_article_id_is_the_last_path_segment(url: str, article: str | None) -> None:
    assert article_id_from_url(url) == article


def test_field_cleaning() -> None:
    assert clean_text("  Q&amp;A:\n<b>live</b>  ", 300) == "Q&A: live"
    assert clean_text("x" * 400, 300) == "x" * 300
    assert clean_text("   ", 300) is None and clean_text(42, 300) is None
    assert slug("Politique & Économie") == "politique-economie"
    assert slug("---") is None and slug("A" * 100) == "a" * 64
    assert normalize_time("2026-11-27T09:35:00+02:00") == "2026-11-27T07:35:00Z"
    assert normalize_time("2026-11-27T09:35:00") == "2026-11-27T09:35:00Z"  # no offset: UTC
    assert normalize_time("2026-11-27") == "2026-11-27T00:00:00Z"
    assert normalize_time("yesterday") is None and normalize_time(None) is None


def test_to_article_refuses_what_the_catalog_would() -> None:
    article = to_article("a", "https://news.example.com/a", "T", None, None, "news")
    assert (article.title, article.theme) == ("T", "news")
    with pytest.raises(NoArticleMetadata, match="no headline"):
        to_article("a", "https://news.example.com/a", " <b></b> ", None, None, "news")


def test_a_named_author_gets_a_list_even_without_ascii_letters() -> None:
    url = "https://news.example.com/a"
    ann = to_article("a", url, "T", None, None, "news", " Ann  Lee ")
    assert (ann.author, ann.author_name) == ("ann-lee", "Ann Lee")
    olena = to_article("b", url, "T", None, None, "news", "Олена Коваль")
    again = to_article("c", url, "T", None, None, "news", "Олена Коваль")
    assert olena.author_name == "Олена Коваль" and olena.author == again.author
    assert olena.author is not None and olena.author.startswith("author-")
    assert to_article("d", url, "T", None, None, "news").author is None


def page(*head: str) -> bytes:
    return ("<html><head>" + "".join(head) + "</head><body></body></html>").encode()


def json_ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def test_json_ld_types_as_lists_urls_and_subtypes() -> None:
    for kind in (["Thing", "ReportageNewsArticle"], "https://schema.org/NewsArticle"):
        body = page(json_ld([{"@type": kind, "headline": "H", "author": "A. Writer"}]))
        meta = read_page(body, None, max_jsonld_bytes=4096)
        assert (meta.title, meta.author_name) == ("H", "A. Writer")


def test_an_oversized_json_ld_block_is_skipped_for_open_graph() -> None:
    huge = json_ld({"@type": "NewsArticle", "headline": "H", "body": "x" * 5000})
    og = '<meta property="og:type" content="article"><meta property="og:title" content="O">'
    meta = read_page(page(huge, og), None, max_jsonld_bytes=4096)
    assert (meta.title, meta.source) == ("O", "open-graph")


def test_pages_that_name_no_article() -> None:
    for body in (
        page(json_ld({"@type": "NewsArticle"})),  # no headline
        page(json_ld({"@type": "WebPage", "headline": "H"})),
        page('<meta property="og:title" content="Home">'),  # no og:type article
        b"",
        b"\x00\xff\xfe garbage",
    ):
        with pytest.raises(NoArticleMetadata):
            read_page(body, None, max_jsonld_bytes=4096)


def test_the_charset_comes_from_the_header_else_the_page() -> None:
    latin = '<meta charset="iso-8859-1"><title>Caf\xe9</title>'.encode("latin-1")
    assert "Café" in decode_html(latin, None)
    assert "Café" in decode_html("Café".encode(), "no-such-charset")
    assert "Café" in decode_html("Café".encode("utf-16"), None)


SITE = parse_sites("https://news.example.com")


def test_feed_parsing_refuses_what_is_not_a_feed() -> None:
    with pytest.raises(NotXml):
        parse_feed(b"<rss><channel>", "https://news.example.com/rss", SITE)
    with pytest.raises(XmlForbidden):
        parse_feed(b'<!DOCTYPE r [<!ENTITY a "b">]><rss/>', "https://news.example.com/r", SITE)
    with pytest.raises(NotFeed, match="root <html>"):
        parse_feed(b"<html/>", "https://news.example.com/rss", SITE)
    # A DOCTYPE without entities is harmless (old RSS 0.91 feeds carry one).
    rss = b'<!DOCTYPE rss><rss version="2.0"><channel><title>t</title></channel></rss>'
    assert parse_feed(rss, "https://news.example.com/rss", SITE).entries == ()


def test_feed_authors_are_names_never_e_mail_addresses() -> None:
    """RSS <author> is "e-mail (Name)": its name is kept; an address alone names no author."""
    items = [
        ("a", "<author>ann@example.com (Ann Lee)</author>"),
        ("b", "<dc:creator>Олена Коваль</dc:creator>"),
        ("c", "<author>desk@example.com</author>"),
        ("d", ""),
    ]
    rss = (
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
        + "".join(
            f"<item><title>{a}</title><link>https://news.example.com/n/{a}</link>{by}</item>"
            for a, by in items
        )
        + "</channel></rss>"
    ).encode()
    entries = parse_feed(rss, "https://news.example.com/rss", SITE).entries
    assert [(e.article, e.author_name) for e in entries] == [
        ("a", "Ann Lee"),
        ("b", "Олена Коваль"),
        ("c", None),
        ("d", None),
    ]
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><title>x</title>'
        b'<link href="https://news.example.com/n/x"/><author><name>Bo Weather</name>'
        b"<email>bo@example.com</email></author></entry></feed>"
    )
    (entry,) = parse_feed(atom, "https://news.example.com/atom", SITE).entries
    assert entry.author_name == "Bo Weather"
