"""Session fixtures: real Redis servers on free ports, flushed before each test.

Every test that takes ``settings`` (directly or through ``client``) runs twice: against a
single Redis node (``[single]``) and against a three-master Redis Cluster (``[cluster]``,
marked ``cluster``; deselect with ``-m "not cluster"``). Each server starts once per session,
on first use. Tests talk to Redis through the ``redis`` fixture (a ``RedisCluster`` client on
the cluster) and build apps from ``settings``, never from ``redis_server.url`` alone: only the
settings carry ``redis_cluster``. Tests that take ``redis_server`` without ``settings`` run on
the single node only, as do tests marked ``single_node``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster

from service.clock import ManualClock
from service.settings import Settings
from service.storage import Storage, connect

from .cluster import RedisClusterProcess, redis_client
from .support import RedisProcess, client_for, make_settings

# A fixed, bucket-aligned moment (2026-11-27 12:00:00 UTC) for tests on a manual clock.
T0 = 1_795_780_800.0

BACKENDS = {
    "single": pytest.param("single", id="single"),
    "cluster": pytest.param("cluster", id="cluster", marks=pytest.mark.cluster),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test built on ``settings`` on both backends, the rest on one node."""
    if "backend" not in metafunc.fixturenames:
        return
    both = (
        "settings" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("single_node") is None
    )
    names = ["single", "cluster"] if both else ["single"]
    metafunc.parametrize("backend", [BACKENDS[n] for n in names], indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "single"))


@pytest.fixture(scope="session")
def single_server() -> Iterator[RedisProcess]:
    server = RedisProcess("--enable-debug-command", "local").start()  # DEBUG SLEEP stalls it
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster_server() -> Iterator[RedisClusterProcess]:
    cluster = RedisClusterProcess(masters=3).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_server(
    request: pytest.FixtureRequest, backend: str
) -> RedisProcess | RedisClusterProcess:
    server: RedisProcess | RedisClusterProcess = request.getfixturevalue(f"{backend}_server")
    return server


@pytest.fixture
async def redis(redis_server: RedisProcess | RedisClusterProcess) -> AsyncIterator[Any]:
    client = redis_client(redis_server)
    if isinstance(client, RedisCluster):
        await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def settings(redis_server: RedisProcess | RedisClusterProcess, redis: Any) -> Settings:
    cluster = bool(getattr(redis_server, "cluster", False))
    # Three masters and the tests share two cores: a first rollup's merge on a busy box can
    # outlast the 2 s default, and since the rollup also keeps series, movement checkpoints and
    # author lists, runs of the whole suite saw cluster calls outlast 10 s too (after the long
    # single-node tests; never alone). Tests of timeouts set their own.
    patience = {"redis_timeout_s": 30.0} if cluster else {}
    return make_settings(redis_server.url, redis_cluster=cluster, **patience)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def client(settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings, clock) as http:
        yield http


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Storage]:
    """The service's own storage client on the test backend, closed after the test."""
    active = connect(settings)
    yield active
    await active.close()
