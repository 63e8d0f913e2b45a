"""The methods table front.py answers Allow and CORS from: read from the routes as declared, so
an endpoint added later (an admin read, say) gets the rules without a list to update."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.api.asgi import Message
from service.api.auth import Admin
from service.api.front import Front, Methods

from ..support import make_settings


async def _ok() -> dict[str, str]:
    return {}


ROUTES = [
    APIRoute("/v1/admin/report", _ok, methods=["GET"], dependencies=[Admin]),
    APIRoute("/v1/things/{thing}", _ok, methods=["GET"]),
    APIRoute("/v1/things/{thing}", _ok, methods=["PUT", "DELETE"], dependencies=[Admin]),
]


def scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "headers": headers}


async def options(path: str, wanted: bytes) -> dict[bytes, bytes]:
    front = Front(FastAPI(), make_settings("redis://unused"), {}, Methods(ROUTES))
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    preflight = [(b"origin", b"https://site.example"), (b"access-control-request-method", wanted)]
    await front(scope("OPTIONS", path, preflight), receive, send)
    assert sent[0]["status"] == 204
    return dict(sent[0]["headers"])


def test_allow_joins_every_route_of_a_path() -> None:
    methods = Methods(ROUTES)
    assert methods.header(scope("PATCH", "/v1/things/a", [])) == b"GET, HEAD, PUT, DELETE, OPTIONS"
    assert methods.header(scope("POST", "/v1/admin/report", [])) == b"GET, HEAD, OPTIONS"
    assert methods.allowed(scope("GET", "/v1/nothing", [])) == []


def test_admin_reads_are_found_by_their_dependency() -> None:
    methods = Methods(ROUTES)
    assert methods.admin_read(scope("GET", "/v1/admin/report", []))
    assert not methods.admin_read(scope("GET", "/v1/things/a", []))


async def test_a_preflight_never_allows_an_admin_read() -> None:
    admin = await options("/v1/admin/report", b"GET")
    assert admin[b"allow"] == b"GET, HEAD, OPTIONS"
    assert b"access-control-allow-origin" not in admin
    public = await options("/v1/things/a", b"GET")
    assert public[b"access-control-allow-methods"] == b"GET, HEAD"
    assert b"access-control-allow-origin" not in await options("/v1/things/a", b"PUT")
