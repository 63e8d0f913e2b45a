"""Small helpers shared by the routers."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import Request, Response

from ..errors import InvalidBody, InvalidField, PayloadTooLarge, RequestTimeout
from ..validate import small_int
from .beacons import DEADLINES


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


async def json_body(request: Request, limit: int, *, field_errors: bool = False) -> Any:
    """The request body parsed as JSON, refused past ``limit`` bytes."""
    size = small_int(request.headers.get("content-length", ""))
    if size is not None and size > limit:  # anything else: the read below stops at the limit
        raise PayloadTooLarge(f"the body is over the {limit}-byte limit")
    timeout_s = request.app.state.services.settings.body_timeout_s
    chunks, size = [], 0
    try:
        # The bounded protocol times the body itself and marks the scope; under another
        # server (uvicorn waits for a slow body forever) the time is kept here.
        async with asyncio.timeout(None if request.scope.get(DEADLINES) else timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the body is over the {limit}-byte limit")
                chunks.append(chunk)
    except TimeoutError as exc:
        raise RequestTimeout(f"send the body within {timeout_s:g} seconds") from exc
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        error = InvalidField if field_errors else InvalidBody
        raise error("the body is not valid JSON") from exc
