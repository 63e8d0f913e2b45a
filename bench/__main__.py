"""`python -m bench` (throughput table, then the transport table), `python -m bench rollup`
(rollup at scale), `python -m bench transport` (one Redis round trip through the lean
transport and redis-py), `python -m bench eventlog` (what the event log costs Redis and disk),
`python -m bench profile SCENARIO` (py-spy on the worker under load)."""

from __future__ import annotations

import argparse
import sys
import time


def log(message: str) -> None:
    print(message, flush=True)


def _throughput(args: argparse.Namespace) -> None:
    from . import report, throughput

    started = time.monotonic()
    workers = [int(w) for w in args.workers.split(",")]
    log(
        f"bench: {args.rounds} interleaved rounds of {args.duration:g} s per row, workers "
        f"{workers}, wrk -t2 -c64 (batch -c{args.batch_connections}); rate limiter ON "
        "(600/min per client IP), every beacon from a random X-Forwarded-For "
        "(VIEWCOUNT_TRUSTED_PROXIES=127.0.0.1) and a new visitor id"
    )
    only = [w for w in args.only.split(",") if w]
    rows = throughput.run(workers, args.rounds, args.duration, args.batch_connections, only, log)
    log("")
    log(report.table(rows))
    log("")
    lines, ok = report.checks(rows)
    log("check: views acknowledged = views in Redis")
    for line in lines:
        log("  " + line)
    log("")
    for line in report.targets(rows):
        log(line)
    path = report.save(
        rows,
        {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "batch_connections": args.batch_connections,
        },
    )
    if not only:
        from . import transport

        log("")
        transport.main(log)
    log(f"\nresults: {path} ({time.monotonic() - started:.0f} s)")
    if not ok:
        sys.exit(1)


def _rollup(args: argparse.Namespace) -> None:
    from . import scale

    scale.main(args, log)


def _transport(args: argparse.Namespace) -> None:
    from . import transport

    transport.main(log)


def _eventlog(args: argparse.Namespace) -> None:
    from . import eventlog

    eventlog.main(log)


def _profile(args: argparse.Namespace) -> None:
    from . import profile

    profile.main(args, log)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.set_defaults(run=_throughput)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts, in order")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--only", default="", help="comma-separated words: rows to keep")
    sub = parser.add_subparsers()
    rollup = sub.add_parser("rollup", help="seed 100k articles / 10M views, time rollups")
    rollup.add_argument("--articles", type=int, default=100_000)
    rollup.add_argument("--themes", type=int, default=50)
    rollup.add_argument("--views", type=int, default=10_000_000)
    rollup.add_argument(
        "--rollups", type=int, default=4, help="timed rollups in a row, by one Rollup"
    )
    rollup.add_argument("--authors", type=int, default=500, help="0: articles have no author")
    rollup.add_argument(
        "--movement-s",
        type=float,
        default=2.0,
        help="VIEWCOUNT_MOVEMENT_S of the timed rollups, and the pause between them",
    )
    rollup.add_argument(
        "--no-beacons", action="store_true", help="only the rollups: no beacon p99 under load"
    )
    rollup.set_defaults(run=_rollup)
    sub.add_parser("transport", help="one round trip: lean transport vs redis-py").set_defaults(
        run=_transport
    )
    sub.add_parser(
        "eventlog", help="the event log's Redis CPU and memory per view, and bytes on disk"
    ).set_defaults(run=_eventlog)
    prof = sub.add_parser("profile", help="py-spy the viewcount worker under one load")
    prof.add_argument("scenario", choices=["beacon", "pixel", "batch", "popular", "counts"])
    prof.add_argument("--seconds", type=float, default=10.0)
    prof.add_argument("--native", action="store_true", help="C frames too (py-spy --native)")
    prof.set_defaults(run=_profile)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
