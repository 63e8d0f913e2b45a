"""Views of articles not yet in the catalog: held in Redis while the API process reads the
article's page from the publisher's own site, then counted once the page registers it.

Why in the API process and not the scheduler: a held view waits for this fetch, and the
process that answered "pending" can start it at once; the scheduler runs every few minutes and
is one process for the whole service. Every process is bounded (VIEWCOUNT_FETCH_CONCURRENCY
articles at a time) and one lease per article in Redis (claim.lua, in the article's slot) lets
one fetch run for it across all workers and replicas. Each process also sweeps, every
VIEWCOUNT_PENDING_POLL_S, for holds no fetch works on (their process went away, or was busy)
and for the re-reads that are due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from dataclasses import dataclass, replace

from .. import keys
from ..catalog import Article, Catalog
from ..clock import Clock
from ..commit import Committer
from ..errors import DomainError, UnknownArticle
from ..ingest import View
from ..metrics import Metrics
from ..scripts import claim, due, hold, peek, settle, unhold
from ..scripts.record import COUNTED
from ..settings import Settings
from ..storage import Storage, StorageError, ops
from .errors import DiscoveryError, OffSite
from .fetch import Fetcher
from .fields import to_article
from .page import read_page
from .urls import allowed_url, is_allowed

log = logging.getLogger("viewcount.discovery")
REGISTERED, UPDATED = "registered", "updated"  # fetch outcomes besides DiscoveryError.reason


class FetchFailed(DomainError):
    """An editor's refresh found no article on the page (the reason is in the detail)."""

    code = "fetch_failed"


class FetchInProgress(DomainError):
    code = "fetch_in_progress"


@dataclass(frozen=True, slots=True)
class Found:
    """A page read into the catalog: ``created`` on its first registration."""

    article: Article
    created: bool
    counted: int  # held views counted (their record.lua codes were COUNTED)


class Discovery:
    """One per API process: holds views, fetches pages, counts what was held."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        catalog: Catalog,
        committer: Committer,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.catalog = catalog
        self.committer = committer
        self.clock = clock
        self.metrics = metrics
        self.fetcher = Fetcher(settings)
        self.bounds = hold.Bounds(
            settings.pending_ttl_s,
            settings.pending_max_per_article,
            math.ceil(settings.pending_max_total / keys.SHARDS),
        )
        # Long enough for a fetch that first waits for a slot behind an editor's refresh,
        # then takes its whole time limit, then registers and counts.
        self.lease_ms = int((3 * settings.fetch_timeout_s + 10) * 1000)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # --- the beacon side ---------------------------------------------------------------------
    async def hold(self, view: View, url: str) -> int:
        """hold.HELD once ``view`` is held, or its record.lua code when its article entered the
        catalog meanwhile; UnknownArticle when ``url`` is off the sites or the bounds are full."""
        try:
            target = str(allowed_url(url, self.fetcher.sites))
        except OffSite as exc:
            raise UnknownArticle(
                f"no article '{view.article}' in the catalog, and its url is not read: {exc.detail}"
            ) from None
        call = hold.call(
            view, target, self.clock.now(), self.bounds, self.settings.event_log_max_entries
        )
        code, _, page = hold.decode(await self.storage.run(call))
        if code == hold.KNOWN:  # registered meanwhile (a feed, an editor): views held before?
            (outcome,) = await self.committer.replay([view])
            self.start(view.article, target)
            return outcome
        if code in (hold.ARTICLE_FULL, hold.SHARD_FULL):
            which = "for this article" if code == hold.ARTICLE_FULL else "in all"
            raise UnknownArticle(
                f"no article '{view.article}' in the catalog yet, and the views held {which} "
                "while pages are read are at their limit"
            )
        self.metrics.pending.inc()
        self.start(view.article, page or target)  # the first held view's page, whoever asks
        return hold.HELD

    def start(self, article: str, url: str, *, reread: bool = False) -> bool:
        """Fetch the article's page in the background, unless this process is at its bound
        or fetches it already (the sweep starts it later)."""
        if article in self._tasks or len(self._tasks) >= self.settings.fetch_concurrency:
            return False
        task = asyncio.create_task(self._background(article, url, reread))
        self._tasks[article] = task
        task.add_done_callback(lambda _: self._tasks.pop(article, None))
        return True

    async def settled(self) -> None:
        """Wait for the fetches this process runs now (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _background(self, article: str, url: str, reread: bool) -> None:
        try:
            (known,) = await self.catalog.meta([article])
            if known is not None and not reread:
                # In the catalog by another way (a feed, an editor) while views were held:
                # count them, no fetch needed.
                counted = await self._count_held(article)
                if counted:
                    log.info("held views counted", extra={"article": article, "counted": counted})
                return
            await self.discover(article, url, reread=reread)
        except (DomainError, DiscoveryError):
            pass  # logged and counted where it happened
        except StorageError as exc:  # the held views wait for the sweep
            log.warning("discovery stopped: Redis", extra={"article": article, "error": str(exc)})
        except Exception:
            log.exception("discovery failed", extra={"article": article})

    # --- one fetch ---------------------------------------------------------------------------
    async def discover(
        self, article: str, url: str, *, forced: bool = False, reread: bool = False
    ) -> Found:
        """Read the page into the catalog and count the views held for the article.

        FetchInProgress when another process holds the lease (or, unless ``forced``, the
        article cools down after a failure); the page's DiscoveryError when it gave nothing."""
        token = secrets.token_hex(8)
        claimed = claim.decode(
            await self.storage.run(claim.call(article, token, self.lease_ms, forced=forced))
        )
        if claimed != claim.CLAIMED:
            why = "another fetch of it runs" if claimed == claim.BUSY else "it cools down"
            raise FetchInProgress(f"the page of '{article}' is not fetched now: {why}")
        cooldown_ms = 0
        self.metrics.fetches_in_flight.inc()
        try:
            try:
                entry = await self._read(article, url)
            except DiscoveryError as exc:
                cooldown_ms = int(self.settings.fetch_cooldown_s * 1000)
                self.metrics.fetches.labels(exc.reason).inc()
                log.warning(
                    "page not read",
                    extra={"article": article, "url": exc.url or url, "reason": exc.reason,
                           "detail": exc.detail, "reread": reread},
                )  # fmt: skip
                raise
            found = await self._register(entry, reread)
        finally:
            self.metrics.fetches_in_flight.dec()
            await self.storage.run(settle.call(article, token, cooldown_ms))
        outcome = REGISTERED if found.created else UPDATED
        self.metrics.fetches.labels(outcome).inc()
        log.info(
            f"page read: {outcome}",
            extra={"article": article, "url": entry.url, "title": entry.title,
                   "held_counted": found.counted, "reread": reread},
        )  # fmt: skip
        return found

    async def _read(self, article: str, url: str) -> Article:
        fetched = await self.fetcher.page(url)
        meta = read_page(
            fetched.body,
            fetched.charset,
            max_jsonld_bytes=self.settings.page_max_jsonld_bytes,
            page_url=fetched.url,
        )
        # The catalog keeps the page's canonical URL when it is on the sites too.
        canonical = meta.canonical_url
        page_url = canonical if canonical and is_allowed(canonical, self.fetcher.sites) else None
        return to_article(
            article,
            page_url or fetched.url,
            meta.title,
            meta.section,
            meta.published_at,
            self.settings.default_theme,
            meta.author_name,
        )

    async def _register(self, entry: Article, reread: bool) -> Found:
        (known,) = await self.catalog.meta([entry.id])
        if known is not None:  # what editors set stays: imported views, ranked
            entry = replace(
                entry,
                imported_views=int(known["imported_views"] or 0),
                ranked=known["ranked"] != "0",
            )
        created = await self.catalog.put(entry)
        if created and not reread and self.settings.reread_after_s > 0:
            when = self.clock.now() + self.settings.reread_after_s
            await self.storage.one(
                ops.zadd(keys.rereads(keys.shard_of(entry.id)), {entry.id: when})
            )
        return Found(entry, created, await self._count_held(entry.id))

    async def _count_held(self, article: str) -> int:
        """Count the article's held views through the record path, oldest first, then forget
        them; a view held meanwhile is counted in the next round."""
        counted = 0
        while True:
            now = self.clock.now()
            limit = self.settings.commit_max_batch
            records = peek.decode(await self.storage.run(peek.call(article, now, limit)))
            if not records:
                return counted
            views = [v for v in (hold.decode_view(article, r) for r in records) if v is not None]
            outcomes = await self.committer.replay(views)
            counted += sum(1 for outcome in outcomes if outcome == COUNTED)
            left = unhold.decode(await self.storage.run(unhold.call(article, len(records))))
            if left == 0:
                return counted

    # --- the sweep ---------------------------------------------------------------------------
    def start_sweeping(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.fetcher.aclose()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.pending_poll_s)
            try:
                await self.sweep()
            except StorageError as exc:
                log.warning("discovery sweep skipped: Redis", extra={"error": str(exc)})
            except Exception:
                log.exception("discovery sweep failed")

    async def sweep(self) -> int:
        """Forget expired holds, start fetches for holds none works on and for due re-reads;
        the views held in all after."""
        now = self.clock.now()
        purges = [hold.purge_call(shard, now, self.bounds) for shard in range(keys.SHARDS)]
        totals = [hold.decode(reply)[1] for reply in await self.storage.run_all(purges)]
        for shard, total in enumerate(totals):
            if total > 0:
                await self._resume(shard)
            free = self.settings.fetch_concurrency - len(self._tasks)
            if free > 0:
                await self._reread(shard, now, free)
        return sum(totals)

    async def _resume(self, shard: int) -> None:
        oldest = await self.storage.one(
            ops.zrange(keys.held_due(shard), 0, self.settings.fetch_concurrency - 1)
        )
        waiting = [article for article in oldest if article not in self._tasks]
        if not waiting:
            return
        urls = await self.storage.one(ops.hmget(keys.held_urls(shard), waiting))
        for article, url in zip(waiting, urls, strict=True):
            if url is not None:
                self.start(article, url)

    async def _reread(self, shard: int, now: float, free: int) -> None:
        articles = due.decode(await self.storage.run(due.call(keys.rereads(shard), now, free)))
        if not articles:
            return
        for article, meta in zip(articles, await self.catalog.meta(articles), strict=True):
            url = meta and meta["url"]
            if url and is_allowed(url, self.fetcher.sites):
                self.start(article, url, reread=True)

    async def held_views(self) -> int:
        """The views held now, every shard's (as of the last sweep's expiry)."""
        replies = await self.storage.execute(
            [ops.get(keys.held_total(shard)) for shard in range(keys.SHARDS)]
        )
        return sum(int(reply or 0) for reply in replies)

    # --- an editor's refresh -----------------------------------------------------------------
    async def refresh(self, article: str) -> Found:
        """Read a catalog article's page again now (cool-down or not)."""
        (known,) = await self.catalog.meta([article])
        if known is None or not known["url"]:
            raise UnknownArticle(f"no article '{article}' in the catalog")
        try:
            return await self.discover(article, known["url"], forced=True, reread=True)
        except DiscoveryError as exc:
            raise FetchFailed(f"{exc.reason}: {exc.detail}") from None
