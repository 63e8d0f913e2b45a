"""The ranking windows and the time buckets that feed them."""

from __future__ import annotations

from dataclasses import dataclass


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
DAY = Granularity("d", 86400, 32 * 86400)
GRANULARITIES = (M5, HOUR, DAY)


@dataclass(frozen=True, slots=True)
class Window:
    """A sliding ranking window: every view from its (rounded-down) start up to as_of."""

    name: str
    span_s: int | None  # None: all time
    granularity: Granularity | None

    def first_bucket(self, as_of: float) -> int:
        """Index of the oldest bucket inside the window ending at as_of."""
        assert self.span_s is not None and self.granularity is not None
        return self.granularity.index(as_of - self.span_s)


W1H = Window("1h", 3600, M5)
W24H = Window("24h", 86400, HOUR)
W7D = Window("7d", 7 * 86400, HOUR)
W30D = Window("30d", 30 * 86400, DAY)
WALL = Window("all", None, None)
WINDOWS = (W1H, W24H, W7D, W30D, WALL)
WINDOWS_BY_NAME = {w.name: w for w in WINDOWS}
SLIDING = (W1H, W24H, W7D, W30D)

# The longest window a granularity feeds: its buckets are dropped once that window has left them.
LAST_WINDOW = {M5.name: W1H, HOUR.name: W7D, DAY.name: W30D}

MAX_EVENT_AGE_S = 30 * 86400
