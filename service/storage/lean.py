"""A lean RESP2 transport for a single node, and C command packing for redis-py's connections.

redis-py's asyncio client spends 50-100 µs of CPU on every round trip on Python 3.11 (pool,
locks, a task per timeout, instrumentation; redis-py #4176, PR #4191): more than a whole beacon
costs otherwise (`python -m bench transport` measures both). On a plain single node (redis://
or unix://) every command goes through ``Pipelined`` instead: one connection, commands written
as they come and packed in C by hiredis, replies parsed by hiredis and matched to callers in
order. TLS and Redis Cluster stay with redis-py, whose connections this module also improves.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import ReplyError

_pack = hiredis.pack_command


def pack(args: Sequence[Any]) -> bytes:
    """One command in RESP, multi-word names ("CONFIG GET") split as Redis expects."""
    if isinstance(args[0], str) and " " in args[0]:
        args = (*args[0].split(), *args[1:])
    try:
        packed: bytes = _pack(tuple(args))
    except TypeError as exc:
        raise DataError(str(exc)) from exc
    return packed


class Connection(aioredis.Connection):
    """redis-py's TCP connection with commands packed by hiredis, and a connection torn
    down under a command reported as the ConnectionError it is.

    redis-py's asyncio connection packs in Python, re-joining a growing buffer for every
    argument: a group-commit call with thousands of arguments spent longer there than Redis
    spent running it. (redis-py's own sync client packs with hiredis when it is installed.)

    A connection can be torn down under a command: a peer resets it while it sits idle in the
    pool (the next write then fails inside the transport: uvloop raises RuntimeError, asyncio
    TypeError or AttributeError; redis-py #3546, #4287), or another task disconnects it while
    this one uses it (the cluster client, after an error, disconnects a node's free
    connections from a list taken before it awaits, so one another task has just taken goes
    too). Both are told by the connection's state, not by an error's message: a command's
    write on a closing transport reconnects first; an error raised while another task tore
    the connection down becomes ConnectionError, which the storage package retries. Any other
    error is a bug and stays what it is. Two cases once left a command waiting the whole
    socket timeout for a reply that could not come (a fresh cluster client's first calls,
    tests/test_connection.py):

    - torn down between the writes of its connect handshake, the connection reconnected inside
      the handshake, whose remaining reads then waited for replies sent to the nested one: a
      handshake's write on a torn connection is now a ConnectionError;
    - a disconnect waiting for its socket to close clears the connection's streams when it
      ends, after another task may have reconnected: a connect now waits for it.
    """

    _busy: asyncio.Task[Any] | None = None
    _torn: bool = False
    _sending = 0  # sends under way: a connect's handshake nests its own inside a command's
    _closing: asyncio.Future[None] | None = None

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], bytes) and b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        return [pack(args)]

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:
        current = asyncio.current_task()
        if current is None:  # finalised outside a task: redis-py closes synchronously
            await super().disconnect(*args, **kwargs)
            return
        if self._busy is not None and self._busy is not current:
            self._torn = True  # under another task's command
        closing = self._closing = asyncio.get_running_loop().create_future()
        try:
            await super().disconnect(*args, **kwargs)
        finally:
            closing.set_result(None)
            if self._closing is closing:
                self._closing = None

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        await self._closed()
        await super().connect_check_health(*args, **kwargs)

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self._sending += 1
        try:
            writer = self._writer
            torn = writer is None or writer.transport.is_closing()
            if self._sending > 1 and torn:  # a handshake's write: never a nested connect
                raise RedisConnectionError("connection torn down during its connect handshake")
            if writer is not None and torn:
                await super().disconnect(nowait=True)  # reset while idle: start on a fresh one
            await self._guarded(super().send_packed_command(command, check_health), "writing")
        finally:
            self._sending -= 1

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        return await self._guarded(super().read_response(*args, **kwargs), "reading")

    async def _guarded(self, work: Awaitable[Any], doing: str) -> Any:
        outer = self._busy  # a handshake's calls run inside a command's
        if outer is None:
            self._torn = False
        self._busy = asyncio.current_task()
        try:
            return await work
        except (RuntimeError, AttributeError, TypeError) as exc:
            if not self._torn:
                raise
            raise RedisConnectionError(f"connection torn down while {doing}: {exc}") from exc
        finally:
            self._busy = outer

    async def _closed(self) -> None:
        """Wait for another task's disconnect to finish closing the old socket: it clears
        the connection's streams when it ends, which must not be a new connection's."""
        while self._closing is not None and not self._closing.done():
            await asyncio.shield(self._closing)


class SSLConnection(Connection, aioredis.SSLConnection):
    """redis-py's TLS connection, packed and torn-aware as Connection is."""


class _Batch:
    """The replies one write is waiting for, in order."""

    __slots__ = ("expected", "future", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], expected: int) -> None:
        self.future = future
        self.expected = expected
        self.replies: list[Any] = []


class _Protocol(asyncio.Protocol):
    """One connection: the batches of commands in flight, answered in the order sent."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8", errors="replace")
        self.waiting: deque[_Batch] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            batch = self.waiting[0]
            if isinstance(reply, hiredis.ReplyError):
                reply = ReplyError.parse(str(reply))
            batch.replies.append(reply)
            if len(batch.replies) == batch.expected:
                self.waiting.popleft()
                if not batch.future.done():  # else its caller gave up (timeout, cancelled)
                    batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or RedisConnectionError("Connection closed by server.")
        while self.waiting:
            future = self.waiting.popleft().future
            if not future.done():
                future.set_exception(RedisConnectionError(str(self.lost)))

    def send(self, payload: bytes, replies: int) -> asyncio.Future[list[Any]]:
        assert self.transport is not None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Batch(future, replies))
        self.transport.write(payload)
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Pipelined:
    """Commands over one pipelined connection; connects lazily and again after a failure.

    A reply error is returned in place of its reply, as a ReplyError; a lost or silent
    connection raises redis-py's ConnectionError or TimeoutError (the classes the storage
    package retries) and is dropped.
    """

    def __init__(self, url: str, timeout_s: float) -> None:
        self.options = parse_url(url)
        self.timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    @staticmethod
    def supports(url: str) -> bool:
        """Plain TCP and Unix sockets; TLS stays with redis-py."""
        return url.startswith(("redis://", "unix://"))

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Replies of several commands sent in one write; errors in place of their reply."""
        payload = b"".join(pack(c) for c in commands)
        protocol = await self._connected()
        future = protocol.send(payload, len(commands))
        try:
            async with asyncio.timeout(self.timeout_s):
                return await future
        except TimeoutError:
            self._drop(protocol)
            raise RedisTimeoutError("Timeout reading from Redis") from None

    async def close(self) -> None:
        if self._protocol is not None:
            self._drop(self._protocol)

    def _drop(self, protocol: _Protocol) -> None:
        protocol.close()
        if self._protocol is protocol:
            self._protocol = None

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol  # the usual case: no lock to take
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is None or self._protocol.lost is not None:
                self._protocol = await self._connect()
            return self._protocol

    async def _connect(self) -> _Protocol:
        loop, options = asyncio.get_running_loop(), self.options
        try:
            async with asyncio.timeout(self.timeout_s):
                if "path" in options:
                    _, protocol = await loop.create_unix_connection(_Protocol, options["path"])
                else:
                    _, protocol = await loop.create_connection(
                        _Protocol, options.get("host", "localhost"), options.get("port", 6379)
                    )
                setup: list[list[Any]] = []
                if options.get("password"):
                    setup.append(
                        ["AUTH", *[v for v in (options.get("username"),) if v], options["password"]]
                    )
                if options.get("db"):
                    setup.append(["SELECT", options["db"]])
                if setup:
                    replies = await protocol.send(b"".join(pack(c) for c in setup), len(setup))
                    for reply in replies:
                        if isinstance(reply, ReplyError):
                            protocol.close()
                            raise RedisConnectionError(f"Redis refused the connection: {reply}")
        except TimeoutError:
            raise RedisTimeoutError("Timeout connecting to Redis") from None
        except OSError as exc:
            raise RedisConnectionError(f"Error connecting to Redis: {exc}") from exc
        return protocol
