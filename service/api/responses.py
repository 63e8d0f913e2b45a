"""Small helpers shared by the routers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from ..errors import InvalidBody, InvalidField
from ..validate import small_int
from .asgi import check_size, read_body


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


async def json_body(request: Request, limit: int, *, field_errors: bool = False) -> Any:
    """The request body parsed as JSON, refused past ``limit`` bytes (see asgi.read_body)."""
    size = small_int(request.headers.get("content-length", ""))
    if size is not None:  # anything else: the read below stops at the limit
        check_size(size, limit)
    timeout_s = request.app.state.services.settings.body_timeout_s
    body = await read_body(request.scope, request.receive, limit, timeout_s)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = InvalidField if field_errors else InvalidBody
        raise error("the body is not valid JSON") from exc
