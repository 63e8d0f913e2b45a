"""The rollup holds Python's cycle collector off while it runs, and hands it back as it found
it: on again after the last of several overlapping rollups, even one that failed, and left
off where someone else had turned it off."""

from __future__ import annotations

import gc

import pytest

from service.rollpart import no_cycle_collection as _no_cycle_collection


@pytest.fixture(autouse=True)
def collector_on() -> None:
    gc.enable()


def test_off_while_a_rollup_runs_and_on_after_even_a_failed_one() -> None:
    with pytest.raises(RuntimeError), _no_cycle_collection():
        assert not gc.isenabled()
        raise RuntimeError("a rollup that failed")
    assert gc.isenabled()


def test_on_again_only_when_the_last_overlapping_rollup_ends() -> None:
    outer = _no_cycle_collection()
    outer.__enter__()
    with _no_cycle_collection():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the first is still running
    outer.__exit__(None, None, None)
    assert gc.isenabled()


def test_left_off_where_it_was_turned_off_before() -> None:
    gc.disable()
    try:
        with _no_cycle_collection():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
