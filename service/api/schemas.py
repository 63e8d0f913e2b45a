"""Request and response shapes and limits, for the handlers and the OpenAPI document
(handlers check requests and write JSON themselves)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .. import validate
from ..catalog import MAX_AUTHOR_NAME, MAX_IMPORTED, MAX_TITLE, MAX_URL
from ..ingest import MAX_EVENT_ID, MAX_VISITOR
from ..ingest import MAX_URL as MAX_BEACON_URL
from ..validate import VISIBLE_PATTERN
from ..windows import W1H, W24H

MAX_IDS = 100  # article ids in one GET /v1/views
MAX_LIMIT = 100  # items in one ranking
DEFAULT_LIMIT = 10
DEFAULT_WINDOW = W24H.name
TIMESERIES_WINDOW = W24H.name  # an article's default series: live hourly points, 24 hours
# validate.py's patterns, anchored as JSON Schema needs them.
ARTICLE_PATTERN = f"^{validate.ARTICLE_ID_PATTERN}$"
THEME_PATTERN = f"^{validate.THEME_PATTERN}$"
# What the handlers accept, stated narrowly enough that anything matching is accepted.
HTTP_URL_PATTERN = r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?(/[!-~]*)?$"
RFC3339_PATTERN = (
    r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3])"
    r":[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)

# A beacon's fields, stated by hand: what ingest.parse_beacon and beacon_fields accept, exactly.
# Other fields are ignored (a later beacon may send more). In JSON a null optional field is
# absent, an empty one refused; a form or query drops empty fields, so there "" is absent too.
_ARTICLE_FIELD: dict[str, Any] = {"type": "string", "pattern": ARTICLE_PATTERN}
MAX_FORM_FIELDS = 16  # parse_qs's max_num_fields for a form body and the pixel's query


def _optional_text(max_len: int, *, empty_is_absent: bool) -> dict[str, Any]:
    if empty_is_absent:
        return {"type": "string", "maxLength": max_len, "description": "empty: as if absent"}
    return {"type": ["string", "null"], "minLength": 1, "maxLength": max_len}


# A beacon `url` whose last path segment is an article id (stated narrowly: percent-escapes,
# userinfo and odd hosts are accepted by the handler too, but not promised here).
URL_NAMING_ARTICLE = {
    "type": "string",
    "maxLength": MAX_BEACON_URL,
    "pattern": (
        r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]*)*"
        rf"/{validate.ARTICLE_ID_PATTERN}/?$"
    ),
}


def _beacon(*, empty_is_absent: bool) -> dict[str, Any]:
    url = _optional_text(MAX_BEACON_URL, empty_is_absent=empty_is_absent)
    url["description"] = (
        "the page's canonical URL: when the article is not in the catalog and this URL is on "
        "VIEWCOUNT_SITES, the view is held while the service reads the page itself"
    )
    return {
        "type": "object",
        # Without `article`, the article id is the last path segment of `url`.
        "anyOf": [
            {"required": ["article"]},
            {"required": ["url"], "properties": {"url": URL_NAMING_ARTICLE}},
        ],
        "properties": {
            "article": _ARTICLE_FIELD,
            "event_id": _optional_text(MAX_EVENT_ID, empty_is_absent=empty_is_absent),
            "visitor": _optional_text(MAX_VISITOR, empty_is_absent=empty_is_absent),
            "url": url,
        },
    }


BEACON_JSON = {**_beacon(empty_is_absent=False), "description": "other fields are ignored"}
BEACON_FORM = {
    **_beacon(empty_is_absent=True),
    "additionalProperties": {"type": "string"},  # ignored, but each is a field
    "maxProperties": MAX_FORM_FIELDS,
    "description": f"at most {MAX_FORM_FIELDS} fields; other fields are ignored",
}
BEACON_QUERY: dict[str, Any] = BEACON_FORM["properties"]  # the pixel's query parameters
# What a batch event's rejection says (API.md); a single beacon's codes, and invalid_time.
REJECTION_CODES = ("invalid_body", "invalid_article_id", "unknown_article", "invalid_time")
# The reasons of a beacon answered {"counted": false}.
NOT_COUNTED_REASONS = ("duplicate", "bot", "automated", "pending")


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str


class BeaconAnswer(BaseModel):
    counted: bool
    reason: Literal[NOT_COUNTED_REASONS] | None = Field(  # type: ignore[valid-type]
        None, description="why a view was not counted (absent when it was)"
    )


class ArticleViews(BaseModel):
    article: str
    views: int
    bot_views: int
    automated_views: int = Field(
        description="views from automated clients (User-Agents too long or too short, or a "
        "client network past VIEWCOUNT_MAX_VIEWS_PER_CLIENT in an hour), counted apart"
    )
    readers_today: int = Field(description="unique readers today (HyperLogLog estimate)")


class ManyViews(BaseModel):
    views: dict[str, int | None]


class ArticleIn(BaseModel):
    title: str = Field(
        min_length=1, max_length=MAX_TITLE, pattern=VISIBLE_PATTERN, description="not blank"
    )
    url: str = Field(max_length=MAX_URL, pattern=HTTP_URL_PATTERN)
    theme: str = Field(pattern=THEME_PATTERN)
    published_at: str | None = Field(
        None, pattern=RFC3339_PATTERN, examples=["2026-11-27T09:35:00Z"]
    )
    imported_views: int = Field(0, ge=0, le=MAX_IMPORTED)
    ranked: bool = Field(
        True, description="false: the article keeps counting but is in no public list"
    )
    author: str | None = Field(
        None, pattern=THEME_PATTERN, description="the author's slug, as a theme (author lists)"
    )
    author_name: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_AUTHOR_NAME,
        pattern=VISIBLE_PATTERN,
        description="how the author is named (GET /v1/authors)",
    )


class ArticleOut(BaseModel):
    article: str
    title: str
    url: str
    theme: str
    published_at: str | None
    imported_views: int
    ranked: bool
    author: str | None
    author_name: str | None
    views: int
    bot_views: int
    automated_views: int


class ThemeCount(BaseModel):
    theme: str
    articles: int


class Themes(BaseModel):
    themes: list[ThemeCount]


class RankedItem(BaseModel):
    rank: int
    article: str
    title: str
    url: str
    theme: str
    published_at: str | None
    window_views: int
    views: int
    previous_rank: int | None = Field(
        description="rank in the same list as published at least VIEWCOUNT_MOVEMENT_S before "
        "as_of (see previous_as_of); null when not listed then (before filters)"
    )
    previous_window_views: int | None = Field(
        None,
        description="lists over 24h, 7d and 30d only: views in the window of equal length just "
        "before this one (24h: the 24 hours before; 30d: the 30 days before; 7d: the 7 whole "
        "UTC days before the day the window starts in)",
    )


class Ranking(BaseModel):
    window: str
    theme: str | None
    as_of: str | None
    previous_as_of: str | None = Field(
        description="when the lists previous_rank comes from were published; null when none "
        "is old enough yet"
    )
    items: list[RankedItem]


class AuthorRanking(Ranking):
    author: str


class AuthorCount(BaseModel):
    author: str
    author_name: str | None = Field(description="the name given with one of their articles")
    articles: int


class Authors(BaseModel):
    authors: list[AuthorCount]


class TrendingItem(RankedItem):
    window_views: int = Field(description="views in the last hour")
    score: float = Field(
        description="(last-hour views + prior) / (expected hour + prior): how many times its "
        "usual hour, rounded to 2 decimals"
    )


class Trending(BaseModel):
    window: Literal["1h"]
    theme: str | None
    as_of: str | None
    previous_as_of: str | None
    items: list[TrendingItem]


# A batch event, stated by hand: `@timestamp` is no Python name, and either `article` or `url`
# names the article. Extra fields (a shipper's message, host, ...) are ignored.
_TIME = {"type": "string", "pattern": RFC3339_PATTERN}
_SHIPPER_TIME = {
    "oneOf": [_TIME, {"type": "number", "description": "epoch seconds (milliseconds past 1e11)"}]
}
BATCH_EVENT: dict[str, Any] = {
    "type": "object",
    "anyOf": [{"required": ["article"]}, {"required": ["url"]}],
    "properties": {
        "article": {"type": "string", "pattern": ARTICLE_PATTERN},
        "url": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_URL,
            "description": "instead of article: the page's URL or path, whose last segment is "
            "the article id",
        },
        "at": {**_TIME, "description": "not in the future, not older than 30 days; default now"},
        "@timestamp": {**_SHIPPER_TIME, "description": "Logstash's name for at"},
        "timestamp": {**_SHIPPER_TIME, "description": "Vector's name for at"},
        "date": {**_SHIPPER_TIME, "description": "Fluent Bit's name for at (json_date_key)"},
        "visitor": {"type": "string", "minLength": 1, "maxLength": MAX_VISITOR},
        "event_id": {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID},
        "ip": {
            "type": "string",
            "description": "the reader's IP address: its client network is capped as a "
            "beacon's is (VIEWCOUNT_MAX_VIEWS_PER_CLIENT views of one article an hour, more are "
            "automated) and it names the reader; never stored",
        },
        "user_agent": {
            "type": "string",
            "description": "the reader's User-Agent: bot-filtered as a beacon's is (bots and "
            "automated counted apart); never stored",
        },
    },
}


def batch_body(max_events: int) -> dict[str, Any]:
    """The batch request's schema: {"events": [...]} or the array itself (Vector's json
    codec, Fluent Bit's json format, Logstash's json_batch). Events are checked one by one,
    not as a whole: an item that is not a valid BatchEvent is still accepted, and rejected
    alone in the answer."""
    event = {"$ref": "#/components/schemas/BatchEvent"}
    rejected_alone = {"description": "anything else: rejected alone, its index in `rejected`"}
    limit = f"at most {max_events} (VIEWCOUNT_BATCH_MAX_EVENTS); more: 413"
    events = {
        "type": "array",
        "maxItems": max_events,
        "items": {"anyOf": [event, rejected_alone]},
        "description": limit,
    }
    return {
        "oneOf": [
            {"type": "object", "required": ["events"], "properties": {"events": events}},
            {**events, "description": f"the events themselves; {limit}"},
        ]
    }


class Rejected(BaseModel):
    index: int = Field(ge=0, description="the event's position in `events`")
    code: Literal[REJECTION_CODES] = Field(  # type: ignore[valid-type]
        description="the code a single beacon would get, or invalid_time for a bad `at`"
    )


class BatchResult(BaseModel):
    counted: int
    duplicates: int
    bots: int = Field(description="events whose user_agent is a crawler: counted apart")
    automated: int = Field(description="events counted apart as automated (user_agent too long)")
    rejected: list[Rejected]


# Models the document refers to by name, beside those of the routes' answers.
COMPONENTS: tuple[type[BaseModel], ...] = (Problem,)
# Components stated by hand (a name a model cannot have, such as @timestamp).
SCHEMA_COMPONENTS: dict[str, dict[str, Any]] = {"BatchEvent": BATCH_EVENT}


class RollupOut(BaseModel):
    as_of: str
    duration_ms: int
    published: bool = Field(
        description="whether the lists are now read from this rollup's snapshot"
    )


class Status(BaseModel):
    status: str


class TimeseriesPoint(BaseModel):
    at: str = Field(description="the start of the point's hour or local day (UTC)")
    date: str | None = Field(
        None, description="day points: the local calendar day (VIEWCOUNT_TIMEZONE), YYYY-MM-DD"
    )
    views: int


class _Series(BaseModel):
    window: str
    granularity: Literal["hour", "day"] = Field(
        description="hour: UTC clock hours; day: local days in `timezone`"
    )
    timezone: str = Field(description="VIEWCOUNT_TIMEZONE, where day points begin and end")
    as_of: str | None = Field(
        description="the rollup the points are as of (the article's 24h points are live: now)"
    )
    points: list[TimeseriesPoint] = Field(description="oldest first; the newest is partial")


class Timeseries(_Series):
    article: str


class SiteTimeseries(_Series):
    theme: str | None


class Stats(BaseModel):
    views_per_minute: int = Field(description="views counted site-wide in the last complete minute")
    as_of: str = Field(description="the end of that minute")


# The suspicious report reads hourly records kept for a day (record.HOURLY_RETENTION_S):
# bounded by the articles viewed in a day, not by the catalog times a month of hours.
REPORT_WINDOWS = {window.name: window for window in (W1H, W24H)}
SUSPICIOUS_PATH = "/v1/admin/suspicious"
REFRESH_PATH = "/v1/admin/articles/{article}/refresh"
EXPORT_PATH = "/v1/export/articles"


class SuspiciousItem(BaseModel):
    article: str
    window_views: int = Field(description="views counted in the window, as of the last rollup")
    automated_views: int = Field(description="views refused as automated in the window")
    readers: int = Field(description="distinct readers (IP, User-Agent and visitor) seen")
    top_client: str | None = Field(
        description="the keyed digest of the client network with the most views (hex)"
    )
    top_client_share: float = Field(ge=0, le=1)


class Suspicious(BaseModel):
    window: str
    as_of: str
    items: list[SuspiciousItem]


PURGE_PATH = "/v1/admin/purge"
CLIENT_PATTERN = "^[0-9a-f]{16}([0-9a-f]{8})?$"


class PurgeIn(BaseModel):
    article: str = Field(pattern=ARTICLE_PATTERN)
    client: str = Field(
        pattern=CLIENT_PATTERN,
        description="a client-network digest: the suspicious report's top_client (24 hex), or "
        "its first 16 characters as the event log keeps it",
    )
    from_: str = Field(
        alias="from",
        pattern=RFC3339_PATTERN,
        description="start of the range (rounded down to a 5-minute bucket, as views are kept)",
    )
    to: str = Field(
        pattern=RFC3339_PATTERN,
        description="end of the range (exclusive); one not after `from` is an empty range",
    )


class PurgeOut(BaseModel):
    article: str
    client: str
    from_: str = Field(alias="from")
    to: str
    removed: int = Field(
        description="counted views taken back from the totals, buckets, windows and the next "
        "rankings (0 when an earlier purge took them already)"
    )
