"""Every VIEWCOUNT_ environment variable, in one settings class that is passed around."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from functools import cached_property
from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .validate import THEME_PATTERN


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "viewcount"


class Settings(BaseSettings):
    """Configuration, read from the environment (prefix ``VIEWCOUNT_``)."""

    model_config = SettingsConfigDict(
        env_prefix="VIEWCOUNT_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    redis_url: str | None = None
    redis_cluster: bool = False
    admin_token: SecretStr | None = None
    rollup_interval_s: float = Field(60.0, gt=0)
    dedupe_window_s: int = Field(1800, ge=1)
    allowed_origins: str = "*"
    trusted_proxies: str = ""
    max_body_bytes: int = Field(4096, ge=64)
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, description="request line plus headers; more is refused"
    )
    body_timeout_s: float = Field(
        5.0,
        gt=0,
        description="time allowed to send a request "
        "head, and then its body; a slower client gets 408 (uvicorn "
        "has no such limit)",
    )
    rate_limit_per_min: int = Field(600, ge=0, description="per client IP; 0 disables")
    # --- integrity: who is one client, and what one client may add to the lists ------------
    client_prefix_v4: int = Field(
        32, ge=8, le=32, description="an IPv4 client network: the address truncated to these bits"
    )
    client_prefix_v6: int = Field(
        64,
        ge=16,
        le=128,
        description="an IPv6 client network: the address truncated to these bits (a /64 is one "
        "home connection or cloud server)",
    )
    max_views_per_client: int = Field(
        20,
        ge=0,
        description="counted views of one article from one client network in any hour (the "
        "current and the previous clock hour together, so also in any 1h list); more are "
        "automated; 0 disables",
    )
    min_readers: int = Field(
        3,
        ge=1,
        le=16,
        description="distinct readers (client networks; batch visitors) an article needs in a "
        "window to enter that window's public lists",
    )
    min_user_agent_chars: int = Field(
        25,
        ge=0,
        le=200,
        description="a User-Agent shorter than this (and no known crawler) is automated "
        "(Wikimedia's automated-actor rule: under 25 characters); 0 disables",
    )
    suspicious_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="the share of an article's views in a window from one client network past "
        "which GET /v1/admin/suspicious lists it",
    )
    suspicious_min_views: int = Field(
        20, ge=1, description="views an article needs in a window before its share is judged"
    )
    max_forwarded_hops: int = Field(
        16,
        ge=1,
        le=256,
        description="X-Forwarded-For entries read from the end, behind trusted proxies",
    )
    secret: SecretStr | None = Field(
        None,
        description="kept outside Redis and mixed into every keyed digest (reader, client, "
        "dedupe marker, event id), so a Redis dump alone reveals no client; required with "
        "VIEWCOUNT_REDIS_URL, generated under DATA_DIR for the embedded server",
    )
    max_user_agent_chars: int = Field(
        512,
        ge=32,
        le=8192,
        description="the part of a User-Agent bot detection reads; a longer one is automated",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    movement_s: float = Field(
        3600.0,
        ge=1,
        description="list items carry previous_rank, their rank in the same list as published at "
        "least this long before",
    )
    trending_prior_views: float = Field(
        10.0,
        gt=0,
        le=10_000,
        description="views pretended on both sides of the trending ratio (last hour + prior) / "
        "(expected hour + prior): a few views more than usual are not a trend",
    )
    trending_min_score: float = Field(
        2.0,
        gt=1,
        le=1000,
        description="the trending ratio an article needs to be listed: 2 is twice its usual hour",
    )
    catalog_cache_s: float = Field(
        3600.0,
        ge=0,
        description="how long a rollup process keeps what it read of the catalog at most, "
        "whatever the catalog versions say: a bound for catalog writes that do not set them "
        "(an earlier release's, during a rolling upgrade); 0 reads it afresh every rollup",
    )
    rollup_processes: int = Field(
        2,
        ge=1,
        le=6,
        description="processes a rollup ranks its windows in, its own and helpers it starts "
        "(service/rollhelpers.py): windows are independent once counted, so a second core "
        "ranks half of them; 1 ranks all in the scheduler's own process",
    )
    rollup_split_articles: int = Field(
        20_000,
        ge=0,
        description="catalog size from which a rollup uses its helper processes: below it a "
        "rollup takes well under a second in one process, and no helper is started",
    )
    timezone: str = Field(
        "UTC",
        description="an IANA time zone name (Europe/Kyiv): the `today` window starts at its "
        "local midnight, and the time series' days are its local days",
    )
    export_batch: int = Field(
        500,
        ge=1,
        le=10_000,
        description="articles the export reads from Redis per round trip (and holds in "
        "memory at once)",
    )

    ranking_size: int = Field(100, ge=1, le=1000)
    author_ranking_size: int = Field(
        20,
        ge=1,
        le=1000,
        description="items kept per author list (plus 20 spare for exclude): an author's page "
        "shows a few, and 500 authors' lists of 100 would make each snapshot ~5x larger",
    )
    event_id_ttl_s: int = Field(86400, ge=60)
    batch_max_events: int = Field(10_000, ge=1)
    batch_max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    redis_timeout_s: float = Field(2.0, gt=0)
    redis_max_connections: int = Field(64, ge=2)
    redis_retry_s: float = Field(
        1.0,
        ge=0,
        description="how long a script call is retried "
        "while a node is unreachable or the cluster fails over",
    )
    redis_wait_replicas: int = Field(
        0,
        ge=0,
        description="replicas that must confirm each "
        "write before it is acknowledged (WAIT); 0: none",
    )
    redis_wait_timeout_ms: int = Field(500, ge=1)
    retry_after_s: int = Field(5, ge=1)
    commit_max_batch: int = Field(512, ge=1)
    # One flush at a time: the next one carries everything that queued meanwhile. Measured
    # (python -m bench): 17% less CPU per beacon than two in flight, and half the p99.
    commit_max_inflight: int = Field(1, ge=1)
    commit_max_queue: int = Field(
        10_000,
        ge=1,
        description="beacon views waiting for a group commit in one process; past it a "
        "beacon answers 503 storage_unavailable at once",
    )
    scheduler_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU niceness `viewcount scheduler` gives itself: rollups are not in a "
        "hurry, so on a shared machine the API and Redis get the CPU first; 0 leaves it",
    )
    snapshot_poll_s: float = Field(1.0, gt=0)
    leader_lease_s: float | None = Field(None, gt=0)
    log_level: str = "info"
    log_json: bool | None = Field(
        None,
        description="true: one JSON object per log line; false: readable lines; unset: "
        "readable on a terminal (stderr), JSON otherwise",
    )
    # --- catalog discovery and log import (service/discovery/, issue 14) -------------------
    sites: str = Field(
        "",
        description="comma-separated origins (https://news.example.com) that are the "
        "publisher's own: the only ones the service ever fetches, redirects included",
    )
    feeds: str = Field(
        "",
        description="comma-separated RSS 2.0, Atom or sitemap URLs, each on one of those "
        "origins (checked at start-up), read by the scheduler's leader",
    )
    feed_interval_s: float = Field(300.0, gt=0, description="seconds between reads of the feeds")
    fetch_timeout_s: float = Field(
        10.0, gt=0, le=300, description="time for one whole fetch, redirects and body included"
    )
    fetch_max_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="an article page larger than this (decompressed) is refused unread",
    )
    feed_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="the same limit for a feed or sitemap"
    )
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    fetch_concurrency: int = Field(4, ge=1, le=256, description="fetches in flight per process")
    fetch_cooldown_s: float = Field(
        600.0,
        ge=0,
        description="after a failed fetch of an article's page (too slow, too large, no "
        "metadata), how long before that article's page is fetched again",
    )
    # Views of articles not in the catalog whose beacon `url` is on the sites: held while
    # the page is read (service/discovery/pending.py).
    pending_max_per_article: int = Field(
        1000, ge=1, description="views held for one article while its page is read; more: 404"
    )
    pending_max_total: int = Field(
        100_000,
        ge=16,
        description="views held in all (each of the 16 shards holds a sixteenth); more: 404",
    )
    pending_ttl_s: int = Field(
        900,
        ge=10,
        le=86400,
        description="how long views are held for an article whose page gives none (no "
        "metadata, or every fetch failed); then they expire uncounted",
    )
    pending_poll_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="how often each API process looks for held views no fetch is working on "
        "and for re-reads that are due",
    )
    reread_after_s: float = Field(
        3600.0,
        ge=0,
        le=86400,
        description="a discovered article's page is read once more this long after it entered "
        "the catalog (a changed headline shows); 0: never",
    )
    fetch_user_agent: str = Field(
        "viewcount-discovery/1 (+catalog metadata from the publisher's own pages)",
        min_length=1,
        max_length=256,
        pattern=r"^[\x20-\x7e]+$",  # a header value: printable ASCII only
    )
    page_max_jsonld_bytes: int = Field(
        256 * 1024, ge=1024, description="a JSON-LD block larger than this is skipped"
    )
    default_theme: str = Field(
        "news",
        pattern=rf"^{THEME_PATTERN}$",
        description="the theme of a discovered article whose page or feed names no section",
    )
    # Log shippers post batches with a token of their own, which opens nothing else.
    ingest_tokens: SecretStr | None = Field(
        None,
        description="comma-separated bearer tokens (16+ characters each) that may call POST "
        "/v1/views/batch and nothing else; the admin token may too",
    )
    import_path_pattern: str = Field(
        r"^/news/(?P<article>[A-Za-z0-9._~-]{1,200})/?$",
        description="`viewcount import`: a regex on an access log's request path (query "
        "removed, percent-decoded); its named group `article` is the article id",
    )
    import_max_line_bytes: int = Field(
        16 * 1024, ge=256, description="a longer access-log line is counted as bad, unread"
    )
    import_batch_events: int = Field(
        1000,
        ge=1,
        le=10_000,
        description="`viewcount import`: events per batch it posts (at most the service's "
        "VIEWCOUNT_BATCH_MAX_EVENTS); its memory is one batch, whatever the file's size",
    )
    import_retries: int = Field(
        5,
        ge=0,
        le=100,
        description="`viewcount import`: how often one batch is sent again after a 429, a 503 "
        "or a lost connection (waiting Retry-After) before the import stops",
    )

    # --- the event log (service/eventlog/, issue 15) ---------------------------------------
    event_log_dir: str | None = Field(
        None,
        description="where the scheduler's leader archives the event log as Parquet, by day: a "
        "directory or an fsspec URL (s3://bucket/events); unset: DATA_DIR/events",
    )
    event_log_retention_days: int = Field(
        30, ge=1, le=3660, description="days of archived events kept; older days are deleted"
    )
    event_log_max_entries: int = Field(
        50_000,
        ge=0,
        description="entries each shard's log stream holds in Redis while the archive cannot "
        "be written (an entry is one group commit's decisions for the shard); past it the "
        "oldest are dropped and counted in /metrics, counting goes on; 0: no event log",
    )
    event_log_file_entries: int = Field(
        20_000, ge=1, description="stream entries one drain step reads and writes as one file"
    )

    @field_validator("sites")
    @classmethod
    def _sites_are_origins(cls, value: str) -> str:
        from .discovery.urls import parse_sites  # httpx only when discovery is configured

        parse_sites(value)
        return value

    @field_validator("ingest_tokens")
    @classmethod
    def _ingest_tokens_are_long(cls, value: SecretStr | None) -> SecretStr | None:
        tokens = [t.strip() for t in value.get_secret_value().split(",")] if value else []
        if any(len(token) < 16 for token in tokens):
            raise ValueError("each ingest token needs 16 or more characters (comma-separated)")
        return value

    @cached_property
    def batch_tokens(self) -> tuple[bytes, ...]:
        """The bearer tokens POST /v1/views/batch takes: the admin token and the ingest ones."""
        tokens = [self.admin_token.get_secret_value()] if self.admin_token else []
        if self.ingest_tokens:
            tokens += [t.strip() for t in self.ingest_tokens.get_secret_value().split(",")]
        return tuple(token.encode() for token in tokens)

    @model_validator(mode="after")
    def _feeds_are_on_the_sites(self) -> Self:
        from .discovery.urls import feed_urls

        feed_urls(self.feeds, self.sites)
        return self

    @field_validator("import_path_pattern")
    @classmethod
    def _pattern_names_the_article(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "article" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group (?P<article>...)")
        return value

    # --- end of catalog discovery and log import --------------------------------------------

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{name!r} is not an IANA time zone name such as Europe/Kyiv") from exc
        return name

    @cached_property
    def zone(self) -> ZoneInfo:
        """VIEWCOUNT_TIMEZONE, where the `today` window's day begins."""
        return ZoneInfo(self.timezone)

    @cached_property
    def origins(self) -> tuple[str, ...]:
        return tuple(o.strip() for o in self.allowed_origins.split(",") if o.strip())

    @cached_property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.trusted_proxies.split(",")
            if p.strip()
        )

    @cached_property
    def secret_key(self) -> bytes:
        """The secret as a BLAKE2b key (64 bytes at most: longer secrets are hashed down)."""
        if self.secret is None:
            raise ValueError("VIEWCOUNT_SECRET is not set")
        raw = self.secret.get_secret_value().encode()
        return raw if len(raw) <= 64 else hashlib.blake2b(raw).digest()

    @property
    def event_log_url(self) -> str:
        """The archive's location: VIEWCOUNT_EVENT_LOG_DIR, or DATA_DIR/events."""
        return self.event_log_dir or str(self.data_dir / "events")

    @property
    def lease_s(self) -> float:
        """Leader lease: short enough that a follower takes over within one interval."""
        if self.leader_lease_s is not None:
            return self.leader_lease_s
        return min(max(self.rollup_interval_s / 2, 1.0), 30.0)
