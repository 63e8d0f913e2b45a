"""The minimum-readers judgment and the author lists' gating, without Redis."""

from __future__ import annotations

import pytest

from service.authorlists import _gated
from service.integrity import _judged


def test_readers_are_counted_across_samples_once_each() -> None:
    held = [
        ["aaaaaaaabbbbbbbbcccccccc", "aaaaaaaa", None, "aaaaaaaabbbbbbbb", None],
        [None, "aaaaaaaa", "aaaaaaaa", "cccccccc", None],
        [None, "bbbbbbbb", "bbbbbbbb", None, None],
    ]
    # a full sample; a reader seen twice counts once; two; three over two samples; none
    assert _judged(held, 5, 3) == [True, False, False, True, False]
    assert _judged([], 2, 3) == [False, False]


async def test_only_what_could_make_a_list_is_judged() -> None:
    pools = {
        "ann": [(f"a{n}", 10.0 - n) for n in range(10)],
        "bob": [("b0", 3.0), ("b1", 2.0)],
    }
    failing = {"a0", "a2", "a3"}
    asked: list[set[str]] = []

    async def eligible(articles: set[str]) -> set[str]:
        asked.append(articles)
        return articles - failing

    lists = await _gated(pools, eligible, 3)
    assert lists == {
        "ann": [("a1", 9.0), ("a4", 6.0), ("a5", 5.0)],
        "bob": [("b0", 3.0), ("b1", 2.0)],
    }
    assert asked[0] == {"a0", "a1", "a2", "b0", "b1"}  # each pool's first three
    assert max(int(a[1:]) for round_ in asked for a in round_ if a[0] == "a") <= 6
    assert await _gated(pools, None, 2) == {"ann": pools["ann"][:2], "bob": pools["bob"]}


@pytest.mark.parametrize("size", [1, 5])
async def test_a_pool_with_nothing_eligible_is_empty(size: int) -> None:
    async def nobody(articles: set[str]) -> set[str]:
        return set()

    assert await _gated({"ann": [("a", 2.0), ("b", 1.0)]}, nobody, size) == {"ann": []}
