"""A real Redis Cluster for tests: redis-server processes on free ports, joined by hand.

The cluster is built with the same commands `redis-cli --cluster create` sends (config epochs,
ADDSLOTSRANGE, MEET, REPLICATE), so no redis-cli is needed and valkey-server works as well.
Every node binds 127.0.0.1 and uses an explicit bus port (``--cluster-port``) that was free,
so a data port near 55535 never asks for a bus port past 65535.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from service.embedded import RedisServer, free_port

SLOTS = 16384
# Building the cluster saves nodes.conf on each step; with fsync always on a loaded machine
# that can take seconds.
SETUP_TIMEOUT_S = 30.0


class ClusterNode(RedisServer):
    """One cluster-enabled redis-server with its own directory and bus port."""

    def __init__(self, directory: Path, node_timeout_ms: int, *args: str) -> None:
        self.bus_port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
            str(self.bus_port),
            "--cluster-node-timeout",
            str(node_timeout_ms),
            # A replica whose master just died must always be allowed to take over.
            "--cluster-replica-validity-factor",
            "0",
            # Replicas sync at once instead of waiting for more replicas to share a transfer.
            "--repl-diskless-sync-delay",
            "0",
            "--enable-debug-command",
            "local",
            *args,
            directory=directory,
        )
        self.node_id = ""

    def client(self, timeout_s: float = 5.0) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=timeout_s)

    def info(self, section: str) -> dict[str, Any]:
        with self.client() as conn:
            return dict(conn.info(section))

    def pause(self) -> None:
        """SIGSTOP: the node stops answering but keeps its sockets (a hung master)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


class RedisClusterProcess:
    """``masters`` masters, each with ``replicas`` replicas, slots split evenly."""

    cluster = True

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
        node_args: tuple[str, ...] = (),
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="vc-cluster-")
        root = Path(self._tmp.name)
        self.masters = [
            ClusterNode(root / f"m{n}", node_timeout_ms, *node_args) for n in range(masters)
        ]
        self.replicas = [
            ClusterNode(root / f"r{n}", node_timeout_ms, *node_args)
            for n in range(masters * replicas)
        ]
        self.replicas_per_master = replicas

    @property
    def nodes(self) -> list[ClusterNode]:
        return self.masters + self.replicas

    @property
    def url(self) -> str:
        """A seed node; the client discovers the rest."""
        return f"redis://127.0.0.1:{self.masters[0].port}/0"

    @property
    def port(self) -> int:
        return self.masters[0].port

    def start(self, timeout_s: float = 30.0) -> RedisClusterProcess:
        """Start and join every node; on any failure the started nodes are stopped again (a
        half-built cluster would leave processes and pipes behind for later tests)."""
        try:
            self._build(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _build(self, timeout_s: float) -> None:
        for node in self.nodes:
            node.start()
        for epoch, node in enumerate(self.nodes, 1):
            with node.client(SETUP_TIMEOUT_S) as conn:
                node.node_id = conn.execute_command("CLUSTER", "MYID")
                self._set_epoch(conn, epoch)
        self._assign_slots()
        self._meet()
        self._wait(lambda: all(self._knows_everyone(n) for n in self.nodes), timeout_s)
        for index, replica in enumerate(self.replicas):
            master = self.masters[index // self.replicas_per_master]
            with replica.client(SETUP_TIMEOUT_S) as conn:
                conn.execute_command("CLUSTER", "REPLICATE", master.node_id)
        self._wait(self.healthy, timeout_s)

    @staticmethod
    def _set_epoch(conn: redis.Redis, epoch: int) -> None:
        """SET-CONFIG-EPOCH, idempotent: with fsync always a loaded machine can take longer
        than the socket timeout to save nodes.conf, redis-py then sends the command again and
        the second one is refused because the first already took effect."""
        try:
            conn.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
        except redis.ResponseError as exc:
            info = conn.execute_command("CLUSTER", "INFO")
            if "already non-zero" not in str(exc) or f"cluster_my_epoch:{epoch}" not in info:
                raise

    def _assign_slots(self) -> None:
        share = SLOTS // len(self.masters)
        for n, master in enumerate(self.masters):
            first = n * share
            last = SLOTS - 1 if n == len(self.masters) - 1 else first + share - 1
            with master.client(SETUP_TIMEOUT_S) as conn:
                conn.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)

    def _meet(self) -> None:
        with self.nodes[0].client(SETUP_TIMEOUT_S) as conn:
            for node in self.nodes[1:]:
                conn.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)

    def _knows_everyone(self, node: ClusterNode) -> bool:
        with node.client() as conn:
            lines = conn.execute_command("CLUSTER", "NODES")
        if isinstance(lines, dict):  # redis-py parses the reply into a dict per address
            entries = list(lines.values())
            return len(entries) == len(self.nodes) and all(
                "handshake" not in e["flags"] and "noaddr" not in e["flags"] for e in entries
            )
        rows = [line for line in str(lines).splitlines() if line.strip()]
        return len(rows) == len(self.nodes) and "handshake" not in str(lines)

    def healthy(self) -> bool:
        """Every live node says the cluster is ok and every live replica's link is up."""
        try:
            for node in self.nodes:
                if not node.alive():
                    continue
                if node.info("cluster")["cluster_enabled"] != 1:
                    return False
                with node.client() as conn:
                    if "cluster_state:ok" not in conn.execute_command("CLUSTER", "INFO"):
                        return False
                replication = node.info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
        except (redis.RedisError, OSError):
            return False
        return True

    def master_of_slot(self, slot: int) -> ClusterNode:
        """The node serving ``slot`` now, as a live node sees it."""
        live = next(n for n in self.nodes if n.alive())
        with live.client() as conn:
            for first, last, primary, *_ in conn.execute_command("CLUSTER", "SLOTS"):
                if first <= slot <= last:
                    return next(n for n in self.nodes if n.port == int(primary[1]))
        raise LookupError(f"slot {slot} is not served")

    @staticmethod
    def _wait(condition: Any, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the cluster did not settle in time")
            time.sleep(0.1)

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        self._wait(self.healthy, timeout_s)

    def flush(self) -> None:
        """Empty every master (replicas follow)."""
        for node in self.nodes:
            if node.alive() and node.info("replication")["role"] == "master":
                with node.client() as conn:
                    conn.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(OSError):
                if node.alive():
                    node.resume()
            node.stop()
        self._tmp.cleanup()


def redis_client(server: RedisServer | RedisClusterProcess, **options: Any) -> Any:
    """An asyncio client for a test's own reads and writes: RedisCluster on a cluster."""
    if getattr(server, "cluster", False):
        return RedisCluster.from_url(server.url, decode_responses=True, **options)
    return aioredis.Redis.from_url(server.url, decode_responses=True, **options)


def stall(server: RedisServer | RedisClusterProcess, seconds: float) -> list[threading.Thread]:
    """DEBUG SLEEP on the server, or on every master: it stops reading and answering, then runs
    what queued up meanwhile, even from clients that gave up waiting (their replies are lost)."""
    masters = (
        [n for n in server.masters if n.alive()]
        if isinstance(server, RedisClusterProcess)
        else [server]
    )

    def sleep(port: int) -> None:
        with redis.Redis(port=port, socket_timeout=seconds + 5) as conn:
            conn.execute_command("DEBUG", "SLEEP", seconds)

    threads = [threading.Thread(target=sleep, args=(node.port,)) for node in masters]
    for thread in threads:
        thread.start()
    return threads


async def dump_all(client: Any) -> bytes:
    """Every key and its value (DUMP serialises any type) on every master, concatenated."""
    if isinstance(client, RedisCluster):
        addresses = [(node.host, node.port) for node in client.get_primaries()]
    else:
        options = client.connection_pool.connection_kwargs
        addresses = [(options.get("host", "127.0.0.1"), options.get("port", 6379))]
    parts: list[bytes] = []
    for host, port in addresses:
        raw = aioredis.Redis(host=host, port=port)
        async for key in raw.scan_iter(count=1000):
            parts += [key, await raw.dump(key) or b""]
        await raw.aclose()
    return b"".join(parts)


@contextlib.contextmanager
def redis_cluster(
    masters: int = 3,
    replicas: int = 0,
    node_timeout_ms: int = 2000,
    node_args: tuple[str, ...] = (),
) -> Iterator[RedisClusterProcess]:
    cluster = RedisClusterProcess(masters, replicas, node_timeout_ms, node_args).start()
    try:
        yield cluster
    finally:
        cluster.stop()
