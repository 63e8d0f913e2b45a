"""/metrics of a real `viewcount serve --workers 2`: every worker's counts and the scheduler's
rollups, summed whichever worker answers the scrape."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from service.metrics import Metrics

from .live import BEACON_HEADERS, HttpConnection, ServiceProcess, admin_put, beacon_load
from .support import RedisProcess

pytestmark = pytest.mark.single_node

ARTICLES = ["metrics-article-a", "metrics-article-b"]
VIEWS = 400
SCRAPES = 12
COUNTED = "viewcount_views_counted_total"
ROLLUPS = "viewcount_rollup_duration_seconds_count"
UVICORN_WORKER = "multiprocessing.spawn"  # in the command line of each worker uvicorn spawns


def families(text: str) -> set[str]:
    """The metric names Prometheus text declares (its ``# TYPE`` lines), counters without the
    ``_total`` that multiprocess mode adds there."""
    declared = (line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))
    return {name.removesuffix("_total") for name in declared}


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, from Prometheus text."""
    rows = (line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    return {name: float(value) for name, value in rows}


async def scrape_text(port: int) -> str:
    """GET /metrics on a connection of its own, so any worker may answer it."""
    async with HttpConnection(port) as conn:
        reply = await conn.request("GET", "/metrics")
    assert reply.status == 200, reply.body
    return reply.body.decode()


async def scrape(port: int) -> dict[str, float]:
    return samples(await scrape_text(port))


def children(pid: int) -> dict[int, str]:
    """The processes serve started (uvicorn's workers, the scheduler): pid -> command line."""
    pids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {
        int(child): Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        for child in pids
    }


def metrics_dir(pid: int) -> Path:
    """PROMETHEUS_MULTIPROC_DIR as serve handed it to the scheduler it started."""
    (scheduler,) = [c for c, command in children(pid).items() if "service.cli scheduler" in command]
    environ = Path(f"/proc/{scheduler}/environ").read_bytes().split(b"\0")
    (entry,) = [e for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(entry.split(b"=", 1)[1].decode())


def counted_by_file(directory: Path) -> dict[int, float]:
    """Views counted per process, read from each process's own file (pid -> count)."""
    counted = {}
    for path in directory.glob("counter_*.db"):
        merged = MultiProcessCollector.merge([str(path)])
        values = [s.value for m in merged for s in m.samples if s.name == COUNTED]
        counted[int(path.stem.split("_")[-1])] = sum(values)
    return counted


@contextlib.contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP a worker for the block: the other one accepts every new connection meanwhile.
    (Kept short: uvicorn restarts a worker that misses its 5 s health check.)"""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_two_workers_report_the_sum_and_the_scheduler_its_rollups(
    redis_server: RedisProcess,
) -> None:
    svc = ServiceProcess(
        redis_server.url, workers=2, scheduler=True, rate_limit_per_min=0, rollup_interval_s=1
    ).start()
    try:
        assert svc.process is not None
        directory = metrics_dir(svc.process.pid)
        workers = [c for c, cmd in children(svc.process.pid).items() if UVICORN_WORKER in cmd]
        assert len(workers) == 2
        async with HttpConnection(svc.port) as conn:
            for article in ARTICLES:
                await admin_put(conn, article)
            unknown = orjson.dumps({"article": "no-such-article"})
            assert (await conn.request("POST", "/v1/views", unknown, BEACON_HEADERS)).status == 404
        # Half the views to whichever worker takes them, the rest to the other one.
        first = await beacon_load(svc.port, ARTICLES, VIEWS // 2, connections=16)
        counted = counted_by_file(directory)
        with paused(max(workers, key=lambda w: counted.get(w, 0))):
            second = await beacon_load(svc.port, ARTICLES, VIEWS - VIEWS // 2, connections=16)
        assert first.acked + second.acked == VIEWS, (first.statuses, second.statuses)
        counted = counted_by_file(directory)  # each process's own file
        split = [counted[w] for w in workers]
        assert min(split) > 0 and sum(split) == sum(counted.values()) == VIEWS, counted
        print(f"views counted per worker: {split}")
        # Whichever worker answers, /metrics says the sum.
        for answering in workers:
            (other,) = set(workers) - {answering}
            with paused(other):
                totals = [(await scrape(svc.port))[COUNTED] for _ in range(SCRAPES // 2)]
            assert totals == [float(VIEWS)] * (SCRAPES // 2)
        deadline = time.monotonic() + 30
        while (await scrape(svc.port)).get(ROLLUPS, 0) < 1:  # the scheduler's, not a worker's
            assert time.monotonic() < deadline, "no rollup of the scheduler reached /metrics"
            await asyncio.sleep(0.2)
        # Every metric the service registers is exported (the labelled one once used).
        exported = families(await scrape_text(svc.port))
        assert {family.name for family in Metrics().registry.collect()} <= exported
    finally:
        svc.stop()
    assert not directory.exists()  # serve removes its metrics directory at exit
