"""Operations: health, readiness, metrics, and a rollup on demand."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..clock import rfc3339
from ..eventlog.drain import stream_states
from ..rollup import Rollup
from ..storage import StorageError
from .asgi import as_response, unavailable
from .auth import Admin, Svc
from .openapi import schema
from .responses import json
from .schemas import RollupOut, Status

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Status)
async def healthz() -> Response:
    """The process is up."""
    return json({"status": "ok"})


@router.get("/readyz", response_model=Status, responses=schema("storage_unavailable"))
async def readyz(svc: Svc) -> Response:
    """Redis answers."""
    if await svc.storage.ping():
        return json({"status": "ready"})
    return as_response(unavailable(svc.settings.retry_after_s, "Redis does not answer"))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
)
async def metrics(svc: Svc) -> Response:
    """Prometheus metrics, summed over every process of `viewcount serve`."""
    as_of = svc.rankings.as_of
    age_s = None if as_of is None else svc.clock.now() - as_of
    held = None
    if svc.discovery is not None:
        try:
            held = await svc.discovery.held_views()
        except StorageError:  # the other metrics still answer; Redis errors are counted
            held = None
    event_log = None
    if svc.settings.event_log_max_entries > 0:
        try:
            states = await stream_states(svc.storage)
            event_log = (sum(s.held for s in states), sum(s.dropped for s in states))
        except StorageError:  # the rest of the metrics still answer (Redis errors among them)
            event_log = None
    exported = svc.metrics.export(age_s, held, event_log=event_log)
    return Response(exported, media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/v1/rollup",
    response_model=RollupOut,
    dependencies=[Admin],
    responses=schema("unauthorized", "admin_disabled", "storage_unavailable"),
)
async def rollup(svc: Svc) -> Response:
    """Run a rollup now (admin)."""
    if svc.rollup is None:
        svc.rollup = Rollup(svc.storage, svc.settings, svc.clock)
    result = await svc.rollup.run()
    svc.metrics.rollup_duration.observe(result.duration_ms / 1000)
    await svc.rankings.refresh()
    return json(
        {
            "as_of": rfc3339(result.as_of),
            "duration_ms": result.duration_ms,
            "published": result.published,
        }
    )
