"""Movement and author lists without Redis: which checkpoint a rollup compares with, which
buckets the windows before hold (previous_window_views), and the list heads and names."""

from __future__ import annotations

import orjson
import pytest

from service import snapshot
from service.movement import Previous, reference
from service.rollpart import items as _items
from service.windows import BEFORE, BEFORE_BY_WINDOW, DAY, HOUR, W7D, W24H, W30D, span_of

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
    before = BEFORE_BY_WINDOW
    hours = before["24h"].buckets(T0)
    assert before["24h"].granularity is HOUR
    assert len(hours) == 24 and hours.stop == W24H.first_bucket(T0)
    days = before["30d"].buckets(T0)
    assert before["30d"].granularity is DAY
    assert len(days) == 30 and days.stop == W30D.first_bucket(T0)
    # 7d: whole days, ending at the day the window's first hour is in (T0 is noon: its first
    # hour is noon seven days before, in the day that began 7.5 days before T0).
    days = before["7d"].buckets(T0)
    assert before["7d"].granularity is DAY and len(days) == 7
    assert days.stop == DAY.index(W7D.start(T0)) == DAY.index(T0) - 7
    assert set(before) == {"24h", "7d", "30d"}
    assert [b.name for b in BEFORE] == ["24h-before", "7d-before", "30d-before"]


def test_the_windows_before_slide_at_both_ends() -> None:
    """An hour on, the 24h window before has taken in the hour the 24h window let go and let
    go of its own oldest one."""
    before = BEFORE_BY_WINDOW["24h"]
    now, later = before.buckets(T0), before.buckets(T0 + 3600)
    assert later.start == now.start + 1 and later.stop == now.stop + 1
    assert later.stop == W24H.first_bucket(T0 + 3600) == W24H.first_bucket(T0) + 1
    assert span_of(before) == 24 and span_of(W24H) == 0


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
    # The rollup passes window views as Redis scores them (floats): still written as integers.
    as_scored = snapshot.item_json(start, 3.0, 9, score, previous_rank, previous_window_views)
    assert as_scored == written and b'"window_views":3,' in as_scored


def test_the_rollups_items_are_item_json_of_each_list_item() -> None:
    """rollup._items writes most items from inlined templates: each one is what
    snapshot.item_json() gives, for every kind of list; a deleted article is left out."""
    meta = {"title": 'Заголовок, "x"', "url": "https://x/a", "theme": "war", "published_at": ""}
    heads = {a: snapshot.head(a, meta) for a in ("a", "b", "c")}
    ranked = {
        "24h|": [("a", 5.0), ("b", 3.0), ("gone", 2.0)],
        "24h|@ann": [("b", 3.0)],
        "1h|war": [("c", 1.0), ("a", 1.0)],
        "trending|": [("c", 4.0)],
    }
    previous = Previous(1.0, {"24h|": {"b": 1}, "1h|war": {"c": 2}, "trending|": {"c": 7}})
    earlier = {"24h": {"a": 11}}
    totals = {"a": 90.0, "b": 7.0}
    payloads, shown = _items(ranked, {"c": 2.345}, previous, earlier, heads, totals)
    for name, items in ranked.items():
        window = snapshot.window_of(name)
        before = earlier.get(window)
        expected = [
            (
                a,
                snapshot.item_json(
                    heads[a],
                    int(v),
                    int(totals.get(a, 0)),
                    2.345 if window == snapshot.TRENDING else None,
                    previous.rank(name, a),
                    None if before is None else before.get(a, 0),
                ),
            )
            for a, v in items
            if a in heads
        ]
        assert list(zip(shown[name], payloads[name], strict=True)) == expected, name
    assert shown["24h|"] == ["a", "b"]  # "gone" left out of the checkpoint's list too
    assert orjson.loads(payloads["24h|"][1])["previous_rank"] == 1
    assert orjson.loads(payloads["24h|"][0])["previous_window_views"] == 11
