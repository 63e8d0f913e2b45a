"""GET /v1/export/articles: every catalog article's row, as CSV (parsed back with Python's csv)
and NDJSON, streamed in constant memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from typing import Any

import httpx
import orjson
import pytest

from service import export
from service.scripts import put_article as put_script
from service.settings import Settings
from service.storage import connect
from service.windows import W24H

from .support import ADMIN, client_for, free_port, make_settings, put_article

TITLES = {
    "comma": "Peace talks, day two: Baku, Yerevan",
    "quotes": 'He said "no" — and then "yes"',
    "newline": "First line\nsecond line\r\nthird, with a comma",
    "cyrillic": "Зеленський: «Україна вистоїть», — заява",
    "all-of-it": '"Кома, лапки" і\nновий рядок',
}
PATH = "/v1/export/articles"


async def beacon(client: httpx.AsyncClient, article: str, user_agent: str) -> str:
    response = await client.post(
        "/v1/views", json={"article": article}, headers={"User-Agent": user_agent}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    return "counted" if body["counted"] else str(body["reason"])


async def catalog_rows(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """What the export should say, from GET /v1/articles/{id} (views are live totals)."""
    expected = {}
    for article in TITLES:
        entry = (await client.get(f"/v1/articles/{article}")).json()
        expected[article] = {column: entry.get(column) for column in export.COLUMNS}
    return expected


async def fill(client: httpx.AsyncClient) -> None:
    for n, (article, title) in enumerate(TITLES.items()):
        published = None if article == "comma" else f"2026-11-2{n}T09:35:00Z"
        author = {"author": "olena-kovalenko", "author_name": "Олена Коваленко"} if n % 2 else {}
        await put_article(
            client, article, theme="war" if n % 2 else "economy", title=title,
            published_at=published, imported_views=100 * n, **author,
        )  # fmt: skip
        events = [{"article": article, "visitor": f"v{m}"} for m in range(n + 1)]
        response = await client.post("/v1/views/batch", json={"events": events}, headers=ADMIN)
        assert response.json()["counted"] == n + 1
    assert await beacon(client, "quotes", "curl/8.5.0") == "bot"
    assert await beacon(client, "cyrillic", "Mozilla/5.0 X") == "automated"
    assert (await client.post("/v1/rollup", headers=ADMIN)).status_code == 200
    # Counted after the rollup: in the live totals, not yet in window_views.
    late = {"events": [{"article": "newline", "visitor": "late"}]}
    assert (await client.post("/v1/views/batch", json=late, headers=ADMIN)).status_code == 200


async def test_csv_rows_match_the_catalog(client: httpx.AsyncClient) -> None:
    await fill(client)
    response = await client.get(PATH, params={"format": "csv", "window": "24h"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline=""))
    assert tuple(reader.fieldnames or ()) == export.COLUMNS
    got = {row["article"]: row for row in reader}
    expected = await catalog_rows(client)
    assert set(got) == set(TITLES)
    for article, want in expected.items():
        row = got[article]
        assert row["title"] == TITLES[article]  # commas, quotes, line breaks, Cyrillic intact
        for column in ("url", "theme", "author", "published_at"):
            assert row[column] == (want[column] or ""), (article, column)
        for column in ("views", "bot_views", "automated_views"):
            assert int(row[column]) == want[column], (article, column)
    authored = {article for article, row in got.items() if row["author"] == "olena-kovalenko"}
    assert authored == {"quotes", "cyrillic"}
    windowed = {article: int(row["window_views"]) for article, row in got.items()}
    assert windowed == {"comma": 1, "quotes": 2, "newline": 3, "cyrillic": 4, "all-of-it": 5}
    assert int(got["newline"]["views"]) == 200 + 3 + 1  # imported, merged, and the late one
    assert (int(got["quotes"]["bot_views"]), int(got["cyrillic"]["automated_views"])) == (1, 1)


async def test_ndjson_parses_back(client: httpx.AsyncClient) -> None:
    await fill(client)
    response = await client.get(PATH, params={"format": "ndjson", "window": "all"}, headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.content.split(b"\n")
    assert lines[-1] == b""  # every row ends with a line break
    rows = {row["article"]: row for row in map(orjson.loads, lines[:-1])}
    expected = await catalog_rows(client)
    for article, row in rows.items():
        assert tuple(row) == export.COLUMNS
        assert {c: row[c] for c in export.COLUMNS if c != "window_views"} == {
            c: v for c, v in expected[article].items() if c != "window_views"
        }
    assert set(rows) == set(TITLES)
    # `all`: the totals as the rollup saw them (the late view came after it).
    assert rows["newline"]["window_views"] == rows["newline"]["views"]


async def test_the_export_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(PATH)).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    response = await client.get(PATH, headers=bad)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_without_a_token_the_export_is_disabled(settings: Settings) -> None:
    closed = make_settings(
        str(settings.redis_url), redis_cluster=settings.redis_cluster, admin_token=None
    )
    async with client_for(closed) as client:
        response = await client.get(PATH, headers=ADMIN)
        assert response.status_code == 403 and response.json()["code"] == "admin_disabled"


@pytest.mark.parametrize(
    "params",
    [{"format": "xml"}, {"format": "CSV"}, {"format": ""}, {"window": "2h"}, {"window": ""}],
)
async def test_bad_parameters_are_problems(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(PATH, params=params, headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_parameter"


async def test_an_empty_catalog_exports_a_header_only(client: httpx.AsyncClient) -> None:
    response = await client.get(PATH, headers=ADMIN)
    assert response.status_code == 200
    assert response.content == b",".join(c.encode() for c in export.COLUMNS) + b"\r\n"
    response = await client.get(PATH, params={"format": "ndjson"}, headers=ADMIN)
    assert response.status_code == 200 and response.content == b""


async def _peak_bytes(settings: Settings, fmt: str) -> tuple[int, int, int]:
    """Rows, bytes and the peak traced memory of one streamed export, read chunk by chunk
    as the HTTP route sends it (nothing kept)."""
    storage = connect(settings)
    try:
        tracemalloc.start()
        tracemalloc.reset_peak()
        first, rest = await export.encoded(storage, W24H, fmt, settings.export_batch)
        size, lines = len(first), first.count(b"\n")
        del first
        async for chunk in rest:
            size += len(chunk)
            lines += chunk.count(b"\n")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        await storage.close()
    return lines, size, peak


@pytest.mark.single_node
async def test_a_100k_catalog_exports_in_constant_memory(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The peak memory of the streamed export does not grow with the catalog: 10,000
    articles and 100,000 peak alike, far below the export's size."""

    async def grow(start: int, stop: int) -> None:
        storage = connect(settings)
        try:
            for base in range(start, stop, 2000):
                calls = [
                    put_script.call(
                        f"bulk-{n:06d}", f"Заголовок {n}, \"новина\"", f"https://news.example.com/{n}",
                        "war", None, n,
                    )
                    for n in range(base, min(base + 2000, stop))
                ]  # fmt: skip
                await storage.run_all(calls)
        finally:
            await storage.close()

    await grow(0, 10_000)
    small_rows, small_size, small_peak = await _peak_bytes(settings, "csv")
    await grow(10_000, 100_000)
    rows, size, peak = await _peak_bytes(settings, "csv")
    assert (small_rows, rows) == (10_001, 100_001)  # with the CSV's header line
    print(f"export peak: {small_peak} B for 10k articles, {peak} B for 100k ({size} B of CSV)")
    assert size > 9 * small_size
    # Bounded by a batch (VIEWCOUNT_EXPORT_BATCH), not by the catalog.
    assert peak < 2 * small_peak + 512 * 1024, (small_peak, peak)
    assert peak < size / 5, (peak, size)


@pytest.mark.single_node
async def test_redis_down_before_the_first_row_is_a_problem(settings: Settings) -> None:
    """Nothing was sent yet: the export answers 503 storage_unavailable, not a cut body."""
    nowhere = make_settings(
        f"redis://127.0.0.1:{free_port()}/0", redis_retry_s=0, redis_timeout_s=0.5
    )
    async with client_for(nowhere) as client:
        response = await client.get(PATH, headers=ADMIN)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "storage_unavailable"
