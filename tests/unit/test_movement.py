"""Movement and author lists without Redis: which checkpoint a rollup compares with, which
buckets previous_window_views sums, how the calls are cut, and the list heads and names."""

from __future__ import annotations

import orjson
import pytest

from service import keys, snapshot
from service.movement import reference
from service.scripts import earlier
from service.windows import DAY, HOUR, W7D, W24H, W30D

T0 = 1_795_780_800.0  # 2026-11-27 12:00:00 UTC
HELD = [("3", T0 - 4000), ("5", T0 - 3700), ("8", T0 - 3000), ("9", T0 - 60)]


@pytest.mark.parametrize(
    ("movement_s", "expected"),
    [(3600, "5"), (3700, "5"), (3701, "3"), (4001, None), (60, "9"), (1, "9"), (3000, "8")],
)
def test_the_newest_checkpoint_at_least_movement_s_old(movement_s: float, expected: str) -> None:
    assert reference(HELD, T0, movement_s) == expected
    assert reference([], T0, movement_s) is None


def test_previous_windows_are_as_long_and_just_before() -> None:
    gran, hours = earlier.buckets("24h", T0)
    assert gran is HOUR and len(hours) == 24 and hours.stop == W24H.first_bucket(T0)
    gran, days = earlier.buckets("30d", T0)
    assert gran is DAY and len(days) == 30 and days.stop == W30D.first_bucket(T0)
    # 7d: whole days, ending at the day the window's first hour is in (T0 is noon: its first
    # hour is noon seven days before, in the day that began 7.5 days before T0).
    gran, days = earlier.buckets("7d", T0)
    assert gran is DAY and len(days) == 7
    assert days.stop == DAY.index(W7D.start(T0)) == DAY.index(T0) - 7
    with pytest.raises(ValueError, match="no previous window"):
        earlier.buckets("1h", T0)


def test_earlier_calls_stay_small_and_in_one_shard() -> None:
    shard = 3
    articles = [f"a{n}" for n in range(2500)]
    for window in ("24h", "7d", "30d"):
        calls = earlier.calls(shard, window, T0, articles)
        assert [a for call in calls for a in call.args] == articles
        for call in calls:
            assert len(call.args) <= 1000
            assert len(call.args) * len(call.keys) <= earlier.MAX_LOOKUPS
            assert all(
                k.startswith(f"{keys.PREFIX}:{keys.SHARD_TAGS[shard]}:b:") for k in call.keys
            )
    assert earlier.decode([3, 0, 7]) == [3, 0, 7]


def test_author_lists_have_names_of_their_own() -> None:
    assert snapshot.author_list_name("24h", "ann") == "24h|@ann"
    assert snapshot.author_list_name("24h", "ann") != snapshot.list_name("24h", "ann")
    assert snapshot.window_of("24h|@ann") == "24h" == snapshot.window_of("24h|war")
    assert snapshot.window_of("trending|") == snapshot.TRENDING


def test_heads_name_the_author_and_the_previous_lists() -> None:
    body = orjson.loads(snapshot.render("7d", None, T0, [b'{"article":"a"}'], T0 - 3600, "ann"))
    assert body == {
        "window": "7d",
        "theme": None,
        "author": "ann",
        "as_of": "2026-11-27T12:00:00Z",
        "previous_as_of": "2026-11-27T11:00:00Z",
        "items": [{"rank": 1, "article": "a"}],
    }
    assert "author" not in orjson.loads(snapshot.render("7d", "war", None, []))


def test_items_of_a_snapshot_from_before_movement_read_with_no_previous_rank() -> None:
    old = orjson.dumps([{"article": "a", "window_views": 3}, {"article": "gone"}]).decode()
    (entry,) = snapshot.parse(old, frozenset({"gone"}))
    assert orjson.loads(entry.json) == {"article": "a", "window_views": 3, "previous_rank": None}
    item = snapshot.item("a", dict.fromkeys(("title", "url", "theme", "published_at")), 3, 9)
    assert item["previous_rank"] is None and "previous_window_views" not in item


@pytest.mark.parametrize(
    ("score", "previous_rank", "previous_window_views"),
    [(None, None, None), (None, 4, 0), (2.3456, None, None), (1.0, 1, 17)],
)
def test_items_serialised_from_a_head_are_the_items_of_format_1(
    score: float | None, previous_rank: int | None, previous_window_views: int | None
) -> None:
    meta = {"title": 'A "quoted" title', "url": "https://x/a", "theme": "war", "published_at": ""}
    start = snapshot.head("a-1", meta)
    written = snapshot.item_json(start, 3, 9, score, previous_rank, previous_window_views)
    expected = snapshot.item("a-1", meta, 3, 9, score, previous_rank, previous_window_views)
    assert orjson.loads(written) == expected
    assert list(orjson.loads(written)) == list(expected)  # and in the same order
