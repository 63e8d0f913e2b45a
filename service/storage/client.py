"""The Storage the service shares: scripts and commands over one transport, with retries,
WAIT, the replay guard, and only the storage package's own errors."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from ..settings import Settings
from . import ops
from .errors import (
    ReplicationShortfall,
    ReplyError,
    StorageError,
    is_retryable,
    translate,
)
from .lean import Connection, Pipelined, SSLConnection
from .ops import Op
from .script import Call
from .transports import (
    ClusterTransport,
    GatedCluster,
    LeanTransport,
    RedisPyTransport,
    Transport,
    Wait,
)

T = TypeVar("T")
RETRY_FIRST_DELAY_S = 0.05
RETRY_MAX_DELAY_S = 0.5
PROTOCOL = 2  # RESP2 on every transport: the lean one speaks nothing else


def _missing_script(reply: Any) -> bool:
    if isinstance(reply, ReplyError):
        return reply.code == "NOSCRIPT"
    return isinstance(reply, NoScriptError)


# Reads of up to ~1,000 members (a few hundred µs of Redis each) that one turn of
# Storage.execute_in_turns sends at once: other clients' commands wait behind a whole turn.
READS_A_TURN = 8


class Storage:
    """Redis as the service sees it: scripts (``run``), commands (``execute``), ``ping``."""

    def __init__(
        self,
        transport: Transport,
        *,
        cluster: bool,
        retry_s: float = 0.0,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 0,
        marker_ttl_s: int = 30,
        marker_key: Callable[[str, str], str] | None = None,
    ) -> None:
        self.transport = transport
        self.cluster = cluster
        self.retry_s = retry_s
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.marker_ttl_s = marker_ttl_s
        self.url: str | None = None  # where connect() connected it: for helper processes
        self._marker_key = marker_key or _marker_key

    # --- scripts -----------------------------------------------------------------------------
    async def run(self, call: Call) -> Any:
        """Run one script on its slot's node; retried within ``retry_s`` while unreachable."""
        guarded = self._guard(call)
        return await self.retrying(lambda: self._run_once(guarded))

    def per_call(self, sections: Sequence[T]) -> list[list[T]]:
        """How per-slot sections share script calls: all in one on a single node (scripts may
        touch any key there), one call each on a cluster (a call's keys share a slot)."""
        if self.cluster:
            return [[section] for section in sections]
        return [list(sections)] if sections else []

    async def run_all(self, calls: Sequence[Call], *, return_exceptions: bool = False) -> list[Any]:
        """Run scripts for several slots at once: one round trip on a single node, parallel
        calls (one per slot, each routed to its node) on a cluster. With
        ``return_exceptions`` a failed call's StorageError takes the place of its result (on a
        cluster one node can fail while the others answer)."""
        if not calls:
            return []
        if self.cluster or len(calls) == 1:
            return list(
                await asyncio.gather(
                    *(self.run(c) for c in calls), return_exceptions=return_exceptions
                )
            )
        guarded = [self._guard(c) for c in calls]
        try:
            return await self.retrying(lambda: self._run_many(guarded))
        except StorageError as exc:
            if not return_exceptions:
                raise
            return [exc] * len(calls)

    def _guard(self, call: Call) -> Call:
        """The call plus its marker: every attempt at it (ours, redis-py's) shares one."""
        if not call.script.durable:
            return call
        marker = self._marker_key(call.keys[0] if call.keys else "", os.urandom(8).hex())
        return Call(call.script, [*call.keys, marker], [*call.args, self.marker_ttl_s])

    def _wait(self, calls: Sequence[Call]) -> Wait | None:
        if self.wait_replicas and any(c.script.durable for c in calls):
            return (self.wait_replicas, self.wait_timeout_ms, calls[0].keys[0])
        return None

    async def _run_once(self, call: Call) -> Any:
        return (await self._run_many([call]))[0]

    async def _run_many(self, calls: Sequence[Call]) -> list[Any]:
        wait = self._wait(calls)
        replies = await self.transport.send([c.command() for c in calls], wait)
        if wait is not None:
            self._check_replicas(replies.pop())
        for index, reply in enumerate(replies):
            if _missing_script(reply):  # a new node (failover, reshard, restart): empty cache
                again = await self.transport.send([calls[index].command("EVAL")], wait)
                if wait is not None:
                    self._check_replicas(again.pop())
                replies[index] = reply = again[0]
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _check_replicas(self, replicas: Any) -> None:
        if isinstance(replicas, Exception):
            raise replicas
        if int(replicas) < self.wait_replicas:
            raise ReplicationShortfall(
                f"{replicas} of {self.wait_replicas} replicas confirmed the write in time"
            )

    # --- commands ----------------------------------------------------------------------------
    async def execute(self, ops: Sequence[Op[Any]]) -> list[Any]:
        """The values of several commands, sent in one round trip (one per node on a
        cluster); retried while unreachable, so only idempotent ones belong here."""
        if not ops:
            return []
        replies = await self.retrying(lambda: self.transport.send([op.args for op in ops]))
        values = []
        for op, reply in zip(ops, replies, strict=True):
            if isinstance(reply, Exception):
                if op.expected_error is None or op.expected_error not in str(reply).lower():
                    raise translate(reply) from reply
                values.append(op.on_expected_error)
            else:
                values.append(op.decode(reply))
        return values

    async def execute_in_turns(self, ops: Sequence[Op[Any]], per_turn: int) -> list[Any]:
        """execute() of ``per_turn`` commands at a time, each turn sent once the one before is
        answered: Redis runs the commands a client pipelined back to back, and one rollup read
        of 48 ZRANGEs of 4,000 ranks each held every other client (the beacons) ~40 ms. Between
        turns it serves the others; a turn costs a round trip."""
        values: list[Any] = []
        for start in range(0, len(ops), per_turn):
            values += await self.execute(ops[start : start + per_turn])
        return values

    async def one(self, op: Op[T]) -> T:
        value: T = (await self.execute([op]))[0]
        return value

    async def whole_hash(self, key: str, page: int) -> dict[str, str]:
        """Every field of a hash, ``page`` fields a round trip (HSCAN): one HGETALL of a
        megabytes-large hash holds Redis, then the caller's event loop, for milliseconds."""
        found: dict[str, str] = {}
        cursor = 0
        while True:
            cursor, fields = await self.one(ops.hscan(key, cursor, page))
            found.update(fields)
            if not cursor:
                return found

    async def ping(self) -> bool:
        try:
            return await self.retrying(self.transport.ping)
        except StorageError:
            return False

    # --- retries -----------------------------------------------------------------------------
    async def retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Retry unreachable-node and failover errors with backoff until ``retry_s`` passes;
        every other failure is translated at once."""
        deadline = time.monotonic() + self.retry_s
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                return await attempt()
            except StorageError:
                raise
            except Exception as exc:
                if not is_retryable(exc) or time.monotonic() + delay > deadline:
                    raise translate(exc) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY_S)

    async def close(self) -> None:
        await self.transport.close()


def _marker_key(first_key: str, token: str) -> str:
    """Where a call's result is kept for its replays: the slot of its first key."""
    start = first_key.find("{")
    end = first_key.find("}", start + 1)
    tag = first_key[start : end + 1] if start >= 0 and end > start + 1 else "{calls}"
    prefix = first_key[:start].split(":", 1)[0] if start > 0 else "vc"
    return f"{prefix}:{tag}:once:{token}"


def connect(settings: Settings, url: str | None = None, *, lean: bool = True) -> Storage:
    """Storage for ``url`` (default: the configured one); connects lazily. ``lean=False``
    takes redis-py's client where the lean transport would serve (the conformance test)."""
    url = url or settings.redis_url
    if not url:
        raise ValueError("no Redis URL: set VIEWCOUNT_REDIS_URL or use the embedded server")
    options: dict[str, Any] = {
        "retry_s": settings.redis_retry_s,
        "wait_replicas": settings.redis_wait_replicas,
        "wait_timeout_ms": settings.redis_wait_timeout_ms,
        # Longer than any replay can come: our retries plus redis-py's, each a timeout long.
        "marker_ttl_s": math.ceil(settings.redis_retry_s + 4 * settings.redis_timeout_s) + 5,
    }
    common: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
        "decode_responses": True,
        "protocol": PROTOCOL,
    }
    transport: Transport
    if settings.redis_cluster:
        # MOVED/ASK are followed inside the client; a few quick retries on connection errors
        # let it find a promoted replica. Storage.retrying bounds the rest in time.
        cluster = cast(
            GatedCluster,
            GatedCluster.from_url(
                url,
                max_connections=settings.redis_max_connections,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
                **common,
            ),
        )
        _use_connection_class(cluster, SSLConnection if url.startswith("rediss") else Connection)
        storage = Storage(ClusterTransport(cluster), cluster=True, **options)
        storage.url = url
        return storage
    if lean and Pipelined.supports(url):
        transport = LeanTransport(Pipelined(url, settings.redis_timeout_s))
    else:
        # No retries inside the client: Storage retries what is safe to replay.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            connection_class=SSLConnection if url.startswith("rediss") else Connection,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_timeout_s,
            retry=Retry(ExponentialBackoff(), 0),
            **common,
        )
        transport = RedisPyTransport(aioredis.Redis.from_pool(pool))
    storage = Storage(transport, cluster=False, **options)
    storage.url = url
    return storage


def _use_connection_class(cluster: GatedCluster, connection_class: type) -> None:
    """Every node's connections, those known now and those found later, of our class.
    RedisCluster.from_url fixes redis-py's own; its nodes take the class from these."""
    cluster.nodes_manager.connection_kwargs["connection_class"] = connection_class
    for node in cluster.nodes_manager.startup_nodes.values():
        node.connection_class = connection_class
