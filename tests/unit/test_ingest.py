"""A beacon from bytes to fields: bodies, fields, and the client address behind proxies."""

from __future__ import annotations

from ..support import make_settings


def test_only_the_last_forwarded_hops_are_read() -> None:
    """Behind trusted proxies the client is found walking back from the nearest hop; a trusted
    peer's header of thousands of entries is read no further than the last few."""
    from service.ingest import client_ip

    trusted = make_settings("redis://unused", trusted_proxies="10.0.0.0/8", max_forwarded_hops=16)
    chain = "198.51.100.9, 10.0.0.2, 10.0.0.3"
    assert client_ip("10.0.0.4", chain, trusted) == "198.51.100.9"
    assert client_ip("203.0.113.1", chain, trusted) == "203.0.113.1"  # an untrusted peer
    hops = [f"10.1.{n // 250}.{n % 250}" for n in range(1500)]  # every one trusted
    # Sixteen entries are read, all trusted: the walk stops at the oldest of them.
    assert client_ip("10.0.0.4", ", ".join(["198.51.100.9", *hops]), trusted) == hops[-16]
    assert client_ip("10.0.0.4", ", ".join([*hops, "198.51.100.9"]), trusted) == "198.51.100.9"
