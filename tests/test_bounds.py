"""Work on client-supplied text is bounded: User-Agents, integer parameters, the commit queue."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from service import keys
from service.clock import ManualClock
from service.commit import Committer
from service.ingest import View, event_digest
from service.scripts.record import COUNTED
from service.settings import Settings
from service.storage import StorageUnavailable, connect

from .conftest import T0
from .rawasgi import assert_problem_or_success, call
from .support import ADMIN_TOKEN, BROWSER_UA, put_article

ADMIN_RAW = [(b"authorization", f"Bearer {ADMIN_TOKEN}".encode())]

ARTICLE = "bounded-article"


# --- bot detection (the pure checks: tests/unit/test_bots.py) ---------------------------------
async def test_an_over_long_user_agent_is_counted_apart(client: httpx.AsyncClient) -> None:
    await put_article(client, ARTICLE)
    agent = BROWSER_UA + " " + "z" * 2000
    response = await client.post(
        "/v1/views", json={"article": ARTICLE}, headers={"User-Agent": agent}
    )
    assert response.status_code == 202
    assert response.json() == {"counted": False, "reason": "automated"}
    counts = (await client.get(f"/v1/articles/{ARTICLE}/views")).json()
    assert (counts["views"], counts["bot_views"], counts["automated_views"]) == (0, 0, 1)
    assert (await client.get(f"/v1/articles/{ARTICLE}")).json()["automated_views"] == 1
    normal = await client.post("/v1/views", json={"article": ARTICLE})
    assert normal.json() == {"counted": True}


# --- integer parameters (the pure checks: tests/unit/test_validate.py) -------------------------
@pytest.mark.parametrize(
    "path",
    ["/v1/popular", "/v1/themes/war/popular", "/v1/popular.html"],
)
@pytest.mark.parametrize("limit", ["9" * 10_000, "%C2%B2", "%D9%A3", "1" * 4301, "-5"])
async def test_odd_limits_are_a_problem_not_a_500(
    client: httpx.AsyncClient, path: str, limit: str
) -> None:
    response = await client.get(f"{path}?limit={limit}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_parameter"


async def test_an_odd_content_length_is_bounded_by_the_read(client: httpx.AsyncClient) -> None:
    """A declared length int() could not take is not trusted: the read's own limit decides."""
    await put_article(client, ARTICLE)
    app = client.app  # type: ignore[attr-defined]
    body = f'{{"article": "{ARTICLE}"}}'.encode()
    for declared in (b"9" * 5000, "²".encode(), "١٢".encode()):
        for path in (b"/v1/views", b"/v1/views/batch"):
            headers = [(b"content-type", b"application/json"), (b"content-length", declared)]
            answer = await call(app, "POST", path, headers=[*headers, *ADMIN_RAW], body=body)
            assert_problem_or_success(answer, {200, 202, 400})


# --- the commit queue --------------------------------------------------------------------------
def _views(count: int, secret: bytes, prefix: str) -> list[View]:
    return [
        View(ARTICLE, T0, event=event_digest(secret, ARTICLE, f"{prefix}-{n}"), dedupe=False)
        for n in range(count)
    ]


async def _stall(redis: Any, seconds: float) -> asyncio.Task[Any]:
    """DEBUG SLEEP on its own connection: the server answers nobody meanwhile."""
    task = asyncio.create_task(redis.execute_command("DEBUG", "SLEEP", seconds))
    await asyncio.sleep(0.05)
    return task


async def _stored(redis: Any, secret: bytes, prefix: str, count: int) -> list[bool]:
    names = [
        keys.event(ARTICLE, event_digest(secret, ARTICLE, f"{prefix}-{n}")) for n in range(count)
    ]
    return [bool(await redis.exists(name)) for name in names]


@pytest.mark.single_node
async def test_past_the_queue_bound_a_view_is_refused_at_once(
    settings: Settings, redis: Any, client: httpx.AsyncClient
) -> None:
    await put_article(client, ARTICLE)
    bounded = settings.model_copy(
        update={"commit_max_queue": 20, "commit_max_batch": 8, "redis_timeout_s": 3.0}
    )
    store = connect(bounded)
    committer = Committer(store, bounded, ManualClock(T0))
    try:
        assert await committer.submit(_views(1, bounded.secret_key, "warm")[0]) == COUNTED
        sleeper = await _stall(redis, 0.6)
        views = _views(30, bounded.secret_key, "q")
        outcomes = await asyncio.gather(
            *(committer.submit(view) for view in views), return_exceptions=True
        )
        await sleeper
    finally:
        await store.close()
    refused = [o for o in outcomes if isinstance(o, StorageUnavailable)]
    assert len(refused) == 10 and outcomes[20:] == refused  # the last ten, at once
    assert outcomes[:20] == [COUNTED] * 20
    assert await _stored(redis, bounded.secret_key, "q", 30) == [True] * 20 + [False] * 10


@pytest.mark.single_node
async def test_a_view_answered_503_while_queued_is_never_written(
    settings: Settings, redis: Any, client: httpx.AsyncClient
) -> None:
    """The watchdog answers 503 to views stuck behind a stalled flush; when Redis wakes, those
    views are dropped, not written: what was answered 503 from the queue is not counted. (The
    flush in flight keeps retrying through the stall, so none of them is sent before.)"""
    await put_article(client, ARTICLE)
    quick = settings.model_copy(update={"redis_timeout_s": 0.4, "redis_retry_s": 3.0})
    store = connect(quick)
    committer = Committer(store, quick, ManualClock(T0))
    try:
        assert await committer.submit(_views(1, quick.secret_key, "warm")[0]) == COUNTED
        sleeper = await _stall(redis, 1.5)
        first = asyncio.ensure_future(committer.submit(_views(1, quick.secret_key, "first")[0]))
        await asyncio.sleep(0.05)  # in flight, stuck on the sleeping server
        queued = [
            asyncio.ensure_future(committer.submit(v))
            for v in _views(40, quick.secret_key, "queued")
        ]
        outcomes = await asyncio.gather(*queued, return_exceptions=True)
        assert all(isinstance(o, StorageUnavailable) for o in outcomes), outcomes
        await asyncio.gather(first, return_exceptions=True)
        await sleeper
        await asyncio.sleep(0.3)  # anything still to be written would be written by now
        assert await committer.submit(_views(1, quick.secret_key, "after")[0]) == COUNTED
    finally:
        await store.close()
    assert await _stored(redis, quick.secret_key, "queued", 40) == [False] * 40
    assert await _stored(redis, quick.secret_key, "after", 1) == [True]
