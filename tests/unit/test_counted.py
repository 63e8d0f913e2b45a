"""ops._counted and ops._counts: scores that count views read as ints (they format and compare
faster than floats in a rollup), and as floats the moment one is not a whole number."""

from __future__ import annotations

from service.storage import ops


def test_view_counts_are_ints() -> None:
    assert ops._counted(["a", "12", "b", "3", "c", "0"]) == [("a", 12), ("b", 3), ("c", 0)]
    assert all(type(score) is int for _, score in ops._counted(["a", "12", "b", "3"]))
    assert ops._counts(["7", None, "0"]) == [7, None, 0]
    assert type(ops._counts(["7"])[0]) is int


def test_a_score_that_is_not_a_whole_number_makes_them_floats() -> None:
    counted = ops._counted(["a", "12", "b", "2.5", "c", "inf"])
    assert counted == [("a", 12.0), ("b", 2.5), ("c", float("inf"))]
    assert all(type(score) is float for _, score in counted)
    assert ops._counts(["7", None, "1e3"]) == [7.0, None, 1000.0]
    assert ops._counted([]) == [] and ops._counts([]) == []


def test_ztop_and_zrange_rev_read_counts() -> None:
    assert ops.ztop("k", 2).decode(["a", "5", "b", "4"]) == [("a", 5), ("b", 4)]
    assert ops.zrange_rev("k", 0, 1).decode(["a", "5"]) == [("a", 5)]
    assert ops.zmcount("k", ["a", "b"]).decode(["5", None]) == [5, None]
