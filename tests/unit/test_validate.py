"""Validation of what becomes part of a Redis key or a number: checked before it is used."""

from __future__ import annotations

import pytest

from service.validate import int_parameter, small_int


def test_integers_are_checked_before_int() -> None:
    assert small_int("42") == 42 and small_int(b"42") == 42
    for bad in ("", "4" * 5000, "²", "٣", "１２", "-1", "+1", " 1", "1.0", "0x10"):
        assert small_int(bad) is None, bad
    assert int_parameter("100", "limit", 1, 100) == 100
    for bad in ("0", "101", "0001000", "9" * 10_000, "²"):
        with pytest.raises(Exception, match="limit: an integer from 1 to 100"):
            int_parameter(bad, "limit", 1, 100)
