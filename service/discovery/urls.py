"""The publisher's origins (VIEWCOUNT_SITES): the check every fetched URL passes first, and the
article id a URL names."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx

from ..validate import is_article_id
from .errors import OffSite

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_CHARS = 2048  # catalog.MAX_URL: a longer URL could not be stored anyway


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host (lowercase, IDNA-encoded; IPv6 without brackets) and port, explicit."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if DEFAULT_PORTS[self.scheme] == self.port:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"


def parse_url(text: object) -> httpx.URL:
    """The URL exactly as httpx will request it; OffSite unless a plain absolute http(s) URL."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_URL_CHARS:
        raise OffSite(f"a URL of 1-{MAX_URL_CHARS} characters is required")
    # Backslashes and whitespace are where URL parsers disagree about the host.
    if any(c.isspace() or ord(c) < 32 or c in "\\\x7f" for c in text):
        raise OffSite("a URL with whitespace, control characters or a backslash", url=text)
    try:
        url = httpx.URL(text)
        second_opinion = urlsplit(text)
        second_port = second_opinion.port
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise OffSite(f"not a URL: {exc}", url=text) from exc
    if url.scheme not in DEFAULT_PORTS or not url.raw_host:
        raise OffSite("only absolute http and https URLs are fetched", url=text)
    if url.userinfo or second_opinion.username is not None:
        raise OffSite("a URL with userinfo (user@host) is never fetched", url=text)
    # The host the check below sees must be the host httpx connects to: ask a second parser.
    # urlsplit keeps a host as written (Unicode or xn--), httpx has both; it drops an explicit
    # default port, urlsplit keeps it.
    hosts = (url.host.lower(), url.raw_host.decode("ascii").lower())
    default = DEFAULT_PORTS[url.scheme]
    if second_opinion.hostname not in hosts or (second_port or default) != (url.port or default):
        raise OffSite("URL parsers disagree about its host", url=text)
    return url


def origin_of(url: httpx.URL) -> Origin:
    port = url.port or DEFAULT_PORTS[url.scheme]
    return Origin(url.scheme, url.raw_host.decode("ascii").lower(), port)


def parse_sites(text: str) -> frozenset[Origin]:
    """VIEWCOUNT_SITES, comma-separated origins; ValueError naming the first bad one."""
    sites = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            url = parse_url(item)
        except OffSite as exc:
            raise ValueError(f"{item!r} is not an origin: {exc.detail}") from None
        if url.raw_path not in (b"", b"/") or url.fragment:
            raise ValueError(f"{item!r} is not an origin: scheme://host[:port] only, no path")
        sites.add(origin_of(url))
    return frozenset(sites)


def feed_urls(feeds: str, sites: str) -> tuple[str, ...]:
    """VIEWCOUNT_FEEDS as URLs, each on one of VIEWCOUNT_SITES; ValueError naming the first not."""
    origins = parse_sites(sites)
    urls = []
    for item in (part.strip() for part in feeds.split(",")):
        if not item:
            continue
        try:
            urls.append(str(allowed_url(item, origins)))
        except OffSite as exc:
            raise ValueError(f"feed {item!r}: {exc.detail}") from None
    return tuple(urls)


def allowed_url(text: object, sites: frozenset[Origin]) -> httpx.URL:
    """``text`` as the URL to request when its origin is one of ``sites``; OffSite otherwise."""
    url = parse_url(text)
    origin = origin_of(url)
    if origin not in sites:
        raise OffSite(f"{origin} is not one of VIEWCOUNT_SITES", url=str(text))
    return url.copy_with(fragment=None)


def is_allowed(text: object, sites: frozenset[Origin]) -> bool:
    try:
        allowed_url(text, sites)
    except OffSite:
        return False
    return True


def article_id_from_url(url: str) -> str | None:
    """The last non-empty path segment, percent-decoded, when it is a valid article id."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    segment = unquote(path.rstrip("/").rpartition("/")[2])
    return segment if is_article_id(segment) else None
