"""The ranking windows and the time buckets that feed them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Granularity:
    """A kind of time bucket: per-shard sorted sets of article -> views in one period."""

    name: str
    bucket_s: int
    retention_s: int  # TTL safety net past the bucket's end; rollups delete them sooner

    def index(self, epoch_s: float) -> int:
        return int(epoch_s // self.bucket_s)


M5 = Granularity("m5", 300, 2 * 3600)
HOUR = Granularity("h", 3600, 8 * 86400)
# Day buckets stay 60 days (not 30): a 30d list's previous_window_views sums the 30 days
# before its window, and a 7d list's the 7 days before its (hour buckets go with the 7d window).
DAY = Granularity("d", 86400, 62 * 86400)
GRANULARITIES = (M5, HOUR, DAY)


@dataclass(frozen=True, slots=True)
class Window:
    """A ranking window: every view from its (rounded-down) start up to as_of. A sliding
    window starts ``span_s`` before as_of; a daily one at the last local midnight."""

    name: str
    span_s: int | None  # None: all time, or daily
    granularity: Granularity | None
    daily: bool = False  # since local midnight (VIEWCOUNT_TIMEZONE)

    def start(self, as_of: float, zone: tzinfo = UTC) -> float:
        """The moment the window ending at as_of starts, before rounding down."""
        if self.daily:
            return local_midnight(as_of, zone)
        assert self.span_s is not None
        return as_of - self.span_s

    def first_bucket(self, as_of: float, zone: tzinfo = UTC) -> int:
        """Index of the oldest bucket inside the window ending at as_of."""
        assert self.granularity is not None
        return self.granularity.index(self.start(as_of, zone))


def local_midnight(as_of: float, zone: tzinfo) -> float:
    """The epoch time of the midnight that began as_of's day in ``zone`` (a day that has no
    midnight, where a clock change skips it, begins at its first moment)."""
    local = datetime.fromtimestamp(as_of, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return min(midnight.timestamp(), as_of)


W1H = Window("1h", 3600, M5)
W24H = Window("24h", 86400, HOUR)
W7D = Window("7d", 7 * 86400, HOUR)
W30D = Window("30d", 30 * 86400, DAY)
WALL = Window("all", None, None)
# Hour buckets: in a zone whose offset is not whole hours, today starts at the hour before
# local midnight (as a sliding window's start is rounded down).
TODAY = Window("today", None, HOUR, daily=True)
WINDOWS = (W1H, W24H, W7D, W30D, WALL)
SLIDING = (W1H, W24H, W7D, W30D)
MAINTAINED = (*SLIDING, TODAY)  # kept as window sets: the rollup merges into and slides them
LISTED = (*WINDOWS, TODAY)  # every window a list is ranked over
WINDOWS_BY_NAME = {w.name: w for w in LISTED}


@dataclass(frozen=True, slots=True)
class Before:
    """The window of equal length just before a list's window (its items'
    previous_window_views), kept as a window set of ``span`` whole buckets, slid at both
    ends: each rollup adds the buckets that enter it and subtracts those that leave.

    24h and 30d: as many buckets as the window spans, just before its first one. 7d: the seven
    whole days before the day its first hour is in, since hour buckets are kept only while the
    7d window holds them (and day buckets for 60 days)."""

    of: Window
    granularity: Granularity
    span: int  # buckets
    daily: ClassVar[bool] = False  # as Window.daily: never

    @property
    def name(self) -> str:
        return f"{self.of.name}-before"

    def first_bucket(self, as_of: float, zone: tzinfo = UTC) -> int:
        """Index of the oldest bucket inside it at as_of (``zone``: as Window's; unused)."""
        if self.granularity is self.of.granularity:
            return self.of.first_bucket(as_of) - self.span
        return self.granularity.index(self.of.start(as_of)) - self.span

    def buckets(self, as_of: float) -> range:
        first = self.first_bucket(as_of)
        return range(first, first + self.span)


BEFORE = (Before(W24H, HOUR, 24), Before(W7D, DAY, 7), Before(W30D, DAY, 30))
BEFORE_BY_WINDOW = {before.of.name: before for before in BEFORE}
# Every window set the rollup keeps: a list's window or the one before it.
KEPT: tuple[Window | Before, ...] = (*MAINTAINED, *BEFORE)


def span_of(window: Window | Before) -> int:
    """The buckets a window set holds at most: 0 for a window that runs up to now."""
    return window.span if isinstance(window, Before) else 0


# The longest window a granularity feeds: its buckets are dropped once that window has left them.
LAST_WINDOW = {M5.name: W1H, HOUR.name: W7D, DAY.name: W30D}
# Granularities whose buckets stay one more span of their last window after it leaves them
# (previous_window_views reads them); buckets.maintain deletes them after that.
OUTLIVE_WINDOWS = frozenset({DAY.name})

MAX_EVENT_AGE_S = 30 * 86400


# --- the daily series (GET /v1/articles/{id}/timeseries, /v1/timeseries) ---------------------
_EPOCH_DAY = date(1970, 1, 1).toordinal()
# Days a local-day series key outlives its day: the 30d series reads 30 of them, and a batch
# event may be 30 days old when it is merged.
SERIES_DAY_RETENTION_S = 32 * 86400
SERIES_HOUR_RETENTION_S = 2 * 86400  # the site's hourly series: the 24h points read 24 hours


def local_day(epoch_s: float, zone: tzinfo) -> int:
    """The calendar day epoch_s falls on in ``zone``, as days since 1970-01-01."""
    return datetime.fromtimestamp(epoch_s, zone).date().toordinal() - _EPOCH_DAY


def local_date(day: int) -> date:
    """The calendar date of a local_day number."""
    return date.fromordinal(day + _EPOCH_DAY)


def local_day_start(day: int, zone: tzinfo) -> float:
    """The epoch time a local day begins in ``zone``: its midnight (a midnight a clock change
    skips reads, by PEP 495, with the offset before the change: the change itself)."""
    when = local_date(day)
    return datetime(when.year, when.month, when.day, tzinfo=zone).timestamp()
