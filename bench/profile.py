"""`python -m bench profile SCENARIO`: py-spy on the viewcount worker while wrk loads it."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from . import procs, wrk
from .scenarios import ARTICLES, BATCH_EVENTS, COUNTS, POPULAR, TOKEN
from .throughput import SERVICE, seed, service_env

LOADS = {
    "beacon": wrk.Load("beacon"),
    "pixel": wrk.Load("pixel"),
    "batch": wrk.Load("batch", connections=4, events=BATCH_EVENTS),
    "popular": wrk.Load("get", POPULAR),
    "counts": wrk.Load("get", COUNTS),
}
_LINE = re.compile(r":\d+\)")


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("bench: install py-spy first: .venv/bin/pip install py-spy")
    return found


def summarise(collapsed: str, top: int = 30) -> list[str]:
    """Top functions by own samples and by inclusive samples, from py-spy's raw output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return lines


def main(args: argparse.Namespace, log: Any) -> None:
    spy, wrk_bin = _py_spy(), procs.ensure_wrk()
    load = LOADS[args.scenario]
    with procs.redis_server() as redis_port:
        env = service_env(f"redis://127.0.0.1:{redis_port}/0")
        with procs.uvicorn(SERVICE, 1, env, factory=True) as port:
            seed(port)
            pid = procs.worker_pids(port)[0]
            out = procs.ROOT / "bench" / "results" / f"profile-{args.scenario}.txt"
            out.parent.mkdir(exist_ok=True)
            seconds = round(args.seconds)
            loader = threading.Thread(
                target=wrk.run,
                args=(wrk_bin, port, load, seconds + 2, uuid.uuid4().hex[:10], ARTICLES, TOKEN),
            )
            loader.start()
            subprocess.run(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(seconds),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    *(["--native"] if args.native else ["--nonblocking"]),
                ],
                check=True,
                capture_output=True,
            )
            loader.join()
    for line in summarise(out.read_text()):
        log(line)
    log(f"\ncollapsed stacks: {out}")
