"""The throughput run: limit, naive and viewcount side by side, interleaved, in one process tree."""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import redis

from service import keys

from . import procs, wrk
from .scenarios import ARTICLES, BATCH_EVENTS, THEMES, TOKEN, Scenario, scenarios

SERVICE = "service.api:app_from_env"


@dataclass
class Row:
    """Every round of one scenario at one worker count."""

    scenario: Scenario
    workers: int
    outcomes: list[wrk.Outcome] = field(default_factory=list)
    acked: int = 0  # views acknowledged (2xx x views per request)
    stored: int = 0  # views Redis gained during the runs
    in_flight_bound: int = 0  # views wrk may have sent but not seen answered when it stopped
    server_cpu_s: float = 0.0  # CPU the server's processes used during the runs
    redis_cpu_s: float = 0.0

    def rate(self) -> float:
        """Median requests/s (views/s for a batch) over the rounds."""
        return statistics.median(o.per_s for o in self.outcomes) * self.scenario.load.events

    def p50(self) -> float:
        return statistics.median(o.p50_ms for o in self.outcomes)

    def p99(self) -> float:
        return statistics.median(o.p99_ms for o in self.outcomes)

    def errors(self) -> int:
        return sum(o.errors for o in self.outcomes)

    def cpu_us(self) -> tuple[float, float, float]:
        """Server, Redis and wrk CPU per request (per event for a batch), in microseconds."""
        done = sum(o.requests for o in self.outcomes) * self.scenario.load.events or 1
        load_cpu_s = sum(o.cpu_s for o in self.outcomes)
        return (
            self.server_cpu_s * 1e6 / done,
            self.redis_cpu_s * 1e6 / done,
            load_cpu_s * 1e6 / done,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "workers": self.workers,
            "connections": self.scenario.load.connections,
            "rate": self.rate(),
            "unit": "events/s" if self.scenario.load.events > 1 else "requests/s",
            "p50_ms": self.p50(),
            "p99_ms": self.p99(),
            "errors": self.errors(),
            "acked": self.acked,
            "stored": self.stored,
            "server_cpu_us": self.cpu_us()[0],
            "redis_cpu_us": self.cpu_us()[1],
            "wrk_cpu_us": self.cpu_us()[2],
            "rounds": [asdict(o) for o in self.outcomes],
        }


def service_env(redis_url: str) -> dict[str, str]:
    """viewcount's settings for the run: rate limiter on, client IPs from X-Forwarded-For."""
    return {
        "VIEWCOUNT_REDIS_URL": redis_url,
        "VIEWCOUNT_ADMIN_TOKEN": TOKEN,
        "VIEWCOUNT_SECRET": "bench-secret-kept-outside-redis-0123456789",
        "VIEWCOUNT_TRUSTED_PROXIES": "127.0.0.1",
        "VIEWCOUNT_LOG_LEVEL": "warning",
        "BENCH_REDIS_URL": redis_url,
    }


@contextlib.contextmanager
def servers(workers: int, env: dict[str, str]) -> Iterator[dict[str, int]]:
    """The three apps, each under its own uvicorn with the same flags."""
    with (
        procs.uvicorn("bench.baselines:limit_app", workers, env) as limit_port,
        procs.uvicorn("bench.baselines:naive_app", workers, env) as naive_port,
        procs.uvicorn(SERVICE, workers, env, factory=True) as service_port,
    ):
        yield {"limit": limit_port, "naive": naive_port, "viewcount": service_port}


def seed(port: int) -> None:
    """A catalog of ARTICLES articles over THEMES themes, one batch of views, one rollup."""
    admin = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=admin, timeout=60) as http:
        for n in range(ARTICLES):
            body = {
                "title": f"Bench article {n}",
                "url": f"https://news.example/{n}",
                "theme": f"theme-{n % THEMES}",
            }
            http.put(f"/v1/articles/bench-{n}", json=body).raise_for_status()
        events = [
            {"article": f"bench-{n % ARTICLES}", "event_id": f"seed-{n}"}
            for n in range(BATCH_EVENTS)
        ]
        http.post("/v1/views/batch", json={"events": events}).raise_for_status()
        http.post("/v1/rollup").raise_for_status()
        assert http.get("/v1/popular?window=24h&limit=10").json()["items"], "no ranking"


def total_views(client: redis.Redis) -> int:
    """Every counted view in Redis (the bench articles have no imported views)."""
    pipe = client.pipeline(transaction=False)
    for shard in range(keys.SHARDS):
        pipe.zrange(keys.totals(shard), 0, -1, withscores=True)
    return int(sum(score for members in pipe.execute() for _, score in members))


def settled_views(client: redis.Redis) -> int:
    """The total once writes still in flight after wrk stopped have landed."""
    previous = total_views(client)
    while True:
        time.sleep(0.3)
        current = total_views(client)
        if current == previous:
            return current
        previous = current


def warm_up(wrk_bin: str, ports: dict[str, int], nonce: str) -> None:
    for port in ports.values():
        wrk.run(wrk_bin, port, wrk.Load("beacon"), 1, f"warm{nonce}", ARTICLES, TOKEN)


def measure(
    wrk_bin: str,
    ports: dict[str, int],
    client: redis.Redis,
    rows: list[Row],
    rounds: int,
    duration_s: int,
    log: Any,
) -> None:
    """Every scenario once per round, in order, so slow spells spread over all of them."""
    redis_pid = [int(client.info("server")["process_id"])]
    pids = {target: procs.worker_pids(port) for target, port in ports.items()}
    for round_no in range(rounds):
        for row in rows:
            sc = row.scenario
            before = settled_views(client) if sc.counted else 0
            cpu = procs.cpu_seconds(pids[sc.target]), procs.cpu_seconds(redis_pid)
            outcome = wrk.run(
                wrk_bin,
                ports[sc.target],
                sc.load,
                duration_s,
                uuid.uuid4().hex[:10],
                ARTICLES,
                TOKEN,
            )
            row.server_cpu_s += procs.cpu_seconds(pids[sc.target]) - cpu[0]
            row.redis_cpu_s += procs.cpu_seconds(redis_pid) - cpu[1]
            row.outcomes.append(outcome)
            if sc.counted:
                row.stored += settled_views(client) - before
                row.acked += outcome.ok * sc.load.events
                row.in_flight_bound += sc.load.connections * sc.load.events
            log(
                f"  round {round_no + 1}/{rounds} {row.workers}w {sc.name:36} "
                f"{outcome.per_s * sc.load.events:10.0f}/s p99 {outcome.p99_ms:6.1f} ms, CPU/req "
                f"server {row.cpu_us()[0]:.0f} µs, redis {row.cpu_us()[1]:.0f} µs, "
                f"wrk {row.cpu_us()[2]:.0f} µs"
                f"{f'  errors {outcome.errors}' if outcome.errors else ''}"
            )
            time.sleep(0.5)


def run(
    worker_counts: list[int],
    rounds: int,
    duration_s: int,
    batch_connections: int,
    only: list[str],
    log: Any,
) -> list[Row]:
    """The whole throughput run; returns one row per scenario and worker count."""
    wrk_bin = procs.ensure_wrk()
    rows: list[Row] = []
    with procs.redis_server() as redis_port:
        url = f"redis://127.0.0.1:{redis_port}/0"
        log(f"bench: private redis-server on port {redis_port}, appendonly no, no RDB saves")
        client = redis.Redis.from_url(url, decode_responses=True)
        env = service_env(url)
        for index, workers in enumerate(worker_counts):
            with servers(workers, env) as ports:
                if index == 0:
                    seed(ports["viewcount"])
                warm_up(wrk_bin, ports, str(workers))
                these = [
                    Row(sc, workers)
                    for sc in scenarios(batch_connections)
                    if not only or any(word in sc.name for word in only)
                ]
                measure(wrk_bin, ports, client, these, rounds, duration_s, log)
                rows += these
        client.close()
    return rows
