"""The outermost ASGI layer: security headers, CORS, the fast paths, and the methods of a path.

The beacons and the two public reads that widgets poll (GET /v1/popular, GET /v1/views) are
answered here without the framework in the way; everything else, and any request a fast path
declines (a missing or malformed parameter), goes to FastAPI.

Methods follow RFC 9110 on every path, the fast ones included: HEAD is a GET without its body
(except on the pixel, whose GET counts a view: a HEAD there is refused rather than counted),
OPTIONS answers 204 with ``Allow`` (a CORS preflight adds the CORS headers where the rules
allow them), and an undeclared method is 405 with ``Allow`` (see allowed_methods). None of this
runs for a request a fast path answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Match

from ..settings import Settings
from . import beacons, reads
from .asgi import Message, Receive, Scope, Send, for_exception, problem, send_rendered
from .auth import requires_admin
from .state import FastPath, Services

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
PUBLIC_POSTS = frozenset({"/v1/views"})
PLAIN_FRONT = [*SECURITY_HEADERS, API_CSP]  # what a fast path adds when no Origin was sent
PREFLIGHT_MAX_AGE = b"86400"
PIXEL_PATH = "/v1/views/pixel.gif"
# The order Allow lists methods in; OPTIONS is answered on every path the app has (see Front).
METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Methods a cross-origin page may use: public reads everywhere, POST only on the beacon.
CORS_READS = frozenset({"GET", "HEAD"})

FAST_PATHS: dict[tuple[str, str], FastPath] = {
    ("POST", "/v1/views"): beacons.post_view,
    ("GET", "/v1/views/pixel.gif"): beacons.pixel,
    ("GET", "/v1/popular"): reads.popular,
    ("GET", "/v1/views"): reads.counts,
}


class Front:
    """Wraps the FastAPI app; answers the hot paths itself."""

    def __init__(
        self, app: Any, settings: Settings, holder: dict[str, Services], methods: Methods
    ) -> None:
        self.app = app
        self.methods = methods
        self.settings = settings
        self.holder = holder
        self.any_origin = "*" in settings.origins
        self.origins = frozenset(o.encode() for o in settings.origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        origin = self._allowed_origin(scope)
        if method == "OPTIONS":
            await self._options(scope, send, origin)
            return
        if origin is None:
            extra, fast_front = SECURITY_HEADERS, PLAIN_FRONT
        else:
            extra = list(SECURITY_HEADERS)
            public_read = method in CORS_READS and not self.methods.admin_read(scope)
            if public_read or path in PUBLIC_POSTS:
                extra.append((b"access-control-allow-origin", origin))
                if origin != b"*":
                    extra.append((b"vary", b"Origin"))
            fast_front = [*extra, API_CSP]
        fast = FAST_PATHS.get((method, path))
        svc = self.holder.get("services")
        # Fast paths set none of these headers themselves: no need to look for clashes.
        if fast is not None and svc is not None:
            try:
                if await fast(svc, scope, receive, send, fast_front):
                    return
            except Exception as exc:
                # A fast path answers its own domain and storage errors; anything else is a
                # bug, and still gets a problem document rather than a dropped connection.
                rendered = for_exception(exc, svc.metrics, self.settings.retry_after_s, path)
                if rendered is not None:
                    with contextlib.suppress(Exception):  # unless its answer had begun already
                        await send_rendered(send, rendered, fast_front)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in extra if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append(API_CSP)
                message["headers"] = headers
            await send(message)

        if method == "HEAD":
            await self._head(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HEAD: the GET's status and headers, Content-Length included, without its body."""

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        if scope["path"] == PIXEL_PATH:  # its GET counts a view; a HEAD must not
            allow = self.methods.header(scope)
            detail = f"a HEAD would count a view: use {allow.decode()}"
            rendered = problem("method_not_allowed", detail, [(b"allow", allow)])
            await send_rendered(without_body, rendered, [])
            return
        # A copy: the server still reads the method it parsed (uvicorn then writes no body).
        await self.app({**scope, "method": "GET"}, receive, without_body)

    def _allowed_origin(self, scope: Scope) -> bytes | None:
        origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None:
            return None
        if self.any_origin:
            return b"*"
        return origin if origin in self.origins else None

    async def _options(self, scope: Scope, send: Send, origin: bytes | None) -> None:
        """OPTIONS: the path's methods in ``Allow``; to a CORS preflight, the CORS headers too
        where the rules allow them (public reads and beacons, never admin endpoints)."""
        methods = self.methods.allowed(scope)
        if not methods:
            rendered = problem("not_found", f"no resource at {scope['path']}")
            await send_rendered(send, rendered, PLAIN_FRONT)
            return
        response = [*SECURITY_HEADERS, (b"allow", ", ".join(methods).encode())]
        wanted = dict(scope["headers"]).get(b"access-control-request-method")
        if origin is not None and wanted is not None:
            public = [m for m in methods if self._cross_origin(m, scope)]
            if wanted.decode("latin-1").upper() in public:
                response += [
                    (b"access-control-allow-origin", origin),
                    (b"access-control-allow-methods", ", ".join(public).encode()),
                    (b"access-control-allow-headers", b"content-type"),
                    (b"access-control-max-age", PREFLIGHT_MAX_AGE),
                ]
                if origin != b"*":
                    response.append((b"vary", b"Origin"))
        await send({"type": "http.response.start", "status": 204, "headers": response})
        await send({"type": "http.response.body", "body": b""})

    def _cross_origin(self, method: str, scope: Scope) -> bool:
        """Whether a page of another origin may use ``method`` here: public reads, beacons."""
        if method in CORS_READS:
            return not self.methods.admin_read(scope)
        return method == "POST" and scope["path"] in PUBLIC_POSTS


class Methods:
    """The methods the app answers on each path, read from its routes: what ``Allow`` says."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self.routes = list(routes)
        # Admin endpoints never answer cross-origin, reads included (see Front): usually none.
        self.admin_reads = [
            route
            for route in self.routes
            if requires_admin(route) and "GET" in (getattr(route, "methods", None) or ())
        ]

    def admin_read(self, scope: Scope) -> bool:
        """Whether a GET or HEAD at the scope's path reaches an admin route."""
        if not self.admin_reads:
            return False
        probe = {**scope, "method": "GET"}
        return any(route.matches(probe)[0] is Match.FULL for route in self.admin_reads)

    def allowed(self, scope: Scope) -> list[str]:
        """The methods at the scope's path, in METHOD_ORDER; none when no route has that path.
        HEAD goes with GET (but not on the pixel: see Front._head), OPTIONS with any route."""
        found: set[str] = set()
        probe = {**scope, "method": "OPTIONS"}
        for route in self.routes:
            match, _ = route.matches(probe)
            if match is not Match.NONE:
                found.update(getattr(route, "methods", None) or METHOD_ORDER)
        if not found:
            return []
        found.add("OPTIONS")
        if "GET" in found and scope["path"] != PIXEL_PATH:
            found.add("HEAD")
        else:
            found.discard("HEAD")
        return [m for m in METHOD_ORDER if m in found] + sorted(found - set(METHOD_ORDER))

    def header(self, scope: Scope) -> bytes:
        """The ``Allow`` header's value at the scope's path."""
        return ", ".join(self.allowed(scope)).encode()
