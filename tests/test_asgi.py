"""The FastAPI routes behind the fast paths answer as the fast paths do (beacons.py, asgi.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .support import BROWSER_UA, put_article

ARTICLE = "toolkit-article"


@pytest.fixture
async def framework(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The same app's FastAPI layer, with the front (and so its fast paths) left out."""
    await put_article(client, ARTICLE)
    fastapi_app = client.app.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=fastapi_app, client=("203.0.113.8", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://viewcount.test", headers={"User-Agent": BROWSER_UA}
    ) as http:
        yield http


BEACONS: list[tuple[str, dict[str, Any]]] = [
    ("counted", {"json": {"article": ARTICLE}}),
    ("duplicate", {"json": {"article": ARTICLE}}),
    ("form", {"data": {"article": ARTICLE, "visitor": "v1"}}),
    ("unknown", {"json": {"article": "no-such-article"}}),
    ("bad id", {"json": {"article": "bad id"}}),
    ("not json", {"content": b"{", "headers": {"Content-Type": "application/json"}}),
    ("media type", {"content": b"x", "headers": {"Content-Type": "image/png"}}),
    ("too large", {"json": {"article": ARTICLE, "visitor": "v" * 5000}}),
]


def essence(response: httpx.Response) -> tuple[int, str, bytes, str | None]:
    return (
        response.status_code,
        response.headers["content-type"],
        response.content,
        response.headers.get("retry-after"),
    )


async def test_the_beacon_route_answers_as_the_fast_path(
    client: httpx.AsyncClient, framework: httpx.AsyncClient
) -> None:
    """Each beacon sent twice, through the front and to the route behind it, by two readers:
    the same status, media type and body each time, and each refusal counted once per path."""
    for name, request in BEACONS:
        fast = await client.post("/v1/views", **request)
        routed = await framework.post("/v1/views", **request)
        assert essence(fast) == essence(routed), name
    metrics = (await client.get("/metrics")).text
    assert 'viewcount_views_rejected_total{code="unknown_article"} 2.0' in metrics
    assert 'viewcount_views_rejected_total{code="payload_too_large"} 2.0' in metrics


async def test_the_pixel_route_answers_as_the_fast_path(
    client: httpx.AsyncClient, framework: httpx.AsyncClient
) -> None:
    for query in ({"article": ARTICLE}, {"article": "bad id"}, {}):
        fast = await client.get("/v1/views/pixel.gif", params=query)
        routed = await framework.get("/v1/views/pixel.gif", params=query)
        assert essence(fast) == essence(routed), query
        assert fast.headers.get("cache-control") == routed.headers.get("cache-control")
