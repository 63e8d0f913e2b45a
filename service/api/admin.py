"""GET /v1/admin/suspicious: what editors see of attempts to buy a place in the lists."""

from __future__ import annotations

from fastapi import APIRouter, Response

from .. import integrity
from ..errors import InvalidParameter
from .auth import Admin, Svc
from .openapi import schema
from .responses import json
from .schemas import DEFAULT_WINDOW, REPORT_WINDOWS, SUSPICIOUS_PATH, Suspicious

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
