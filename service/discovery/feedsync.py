"""VIEWCOUNT_FEEDS into the catalog: each feed read with the validators kept in Redis, and
its entries added or updated by feed_article.lua, which never overrides an editor's entry."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from .. import keys, snapshot
from ..catalog import MAX_URL, article_from_fields
from ..errors import InvalidField
from ..metrics import Metrics
from ..scripts import feed_article
from ..settings import Settings
from ..storage import Call, Storage, ops
from .errors import DiscoveryError
from .feeds import FeedEntry, FeedReader, FeedResult, Validators
from .fetch import Fetcher
from .fields import author_slug, slug
from .urls import feed_urls

log = logging.getLogger("viewcount.feeds")
CALLS_PER_ROUND_TRIP = 200  # feed_article calls sent together (a 10 MB sitemap lists ~50,000)


@dataclass(slots=True)
class FeedReport:
    """What one read of one feed did: its documents, and each article's change by name."""

    url: str
    documents: int = 0
    not_modified: int = 0
    skipped: int = 0  # entries off the sites, without an id, or not a catalog entry
    changes: Counter[str] = field(default_factory=Counter)
    error: DiscoveryError | None = None
    failures: tuple[DiscoveryError, ...] = ()


class FeedSync:
    """Reads every VIEWCOUNT_FEEDS URL once per ``run``; the scheduler's leader calls it."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        fetcher: Fetcher,
        metrics: Metrics | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.fetcher = fetcher
        self.metrics = metrics
        self.urls = feed_urls(settings.feeds, settings.sites)

    async def run(self) -> list[FeedReport]:
        """One pass over the feeds; a feed that fails is logged and the others still read.

        StorageError (Redis down) ends the pass: nothing can be written, and the validators
        stay as they were, so the next pass reads the feeds whole again."""
        reader = FeedReader(self.fetcher, await self._validators())
        return [await self._one(reader, url) for url in self.urls]

    async def _one(self, reader: FeedReader, url: str) -> FeedReport:
        report = FeedReport(url)
        try:
            result = await reader.read(url)
        except DiscoveryError as exc:
            report.error = exc
            self._count_read(exc.reason)
            log.warning(
                "feed not read",
                extra={"feed": url, "reason": exc.reason, "error": exc.detail},
            )
            return report
        report.failures = result.failures
        for failure in result.failures:
            self._count_read(failure.reason)
            log.warning(
                "sitemap not read",
                extra={
                    "feed": url,
                    "sitemap": failure.url,
                    "reason": failure.reason,
                    "error": failure.detail,
                },
            )
        await self._write(result, report)
        # Only once the entries are in: a pass that dies before keeps the old validators,
        # and the next one reads the feed whole rather than being told "not modified".
        await self._keep_validators(result)
        log.info(
            "feed read",
            extra={
                "feed": url,
                "documents": report.documents,
                "not_modified": report.not_modified,
                "skipped": report.skipped,
                **{f"articles_{name}": n for name, n in sorted(report.changes.items())},
            },
        )
        return report

    async def _write(self, result: FeedResult, report: FeedReport) -> None:
        for read in result.reads:
            if read.document is None:
                report.not_modified += 1
                self._count_read("not_modified")
                continue
            report.documents += 1
            report.skipped += read.document.skipped
            self._count_read("read")
        calls, ids = [], []
        for entry in result.entries:
            call = self._call(entry)
            if call is None:
                report.skipped += 1
                continue
            calls.append(call)
            ids.append(entry.article)
        for start in range(0, len(calls), CALLS_PER_ROUND_TRIP):
            replies = await self.storage.run_all(calls[start : start + CALLS_PER_ROUND_TRIP])
            created = []
            for article, reply in zip(ids[start:], replies, strict=False):
                change = feed_article.decode(reply)
                report.changes[change] += 1
                if change == "created":  # as a PUT that creates it: it may rank
                    created.append(article)
            await snapshot.remember(self.storage, *created)
        if self.metrics is not None:
            for change, count in report.changes.items():
                self.metrics.feed_articles.labels(change).inc(count)
            if report.skipped:
                self.metrics.feed_articles.labels("skipped").inc(report.skipped)

    def _call(self, entry: FeedEntry) -> Call | None:
        """The entry's feed_article call, or None when it could not be a catalog entry. A named
        author gets the list of their name's slug, as a discovered page's does."""
        theme = slug(entry.section)
        if len(entry.url) > MAX_URL:
            return None
        fields: dict[str, object] = {
            "title": entry.title or "untitled",
            "url": entry.url,
            "theme": theme or self.settings.default_theme,
            "published_at": entry.published_at,
        }
        if entry.author_name is not None:
            fields["author"] = author_slug(entry.author_name)
            fields["author_name"] = entry.author_name
        try:  # the same checks as a PUT: what the feed says must be a valid entry
            checked = article_from_fields(entry.article, fields)
        except InvalidField:
            return None
        return feed_article.call(
            entry.article,
            entry.title,
            entry.url,
            theme,
            entry.published_at,
            self.settings.default_theme,
            checked.author,
            checked.author_name,
        )

    def _count_read(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.feed_reads.labels(outcome).inc()

    async def _validators(self) -> dict[str, Validators]:
        stored = await self.storage.one(ops.hgetall(keys.FEED_VALIDATORS))
        known = {}
        for url, raw in stored.items():
            try:
                fields = orjson.loads(raw)
                known[url] = Validators(fields.get("etag"), fields.get("last_modified"))
            except (orjson.JSONDecodeError, AttributeError):
                continue  # an unreadable entry: that feed is read whole once
        return known

    async def _keep_validators(self, result: FeedResult) -> None:
        mapping = {
            read.url: orjson.dumps(
                {"etag": read.validators.etag, "last_modified": read.validators.last_modified}
            ).decode()
            for read in result.reads
        }
        if mapping:
            await self.storage.one(ops.hset(keys.FEED_VALIDATORS, mapping))


def summary(reports: Sequence[FeedReport]) -> dict[str, int]:
    """Every report's article changes added up (for logs and tests)."""
    total: Counter[str] = Counter()
    for report in reports:
        total.update(report.changes)
    return dict(total)
