"""The catalog, live counts and admin auth."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import httpx
import pytest

from service import keys, snapshot
from service.catalog import META_FIELDS, Article, Catalog
from service.clock import ManualClock
from service.coalesce import Coalescer
from service.scripts import meta
from service.storage import Storage

from .support import ADMIN, put_article, views_of

ARTICLE = "court-rejects-trumps-175-million-bail"
BODY = {
    "title": "Court rejects Trump's $175 million bail",
    "theme": "world",
    "url": "https://news.example.com/news/court",
    "published_at": "2026-11-27T09:35:00Z",
}


async def test_fields_read_in_chunks_are_each_articles_own(
    store: Storage, redis: Any, clock: ManualClock
) -> None:
    """meta.lua reads many articles per call (several calls a shard here): each article gets
    the fields one HMGET of it returns, in the order asked, a repeat as often as asked, and
    None when it is not in the catalog."""
    catalog = Catalog(store, clock)
    ids = [f"many-{n:04}" for n in range(3 * meta.ARTICLES_PER_CALL * keys.SHARDS // 2)]
    for start in range(0, len(ids), 200):
        await asyncio.gather(
            *(
                catalog.put(
                    Article(
                        article, f"Title {n}", f"https://news.example.com/{article}", "war",
                        "2026-11-27T09:35:00Z" if n % 2 else None, n,
                        ranked=n % 3 > 0, author="ann" if n % 5 else None,
                    )
                )
                for n, article in enumerate(ids[start : start + 200], start)
            )
        )  # fmt: skip
    assert max(len(chunk) for _, chunk in meta.chunks(ids)) == meta.ARTICLES_PER_CALL
    asked = ["gone", *reversed(ids), ids[7], "never-put", ids[7]]
    found = await catalog.meta(asked)
    stored = [await redis.hmget(keys.meta(article), META_FIELDS) for article in asked]
    expected = [None if v[0] is None else dict(zip(META_FIELDS, v, strict=True)) for v in stored]
    assert found == expected
    assert found[0] is None and found[-2] is None and found[1] is not None
    assert found[1]["author"] == "ann" and found[-1]["published_at"] == "2026-11-27T09:35:00Z"
    heads = await catalog.meta(asked, snapshot.HEAD_FIELDS)
    assert heads == [
        None if f is None else {name: f[name] for name in snapshot.HEAD_FIELDS} for f in found
    ]
    assert await catalog.meta([]) == []


async def test_put_creates_then_replaces(client: httpx.AsyncClient) -> None:
    created = await client.put(f"/v1/articles/{ARTICLE}", json=BODY, headers=ADMIN)
    assert created.status_code == 201
    assert created.json() == {
        "article": ARTICLE,
        **BODY,
        "imported_views": 0,
        "views": 0,
        "bot_views": 0,
        "automated_views": 0,
        "ranked": True,
        "author": None,
        "author_name": None,
    }
    replaced = await client.put(
        f"/v1/articles/{ARTICLE}", json={**BODY, "title": "New title"}, headers=ADMIN
    )
    assert replaced.status_code == 200
    assert replaced.json()["title"] == "New title"
    fetched = await client.get(f"/v1/articles/{ARTICLE}")
    assert fetched.status_code == 200
    assert fetched.json() == replaced.json()


async def test_published_at_is_optional_and_normalised(client: httpx.AsyncClient) -> None:
    body = {key: value for key, value in BODY.items() if key != "published_at"}
    assert (await client.put("/v1/articles/a1", json=body, headers=ADMIN)).json()[
        "published_at"
    ] is None
    offset = {**BODY, "published_at": "2026-11-27T11:35:00+02:00"}
    assert (await client.put("/v1/articles/a2", json=offset, headers=ADMIN)).json()[
        "published_at"
    ] == "2026-11-27T09:35:00Z"


async def test_imported_views_add_to_the_live_count(client: httpx.AsyncClient) -> None:
    await client.put(
        f"/v1/articles/{ARTICLE}", json={**BODY, "imported_views": 36232}, headers=ADMIN
    )
    await client.post("/v1/views", json={"article": ARTICLE})
    assert await views_of(client, ARTICLE) == 36233
    # Changing the imported figure moves the total by the difference, keeping counted views.
    await client.put(f"/v1/articles/{ARTICLE}", json={**BODY, "imported_views": 100}, headers=ADMIN)
    assert await views_of(client, ARTICLE) == 101
    assert (await client.get(f"/v1/articles/{ARTICLE}")).json()["imported_views"] == 100


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": 5}, "title"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": None}, "url"),
        ({"theme": "Not A Slug"}, "theme"),
        ({"theme": "x" * 65}, "theme"),
        ({"theme": "war:{1}"}, "theme"),
        ({"published_at": "yesterday"}, "published_at"),
        ({"published_at": "2026-11-27T09:35:00"}, "published_at"),
        ({"imported_views": -1}, "imported_views"),
        ({"imported_views": 1.5}, "imported_views"),
        ({"imported_views": True}, "imported_views"),
    ],
)
async def test_invalid_fields_name_the_field(
    client: httpx.AsyncClient, change: dict[str, object], field: str
) -> None:
    response = await client.put(f"/v1/articles/{ARTICLE}", json={**BODY, **change}, headers=ADMIN)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_field"
    assert problem["detail"].startswith(field)
    assert (await client.get(f"/v1/articles/{ARTICLE}")).status_code == 404


async def test_missing_field_and_non_object_bodies(client: httpx.AsyncClient) -> None:
    missing = await client.put(f"/v1/articles/{ARTICLE}", json={"title": "t"}, headers=ADMIN)
    assert missing.status_code == 422 and missing.json()["detail"].startswith("url")
    not_object = await client.put(f"/v1/articles/{ARTICLE}", json=[1], headers=ADMIN)
    assert not_object.status_code == 422 and not_object.json()["code"] == "invalid_field"
    not_json = await client.put(f"/v1/articles/{ARTICLE}", content=b"{", headers=ADMIN)
    assert not_json.status_code == 422 and not_json.json()["code"] == "invalid_field"


async def test_invalid_article_ids(client: httpx.AsyncClient) -> None:
    for path in ("/v1/articles/bad%20id", "/v1/articles/a%3Ab", "/v1/articles/%7Bx%7D/views"):
        response = await client.get(path)
        assert response.status_code == 422, path
        assert response.json()["code"] == "invalid_article_id"
    put = await client.put("/v1/articles/bad%2Aid", json=BODY, headers=ADMIN)
    assert put.status_code == 422 and put.json()["code"] == "invalid_article_id"


async def test_unknown_articles(client: httpx.AsyncClient) -> None:
    for request in (
        client.get("/v1/articles/nope"),
        client.get("/v1/articles/nope/views"),
        client.delete("/v1/articles/nope", headers=ADMIN),
    ):
        response = await request
        assert response.status_code == 404
        assert response.json()["code"] == "unknown_article"


async def test_delete_removes_the_article_and_its_counters(
    client: httpx.AsyncClient, redis: object
) -> None:
    await put_article(client, ARTICLE, imported_views=5)
    await client.post("/v1/views", json={"article": ARTICLE})
    assert (await client.delete(f"/v1/articles/{ARTICLE}", headers=ADMIN)).status_code == 204
    assert (await client.get(f"/v1/articles/{ARTICLE}")).status_code == 404
    assert (await client.post("/v1/views", json={"article": ARTICLE})).status_code == 404
    assert (await client.get("/v1/themes")).json() == {"themes": []}
    # Nothing that names the article is left, but markers that expire on their own.
    leftovers = [key async for key in redis.scan_iter() if ARTICLE in key]  # type: ignore[attr-defined]
    assert leftovers == []
    for key in [k async for k in redis.scan_iter(match="*:b:*")]:  # type: ignore[attr-defined]
        assert await redis.zscore(key, ARTICLE) is None  # type: ignore[attr-defined]
    # Re-created, it starts from zero.
    await put_article(client, ARTICLE)
    assert await views_of(client, ARTICLE) == 0


async def test_many_views(client: httpx.AsyncClient) -> None:
    await put_article(client, "a", imported_views=12)
    await put_article(client, "b")
    response = await client.get("/v1/views", params={"articles": "a,b,c"})
    assert response.status_code == 200
    assert response.json() == {"views": {"a": 12, "b": 0, "c": None}}


@pytest.mark.parametrize("articles", ["", ",", "a,,b", "bad id", ",".join(["a"] * 101)])
async def test_many_views_bad_parameters(client: httpx.AsyncClient, articles: str) -> None:
    response = await client.get("/v1/views", params={"articles": articles})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_parameter"


async def test_many_views_needs_the_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/views")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_parameter"


async def test_themes_count_articles(client: httpx.AsyncClient) -> None:
    await put_article(client, "a", theme="war")
    await put_article(client, "b", theme="war")
    await put_article(client, "c", theme="economy")
    await put_article(client, "b", theme="economy")  # moved
    assert (await client.get("/v1/themes")).json() == {
        "themes": [{"theme": "economy", "articles": 2}, {"theme": "war", "articles": 1}]
    }


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", f"/v1/articles/{ARTICLE}", BODY),
        ("DELETE", f"/v1/articles/{ARTICLE}", None),
        ("POST", "/v1/views/batch", {"events": []}),
        ("POST", "/v1/rollup", None),
    ],
)
async def test_admin_endpoints_refuse_missing_or_wrong_tokens(
    client: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": ADMIN["Authorization"].replace("Bearer", "Basic")},
        {"Authorization": ADMIN["Authorization"] + "x"},
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "unauthorized"
        assert "access-control-allow-origin" not in response.headers


async def test_admin_is_disabled_without_a_token(settings: object) -> None:
    from .support import client_for

    no_token = settings.model_copy(update={"admin_token": None})  # type: ignore[attr-defined]
    async with client_for(no_token) as http:
        response = await http.put(f"/v1/articles/{ARTICLE}", json=BODY, headers=ADMIN)
        assert response.status_code == 403
        assert response.json()["code"] == "admin_disabled"


async def test_many_views_answer_each_of_many_concurrent_readers(client: httpx.AsyncClient) -> None:
    """Concurrent reads share Redis calls and identical reads share an answer; each reader
    still gets exactly the ids it asked for, in its order."""
    for n, article in enumerate(["a", "b", "c"]):
        await put_article(client, article, imported_views=n)
    queries = ["a,b", "b,a", "a,b,missing", "c", "a,b", "c,c", "missing"] * 8
    replies = await asyncio.gather(
        *(client.get("/v1/views", params={"articles": q}) for q in queries)
    )
    known = {"a": 0, "b": 1, "c": 2}
    for query, reply in zip(queries, replies, strict=True):
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/json"
        assert list(reply.json()["views"].items()) == [
            (a, known.get(a)) for a in dict.fromkeys(query.split(","))
        ]


async def coalescer_fetching(
    release: asyncio.Event, fetched: list[list[str]], keys: list[str]
) -> dict[str, int]:
    fetched.append(keys)
    await release.wait()
    return {key: len(fetched) for key in keys}  # which fetch answered


async def test_identical_lookups_share_one_answer_read_after_they_asked() -> None:
    """Lookups of the same keys queued together get one answer; one that comes while an
    identical fetch is in flight waits for the next, so it reads after it asked."""
    release, fetched = asyncio.Event(), list[list[str]]()
    lookups = Coalescer(partial(coalescer_fetching, release, fetched), max_keys=10, max_inflight=1)
    first = asyncio.create_task(lookups.get(("a", "b")))
    await asyncio.sleep(0)  # in flight now
    later = [asyncio.create_task(lookups.get(keys)) for keys in [("a", "b"), ("b",), ("a", "b")]]
    await asyncio.sleep(0)
    release.set()
    assert await first == {"a": 1, "b": 1}
    answers = await asyncio.gather(*later)
    assert answers == [{"a": 2, "b": 2}, {"b": 2}, {"a": 2, "b": 2}]
    assert answers[0] is answers[2]
    assert fetched == [["a", "b"], ["a", "b"]]  # the second, deduplicated


async def test_a_cancelled_lookup_leaves_the_others_sharing_its_answer() -> None:
    release, fetched = asyncio.Event(), list[list[str]]()
    lookups = Coalescer(partial(coalescer_fetching, release, fetched), max_keys=10, max_inflight=1)
    busy = asyncio.create_task(lookups.get(("x",)))
    await asyncio.sleep(0)
    same = [asyncio.create_task(lookups.get(("a",))) for _ in range(3)]
    await asyncio.sleep(0)
    same[1].cancel()
    release.set()
    assert await busy == {"x": 1}
    assert await same[0] == await same[2] == {"a": 2}
    with pytest.raises(asyncio.CancelledError):
        await same[1]


async def test_a_failed_fetch_fails_everyone_waiting_on_it() -> None:
    release, fetched = asyncio.Event(), list[list[str]]()

    async def failing(keys: list[str]) -> dict[str, int]:
        await coalescer_fetching(release, fetched, keys)
        raise ConnectionError("Redis went away")

    lookups = Coalescer(failing, max_keys=10, max_inflight=1)
    waiting = [asyncio.create_task(lookups.get(keys)) for keys in [("a",), ("b",), ("b",)]]
    await asyncio.sleep(0)
    release.set()
    for lookup in waiting:
        with pytest.raises(ConnectionError):
            await lookup
    assert fetched == [["a"]]  # the rest failed with the first rather than wait for their own
