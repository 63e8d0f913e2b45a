"""Response shapes, for the OpenAPI document (handlers write JSON themselves)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str


class BeaconAnswer(BaseModel):
    counted: bool
    reason: str | None = Field(None, description="duplicate or bot, when not counted")


class ArticleViews(BaseModel):
    article: str
    views: int
    bot_views: int
    readers_today: int = Field(description="unique readers today (HyperLogLog estimate)")


class ManyViews(BaseModel):
    views: dict[str, int | None]


class ArticleIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    url: str
    theme: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    published_at: str | None = None
    imported_views: int = Field(0, ge=0)


class ArticleOut(BaseModel):
    article: str
    title: str
    url: str
    theme: str
    published_at: str | None
    imported_views: int
    views: int
    bot_views: int


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


class BatchEvent(BaseModel):
    article: str
    at: str | None = None
    visitor: str | None = None
    event_id: str | None = None


class BatchIn(BaseModel):
    events: list[BatchEvent]


class Rejected(BaseModel):
    index: int
    code: str


class BatchResult(BaseModel):
    counted: int
    duplicates: int
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
    views_per_minute: int = Field(description="views counted site-wide in the last complete "
                                              "minute")
    as_of: str = Field(description="the end of that minute")
