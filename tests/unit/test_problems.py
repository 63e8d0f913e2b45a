"""Problem documents (api/asgi.py): one renderer for the raw protocol, the fast paths and
FastAPI, one mapping from what a request raised to what it answers."""

from __future__ import annotations

import orjson

from service.api import protocol
from service.api.asgi import as_raw, for_exception, from_error, problem, unavailable
from service.errors import InvalidBody, RateLimited, RequestTimeout, Unauthorized
from service.metrics import Metrics
from service.storage import StorageError, StorageUnavailable


def test_problems_carry_the_headers_their_status_calls_for() -> None:
    status, headers, body = from_error(RateLimited("slow down", 7))
    assert status == 429 and (b"retry-after", b"7") in headers
    assert (b"www-authenticate", b'Bearer realm="viewcount"') in from_error(Unauthorized("x"))[1]
    assert (b"connection", b"close") in from_error(RequestTimeout("late"))[1]
    status, headers, body = unavailable(3)
    assert status == 503 and (b"retry-after", b"3") in headers
    for rendered in (problem("invalid_body", "no"), unavailable(3)):
        status, headers, body = rendered
        assert headers[:2] == [
            (b"content-type", b"application/problem+json"),
            (b"content-length", b"%d" % len(body)),
        ]
        assert orjson.loads(body)["status"] == status


def test_one_mapping_counts_and_renders_what_was_raised() -> None:
    metrics = Metrics()
    rendered = for_exception(InvalidBody("no"), metrics, 2, "/x")
    assert rendered is not None and rendered[0] == 400
    assert for_exception(StorageUnavailable("down"), metrics, 2, "/x") == unavailable(2)
    for bug in (StorageError("WRONGTYPE"), KeyError("bug")):
        answer = for_exception(bug, metrics, 2, "/x", "it broke")
        assert answer == problem("internal_error", "it broke")
    sample = metrics.registry.get_sample_value
    assert sample("viewcount_views_rejected_total", {"code": "invalid_body"}) == 1
    assert sample("viewcount_redis_errors_total") == 2


def test_the_raw_protocol_bytes_are_the_same_problem() -> None:
    """What the bounded protocol writes before any app runs is the same document, as HTTP/1.1
    that closes the connection."""
    cut_off = [(protocol._TOO_LARGE, "headers_too_large"), (protocol._TOO_SLOW, "request_timeout")]
    for raw, code in cut_off:
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        document = orjson.loads(body)
        assert document["code"] == code
        assert status_line.startswith(b"HTTP/1.1 %d " % document["status"])
        assert b"connection: close" in lines and b"x-content-type-options: nosniff" in lines
        assert b"content-length: %d" % len(body) in lines
    slow = protocol._body_too_slow(1.5)
    assert slow == as_raw(from_error(RequestTimeout("send the body within 1.5 seconds")))
