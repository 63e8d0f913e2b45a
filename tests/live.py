"""Live parts for fault and load tests: a `viewcount serve` process, a raw HTTP/1.1 client, load."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from service import keys
from service.ingest import event_digest

from .support import (
    ADMIN_TOKEN,
    BROWSER_UA,
    EVENTS_DIR,
    SECRET,
    end_process,
    free_port,
    make_settings,
    wait_for_port,
)


class ServiceProcess:
    """`viewcount serve --no-scheduler` (or another subcommand) in its own process; serve with
    ``workers`` uvicorn workers, its own scheduler when ``scheduler`` is set, and ``flags``
    (such as ``--demo``) after the rest."""

    def __init__(
        self,
        redis_url: str,
        *,
        command: str = "serve",
        workers: int = 1,
        scheduler: bool = False,
        flags: Sequence[str] = (),
        **settings: Any,
    ) -> None:
        self.port = free_port()
        self.command = command
        self.flags = list(flags)
        self.workers = workers
        self.scheduler = scheduler
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWCOUNT_")}
        env.update(
            {
                "VIEWCOUNT_REDIS_URL": redis_url,
                "VIEWCOUNT_ADMIN_TOKEN": ADMIN_TOKEN,
                "VIEWCOUNT_SECRET": SECRET,
                "VIEWCOUNT_LOG_JSON": "false",
                "VIEWCOUNT_LOG_LEVEL": "warning",
                # Load comes from one address: the per-client rules have tests of their own.
                "VIEWCOUNT_MAX_VIEWS_PER_CLIENT": "0",
                "VIEWCOUNT_MIN_READERS": "1",
                "VIEWCOUNT_EVENT_LOG_DIR": EVENTS_DIR,
            }
        )
        env.update({f"VIEWCOUNT_{k.upper()}": str(v) for k, v in settings.items()})
        self.env = env
        self._log = tempfile.NamedTemporaryFile(prefix=f"vc-{command}-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        args = [sys.executable, "-m", "service.cli", self.command]
        if self.command == "serve":
            args += ["--port", str(self.port), "--workers", str(self.workers)]
            args += [] if self.scheduler else ["--no-scheduler"]
        args += self.flags
        self.process = subprocess.Popen(
            args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        if self.command == "serve":
            try:
                wait_for_port(self.port, 20)
            except TimeoutError:
                raise RuntimeError(f"service did not start:\n{self.log()}") from None
        return self

    def log(self, tail: int = 4000) -> str:
        return Path(self._log.name).read_text(errors="replace")[-tail:]

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        end_process(self.process)
        self._log.close()


@contextlib.contextmanager
def service(redis_url: str, **settings: Any) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(redis_url, **settings).start()
    try:
        yield proc
    finally:
        proc.stop()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def request_head(
    method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """The request line and headers HttpConnection sends (what the head limit counts)."""
    head = [f"{method} {target} HTTP/1.1", "Host: viewcount.test", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


class HttpConnection:
    """A minimal HTTP/1.1 keep-alive client: fast enough to load a server from the same box."""

    def __init__(self, port: int, timeout_s: float = 30.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        """One request; reconnects when the server closed the connection. Raises TimeoutError
        when no full answer comes within ``timeout_s``."""
        raw = request_head(method, target, body, headers) + body
        async with asyncio.timeout(self.timeout_s):
            reused = self.writer is not None
            try:
                try:
                    reply = await self._exchange(raw, method)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    await self.close()
                    idle_closed = isinstance(exc, asyncio.IncompleteReadError) and not exc.partial
                    if not (reused and idle_closed):
                        raise
                    # The server closed an idle keep-alive connection before reading: resend.
                    reply = await self._exchange(raw, method)
            except BaseException:  # timed out or cancelled mid-exchange: the stream is unusable
                await asyncio.shield(self.close())
                raise
            if reply.headers.get("connection", "").lower() == "close":
                await self.close()
            return reply

    async def _exchange(self, raw: bytes, method: str) -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(raw)
        return await _read_reply(self.reader, method)

    async def __aenter__(self) -> HttpConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _read_reply(reader: asyncio.StreamReader, method: str) -> Reply:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304):
        return Reply(status, headers, b"")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return Reply(status, headers, b"".join(chunks))
            chunks.append(chunk[:-2])
    return Reply(status, headers, await reader.readexactly(int(headers["content-length"])))


BEACON_HEADERS = {"Content-Type": "application/json", "User-Agent": BROWSER_UA}


View = tuple[str, str]  # (article, event_id) of one beacon the load sent


@dataclass
class LoadResult:
    """What a load run sent and what the service answered."""

    sent: int = 0
    acked: int = 0  # 202 {"counted": true}
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # no HTTP answer: why
    missing_retry_after: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0
    acked_at: list[float] = field(default_factory=list)
    max_latency_s: float = 0.0
    acked_views: list[View] = field(default_factory=list)  # answered 202 {"counted": true}
    other_views: list[View] = field(default_factory=list)  # any other answer, or none

    @property
    def rate_per_s(self) -> float:
        return self.sent / max(1e-9, (self.ended or time.monotonic()) - self.started)


async def beacon_load(
    port: int,
    articles: list[str],
    views: int | None,
    *,
    connections: int = 64,
    prefix: str = "r",
    stop: asyncio.Event | None = None,
    timeout_s: float = 30.0,
    result: LoadResult | None = None,
) -> LoadResult:
    """POST beacons from ``connections`` keep-alive connections, each view a new reader with an
    event id of its own, until ``views`` are sent or ``stop`` is set. The result remembers the
    (article, event id) of every view, so ``audit`` can look each one up in Redis."""
    result = result or LoadResult()
    counter = iter(range(views) if views is not None else _forever())
    run = secrets.token_hex(4)  # event ids unique across runs on the same Redis

    async def worker() -> None:
        conn = HttpConnection(port, timeout_s)
        try:
            for n in counter:
                if stop is not None and stop.is_set():
                    return
                view = (articles[n % len(articles)], f"{prefix}-{run}-{n}")
                body = orjson.dumps({"article": view[0], "visitor": view[1], "event_id": view[1]})
                result.sent += 1
                began = time.monotonic()
                try:
                    reply = await conn.request("POST", "/v1/views", body, BEACON_HEADERS)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    result.failures[type(exc).__name__] += 1
                    result.other_views.append(view)
                    await conn.close()
                    await asyncio.sleep(0.01)
                    continue
                result.max_latency_s = max(result.max_latency_s, time.monotonic() - began)
                _tally(result, reply, view)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    result.ended = time.monotonic()
    return result


def _tally(result: LoadResult, reply: Reply, view: View) -> None:
    result.statuses[reply.status] += 1
    if reply.status == 202 and reply.json() == {"counted": True}:
        result.acked += 1
        result.acked_at.append(time.monotonic())
        result.acked_views.append(view)
        return
    result.other_views.append(view)
    if reply.status >= 400:
        result.codes[reply.json().get("code", "?")] += 1
        if reply.status in (429, 503) and "retry-after" not in reply.headers:
            result.missing_retry_after += 1


def _forever() -> Iterator[int]:
    n = 0
    while True:
        yield n
        n += 1


# --- what Redis holds of a load run, view by view ---------------------------------------------
# A marker expiring mid-test would pass for a lost view: the markers must outlive any test.
MIN_MARKER_TTL_S = 3600


@dataclass
class Audit:
    """A load run's views looked up one by one: an event id's idempotency marker is written in
    the same script call as the count, so a marker in Redis proves that view was counted."""

    lost: list[View]  # answered counted, yet no marker: acknowledged and lost
    stored: int  # markers found, acknowledged or not: the views Redis counted
    stored_unacked: int  # answered 503 (or nothing) and counted anyway

    @property
    def lost_count(self) -> int:
        return len(self.lost)


def marker_key(view: View, secret_key: bytes) -> str:
    article, event_id = view
    return keys.event(article, event_digest(secret_key, article, event_id))


async def markers_exist(client: Any, names: Sequence[str], batch: int = 2000) -> list[bool]:
    """EXISTS of each key, pipelined (a RedisCluster client routes each to its slot)."""
    found: list[bool] = []
    for start in range(0, len(names), batch):
        pipe = client.pipeline(transaction=False)
        for name in names[start : start + batch]:
            pipe.exists(name)
        found += [bool(n) for n in await pipe.execute()]
    return found


async def audit(client: Any, result: LoadResult, secret_key: bytes | None = None) -> Audit:
    """Look up every view of ``result`` in Redis (``client``: tests/cluster.py redis_client);
    the views were sent by a service keyed with tests/support.py SECRET unless told."""
    key = secret_key if secret_key is not None else make_settings("redis://unused").secret_key
    acked = [marker_key(v, key) for v in result.acked_views]
    acked_found = await markers_exist(client, acked)
    others_found = await markers_exist(client, [marker_key(v, key) for v in result.other_views])
    present = [name for name, found in zip(acked, acked_found, strict=True) if found]
    for name in present[:1] + present[-1:]:  # the first and the last acknowledged
        ttl_s = await client.ttl(name)
        assert ttl_s >= MIN_MARKER_TTL_S, (name, ttl_s)
    return Audit(
        lost=[v for v, found in zip(result.acked_views, acked_found, strict=True) if not found],
        stored=len(present) + sum(others_found),
        stored_unacked=sum(others_found),
    )


async def admin_put(conn: HttpConnection, article: str, theme: str = "war") -> None:
    body = orjson.dumps(
        {
            "title": f"Title of {article}",
            "theme": theme,
            "url": f"https://news.example.com/{article}",
        }
    )
    reply = await conn.request(
        "PUT",
        f"/v1/articles/{article}",
        body,
        {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )
    assert reply.status in (200, 201), reply.body


async def total_views(conn: HttpConnection, articles: list[str]) -> int:
    reply = await conn.request("GET", f"/v1/views?articles={','.join(articles)}")
    assert reply.status == 200, reply.body
    return sum(int(v) for v in reply.json()["views"].values())
