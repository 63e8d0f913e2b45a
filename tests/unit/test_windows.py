"""Window and bucket arithmetic: which bucket a moment falls in, where a window starts."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from service.windows import (
    DAY,
    GRANULARITIES,
    HOUR,
    LAST_WINDOW,
    M5,
    SLIDING,
    TODAY,
    W1H,
    W7D,
    W24H,
    W30D,
    WALL,
    WINDOWS_BY_NAME,
)

T0 = 1_795_780_800.0  # 2026-11-27 12:00:00 UTC


def test_a_moment_falls_in_the_bucket_that_began_at_or_before_it() -> None:
    assert [g.index(T0) for g in GRANULARITIES] == [T0 // 300, T0 // 3600, T0 // 86400]
    assert M5.index(T0 + 299.999) == M5.index(T0) == M5.index(T0 - 0.001) + 1
    assert HOUR.index(T0 + 3599) == HOUR.index(T0)
    assert DAY.index(T0) * DAY.bucket_s == T0 - 12 * 3600  # the day began at midnight UTC
    assert M5.index(0) == 0 and M5.index(-1) == -1  # floor, not truncation


def test_windows_start_one_span_back_rounded_down_to_their_buckets() -> None:
    assert W1H.first_bucket(T0) == M5.index(T0) - 12
    assert W24H.first_bucket(T0) == HOUR.index(T0) - 24
    assert W7D.first_bucket(T0) == HOUR.index(T0) - 168
    assert W30D.first_bucket(T0) == DAY.index(T0) - 30
    # Mid-bucket, the window takes the whole bucket its start falls in.
    assert W1H.first_bucket(T0 + 150) == M5.index(T0) - 12
    with pytest.raises(AssertionError):
        WALL.first_bucket(T0)  # all time has no first bucket


def test_each_granularity_outlives_the_longest_window_it_feeds() -> None:
    assert [w.name for w in SLIDING] == ["1h", "24h", "7d", "30d"]
    assert set(WINDOWS_BY_NAME) == {"1h", "24h", "7d", "30d", "all", "today"}
    for gran in GRANULARITIES:
        fed = [w for w in SLIDING if w.granularity is gran]
        longest = LAST_WINDOW[gran.name]
        assert longest in fed and all(w.span_s <= longest.span_s for w in fed)
        assert longest.span_s is not None and gran.retention_s > longest.span_s - gran.bucket_s


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("as_of", "midnight"),
    [
        ("2026-11-27T12:00:00Z", "2026-11-26T22:00:00Z"),  # Kyiv in winter: UTC+2
        ("2026-11-27T21:59:59Z", "2026-11-26T22:00:00Z"),  # a second before local midnight
        ("2026-11-27T22:00:00Z", "2026-11-27T22:00:00Z"),  # local midnight itself
        ("2026-07-01T20:59:59Z", "2026-06-30T21:00:00Z"),  # in summer: UTC+3
        ("2026-03-29T12:00:00Z", "2026-03-28T22:00:00Z"),  # spring forward: a 23-hour day
        ("2026-10-25T21:30:00Z", "2026-10-24T21:00:00Z"),  # fall back: a 25-hour day
    ],
)
def test_today_starts_at_local_midnight(as_of: str, midnight: str) -> None:
    kyiv = ZoneInfo("Europe/Kyiv")
    assert TODAY.start(_epoch(as_of), kyiv) == _epoch(midnight)
    assert TODAY.first_bucket(_epoch(as_of), kyiv) == HOUR.index(_epoch(midnight))
    assert TODAY.start(T0) == T0 - 12 * 3600  # UTC unless told otherwise


def test_today_in_a_half_hour_zone_starts_at_the_hour_before_midnight() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: midnight is 18:30 UTC
    assert TODAY.start(T0, kolkata) == _epoch("2026-11-26T18:30:00Z")
    assert TODAY.first_bucket(T0, kolkata) == HOUR.index(_epoch("2026-11-26T18:00:00Z"))
