"""Small helpers shared by the routers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from ..errors import InvalidBody, InvalidField, PayloadTooLarge


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


async def json_body(request: Request, limit: int, *, field_errors: bool = False) -> Any:
    """The request body parsed as JSON, refused past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the {limit}-byte limit")
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        error = InvalidField if field_errors else InvalidBody
        raise error("the body is not valid JSON") from exc
