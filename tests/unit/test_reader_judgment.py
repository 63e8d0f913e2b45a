"""The minimum-readers judgment of the all-time sample, without Redis."""

from __future__ import annotations

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
