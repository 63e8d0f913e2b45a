"""The HTTP toolkit every surface uses: ASGI types, the request body within its limits, whole
responses, and RFC 9457 problem documents (the one place an error becomes an HTTP answer).

The surfaces are the bounded protocol's raw bytes (protocol.py), the pure-ASGI fast paths
(beacons.py, reads.py, front.py), FastAPI's exception handlers and routes (``__init__.py``,
ops.py); each renders its problems with :func:`problem` or :func:`for_exception` and sends the
``(status, headers, body)`` they return in its own way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from starlette.responses import Response

from ..errors import DomainError, PayloadTooLarge, RateLimited, RequestTimeout
from ..metrics import Metrics
from ..storage import StorageError, StorageUnavailable

log = logging.getLogger("viewcount.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
# A rendered answer: status, headers (content-type and content-length first), body.
Rendered = tuple[int, Headers, bytes]

JSON = b"application/json"
PROBLEM_TYPE = "application/problem+json"
PROBLEM = PROBLEM_TYPE.encode()
# Set in the scope by a server that bounds the body's time itself (protocol.py).
DEADLINES = "viewcount.deadlines"
INTERNAL = "an unexpected error; it has been logged"

STATUS_TITLES: dict[str, tuple[int, str]] = {
    "invalid_body": (400, "Invalid body"),
    "unauthorized": (401, "Unauthorized"),
    "admin_disabled": (403, "Admin API disabled"),
    "unknown_article": (404, "Unknown article"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "fetch_in_progress": (409, "Fetch in progress"),
    "discovery_disabled": (409, "Discovery disabled"),
    "request_timeout": (408, "Request timeout"),
    "payload_too_large": (413, "Payload too large"),
    "headers_too_large": (431, "Request header fields too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "invalid_article_id": (422, "Invalid article id"),
    "invalid_parameter": (422, "Invalid parameter"),
    "invalid_field": (422, "Invalid field"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal error"),
    "fetch_failed": (502, "Page not read"),
    "storage_unavailable": (503, "Storage unavailable"),
}


class ClientGone(ConnectionAbortedError):
    """The client went away before its request was read: there is no one to answer."""


# --- limits ------------------------------------------------------------------------------------
def check_size(size: int, limit: int) -> None:
    """PayloadTooLarge when ``size`` bytes are over ``limit``."""
    if size > limit:
        raise PayloadTooLarge(f"the body is over the {limit}-byte limit")


def too_slow(timeout_s: float) -> RequestTimeout:
    """The error of a body not sent within ``timeout_s``, whichever layer notices."""
    return RequestTimeout(f"send the body within {timeout_s:g} seconds")


async def read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The request body, refused past ``limit`` bytes or when it takes over ``timeout_s``;
    ClientGone when the client goes away first."""
    if scope.get(DEADLINES):  # the server bounds the body's time itself (protocol.py)
        return await _read_body(receive, limit)
    try:
        async with asyncio.timeout(timeout_s):  # uvicorn waits for a trickled body forever
            return await _read_body(receive, limit)
    except TimeoutError as exc:
        raise too_slow(timeout_s) from exc


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        check_size(size, limit)
        if not message.get("more_body", False):
            if not chunks:  # the usual case: the whole body in one message
                return chunk  # type: ignore[no-any-return]
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


# --- responses ---------------------------------------------------------------------------------
async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    front: Headers,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Send a whole response: its own headers, then ``front``'s."""
    headers = [
        (b"content-type", content_type),
        (b"content-length", b"%d" % len(body)),
        *extra,
        *front,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_rendered(send: Send, rendered: Rendered, front: Headers) -> None:
    """Send a rendered answer, then ``front``'s headers."""
    status, headers, body = rendered
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *front]})
    await send({"type": "http.response.body", "body": body})


async def send_exception(
    send: Send,
    exc: BaseException,
    front: Headers,
    metrics: Metrics,
    retry_after_s: int,
    path: str,
    internal: str = INTERNAL,
) -> None:
    """Answer what a fast path raised as FastAPI's handlers would (see for_exception)."""
    rendered = for_exception(exc, metrics, retry_after_s, path, internal)
    if rendered is not None:
        await send_rendered(send, rendered, front)


def as_response(rendered: Rendered) -> Response:
    """A rendered answer as the Response a FastAPI handler returns."""
    status, headers, body = rendered
    return Response(body, status, {k.decode("latin-1"): v.decode("latin-1") for k, v in headers})


def as_raw(rendered: Rendered) -> bytes:
    """A rendered answer as HTTP/1.1 bytes that close the connection, for a server that
    answers before any app runs (protocol.py)."""
    status, headers, body = rendered
    lines = [b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode())]
    lines += [name + b": " + value for name, value in headers]
    if not any(name == b"connection" for name, _ in headers):
        lines.append(b"connection: close")
    lines.append(b"x-content-type-options: nosniff")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# --- problem documents -------------------------------------------------------------------------
def problem(code: str, detail: str, extra: Sequence[tuple[bytes, bytes]] = ()) -> Rendered:
    """The problem document for ``code``, with ``extra`` headers after its own."""
    status, title = STATUS_TITLES.get(code, (400, "Bad request"))
    body = orjson.dumps(
        {
            "type": f"urn:viewcount:problem:{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        }
    )
    headers = [(b"content-type", PROBLEM), (b"content-length", b"%d" % len(body)), *extra]
    return status, headers, body


def from_error(error: DomainError) -> Rendered:
    """The problem document of a domain error, with the headers its status calls for."""
    extra: Headers = []
    if isinstance(error, RateLimited):
        extra.append((b"retry-after", str(error.retry_after_s).encode()))
    status = STATUS_TITLES.get(error.code, (400, ""))[0]
    if status == 401:
        extra.append((b"www-authenticate", b'Bearer realm="viewcount"'))
    if status == 408:  # the rest of a trickled body must not be read as the next request
        extra.append((b"connection", b"close"))
    return problem(error.code, error.detail, extra)


def unavailable(
    retry_after_s: int, detail: str = "the counter store did not answer in time; retry shortly"
) -> Rendered:
    """503 storage_unavailable, with the Retry-After clients wait for."""
    return problem("storage_unavailable", detail, [(b"retry-after", str(retry_after_s).encode())])


def for_exception(
    exc: BaseException, metrics: Metrics, retry_after_s: int, path: str, internal: str = INTERNAL
) -> Rendered | None:
    """The answer to what a request raised, counted in ``metrics`` (refusals by code, Redis
    failures) and logged when it is a bug; None when the client went away (nothing to send)."""
    if isinstance(exc, DomainError):
        metrics.rejected.labels(exc.code).inc()
        return from_error(exc)
    if isinstance(exc, StorageUnavailable):
        metrics.redis_errors.inc()
        return unavailable(retry_after_s)
    if isinstance(exc, StorageError):
        metrics.redis_errors.inc()
        log.error("Redis refused a command", extra={"path": path, "error": str(exc)})
        return problem("internal_error", internal)
    if isinstance(exc, ClientGone):
        return None
    log.error("request failed", extra={"path": path}, exc_info=exc)
    return problem("internal_error", internal)
