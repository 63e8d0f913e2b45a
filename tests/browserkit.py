"""Harness for the browser tests: the service as `make run` starts it, a host site, tabs."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from .pagedata import article_bodies, batch_events
from .support import (
    ADMIN,
    ADMIN_TOKEN,
    BROWSER_UA,
    SECRET,
    RedisProcess,
    end_process,
    free_port,
    wait_for_port,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
WAIT_S = 10.0


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


class Service:
    """`viewcount serve --demo` in a subprocess, as `make run` starts it."""

    def __init__(self, redis_url: str, sites: str = "") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="vc-serve-", suffix=".log")  # noqa: SIM115
        env = {
            **os.environ,
            "VIEWCOUNT_REDIS_URL": redis_url,
            "VIEWCOUNT_ADMIN_TOKEN": ADMIN_TOKEN,
            "VIEWCOUNT_SECRET": SECRET,
            "VIEWCOUNT_RATE_LIMIT_PER_MIN": "0",
            "VIEWCOUNT_MAX_VIEWS_PER_CLIENT": "0",
            "VIEWCOUNT_MIN_READERS": "1",
            "VIEWCOUNT_REDIS_TIMEOUT_S": "1",
            # Lists compare with the list of a second before, so arrows show within a test.
            "VIEWCOUNT_MOVEMENT_S": "1",
            "VIEWCOUNT_LOG_JSON": "false",
            "VIEWCOUNT_SITES": sites,  # the host site's pages: beacons discover articles there
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--demo",
                "--no-scheduler",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        try:
            wait_for_port(self.port, 30)
        except TimeoutError as exc:
            self.log.seek(0)
            output = self.log.read().decode(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"viewcount serve did not start:\n{output}") from exc
        self.http = httpx.Client(base_url=self.base, headers={"User-Agent": BROWSER_UA})

    def stop(self) -> None:
        end_process(self.process)
        self.log.close()

    def views(self, article: str) -> int:
        return int(self.http.get(f"/v1/articles/{article}/views").json()["views"])

    def beacons(self) -> dict[str, float]:
        """Beacons this server answered, by outcome, from its Prometheus counters."""
        text = self.http.get("/metrics").text
        found = re.findall(r"^viewcount_views_(counted|duplicate|bot)_total (\S+)$", text, re.M)
        return {name: float(value) for name, value in found}


class HostSite:
    """Another origin on loopback: a news site that embeds the counter's scripts."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[bytes, dict[str, str]]] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, headers = pages.get(self.path, (b"not found", {}))
                self.send_response(200 if self.path in pages else 404)
                for name, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path: str, body: str, headers: dict[str, str] | None = None) -> str:
        self.pages[path] = (body.encode(), headers or {})
        return self.base + path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Stack:
    """Redis, the service with its demo catalog and the test articles, and a host site."""

    def __init__(self, cleanup: contextlib.ExitStack) -> None:
        self.redis = RedisProcess().start()
        cleanup.callback(self.redis.stop)
        self.host = HostSite()
        cleanup.callback(self.host.stop)
        self.service = Service(self.redis.url, sites=self.host.base)
        cleanup.callback(self.service.stop)
        cleanup.callback(self.service.http.close)
        http = self.service.http
        for article, body in article_bodies():
            assert http.put(f"/v1/articles/{article}", json=body, headers=ADMIN).is_success
        batch = http.post("/v1/views/batch", json={"events": batch_events()}, headers=ADMIN)
        assert batch.json()["rejected"] == []
        assert http.post("/v1/rollup", headers=ADMIN).is_success
        # What a site would have cached of the scripts before the counter went down.
        self.scripts = {name: http.get(f"/v1/{name}").text for name in ("beacon.js", "widget.js")}


class Tab:
    """A page in its own context (its own reader), recording what would break a site."""

    def __init__(self, browser: Any, reader: int, width: int = 1280) -> None:
        # A desktop Chrome User-Agent: HeadlessChrome's own is (rightly) counted as a bot.
        agent = BROWSER_UA.replace("Chrome/126.0.0.0", f"Chrome/126.0.0.{reader}")
        self.context = browser.new_context(
            user_agent=agent, viewport={"width": width, "height": 900}
        )
        self.context.set_default_timeout(WAIT_S * 1000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.csp: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)
        self.page.on("console", self._console)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def texts(self, selector: str) -> list[str]:
        return list(self.page.locator(selector).all_text_contents())

    def close(self) -> None:
        self.context.close()


def widget_page(stack: Stack, path: str, widgets: str, lang: str = "uk") -> str:
    """A host-site page with a strict CSP of its own that lets the counter in."""
    api = stack.service.base
    csp = f"default-src 'none'; script-src {api}; connect-src {api}; style-src 'self'"
    return stack.host.page(
        path,
        (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>host</title>'
            f'<script async src="{api}/v1/widget.js"></script></head><body><h1>Host news</h1>'
            f"{widgets}</body></html>"
        ),
        {"Content-Security-Policy": csp},
    )
