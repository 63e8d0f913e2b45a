"""The two reference points every figure is compared with, served by the same uvicorn.

``limit_app`` is the physical limit of the HTTP stack: read the body, answer 204.
``naive_app`` is what a user would write in twenty lines: a FastAPI route doing one Redis
pipeline per view (INCR + ZINCRBY), no dedupe, no checks; plus the matching naive reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request

Message = MutableMapping[str, Any]
_NO_CONTENT = {"type": "http.response.start", "status": 204, "headers": []}
_EMPTY = {"type": "http.response.body", "body": b""}


async def limit_app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Raw ASGI: drain the request body, answer 204."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    await send(_NO_CONTENT)
    await send(_EMPTY)


naive_app = FastAPI()
_redis = aioredis.Redis.from_url(
    os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"), decode_responses=True
)


@naive_app.post("/v1/views", status_code=202)
async def naive_view(request: Request) -> dict[str, bool]:
    """One pipeline per view: the per-article counter and the popularity set."""
    article = json.loads(await request.body())["article"]
    async with _redis.pipeline(transaction=False) as pipe:
        pipe.incr(f"naive:views:{article}")
        pipe.zincrby("naive:popular", 1, article)
        await pipe.execute()
    return {"counted": True}


@naive_app.get("/v1/popular")
async def naive_popular(limit: int = 10) -> dict[str, Any]:
    """The naive top list: straight from the sorted set on every request."""
    top = await _redis.zrevrange("naive:popular", 0, limit - 1, withscores=True)
    return {
        "items": [{"rank": n, "article": a, "views": int(s)} for n, (a, s) in enumerate(top, 1)]
    }


@naive_app.get("/v1/views")
async def naive_counts(articles: str) -> dict[str, Any]:
    """The naive counts read: one MGET."""
    ids = articles.split(",")
    values = await _redis.mget([f"naive:views:{a}" for a in ids])
    counts = {a: int(v) if v is not None else None for a, v in zip(ids, values, strict=True)}
    return {"views": counts}
