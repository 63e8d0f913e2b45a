"""Helper processes that rank parts of a rollup beside the scheduler's own process.

Once the counters are folded, a rollup's windows are independent (rollpart.py): a rollup at
100,000 articles, 50 themes and 500 authors ranks ~140,000 list items, ~1.5 s of one core's
Python, and a second core ranks half the windows in the same time. So a scheduler keeps
VIEWCOUNT_ROLLUP_PROCESSES - 1 helpers, started (a fresh interpreter, nothing of the
scheduler's event loop or sockets) when a rollup first sees a catalog of
VIEWCOUNT_ROLLUP_SPLIT_ARTICLES or more. A helper keeps its own Ranker, and so its own catalog
cache and checkpoint, from one rollup to the next, and its own Redis connection; it gets a Part
(some window names, the time, the generation) and answers with what it wrote (rollpart.Ranked).
It runs at the scheduler's CPU niceness (VIEWCOUNT_SCHEDULER_NICE) at least. When a helper
fails a part, the rollup ranks that part itself; a helper that dies or overruns the lease is
ended, and replaced for later rollups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from . import logs
from .clock import SystemClock
from .rollpart import Part, Ranked, Ranker
from .settings import Settings
from .storage import connect

log = logging.getLogger("viewcount.rollup")
STOP_S = 5.0  # how long a helper may take to finish after it is told to stop
START_S = 15.0  # how long a scheduler starting up waits for its helpers (Helpers.started)


class HelperFailed(Exception):
    """A helper did not rank its part: the rollup ranks it itself."""


class Helper:
    """One helper process, and the thread that takes its answers (a pipe's recv blocks)."""

    def __init__(self, settings: Settings, url: str) -> None:
        # A new interpreter running this module, over a socket pair: not multiprocessing's
        # spawn, which would import the scheduler's __main__ module again in the helper.
        ours, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": _importable(os.environ.get("PYTHONPATH"))},
            )
        self._conn = Connection(ours.detach())
        self._conn.send((settings, url))
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Ranked]]] = {}
        self._sent = 0
        self.gone: str | None = None  # why it can take no more parts
        threading.Thread(target=self._receive, name="rollup-helper-replies", daemon=True).start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def ready(self) -> bool:
        """Started, and able to take a part."""
        return self._ready.is_set() and self.gone is None

    async def rank(self, part: Part, timeout_s: float) -> Ranked:
        """The helper's answer to ``part``; HelperFailed if it gives none in ``timeout_s``."""
        if not self.ready:
            raise HelperFailed(self.gone or "not started yet")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Ranked] = loop.create_future()
        with self._lock:
            self._sent += 1
            number = self._sent
            self._waiting[number] = (loop, answer)
        try:
            self._conn.send(("rank", number, part))
            async with asyncio.timeout(timeout_s):
                return await answer
        except TimeoutError:
            self.kill(f"no answer in {timeout_s:g} s")
            raise HelperFailed(f"no answer in {timeout_s:g} s") from None
        except (OSError, ValueError) as exc:  # the pipe is closed
            self.kill(f"gone: {exc}")
            raise HelperFailed(f"gone: {exc}") from None
        finally:
            with self._lock:
                self._waiting.pop(number, None)

    def stop(self) -> None:
        """Ask it to end, and wait a little for it: it takes no part after this."""
        if self.gone is None:
            self.gone = "stopped"
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(("stop", 0, None))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(STOP_S)
        self.kill(self.gone)

    def kill(self, why: str) -> None:
        """End it now (a helper that overran or lost its pipe may be stuck)."""
        if self.gone is None:
            self.gone = why
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(STOP_S)
        self._conn.close()

    def _receive(self) -> None:
        try:
            while True:
                kind, number, body = self._conn.recv()
                if kind == "ready":
                    self._ready.set()
                    continue
                with self._lock:
                    waiting = self._waiting.pop(number, None)
                if waiting is not None:
                    loop, answer = waiting
                    loop.call_soon_threadsafe(_settle, answer, kind, body)
        except (EOFError, OSError, ValueError) as exc:
            if self.gone is None:
                self.gone = f"ended ({type(exc).__name__}, exit code {self._process.poll()})"
            with self._lock:
                waiting_now = list(self._waiting.values())
                self._waiting.clear()
            for loop, answer in waiting_now:
                loop.call_soon_threadsafe(_settle, answer, "failed", self.gone)


def _settle(answer: asyncio.Future[Ranked], kind: str, body: Any) -> None:
    if answer.done():  # its rollup gave up on it
        return
    if kind == "ranked":
        answer.set_result(body)
    else:
        answer.set_exception(HelperFailed(str(body)))


class Helpers:
    """A scheduler's helpers: started when first wanted, replaced when one is gone."""

    def __init__(self, settings: Settings, url: str | None) -> None:
        self.settings = settings
        self.url = url
        self.helpers: list[Helper] = []

    @property
    def wanted(self) -> int:
        """How many helpers a large enough catalog gets (none without a URL to give them)."""
        return 0 if self.url is None else self.settings.rollup_processes - 1

    def ready(self, catalog_size: int) -> list[Helper]:
        """The helpers that can take a part of a rollup over ``catalog_size`` articles now;
        the missing ones are started (for a later rollup: a new interpreter takes a second
        or so to import the service)."""
        wanted, url = self.wanted, self.url
        if url is None or not wanted or catalog_size < self.settings.rollup_split_articles:
            return []
        for helper in [h for h in self.helpers if h.gone is not None]:
            log.warning("rollup helper replaced", extra={"error": helper.gone})
            helper.kill(str(helper.gone))
            self.helpers.remove(helper)
        while len(self.helpers) < wanted:
            self.helpers.append(Helper(self.settings, url))
        return [helper for helper in self.helpers if helper.ready]

    async def started(self, catalog_size: int, timeout_s: float = START_S) -> list[Helper]:
        """ready(), after waiting up to ``timeout_s`` for the helpers it starts to be up (one
        that ends meanwhile is left for the next rollup to replace)."""
        deadline = time.monotonic() + timeout_s
        ready = self.ready(catalog_size)
        while len(ready) < len(self.helpers) and time.monotonic() < deadline:
            if any(helper.gone is not None for helper in self.helpers):
                break
            await asyncio.sleep(0.05)
            ready = [helper for helper in self.helpers if helper.ready]
        return ready

    def close(self) -> None:
        for helper in self.helpers:
            helper.stop()
        self.helpers.clear()


def _importable(path: str | None) -> str:
    """PYTHONPATH with the directory this package is in first: the helper imports the
    scheduler's own copy of the service, wherever it was started from."""
    here = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join([here, *([path] if path else [])])


def serve(descriptor: int) -> None:
    """A helper process: ranks the parts it is sent until told to stop or its scheduler is
    gone. Ctrl-C reaches the whole process group: the scheduler stops it, not the signal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(descriptor)
    settings, url = conn.recv()
    # At VIEWCOUNT_SCHEDULER_NICE at least, whoever started it: a helper at Redis's own
    # priority took Redis's core in turns with it (a 26 ms HSET in bench rollup, whose rollups
    # run unniced); started by `viewcount scheduler` it has that niceness already.
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness < settings.scheduler_nice:
        os.nice(settings.scheduler_nice - niceness)
    logs.setup(settings.log_level, settings.log_json)
    asyncio.run(_serve(conn, settings, url))


async def _serve(conn: Connection, settings: Settings, url: str) -> None:
    storage = connect(settings, url)
    ranker = Ranker(storage, settings, SystemClock())
    try:
        try:
            await ranker.prime()
        except Exception as exc:  # its first part reads the catalog then
            log.warning("rollup helper could not read the catalog ahead", extra={"error": str(exc)})
        conn.send(("ready", 0, None))
        while True:
            # Blocking: nothing else runs on this loop between parts.
            kind, number, part = conn.recv()
            if kind == "stop":
                return
            answer: tuple[str, int, Ranked | str]
            try:
                answer = ("ranked", number, await ranker.rank(part))
            except Exception as exc:  # the scheduler ranks the part itself, and logs why
                answer = ("failed", number, f"{type(exc).__name__}: {exc}")
            conn.send(answer)
    except (EOFError, OSError):  # the scheduler is gone
        return
    finally:
        await storage.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
