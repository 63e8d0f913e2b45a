"""HTTP methods on every path (RFC 9110), the fast paths and the routes alike: an undeclared
method is 405 with Allow, OPTIONS answers Allow, HEAD is GET without the body, and an unknown
path is a 404 problem whatever the method."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from .live import HttpConnection, ServiceProcess, admin_put
from .support import ADMIN, RedisProcess, put_article, views_of

pytestmark = pytest.mark.single_node  # routing does not depend on the Redis behind it

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND")
PIXEL = "/v1/views/pixel.gif"
# Paths the document leaves out: pages, files, the document itself.
UNDOCUMENTED = {
    "/": "GET, HEAD, OPTIONS",
    "/news/a": "GET, HEAD, OPTIONS",
    "/static/demo.css": "GET, HEAD, OPTIONS",
    "/docs": "GET, HEAD, OPTIONS",
    "/docs/docs.js": "GET, HEAD, OPTIONS",
    "/openapi.json": "GET, HEAD, OPTIONS",
}
# What a GET answers and a HEAD must match, fast paths included.
READS = [
    "/v1/popular",
    "/v1/popular?window=7d&limit=3",
    "/v1/views?articles=a,b",
    "/v1/articles/a",
    "/v1/articles/a/views",
    "/v1/themes",
    "/v1/themes/war/popular",
    "/healthz",
    "/openapi.json",
    "/docs",
    "/v1/beacon.js",
    "/v1/popular.html",
]


async def expected_allow(client: httpx.AsyncClient) -> dict[str, str]:
    """Each documented path, made concrete, with the Allow its declared methods call for."""
    spec = (await client.get("/openapi.json")).json()
    allow = dict(UNDOCUMENTED)
    for template, item in spec["paths"].items():
        path = template.replace("{article}", "a").replace("{theme}", "war")
        declared = {m.upper() for m in item}
        if "GET" in declared and path != PIXEL:
            declared.add("HEAD")
        declared.add("OPTIONS")
        order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        allow[path] = ", ".join(m for m in order if m in declared)
    return allow


async def test_every_path_answers_an_undeclared_method_with_405_and_allow(
    client: httpx.AsyncClient,
) -> None:
    allow = await expected_allow(client)
    assert len(allow) > 20
    for path, methods in allow.items():
        listed = methods.split(", ")
        for method in METHODS:
            response = await client.request(method, path)
            if method in listed:
                assert response.status_code != 405, (method, path)
                continue
            assert response.status_code == 405, (method, path, response.text)
            assert response.headers["allow"] == methods, (method, path)
            if method != "HEAD":
                assert response.json()["code"] == "method_not_allowed"
                assert methods in response.json()["detail"]
            assert response.headers["x-content-type-options"] == "nosniff"


async def test_options_answers_allow_on_every_path(client: httpx.AsyncClient) -> None:
    for path, methods in (await expected_allow(client)).items():
        response = await client.options(path)
        assert response.status_code == 204, path
        assert response.headers["allow"] == methods, path
        assert response.content == b""
        assert "access-control-allow-origin" not in response.headers
        # An Origin alone is not a preflight: no CORS allowance either.
        with_origin = await client.options(path, headers={"Origin": "https://news.example.com"})
        assert with_origin.headers["allow"] == methods
        assert "access-control-allow-methods" not in with_origin.headers


async def test_a_preflight_is_allowed_only_for_public_methods_the_path_has(
    client: httpx.AsyncClient,
) -> None:
    def preflight(path: str, method: str) -> dict[str, str]:
        return {"Origin": "https://news.example.com", "Access-Control-Request-Method": method}

    granted = [("/v1/views", "POST"), ("/v1/views", "GET"), ("/v1/popular", "GET")]
    granted += [("/v1/articles/a", "GET"), (PIXEL, "GET")]
    refused = [("/v1/articles/a", "PUT"), ("/v1/articles/a", "DELETE")]
    refused += [("/v1/views/batch", "POST"), ("/v1/rollup", "POST"), ("/v1/rollup", "GET")]
    refused += [("/v1/popular", "POST"), (PIXEL, "HEAD")]
    for path, method in granted:
        response = await client.options(path, headers=preflight(path, method))
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*", (path, method)
        assert method in response.headers["access-control-allow-methods"].split(", ")
    for path, method in refused:
        response = await client.options(path, headers=preflight(path, method))
        assert response.status_code == 204
        assert "access-control-allow-origin" not in response.headers, (path, method)
        assert "access-control-allow-methods" not in response.headers
    beacon = await client.options("/v1/views", headers=preflight("/v1/views", "POST"))
    assert beacon.headers["access-control-allow-methods"] == "GET, HEAD, POST"
    read = await client.options("/v1/popular", headers=preflight("/v1/popular", "GET"))
    assert read.headers["access-control-allow-methods"] == "GET, HEAD"


async def test_unknown_paths_are_404_problems_whatever_the_method(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/v2/nothing", "/v1/articles/a/b/c", "/v1/view"):
        for method in (*METHODS, "OPTIONS"):
            response = await client.request(method, path)
            assert response.status_code == 404, (method, path)
            assert "allow" not in response.headers
            if method != "HEAD":
                assert response.json()["code"] == "not_found"


async def test_head_is_get_without_the_body(client: httpx.AsyncClient) -> None:
    await put_article(client, "a")
    for target in READS:
        got = await client.get(target)
        head = await client.head(target)
        assert head.status_code == got.status_code, target
        assert head.content == b"", target
        for name in ("content-type", "content-length", "etag", "cache-control"):
            assert head.headers.get(name) == got.headers.get(name), (target, name)
        if "etag" in got.headers:  # a conditional HEAD as a conditional GET
            again = await client.head(target, headers={"If-None-Match": got.headers["etag"]})
            assert again.status_code == 304, target


async def test_a_head_of_the_pixel_counts_no_view(client: httpx.AsyncClient) -> None:
    await put_article(client, "a")
    head = await client.head(f"{PIXEL}?article=a")
    assert head.status_code == 405
    assert head.headers["allow"] == "GET, OPTIONS"
    assert head.content == b""
    assert await views_of(client, "a") == 0
    assert (await client.get(f"{PIXEL}?article=a")).status_code == 200
    assert await views_of(client, "a") == 1


async def test_admin_methods_still_need_the_token_and_wrong_ones_are_405(
    client: httpx.AsyncClient,
) -> None:
    # 405 comes before authentication: the method is wrong whoever asks.
    for headers in ({}, ADMIN):
        response = await client.patch("/v1/views/batch", headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST, OPTIONS"
    assert (await client.post("/v1/rollup")).status_code == 401


@pytest.fixture(scope="module")
def served() -> Iterator[ServiceProcess]:
    redis_server = RedisProcess().start()
    proc = ServiceProcess(redis_server.url).start()
    yield proc
    proc.stop()
    redis_server.stop()


def test_head_and_options_over_a_real_server(served: ServiceProcess) -> None:
    """The bounded protocol holds a response's head until its first body bytes; a HEAD has
    none, and its answer must still leave (then the connection serves the next request)."""

    async def scenario() -> None:
        async with HttpConnection(served.port, timeout_s=10) as conn:
            await admin_put(conn, "a")
            for target in ("/v1/popular", "/v1/views?articles=a", "/v1/themes", "/healthz"):
                got = await conn.request("GET", target)
                head = await conn.request("HEAD", target)
                assert (head.status, head.body) == (got.status, b""), target
                assert head.headers["content-length"] == got.headers["content-length"]
            pixel = await conn.request("HEAD", f"{PIXEL}?article=a")
            assert pixel.status == 405 and pixel.headers["allow"] == "GET, OPTIONS"
            for method in ("TRACE", "PATCH", "DELETE"):
                wrong = await conn.request(method, "/v1/views")
                assert wrong.status == 405, method
                assert wrong.headers["allow"] == "GET, HEAD, POST, OPTIONS"
            options = await conn.request("OPTIONS", "/v1/articles/a")
            assert options.status == 204
            assert options.headers["allow"] == "GET, HEAD, PUT, DELETE, OPTIONS"
            views = await conn.request("GET", "/v1/articles/a/views")
            assert views.json()["views"] == 0  # the HEAD of the pixel counted nothing

    asyncio.run(scenario())
