"""The unit layer (`make unit`): pure code, no process. A test here that starts one (a Redis
server, `viewcount serve`, a browser) or asks for a fixture that needs a server fails."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from service.embedded import RedisServer

# The fixtures of tests/conftest.py that start or need a Redis server.
SERVER_FIXTURES = ("single_server", "cluster_server", "redis_server", "redis", "settings", "client")


def refuse(what: str) -> NoReturn:
    pytest.fail(f"tests/unit runs pure code only, yet this test {what}", pytrace=False)


def _refused_fixture(name: str) -> Callable[[], Any]:
    @pytest.fixture(name=name)
    def fixture() -> NoReturn:
        refuse(f"asks for the {name!r} fixture (a Redis server): put it beside tests/unit")

    return fixture


for _name in SERVER_FIXTURES:
    globals()[f"refused_{_name}"] = _refused_fixture(_name)


@pytest.fixture(autouse=True)
def no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Starting a server, or any process, fails the test."""

    def no_server(self: RedisServer, *args: Any, **kwargs: Any) -> NoReturn:
        refuse(f"starts {self.binary}")

    def no_process(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> NoReturn:
        refuse(f"starts a process: {args!r}")

    monkeypatch.setattr(RedisServer, "start", no_server)
    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    yield
