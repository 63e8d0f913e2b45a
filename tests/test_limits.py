"""Limits on a real uvicorn: body size, header size, and clients that trickle their body."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
import uvicorn

from service.api.protocol import BoundedHttpToolsProtocol, _OneWrite, _Remembered
from service.settings import Settings

from .live import BEACON_HEADERS, HttpConnection, Reply, ServiceProcess, _read_reply, admin_put
from .support import ADMIN_TOKEN, RedisProcess, free_port

BODY_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def served(redis_server: RedisProcess) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        redis_server.url, body_timeout_s=BODY_TIMEOUT_S, max_header_bytes=8192, rate_limit_per_min=0
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
async def conn(served: ServiceProcess, redis: aioredis.Redis) -> AsyncIterator[HttpConnection]:
    http = HttpConnection(served.port, timeout_s=20)
    await admin_put(http, "limited")
    yield http
    await http.close()


async def views(conn: HttpConnection) -> int:
    reply = await conn.request("GET", "/v1/articles/limited/views")
    return int(reply.json()["views"])


def assert_problem(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == code


async def test_body_over_the_limit_is_413(conn: HttpConnection) -> None:
    big = orjson.dumps({"article": "limited", "visitor": "v" * 5000})
    assert_problem(
        await conn.request("POST", "/v1/views", big, BEACON_HEADERS), 413, "payload_too_large"
    )
    put = orjson.dumps({"title": "t" * 20_000, "url": "https://x.example/", "theme": "war"})
    assert_problem(
        await conn.request(
            "PUT",
            "/v1/articles/limited",
            put,
            {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        ),
        413,
        "payload_too_large",
    )
    assert await views(conn) == 0


async def raw_exchange(
    port: int, head: bytes, body_parts: list[bytes], pause_s: float
) -> Reply | None:
    """Send a head, then the body parts ``pause_s`` apart; the reply, or None if the server
    closed the connection without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                writer.write(head)
                for part in body_parts:
                    await asyncio.sleep(pause_s)
                    writer.write(part)
                    await writer.drain()

        sender = asyncio.create_task(trickle())
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S + 15):
                return await _read_reply(reader, "POST")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize("path", ["/v1/views", "/v1/articles/limited"])
async def test_a_trickled_body_is_cut_off(
    served: ServiceProcess, conn: HttpConnection, path: str
) -> None:
    """One byte a second: 408 request_timeout once VIEWCOUNT_BODY_TIMEOUT_S is up, and the
    connection is closed; nothing is counted."""
    body = orjson.dumps(
        {"article": "limited", "title": "t", "url": "https://x.example/", "theme": "war"}
    )
    method = "POST" if path == "/v1/views" else "PUT"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\nUser-Agent: {BEACON_HEADERS['User-Agent']}"
        f"\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    reply = await raw_exchange(served.port, head, [bytes([b]) for b in body], pause_s=1.0)
    assert reply is not None
    assert_problem(reply, 408, "request_timeout")
    assert reply.headers["connection"] == "close"
    assert await views(conn) == 0


async def test_a_body_sent_in_time_in_pieces_counts(
    served: ServiceProcess, conn: HttpConnection
) -> None:
    body = orjson.dumps({"article": "limited"})
    head = (
        f"POST /v1/views HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"User-Agent: {BEACON_HEADERS['User-Agent']}\r\nContent-Length: {len(body)}"
        "\r\n\r\n"
    ).encode()
    reply = await raw_exchange(served.port, head, [body[:5], body[5:]], pause_s=0.1)
    assert reply is not None and reply.status == 202, reply
    assert await views(conn) == 1


@pytest.mark.parametrize("size", [9_000, 100_000, 2_000_000])
async def test_headers_over_the_limit_are_refused(
    served: ServiceProcess, conn: HttpConnection, size: int
) -> None:
    """VIEWCOUNT_MAX_HEADER_BYTES (8 KiB here): 431 headers_too_large, or the connection is
    cut while the client is still sending; the server keeps serving others."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * size + b"\r\n\r\n"
    reply = await raw_exchange(served.port, head, [], pause_s=0)
    if reply is not None:
        assert_problem(reply, 431, "headers_too_large")
    assert (await conn.request("GET", "/healthz", headers={"X-Filler": "a" * 6000})).status == 200


@pytest.mark.parametrize("how", ["trickled", "silent"])
async def test_a_slow_or_silent_head_is_cut_off(
    served: ServiceProcess, conn: HttpConnection, how: str
) -> None:
    """uvicorn bounds neither: headers trickled a byte a second, or a connection that says
    nothing, get 408 request_timeout and a closed connection once VIEWCOUNT_BODY_TIMEOUT_S is
    up; the server keeps serving others."""
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if how == "trickled" else b""
    filler = [bytes([c]) for c in b"X-Slow: " + b"a" * 30] if how == "trickled" else []
    reply = await raw_exchange(served.port, start, filler, pause_s=1.0)
    if reply is not None:  # a silent client may just see the connection closed
        assert_problem(reply, 408, "request_timeout")
        assert reply.headers["connection"] == "close"
    else:
        assert how == "silent"
    assert (await conn.request("GET", "/healthz")).status == 200


async def test_keep_alive_requests_are_not_cut_off(
    served: ServiceProcess, conn: HttpConnection
) -> None:
    """The head timer runs per request, not per connection."""
    for _ in range(4):
        assert (await conn.request("GET", "/healthz")).status == 200
        await asyncio.sleep(BODY_TIMEOUT_S / 2)


# The protocol on its own, in this process, under an app that leaves every deadline to it.
PROTOCOL_TIMEOUT_S = 0.5


class Patient:
    """A raw ASGI app that waits for its body as long as receive() lets it, and records how
    each request ended; ``settings`` carries the deadline, as the service's app does."""

    def __init__(self) -> None:
        self.settings = Settings(body_timeout_s=PROTOCOL_TIMEOUT_S)
        self.endings: asyncio.Queue[str] = asyncio.Queue()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            self.endings.put_nowait((await receive())["type"])
            return
        if scope["path"] == "/answer-first":  # starts its answer, then reads the body
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"2")],
                }
            )
        while (message := await receive())["type"] == "http.request" and message["more_body"]:
            pass
        self.endings.put_nowait(message["type"])
        if message["type"] == "http.request" and scope["path"] != "/answer-first":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"2")],
                }
            )
            await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def patient() -> AsyncIterator[tuple[Patient, int]]:
    app = Patient()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        http=BoundedHttpToolsProtocol,
        lifespan="off",
        ws="websockets-sansio",
        proxy_headers=False,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup()
    yield app, config.port
    await server.shutdown()


def post_head(path: str, length: int, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n{extra}\r\n".encode()


async def test_the_protocol_cuts_off_a_trickled_body_and_ends_the_app(
    patient: tuple[Patient, int],
) -> None:
    """408 request_timeout from the protocol itself, and the app's receive() sees the client
    gone, so its task ends instead of waiting for the rest of the body."""
    app, port = patient
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post_head("/", 10) + b"a")
    reply = await _read_reply(reader, "POST")
    assert_problem(reply, 408, "request_timeout")
    assert reply.headers["connection"] == "close"
    assert await reader.read() == b""  # closed
    assert await asyncio.wait_for(app.endings.get(), 5) == "http.disconnect"
    writer.close()


async def test_a_body_late_after_the_answer_began_closes_the_connection(
    patient: tuple[Patient, int],
) -> None:
    """Too late for a 408 once the answer has started: the connection is closed instead."""
    app, port = patient
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post_head("/answer-first", 10) + b"a")
    assert b"408" not in await asyncio.wait_for(reader.read(), 5)
    assert await asyncio.wait_for(app.endings.get(), 5) == "http.disconnect"
    writer.close()


async def test_bodies_in_time_on_one_connection_outlast_the_deadline(
    patient: tuple[Patient, int],
) -> None:
    """One timer per connection, re-armed as it goes: requests whose heads and bodies each
    come in time are answered however long the connection lives."""
    app, port = patient
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(8):  # 8 x 0.2 s: three times the deadline
        writer.write(post_head("/", 4) + b"ab")
        await asyncio.sleep(PROTOCOL_TIMEOUT_S / 5)
        writer.write(b"cd")
        reply = await asyncio.wait_for(_read_reply(reader, "POST"), 5)
        assert (reply.status, reply.body) == (200, b"ok")
        assert app.endings.get_nowait() == "http.request"
    writer.close()


async def test_expect_100_continue_is_not_held_back(patient: tuple[Patient, int]) -> None:
    """The head of an answer waits for its body (one write for both); 100 Continue does not."""
    _, port = patient
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post_head("/", 2, "Expect: 100-continue\r\n"))
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"ok")
    reply = await asyncio.wait_for(_read_reply(reader, "POST"), 5)
    assert (reply.status, reply.body) == (200, b"ok")
    writer.close()


async def test_a_websocket_outlives_the_request_deadline(patient: tuple[Patient, int]) -> None:
    """Once a request upgrades, the connection is the websocket's: no deadline cuts it."""
    app, port = patient
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 101 ")
    await asyncio.sleep(PROTOCOL_TIMEOUT_S * 3)
    assert app.endings.empty()  # still connected
    writer.write(bytes([0x88, 0x82, 0, 0, 0, 0]) + (1000).to_bytes(2, "big"))  # close frame
    assert await asyncio.wait_for(app.endings.get(), 5) == "websocket.disconnect"
    writer.close()


class Recorded:
    """A transport that keeps what was written, one entry per write or writelines call."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def writelines(self, parts: Iterable[bytes]) -> None:
        self.writes.append(b"".join(parts))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_head_and_its_body_leave_in_one_write() -> None:
    transport = Recorded()
    writer = _OneWrite(transport)  # type: ignore[arg-type]
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
    writer.write(b"ab")
    writer.write(b"cd")
    assert transport.writes == [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab",
        b"cd",
    ]
    held = _OneWrite(transport)  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.close()  # a head whose body never came still leaves before the close
    assert transport.writes[-1] == b"HTTP/1.1 200 OK\r\n\r\n" and transport.closed


@pytest.mark.parametrize("which", ["HEADER_RE", "HEADER_VALUE_RE"])
def test_remembered_header_checks_answer_as_uvicorns_do(which: str) -> None:
    """uvicorn's response-header checks, remembered: the same verdict for good and bad names
    and values, asked once or many times, and after the memory was cleared."""
    from uvicorn.protocols.http import httptools_impl

    pattern = getattr(httptools_impl, which)
    pattern = pattern.pattern if isinstance(pattern, _Remembered) else pattern
    remembered = _Remembered(pattern)
    samples = [
        b"content-type",
        b"x-frame-options",
        b"DENY",
        b"bad name",
        b"bad:name",
        b"value\r\nset-cookie: x=1",
        b"tab\tinside",
        b"nul\x00",
        b"",
        b"\x7f",
        b"default-src 'none'; frame-ancestors 'none'",
    ]
    samples += [b"%d" % n for n in range(2 * _Remembered.MAX_ENTRIES)]  # fills it, twice
    for _ in range(2):
        for value in samples:
            assert bool(remembered.search(value)) == bool(pattern.search(value)), value
    assert len(remembered.answers) <= _Remembered.MAX_ENTRIES
