"""The `viewcount` command line: serve, scheduler, rollup, import, and the event log's
replay, recount and log (service/eventlog/commands.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Coroutine, Iterator
from typing import Any

from pydantic import SecretStr, ValidationError

from . import logs
from .clock import SystemClock, rfc3339
from .embedded import EmbeddedError, EmbeddedRedis, data_dir_secret
from .settings import Settings
from .storage import connect

log = logging.getLogger("viewcount.cli")
MIN_TOKEN_LENGTH = 16
MIN_SECRET_LENGTH = 32
# prometheus_client's multiprocess mode: where each process of a serve keeps its metrics.
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class StartupError(Exception):
    """A reason not to start, printed as one line."""


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for our own
        _fail(f"bad setting VIEWCOUNT_{str(first['loc'][0]).upper()}: {reason}")
    logs.setup(settings.log_level, settings.log_json)
    try:
        args.run(settings, args)
    except StartupError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass


def _fail(message: str) -> None:
    print(f"viewcount: {message}", file=sys.stderr)
    raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="viewcount", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    serve = commands.add_parser("serve", help="the HTTP API, plus one scheduler process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="run no scheduler here (it runs in its own container)",
    )
    serve.add_argument("--demo", action="store_true", help="load a sample news catalog")
    serve.set_defaults(run=_serve)
    commands.add_parser("scheduler", help="only the rollup scheduler").set_defaults(run=_scheduler)
    commands.add_parser("rollup", help="one rollup now, then exit").set_defaults(run=_rollup)
    imports = commands.add_parser(
        "import",
        help="count the article views in a web server's access log (posted to --url)",
    )
    imports.add_argument("file", help="the access log; gzip-compressed is read too")
    imports.add_argument("--format", choices=("combined", "json"), default="combined")
    imports.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="the running service (token: VIEWCOUNT_INGEST_TOKEN, else the first of "
        "VIEWCOUNT_INGEST_TOKENS, else VIEWCOUNT_ADMIN_TOKEN)",
    )
    imports.set_defaults(run=_import)
    from .eventlog import commands as event_log  # replay, recount, log

    event_log.add(commands, _against_redis)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    _check_port(args.host, args.port)
    _check_token(settings)
    secret = _secret(settings)
    with _shared_metrics(), _redis(settings) as url:
        env = {**os.environ, "VIEWCOUNT_REDIS_URL": url, "VIEWCOUNT_SECRET": secret}
        settings = settings.model_copy(update={"redis_url": url, "secret": SecretStr(secret)})
        _check_redis(settings)
        if args.demo:
            if settings.admin_token is None:
                token = secrets.token_urlsafe(24)
                env["VIEWCOUNT_ADMIN_TOKEN"] = token
                print(f"viewcount: demo admin token (shown once): {token}", file=sys.stderr)
            asyncio.run(_load_demo(settings))
        elif settings.admin_token is None:
            log.warning("admin API disabled: set VIEWCOUNT_ADMIN_TOKEN to enable it")
        scheduler = None
        if not args.no_scheduler:
            scheduler = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "scheduler"], env=env
            )
        os.environ.update(env)
        print(f"viewcount: serving on http://{args.host}:{args.port}/", file=sys.stderr)
        # uvicorn re-raises SIGTERM once it has shut down; exit through the finally blocks
        # below (scheduler, embedded server) instead of dying on the spot.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            import uvicorn

            uvicorn.run(
                "service.api:app_from_env",
                factory=True,
                host=args.host,
                port=args.port,
                workers=args.workers,
                access_log=False,
                log_config=None,
                timeout_graceful_shutdown=10,
                http=_http_protocol(),
                h11_max_incomplete_event_size=settings.max_header_bytes,
                # X-Forwarded-For is ours to trust (VIEWCOUNT_TRUSTED_PROXIES), not
                # uvicorn's: it would believe any loopback peer.
                proxy_headers=False,
            )
        finally:
            if scheduler is not None:
                scheduler.terminate()
                scheduler.wait(15)


@contextlib.contextmanager
def _shared_metrics() -> Iterator[None]:
    """A fresh private metrics directory for every worker and the scheduler of this serve
    (service/metrics.py), set before any of them imports prometheus_client; removed at exit."""
    directory = tempfile.mkdtemp(prefix="viewcount-metrics-")
    os.environ[METRICS_DIR] = directory
    try:
        yield
    finally:
        os.environ.pop(METRICS_DIR, None)
        shutil.rmtree(directory, ignore_errors=True)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _http_protocol() -> str:
    """httptools bounded to VIEWCOUNT_MAX_HEADER_BYTES, or h11 (bounded by uvicorn itself)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "service.api.protocol:BoundedHttpToolsProtocol"


def _scheduler(settings: Settings, args: argparse.Namespace) -> None:
    from .scheduler import run_forever, yield_cpu

    if not settings.redis_url:
        raise StartupError("the scheduler needs the shared Redis: set VIEWCOUNT_REDIS_URL")
    _check_redis(settings)
    yield_cpu(settings)

    async def run() -> None:
        storage = connect(settings)
        try:
            await run_forever(storage, settings, SystemClock())
        finally:
            await storage.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_until_terminated(run()))


def _rollup(settings: Settings, args: argparse.Namespace) -> None:
    from .rollup import Rollup

    with _redis(settings) as url:
        settings = settings.model_copy(update={"redis_url": url})
        _check_redis(settings)

        async def run() -> None:
            storage = connect(settings)
            try:
                result = await Rollup(storage, settings, SystemClock()).run()
            finally:
                await storage.close()
            print(
                f'{{"as_of": "{rfc3339(result.as_of)}", "duration_ms": {result.duration_ms}, '
                f'"published": {str(result.published).lower()}}}'
            )

        asyncio.run(run())


def _against_redis(settings: Settings, args: argparse.Namespace) -> None:
    """Run ``args.work`` (a coroutine function of settings and args that returns a line to
    print) against the configured Redis, or the embedded one for as long as it runs."""
    with _redis(settings) as url:
        settings = settings.model_copy(update={"redis_url": url})
        _check_redis(settings)
        print(asyncio.run(args.work(settings, args)))


def _import(settings: Settings, args: argparse.Namespace) -> None:
    """Read the log line by line, post its article views in batches, print the summary."""
    from pathlib import Path

    import httpx
    import orjson
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from . import importer

    token = _import_token(settings)
    path = Path(args.file)
    try:
        stream = importer.open_log(path)
        size = path.stat().st_size
    except OSError as exc:
        raise StartupError(f"cannot read {path}: {exc.strerror}") from exc
    summary = importer.Summary()
    events = importer.Events(args.format, settings.import_path_pattern, summary)
    console = Console(stderr=True)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    failed = None
    with stream, progress, httpx.Client(timeout=60, trust_env=False) as client:
        task = progress.add_task(path.name, total=size)
        lines = importer.read_lines(stream, settings.import_max_line_bytes)
        groups = importer.batches(events.of(lines), settings.import_batch_events)
        try:
            importer.post_batches(
                client,
                args.url,
                token,
                groups,
                summary,
                retries=settings.import_retries,
                on_batch=lambda: progress.update(task, completed=_position(stream)),
            )
        except importer.ImportFailed as exc:
            failed = str(exc)
        progress.update(task, completed=_position(stream))
    print(orjson.dumps(summary.as_json()).decode())
    log.info("import done", extra={"file": str(path), **summary.as_json()})
    if failed:
        print(f"viewcount: import stopped: {failed}", file=sys.stderr)
        raise SystemExit(1)


def _import_token(settings: Settings) -> str:
    token = os.environ.get("VIEWCOUNT_INGEST_TOKEN", "").strip()
    if not token and settings.ingest_tokens:
        token = settings.ingest_tokens.get_secret_value().split(",")[0].strip()
    if not token and settings.admin_token:
        token = settings.admin_token.get_secret_value()
    if not token:
        raise StartupError(
            "set VIEWCOUNT_INGEST_TOKEN (or VIEWCOUNT_ADMIN_TOKEN) to a token the service takes"
        )
    return token


def _position(stream: Any) -> int:
    """How far into the file (compressed bytes for a gzip file) the import has read."""
    raw = getattr(stream, "fileobj", None) or stream
    return int(raw.tell())


async def _until_terminated(work: Coroutine[Any, Any, None]) -> None:
    """Run until the work ends or SIGTERM/SIGINT arrives, then cancel it cleanly."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _load_demo(settings: Settings) -> None:
    from .demo import load

    storage = connect(settings)
    try:
        views = await load(storage, settings, SystemClock())
    finally:
        await storage.close()
    log.info("demo catalog loaded", extra={"simulated_views": views})


@contextlib.contextmanager
def _redis(settings: Settings) -> Iterator[str]:
    """The configured Redis URL, or an embedded server's for as long as the block runs."""
    if settings.redis_url:
        yield settings.redis_url
        return
    server = EmbeddedRedis(settings.data_dir)
    try:
        url = server.start()
    except (EmbeddedError, OSError) as exc:
        raise StartupError(f"cannot start the embedded Redis: {exc}") from exc
    try:
        yield url
    finally:
        server.stop()


def _check_redis(settings: Settings) -> None:
    async def ping() -> None:
        storage = connect(settings)
        try:
            if not await storage.ping():
                raise StartupError(f"cannot reach Redis at {settings.redis_url}")
        finally:
            await storage.close()

    try:
        asyncio.run(ping())
    except ValueError as exc:
        raise StartupError(f"bad VIEWCOUNT_REDIS_URL {settings.redis_url!r}: {exc}") from exc
    except StartupError:
        raise
    except Exception as exc:
        raise StartupError(f"cannot reach Redis at {settings.redis_url}: {exc}") from exc


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _secret(settings: Settings) -> str:
    """VIEWCOUNT_SECRET; for the embedded server the one kept under DATA_DIR."""
    if settings.secret is None:
        if settings.redis_url:
            raise StartupError(
                "VIEWCOUNT_SECRET is required with VIEWCOUNT_REDIS_URL: set the same "
                f"{MIN_SECRET_LENGTH}+ random characters on every replica "
                "(openssl rand -base64 32); it keys every client digest and must not live in Redis"
            )
        try:
            return data_dir_secret(settings.data_dir)
        except OSError as exc:
            raise StartupError(f"cannot keep the secret under {settings.data_dir}: {exc}") from exc
    secret = settings.secret.get_secret_value()
    if len(secret) < MIN_SECRET_LENGTH:
        raise StartupError(
            f"VIEWCOUNT_SECRET is too short: use at least {MIN_SECRET_LENGTH} random characters"
        )
    return secret


def _check_token(settings: Settings) -> None:
    token = settings.admin_token
    if token is not None and len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise StartupError(
            f"VIEWCOUNT_ADMIN_TOKEN is too short: use at least {MIN_TOKEN_LENGTH} random characters"
        )


if __name__ == "__main__":
    main()
