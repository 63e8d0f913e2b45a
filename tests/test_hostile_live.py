"""Hostile requests to a real `viewcount serve` (one worker, a real redis-server), over several
keep-alive connections, while another task polls /healthz every 20 ms.

Every request must get its documented answer and every /healthz a 200. The service's CPU time
per request of each kind and the /healthz latency are measured and recorded
(test-output/reliability.json), never asserted: they say what a hostile request costs the
event loop that also serves everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psutil
import pytest

from service.settings import Settings

from .live import HttpConnection, Reply, ServiceProcess, admin_put, request_head, service
from .support import BROWSER_UA, RedisProcess, redis_process
from .test_faults import record_figure

ARTICLE = "hostile-target"
HEAD_LIMIT = Settings.model_fields["max_header_bytes"].default  # 16 KiB: more is a 431
MAX_AGENT_CHARS = Settings.model_fields["max_user_agent_chars"].default
HEAD_SLACK = 256  # the head a request below sends stays this far under the limit
LONG_AGENT_CHARS = 16_000
LIMIT_DIGITS = 10_000
POLL_S = 0.02
IDLE_S = 2.0  # /healthz polls alone, before the hostile requests
# Of each kind: enough that CPU clock ticks (10 ms) blur the per-request figures little.
REQUESTS = 1000
CONNECTIONS = 4  # per kind
PROXIES = "127.0.0.1/32,10.0.0.0/8"  # every hop of the long X-Forwarded-For lists is walked
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}

Request = tuple[str, str, bytes, dict[str, str]]
BEACON = {"Content-Type": "application/json"}


def beacon_body(visitor: str) -> bytes:
    return orjson.dumps({"article": ARTICLE, "visitor": visitor})


def plain_beacon(n: int) -> Request:
    """The reference: a beacon as a browser sends it."""
    return "POST", "/v1/views", beacon_body(f"plain-{n}"), {**BEACON, "User-Agent": BROWSER_UA}


def long_agent(n: int) -> Request:
    """A beacon with a 16,000-character User-Agent, different in every request."""
    head = f"{BROWSER_UA} req/{n} "
    agent = head + secrets.token_hex(LONG_AGENT_CHARS // 2)[: LONG_AGENT_CHARS - len(head)]
    return "POST", "/v1/views", beacon_body(f"ua-{n}"), {**BEACON, "User-Agent": agent}


def long_limit(n: int) -> Request:
    return "GET", "/v1/popular?limit=" + str(n % 9 + 1) * LIMIT_DIGITS, b"", {}


def unicode_limit(n: int) -> Request:
    return "GET", "/v1/popular.html?limit=%C2%B2", b"", {}  # "²": a digit to str.isdigit()


def long_headers(n: int) -> Request:
    """A beacon whose Referer, X-Forwarded-For and Accept-Language are long but valid, and
    together fill the head to just under the limit."""
    body = beacon_body(f"hdr-{n}")
    headers = {**BEACON, "User-Agent": BROWSER_UA}
    share = (HEAD_LIMIT - HEAD_SLACK - len(request_head("POST", "/v1/views", body, headers))) // 3
    share -= 24  # each header's name, separator and line end
    hops = ", ".join(f"10.{n % 250}.{i // 250}.{i % 250 + 1}" for i in range(share // 8))
    forwarded = f"198.51.100.{n % 250 + 1}, {hops}"  # the client, then trusted proxies
    path = "/".join(f"section-{i}" for i in range(share // 8))
    tags = ",".join(f"x-r{i};q=0.{i % 9 + 1}" for i in range(share // 8))
    headers |= {
        "Referer": f"https://news.example.com/{n}/{path}"[:share],
        "X-Forwarded-For": forwarded[: forwarded.rfind(",", 0, share)],
        "Accept-Language": f"uk-UA,uk;q=0.9,{tags}"[: tags.rfind(",", 0, share - 16) + 16],
    }
    return "POST", "/v1/views", body, headers


def long_forwarded(n: int, *, forged: bool = False) -> Request:
    """A beacon whose X-Forwarded-For alone fills the head with trusted hops: from a trusted
    peer, the longest walk back to the client the head limit allows. ``forged``: the hops are
    the client's own and the nearest proxy appended the client's address, as an internet
    client behind a trusted proxy can send (the walk stops at that address)."""
    body = beacon_body(f"xff-{int(forged)}-{n}")
    headers = {**BEACON, "User-Agent": BROWSER_UA}
    room = HEAD_LIMIT - HEAD_SLACK - len(request_head("POST", "/v1/views", body, headers)) - 40
    hops = ",".join(f"10.0.{i // 250 % 250}.{i % 250 + 1}" for i in range(room // 9))
    client = f"198.51.100.{n % 250 + 1}"
    hops = hops[: hops.rfind(",", 0, room - len(client))]
    headers["X-Forwarded-For"] = f"{hops},{client}" if forged else f"{client},{hops}"
    return "POST", "/v1/views", body, headers


def forged_forwarded(n: int) -> Request:
    return long_forwarded(n, forged=True)


def is_counted(reply: Reply) -> bool:
    return reply.status == 202 and reply.json() == {"counted": True}


def is_automated(reply: Reply) -> bool:
    return reply.status == 202 and reply.json() == {"counted": False, "reason": "automated"}


def is_invalid_parameter(reply: Reply) -> bool:
    if reply.status != 422 or reply.headers.get("content-type") != "application/problem+json":
        return False
    doc = reply.json()
    return set(doc) >= PROBLEM_FIELDS and (doc["status"], doc["code"]) == (
        422,
        "invalid_parameter",
    )


@dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[[int], Request]
    documented: Callable[[Reply], bool]  # the answer API.md gives it


KINDS = [
    Kind("plain_beacon", plain_beacon, is_counted),
    Kind("user_agent_16kb", long_agent, is_automated),
    Kind("limit_10000_digits", long_limit, is_invalid_parameter),
    Kind("popular_html_limit_superscript", unicode_limit, is_invalid_parameter),
    Kind("beacon_long_headers", long_headers, is_counted),
    Kind("beacon_forwarded_16kb", long_forwarded, is_counted),
    Kind("beacon_forged_forwarded_16kb", forged_forwarded, is_counted),
]


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process and its live children."""
    process = psutil.Process(pid)
    total = sum(process.cpu_times()[:2])
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # it ended meanwhile
            total += sum(child.cpu_times()[:2])
    return total


@dataclass
class Health:
    """/healthz answers while the hostile requests run."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    idle_polls_per_s: float = 0.0  # while nothing else was sent

    def summary(self, first: int = 0, last: int | None = None) -> dict[str, Any]:
        """p50, p99 and max of the polls numbered ``first`` to ``last`` (all by default)."""
        ms = sorted(1000 * s for s in self.latencies_s[first:last])
        if not ms:
            return {"polls": 0}
        return {
            "polls": len(ms),
            "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
            "max_ms": round(ms[-1], 2),
        }


async def poll_health(port: int, stop: asyncio.Event, health: Health) -> None:
    async with HttpConnection(port, timeout_s=10) as conn:
        while not stop.is_set():
            began = time.perf_counter()
            try:
                reply = await conn.request("GET", "/healthz")
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                health.failures[type(exc).__name__] += 1
            else:
                health.latencies_s.append(time.perf_counter() - began)
                health.statuses[reply.status] += 1
            await asyncio.sleep(POLL_S)


@dataclass
class Phase:
    """One kind's requests: what came back, and what they cost."""

    sent: int = 0
    documented: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)  # status and first bytes
    seconds: float = 0.0
    service_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    first_poll: int = 0  # the /healthz polls made meanwhile
    last_poll: int = 0


async def send_kind(
    port: int, kind: Kind, first: int, count: int, phase: Phase | None = None
) -> Phase:
    """``count`` requests of ``kind`` (numbered from ``first``) over CONNECTIONS connections."""
    phase = phase or Phase()
    numbers = iter(range(first, first + count))

    async def connection() -> None:
        async with HttpConnection(port, timeout_s=15) as conn:
            for n in numbers:
                method, target, body, headers = kind.make(n)
                phase.sent += 1
                try:
                    reply = await conn.request(method, target, body, headers)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    phase.unexpected[f"no answer: {type(exc).__name__}"] += 1
                    continue
                if kind.documented(reply):
                    phase.documented += 1
                else:
                    phase.unexpected[f"{reply.status} {reply.body[:120]!r}"] += 1

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return phase


async def hostile_row(requests: int) -> dict[str, Any]:
    """Every kind in turn against one service while /healthz is polled; the figures."""
    with (
        redis_process() as redis_server,
        service(redis_server.url, rate_limit_per_min=10_000_000, trusted_proxies=PROXIES) as svc,
    ):
        assert svc.process is not None and redis_server.process is not None
        for kind in KINDS:  # the test's own requests must fit the head limit, narrowly
            head = len(request_head(*kind.make(requests)))
            assert head <= HEAD_LIMIT - HEAD_SLACK // 2, (kind.name, head)
        async with HttpConnection(svc.port) as conn:
            await admin_put(conn, ARTICLE)
            warm = {kind.name: await send_kind(svc.port, kind, -20, 20) for kind in KINDS}
            assert all(p.documented == 20 for p in warm.values()), warm
            stop, health = asyncio.Event(), Health()
            poller = asyncio.create_task(poll_health(svc.port, stop, health))
            phases, idle_per_s = await measure(svc, redis_server, requests, health)
            stop.set()
            await poller
            counts = (await conn.request("GET", f"/v1/articles/{ARTICLE}/views")).json()
        log = svc.log()
    for name, phase in phases.items():
        assert phase.unexpected == {}, (name, phase.unexpected, log)
        assert phase.documented == phase.sent == requests, (name, phase)
    assert health.failures == {} and set(health.statuses) == {200}, health.statuses
    sent = requests + 20  # the warm-up's too
    assert counts["automated_views"] == sent, counts  # each 16 KB User-Agent, counted apart
    beacons = sum(kind.documented is is_counted for kind in KINDS)
    assert counts["views"] == beacons * sent, counts  # the plain and long-header beacons
    assert counts["bot_views"] == 0, counts
    assert "Traceback" not in log, log
    return figures(phases, health, idle_per_s)


async def measure(
    svc: ServiceProcess, redis_server: RedisProcess, requests: int, health: Health
) -> tuple[dict[str, Phase], float]:
    """Each kind's phase, with the service's and Redis's CPU time over it; first IDLE_S of
    /healthz polls alone, whose CPU per second (returned) is taken out of each phase's."""
    assert svc.process is not None and redis_server.process is not None
    service_pid, redis_pid = svc.process.pid, redis_server.process.pid
    began, cpu_before, polls = time.monotonic(), cpu_s(service_pid), len(health.latencies_s)
    await asyncio.sleep(IDLE_S)
    idle_s = time.monotonic() - began
    idle_per_s = (cpu_s(service_pid) - cpu_before) / idle_s
    health.idle_polls_per_s = (len(health.latencies_s) - polls) / idle_s
    phases: dict[str, Phase] = {}
    for kind in KINDS:
        phase = Phase(first_poll=len(health.latencies_s))
        service_cpu, redis_cpu, began = cpu_s(service_pid), cpu_s(redis_pid), time.monotonic()
        await send_kind(svc.port, kind, 0, requests, phase)
        phase.seconds = time.monotonic() - began
        phase.service_cpu_s = cpu_s(service_pid) - service_cpu - idle_per_s * phase.seconds
        phase.redis_cpu_s = cpu_s(redis_pid) - redis_cpu
        phase.last_poll = len(health.latencies_s)
        phases[kind.name] = phase
    return phases, idle_per_s


def figures(phases: dict[str, Phase], health: Health, idle_per_s: float) -> dict[str, Any]:
    per_kind = {
        name: {
            "requests": phase.sent,
            "service_cpu_us_per_request": round(1e6 * phase.service_cpu_s / phase.sent),
            "redis_cpu_us_per_request": round(1e6 * phase.redis_cpu_s / phase.sent),
            "requests_per_s": round(phase.sent / phase.seconds),
            "healthz": health.summary(phase.first_poll, phase.last_poll),
        }
        for name, phase in phases.items()
    }
    first_poll = min(phase.first_poll for phase in phases.values())
    return {
        **per_kind,
        "healthz": health.summary(first_poll),  # while the hostile requests ran
        # While only /healthz was polled: its latency and cost, with the background work's.
        "idle_healthz": health.summary(0, first_poll),
        "idle_service_cpu_ms_per_s": round(1000 * idle_per_s, 2),
        "idle_healthz_polls_per_s": round(health.idle_polls_per_s, 1),
    }


async def test_hostile_requests_to_a_live_server() -> None:
    """A thousand requests of each hostile kind: each answered as documented (202 automated for a
    16 KB User-Agent, 422 invalid_parameter problem documents for the bad limits, 202 counted
    for long valid headers), /healthz 200 throughout, nothing logged as an error."""
    record_figure("hostile_live", await hostile_row(REQUESTS))


@pytest.mark.soak
@pytest.mark.timeout(900)
async def test_many_hostile_requests_to_a_live_server() -> None:
    record_figure("soak_hostile_live", await hostile_row(5_000))
