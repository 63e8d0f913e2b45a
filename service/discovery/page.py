"""An article's metadata from its own page: JSON-LD NewsArticle/Article, else Open Graph."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

from ..catalog import MAX_TITLE, MAX_URL
from .errors import NoArticleMetadata
from .fields import MAX_AUTHOR_NAME, clean_text, normalize_time

# schema.org's Article and the subtypes newsrooms use for their stories.
ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "AnalysisNewsArticle",
        "BackgroundNewsArticle",
        "OpinionNewsArticle",
        "ReportageNewsArticle",
        "ReviewNewsArticle",
        "BlogPosting",
        "LiveBlogPosting",
    }
)
MAX_SECTION = 200
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.I
)


@dataclass(frozen=True, slots=True)
class PageMeta:
    """What the page says of itself; ``source`` is ``json-ld`` or ``open-graph``."""

    title: str
    section: str | None
    author_name: str | None
    published_at: str | None  # RFC 3339 UTC
    canonical_url: str | None
    source: str


def read_page(
    body: bytes, charset: str | None, *, max_jsonld_bytes: int, page_url: str | None = None
) -> PageMeta:
    """The article a page describes; NoArticleMetadata when it describes none.

    ``page_url`` resolves a relative <link rel=canonical>."""
    tree = LexborHTMLParser(decode_html(body, charset))
    canonical = _canonical(tree, page_url)
    found = _from_json_ld(tree, max_jsonld_bytes, canonical) or _from_open_graph(tree, canonical)
    if found is None:
        raise NoArticleMetadata("no JSON-LD Article or NewsArticle, no og:type article")
    return found


def decode_html(body: bytes, charset: str | None) -> str:
    """The page as text: a BOM, else the Content-Type charset, else <meta charset>, else UTF-8."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    sniffed = _META_CHARSET.search(body[:2048])
    for label in (charset, sniffed.group(1).decode() if sniffed else None):
        if label:
            try:
                return body.decode(codecs.lookup(label).name, errors="replace")
            except LookupError:
                continue
    return body.decode("utf-8", errors="replace")


def _from_json_ld(tree: LexborHTMLParser, max_bytes: int, canonical: str | None) -> PageMeta | None:
    for node in tree.css("script"):
        kind = (node.attributes.get("type") or "").split(";")[0].strip().lower()
        text = node.text() if kind == "application/ld+json" else ""
        if not text or len(text) > max_bytes:
            continue
        try:
            data = json.loads(text, strict=False)  # CMSs leave raw newlines in strings
        except (ValueError, RecursionError):
            continue  # one broken block must not hide a good one
        for item in _items(data):
            meta = _article_of(item, canonical)
            if meta is not None:
                return meta
    return None


def _items(data: object) -> Iterator[dict[str, Any]]:
    """The objects of a JSON-LD block: itself, a top-level list, and any @graph."""
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict):
            yield item
            graph = item.get("@graph")
            if isinstance(graph, list):
                yield from (node for node in graph if isinstance(node, dict))


def _article_of(item: dict[str, Any], canonical: str | None) -> PageMeta | None:
    types = item.get("@type")
    names = types if isinstance(types, list) else [types]
    # "NewsArticle", "schema:NewsArticle" and "https://schema.org/NewsArticle" are one type.
    if not any(isinstance(t, str) and re.split(r"[/:#]", t)[-1] in ARTICLE_TYPES for t in names):
        return None
    title = clean_text(item.get("headline"), MAX_TITLE) or clean_text(item.get("name"), MAX_TITLE)
    if title is None:
        return None
    return PageMeta(
        title=title,
        section=clean_text(_first(item.get("articleSection")), MAX_SECTION),
        author_name=_author_name(item.get("author")),
        published_at=normalize_time(item.get("datePublished")),
        canonical_url=canonical or _url(item.get("mainEntityOfPage")) or _url(item.get("url")),
        source="json-ld",
    )


def _author_name(value: object) -> str | None:
    first = _first(value)
    if isinstance(first, dict):
        first = first.get("name")
    return clean_text(first, MAX_AUTHOR_NAME)


def _from_open_graph(tree: LexborHTMLParser, canonical: str | None) -> PageMeta | None:
    meta: dict[str, str] = {}
    for node in tree.css("meta"):
        name = (node.attributes.get("property") or node.attributes.get("name") or "").lower()
        content = node.attributes.get("content")
        if name and content and name not in meta:
            meta[name] = content
    # A home page or a section front says og:type website: not an article.
    if meta.get("og:type", "").strip().lower() != "article":
        return None
    title_node = tree.css_first("title")
    title = clean_text(meta.get("og:title"), MAX_TITLE) or clean_text(
        title_node.text() if title_node else None, MAX_TITLE
    )
    if title is None:
        return None
    # OGP's article:author is often a profile URL, not a name: then <meta name=author> names.
    authors = (meta.get("article:author"), meta.get("author"))
    author = next((a for a in authors if a and not a.startswith(("http:", "https:"))), None)
    return PageMeta(
        title=title,
        section=clean_text(meta.get("article:section"), MAX_SECTION),
        author_name=clean_text(author, MAX_AUTHOR_NAME),
        published_at=normalize_time(meta.get("article:published_time")),
        canonical_url=canonical or _url(meta.get("og:url")),
        source="open-graph",
    )


def _canonical(tree: LexborHTMLParser, page_url: str | None) -> str | None:
    for node in tree.css("link[href]"):
        if "canonical" in (node.attributes.get("rel") or "").lower().split():
            href = (node.attributes.get("href") or "").strip()
            return _url(urljoin(page_url, href) if page_url and href else href)
    return None


def _first(value: object) -> object:
    return value[0] if isinstance(value, list) and value else value


def _url(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("@id") or value.get("url")
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value.strip() if len(value) <= MAX_URL else None
    return None
