"""Test helpers: real Redis servers on free ports, apps with their lifespan, HTTP clients.

free_port, wait_for_port, end_process and RedisServer (RedisProcess here) come from
service/embedded.py, which bench/ and deploy/sizing.py use too."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.api import create_app
from service.clock import Clock, rfc3339
from service.embedded import RedisServer, end_process, free_port, wait_for_port
from service.settings import Settings

__all__ = [
    "ADMIN",
    "ADMIN_TOKEN",
    "BROWSER_UA",
    "EVENTS_DIR",
    "SECRET",
    "RedisProcess",
    "client_for",
    "end_process",
    "free_port",
    "make_settings",
    "put_article",
    "redis_process",
    "require_tool",
    "views_of",
    "wait_for_port",
]

ADMIN_TOKEN = "test-admin-token-0123456789"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Where the schedulers of a test session archive the event log, unless a test names its own:
# never the real DATA_DIR. Removed when the session ends.
EVENTS_DIR = tempfile.mkdtemp(prefix="vc-test-events-")
atexit.register(shutil.rmtree, EVENTS_DIR, True)
SECRET = "test-secret-kept-outside-redis-0123456789"


RedisProcess = RedisServer  # the tests' name for it


def redis_process(*args: str) -> RedisServer:
    """``with redis_process(...) as server``: a server for the block, then stopped."""
    return RedisServer(*args)


def make_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": url,
        "admin_token": ADMIN_TOKEN,
        "secret": SECRET,
        "rate_limit_per_min": 0,
        # Most tests send many views from one test client: the per-client rules are tested on
        # their own (tests/test_integrity.py).
        "max_views_per_client": 0,
        "min_readers": 1,
        "log_json": False,
        "event_log_dir": EVENTS_DIR,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def client_for(
    settings: Settings, clock: Clock | None = None, peer: str = "203.0.113.7"
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to a fresh app, with the app's lifespan running."""
    app = create_app(settings, clock)
    async with app.app.router.lifespan_context(app.app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://viewcount.test",
            headers={"User-Agent": BROWSER_UA},
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def put_article(
    client: httpx.AsyncClient, article: str, theme: str = "war", **fields: Any
) -> httpx.Response:
    body = {
        "title": f"Title of {article}",
        "url": f"https://news.example.com/{article}",
        "theme": theme,
        **fields,
    }
    response = await client.put(f"/v1/articles/{article}", json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    return response


async def views_of(client: httpx.AsyncClient, article: str) -> int:
    response = await client.get(f"/v1/articles/{article}/views")
    assert response.status_code == 200, response.text
    return int(response.json()["views"])


def require_tool(name: str, why: str, found: bool | None = None) -> None:
    """Skip the test when ``name`` is missing; under CI=true fail it, since CI installs every tool.

    ``found`` defaults to whether ``name`` is a command on PATH or an executable's path.
    """
    if found is None:
        found = shutil.which(name) is not None
    if found:
        return
    reason = f"{name} is missing: {why}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: a missing tool fails the run)", pytrace=False)
    pytest.skip(reason)


_visitors = itertools.count()


async def batch_views(client: httpx.AsyncClient, events: list[tuple[str, float, int]]) -> None:
    """``count`` views of ``article`` at ``at`` for each event, every one from a visitor of
    its own, through the admin batch endpoint; all of them counted."""
    body = [
        {"article": article, "at": rfc3339(at), "visitor": f"batch-visitor-{next(_visitors)}"}
        for article, at, count in events
        for _ in range(count)
    ]
    response = await client.post("/v1/views/batch", json={"events": body}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["counted"] == len(body), response.text


async def rollup(client: httpx.AsyncClient) -> None:
    """One rollup through the admin endpoint."""
    response = await client.post("/v1/rollup", headers=ADMIN)
    assert response.status_code == 200, response.text
