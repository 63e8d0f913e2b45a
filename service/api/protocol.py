"""uvicorn's httptools protocol with bounds on the request head and body, which httptools lacks.

uvicorn caps the head's size only on its h11 protocol (``h11_max_incomplete_event_size``) and
its time nowhere: the faster httptools protocol buffers a header of any size, and a client that
connects and sends nothing, or trickles its headers or its body, holds the connection forever.
This one answers a head over the size limit with ``431 headers_too_large``, and a head, or a
body, not complete within ``VIEWCOUNT_BODY_TIMEOUT_S`` of its start with ``408
request_timeout``, then closes the connection. `viewcount serve` passes
``VIEWCOUNT_MAX_HEADER_BYTES`` as h11's limit, read here too.

This is the only module that touches uvicorn's internals, and it was tested with uvicorn
0.54.0 (pyproject.toml bounds uvicorn to that minor series; the lock pins it). It subclasses
``httptools_impl.HttpToolsProtocol``, overriding connection_made, connection_lost,
data_received, on_headers_complete and on_message_complete and reading its transport, loop,
scope, url, headers, cycle, app and pipeline; gives each request cycle a transport of its own
(_OneWrite) and reads the cycle's response_started, response_complete, disconnected and
message_event; and wraps the module's HEADER_RE and HEADER_VALUE_RE. A uvicorn that changes
any of these fails tests/unit/test_uvicorn_internals.py, naming the part.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..errors import RequestTimeout
from ..settings import Settings
from .asgi import DEADLINES, as_raw, from_error, problem, too_slow

# Without the app's settings (another app under this protocol), the service's defaults.
DEFAULT_MAX_HEAD_BYTES: int = Settings.model_fields["max_header_bytes"].default
DEFAULT_TIMEOUT_S: float = Settings.model_fields["body_timeout_s"].default
# uvicorn's timers have millisecond grain: a deadline this close counts as reached.
_SLACK_S = 0.005
_CLOSE = [(b"connection", b"close"), (b"x-content-type-options", b"nosniff")]
# A head too large for the bytes limit but parsed whole: answered through uvicorn's cycle.
_STATUS, _HEADERS, _BODY = problem(
    "headers_too_large", "the request line and headers are too large", _CLOSE
)
# Heads cut off before they are complete: answered as raw bytes, then the connection closes.
_TOO_LARGE = as_raw(problem("headers_too_large", "the request line and headers are too large"))
_TOO_SLOW = as_raw(from_error(RequestTimeout("the request line and headers came too slowly")))
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # what uvicorn writes for Expect: 100-continue


def _body_too_slow(timeout_s: float) -> bytes:
    # The words read_body uses, so the answer is the same whichever notices.
    return as_raw(from_error(too_slow(timeout_s)))


async def _too_large(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": _STATUS, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def _limits(config: Any) -> tuple[float, bytes]:
    """VIEWCOUNT_BODY_TIMEOUT_S from the app's settings (uvicorn may wrap the app), and the
    408 answer to a body slower than that."""
    cached: tuple[float, bytes] | None = getattr(config, "viewcount_limits", None)
    if cached is None:
        app, timeout_s = config.loaded_app, DEFAULT_TIMEOUT_S
        for _ in range(8):
            settings = getattr(app, "settings", None)
            if settings is not None and hasattr(settings, "body_timeout_s"):
                timeout_s = float(settings.body_timeout_s)
                break
            app = getattr(app, "app", None)
        cached = config.viewcount_limits = (timeout_s, _body_too_slow(timeout_s))
    return cached


class _Remembered:
    """One of uvicorn's header checks (a regex search on every name and value of every
    response) that remembers its answers: the same few headers go out on every response, and
    two searches per header cost a beacon more than its JSON parse. Same answers, same
    errors; the memory is cleared when it fills (a changing Date header, ETags)."""

    MAX_ENTRIES = 4096

    def __init__(self, pattern: Any) -> None:
        self.pattern = pattern
        self.answers: dict[bytes, bool] = {}

    def search(self, value: bytes) -> bool | None:
        found = self.answers.get(value)
        if found is None:
            found = self.pattern.search(value) is not None
            if len(self.answers) >= self.MAX_ENTRIES:
                self.answers.clear()
            self.answers[value] = found
        return found or None


def _remember_header_checks() -> None:
    """Wrap uvicorn's checks once per process (left alone if a uvicorn renames them)."""
    for name in ("HEADER_RE", "HEADER_VALUE_RE"):
        check = getattr(httptools_impl, name, None)
        if check is not None and not isinstance(check, _Remembered):
            setattr(httptools_impl, name, _Remembered(check))


class _OneWrite:
    """The transport as a response cycle sees it: the head waits for the first body bytes, so
    a small response leaves in one write (one send call, one TCP segment) rather than two."""

    __slots__ = ("held", "started", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.held: bytes | None = None
        self.started = False

    def write(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.transport.writelines((held, data))
        elif not self.started and data != _CONTINUE:
            self.held, self.started = data, True  # the head; a body write follows it
        else:
            self.transport.write(data)

    def close(self) -> None:
        if self.held is not None:  # a head whose body never came, as uvicorn would leave it
            self.transport.write(self.held)
            self.held = None
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that bounds the bytes of each request head and the time of each head
    and body, with one timer per connection rather than one per request."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        _remember_header_checks()
        self.max_head_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self.timeout_s, self._body_too_slow = _limits(config)
        self._head_bytes = 0
        self._in_head = True
        # When the head or body being read must be complete; None while none is. The timer
        # only ever fires early (deadlines move later), then re-arms for what is left.
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect()  # a client that connects and says nothing

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            if self._deadline is None:  # a head's first bytes (idle time is keep-alive's)
                self._expect()
            self._head_bytes += len(data)
        super().data_received(data)
        # Still inside an unfinished head past the limit: answer now, read no more.
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse(_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._expect()  # the body's time; a request without one completes at once
        # The app need not time the body itself.
        self.scope[DEADLINES] = True  # type: ignore[literal-required]
        head = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        previous = self.cycle
        if head <= self.max_head_bytes:
            super().on_headers_complete()
        else:
            app, self.app = self.app, _too_large  # answered through uvicorn's usual cycle
            try:
                super().on_headers_complete()
            finally:
                self.app = app
        # Not when the request upgraded to a websocket (the same cycle), nor for a HEAD: its
        # answer has no body write for the head to wait for.
        if self.cycle is not previous and self.scope["method"] != "HEAD":
            self.cycle.transport = _OneWrite(self.transport)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # Idle time until the next request is uvicorn's keep-alive timeout; its head, ours.
        self._in_head, self._head_bytes, self._deadline = True, 0, None

    def _expect(self) -> None:
        """Start the clock on a head or a body."""
        self._deadline = deadline = self.loop.time() + self.timeout_s
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self.transport.is_closing():
            return
        if self.loop.time() < deadline - _SLACK_S:
            self._timer = self.loop.call_at(deadline, self._check_deadline)
        elif self.pipeline or (
            self._in_head and self.cycle is not None and not self.cycle.response_complete
        ):
            self._expect()  # a pipelined request waits for the answer before it
        elif self._in_head:
            self._refuse(_TOO_SLOW)
        else:
            self._body_timed_out()

    def _body_timed_out(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self.transport.close()  # too late for a 408: the client sees the answer cut
        else:
            self._refuse(self._body_too_slow)
        if cycle is not None:  # the app's pending receive() sees the client gone, and ends
            cycle.disconnected = True
            cycle.message_event.set()

    def _refuse(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()
