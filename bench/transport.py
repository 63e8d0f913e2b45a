"""`python -m bench transport`: what one Redis round trip costs the client, through the lean
transport and through redis-py's asyncio client, on the same Redis, as the service uses them.

Why the lean transport exists (service/storage/lean.py): on Python 3.11 redis-py's asyncio
client spends tens of µs of CPU per round trip (pool, locks, a task per timeout; redis-py
#4176 and PR #4191 are still open). Each row runs the same calls through Storage: a script call
(counts.lua, read-only, one id: what GET /v1/views sends) and a plain command (HGETALL of a
small hash), from 1 caller and from 64 concurrent callers, and reports the client's CPU per
call (the least noisy figure on a shared machine) next to the rate.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from service import keys
from service.scripts import counts
from service.settings import Settings
from service.storage import Storage, connect, ops

from . import procs

CALLS = 20_000
ROUNDS = 3
TRANSPORTS = ("lean", "redis-py")
Log = Callable[[str], None]


async def _timed(
    storage: Storage, callers: int, call: Callable[[], Awaitable[Any]]
) -> dict[str, float]:
    per_caller = CALLS // callers

    async def caller() -> None:
        for _ in range(per_caller):
            await call()

    await call()  # connected, script loaded
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_caller * callers
    return {"calls_per_s": done / wall, "client_cpu_us": 1e6 * cpu / done}


async def _measure(url: str, lean: bool) -> dict[str, dict[str, float]]:
    settings = Settings(redis_url=url, log_json=False)
    storage = connect(settings, lean=lean)
    shard = keys.shard_of("bench-transport")
    script = counts.call([(shard, ["bench-transport"])])
    command = ops.hgetall(keys.theme_counts(shard))
    try:
        await storage.one(ops.hset(keys.theme_counts(shard), {"war": 3, "economy": 5}))
        found: dict[str, dict[str, float]] = {}
        for callers in (1, 64):
            found[f"script, {callers} caller{'s' if callers > 1 else ''}"] = await _timed(
                storage, callers, lambda: storage.run(script)
            )
            found[f"command, {callers} caller{'s' if callers > 1 else ''}"] = await _timed(
                storage, callers, lambda: storage.one(command)
            )
        return found
    finally:
        await storage.close()


def run(log: Log) -> list[dict[str, Any]]:
    """Interleaved rounds of every transport; the median of each row."""
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    with procs.redis_server() as port:
        url = f"redis://127.0.0.1:{port}/0"
        for _ in range(ROUNDS):
            for transport in TRANSPORTS:
                for what, figures in asyncio.run(_measure(url, transport == "lean")).items():
                    samples.setdefault((what, transport), []).append(figures)
    rows = []
    for (what, transport), figures in samples.items():
        rows.append(
            {
                "what": what,
                "transport": transport,
                "calls_per_s": statistics.median(f["calls_per_s"] for f in figures),
                "client_cpu_us": statistics.median(f["client_cpu_us"] for f in figures),
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lean = {row["what"]: row for row in rows if row["transport"] == "lean"}
    lines = [
        "| round trip | transport | calls/s | client CPU µs/call | × lean CPU |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        ratio = row["client_cpu_us"] / lean[row["what"]]["client_cpu_us"]
        lines.append(
            f"| {row['what']} | {row['transport']} | {row['calls_per_s']:,.0f} | "
            f"{row['client_cpu_us']:.1f} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main(log: Log) -> None:
    log(f"transport: {CALLS:,} calls per row, {ROUNDS} interleaved rounds (medians), one Redis")
    log(table(run(log)))
