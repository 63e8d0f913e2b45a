"""The Redis client (single node or cluster), its scripts and its lifecycle."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from .settings import Settings

Client = aioredis.Redis | RedisCluster


class StorageUnavailable(Exception):
    """Redis did not answer in time, or answered with an error."""


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script from service/lua, called by SHA and reloaded on NOSCRIPT."""

    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str) -> Script:
        source = resources.files("service").joinpath("lua", f"{name}.lua").read_text()
        return cls(name, source, hashlib.sha1(source.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class Call:
    """One script invocation; every key it touches is in ``keys`` (one slot)."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Any]


class Store:
    """The Redis connection the service shares, plus the way it runs scripts."""

    def __init__(self, client: Client, cluster: bool) -> None:
        self.client = client
        self.cluster = cluster

    async def run(self, call: Call) -> Any:
        """Run one script, loading it into this node's cache when it is missing."""
        keys, script = call.keys, call.script
        try:
            try:
                return await self.client.evalsha(script.sha, len(keys), *keys, *call.args)  # type: ignore[misc]
            except NoScriptError:
                return await self.client.eval(script.source, len(keys), *keys, *call.args)  # type: ignore[misc]
        except (TimeoutError, RedisError, OSError) as exc:
            raise StorageUnavailable(str(exc) or type(exc).__name__) from exc

    async def run_all(self, calls: Sequence[Call]) -> list[Any]:
        """Run scripts for several slots at once: one pipeline on a single node, parallel calls
        (one per slot, each routed to its node) on a cluster."""
        if not calls:
            return []
        if self.cluster or len(calls) == 1:
            return list(await asyncio.gather(*(self.run(c) for c in calls)))
        try:
            pipe = self.client.pipeline(transaction=False)
            for c in calls:
                pipe.execute_command("EVALSHA", c.script.sha, len(c.keys), *c.keys, *c.args)
            results = await pipe.execute(raise_on_error=False)
        except (TimeoutError, RedisError, OSError) as exc:
            raise StorageUnavailable(str(exc) or type(exc).__name__) from exc
        for index, result in enumerate(results):
            if isinstance(result, NoScriptError):
                results[index] = await self.run(calls[index])
            elif isinstance(result, Exception):
                raise StorageUnavailable(str(result))
        return list(results)

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())  # type: ignore[misc]
        except (TimeoutError, RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.client.aclose()


def connect(settings: Settings, url: str | None = None) -> Store:
    """Build the client for ``url`` (default: the configured one). Connects lazily."""
    url = url or settings.redis_url
    if not url:
        raise ValueError("no Redis URL: set VIEWCOUNT_REDIS_URL or use the embedded server")
    # No automatic retries on the single-node client: a write retried after a lost reply
    # could count a view twice. Failures surface as 503 and the beacon retries with its
    # event id. Cluster redirections (MOVED/ASK) are followed within a bounded time.
    common: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
        "decode_responses": True,
    }
    if settings.redis_cluster:
        client: Client = RedisCluster.from_url(
            url,
            max_connections=settings.redis_max_connections,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            **common,
        )
        return Store(client, cluster=True)
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_s,
        retry=Retry(ExponentialBackoff(), 0),
        **common,
    )
    return Store(aioredis.Redis.from_pool(pool), cluster=False)
