"""Why a page, feed or sitemap was not read: one small class per reason."""

from __future__ import annotations


class DiscoveryError(Exception):
    """A fetch or parse that gave nothing; ``reason`` is a stable snake_case word for logs and
    metrics, the message says what was wrong."""

    reason = "failed"

    def __init__(self, detail: str, *, url: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.url = url


class OffSite(DiscoveryError):
    """Not one of VIEWCOUNT_SITES: another host, port or scheme, userinfo, or a malformed URL."""

    reason = "off_site"


class TooLarge(DiscoveryError):
    reason = "too_large"


class TooSlow(DiscoveryError):
    reason = "too_slow"


class TooManyRedirects(DiscoveryError):
    reason = "too_many_redirects"


class NotHtml(DiscoveryError):
    """A page answered with another media type than HTML."""

    reason = "not_html"


class NotXml(DiscoveryError):
    """A feed or sitemap answered with another media type, or a body that is not XML."""

    reason = "not_xml"


class XmlForbidden(DiscoveryError):
    """Entity declarations or external references: an XML bomb or an attempt to read files."""

    reason = "xml_forbidden"


class NotFeed(DiscoveryError):
    """Well-formed XML, but neither RSS, Atom, RDF nor a sitemap."""

    reason = "not_feed"


class BadEncoding(DiscoveryError):
    """A Content-Encoding other than gzip or identity (the fetcher asks for those only)."""

    reason = "bad_encoding"


class HttpStatus(DiscoveryError):
    reason = "http_status"

    def __init__(self, detail: str, *, url: str | None = None, status: int = 0) -> None:
        super().__init__(detail, url=url)
        self.status = status


class Unreachable(DiscoveryError):
    """DNS, connect, TLS or a broken connection."""

    reason = "unreachable"


class NoArticleMetadata(DiscoveryError):
    """A page read whole that names no article: no JSON-LD Article, no og:type article."""

    reason = "no_article_metadata"
