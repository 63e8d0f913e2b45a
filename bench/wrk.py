"""One wrk run: command line, and the totals its Lua ``done()`` prints."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "lua" / "bench.lua"


@dataclass(frozen=True, slots=True)
class Load:
    """What wrk sends: a mode of bench.lua and its arguments."""

    mode: str  # beacon | pixel | batch | get
    path: str = "/"
    connections: int = 64
    events: int = 1  # views per request (batch)
    delay_ms: int = 0  # pause of each connection between requests (0: as fast as it can)


@dataclass(frozen=True, slots=True)
class Outcome:
    requests: int
    duration_s: float
    errors: int  # non-2xx/3xx statuses plus socket errors and timeouts
    p50_ms: float
    p99_ms: float
    status_errors: int
    cpu_s: float = 0.0  # CPU wrk itself used (user + system)

    @property
    def per_s(self) -> float:
        return self.requests / self.duration_s

    @property
    def ok(self) -> int:
        """Requests answered with a 2xx (wrk counts every status >= 400 as an error)."""
        return self.requests - self.status_errors


def run(
    wrk: str,
    port: int,
    load: Load,
    duration_s: int,
    nonce: str,
    articles: int,
    token: str,
    threads: int = 2,
) -> Outcome:
    """Run wrk once against 127.0.0.1:port and return its totals."""
    command = [
        wrk,
        f"-t{threads}",
        f"-c{load.connections}",
        f"-d{max(1, duration_s)}s",
        "--timeout",
        "30s",
        "-s",
        str(SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        load.mode,
        nonce,
        str(articles),
        load.path,
        str(load.events),
        token,
    ]
    env = {**os.environ, "BENCH_DELAY_MS": str(load.delay_ms)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the child reaped meanwhile
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    out = done.stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[len("BENCH ") :])
    socket_errors = (
        data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"]
    )
    return Outcome(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        errors=data["status_errors"] + socket_errors,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        status_errors=data["status_errors"],
        cpu_s=cpu_s,
    )
