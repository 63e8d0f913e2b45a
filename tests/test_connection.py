"""The storage package's redis-py connection when other tasks disconnect it (real Redis).

redis-py's cluster client disconnects a node's free connections after an error, from the task
that saw the error, while another task may already have taken one of them from the pool; and
a disconnect that waits for its socket to close clears the connection's streams when it ends.
Both once left a rollup's command waiting a whole socket timeout for a reply that could not
come (tests/test_snapshots.py on the cluster, after the suite's long test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError

from service.storage.lean import Connection, pack

from .support import RedisProcess


@pytest.fixture
async def connection(single_server: RedisProcess) -> AsyncIterator[Connection]:
    conn = Connection(host="127.0.0.1", port=single_server.port, socket_timeout=5)
    yield conn
    await conn.disconnect()


async def test_a_disconnect_from_another_task_fails_the_command_under_way_at_once(
    connection: Connection,
) -> None:
    await connection.send_command("BLPOP", "vc:test:connection:absent", 3)
    reply = asyncio.create_task(connection.read_response())
    await asyncio.sleep(0.05)  # the command is waiting for its reply
    await connection.disconnect()  # another task's sweep of the pool
    with pytest.raises(ConnectionError):  # retried by the storage package, not a hang
        await asyncio.wait_for(reply, 1)


async def test_a_disconnect_during_the_connect_handshake_fails_it_at_once(
    connection: Connection,
) -> None:
    connecting = asyncio.create_task(connection.connect())
    while connection._writer is None:  # the socket is open, the handshake's writes begin
        await asyncio.sleep(0)
    await connection.disconnect()  # another task's sweep of the pool
    with pytest.raises(ConnectionError):  # not a connect nested inside the handshake
        await asyncio.wait_for(connecting, 1)
    await connection.send_command("PING")  # the next command starts on a fresh connection
    assert await connection.read_response() == b"PONG"


async def test_a_reconnect_never_loses_its_streams_to_a_disconnect_still_closing(
    connection: Connection, single_server: RedisProcess
) -> None:
    await connection.connect()
    stall = Connection(host="127.0.0.1", port=single_server.port, socket_timeout=5)
    await stall.send_command("DEBUG", "SLEEP", 0.5)  # Redis reads nothing for a moment
    # A write still buffered when the connection is closed: closing waits for it to drain.
    assert connection._writer is not None
    connection._writer.write(pack(("SET", "vc:test:connection:big", b"x" * (64 << 20))))
    closing = asyncio.create_task(connection.disconnect())  # another task's sweep
    await asyncio.sleep(0.05)
    assert not closing.done()
    await connection.send_command("PING")  # this task takes the connection meanwhile
    assert await connection.read_response() == b"PONG"
    await closing
    assert connection.is_connected  # the disconnect's end did not clear the new socket
    await connection.send_command("PING")
    assert await connection.read_response() == b"PONG"
    await stall.read_response()
    await stall.disconnect()


async def test_the_task_running_a_command_may_still_disconnect_it(connection: Connection) -> None:
    await connection.connect()
    await connection.send_command("PING")
    assert await connection.read_response() == b"PONG"
    await connection.disconnect()
    assert not connection.is_connected and not connection.should_reconnect()
