"""The processes a benchmark run owns: its Redis, its uvicorn servers, and wrk."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from service.embedded import RedisServer, end_process, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk is missing; installing it with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        "apt-get update -qq && apt-get install -y -qq wrk",
        shell=True,
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: could not install wrk")
    return found


@contextlib.contextmanager
def redis_server(*extra: str) -> Iterator[int]:
    """A private redis-server on a free port (no persistence unless ``extra`` asks)."""
    with RedisServer(*extra) as server:
        yield server.port


@contextlib.contextmanager
def uvicorn(app: str, workers: int, env: dict[str, str], factory: bool = False) -> Iterator[int]:
    """``app`` under uvicorn as `viewcount serve` runs it (bench/serve.py); yields its port
    once it answers."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.serve",
        app,
        str(port),
        str(workers),
        *(["factory"] if factory else []),
    ]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    try:
        wait_for_port(port, 20)
        yield port
    finally:
        end_process(process, 15, signal.SIGINT)


def worker_pids(port: int) -> list[int]:
    """Pids of the processes listening on ``port`` (the uvicorn workers), for profilers."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
    return sorted({int(pid) for pid in re.findall(r"pid=(\d+)", out.stdout)})


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")
