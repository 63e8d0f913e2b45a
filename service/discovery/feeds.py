"""VIEWCOUNT_FEEDS: RSS 2.0, RDF and Atom feeds (feedparser) and sitemaps, Google News ones
included (defusedxml), read with conditional GETs into entries for the catalog.

Every document is parsed by defusedxml first, whatever its kind: an entity declaration (the
billion laughs, an external entity reading a file) or a body that is not well-formed XML is
refused before feedparser, which is lenient by design, ever sees it."""

from __future__ import annotations

import calendar
import io
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import defusedxml
import defusedxml.ElementTree
import feedparser

from ..catalog import MAX_TITLE
from ..clock import rfc3339
from .errors import DiscoveryError, NotFeed, NotXml, XmlForbidden
from .fetch import Fetcher
from .fields import MAX_AUTHOR_NAME, clean_text, normalize_time
from .page import MAX_SECTION
from .urls import Origin, article_id_from_url, is_allowed

FEED_ROOTS = frozenset({"rss", "RDF", "feed"})
MAX_CHILD_SITEMAPS = 50  # of one sitemap index, read one level deep


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One article a feed lists; ``title`` is None in a plain sitemap (its page has it)."""

    article: str
    url: str
    title: str | None
    section: str | None
    author_name: str | None
    published_at: str | None


@dataclass(frozen=True, slots=True)
class FeedDocument:
    kind: str  # rss20, atom10, ... (feedparser's version), sitemap, sitemapindex
    entries: tuple[FeedEntry, ...]
    sitemaps: tuple[str, ...] = ()  # a sitemap index's children
    skipped: int = 0  # entries with no link on VIEWCOUNT_SITES or no article id in it


@dataclass(frozen=True, slots=True)
class Validators:
    """What the last full read answered, sent back as If-None-Match / If-Modified-Since."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FeedRead:
    url: str
    document: FeedDocument | None  # None: 304, nothing changed since the last read
    validators: Validators


def parse_feed(body: bytes, url: str, sites: frozenset[Origin]) -> FeedDocument:
    """The entries of a feed or sitemap; NotXml, XmlForbidden or NotFeed otherwise."""
    root = _parse_xml(body, url)
    kind = _local(root.tag)
    if kind == "urlset":
        return _entries(kind, _sitemap_items(root), sites)
    if kind == "sitemapindex":
        children = [_text(s, "loc") for s in root if _local(s.tag) == "sitemap"]
        allowed = [c for c in children if c and is_allowed(c, sites)]
        return FeedDocument(
            kind, (), tuple(allowed[:MAX_CHILD_SITEMAPS]), len(children) - len(allowed)
        )
    if kind not in FEED_ROOTS:
        raise NotFeed(f"an XML document with root <{kind}>, not a feed or sitemap", url=url)
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-location": url})
    if not parsed.get("version"):
        raise NotFeed("feedparser recognised no RSS, RDF or Atom in it", url=url)
    return _entries(str(parsed["version"]), (_feed_item(e) for e in parsed.entries), sites)


def _parse_xml(body: bytes, url: str) -> ET.Element:
    try:
        root: ET.Element = defusedxml.ElementTree.fromstring(
            body, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        detail = f"entity declarations or external references are refused ({type(exc).__name__})"
        raise XmlForbidden(detail, url=url) from exc
    except ET.ParseError as exc:
        raise NotXml(f"not well-formed XML: {exc}", url=url) from exc
    return root


def _entries(kind: str, items: Iterable[dict[str, Any]], sites: frozenset[Origin]) -> FeedDocument:
    """Items with a link on the sites and an article id in it, the first of each id kept."""
    entries: dict[str, FeedEntry] = {}
    skipped = 0
    for item in items:
        link = item.get("url")
        article = article_id_from_url(link) if isinstance(link, str) else None
        if article is None or not is_allowed(link, sites):
            skipped += 1
            continue
        entries.setdefault(
            article,
            FeedEntry(
                article=article,
                url=str(link),
                title=clean_text(item.get("title"), MAX_TITLE),
                section=clean_text(item.get("section"), MAX_SECTION),
                author_name=clean_text(item.get("author"), MAX_AUTHOR_NAME),
                published_at=item.get("published_at"),
            ),
        )
    return FeedDocument(kind, tuple(entries.values()), skipped=skipped)


def _feed_item(entry: Any) -> dict[str, Any]:
    tags = entry.get("tags") or []
    first_tag = tags[0] if tags else {}
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return {
        "url": entry.get("link"),
        "title": entry.get("title"),
        "section": first_tag.get("term") or first_tag.get("label"),
        "author": _author_name(entry),
        "published_at": _struct_time(stamp),
    }


def _author_name(entry: Any) -> str | None:
    """The entry's author's name: Atom's <author><name>, RSS's <dc:creator>, or the name in RSS's
    <author>ann@example.com (Ann Lee)</author>; never an e-mail address alone."""
    detail = entry.get("author_detail") or {}
    name = detail.get("name")
    if isinstance(name, str):
        return name
    author = entry.get("author")
    return author if isinstance(author, str) and "@" not in author else None


def _sitemap_items(root: ET.Element) -> Iterator[dict[str, Any]]:
    for url in root:
        if _local(url.tag) != "url":
            continue
        news = next((child for child in url if _local(child.tag) == "news"), None)
        published = _text(news, "publication_date") if news is not None else None
        yield {
            "url": _text(url, "loc"),
            "title": _text(news, "title") if news is not None else None,
            "published_at": normalize_time(published),
        }


def _struct_time(stamp: object) -> str | None:
    if not isinstance(stamp, time.struct_time):
        return None
    try:
        return rfc3339(calendar.timegm(stamp))
    except (OverflowError, OSError, ValueError):
        return None


def _local(tag: object) -> str:
    """``{http://www.sitemaps.org/schemas/sitemap/0.9}urlset`` -> ``urlset``."""
    return str(tag).rpartition("}")[2].rpartition(":")[2]


def _text(parent: ET.Element, name: str) -> str | None:
    for child in parent:
        if _local(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


@dataclass(frozen=True, slots=True)
class FeedResult:
    """A feed's read, or a sitemap index's and its children's; ``failures`` of children only."""

    reads: tuple[FeedRead, ...]
    failures: tuple[DiscoveryError, ...] = ()

    @property
    def entries(self) -> list[FeedEntry]:
        return [e for read in self.reads if read.document for e in read.document.entries]


@dataclass
class FeedReader:
    """Reads feeds with conditional GETs; a URL's validators change only on a good read."""

    fetcher: Fetcher
    validators: dict[str, Validators] = field(default_factory=dict)

    async def read(self, url: str) -> FeedResult:
        """The feed, or a sitemap index and its children; DiscoveryError for ``url`` itself."""
        first = await self.read_one(url)
        reads, failures = [first], []
        for child in first.document.sitemaps if first.document else ():
            try:
                reads.append(await self.read_one(child))
            except DiscoveryError as exc:  # one broken child must not hide the others
                failures.append(exc)
        return FeedResult(tuple(reads), tuple(failures))

    async def read_one(self, url: str) -> FeedRead:
        known = self.validators.get(url, Validators())
        fetched = await self.fetcher.feed(url, etag=known.etag, last_modified=known.last_modified)
        validators = Validators(fetched.etag, fetched.last_modified)
        document = None
        if not fetched.not_modified:
            document = parse_feed(fetched.body, fetched.url, self.fetcher.sites)
        self.validators[url] = validators
        return FeedRead(url, document, validators)
