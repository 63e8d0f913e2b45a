"""The storage package's transports give the same answers: the lean connection, redis-py's
client and redis-py's cluster client, for every command the service sends and for scripts."""

from __future__ import annotations

from typing import Any

import pytest

from service import keys
from service.scripts import counts, lease
from service.settings import Settings
from service.storage import Storage, StorageError, StorageUnavailable, connect, ops
from service.storage.transports import ClusterTransport, LeanTransport, RedisPyTransport

TAG = keys.SHARD_TAGS[3]  # every key of one slot, so the cluster serves them all from one node


def key(name: str) -> str:
    return f"vc:{TAG}:conformance:{name}"


async def every_command(storage: Storage) -> list[Any]:
    """Each command of ops.py once, on fresh keys, in one round trip and then alone."""
    writes = [
        ops.set_once(key("s"), "v", 60),
        ops.set_once(key("s"), "w", 60),  # already there: the stored value
        ops.incr(key("n")),
        ops.expire(key("n"), 60),
        ops.hset(key("h"), {"a": "1", "b": "two", "é": "ü"}),
        ops.hincrby(key("h"), "a", 41),
        ops.zadd(key("z"), {"x": 1.5, "y": 3, "z": 2}),
        ops.renamenx(key("missing"), key("other")),  # an answer, not an error
    ]
    reads = [
        ops.get(key("s")),
        ops.get(key("absent")),
        ops.exists(key("s"), key("absent"), key("h")),
        ops.hget(key("h"), "a"),
        ops.hget(key("h"), "nope"),
        ops.hmget(key("h"), ["a", "nope", "é"]),
        ops.hgetall(key("h")),
        ops.hgetall(key("absent")),
        ops.hscan(key("h"), 0, 100),
        ops.zrange(key("z")),
        ops.ztop(key("z"), 2),
        ops.zscore(key("z"), "y"),
        ops.zscore(key("z"), "nope"),
        ops.zmscore(key("z"), ["x", "nope"]),
        ops.zcard(key("z")),
        ops.sismember(key("absent"), "x"),
        ops.pfcount(key("absent")),
    ]
    together = await storage.execute([*writes, *reads])
    alone = [await storage.one(op) for op in reads]
    cleanup = [ops.zrem(key("z"), "x"), ops.unlink(key("s"), key("n"), key("h"), key("z"))]
    return [together, alone, await storage.execute(cleanup)]


EXPECTED = [
    [
        None, "v", 1, True, 3, 42, 3, False,
        "v", None, 2, "42", None, ["42", None, "ü"], {"a": "42", "b": "two", "é": "ü"}, {},
        (0, {"a": "42", "b": "two", "é": "ü"}), ["x", "z", "y"], [("y", 3.0), ("z", 2.0)],
        3.0, None, [1.5, None], 3, False, 0,
    ],
    [
        "v", None, 2, "42", None, ["42", None, "ü"], {"a": "42", "b": "two", "é": "ü"}, {},
        (0, {"a": "42", "b": "two", "é": "ü"}), ["x", "z", "y"], [("y", 3.0), ("z", 2.0)],
        3.0, None, [1.5, None], 3, False, 0,
    ],
    [1, 4],
]  # fmt: skip


@pytest.fixture(params=["lean", "redis-py"])
async def storage(request: pytest.FixtureRequest, settings: Settings) -> Any:
    """The transports a deployment can get: on a single node the lean one (redis://) and
    redis-py's (what TLS URLs take); on a cluster redis-py's cluster client, whichever asked."""
    active = connect(settings, lean=request.param == "lean")
    if settings.redis_cluster:
        assert type(active.transport) is ClusterTransport
    else:
        wanted = LeanTransport if request.param == "lean" else RedisPyTransport
        assert type(active.transport) is wanted
    yield active
    await active.close()


async def test_every_command_reads_the_same_on_every_transport(storage: Storage) -> None:
    assert await every_command(storage) == EXPECTED


async def test_scripts_read_the_same_and_reload_after_a_flush(storage: Storage, redis: Any) -> None:
    call = counts.call([(keys.shard_of("none-here"), ["none-here"])])
    assert counts.decode(await storage.run(call)) == [None]
    if storage.cluster:  # every node forgets its scripts (a failover or a restart does this)
        await redis.execute_command("SCRIPT FLUSH", target_nodes=redis.get_primaries())
    else:
        await redis.script_flush()
    assert counts.decode(await storage.run(call)) == [None]  # NOSCRIPT: EVAL
    token = lease.decode(await storage.run(lease.call("me", "", 5000)))
    assert token.endswith(":me")  # a durable script: through the replay guard
    assert lease.decode(await storage.run(lease.call("me", token, 5000))) == token


async def test_errors_are_the_packages_own(storage: Storage, settings: Settings) -> None:
    await storage.one(ops.hset(key("wrong"), {"a": "1"}))
    with pytest.raises(StorageError) as refused:  # WRONGTYPE: a bug, not an outage
        await storage.one(ops.zscore(key("wrong"), "a"))
    assert not isinstance(refused.value, StorageUnavailable)
    await storage.one(ops.unlink(key("wrong")))
    gone = connect(settings.model_copy(update={"redis_retry_s": 0.0}), "redis://127.0.0.1:1/0")
    try:
        with pytest.raises(StorageUnavailable):
            await gone.one(ops.get("x"))
        assert await gone.ping() is False
    finally:
        await gone.close()
