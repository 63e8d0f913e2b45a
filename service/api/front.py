"""The outermost ASGI layer: security headers, CORS, and the fast paths.

The beacons and the two public reads that widgets poll (GET /v1/popular, GET /v1/views) are
answered here without the framework in the way; everything else, and any request a fast path
declines (a missing or malformed parameter, HEAD), goes to FastAPI.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..settings import Settings
from . import beacons, reads
from .asgi import Receive, Scope, Send, for_exception, send_rendered
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

FAST_PATHS: dict[tuple[str, str], FastPath] = {
    ("POST", "/v1/views"): beacons.post_view,
    ("GET", "/v1/views/pixel.gif"): beacons.pixel,
    ("GET", "/v1/popular"): reads.popular,
    ("GET", "/v1/views"): reads.counts,
}


class Front:
    """Wraps the FastAPI app; answers the hot paths itself."""

    def __init__(self, app: Any, settings: Settings, holder: dict[str, Services]) -> None:
        self.app = app
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
            await self._preflight(scope, send, origin)
            return
        if origin is None:
            extra, fast_front = SECURITY_HEADERS, PLAIN_FRONT
        else:
            extra = list(SECURITY_HEADERS)
            if method in ("GET", "HEAD") or path in PUBLIC_POSTS:
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

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in extra if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append(API_CSP)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _allowed_origin(self, scope: Scope) -> bytes | None:
        origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None:
            return None
        if self.any_origin:
            return b"*"
        return origin if origin in self.origins else None

    async def _preflight(self, scope: Scope, send: Send, origin: bytes | None) -> None:
        """CORS preflight: allowed for public reads and beacons, never for admin endpoints."""
        headers = dict(scope["headers"])
        wanted = headers.get(b"access-control-request-method", b"").upper()
        path = scope["path"]
        allowed = wanted in (b"GET", b"HEAD") or (wanted == b"POST" and path in PUBLIC_POSTS)
        response = list(SECURITY_HEADERS)
        if allowed and origin is not None:
            response += [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-methods", b"GET, HEAD, POST"),
                (b"access-control-allow-headers", b"content-type"),
                (b"access-control-max-age", PREFLIGHT_MAX_AGE),
            ]
            if origin != b"*":
                response.append((b"vary", b"Origin"))
        await send({"type": "http.response.start", "status": 204, "headers": response})
        await send({"type": "http.response.body", "body": b""})
