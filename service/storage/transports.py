"""The ways commands reach Redis: the lean connection, redis-py's client, redis-py's cluster.

A transport sends a batch of raw commands in one round trip (or, on a cluster, one per node,
in parallel) and returns one entry per command: the raw RESP2 reply, or the exception that
stands for its error reply. Connection failures are raised, as redis-py's classes.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import RedisClusterException, ResponseError

from .errors import RETRYABLE
from .lean import Pipelined
from .ops import COMMANDS

T = TypeVar("T")
Wait = tuple[int, int, str]  # WAIT's replicas and timeout ms, and a key of the write it follows


class Transport(Protocol):
    async def send(
        self, commands: Sequence[Sequence[Any]], wait: Wait | None = None
    ) -> list[Any]: ...

    async def ping(self) -> bool:
        """Whether Redis answers: the node, or on a cluster every node."""
        ...

    async def close(self) -> None: ...


class LeanTransport:
    """Everything over one pipelined connection (resp.Pipelined): a plain single node."""

    def __init__(self, connection: Pipelined) -> None:
        self.connection = connection

    async def send(self, commands: Sequence[Sequence[Any]], wait: Wait | None = None) -> list[Any]:
        if wait is not None:  # on the same connection: it covers every write sent before it
            commands = [*commands, ("WAIT", wait[0], wait[1])]
        return await self.connection.execute(commands)

    async def ping(self) -> bool:
        return bool((await self.connection.execute([("PING",)]))[0] == "PONG")

    async def close(self) -> None:
        await self.connection.close()


def _raw(reply: Any, **options: Any) -> Any:
    return reply


def raw_replies(client: aioredis.Redis | RedisCluster) -> None:
    """Switch redis-py's reply parsing off for the commands the service sends (ops.py), so
    they read as the lean transport reads them."""
    for command in COMMANDS:
        client.set_response_callback(command, cast(Any, _raw))


class RedisPyTransport:
    """redis-py's single-node client (TLS URLs), one pipeline per batch."""

    def __init__(self, client: aioredis.Redis) -> None:
        raw_replies(client)
        self.client = client

    async def send(self, commands: Sequence[Sequence[Any]], wait: Wait | None = None) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        if wait is not None:
            pipe.execute_command("WAIT", wait[0], wait[1])
        return list(await pipe.execute(raise_on_error=False))

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()


_gated: contextvars.ContextVar[bool] = contextvars.ContextVar("viewcount_gated", default=False)


class GatedCluster(RedisCluster):
    """A RedisCluster that waits for a free connection instead of failing.

    Its per-node pools raise MaxConnectionsError at once when a burst wants more connections
    than ``max_connections``; a semaphore of that size makes callers queue instead, as the
    single-node BlockingConnectionPool does. Calls made while holding it (a pipeline's
    redirected commands) do not take it again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Semaphore(kwargs.get("max_connections", 100))

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return await self.gated(super().execute_command(*args, **kwargs))

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return _GatedPipeline(self, transaction)  # type: ignore[abstract]

    async def gated(self, work: Awaitable[T]) -> T:
        if _gated.get():
            return await work
        async with self.gate:
            token = _gated.set(True)
            try:
                return await work
            finally:
                _gated.reset(token)


class _GatedPipeline(ClusterPipeline):
    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        client: GatedCluster = self.cluster_client  # type: ignore[assignment]
        return await client.gated(super().execute(raise_on_error, allow_redirections))


class ClusterTransport:
    """redis-py's cluster client: each command routed to its slot's node, MOVED/ASK followed
    inside the client, failovers found by its topology refresh."""

    def __init__(self, client: GatedCluster) -> None:
        raw_replies(client)
        self.client = client

    async def send(self, commands: Sequence[Sequence[Any]], wait: Wait | None = None) -> list[Any]:
        if len(commands) == 1 and wait is None:
            # One command goes as a command, not as a pipeline of one: the cluster client's
            # own retries and redirections for it are simpler, and leave no connection behind
            # when a node stalls (a pipeline's timeout handling dropped connections unclosed).
            try:
                return [await self.client.execute_command(*commands[0])]
            except ResponseError as exc:
                if isinstance(exc, RETRYABLE):
                    raise
                return [exc]
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        if wait is not None:  # WAIT must follow the write on its node's connection
            node = self.client.get_node_from_key(wait[2])
            pipe.execute_command("WAIT", wait[0], wait[1], target_nodes=node)
        return list(await pipe.execute(raise_on_error=False))

    async def ping(self) -> bool:
        return bool(await self.client.ping())  # every node answers

    async def close(self) -> None:
        await self.client.aclose()
