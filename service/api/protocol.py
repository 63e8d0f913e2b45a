"""uvicorn's httptools protocol with a bound on the request head, which httptools lacks.

uvicorn caps the head only on its h11 protocol (``h11_max_incomplete_event_size``); the faster
httptools protocol buffers a header of any size. This one refuses a head over the same limit
with ``431 headers_too_large`` and closes the connection. `viewcount serve` passes
``VIEWCOUNT_MAX_HEADER_BYTES`` as that limit, so both protocols enforce it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .problems import PROBLEM_TYPE, problem

DEFAULT_MAX_HEAD_BYTES = 16 * 1024
_STATUS, _BODY = problem("headers_too_large", "the request line and headers are too large")
_HEADERS = [(b"content-type", PROBLEM_TYPE.encode()), (b"content-length", b"%d" % len(_BODY)),
            (b"connection", b"close"), (b"x-content-type-options", b"nosniff")]
_RAW = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        + b"".join(name + b": " + value + b"\r\n" for name, value in _HEADERS) + b"\r\n" + _BODY)


async def _too_large(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": _STATUS, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that counts the bytes of each request head."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.max_head_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self._head_bytes = 0
        self._in_head = True

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still inside an unfinished head past the limit: answer now, read no more.
        if self._in_head and self._head_bytes > self.max_head_bytes and \
                not self.transport.is_closing():
            self.transport.write(_RAW)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
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
        self._in_head, self._head_bytes = True, 0
