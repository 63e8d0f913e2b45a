"""Test helpers: real Redis servers on free ports, apps with their lifespan, HTTP clients."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.api import create_app
from service.clock import Clock
from service.embedded import server_binary
from service.settings import Settings

ADMIN_TOKEN = "test-admin-token-0123456789"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "test-secret-kept-outside-redis-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def end_process(process: subprocess.Popen[Any] | None, timeout_s: float = 15) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout_s``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RedisProcess:
    """A redis-server (or the shipped valkey-server) on a free port, for tests."""

    def __init__(self, *args: str, port: int | None = None, directory: Path | None = None):
        self.port = port or free_port()
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="vc-redis-")
        self.dir = directory or Path(self._tmp.name)  # type: ignore[union-attr]
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        self.process = subprocess.Popen(
            [
                server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "no",
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        if self._tmp:
            self._tmp.cleanup()


@contextlib.contextmanager
def redis_process(*args: str) -> Iterator[RedisProcess]:
    server = RedisProcess(*args).start()
    try:
        yield server
    finally:
        server.stop()


def make_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": url,
        "admin_token": ADMIN_TOKEN,
        "secret": SECRET,
        "rate_limit_per_min": 0,
        "log_json": False,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def client_for(
    settings: Settings, clock: Clock | None = None, peer: str = "203.0.113.7"
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to a fresh app, with the app's lifespan running."""
    app = create_app(settings, clock)
    async with app.app.router.lifespan_context(app.app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://viewcount.test",
            headers={"User-Agent": BROWSER_UA},
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def put_article(
    client: httpx.AsyncClient, article: str, theme: str = "war", **fields: Any
) -> httpx.Response:
    body = {
        "title": f"Title of {article}",
        "url": f"https://news.example.com/{article}",
        "theme": theme,
        **fields,
    }
    response = await client.put(f"/v1/articles/{article}", json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    return response


async def views_of(client: httpx.AsyncClient, article: str) -> int:
    response = await client.get(f"/v1/articles/{article}/views")
    assert response.status_code == 200, response.text
    return int(response.json()["views"])


def require_tool(name: str, why: str, found: bool | None = None) -> None:
    """Skip the test when ``name`` is missing; under CI=true fail it, since CI installs every tool.

    ``found`` defaults to whether ``name`` is a command on PATH or an executable's path.
    """
    if found is None:
        found = shutil.which(name) is not None
    if found:
        return
    reason = f"{name} is missing: {why}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: a missing tool fails the run)", pytrace=False)
    pytest.skip(reason)
