"""POST /v1/views/batch: partial rejection, event-id dedupe, times, limits."""

from __future__ import annotations

import httpx

from service.clock import ManualClock, rfc3339
from service.settings import Settings

from .conftest import T0
from .support import ADMIN, client_for, put_article, views_of


async def test_partial_rejection(client: httpx.AsyncClient) -> None:
    await put_article(client, "a")
    await put_article(client, "b")
    events = [
        {"article": "a"},
        {"article": "b", "visitor": "v1"},
        {"article": "bad id"},
        {"article": "missing"},
        {"visitor": "v2"},
        {"article": "a", "at": "not a time"},
        {"article": "a", "at": rfc3339(T0 + 3600)},
        {"article": "a", "at": rfc3339(T0 - 31 * 86400)},
        {"article": "a", "at": rfc3339(T0 - 29 * 86400)},
        "not an object",
        {"article": "a", "event_id": 5},
        {"article": "a", "event_id": "e1"},
        {"article": "a", "event_id": "e1"},
        {"article": "a"},  # no event id, no dedupe: a server log line is a view
    ]
    response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    assert response.status_code == 200
    assert response.json() == {
        "counted": 5,
        "duplicates": 1,
        "bots": 0,
        "automated": 0,
        "rejected": [
            {"index": 2, "code": "invalid_article_id"},
            {"index": 3, "code": "unknown_article"},
            {"index": 4, "code": "invalid_body"},
            {"index": 5, "code": "invalid_time"},
            {"index": 6, "code": "invalid_time"},
            {"index": 7, "code": "invalid_time"},
            {"index": 9, "code": "invalid_body"},
            {"index": 10, "code": "invalid_body"},
        ],
    }
    assert await views_of(client, "a") == 4
    assert await views_of(client, "b") == 1


async def test_event_ids_dedupe_across_batches(client: httpx.AsyncClient) -> None:
    await put_article(client, "a")
    body = {"events": [{"article": "a", "event_id": f"log-{n}"} for n in range(50)]}
    first = await client.post("/v1/views/batch", json=body, headers=ADMIN)
    again = await client.post("/v1/views/batch", json=body, headers=ADMIN)
    assert first.json()["counted"] == 50
    assert again.json() == {
        "counted": 0,
        "duplicates": 50,
        "bots": 0,
        "automated": 0,
        "rejected": [],
    }
    assert await views_of(client, "a") == 50


async def test_outcomes_keep_their_events_order_over_many_chunks(settings: Settings) -> None:
    """Events are written article by article in chunks; each outcome still lands on its own
    event: unknown articles scattered through the batch are rejected at their own indexes, and
    each (article, event id) counts once however its repeats fall into chunks."""
    small = settings.model_copy(update={"commit_max_batch": 7})
    async with client_for(small, ManualClock(T0)) as http:
        for article in ("a", "b", "c"):
            await put_article(http, article)
        events: list[dict[str, str]] = []
        unknown: list[int] = []
        for n in range(60):
            if n % 7 == 3:
                unknown.append(len(events))
                events.append({"article": f"gone-{n}"})
            else:
                events.append({"article": "abc"[n % 3], "event_id": f"e-{n % 40}"})
        response = await http.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["rejected"] == [{"index": i, "code": "unknown_article"} for i in unknown]
        distinct = {(e["article"], e["event_id"]) for e in events if "event_id" in e}
        assert body["counted"] == len(distinct)
        assert body["duplicates"] == 60 - len(unknown) - len(distinct)
        assert sum([await views_of(http, a) for a in "abc"]) == len(distinct)


async def test_batch_is_not_bot_filtered(client: httpx.AsyncClient) -> None:
    await put_article(client, "a")
    response = await client.post(
        "/v1/views/batch",
        json={"events": [{"article": "a"}]},
        headers={**ADMIN, "User-Agent": "Googlebot/2.1"},
    )
    assert response.json()["counted"] == 1


async def test_visitors_feed_unique_readers(client: httpx.AsyncClient) -> None:
    await put_article(client, "a")
    events = [{"article": "a", "visitor": f"v{n % 7}"} for n in range(70)]
    await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    counts = (await client.get("/v1/articles/a/views")).json()
    assert counts["views"] == 70
    assert counts["readers_today"] == 7


async def test_a_full_batch_of_ten_thousand(client: httpx.AsyncClient) -> None:
    for n in range(20):
        await put_article(client, f"art-{n}")
    events = [{"article": f"art-{n % 20}"} for n in range(10_000)]
    response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
    assert response.json() == {
        "counted": 10_000,
        "duplicates": 0,
        "bots": 0,
        "automated": 0,
        "rejected": [],
    }
    totals = (
        await client.get("/v1/views", params={"articles": ",".join(f"art-{n}" for n in range(20))})
    ).json()["views"]
    assert sum(totals.values()) == 10_000


async def test_too_many_events(redis_server: object, settings: Settings) -> None:
    small = settings.model_copy(update={"batch_max_events": 3})
    async with client_for(small, ManualClock(T0)) as http:
        await put_article(http, "a")
        response = await http.post(
            "/v1/views/batch", json={"events": [{"article": "a"}] * 4}, headers=ADMIN
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert await views_of(http, "a") == 0


async def test_bad_batch_bodies(client: httpx.AsyncClient) -> None:
    for body in (b"{", b"7", b'{"events": {}}', b'{"no": 1}'):
        response = await client.post(
            "/v1/views/batch", content=body, headers={**ADMIN, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert response.json()["code"] == "invalid_body"
