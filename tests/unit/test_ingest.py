"""A beacon from bytes to fields: bodies, fields, and the client address behind proxies."""

from __future__ import annotations

import pytest

from service.errors import InvalidArticleId, InvalidBody, UnsupportedMediaType
from service.ingest import beacon_fields, client_ip, client_network, parse_beacon

from ..support import make_settings


def test_only_the_last_forwarded_hops_are_read() -> None:
    """Behind trusted proxies the client is found walking back from the nearest hop; a trusted
    peer's header of thousands of entries is read no further than the last few."""
    trusted = make_settings("redis://unused", trusted_proxies="10.0.0.0/8", max_forwarded_hops=16)
    chain = "198.51.100.9, 10.0.0.2, 10.0.0.3"
    assert client_ip("10.0.0.4", chain, trusted) == "198.51.100.9"
    assert client_ip("203.0.113.1", chain, trusted) == "203.0.113.1"  # an untrusted peer
    hops = [f"10.1.{n // 250}.{n % 250}" for n in range(1500)]  # every one trusted
    # Sixteen entries are read, all trusted: the walk stops at the oldest of them.
    assert client_ip("10.0.0.4", ", ".join(["198.51.100.9", *hops]), trusted) == hops[-16]
    assert client_ip("10.0.0.4", ", ".join([*hops, "198.51.100.9"]), trusted) == "198.51.100.9"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"article": "a1", "visitor": "v"}', "application/json"),
        (b'{"article": "a1", "visitor": "v"}', "text/plain;charset=UTF-8"),  # sendBeacon's
        (b'{"article": "a1", "visitor": "v"}', ""),
        (b"article=a1&visitor=v&article=a2", "application/x-www-form-urlencoded"),
    ],
)
def test_beacon_bodies_of_each_media_type(body: bytes, content_type: str) -> None:
    fields = parse_beacon(body, content_type)
    assert beacon_fields(fields) == ("a1", None, "v")


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"{", "application/json", InvalidBody),
        (b"[1]", "application/json", InvalidBody),
        (b"\xff=1", "application/x-www-form-urlencoded", InvalidBody),
        (b"article=a1", "multipart/form-data", UnsupportedMediaType),
    ],
)
def test_beacon_bodies_that_are_refused(body: bytes, content_type: str, error: type) -> None:
    with pytest.raises(error):
        parse_beacon(body, content_type)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "'article' is required"),
        ({"article": 7}, "'article' must be a string"),
        ({"article": "a1", "event_id": ""}, "'event_id' must be a string of 1-64"),
        ({"article": "a1", "event_id": "e" * 65}, "'event_id' must be a string of 1-64"),
        ({"article": "a1", "visitor": ["v"]}, "'visitor' must be a string of 1-128"),
    ],
)
def test_beacon_fields_are_checked(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidBody, match=message):
        beacon_fields(fields)


def test_beacon_article_ids_are_validated() -> None:
    assert beacon_fields({"article": "a" * 200, "event_id": "e" * 64})[1] == "e" * 64
    for bad in ("", "a" * 201, "a:b", "{a}", "a b", "é"):
        with pytest.raises(InvalidArticleId):
            beacon_fields({"article": bad})


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    untrusting = make_settings("redis://unused")
    assert client_ip("203.0.113.1", "198.51.100.9", untrusting) == "203.0.113.1"
    trusted = make_settings("redis://unused", trusted_proxies="10.0.0.0/8, fd00::/8")
    assert client_ip("fd00::1", "2001:db8::7", trusted) == "2001:db8::7"
    assert client_ip("10.0.0.1", "not-an-address, 10.0.0.2", trusted) == "not-an-address"
    assert client_ip(None, None, trusted) == ""


@pytest.mark.parametrize(
    ("address", "v4", "v6", "network"),
    [
        ("198.51.100.7", 32, 64, "198.51.100.7/32"),
        ("::ffff:198.51.100.7", 32, 64, "198.51.100.7/32"),  # IPv4-mapped IPv6 is IPv4
        ("198.51.100.7", 24, 64, "198.51.100.0/24"),
        ("198.51.100.7", 20, 64, "198.51.96.0/20"),  # off a byte boundary
        ("2001:db8:77:1:a:b:c:d", 32, 64, "2001:db8:77:1::/64"),
        ("2001:db8:77:1:a:b:c:d", 32, 48, "2001:db8:77::/48"),
        ("2001:db8:77:1f:a:b:c:d", 32, 60, "2001:db8:77:10::/60"),
        ("2001:db8::1", 32, 128, "2001:db8::1/128"),
        ("not-an-address", 32, 64, "not-an-address"),  # its own network
        ("10.0.0.300", 32, 64, "10.0.0.300"),
    ],
)
def test_client_networks(address: str, v4: int, v6: int, network: str) -> None:
    assert client_network(address, v4, v6) == network
