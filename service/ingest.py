"""A view event from bytes to counters: parse, validate, identify the reader, detect bots."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from . import keys
from .bots import BotDetector
from .errors import InvalidArticleId, InvalidBody, UnsupportedMediaType
from .settings import Settings
from .storage import Storage, ops
from .validate import article_id

MAX_EVENT_ID = 64
MAX_VISITOR = 128
MAX_URL = 2048  # catalog.MAX_URL: a longer page URL could not be stored
SALT_TTL_S = 2 * 86400


HUMAN, BOT, AUTOMATED = "v", "b", "a"  # a view's kind, as record.lua reads it


@dataclass(slots=True)
class View:
    """One view on its way to Redis. Holds digests only: never a raw IP, User-Agent, visitor
    or event id."""

    article: str
    at: float
    kind: str = HUMAN  # HUMAN counts; BOT and AUTOMATED are counted apart
    event: str | None = None  # keyed digest of the event id (hex)
    reader: bytes | None = None  # keyed digest of the reader (dedupe, unique readers)
    client: bytes | None = None  # keyed digest of the client IP (rate limit)
    dedupe: bool = True  # beacons: one view per reader per window; batches: event ids only


# --- bodies -----------------------------------------------------------------------------------
def parse_beacon(body: bytes, content_type: str) -> dict[str, Any]:
    """The beacon fields from a JSON, text/plain JSON or form body."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/json", "text/plain", ""):
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidBody("the body is not valid JSON") from exc
        if not isinstance(fields, dict):
            raise InvalidBody("the body must be a JSON object")
        return fields
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qs(
                body.decode("utf-8", "strict"), strict_parsing=False, max_num_fields=16
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidBody("the form body is not valid UTF-8 url-encoding") from exc
        return {name: values[0] for name, values in pairs.items()}
    raise UnsupportedMediaType(
        "send application/json, text/plain (JSON) or application/x-www-form-urlencoded"
    )


def beacon_fields(fields: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """Checked (article, event_id, visitor) of a beacon; without ``article``, the last path
    segment of its ``url``."""
    if "article" not in fields:
        url = fields.get("url")
        if not isinstance(url, str) or not url:
            raise InvalidBody("the field 'article' is required (or a 'url' that ends in it)")
        return (
            article_from_url(url),
            optional_text(fields, "event_id", MAX_EVENT_ID),
            optional_text(fields, "visitor", MAX_VISITOR),
        )
    raw_article = fields["article"]
    if not isinstance(raw_article, str):
        raise InvalidBody("the field 'article' must be a string")
    return (
        article_id(raw_article),
        optional_text(fields, "event_id", MAX_EVENT_ID),
        optional_text(fields, "visitor", MAX_VISITOR),
    )


def beacon_url(fields: dict[str, Any]) -> str | None:
    """The page's canonical URL a beacon may carry (checked against the sites only when its
    article is not in the catalog)."""
    return optional_text(fields, "url", MAX_URL)


def article_from_url(url: str) -> str:
    """The article id a beacon's ``url`` names: its last path segment."""
    from .discovery.urls import article_id_from_url  # httpx only when a beacon needs it

    article = article_id_from_url(url[:MAX_URL])
    if article is None:
        raise InvalidArticleId(
            "no 'article', and the last path segment of 'url' is not an article id "
            "(1-200 characters from A-Z a-z 0-9 . _ ~ -)"
        )
    return article


def optional_text(fields: dict[str, Any], name: str, max_len: int) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise InvalidBody(f"the field '{name}' must be a string of 1-{max_len} characters")
    return value


# --- who is reading ---------------------------------------------------------------------------
_bots = BotDetector()


def is_bot(user_agent: str) -> bool:
    """Known crawlers, bots and headless browsers; an empty User-Agent is a script too."""
    if not user_agent.strip():
        return True
    return _bots.is_crawler(user_agent)


def kind_of(user_agent: bytes, max_chars: int, min_chars: int = 0) -> str:
    """HUMAN, BOT, or AUTOMATED: a User-Agent over ``max_chars`` (no browser sends one;
    Wikimedia's automated-actor rules draw the line at 400), or one under ``min_chars`` that
    is no known crawler (Wikimedia: under 25). Detection reads no more than ``max_chars``, so
    its cost is bounded whatever the header holds."""
    if len(user_agent) > max_chars:
        return AUTOMATED
    if is_bot(user_agent.decode("latin-1")):
        return BOT
    return AUTOMATED if len(user_agent) < min_chars else HUMAN


_MAPPED = b"\x00" * 10 + b"\xff\xff"  # ::ffff:a.b.c.d


def client_network(ip: str, prefix_v4: int, prefix_v6: int) -> str:
    """The client network of an address, as text: IPv4 truncated to ``prefix_v4`` bits, IPv6
    to ``prefix_v6`` (an IPv4-mapped IPv6 address is IPv4). One home connection or cloud
    server holding a whole IPv6 /64 is one client. An address that does not parse is its own
    network (the socket peer of a test, a Unix socket). Prefixes on a byte boundary (the
    defaults) are cut by slicing: this runs once per beacon, on addresses too many to cache."""
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
    except (OSError, ValueError):
        return ip
    if len(packed) == 16 and packed[:12] == _MAPPED:
        packed = packed[12:]
    if len(packed) == 4:
        family, bits, prefix = socket.AF_INET, 32, prefix_v4
    else:
        family, bits, prefix = socket.AF_INET6, 128, prefix_v6
    if prefix % 8 == 0:
        kept = prefix // 8
        packed = packed[:kept] + bytes(bits // 8 - kept)
    else:
        value = int.from_bytes(packed, "big") >> (bits - prefix) << (bits - prefix)
        packed = value.to_bytes(bits // 8, "big")
    return f"{socket.inet_ntop(family, packed)}/{prefix}"


def client_ip(peer: str | None, forwarded_for: str | None, settings: Settings) -> str:
    """The socket peer, or the X-Forwarded-For entry a trusted proxy added.

    Only the last VIEWCOUNT_MAX_FORWARDED_HOPS entries are read: no chain of real proxies is
    longer, and a trusted peer forwarding a header of thousands of entries (within the head
    limit) would otherwise have every one of them checked."""
    ip = peer or ""
    networks = settings.proxy_networks
    if not networks or not forwarded_for:
        return ip
    limit = settings.max_forwarded_hops
    tail = forwarded_for.rsplit(",", limit)[-limit:]
    hops = [h.strip() for h in tail if h.strip()]
    # Walk back from the nearest hop while the sender is one of our proxies.
    while hops and _trusted(ip, networks):
        ip = hops.pop()
    return ip


def _trusted(ip: str, networks: tuple[Any, ...]) -> bool:
    # inet_pton and integer masks: ipaddress.ip_address() cost more than the rest of a beacon.
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
    except (OSError, ValueError):  # e.g. a scoped IPv6 address: the thorough parser decides
        return _trusted_slowly(ip, networks)
    value = int.from_bytes(packed, "big")
    return any(
        version == len(packed) and value & mask == base for version, base, mask in _ranges(networks)
    )


_ranges_of: list[Any] = [None, ()]  # the networks last asked about, and their ranges


def _ranges(networks: tuple[Any, ...]) -> tuple[tuple[int, int, int], ...]:
    """(address length in bytes, network, mask) of each trusted network."""
    if _ranges_of[0] is not networks:  # one settings object per process: computed once
        _ranges_of[1] = tuple(
            (net.max_prefixlen // 8, int(net.network_address), int(net.netmask)) for net in networks
        )
        _ranges_of[0] = networks
    ranges: tuple[tuple[int, int, int], ...] = _ranges_of[1]
    return ranges


def _trusted_slowly(ip: str, networks: tuple[Any, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in networks)


class Salts:
    """The daily salt that keys every reader digest, shared by all processes through Redis.

    Mixed with the secret (see Identity): a dump of Redis holds the salt but not the secret, so
    it reveals no reader; and a salt expires after two days, so even the secret and a dump
    together cannot link the readers of older days."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._day = -1
        self._key = b""

    async def for_day(self, day: int) -> bytes:
        if day != self._day:
            fresh = os.urandom(32).hex()
            stored = await self.storage.one(ops.set_once(keys.salt(day), fresh, SALT_TTL_S))
            self._key, self._day = bytes.fromhex(stored or fresh), day
        return self._key


class Identity:
    """Keyed digests of who sent a view, the only form in which a client reaches Redis.

    Every digest is keyed by VIEWCOUNT_SECRET, which Redis never holds, so enumerating the
    2^32 IPv4 addresses against a dump finds nothing. A reader (IP, User-Agent and visitor)
    is keyed by the day's salt too: readers are not linkable from one day to the next. A client
    (the address alone, for the rate limit) keeps its digest across midnight, so a limit does
    not reset when the day changes.
    """

    def __init__(self, secret: bytes, salts: Salts) -> None:
        self.secret = secret
        self.salts = salts
        self._day = -1
        self._reader_key = b""

    async def reader_key(self, day: int) -> bytes:
        """The key of the day's reader digests: its salt, keyed by the secret."""
        if day != self._day:
            salt = await self.salts.for_day(day)
            self._reader_key = hashlib.blake2b(salt, key=self.secret, person=b"reader").digest()
            self._day = day
        return self._reader_key

    def client(self, ip: str) -> bytes:
        return client_digest(self.secret, ip)

    def event(self, article: str, event_id: str) -> str:
        return event_digest(self.secret, article, event_id)


def reader_digest(key: bytes, ip: str, user_agent: str, visitor: str | None) -> bytes:
    material = f"{ip}\0{user_agent}\0{visitor or ''}".encode()
    return hashlib.blake2b(material, key=key, digest_size=16).digest()


def client_digest(secret: bytes, ip: str) -> bytes:
    return hashlib.blake2b(ip.encode(), key=secret, digest_size=12, person=b"client").digest()


def event_digest(secret: bytes, article: str, event_id: str) -> str:
    """The digest an event id's idempotency marker is named by (keys.event)."""
    material = f"{article}\0{event_id}".encode()
    return hashlib.blake2b(material, key=secret, digest_size=16, person=b"event").hexdigest()
