"""The values discovery reads from pages and feeds, cleaned into what the catalog accepts."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from datetime import UTC, datetime

from ..catalog import MAX_TITLE, Article, article_from_fields
from ..clock import rfc3339
from ..errors import InvalidField
from .errors import NoArticleMetadata

MAX_AUTHOR_NAME = 100
MAX_THEME = 64
_SPACE = re.compile(r"\s+")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_TAG = re.compile(r"<[^>]{0,200}>")


def clean_text(value: object, max_chars: int) -> str | None:
    """One line of visible text: entities decoded, tags and runs of whitespace collapsed, cut."""
    if not isinstance(value, str):
        return None
    # Pages and feeds put escaped HTML in titles ("Q&amp;A", "<b>Live</b>"): show the text.
    text = _SPACE.sub(" ", _TAG.sub("", html.unescape(value))).strip()
    if len(text) > max_chars:
        text = text[:max_chars].rstrip()
    return text or None


def slug(value: object) -> str | None:
    """A theme or author slug: ``Politique & Économie`` -> ``politique-economie``."""
    if not isinstance(value, str):
        return None
    ascii_text = unicodedata.normalize("NFKD", html.unescape(value)).encode("ascii", "ignore")
    text = _NOT_SLUG.sub("-", ascii_text.decode().lower()).strip("-")
    return text[:MAX_THEME].rstrip("-") or None


def normalize_time(value: object) -> str | None:
    """An ISO 8601 time as RFC 3339 UTC (``2026-11-27T07:35:00Z``); None when unreadable.

    A time without an offset is taken as UTC: JSON-LD often omits it, and a publication time a
    few hours off sorts better than none."""
    if not isinstance(value, str) or not 10 <= len(value.strip()) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return rfc3339(parsed.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def author_slug(name: str) -> str:
    """The author list of a name: its ASCII slug, or for a name with no ASCII letters (``Олена
    Коваль``) a stable digest of it, so every page naming that author lands in one list."""
    return slug(name) or "author-" + hashlib.blake2b(name.encode(), digest_size=6).hexdigest()


def to_article(
    article_id: str,
    url: str,
    title: str | None,
    section: str | None,
    published_at: str | None,
    default_theme: str,
    author_name: str | None = None,
) -> Article:
    """The catalog entry for what a page or feed said; NoArticleMetadata when it is not enough.
    A named author gets the author list of their name's slug (``Ann Lee`` -> ``ann-lee``)."""
    fields: dict[str, object] = {
        "title": clean_text(title, MAX_TITLE),
        "url": url,
        "theme": slug(section) or default_theme,
        "published_at": published_at,
    }
    name = clean_text(author_name, MAX_AUTHOR_NAME)
    if name is not None:
        fields["author"], fields["author_name"] = author_slug(name), name
    if fields["title"] is None:
        raise NoArticleMetadata("no headline or title", url=url)
    try:
        return article_from_fields(article_id, fields)
    except InvalidField as exc:
        raise NoArticleMetadata(f"not a catalog entry: {exc}", url=url) from exc
