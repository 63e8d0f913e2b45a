"""The event log's subcommands: `viewcount replay`, `viewcount recount`, `viewcount log`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import orjson

from .. import keys
from ..clock import SystemClock, parse_rfc3339, rfc3339
from ..settings import Settings
from ..storage import StorageError, connect
from ..windows import M5
from . import record
from .archive import Archive, day_of
from .purge import stream_events
from .recount import recount
from .replay import NoCatalog, NotEmpty, replay

Run = Callable[[Settings, argparse.Namespace], None]


def add(commands: Any, replay_runner: Run) -> None:
    """The subcommands, on the `viewcount` parser's ``commands``; ``replay_runner`` runs a
    coroutine-needing command against the configured (or embedded) Redis (cli.py)."""
    replaying = commands.add_parser(
        "replay", help="rebuild every counter from the event-log archive into an empty Redis"
    )
    replaying.set_defaults(run=replay_runner, work=_replay)
    recounting = commands.add_parser(
        "recount",
        help="re-judge the logged views by the current per-client cap and correct the counters",
    )
    recounting.add_argument("--from", dest="start", required=True, type=_time, help="RFC 3339")
    recounting.add_argument("--to", dest="end", required=True, type=_time, help="RFC 3339")
    recounting.add_argument(
        "--dry-run", action="store_true", help="print the corrections, change nothing"
    )
    recounting.set_defaults(run=replay_runner, work=_recount)
    logged = commands.add_parser(
        "log", help="print one article's or one client network's logged events, as NDJSON"
    )
    who = logged.add_mutually_exclusive_group(required=True)
    who.add_argument("--article", help="an article id")
    who.add_argument("--client", help="a client-network digest (as GET /v1/admin/suspicious)")
    logged.add_argument("--from", dest="start", required=True, type=_time, help="RFC 3339")
    logged.add_argument("--to", dest="end", required=True, type=_time, help="RFC 3339")
    logged.set_defaults(run=_log)


def _time(text: str) -> float:
    try:
        return parse_rfc3339(text)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from exc


async def _replay(settings: Settings, args: argparse.Namespace) -> str:
    storage = connect(settings)
    try:
        result = await replay(storage, settings, SystemClock())
    except (NotEmpty, NoCatalog) as exc:
        raise SystemExit(f"viewcount: {exc}") from exc
    finally:
        await storage.close()
    return orjson.dumps({**result, "as_of": rfc3339(result["as_of"])}).decode()


async def _recount(settings: Settings, args: argparse.Namespace) -> str:
    if args.start >= args.end:
        raise SystemExit("viewcount: --to must be after --from")
    storage = connect(settings)
    try:
        found = await recount(storage, settings, SystemClock(), args.start, args.end, args.dry_run)
    finally:
        await storage.close()
    lines = [
        orjson.dumps({"article": c.article, "client": c.client, "taken_back": c.views}).decode()
        for c in found
    ]
    summary = {
        "dry_run": args.dry_run,
        "max_views_per_client": settings.max_views_per_client,
        "from": rfc3339(args.start),
        "to": rfc3339(args.end),
        "taken_back": sum(c.views for c in found),
    }
    return "\n".join([*lines, orjson.dumps(summary).decode()])


def _log(settings: Settings, args: argparse.Namespace) -> None:
    """The archive's events, then (with VIEWCOUNT_REDIS_URL) those still in the streams."""
    client = args.client[: record.CLIENT_CHARS] if args.client else None
    first_m5, end_m5 = M5.index(args.start), -(-args.end // M5.bucket_s)

    def wanted(event: record.Event) -> bool:
        return first_m5 <= event.m5 < end_m5 and (
            event.article == args.article if args.article else event.client == client
        )

    archive = Archive(settings.event_log_url)
    first_day = day_of(int(args.start * 1000)) - timedelta(days=1)
    for event in archive.events(first_day, date.max, article=args.article, client=client):
        if wanted(event):
            _print(event)
    if settings.redis_url:
        asyncio.run(_print_streams(settings, wanted))


async def _print_streams(settings: Settings, wanted: Callable[[record.Event], bool]) -> None:
    storage = connect(settings)
    try:
        for shard in range(keys.SHARDS):
            async for event in stream_events(storage, shard, settings.event_log_file_entries):
                if wanted(event):
                    _print(event)
    except StorageError as exc:
        print(f"viewcount: the events not yet archived are not shown: {exc}", file=sys.stderr)
    finally:
        await storage.close()


def _print(event: record.Event) -> None:
    line = {
        "logged_at": rfc3339(event.logged_ms / 1000),
        "viewed_at": rfc3339(event.at),
        "outcome": event.outcome,
        "article": event.article,
        "reader": event.reader,
        "client": event.client or None,
    }
    sys.stdout.write(orjson.dumps(line).decode() + "\n")
