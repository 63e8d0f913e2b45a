"""A rollup split over processes (rollhelpers.py): with a helper ranking half the windows it
publishes exactly what one process ranking them all does, through catalog changes, views,
minimum readers, trending and movement; a helper that dies or hangs costs one rollup its help,
not its lists, and is replaced; a catalog below the split size, or a one-off rollup, starts
no helper."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from service import snapshot
from service.clock import ManualClock
from service.rollup import DEALT, Rollup, split
from service.settings import Settings
from service.storage import Storage

from .support import batch_views, put_article

ARTICLES = [f"split-{n}" for n in range(60)]
THEMES = ["war", "sport", "culture"]
AUTHORS = ["ann-lee", "bo-chen", "cy-dam"]


@pytest.fixture
async def helped(settings: Settings, clock: ManualClock, store: Storage) -> AsyncIterator[Rollup]:
    """A rollup with one helper process, whatever the catalog's size, its helper started."""
    rollup = Rollup(
        store,
        settings.model_copy(update={"rollup_processes": 2, "rollup_split_articles": 0}),
        clock,
        helped=True,
    )
    try:
        await started(rollup, store)
        yield rollup
    finally:
        await asyncio.to_thread(rollup.close)


async def started(rollup: Rollup, store: Storage) -> None:
    """Until the rollup's helpers are up, as a scheduler waits before its first rollup."""
    assert await rollup.start_helpers() == rollup.settings.rollup_processes - 1


async def lists(store: Storage, rollup: Rollup, processes: int) -> dict[str, str]:
    result = await rollup.run()
    assert result.published and result.processes == processes
    found = await snapshot.lists(store, result.generation)
    assert found is not None
    return found


async def seed(client: httpx.AsyncClient, clock: ManualClock, rng: random.Random) -> None:
    for article in ARTICLES:
        author = rng.choice(AUTHORS)
        await put_article(
            client,
            article,
            rng.choice(THEMES),
            title=f"Title {rng.randrange(1000)}, of {article}",
            author=author,
            author_name=author.replace("-", " ").title(),
        )
    await views(client, clock, rng)


async def views(client: httpx.AsyncClient, clock: ManualClock, rng: random.Random) -> None:
    """Views over the last day and a half (every window gets some), a burst for trending."""
    now = clock.now()
    await batch_views(
        client,
        [
            (article, now - rng.randrange(36 * 3600), rng.randint(1, 5))
            for article in rng.sample(ARTICLES, 40)
        ]
        + [(rng.choice(ARTICLES), now - rng.randrange(900), 30)],
    )


async def test_a_helped_rollup_publishes_what_one_process_does(
    client: httpx.AsyncClient,
    settings: Settings,
    clock: ManualClock,
    store: Storage,
    helped: Rollup,
) -> None:
    rng = random.Random(3)
    await seed(client, clock, rng)
    alone = Rollup(store, settings.model_copy(update={"rollup_processes": 1}), clock)
    for step in range(5):
        if step:
            clock.advance(1500)  # past MOVEMENT_S by the third: previous ranks and views
            await views(client, clock, rng)
            moved = rng.choice(ARTICLES)
            await put_article(client, moved, rng.choice(THEMES), author=rng.choice(AUTHORS))
            if step == 3:  # out of every list
                await put_article(client, rng.choice(ARTICLES), "war", ranked=False)
        one = await lists(store, alone, 1)
        two = await lists(store, helped, 2)
        assert one == two
    names = set(two)
    assert {f"{w}|" for w in DEALT} <= names  # every window's list, from both processes
    assert any(name.startswith("trending|") and two[name] != "[]" for name in names)
    assert any("|@" in name and two[name] != "[]" for name in names)  # author lists
    assert snapshot.PREVIOUS_FIELD in two  # and movement


async def test_a_helper_that_dies_or_hangs_is_replaced_and_its_part_ranked_here(
    client: httpx.AsyncClient,
    settings: Settings,
    clock: ManualClock,
    store: Storage,
    helped: Rollup,
) -> None:
    rng = random.Random(4)
    await seed(client, clock, rng)
    expected = await lists(store, Rollup(store, settings, clock), 1)

    (helper,) = helped.helpers.helpers
    helper._process.kill()  # dies between rollups
    assert await lists(store, helped, 1) == expected
    await started(helped, store)
    (replaced,) = helped.helpers.helpers
    assert replaced is not helper and helper._process.poll() is not None
    assert await lists(store, helped, 2) == expected

    # Stopped mid-way: the rollup waits a lease for it, then ends it and ranks its part.
    hasty = Rollup(store, helped.settings.model_copy(update={"leader_lease_s": 1.0}), clock)
    hasty.helpers = helped.helpers
    os.kill(replaced._process.pid, signal.SIGSTOP)
    assert await lists(store, hasty, 1) == expected
    assert replaced.gone is not None and replaced._process.poll() is not None
    await started(helped, store)
    assert await lists(store, helped, 2) == expected


async def test_below_the_split_size_no_helper_is_started(
    client: httpx.AsyncClient, settings: Settings, clock: ManualClock, store: Storage
) -> None:
    await seed(client, clock, random.Random(5))
    rollup = Rollup(
        store, settings.model_copy(update={"rollup_split_articles": 61}), clock, helped=True
    )
    assert await rollup.start_helpers() == 0  # a scheduler starting up starts none
    assert (await rollup.run()).processes == 1
    assert rollup.helpers.helpers == []
    assert rollup.helpers.ready(61) == [] and len(rollup.helpers.helpers) == 1
    rollup.close()
    assert rollup.helpers.helpers == []
    # A one-off rollup (the CLI's, a replay's, the API's) never starts one.
    one_off = Rollup(store, settings.model_copy(update={"rollup_split_articles": 0}), clock)
    assert (await one_off.run()).processes == 1
    assert one_off.helpers.ready(60) == [] and one_off.helpers.helpers == []


def test_windows_are_dealt_over_the_processes_each_once() -> None:
    assert split(DEALT, 1) == [("1h", "24h", "7d", "30d", "all", "today")]
    assert split(DEALT, 2) == [("30d", "7d", "24h"), ("all", "today", "1h")]
    for parts in range(1, 7):
        dealt = split(DEALT, parts)
        assert len(dealt) == parts and sorted(sum(dealt, ())) == sorted(DEALT)
