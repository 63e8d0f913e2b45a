"""The windows just before the 24h, 7d and 30d windows (previous_window_views), kept as window
sets slid at both ends: after every rollup each holds exactly the sum of its buckets, through
views merged late into them, rollups an hour, a day or more than a whole span apart, and a
deleted article."""

from __future__ import annotations

import random
from typing import Any

import httpx

from service import keys
from service.clock import ManualClock
from service.windows import BEFORE

from .support import ADMIN, batch_views, put_article, rollup

ARTICLES = [f"before-{n}" for n in range(12)]  # over several shards
HOUR, DAY = 3600, 86400


async def held(redis: Any, key: str) -> dict[str, float]:
    return {m: s for m, s in await redis.zrange(key, 0, -1, withscores=True) if s > 0}


async def assert_sums(redis: Any, as_of: float) -> int:
    """Every shard's window-before sets against their buckets summed; the views they hold."""
    total = 0
    for before in BEFORE:
        for shard in range(keys.SHARDS):
            expected: dict[str, float] = {}
            for index in before.buckets(as_of):
                bucket = keys.bucket(shard, before.granularity.name, index)
                for article, count in (await held(redis, bucket)).items():
                    expected[article] = expected.get(article, 0) + count
            found = await held(redis, keys.window(shard, before.name))
            assert found == expected, (before.name, shard, as_of)
            total += int(sum(found.values()))
    return total


async def test_windows_before_hold_their_buckets_sum(
    client: httpx.AsyncClient, clock: ManualClock, redis: Any
) -> None:
    rng = random.Random(7)
    for article in ARTICLES:
        await put_article(client, article)

    async def some_views(now: float) -> None:
        # Recent views, and late ones that land in each window before (up to 29 days old).
        ages = [0, 600, 5 * HOUR, 26 * HOUR, 40 * HOUR, 8 * DAY, 12 * DAY, 29 * DAY]
        await batch_views(
            client,
            [
                (rng.choice(ARTICLES), now - age - rng.randrange(600), rng.randint(1, 3))
                for age in ages
            ],
        )

    await some_views(clock.now())
    await rollup(client)  # the sets are built from the buckets (no start held yet)
    assert await assert_sums(redis, clock.now()) > 0
    # An hour (the 24h window before takes one hour in and lets one go), half an hour (nothing
    # moves), a day and a whole span of the 24h one, more than the 7d's, and more than a month.
    for step in (HOUR, HOUR, 1800, 5 * HOUR, DAY, 2 * DAY, 9 * DAY, HOUR, 31 * DAY, DAY):
        clock.advance(step)
        await some_views(clock.now())
        await rollup(client)
        await assert_sums(redis, clock.now())
    # A deleted article leaves every set.
    gone = ARTICLES[0]
    await batch_views(
        client, [(gone, clock.now() - 30 * HOUR, 2), (gone, clock.now() - 9 * DAY, 2)]
    )
    await rollup(client)
    held_gone = [
        await redis.zscore(keys.window(keys.shard_of(gone), before.name), gone) for before in BEFORE
    ]
    assert held_gone[0] and held_gone[1]  # in the 24h's and the 7d's windows before
    assert (await client.delete(f"/v1/articles/{gone}", headers=ADMIN)).status_code == 204
    await rollup(client)
    for before in BEFORE:
        assert await redis.zscore(keys.window(keys.shard_of(gone), before.name), gone) is None
    await assert_sums(redis, clock.now())


async def test_previous_window_views_come_from_the_window_before(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """Slid an hour at a time over a day and a half: the 24h list's previous_window_views
    follow the views as they leave the 24h window and then the window before it."""
    await put_article(client, "slid")
    start = clock.now()
    await batch_views(client, [("slid", start - 10 * HOUR, 4), ("slid", start - 30 * HOUR, 2)])
    seen = []
    for hour in range(0, 40, 3):
        clock.t = start + hour * HOUR
        await batch_views(client, [("slid", clock.now(), 1)])  # listed in 24h all along
        await rollup(client)
        response = await client.get("/v1/popular", params={"window": "24h"})
        (item,) = response.json()["items"]
        seen.append((hour, item["previous_window_views"]))
    # The 2 views 30 h before start are in the window before until hour 18 (48 h old); the 4
    # views 10 h before start enter it at hour 14 (24 h old) and stay past hour 38.
    expected = []
    for hour, _ in seen:
        at = start + hour * HOUR
        count = 0
        for age_at_start, n in ((30 * HOUR, 2), (10 * HOUR, 4)):
            viewed = start - age_at_start
            first = (at // HOUR - 24 - 24) * HOUR  # the window before: whole hours
            if first <= viewed < (at // HOUR - 24) * HOUR:
                count += n
        # and the one-a-rollup views of the earlier rollups
        for earlier in range(0, hour, 3):
            viewed = start + earlier * HOUR
            if (at // HOUR - 48) * HOUR <= viewed < (at // HOUR - 24) * HOUR:
                count += 1
        expected.append((hour, count))
    assert seen == expected
