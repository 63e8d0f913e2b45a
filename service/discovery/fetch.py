"""The page fetcher: GET from the publisher's own origins only, bounded in time, bytes,
redirects and fetches in flight.

Where it connects: only to a host and port that VIEWCOUNT_SITES lists, checked on the URL as
httpx will request it (after IDNA, lowercase, default ports; userinfo refused) and again on
every redirect, which it follows itself. It resolves that host with the system resolver and
does not look at the address: an operator may well list an origin on a private network (tests
use 127.0.0.1), and a listed hostname is the operator's own, so DNS rebinding by its owner is
out of scope. Nothing else a page says (links, canonical URLs, JSON-LD) is ever fetched unless
it passes the same check. No proxy or .netrc from the environment, no cookies kept, only gzip
or identity bodies (decompressed here, so the byte limit holds on what is decompressed).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType

import httpx

from ..settings import Settings
from .errors import (
    BadEncoding,
    DiscoveryError,
    HttpStatus,
    NotHtml,
    NotXml,
    TooLarge,
    TooManyRedirects,
    TooSlow,
    Unreachable,
)
from .urls import Origin, allowed_url, parse_sites

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
XML_TYPES = frozenset(
    {
        "application/xml",
        "text/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/x-rss+xml",
    }
)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9"
XML_ACCEPT = "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.8"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A body read whole within the limits, or a 304 (``body`` empty) to a conditional GET."""

    url: str  # after redirects
    status: int
    media_type: str
    charset: str | None
    body: bytes
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Fetcher:
    """One per process: its semaphore is VIEWCOUNT_FETCH_CONCURRENCY for the whole process."""

    def __init__(self, settings: Settings) -> None:
        self.sites: frozenset[Origin] = parse_sites(settings.sites)
        self.timeout_s = settings.fetch_timeout_s
        self.page_max_bytes = settings.fetch_max_bytes
        self.feed_max_bytes = settings.feed_max_bytes
        self.max_redirects = settings.fetch_max_redirects
        self._slots = asyncio.Semaphore(settings.fetch_concurrency)
        self.in_flight = 0
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(settings.fetch_timeout_s),
            limits=httpx.Limits(
                max_connections=settings.fetch_concurrency,
                max_keepalive_connections=settings.fetch_concurrency,
            ),
            headers={"User-Agent": settings.fetch_user_agent, "Accept-Encoding": "gzip"},
        )
        # A page's Set-Cookie must not follow the fetcher to the next page.
        self._client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    async def page(self, url: str) -> Fetched:
        """An HTML page; DiscoveryError (OffSite, TooLarge, TooSlow, NotHtml, ...) otherwise."""
        headers = {"Accept": HTML_ACCEPT}
        return await self._fetch(url, headers, HTML_TYPES, self.page_max_bytes)

    async def feed(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """An XML document, conditional on the validators of the last read (a 304 is returned)."""
        headers = {"Accept": XML_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return await self._fetch(url, headers, XML_TYPES, self.feed_max_bytes)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _fetch(
        self, url: str, headers: dict[str, str], types: frozenset[str], max_bytes: int
    ) -> Fetched:
        target = allowed_url(url, self.sites)  # OffSite before waiting for a slot
        # The time limit starts once a slot is held: waiting behind other fetches is not the
        # page's fault (the caller bounds how many articles wait).
        async with self._slots:
            self.in_flight += 1
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await self._follow(target, headers, types, max_bytes)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise TooSlow(f"no whole answer within {self.timeout_s:g} s", url=url) from exc
            except httpx.TransportError as exc:
                raise Unreachable(f"{type(exc).__name__}: {exc}", url=url) from exc
            finally:
                self.in_flight -= 1

    async def _follow(
        self, target: httpx.URL, headers: dict[str, str], types: frozenset[str], max_bytes: int
    ) -> Fetched:
        for hop in range(self.max_redirects + 1):
            request = self._client.build_request("GET", target, headers=headers)
            response = await self._client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.status_code not in REDIRECTS or not location:
                    return await _read(response, types, max_bytes, headers)
            finally:
                await response.aclose()
            if hop == self.max_redirects:
                break
            try:
                joined = target.join(location)
            except (httpx.InvalidURL, ValueError) as exc:
                raise HttpStatus(
                    f"a redirect to a malformed Location: {location!r}", url=str(target)
                ) from exc
            target = allowed_url(str(joined), self.sites)  # OffSite when it leaves the sites
        raise TooManyRedirects(f"more than {self.max_redirects} redirects", url=str(target))


async def _read(
    response: httpx.Response, types: frozenset[str], max_bytes: int, sent: Mapping[str, str]
) -> Fetched:
    url, status = str(response.url), response.status_code
    etag = response.headers.get("etag")
    last_modified = response.headers.get("last-modified")
    if status == 304 and ("If-None-Match" in sent or "If-Modified-Since" in sent):
        # A 304 may omit the validators; the ones sent still describe what the caller holds.
        etag = etag or sent.get("If-None-Match")
        last_modified = last_modified or sent.get("If-Modified-Since")
        return Fetched(url, status, "", None, b"", etag, last_modified)
    if not 200 <= status < 300:
        raise HttpStatus(f"the server answered {status}", url=url, status=status)
    media_type, charset = media_type_of(response.headers.get("content-type", ""))
    if media_type not in types:
        wrong = NotHtml if types is HTML_TYPES else NotXml
        raise wrong(f"Content-Type {media_type or 'missing'}, not {sorted(types)}", url=url)
    body = await read_bounded(response, max_bytes)
    return Fetched(url, status, media_type, charset, body, etag, last_modified)


async def read_bounded(response: httpx.Response, max_bytes: int) -> bytes:
    """The decompressed body, or TooLarge as soon as it passes ``max_bytes`` (never read on)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise BadEncoding(f"Content-Encoding {encoding}", url=str(response.url))
    declared = response.headers.get("content-length", "")
    if encoding == "identity" and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"{declared} bytes, over the {max_bytes} limit", url=str(response.url))
    inflate = zlib.decompressobj(wbits=31) if encoding != "identity" else None
    chunks: list[bytes] = []
    size = 0
    try:
        async for raw in response.aiter_raw():
            # At most one byte past the limit is ever decompressed: a gzip bomb stays small.
            data = raw if inflate is None else inflate.decompress(raw, max_bytes + 1 - size)
            size += len(data)
            if size > max_bytes:
                raise TooLarge(f"over the {max_bytes}-byte limit", url=str(response.url))
            chunks.append(data)
        if inflate is not None:
            tail = inflate.flush()
            if size + len(tail) > max_bytes:
                raise TooLarge(f"over the {max_bytes}-byte limit", url=str(response.url))
            chunks.append(tail)
    except zlib.error as exc:
        detail = f"a gzip body that does not inflate: {exc}"
        raise BadEncoding(detail, url=str(response.url)) from exc
    return b"".join(chunks)


def media_type_of(content_type: str) -> tuple[str, str | None]:
    """``text/html; charset=UTF-8`` -> (``text/html``, ``utf-8``)."""
    media_type, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'").lower()
    return media_type.strip().lower(), charset


__all__ = ["DiscoveryError", "Fetched", "Fetcher", "media_type_of", "read_bounded"]
