"""The processes a benchmark run owns: its Redis, its uvicorn servers, and wrk."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


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
    binary = shutil.which("redis-server")
    if binary is None:
        from service.embedded import server_binary

        binary = server_binary()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="vc-bench-") as directory:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                directory,
                "--save",
                "",
                "--appendonly",
                "no",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port)
            yield port
        finally:
            process.terminate()
            process.wait(30)


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
        wait_for_port(port)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
