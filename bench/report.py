"""The table, the acknowledged-versus-stored check, the targets, and the JSON record."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from .scenarios import (
    BATCH,
    BEACON,
    LIMIT_POST,
    NAIVE_POST,
    PIXEL,
    VC_COUNTS,
    VC_POPULAR,
)
from .throughput import Row

RESULTS = Path(__file__).resolve().parent / "results"


def _by_name(rows: list[Row], workers: int) -> dict[str, Row]:
    return {r.scenario.name: r for r in rows if r.workers == workers}


def table(rows: list[Row]) -> str:
    """Markdown table: rate, p50, p99 and the ratios to the limit and the naive version."""
    lines = [
        "| workers | what | rate | p50 ms | p99 ms | × limit | × naive | CPU µs/req "
        "server + redis + wrk |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        same = _by_name(rows, row.workers)
        sc = row.scenario
        unit = "events/s" if sc.load.events > 1 else "req/s"
        limit = same[sc.limit_row].rate() if sc.limit_row in same else float("nan")
        naive = same[sc.naive_row].rate() if sc.naive_row in same else float("nan")
        conns = f" (c{sc.load.connections})" if sc.load.connections != 64 else ""
        lines.append(
            f"| {row.workers} | {sc.name}{conns} | {row.rate():,.0f} {unit} | "
            f"{row.p50():.2f} | {row.p99():.2f} | {row.rate() / limit:.2f} | "
            f"{row.rate() / naive:.2f} | {row.cpu_us()[0]:.0f} + {row.cpu_us()[1]:.0f}"
            f" + {row.cpu_us()[2]:.0f} |"
        )
    return "\n".join(lines)


def checks(rows: list[Row]) -> tuple[list[str], bool]:
    """Views acknowledged versus views Redis gained, per counted row."""
    lines, ok = [], True
    for row in rows:
        if not row.scenario.counted:
            continue
        extra = row.stored - row.acked
        good = 0 <= extra <= row.in_flight_bound and row.errors() == 0
        ok &= good
        lines.append(
            f"{'ok  ' if good else 'FAIL'} {row.workers}w {row.scenario.name}: "
            f"acknowledged {row.acked:,}, stored {row.stored:,} (+{extra} sent before "
            f"wrk stopped, bound {row.in_flight_bound:,}), errors {row.errors()}"
        )
    return lines, ok


def targets(rows: list[Row]) -> list[str]:
    """The issue's targets, per worker, as measured in this run."""
    one, two = _by_name(rows, 1), _by_name(rows, 2)
    lines = []

    def rate(rows_of: dict[str, Row], name: str) -> float:
        return rows_of[name].rate() if name in rows_of else float("nan")

    def line(label: str, value: float, goal: float, unit: str = "×") -> None:
        if value == value:  # not NaN: both rows were measured
            mark = "met" if value >= goal else "NOT met"
            lines.append(f"{label}: {value:,.2f}{unit} (target ≥ {goal:,}{unit}) {mark}")

    line("beacon / limit", rate(one, BEACON) / rate(one, LIMIT_POST), 0.4)
    line("beacon / naive", rate(one, BEACON) / rate(one, NAIVE_POST), 4.5)
    line("batch", rate(one, BATCH), 100_000, " events/s")
    for name in (VC_POPULAR, VC_COUNTS):
        if name in one:
            row = one[name]
            line(f"{name} / limit", row.rate() / rate(one, row.scenario.limit_row), 0.6)
            mark = "met" if row.p99() <= 10 else "NOT met"
            lines.append(f"{name} p99: {row.p99():.2f} ms (target ≤ 10 ms) {mark}")
    line("2 workers / 1 worker, beacon", rate(two, BEACON) / rate(one, BEACON), 1.6)
    for name in (LIMIT_POST, NAIVE_POST, PIXEL, VC_POPULAR, VC_COUNTS):
        if name in one and name in two:
            lines.append(f"2 workers / 1 worker, {name}: {rate(two, name) / rate(one, name):.2f}×")
    return lines


def save(rows: list[Row], meta: dict[str, Any]) -> Path:
    """Write the run to bench/results/ (gitignored); returns the file."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / time.strftime("bench-%Y%m%d-%H%M%S.json")
    record = {
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **meta,
        "rows": [r.as_json() for r in rows],
    }
    path.write_text(json.dumps(record, indent=2))
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
