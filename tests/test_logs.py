"""Log lines of a real `viewcount serve`: readable on a terminal, JSON on a pipe, as forced."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import orjson
import pytest

from .support import SECRET, RedisProcess, end_process, free_port, wait_for_port

pytestmark = pytest.mark.single_node

STARTED = "Started server process"  # uvicorn logs it with a color_message extra
NO_TOKEN = "admin API disabled"  # ours, a warning


def serve_log(redis_url: str, *, terminal: bool, log_json: str | None = None) -> list[str]:
    """The stderr lines of `viewcount serve` from start to SIGTERM, stderr a pseudo-terminal
    or a pipe."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWCOUNT_")}
    env |= {"VIEWCOUNT_REDIS_URL": redis_url, "VIEWCOUNT_SECRET": SECRET}
    if log_json is not None:
        env["VIEWCOUNT_LOG_JSON"] = log_json
    command = [sys.executable, "-m", "service.cli", "serve", "--no-scheduler", "--port", str(port)]
    if terminal:
        leader, follower = pty.openpty()
        process = subprocess.Popen(command, env=env, stdout=follower, stderr=follower)
        os.close(follower)
    else:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, 20)
    finally:
        end_process(process)
    if not terminal:
        assert process.stdout is not None
        with process.stdout:
            return process.stdout.read().decode().splitlines()
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n").splitlines()


def json_lines(lines: list[str]) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in lines if line.startswith("{")]


def readable(lines: list[str]) -> None:
    """Log lines as a person reads them: no JSON, no colour codes, our fields as key=value."""
    assert json_lines(lines) == [], lines
    assert not any("color_message" in line or "\x1b[" in line for line in lines), lines
    (started,) = [line for line in lines if STARTED in line]
    assert " INFO uvicorn.error: " in started
    (warning,) = [line for line in lines if NO_TOKEN in line]
    assert " WARNING viewcount.cli: " in warning


def json_only(lines: list[str]) -> None:
    """Every log line one JSON object; the only other lines are the CLI's own prints."""
    entries = json_lines(lines)
    assert [line for line in lines if not line.startswith("{")] == [
        line for line in lines if line.startswith("viewcount: ")
    ]
    assert any(STARTED in str(e["msg"]) and e["logger"] == "uvicorn.error" for e in entries)
    assert any(NO_TOKEN in str(e["msg"]) and e["level"] == "warning" for e in entries), lines
    assert all("color_message" not in e for e in entries), entries


def test_a_terminal_gets_readable_lines_and_a_pipe_json(redis_server: RedisProcess) -> None:
    readable(serve_log(redis_server.url, terminal=True))
    json_only(serve_log(redis_server.url, terminal=False))


def test_viewcount_log_json_forces_either(redis_server: RedisProcess) -> None:
    json_only(serve_log(redis_server.url, terminal=True, log_json="true"))
    readable(serve_log(redis_server.url, terminal=False, log_json="false"))
