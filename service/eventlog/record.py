"""The event-log record, versioned, in its two forms: a stream entry in Redis and a Parquet row.

record.lua writes one stream entry per call and stream, fields ``v`` (this module's
``VERSION``), ``t`` (the service clock when the call ran, epoch s: the clock hour the caps and
readers samples used) and ``e``: one line per decision, ``code,m5,article,reader,client``
with

- code: record.lua's reply code (1 counted, 2 duplicate reader, 3 duplicate event id, 5 bot,
  6 rate limited, 7 automated), or a correction: ``PURGED`` for a view POST /v1/admin/purge
  took back, ``RECOUNTED`` for one `viewcount recount` moved from counted to automated; or
  ``PENDING`` for a view held while its article's page is read (hold.lua);
- m5: the view's 5-minute bucket index (its time, as the counters keep it);
- reader: the reader digest's first 8 hex characters (as the readers samples keep it; a batch
  event without a visitor has a random one); client: the client-network digest's first 16 hex
  characters, empty for a batch event. Neither can be turned back into an IP or a visitor.

The archive keeps the same facts as columns, one row per line (``schema()``); ``logged_at`` and
``shard``, ``seq`` and ``line`` name its stream entry exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from ..scripts.record import AUTOMATED, BOT, COUNTED, DUPLICATE, DUPLICATE_EVENT, RATE_LIMITED
from ..windows import M5

if TYPE_CHECKING:  # pyarrow loads where a table is built or read: API workers never do
    import pyarrow as pa

VERSION = "1"
# Corrections, apart from record.lua's reply codes so that a new one there never collides: a
# view a purge took back, and one a recount moved from counted to automated.
PURGED, RECOUNTED = 20, 21
# A view of an article not in the catalog, held while its page is read (hold.lua); if the
# article is found, the view is counted later and logged again with its outcome then.
PENDING = 22
READER_CHARS, CLIENT_CHARS = 8, 16
OUTCOMES = {
    COUNTED: "counted",
    DUPLICATE: "duplicate",
    DUPLICATE_EVENT: "duplicate_event",
    BOT: "bot",
    RATE_LIMITED: "rate_limited",
    AUTOMATED: "automated",
    PURGED: "purged",
    RECOUNTED: "recounted",
    PENDING: "pending",
}
CODES = {name: code for code, name in OUTCOMES.items()}


@cache
def schema() -> pa.Schema:
    """The archive's columns. Every API worker imports this module (the counting call writes
    the stream lines), and pyarrow cost each one ~50 MB and its import time: it loads here."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("logged_at", pa.timestamp("ms", tz="UTC"), nullable=False),
            # Whose stream: (shard, id, line) is unique.
            pa.field("shard", pa.int16(), nullable=False),
            pa.field("seq", pa.int32(), nullable=False),  # the stream id is "logged_at ms-seq"
            pa.field("line", pa.int32(), nullable=False),
            pa.field("recorded_at", pa.timestamp("s", tz="UTC"), nullable=False),  # the `t`
            pa.field("viewed_at", pa.timestamp("s", tz="UTC"), nullable=False),  # its 5-min bucket
            pa.field("outcome", pa.string(), nullable=False),
            pa.field("article", pa.string(), nullable=False),
            # The digests as numbers (the hex of the stream lines, read as integers): 4 and 8
            # bytes a row instead of a string's length and characters.
            pa.field("reader", pa.uint32(), nullable=False),
            pa.field("client", pa.uint64(), nullable=True),  # null for a batch event
        ],
        metadata={"viewcount.event_log.version": VERSION},
    )


class UnknownVersion(ValueError):
    """A stream entry written by a newer record format than this code reads."""


@dataclass(frozen=True, slots=True)
class Event:
    """One logged decision."""

    shard: int
    entry: str
    line: int
    recorded_s: int
    m5: int
    outcome: str
    article: str
    reader: str
    client: str

    @property
    def logged_ms(self) -> int:
        return int(self.entry.split("-", 1)[0])

    @property
    def seq(self) -> int:
        return int(self.entry.split("-", 1)[1])

    @property
    def at(self) -> int:
        """The start of the view's 5-minute bucket, epoch seconds."""
        return self.m5 * M5.bucket_s


def line(code: int, m5: int, article: str, reader: str, client: str) -> str:
    """One decision as record.lua writes it (purge.lua's lines are built here too)."""
    return f"{code},{m5},{article},{reader[:READER_CHARS]},{client[:CLIENT_CHARS]}"


def partial_line(m5: int, article: str, reader: str) -> str:
    """A line without its code and client: what ratelimit.lua completes for a view it refuses."""
    return f"{m5},{article},{reader[:READER_CHARS]}"


def decode_entry(shard: int, entry_id: str, fields: dict[str, str]) -> list[Event]:
    """The events of one stream entry of a shard's log."""
    if fields.get("v") != VERSION:
        raise UnknownVersion(f"event-log entry {entry_id} has version {fields.get('v')!r}")
    events = []
    recorded_s = int(fields["t"])
    for number, text in enumerate(fields["e"].split("\n")):
        code, m5, article, reader, client = text.split(",")
        # A code this table lacks (a newer record.lua's) is archived by number, not dropped.
        outcome = OUTCOMES.get(int(code)) or f"code_{code}"
        events.append(
            Event(shard, entry_id, number, recorded_s, int(m5), outcome, article, reader, client)
        )
    return events


def to_table(events: Sequence[Event]) -> pa.Table:
    """Rows in archive order: by article, then as logged (runs of one article compress)."""
    import pyarrow as pa

    ordered = sorted(events, key=lambda e: (e.article, e.logged_ms, e.entry, e.line))
    return pa.Table.from_pydict(
        {
            "logged_at": [e.logged_ms for e in ordered],
            "shard": [e.shard for e in ordered],
            "seq": [e.seq for e in ordered],
            "line": [e.line for e in ordered],
            "recorded_at": [e.recorded_s for e in ordered],
            "viewed_at": [e.at for e in ordered],
            "outcome": [e.outcome for e in ordered],
            "article": [e.article for e in ordered],
            "reader": [int(e.reader or "0", 16) for e in ordered],  # a correction has none
            "client": [client_number(e.client) for e in ordered],
        },
        schema=schema(),
    )


def client_number(client: str) -> int | None:
    """A client-network digest (hex, as the stream lines hold it) as the archive keeps it."""
    return int(client[:CLIENT_CHARS], 16) if client else None


def from_table(table: pa.Table) -> Iterable[Event]:
    """The events of archived rows."""
    for row in table.select(schema().names).to_pylist():
        logged_ms = int(row["logged_at"].timestamp() * 1000)
        yield Event(
            row["shard"],
            f"{logged_ms}-{row['seq']}",
            row["line"],
            int(row["recorded_at"].timestamp()),
            int(row["viewed_at"].timestamp()) // M5.bucket_s,
            row["outcome"],
            row["article"],
            f"{row['reader']:0{READER_CHARS}x}",
            "" if row["client"] is None else f"{row['client']:0{CLIENT_CHARS}x}",
        )
