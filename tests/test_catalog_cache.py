"""The rollup's cache of the catalog (catalogcache.py): a rollup that keeps what it read of the
catalog from one run to the next publishes exactly what a new one would, through every way the
catalog changes (an editor's put, a feed's create, update and fill-in, a delete, a re-create);
with nothing changed it reads no catalog at all, and after a change it reads the changed shard
only."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from service import keys, snapshot
from service.catalogcache import CatalogCache
from service.clock import ManualClock
from service.rollup import Rollup
from service.scripts import feed_article
from service.settings import Settings
from service.storage import Storage, ops

from .support import ADMIN, batch_views, put_article

ARTICLES = [f"cached-{n}" for n in range(40)]  # over every shard
THEMES = ["war", "sport", "culture"]
AUTHORS = ["ann-lee", "bo-chen", "cy-dam"]


async def published(store: Storage, rollup: Rollup) -> dict[str, str]:
    result = await rollup.run()
    lists = await snapshot.lists(store, result.generation)
    assert lists is not None
    return lists


async def put(client: httpx.AsyncClient, rng: random.Random, article: str) -> None:
    author = rng.choice(AUTHORS)
    published = {"published_at": "2026-03-01T10:00:00Z"} if rng.random() < 0.5 else {}
    await put_article(
        client,
        article,
        rng.choice(THEMES),
        title=f"Title {rng.randrange(1000)} of {article}",
        author=author,
        author_name=author.replace("-", " ").title(),
        **published,  # without: a feed may fill it in
    )


async def test_a_kept_cache_publishes_what_a_new_rollup_does(
    client: httpx.AsyncClient, settings: Settings, clock: ManualClock, store: Storage
) -> None:
    rng = random.Random(11)
    live = list(ARTICLES)
    for article in live:
        await put(client, rng, article)
    kept = Rollup(store, settings, clock)

    async def changes() -> None:
        """A few of every kind of catalog change, and views for some articles."""
        for _ in range(3):
            await put(client, rng, rng.choice(live))  # theme, author and title change
        gone = rng.choice(live)
        response = await client.delete(f"/v1/articles/{gone}", headers=ADMIN)
        assert response.status_code == 204, response.text
        if rng.random() < 0.5:
            await put(client, rng, gone)  # back at once, maybe by another author
        else:
            live.remove(gone)
        fresh = f"feed-{rng.randrange(10**6)}"
        live.append(fresh)
        url = f"https://news.example.com/{fresh}"
        calls = [
            feed_article.call(fresh, f"Feed {fresh}", url, rng.choice(THEMES), None, "news",
                              "di-eng", "Di Eng"),
            # the feed's own article updated (another theme and author)
            feed_article.call(fresh, None, url, rng.choice(THEMES), None, "news",
                              "ed-fox", "Ed Fox"),
        ]  # fmt: skip
        # and editors' articles without a publication time given one
        calls += [
            feed_article.call(
                a, None, f"https://news.example.com/{a}", None, "2026-04-01T00:00:00Z", "news"
            )
            for a in rng.sample(live, 3)
        ]
        for call in calls:
            await store.run(call)
        await batch_views(
            client,
            [
                (article, clock.now() - rng.randrange(3000), rng.randint(1, 4))
                for article in rng.sample(live, 15)
            ],
        )

    for _ in range(6):
        await changes()
        clock.advance(600)
        kept_lists = await published(store, kept)
        new_lists = await published(store, Rollup(store, settings, clock))
        assert kept_lists == new_lists
        authors = {name for name, items in kept_lists.items() if "|@" in name and items != "[]"}
        assert len(authors) >= 3 * len(AUTHORS)  # author lists are on, in several windows


class Commands:
    """Every command Redis runs, from its slowlog with a threshold of 0 µs."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def __aenter__(self) -> Commands:
        await self.redis.config_set("slowlog-log-slower-than", 0)
        await self.redis.config_set("slowlog-max-len", 1_000_000)
        await self.redis.slowlog_reset()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.redis.config_set("slowlog-log-slower-than", 10_000)
        await self.redis.config_set("slowlog-max-len", 128)

    async def keys_read(self) -> list[str]:
        """The keys of every command run since the block began, as far as the slowlog keeps
        arguments (32 a command, enough for these)."""
        found = []
        for entry in await self.redis.slowlog_get(1_000_000):
            command = entry["command"]
            words = command.decode().split() if isinstance(command, bytes) else command.split()
            found += [w for w in words[1:] if w.startswith(keys.PREFIX + ":")]
        return found


@pytest.mark.single_node  # one slowlog to read
async def test_a_kept_cache_reads_no_catalog_until_a_shard_changes(
    client: httpx.AsyncClient, settings: Settings, clock: ManualClock, store: Storage, redis: Any
) -> None:
    rng = random.Random(5)
    for article in ARTICLES:
        await put(client, rng, article)
    await batch_views(client, [(a, clock.now() - 60, 2) for a in ARTICLES])
    kept = Rollup(store, settings, clock)
    await kept.run()

    def catalog_keys(shard: int) -> set[str]:
        return {
            keys.article_themes(shard),
            keys.article_authors(shard),
            *(keys.meta_in(shard, a) for a in ARTICLES if keys.shard_of(a) == shard),
        }

    every = set().union(*(catalog_keys(shard) for shard in range(keys.SHARDS)))
    clock.advance(60)
    async with Commands(redis) as commands:
        await kept.run()
        assert every.isdisjoint(await commands.keys_read())

    changed = ARTICLES[3]
    await put(client, rng, changed)
    shard = keys.shard_of(changed)
    clock.advance(60)
    async with Commands(redis) as commands:
        await kept.run()
        read = set(await commands.keys_read()) & every
    assert keys.article_authors(shard) in read  # its author index read again, and its heads
    assert keys.meta_in(shard, changed) in read
    assert read <= catalog_keys(shard)  # and nothing of any other shard


async def test_a_catalog_written_without_versions_is_read_again_within_the_max_age(
    client: httpx.AsyncClient, settings: Settings, clock: ManualClock, store: Storage
) -> None:
    """An earlier release's API writes the catalog without setting its version (a rolling
    upgrade): VIEWCOUNT_CATALOG_CACHE_S bounds how long a rollup keeps what it read (0: not at
    all), and CatalogCache drops every shard once that long passed."""
    await put_article(client, "cached-old", title="Before")
    await batch_views(client, [("cached-old", clock.now() - 60, 3)])
    fresh = Rollup(store, settings.model_copy(update={"catalog_cache_s": 0.0}), clock)
    kept = Rollup(store, settings, clock)  # the default hour
    for rollup in (fresh, kept):
        assert "Before" in (await published(store, rollup))["24h|"]
    # As put_article.lua of a release before the catalog versions wrote a new title.
    await store.execute([ops.hset(keys.meta("cached-old"), {"title": "After"})])
    assert "After" in (await published(store, fresh))["24h|"]
    assert "Before" in (await published(store, kept))["24h|"]  # within its hour

    now = [0.0]
    cache = CatalogCache(60, clock=lambda: now[0])
    first = await cache.refresh(store)
    now[0] = 59
    held = await cache.refresh(store)
    assert all(a is b for a, b in zip(held, first, strict=True))  # nothing changed, kept
    now[0] = 60
    again = await cache.refresh(store)
    assert not any(a is b for a, b in zip(again, first, strict=True))  # every shard afresh
