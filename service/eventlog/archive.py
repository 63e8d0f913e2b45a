"""The event log's archive: Parquet files by day, on a local path or any fsspec URL.

Layout under VIEWCOUNT_EVENT_LOG_DIR: ``day=YYYY-MM-DD/s{shard}-{first id}.parquet`` (hive
partitioning, so DuckDB reads ``day`` as a column), the day being when the events were logged
(UTC). A file is named by its shard and first stream id only: a drain that wrote a file and
died before trimming the stream reads the same first entry again and replaces that file with
the same rows or more, never writes a second one. ``catalog.ndjson`` beside the days is the
catalog as the last drain saw it, for `viewcount replay`.

fsspec and pyarrow are imported where they are used: every API worker imports this module (the
purge reads the archive, /metrics the drain's stream states) and most never touch a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import record

if TYPE_CHECKING:
    import pyarrow as pa

FIRST, LAST = b"viewcount.event_log.first", b"viewcount.event_log.last"
CATALOG = "catalog.ndjson"
# Dictionary pages for the columns whose values repeat (outcomes, articles, client networks,
# bucket times); reader digests rarely repeat within a file, a dictionary would only grow it.
DICTIONARY = ["outcome", "article", "client", "viewed_at", "recorded_at"]


def day_of(logged_ms: int) -> date:
    return datetime.fromtimestamp(logged_ms / 1000, UTC).date()


class Archive:
    """Parquet files of events by day and shard, written atomically."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.fs: Any
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")

    def day_dir(self, day: date) -> str:
        return f"{self.root}/day={day.isoformat()}"

    def path(self, day: date, shard: int, first_id: str) -> str:
        return f"{self.day_dir(day)}/s{shard:02d}-{first_id}.parquet"

    def last_id(self, path: str) -> str | None:
        """The last stream id an existing file holds, None when there is no such file."""
        import pyarrow.parquet as pq

        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as stream:
            metadata = pq.read_schema(stream).metadata or {}
        last = metadata.get(LAST)
        return last.decode() if last else None

    def write(self, path: str, table: pa.Table, first_id: str, last_id: str) -> int:
        """Write ``table`` to ``path`` as one step (a temporary file renamed over it, or one
        object put); its size in bytes."""
        import pyarrow.parquet as pq

        metadata = {**(table.schema.metadata or {}), FIRST: first_id.encode()}
        metadata[LAST] = last_id.encode()
        table = table.replace_schema_metadata(metadata)
        directory = path.rsplit("/", 1)[0]
        self.fs.makedirs(directory, exist_ok=True)
        partial = f"{directory}/.{os.getpid()}-{path.rsplit('/', 1)[1]}.partial"
        try:
            with self.fs.open(partial, "wb") as stream:
                pq.write_table(
                    table,
                    stream,
                    compression="zstd",
                    use_dictionary=DICTIONARY,
                    write_statistics=["viewed_at", "article", "client", "logged_at"],
                )
            self.fs.mv(partial, path)
        finally:
            if self.fs.exists(partial):
                self.fs.rm(partial)
        return int(self.fs.size(path))

    def days(self) -> list[date]:
        """The days the archive holds, oldest first."""
        if not self.fs.exists(self.root):
            return []
        found = []
        for entry in self.fs.ls(self.root, detail=False):
            name = str(entry).rstrip("/").rsplit("/", 1)[-1]
            if name.startswith("day="):
                found.append(date.fromisoformat(name[4:]))
        return sorted(found)

    def drop_before(self, oldest_kept: date) -> list[date]:
        """Delete every day older than ``oldest_kept`` (VIEWCOUNT_EVENT_LOG_RETENTION_DAYS)."""
        dropped = [day for day in self.days() if day < oldest_kept]
        for day in dropped:
            self.fs.rm(self.day_dir(day), recursive=True)
        return dropped

    def files(self, first_day: date, last_day: date) -> list[str]:
        """The Parquet files of the days from ``first_day`` to ``last_day``."""
        paths: list[str] = []
        for day in self.days():
            if first_day <= day <= last_day:
                paths += sorted(
                    str(p)
                    for p in self.fs.ls(self.day_dir(day), detail=False)
                    if str(p).endswith(".parquet") and not str(p).rsplit("/", 1)[-1].startswith(".")
                )
        return paths

    def events(
        self,
        first_day: date,
        last_day: date,
        article: str | None = None,
        client: str | None = None,
    ) -> Iterator[record.Event]:
        """The archived events logged from ``first_day`` to ``last_day``, file by file; only
        one article's or one client network's (16 hex) when given (Parquet's statistics let
        the reader skip what cannot match)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        wanted: Any = None
        if article is not None:
            wanted = pc.field("article") == article
        if client is not None:  # a typed scalar: the digest may not fit an int64
            number = pa.scalar(record.client_number(client), pa.uint64())
            by_client = pc.field("client") == number
            wanted = by_client if wanted is None else wanted & by_client
        for path in self.files(first_day, last_day):
            with self.fs.open(path, "rb") as stream:
                yield from record.from_table(pq.read_table(stream, filters=wanted))

    def write_text(self, name: str, text: str) -> None:
        """A small file beside the days (the catalog export), replaced in one step."""
        self.fs.makedirs(self.root, exist_ok=True)
        partial = f"{self.root}/.{os.getpid()}-{name}.partial"
        with self.fs.open(partial, "w") as stream:
            stream.write(text)
        self.fs.mv(partial, f"{self.root}/{name}")

    def read_text(self, name: str) -> str | None:
        path = f"{self.root}/{name}"
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r") as stream:
            return str(stream.read())


def days_back(today: date, days: int) -> date:
    return today - timedelta(days=days)
