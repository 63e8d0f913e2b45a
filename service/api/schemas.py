"""Request and response shapes and limits, for the handlers and the OpenAPI document
(handlers check requests and write JSON themselves)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .. import validate
from ..catalog import MAX_IMPORTED, MAX_TITLE, MAX_URL
from ..ingest import MAX_EVENT_ID, MAX_VISITOR
from ..validate import VISIBLE_PATTERN
from ..windows import W24H

MAX_IDS = 100  # article ids in one GET /v1/views
MAX_LIMIT = 100  # items in one ranking
DEFAULT_LIMIT = 10
DEFAULT_WINDOW = W24H.name
TIMESERIES_WINDOW = W24H.name  # hourly points, the last 24 hours only
# validate.py's patterns, anchored as JSON Schema needs them.
ARTICLE_PATTERN = f"^{validate.ARTICLE_ID_PATTERN}$"
THEME_PATTERN = f"^{validate.THEME_PATTERN}$"
# What the handlers accept, stated narrowly enough that anything matching is accepted.
HTTP_URL_PATTERN = r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?(/[!-~]*)?$"
RFC3339_PATTERN = (
    r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3])"
    r":[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)

# A beacon's fields, as JSON or a form: stated by hand, since a model would allow nulls the
# beacon refuses.
BEACON_FIELDS: dict[str, Any] = {
    "type": "object",
    "required": ["article"],
    "properties": {
        "article": {"type": "string", "pattern": ARTICLE_PATTERN},
        "event_id": {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID},
        "visitor": {"type": "string", "minLength": 1, "maxLength": MAX_VISITOR},
    },
}


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str


class BeaconAnswer(BaseModel):
    counted: bool
    reason: str | None = Field(None, description="duplicate, bot or automated, when not counted")


class ArticleViews(BaseModel):
    article: str
    views: int
    bot_views: int
    automated_views: int = Field(
        description="views from automated clients (over-long User-Agents), counted apart"
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


class ArticleOut(BaseModel):
    article: str
    title: str
    url: str
    theme: str
    published_at: str | None
    imported_views: int
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


class Ranking(BaseModel):
    window: str
    theme: str | None
    as_of: str | None
    items: list[RankedItem]


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
            "description": "the reader's IP address: with user_agent the event is bot-filtered "
            "as a beacon is; neither is stored",
        },
        "user_agent": {"type": "string"},
    },
}
BATCH_BODY: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["events"],
            "properties": {"events": {"type": "array", "items": BATCH_EVENT}},
        },
        {
            "type": "array",
            "items": BATCH_EVENT,
            "description": "the events themselves (Vector's json codec, Fluent Bit's json "
            "format, Logstash's json_batch)",
        },
    ]
}


class Rejected(BaseModel):
    index: int
    code: str


class BatchResult(BaseModel):
    counted: int
    duplicates: int
    bots: int = Field(description="events whose user_agent is a crawler: counted apart")
    automated: int = Field(description="events counted apart as automated (user_agent too long)")
    rejected: list[Rejected]


class RollupOut(BaseModel):
    as_of: str
    duration_ms: int


class Status(BaseModel):
    status: str


class TimeseriesPoint(BaseModel):
    at: str
    views: int


class Timeseries(BaseModel):
    article: str
    granularity: str
    points: list[TimeseriesPoint]


class Stats(BaseModel):
    views_per_minute: int = Field(description="views counted site-wide in the last complete minute")
    as_of: str = Field(description="the end of that minute")
