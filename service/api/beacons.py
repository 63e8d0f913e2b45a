"""The beacon endpoints, in pure ASGI: the hottest path, kept free of framework overhead.

front.py sends POST /v1/views and GET /v1/views/pixel.gif here directly. They are declared to
FastAPI as well, for the OpenAPI document and for any request that reaches the framework
instead; those routes run the same functions.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from ..errors import InvalidBody, UnknownArticle
from ..ingest import (
    View,
    beacon_fields,
    beacon_url,
    client_ip,
    client_network,
    kind_of,
    parse_beacon,
    reader_digest,
)
from ..scripts import hold
from ..scripts import record as codes
from ..validate import small_int
from .asgi import (
    JSON,
    Headers,
    Message,
    Receive,
    Scope,
    Send,
    check_size,
    read_body,
    respond,
    send_exception,
)
from .auth import Svc
from .openapi import schema
from .schemas import BEACON_FORM, BEACON_JSON, BEACON_QUERY, BeaconAnswer
from .state import FastPath, Services

COUNTED = b'{"counted":true}'
DUPLICATE = b'{"counted":false,"reason":"duplicate"}'
BOT = b'{"counted":false,"reason":"bot"}'
AUTOMATED = b'{"counted":false,"reason":"automated"}'
PENDING = b'{"counted":false,"reason":"pending"}'
# What a view held for discovery gets once its article entered the catalog meanwhile; the
# discovery's own PENDING code is none of these.
ANSWERS = {
    codes.COUNTED: COUNTED,
    codes.DUPLICATE: DUPLICATE,
    codes.DUPLICATE_EVENT: DUPLICATE,
    codes.BOT: BOT,
    codes.AUTOMATED: AUTOMATED,
}
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = (b"cache-control", b"no-store")
_NOT_RECORDED = "the view could not be recorded"
BEACON_ERRORS = (
    "invalid_body",
    "unknown_article",
    "payload_too_large",
    "unsupported_media_type",
    "invalid_article_id",
    "rate_limited",
    "request_timeout",
    "storage_unavailable",
)

router = APIRouter(tags=["beacons"])


async def record(services: Services, fields: dict[str, Any], scope: Scope) -> bytes:
    """Count one beacon view; the JSON answer once it is in Redis."""
    article, event_id, visitor = beacon_fields(fields)
    url = beacon_url(fields)  # checked on every beacon: a bad one is refused whatever the article
    headers = _headers(scope)
    settings = services.settings
    raw_agent = headers.get(b"user-agent", b"")
    kind = kind_of(raw_agent, settings.max_user_agent_chars, settings.min_user_agent_chars)
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
        client=identity.client(
            client_network(ip, settings.client_prefix_v4, settings.client_prefix_v6)
        ),
    )
    outcome = await services.committer.submit(view)  # it keeps the metrics of outcomes
    if outcome == codes.COUNTED:
        return COUNTED
    if outcome == codes.BOT:
        return BOT
    if outcome == codes.AUTOMATED:
        return AUTOMATED
    if outcome == codes.UNKNOWN:
        return await _unknown(services, view, url)
    return DUPLICATE


async def _unknown(services: Services, view: View, url: str | None) -> bytes:
    """A view record.lua found no article for: held while its page is read, when its ``url``
    is on VIEWCOUNT_SITES; refused otherwise. Only this path pays for discovery."""
    if url is None or services.discovery is None:
        raise UnknownArticle(f"no article '{view.article}' in the catalog")
    outcome = await services.discovery.hold(view, url)
    if outcome == codes.UNKNOWN:  # deleted again meanwhile
        raise UnknownArticle(f"no article '{view.article}' in the catalog")
    if outcome == hold.HELD:
        return PENDING
    return ANSWERS.get(outcome, DUPLICATE)


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
        await _refuse(services, send, exc, front, "/v1/views")
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
        if "article" not in fields:  # a page's <img> names its article; `url` is for discovery
            raise InvalidBody("the query parameter 'article' is required")
        await record(services, fields, scope)
    except Exception as exc:
        await _refuse(services, send, exc, front, "/v1/views/pixel.gif")
        return True
    await respond(send, 200, PIXEL, b"image/gif", front, [NO_STORE])
    return True


async def _refuse(
    services: Services, send: Send, exc: Exception, front: Headers, path: str
) -> None:
    metrics, retry_after_s = services.metrics, services.settings.retry_after_s
    await send_exception(send, exc, front, metrics, retry_after_s, path, _NOT_RECORDED)


@router.post(
    "/v1/views",
    status_code=202,
    response_model=BeaconAnswer,
    response_description="Accepted: written to Redis",
    summary="Record one view",
    operation_id="record_view",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": BEACON_JSON},
                # sendBeacon's string body: the same JSON object, sent as text.
                "text/plain": {"schema": BEACON_JSON},
                "application/x-www-form-urlencoded": {"schema": BEACON_FORM},
            },
        }
    },
    responses=schema(*BEACON_ERRORS),
)
async def record_view(svc: Svc, request: Request) -> Response:
    """Count one view of an article, once per reader within the dedupe window."""
    return await _through(post_view, svc, request)


@router.get(
    "/v1/views/pixel.gif",
    response_class=Response,
    summary="Record one view from an <img> (no JavaScript)",
    operation_id="record_view_pixel",
    openapi_extra={
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": name == "article",
                "schema": BEACON_QUERY[name],
            }
            for name in ("article", "event_id", "visitor", "url")
        ]
    },
    responses={
        200: {
            "description": "A 1x1 transparent GIF",
            "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}},
        },
        **schema(*(code for code in BEACON_ERRORS if code != "unsupported_media_type")),
    },
)
async def record_view_pixel(svc: Svc, request: Request) -> Response:
    """Count one view, as POST /v1/views does, and answer with an invisible GIF."""
    return await _through(pixel, svc, request)


async def _through(fast: FastPath, svc: Services, request: Request) -> Response:
    """The fast path's own answer, as the Response of the route behind it (front.py adds the
    headers every response carries, as it does for every route)."""
    sent: list[Message] = []

    async def keep(message: Message) -> None:
        sent.append(message)

    await fast(svc, request.scope, request.receive, keep, [])
    start, body = sent
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in start["headers"]}
    return Response(body["body"], start["status"], headers)
