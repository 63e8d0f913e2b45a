"""The Redis client (single node or cluster), its scripts and its lifecycle."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from . import keys, resp
from .settings import Settings

Client = aioredis.Redis | RedisCluster
T = TypeVar("T")


class StorageUnavailable(Exception):
    """Redis did not answer in time, or answered with an error."""


class ReplicationShortfall(StorageUnavailable):
    """Written on the master, but fewer replicas than required confirmed it in time."""


# What a Redis call can raise when the server is down, slow or failing over.
STORAGE_ERRORS = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)
# Errors worth another attempt: the node was unreachable or the cluster was switching over.
# A script may have run before its reply was lost; every call carries a marker (see GUARD_HEAD),
# so running it again returns the first run's result and counts nothing twice.
RETRYABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
)
RETRY_FIRST_DELAY_S = 0.05
RETRY_MAX_DELAY_S = 0.5


# Wrapped around every script: the last key is the call's marker, the last argument its TTL.
# The first run stores its result under the marker (atomically with its writes, so a failover
# keeps both or neither); a replay of the same call finds it and returns it unchanged.
GUARD_HEAD = """local marker, marker_ttl = table.remove(KEYS), table.remove(ARGV)
local done = redis.call('GET', marker)
if done then return cjson.decode(done) end
local function body()
"""
GUARD_TAIL = """
end
local result = body()
redis.call('SET', marker, cjson.encode(result), 'EX', marker_ttl)
return result
"""


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script from service/lua, called by SHA and reloaded on NOSCRIPT.

    ``durable`` scripts (the default: writes that must not be lost or doubled) run inside the
    replay guard and wait for replicas when VIEWCOUNT_REDIS_WAIT_REPLICAS is set; the others
    (reads) run as they are.
    """

    name: str
    source: str
    sha: str
    durable: bool = True

    @classmethod
    def load(cls, name: str, *, durable: bool = True) -> Script:
        source = resources.files("service").joinpath("lua", f"{name}.lua").read_text()
        if durable:
            source = GUARD_HEAD + source + GUARD_TAIL
        return cls(name, source, hashlib.sha1(source.encode()).hexdigest(), durable)


@dataclass(frozen=True, slots=True)
class Call:
    """One script invocation; every key it touches is in ``keys`` (one slot)."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Any]


class Store:
    """The Redis connection the service shares, plus the way it runs scripts."""

    def __init__(
        self,
        client: Client,
        cluster: bool,
        *,
        retry_s: float = 0.0,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 0,
        marker_ttl_s: int = 30,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self.retry_s = retry_s
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.marker_ttl_s = marker_ttl_s
        # Script calls on a single node go through the lean pipelined client (see resp.py).
        self.fast: resp.Pipelined | None = None

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
        """Run scripts for several slots at once: one pipeline on a single node, parallel calls
        (one per slot, each routed to its node) on a cluster. With ``return_exceptions`` a
        failed call's exception takes the place of its result (on a cluster one node can fail
        while the others answer)."""
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
            return await self.retrying(lambda: self._pipeline(guarded))
        except Exception as exc:
            if not return_exceptions:
                raise
            return [exc] * len(calls)

    def _guard(self, call: Call) -> Call:
        """The call plus its marker: every attempt at it (ours, redis-py's) shares one."""
        if not call.script.durable:
            return call
        marker = keys.call_marker(call.keys[0] if call.keys else "", os.urandom(8).hex())
        return Call(call.script, [*call.keys, marker], [*call.args, self.marker_ttl_s])

    async def _run_once(self, call: Call) -> Any:
        if self.wait_replicas and call.script.durable:
            return await self._run_durable(call)
        keys, script = call.keys, call.script
        if self.fast is not None:
            result = (await self.fast.execute([_command("EVALSHA", call)]))[0]
            if isinstance(result, NoScriptError):
                result = (await self.fast.execute([_command("EVAL", call)]))[0]
            if isinstance(result, Exception):
                raise result
            return result
        try:
            return await self.client.evalsha(script.sha, len(keys), *keys, *call.args)
        except NoScriptError:  # a new node (failover, reshard, restart) has an empty cache
            return await self.client.eval(script.source, len(keys), *keys, *call.args)

    async def _run_durable(self, call: Call) -> Any:
        """The script, then WAIT on the same connection: its writes reached the replicas."""
        for _ in range(2):
            pipe = self.client.pipeline(transaction=False)
            _evalsha(pipe, call)
            self._wait(pipe, call.keys[0])
            result, replicas = await pipe.execute(raise_on_error=False)
            if not isinstance(result, NoScriptError):
                break
            await self.client.script_load(call.script.source)
        self._check(result, replicas)
        return result

    async def _pipeline(self, calls: Sequence[Call]) -> list[Any]:
        durable = self.wait_replicas > 0 and any(c.script.durable for c in calls)
        if self.fast is not None and not durable:
            results = await self.fast.execute([_command("EVALSHA", c) for c in calls])
        else:
            pipe = self.client.pipeline(transaction=False)
            for call in calls:
                _evalsha(pipe, call)
            if durable:
                self._wait(pipe, calls[0].keys[0])
            results = list(await pipe.execute(raise_on_error=False))
        if durable:
            self._check(None, results.pop())
        for index, result in enumerate(results):
            if isinstance(result, NoScriptError):
                results[index] = await self._run_once(calls[index])
            elif isinstance(result, Exception):
                raise result
        return results

    def _wait(self, pipe: Any, key: str) -> None:
        args = ("WAIT", self.wait_replicas, self.wait_timeout_ms)
        if isinstance(pipe, ClusterPipeline):  # WAIT must follow the write on its connection
            pipe.execute_command(*args, target_nodes=self.client.get_node_from_key(key))  # type: ignore[union-attr]
        else:
            pipe.execute_command(*args)

    def _check(self, result: Any, replicas: Any) -> None:
        if isinstance(result, Exception):
            raise result
        if isinstance(replicas, Exception):
            raise replicas
        if int(replicas) < self.wait_replicas:
            raise ReplicationShortfall(
                f"{replicas} of {self.wait_replicas} replicas confirmed the write in time"
            )

    async def retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Retry unreachable-node and failover errors with backoff until ``retry_s`` passes."""
        deadline = time.monotonic() + self.retry_s
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                return await attempt()
            except StorageUnavailable:
                raise
            except (*RETRYABLE, RuntimeError, AttributeError) as exc:
                if not isinstance(exc, RETRYABLE) and not _torn_connection(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise StorageUnavailable(_describe(exc)) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY_S)
            except STORAGE_ERRORS as exc:
                raise StorageUnavailable(_describe(exc)) from exc

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except STORAGE_ERRORS:
            return False

    async def close(self) -> None:
        if self.fast is not None:
            await self.fast.close()
        await self.client.aclose()


def _command(name: str, call: Call) -> list[Any]:
    """EVALSHA or EVAL of a call, as a command for the pipelined client."""
    script = call.script.sha if name == "EVALSHA" else call.script.source
    return [name, script, len(call.keys), *call.keys, *call.args]


def _evalsha(pipe: Any, call: Call) -> None:
    # The raw command: cluster pipelines refuse .evalsha(), though one slot's keys are safe.
    pipe.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _torn_connection(exc: BaseException) -> bool:
    """A RuntimeError or AttributeError raised inside redis-py: its connection was torn down
    under it (uvloop refuses writes on a closed transport; a concurrent disconnect cleared the
    stream). Seen when a cluster node dies or restarts; it means the same as ConnectionError."""
    if not isinstance(exc, RuntimeError | AttributeError):
        return False
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = frame.tb_frame.f_code.co_filename if frame is not None else ""
    return "redis" in where or "uvloop" in where or "asyncio" in where


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
            except (RuntimeError, AttributeError) as exc:
                if _torn_connection(exc):
                    raise RedisConnectionError(_describe(exc)) from exc
                raise
            finally:
                _gated.reset(token)


class _GatedPipeline(ClusterPipeline):
    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        client: GatedCluster = self.cluster_client  # type: ignore[assignment]
        return await client.gated(super().execute(raise_on_error, allow_redirections))


def connect(settings: Settings, url: str | None = None) -> Store:
    """Build the client for ``url`` (default: the configured one). Connects lazily."""
    url = url or settings.redis_url
    if not url:
        raise ValueError("no Redis URL: set VIEWCOUNT_REDIS_URL or use the embedded server")
    common: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
        "decode_responses": True,
    }
    options: dict[str, Any] = {
        "retry_s": settings.redis_retry_s,
        "wait_replicas": settings.redis_wait_replicas,
        "wait_timeout_ms": settings.redis_wait_timeout_ms,
        # Longer than any replay can come: our retries plus redis-py's, each a timeout long.
        "marker_ttl_s": math.ceil(settings.redis_retry_s + 4 * settings.redis_timeout_s) + 5,
    }
    if settings.redis_cluster:
        # MOVED/ASK are followed inside the client; a few quick retries on connection errors
        # let it find a promoted replica. Store.retrying bounds the rest in time.
        client: Client = GatedCluster.from_url(
            url,
            max_connections=settings.redis_max_connections,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            **common,
        )
        return Store(client, cluster=True, **options)
    # No retries inside the client: Store retries scripts, which are safe to replay.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        connection_class=resp.Connection,  # rediss:// and unix:// URLs choose their own
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_s,
        retry=Retry(ExponentialBackoff(), 0),
        **common,
    )
    store = Store(aioredis.Redis.from_pool(pool), cluster=False, **options)
    if resp.Pipelined.supports(url):
        store.fast = resp.Pipelined(url, settings.redis_timeout_s)
    return store
