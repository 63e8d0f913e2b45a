"""Authors: `author`/`author_name` in the catalog, GET /v1/authors and the author lists, which
follow the catalog's current author at each rollup as the theme lists follow the theme."""

from __future__ import annotations

import asyncio
import math
from functools import partial
from typing import Any

import httpx
import pytest

from service import authorlists, demo, keys
from service.catalog import Article, Catalog
from service.clock import ManualClock
from service.settings import Settings
from service.storage import Storage, ops

from .support import ADMIN, client_for, put_article, rollup
from .test_pages import max_age

ANN = {"author": "ann-lee", "author_name": "Ann Lee"}
BOB = {"author": "bob", "author_name": "Bob Stone"}


async def views(client: httpx.AsyncClient, counts: dict[str, int]) -> None:
    """Each article's views, as batch events from distinct visitors."""
    events = [
        {"article": article, "visitor": f"{article}-{n}-{count}"}
        for article, count in counts.items()
        for n in range(count)
    ]
    response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    assert response.json()["counted"] == len(events), response.text


async def author_list(client: httpx.AsyncClient, author: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/authors/{author}/popular", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["author"] == author and body["theme"] is None
    assert [i["rank"] for i in body["items"]] == list(range(1, len(body["items"]) + 1))
    return body


def articles(body: dict[str, Any]) -> list[str]:
    return [item["article"] for item in body["items"]]


async def test_author_fields_and_the_authors_index(client: httpx.AsyncClient) -> None:
    created = await put_article(client, "a", **ANN)
    assert created.json()["author"] == "ann-lee" and created.json()["author_name"] == "Ann Lee"
    await put_article(client, "b", **ANN)
    await put_article(client, "c", **BOB)
    await put_article(client, "d")  # no author
    fetched = (await client.get("/v1/articles/d")).json()
    assert fetched["author"] is None and fetched["author_name"] is None
    first = await client.get("/v1/authors")
    assert first.json() == {
        "authors": [
            {"author": "ann-lee", "author_name": "Ann Lee", "articles": 2},
            {"author": "bob", "author_name": "Bob Stone", "articles": 1},
        ]
    }
    assert 0 < max_age(first) <= 60
    # The index is as of the latest rollup, as the lists are: a moved article counts for its
    # new author from the next one.
    await put_article(client, "c", **ANN)
    assert (await client.get("/v1/authors")).json() == first.json()
    await rollup(client)
    moved = await client.get("/v1/authors")
    assert moved.json() == {
        "authors": [{"author": "ann-lee", "author_name": "Ann Lee", "articles": 3}]
    }
    assert moved.headers["etag"] != first.headers["etag"]
    again = await client.get("/v1/authors", headers={"if-none-match": moved.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == moved.headers["etag"]
    # A delete shows at once, as it does in the lists; an author with none left goes.
    assert (await client.delete("/v1/articles/a", headers=ADMIN)).status_code == 204
    assert (await client.get("/v1/authors")).json()["authors"][0]["articles"] == 2
    for article in ("b", "c"):
        assert (await client.delete(f"/v1/articles/{article}", headers=ADMIN)).status_code == 204
    assert (await client.get("/v1/authors")).json() == {"authors": []}


@pytest.mark.single_node  # commandstats are per node; the single server counts them all
async def test_the_authors_index_reads_the_catalog_once_per_snapshot(
    client: httpx.AsyncClient, redis: Any
) -> None:
    """Many requests, one read of the shards' two author hashes (HGETALL) per snapshot; the
    bound leaves room for the process's snapshot polls (HGETALL of the current one, each 1 s)."""
    await put_article(client, "a", **ANN)
    await rollup(client)

    async def hgetalls() -> int:
        stats = await redis.info("commandstats")
        return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))

    before = await hgetalls()
    bodies = [(await client.get("/v1/authors")).json() for _ in range(20)]
    read_once = await hgetalls() - before
    assert bodies == [bodies[0]] * 20 and bodies[0]["authors"][0]["articles"] == 1
    assert 2 * keys.SHARDS <= read_once < 4 * keys.SHARDS  # per request it was 20 x 32
    await put_article(client, "b", **ANN)
    await rollup(client)
    before = await hgetalls()
    assert (await client.get("/v1/authors")).json()["authors"][0]["articles"] == 2
    assert (await client.get("/v1/authors")).json()["authors"][0]["articles"] == 2
    assert 2 * keys.SHARDS <= await hgetalls() - before < 4 * keys.SHARDS


async def test_an_article_moves_to_its_new_authors_list_at_the_next_rollup(
    client: httpx.AsyncClient,
) -> None:
    for article, author in (("a1", ANN), ("a2", ANN), ("b1", BOB)):
        await put_article(client, article, **author)
    await views(client, {"a1": 5, "a2": 4, "b1": 3})
    await rollup(client)
    assert articles(await author_list(client, "ann-lee")) == ["a1", "a2"]
    assert articles(await author_list(client, "bob")) == ["b1"]
    await put_article(client, "a1", **BOB)
    # Lists are what the last rollup published, until the next one.
    assert articles(await author_list(client, "ann-lee")) == ["a1", "a2"]
    await rollup(client)
    assert articles(await author_list(client, "ann-lee")) == ["a2"]
    bob = await author_list(client, "bob", window="7d")
    assert articles(bob) == ["a1", "b1"]
    assert [i["window_views"] for i in bob["items"]] == [5, 3]
    # Movement fields as on every list; an author nobody has gives an empty list.
    assert bob["previous_as_of"] is None and bob["items"][0]["previous_rank"] is None
    assert bob["items"][0]["previous_window_views"] == 0
    assert (await author_list(client, "nobody"))["items"] == []


async def test_author_lists_take_filters_min_readers_and_ranked(
    settings: Settings, clock: ManualClock
) -> None:
    async with client_for(settings.model_copy(update={"min_readers": 3}), clock) as client:
        await _filters_min_readers_and_ranked(client)


async def _filters_min_readers_and_ranked(client: httpx.AsyncClient) -> None:
    for article in ("a1", "a2", "a3", "few"):
        await put_article(client, article, **ANN)
    await views(client, {"a1": 6, "a2": 5, "a3": 4, "few": 2})  # few: 2 readers, under 3
    await put_article(client, "a3", ranked=False, **ANN)
    await rollup(client)
    assert articles(await author_list(client, "ann-lee")) == ["a1", "a2"]
    assert articles(await author_list(client, "ann-lee", exclude="a1", limit=1)) == ["a2"]
    assert articles(await author_list(client, "ann-lee", published_within="24h")) == []
    first = await client.get("/v1/authors/ann-lee/popular")
    again = await client.get(
        "/v1/authors/ann-lee/popular", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize("busy_author", [None, "bob"], ids=["looked-up", "read-by-rank"])
async def test_an_author_list_is_filled_from_articles_the_site_and_theme_lists_never_read(
    settings: Settings,
    clock: ManualClock,
    store: Storage,
    busy_author: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The site and theme lists read only the top of each window set; an author whose
    articles all rank below that still gets a full list, in order, with min readers and
    ranked: false applied to the articles looked up. With few such articles they are looked
    up by name; when an author owns most of the rest (bob), the sets are read on by rank, in
    rounds (small ones here)."""
    if busy_author is not None:
        monkeypatch.setattr(authorlists, "RANGE_CHUNK", 40)
        monkeypatch.setattr(authorlists, "NAMED_COST", 10**6)
    stars = [f"star-{n}" for n in range(44)]  # settle the site and theme lists (2 + 20 spare)
    busy = [f"busy-{n}" for n in range(2000)]  # past the first read of every shard
    quiet = [f"quiet-{n:02}" for n in range(24)]  # below all of them: never read
    catalog = Catalog(store, clock)
    for start in range(0, len(stars + busy), 200):
        await asyncio.gather(
            *(
                catalog.put(
                    Article(
                        a, "T", f"https://news.example.com/{a}", "war", None, 0,
                        author=busy_author if a.startswith("busy") else None,
                    )
                )
                for a in (stars + busy)[start : start + 200]
            )
        )  # fmt: skip
    async with client_for(
        settings.model_copy(update={"min_readers": 2, "ranking_size": 2}), clock
    ) as client:
        for article in [*quiet, "quiet-few", "quiet-out"]:
            await put_article(client, article, **ANN)
        await put_article(client, "quiet-out", ranked=False, **ANN)
        await views(client, {**dict.fromkeys(stars, 6), **dict.fromkeys(busy, 4)})
        await views(client, {**{a: 2 + (n < 4) for n, a in enumerate(quiet)}, "quiet-out": 2})
        await views(client, {"quiet-few": 1})  # one reader: under the minimum
        await rollup(client)
        top = await client.get("/v1/themes/war/popular", params={"limit": 100})
        assert {i["article"] for i in top.json()["items"]} <= set(stars)
        ann = await author_list(client, "ann-lee", window="7d", limit=100)
        assert articles(ann) == quiet  # four with 3 views, then twenty with 2, by id
        assert [i["window_views"] for i in ann["items"]] == [3] * 4 + [2] * 20
        if busy_author is not None:
            bob = await author_list(client, busy_author, window="7d", limit=100)
            assert articles(bob) == sorted(busy)[: len(articles(bob))]  # 4 views each: by id
            assert len(articles(bob)) >= 20


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/authors/Ann/popular", {}),
        ("/v1/authors/ann_lee/popular", {}),
        ("/v1/authors/" + "a" * 65 + "/popular", {}),
        ("/v1/authors/ann/popular", {"window": "2h"}),
        ("/v1/authors/ann/popular", {"limit": "0"}),
        ("/v1/authors/ann/popular", {"exclude": "a b"}),
        ("/v1/authors/ann/popular", {"published_within": "1h"}),
    ],
)
async def test_bad_author_list_parameters(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_parameter"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"author": "Ann Lee"}, "author"),
        ({"author": ""}, "author"),
        ({"author": 7}, "author"),
        ({"author": "ann", "author_name": ""}, "author_name"),
        ({"author": "ann", "author_name": "x" * 101}, "author_name"),
        ({"author": "ann", "author_name": "   "}, "author_name"),
        ({"author": "ann", "author_name": ["Ann"]}, "author_name"),
    ],
)
async def test_bad_author_fields_change_nothing(
    client: httpx.AsyncClient, fields: dict[str, Any], named: str
) -> None:
    await put_article(client, "a", **ANN)
    body = {"title": "T", "url": "https://news.example.com/a", "theme": "war", **fields}
    response = await client.put("/v1/articles/a", json=body, headers=ADMIN)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_field" and problem["detail"].startswith(f"{named}:")
    assert (await client.get("/v1/articles/a")).json()["author"] == "ann-lee"
    assert (await client.get("/v1/authors")).json()["authors"][0]["articles"] == 1


async def test_the_demo_names_its_authors(
    client: httpx.AsyncClient, settings: Settings, clock: ManualClock, store: Storage
) -> None:
    await demo.load(store, settings, clock)
    authors = (await client.get("/v1/authors")).json()["authors"]
    assert {(a["author"], a["author_name"]) for a in authors} == set(demo.AUTHORS)
    assert sum(a["articles"] for a in authors) == len(demo.HEADLINES)
    second = demo.HEADLINES[1][0]
    assert (await client.get(f"/v1/articles/{second}")).json()["author"] == demo.byline(1)[0]
    page = await client.get(f"/news/{second}")
    assert page.status_code == 200 and demo.byline(1)[1] in page.text
    assert demo.byline(0)[1] in (await client.get("/")).text


async def test_reading_on_by_rank_takes_every_article_once_as_articles_above_go(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """authorlists.Reading reads a shard's set on below what was read, in overlapping ranges:
    every article once, none skipped when articles above were deleted after a read (each
    deletion moves the rest up a rank), to the set's end."""
    monkeypatch.setattr(authorlists, "RANGE_CHUNK", 40)
    monkeypatch.setattr(authorlists, "OVERLAP", 8)
    key_of = partial(keys.window, name="7d")
    await store.execute([ops.zadd(key_of(3), {f"a{n:03}": 1000 - n for n in range(300)})])
    read = {3: (await store.execute([ops.ztop(key_of(3), 100)]))[0]}  # a000 best
    await store.execute([ops.zrem(key_of(3), "a005", "a050", "a099")])  # above the rest
    others = set(range(keys.SHARDS)) - {3}
    reading = await authorlists.Reading.start(store, key_of, read, others)
    found = await reading.deeper()
    assert reading.open == [3] and reading.ceiling == found[-1][1]
    await store.execute([ops.zrem(key_of(3), found[0][0], found[-1][0])])  # read ones, again
    while reading.open:
        found += await reading.deeper()
    assert [a for a, _ in found] == [f"a{n:03}" for n in range(100, 300)]
    assert [s for _, s in found] == [float(1000 - n) for n in range(100, 300)]
    assert reading.ceiling == -math.inf
