"""Session fixtures: one real Redis server started on a free port, flushed before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from service.clock import ManualClock
from service.settings import Settings

from .support import RedisProcess, client_for, make_settings

# A fixed, bucket-aligned moment (2026-11-27 12:00:00 UTC) for tests on a manual clock.
T0 = 1_795_780_800.0


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess().start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisProcess) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def settings(redis_server: RedisProcess, redis: aioredis.Redis) -> Settings:
    return make_settings(redis_server.url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def client(settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings, clock) as http:
        yield http
