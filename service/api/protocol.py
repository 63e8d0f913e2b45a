"""uvicorn's httptools protocol with bounds on the request head, which httptools lacks.

uvicorn caps the head's size only on its h11 protocol (``h11_max_incomplete_event_size``) and
its time nowhere: the faster httptools protocol buffers a header of any size, and a client that
connects and sends nothing, or trickles its headers, holds the connection forever. This one
answers a head over the size limit with ``431 headers_too_large`` and one not complete within
``VIEWCOUNT_BODY_TIMEOUT_S`` with ``408 request_timeout``, then closes the connection.
`viewcount serve` passes ``VIEWCOUNT_MAX_HEADER_BYTES`` as h11's limit, read here too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .problems import PROBLEM_TYPE, problem

DEFAULT_MAX_HEAD_BYTES = 16 * 1024
DEFAULT_HEAD_TIMEOUT_S = 5.0
_STATUS, _BODY = problem("headers_too_large", "the request line and headers are too large")
_HEADERS = [(b"content-type", PROBLEM_TYPE.encode()), (b"content-length", b"%d" % len(_BODY)),
            (b"connection", b"close"), (b"x-content-type-options", b"nosniff")]


def _raw(status_line: bytes, code: str, detail: str) -> bytes:
    body = problem(code, detail)[1]
    headers = [(b"content-type", PROBLEM_TYPE.encode()), (b"content-length", b"%d" % len(body)),
               (b"connection", b"close"), (b"x-content-type-options", b"nosniff")]
    return (status_line + b"\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers)
            + b"\r\n" + body)


_TOO_LARGE = _raw(b"HTTP/1.1 431 Request Header Fields Too Large", "headers_too_large",
                  "the request line and headers are too large")
_TOO_SLOW = _raw(b"HTTP/1.1 408 Request Timeout", "request_timeout",
                 "the request line and headers came too slowly")


async def _too_large(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": _STATUS, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def _head_timeout_s(config: Any) -> float:
    """VIEWCOUNT_BODY_TIMEOUT_S from the app's settings (uvicorn may wrap the app)."""
    cached: float | None = getattr(config, "viewcount_head_timeout_s", None)
    if cached is None:
        app, cached = config.loaded_app, DEFAULT_HEAD_TIMEOUT_S
        for _ in range(8):
            settings = getattr(app, "settings", None)
            if settings is not None and hasattr(settings, "body_timeout_s"):
                cached = float(settings.body_timeout_s)
                break
            app = getattr(app, "app", None)
        config.viewcount_head_timeout_s = cached
    return cached


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that counts the bytes and the time of each request head."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.max_head_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self.head_timeout_s = _head_timeout_s(config)
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()  # a client that connects and says nothing

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._start_head_timer()
        super().data_received(data)
        # Still inside an unfinished head past the limit: answer now, read no more.
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse(_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        head = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if head <= self.max_head_bytes:
            super().on_headers_complete()
            return
        app, self.app = self.app, _too_large  # answered through uvicorn's usual cycle
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # Idle time until the next request is uvicorn's keep-alive timeout; its head, ours.
        self._in_head, self._head_bytes = True, 0

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._start_head_timer()  # a pipelined head waits for the answer before it
            return
        self._refuse(_TOO_SLOW)

    def _refuse(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()
