"""GET /v1/popular, /v1/trending and GET /v1/views on the pure-ASGI fast path: what widgets
poll most.

Only well-formed requests are answered here, with the same functions the FastAPI routes use
(rankings.ranking, articles.article_ids). A request they would refuse is declined and goes to
the route, so every error still comes from one place; the routes also keep the OpenAPI
document and HEAD.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl

import orjson

from ..errors import DomainError
from ..snapshot import TRENDING
from .articles import article_ids
from .asgi import JSON, Headers, Receive, Scope, Send, respond, send_exception
from .rankings import filters_parameter, listed, ranking
from .schemas import DEFAULT_LIMIT, DEFAULT_WINDOW
from .state import Services

_NO_QUERY: dict[str, str] = {}
_LIMIT = str(DEFAULT_LIMIT)


def _query(scope: Scope) -> dict[str, str]:
    """Query parameters as Starlette reads them (the last of a repeated name wins)."""
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return _NO_QUERY
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def _header(scope: Scope, name: bytes) -> str:
    """The first header of that name, as Starlette's ``request.headers.get`` gives it."""
    return next((v for k, v in scope["headers"] if k == name), b"").decode("latin-1")


async def popular(
    services: Services, scope: Scope, receive: Receive, send: Send, front: Headers
) -> bool:
    """GET /v1/popular?window=24h&limit=10 (and its filters): the pre-serialised list and
    its ETag."""
    return await _list(services, scope, send, front, trending=False)


async def trending(
    services: Services, scope: Scope, receive: Receive, send: Send, front: Headers
) -> bool:
    """GET /v1/trending?limit=10 (and its filters), as popular."""
    return await _list(services, scope, send, front, trending=True)


async def _list(
    services: Services, scope: Scope, send: Send, front: Headers, *, trending: bool
) -> bool:
    raw: bytes = scope.get("query_string", b"")
    answers = services.rankings.answers  # this snapshot's: a new snapshot starts afresh
    cache_key = b"trending?" + raw if trending else raw
    answer = answers.get(cache_key)
    if answer is None:
        query = _query(scope)
        try:
            filters = filters_parameter(query.get("exclude"), query.get("published_within"))
            limit = query.get("limit", _LIMIT)
            if trending:
                body, headers = listed(services, TRENDING, None, limit, "", filters)
            else:
                window = query.get("window", DEFAULT_WINDOW)
                body, headers = ranking(services, window, None, limit, "", filters)
        except DomainError:
            return False
        caching = [(name.encode(), value.encode()) for name, value in headers.items()]
        assert body is not None  # asked without If-None-Match: always a body
        answer = answers[cache_key] = (headers["etag"], caching, body)
    etag, caching, body = answer
    if etag in _header(scope, b"if-none-match"):
        await send({"type": "http.response.start", "status": 304, "headers": [*caching, *front]})
        await send({"type": "http.response.body", "body": b""})
    else:
        await respond(send, 200, body, JSON, front, caching)
    return True


@lru_cache(maxsize=1024)
def _ids(raw_query: bytes) -> tuple[str, ...] | None:
    """The article ids asked for, or None when the route should answer (widgets repeat the
    same queries: parsing and checking twenty ids cost more than the rest of the request)."""
    text = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)).get("articles")
    if text is None:
        return None
    try:
        return tuple(article_ids(text))
    except DomainError:
        return None


async def counts(
    services: Services, scope: Scope, receive: Receive, send: Send, front: Headers
) -> bool:
    """GET /v1/views?articles=a,b,c: live counts, null for ids not in the catalog."""
    ids = _ids(scope.get("query_string", b""))
    if ids is None:
        return False
    try:
        views = await services.counts.many(ids)
    except Exception as exc:
        metrics, retry_after_s = services.metrics, services.settings.retry_after_s
        await send_exception(send, exc, front, metrics, retry_after_s, "/v1/views")
        return True
    await respond(send, 200, orjson.dumps({"views": views}), JSON, front)
    return True
