"""The beacon endpoints, in pure ASGI: the hottest path, kept free of framework overhead."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from ..errors import DomainError, InvalidBody, RequestTimeout, UnknownArticle
from ..ingest import (
    View,
    beacon_fields,
    check_size,
    client_ip,
    kind_of,
    parse_beacon,
    reader_digest,
)
from ..scripts import record as codes
from ..storage import StorageError, StorageUnavailable
from ..validate import small_int
from .problems import PROBLEM_TYPE, from_error, problem, unavailable
from .state import Services

log = logging.getLogger("viewcount.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

COUNTED = b'{"counted":true}'
DUPLICATE = b'{"counted":false,"reason":"duplicate"}'
BOT = b'{"counted":false,"reason":"bot"}'
AUTOMATED = b'{"counted":false,"reason":"automated"}'
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
JSON = b"application/json"
DEADLINES = "viewcount.deadlines"  # set in the scope by a server that bounds the body's time
NO_STORE = (b"cache-control", b"no-store")


async def record(services: Services, fields: dict[str, Any], scope: Scope) -> bytes:
    """Count one beacon view; the JSON answer once it is in Redis."""
    article, event_id, visitor = beacon_fields(fields)
    headers = _headers(scope)
    settings = services.settings
    raw_agent = headers.get(b"user-agent", b"")
    kind = kind_of(raw_agent, settings.max_user_agent_chars)
    forwarded = headers.get(b"x-forwarded-for")
    peer = scope.get("client")
    ip = client_ip(
        peer[0] if peer else None,
        forwarded.decode("latin-1") if forwarded else None,
        settings,
    )
    now = services.clock.now()
    identity = services.identity
    # The reader of an over-long User-Agent is keyed by its first part: bounded work.
    user_agent = raw_agent[: settings.max_user_agent_chars].decode("latin-1")
    view = View(
        article,
        now,
        kind=kind,
        event=identity.event(article, event_id) if event_id is not None else None,
        reader=reader_digest(await identity.reader_key(int(now // 86400)), ip, user_agent, visitor),
        client=identity.client(ip),
    )
    outcome = await services.committer.submit(view)  # it keeps the metrics of outcomes
    if outcome == codes.COUNTED:
        return COUNTED
    if outcome == codes.BOT:
        return BOT
    if outcome == codes.AUTOMATED:
        return AUTOMATED
    if outcome == codes.UNKNOWN:
        raise UnknownArticle(f"no article '{article}' in the catalog")
    return DUPLICATE


def _headers(scope: Scope) -> dict[bytes, bytes]:
    cached: dict[bytes, bytes] | None = scope.get("viewcount.headers")
    if cached is None:
        cached = dict(scope["headers"])
        scope["viewcount.headers"] = cached
    return cached


async def post_view(
    services: Services, scope: Scope, receive: Receive, send: Send, front: Headers
) -> bool:
    """POST /v1/views; ``front`` holds the headers every response carries."""
    try:
        limit = services.settings.max_body_bytes
        headers = _headers(scope)
        declared = headers.get(b"content-length")
        size = small_int(declared) if declared is not None else None
        if size is not None:  # anything else: the read below still stops at the limit
            check_size(size, limit)
        body = await read_body(scope, receive, limit, services.settings.body_timeout_s)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        answer = await record(services, parse_beacon(body, content_type), scope)
    except Exception as exc:
        await send_error(services, send, exc, front)
        return True
    await respond(send, 202, answer, JSON, front)
    return True


async def pixel(
    services: Services, scope: Scope, receive: Receive, send: Send, front: Headers
) -> bool:
    """GET /v1/views/pixel.gif?article=..."""
    try:
        query = scope.get("query_string", b"").decode("latin-1")
        check_size(len(query), services.settings.max_body_bytes)
        try:
            fields = dict(parse_qsl(query, max_num_fields=16))
        except ValueError as exc:  # past max_num_fields
            raise InvalidBody("at most 16 query parameters") from exc
        await record(services, fields, scope)
    except Exception as exc:
        await send_error(services, send, exc, front)
        return True
    await respond(send, 200, PIXEL, b"image/gif", front, [NO_STORE])
    return True


async def read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The request body, refused past ``limit`` bytes or when it takes over ``timeout_s``."""
    if scope.get(DEADLINES):  # the server bounds the body's time itself (protocol.py)
        return await _read_body(receive, limit)
    try:
        async with asyncio.timeout(timeout_s):  # uvicorn waits for a trickled body forever
            return await _read_body(receive, limit)
    except TimeoutError as exc:
        raise RequestTimeout(f"send the body within {timeout_s:g} seconds") from exc


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        check_size(size, limit)
        if not message.get("more_body", False):
            if not chunks:  # the usual case: the whole body in one message
                return chunk  # type: ignore[no-any-return]
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


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


async def send_error(
    services: Services,
    send: Send,
    exc: Exception,
    front: Headers,
    internal: str = "the view could not be recorded",
) -> None:
    """The problem document for an error raised on a fast path (as FastAPI's handlers do)."""
    if isinstance(exc, ConnectionAbortedError):
        return
    if isinstance(exc, DomainError):
        services.metrics.rejected.labels(exc.code).inc()
        status, body, extra = from_error(exc)
    elif isinstance(exc, StorageUnavailable):
        services.metrics.redis_errors.inc()
        status, body, extra = unavailable(services.settings.retry_after_s)
    elif isinstance(exc, StorageError):
        services.metrics.redis_errors.inc()
        log.error("Redis refused a command", extra={"error": str(exc)})
        status, body = problem("internal_error", internal)
        extra = []
    else:
        log.exception("fast path failed")
        status, body = problem("internal_error", internal)
        extra = []
    await respond(send, status, body, PROBLEM_TYPE.encode(), front, extra)
