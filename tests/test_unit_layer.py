"""`make unit` needs no server: tests/unit passes with no redis-server or valkey on PATH, and its
conftest fails any test there that starts a server or a process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("redis-server", "valkey-server", "valkey")

TRIES_TO_START = """
import subprocess

from service.embedded import RedisServer


def test_starts_a_server():
    RedisServer().start()


def test_starts_a_process():
    subprocess.run(["true"], check=True)


def test_asks_for_a_server(redis_server):
    pass
"""


def without_servers(path: str) -> str:
    """PATH less every directory that holds a Redis or Valkey server."""
    kept = [d for d in path.split(os.pathsep) if not any((Path(d) / s).exists() for s in SERVERS)]
    assert not any(shutil.which(s, path=os.pathsep.join(kept)) for s in SERVERS)
    return os.pathsep.join(kept)


def pytest_in(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_unit_layer_passes_with_no_server_on_path() -> None:
    env = {**os.environ, "PATH": without_servers(os.environ.get("PATH", ""))}
    started = time.monotonic()
    done = pytest_in(ROOT, env, "tests/unit")
    assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary
    print(f"make unit's tests: {summary}, {time.monotonic() - started:.1f} s with pytest's start")


def test_a_unit_test_that_starts_a_server_or_a_process_fails(tmp_path: Path) -> None:
    unit = tmp_path / "unit"
    unit.mkdir()
    shutil.copy(ROOT / "tests" / "unit" / "conftest.py", unit / "conftest.py")
    (unit / "test_impure.py").write_text(TRIES_TO_START)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = pytest_in(tmp_path, env, "-p", "no:cacheprovider", str(unit))
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "2 failed, 1 error" in done.stdout  # the fixture fails in setup: an error
    refusals = [line for line in done.stdout.splitlines() if "runs pure code only" in line]
    assert len(refusals) >= 3, done.stdout
    assert any("starts a process: ['true']" in line for line in refusals)
    assert any("asks for the 'redis_server' fixture" in line for line in refusals)
