"""The minimum-readers judgments read off stored values, without Redis."""

from __future__ import annotations

from service.integrity import ever_enough, nth_reader_hour


def test_an_all_time_sample_is_enough_with_its_minimum_of_ids() -> None:
    assert ever_enough("aaaaaaaabbbbbbbbcccccccc", 3)
    assert not ever_enough("aaaaaaaabbbbbbbb", 3)
    assert not ever_enough(None, 1)


def test_the_nth_most_recent_readers_hour_is_read_off_its_entry() -> None:
    recent = "aaaaaaaa00490012bbbbbbbb00490010cccccccc00489999"  # most recent first
    assert nth_reader_hour(recent, 1) == 490012
    assert nth_reader_hour(recent, 3) == 489999
    assert nth_reader_hour(recent, 4) is None  # fewer readers than asked
    assert nth_reader_hour(None, 1) is None
