"""POST /v1/views/batch: many views at once, from server-side log shippers (admin or an ingest
token): ``{"events": [...]}``, a JSON array, or NDJSON (service/shipping.py reads them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ..errors import DomainError
from ..ingest import View
from ..scripts.record import AUTOMATED, BOT, COUNTED, UNKNOWN
from ..settings import Settings
from ..shipping import EventContext, event_view, inflate, parse_events
from ..validate import small_int
from .asgi import check_size, read_body
from .auth import BatchWriter, Svc
from .openapi import schema
from .responses import json
from .schemas import BatchResult, batch_body

router = APIRouter(tags=["beacons"])
# The document states the default of VIEWCOUNT_BATCH_MAX_EVENTS, as API.md does.
DEFAULT_MAX_EVENTS: int = Settings.model_fields["batch_max_events"].default


@router.post(
    "/v1/views/batch",
    response_model=BatchResult,
    dependencies=[BatchWriter],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": batch_body(DEFAULT_MAX_EVENTS)},
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": "one event object per line (Vector's newline_delimited "
                        "framing, Fluent Bit's json_lines); a line that is not JSON is rejected "
                        "on its own",
                    }
                },
            },
        }
    },
    responses=schema(
        "invalid_body",
        "unauthorized",
        "admin_disabled",
        "payload_too_large",
        "unsupported_media_type",
        "request_timeout",
        "storage_unavailable",
    ),
)
async def batch(svc: Svc, request: Request) -> Response:
    """Record up to 10,000 views; invalid events are rejected one by one, the rest count.

    Only 429 and 503 are worth a retry: every other refusal would be refused again."""
    settings = svc.settings
    declared = small_int(request.headers.get("content-length", ""))
    if declared is not None:  # anything else: the read below stops at the limit
        check_size(declared, settings.batch_max_body_bytes)
    body = await read_body(
        request.scope, request.receive, settings.batch_max_body_bytes, settings.body_timeout_s
    )
    encoding = request.headers.get("content-encoding", "")
    body = inflate(body, encoding, settings.batch_max_body_bytes)
    content_type = request.headers.get("content-type", "")
    events = parse_events(body, content_type, settings.batch_max_events)
    now = svc.clock.now()
    context = EventContext(
        now,
        svc.identity,
        await svc.identity.reader_key(int(now // 86400)),
        settings.max_user_agent_chars,
        settings.min_user_agent_chars,
        settings.client_prefix_v4,
        settings.client_prefix_v6,
    )
    views: list[View] = []
    positions: list[int] = []
    rejected: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        try:
            views.append(event_view(event, context))
            positions.append(index)
        except DomainError as exc:
            rejected.append({"index": index, "code": exc.code})
    outcomes = await svc.committer.submit_many(views)
    tally = {COUNTED: 0, BOT: 0, AUTOMATED: 0}
    duplicates = 0
    for index, outcome in zip(positions, outcomes, strict=True):
        if outcome in tally:
            tally[outcome] += 1
        elif outcome == UNKNOWN:
            rejected.append({"index": index, "code": "unknown_article"})
        else:
            duplicates += 1
    rejected.sort(key=lambda r: r["index"])
    for entry in rejected:
        svc.metrics.rejected.labels(entry["code"]).inc()
    events_by = svc.metrics.batch_events.labels
    events_by("counted").inc(tally[COUNTED])
    events_by("duplicate").inc(duplicates)
    events_by("bot").inc(tally[BOT])
    events_by("automated").inc(tally[AUTOMATED])
    events_by("rejected").inc(len(rejected))
    answer = {
        "counted": tally[COUNTED],
        "duplicates": duplicates,
        "bots": tally[BOT],
        "automated": tally[AUTOMATED],
        "rejected": rejected,
    }
    return json(answer)
