"""POST /v1/views/batch: many views at once, from server-side log shippers (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ..clock import parse_rfc3339
from ..errors import DomainError, InvalidBody, PayloadTooLarge
from ..ingest import MAX_EVENT_ID, MAX_VISITOR, Identity, View, optional_text, reader_digest
from ..scripts.record import COUNTED, UNKNOWN
from ..settings import Settings
from ..validate import article_id
from ..windows import MAX_EVENT_AGE_S
from .auth import Admin, Svc
from .openapi import schema
from .responses import json, json_body
from .schemas import BatchResult, batch_body

router = APIRouter(tags=["beacons"])
# The document states the default of VIEWCOUNT_BATCH_MAX_EVENTS, as API.md does.
DEFAULT_MAX_EVENTS: int = Settings.model_fields["batch_max_events"].default


class InvalidTime(DomainError):
    code = "invalid_time"


@router.post(
    "/v1/views/batch",
    response_model=BatchResult,
    dependencies=[Admin],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": batch_body(DEFAULT_MAX_EVENTS)}},
        }
    },
    responses=schema(
        "invalid_body", "unauthorized", "admin_disabled", "payload_too_large", "storage_unavailable"
    ),
)
async def batch(svc: Svc, request: Request) -> Response:
    """Record up to 10,000 views; invalid events are rejected one by one, the rest count."""
    settings = svc.settings
    body = await json_body(request, settings.batch_max_body_bytes)
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise InvalidBody('the body must be {"events": [...]}')
    events = body["events"]
    if len(events) > settings.batch_max_events:
        raise PayloadTooLarge(f"at most {settings.batch_max_events} events per batch")
    now = svc.clock.now()
    reader_key = await svc.identity.reader_key(int(now // 86400))
    views: list[View] = []
    positions: list[int] = []
    rejected: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        try:
            views.append(_view(event, now, svc.identity, reader_key))
            positions.append(index)
        except DomainError as exc:
            rejected.append({"index": index, "code": exc.code})
    outcomes = await svc.committer.submit_many(views)
    counted = duplicates = 0
    for index, outcome in zip(positions, outcomes, strict=True):
        if outcome == COUNTED:
            counted += 1
        elif outcome == UNKNOWN:
            rejected.append({"index": index, "code": "unknown_article"})
        else:
            duplicates += 1
    rejected.sort(key=lambda r: r["index"])
    for entry in rejected:
        svc.metrics.rejected.labels(entry["code"]).inc()
    return json({"counted": counted, "duplicates": duplicates, "rejected": rejected})


def _view(event: object, now: float, identity: Identity, reader_key: bytes) -> View:
    if not isinstance(event, dict):
        raise InvalidBody("an event must be a JSON object")
    if not isinstance(event.get("article"), str):
        raise InvalidBody("the field 'article' is required")
    article = article_id(event["article"])
    event_id = optional_text(event, "event_id", MAX_EVENT_ID)
    visitor = optional_text(event, "visitor", MAX_VISITOR)
    at = now
    if event.get("at") is not None:
        try:
            at = parse_rfc3339(event["at"])
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidTime("at: an RFC 3339 time is required") from exc
        if at > now or at < now - MAX_EVENT_AGE_S:
            raise InvalidTime("at: not in the future, not older than 30 days")
    reader = reader_digest(reader_key, "", "", visitor) if visitor else None
    event_key = identity.event(article, event_id) if event_id is not None else None
    return View(article, at, event=event_key, reader=reader, dedupe=False)
