"""GET /v1/admin/suspicious and POST /v1/admin/purge: what editors see of attempts to buy a
place in the lists, and how they take one back."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response

from .. import integrity
from ..clock import parse_rfc3339, rfc3339
from ..errors import InvalidField, InvalidParameter
from ..eventlog.purge import purge_views
from ..validate import is_article_id
from .auth import Admin, Svc
from .openapi import schema
from .responses import json, json_body
from .schemas import (
    CLIENT_PATTERN,
    DEFAULT_WINDOW,
    PURGE_PATH,
    REPORT_WINDOWS,
    SUSPICIOUS_PATH,
    PurgeIn,
    PurgeOut,
    Suspicious,
)

MAX_PURGE_BODY = 4096

router = APIRouter(tags=["admin"])


@router.get(
    SUSPICIOUS_PATH,
    response_model=Suspicious,
    dependencies=[Admin],
    responses=schema("unauthorized", "admin_disabled", "invalid_parameter", "storage_unavailable"),
)
async def suspicious(svc: Svc, window: str = DEFAULT_WINDOW) -> Response:
    """The articles where automated views were refused in the window, or where one client
    network holds a large share of its views; most automated first (admin)."""
    if window not in REPORT_WINDOWS:
        raise InvalidParameter(f"window: one of {', '.join(REPORT_WINDOWS)}")
    as_of = svc.rankings.as_of or svc.clock.now()
    report = await integrity.suspicious(svc.storage, svc.settings, REPORT_WINDOWS[window], as_of)
    return json(report)


@router.post(
    PURGE_PATH,
    response_model=PurgeOut,
    dependencies=[Admin],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PurgeIn.model_json_schema(by_alias=True)}},
        }
    },
    responses=schema(
        "unauthorized",
        "admin_disabled",
        "invalid_field",
        "unknown_article",
        "payload_too_large",
        "storage_unavailable",
    ),
)
async def purge(svc: Svc, request: Request) -> Response:
    """Take one client network's views of one article in a time range back from the counts,
    buckets, windows and the next rankings, as the event log recorded them (admin)."""
    article, client, start, end = _purge_fields(
        await json_body(request, MAX_PURGE_BODY, field_errors=True)
    )
    await svc.catalog.get(article)  # unknown_article
    removed = await purge_views(svc.storage, svc.settings, svc.clock, article, client, start, end)
    return json(
        {
            "article": article,
            "client": client,
            "from": rfc3339(start),
            "to": rfc3339(end),
            "removed": removed,
        }
    )


def _purge_fields(body: Any) -> tuple[str, str, float, float]:
    if not isinstance(body, dict):
        raise InvalidField("the body must be a JSON object with article, client, from and to")
    article = body.get("article")
    if not isinstance(article, str) or not is_article_id(article):
        raise InvalidField("article: an article id (1-200 characters of A-Z a-z 0-9 . _ ~ -)")
    client = body.get("client")
    if not isinstance(client, str) or not re.fullmatch(CLIENT_PATTERN, client):
        raise InvalidField("client: a client-network digest, as GET /v1/admin/suspicious shows it")
    times = []
    for name in ("from", "to"):
        try:
            times.append(parse_rfc3339(body.get(name)))  # type: ignore[arg-type]
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            raise InvalidField(f"{name}: an RFC 3339 time such as 2026-11-27T09:35:00Z") from exc
    return article, client, times[0], times[1]
