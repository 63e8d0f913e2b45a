"""Hostile input: every parser fed arbitrary bytes answers 2xx or a problem, and counts only
what is valid. Identifiers that would become key parts are refused before any key is built."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import keys
from service.api import create_app
from service.api.front import Front

from .rawasgi import Answer, assert_problem_or_success, call
from .support import ADMIN_TOKEN, BROWSER_UA, RedisProcess, make_settings

KNOWN = ["known-a", "known.b_c~d", "Known-Article-3"]
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BEACON_STATUSES = {202, 400, 404, 413, 415, 422}
ADMIN = [(b"authorization", f"Bearer {ADMIN_TOKEN}".encode())]

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
article_like = st.one_of(
    st.sampled_from([*KNOWN, "not-in-catalog"]),
    text,
    st.text("AZaz09._~-{}:*\n ", min_size=1, max_size=210),
)
field_value = st.one_of(
    article_like,
    st.integers(),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.floats(allow_nan=False),
)
beacon_fields = st.fixed_dictionaries(
    {},
    optional={
        "article": field_value,
        "event_id": st.one_of(text, field_value),
        "visitor": st.one_of(text, field_value),
        "extra": field_value,
    },
)
string_fields = st.fixed_dictionaries(
    {}, optional={"article": article_like, "event_id": text, "visitor": text}
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "text/plain;charset=UTF-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "",
            "multipart/form-data",
            "application/json; charset=utf-16",
            "APPLICATION/JSON",
        ]
    ),
    text,
)
header_bytes = st.binary(max_size=120)


@pytest.fixture
async def app(redis_server: RedisProcess, redis: aioredis.Redis) -> AsyncIterator[Front]:
    """An app on the flushed session Redis (single node: these tests are about parsers)."""
    front = create_app(make_settings(redis_server.url))
    async with front.app.router.lifespan_context(front.app):
        for article in KNOWN:
            answer = await call(
                front,
                "PUT",
                f"/v1/articles/{article}".encode(),
                headers=[*ADMIN, (b"content-type", b"application/json")],
                body=orjson.dumps(
                    {"title": article, "url": f"https://news.example.com/{article}", "theme": "war"}
                ),
            )
            assert answer.status == 201, answer.body
        yield front


async def counts(redis: aioredis.Redis) -> dict[str, float]:
    """Every view and bot-view counter, by article."""
    state: dict[str, float] = {}
    for shard in range(keys.SHARDS):
        for article, score in await redis.zrange(keys.totals(shard), 0, -1, withscores=True):
            state[f"views:{article}"] = score
        for article, bots in (await redis.hgetall(keys.bots(shard))).items():
            state[f"bots:{article}"] = float(bots)
    return state


def assert_counted_only_if_valid(
    answer: Answer, before: dict[str, float], after: dict[str, float]
) -> None:
    changed = {
        k: after.get(k, 0) - before.get(k, 0)
        for k in after.keys() | before.keys()
        if after.get(k, 0) != before.get(k, 0)
    }
    if answer.status == 200 and answer.header("content-type") == "image/gif":
        # The pixel answers the same GIF whether the view counted, was a duplicate or a bot.
        assert changed == {} or list(changed.values()) == [1], changed
        return
    counted = answer.status == 202 and answer.json() == {"counted": True}
    bot = answer.status == 202 and answer.json() == {"counted": False, "reason": "bot"}
    if counted:
        assert len(changed) == 1 and next(iter(changed.values())) == 1, changed
        assert next(iter(changed)).startswith("views:")
    elif bot:
        assert len(changed) == 1 and next(iter(changed)).startswith("bots:"), changed
    else:
        assert changed == {}, (answer.status, answer.body, changed)


def dumps(value: Any) -> bytes:
    """JSON of anything hypothesis draws, big integers included."""
    return json.dumps(value).encode()


def form(fields: dict[str, Any]) -> bytes:
    return urlencode({k: str(v) for k, v in fields.items()}).encode()


beacon_bodies = st.one_of(
    st.binary(max_size=600),
    beacon_fields.map(dumps),
    string_fields.map(form),
    st.binary(min_size=4000, max_size=5000),
)


async def check_beacon_body(
    app: Front, redis: aioredis.Redis, body: bytes, content_type: str, agent: str
) -> None:
    before = await counts(redis)
    answer = await call(
        app,
        "POST",
        b"/v1/views",
        body=body,
        headers=[(b"content-type", content_type.encode()), (b"user-agent", agent.encode())],
    )
    assert_problem_or_success(answer, BEACON_STATUSES)
    assert_counted_only_if_valid(answer, before, await counts(redis))


agents = st.one_of(st.just(BROWSER_UA), text)


@PROPERTY
@given(body=beacon_bodies, content_type=content_types, agent=agents)
async def test_any_beacon_body(
    app: Front, redis: aioredis.Redis, body: bytes, content_type: str, agent: str
) -> None:
    await check_beacon_body(app, redis, body, content_type, agent)


@pytest.mark.soak
@settings(PROPERTY, max_examples=10_000)
@given(body=beacon_bodies, content_type=content_types, agent=agents)
async def test_many_beacon_bodies(
    app: Front, redis: aioredis.Redis, body: bytes, content_type: str, agent: str
) -> None:
    await check_beacon_body(app, redis, body, content_type, agent)


queries = st.one_of(
    st.binary(max_size=300),
    string_fields.map(form),
    st.lists(st.tuples(text, text), max_size=20).map(lambda pairs: urlencode(pairs).encode()),
)


@PROPERTY
@given(query=queries)
async def test_any_pixel_query(app: Front, redis: aioredis.Redis, query: bytes) -> None:
    before = await counts(redis)
    answer = await call(
        app,
        "GET",
        b"/v1/views/pixel.gif",
        query=query,
        headers=[(b"user-agent", BROWSER_UA.encode())],
    )
    assert_problem_or_success(answer, {200, 400, 404, 413, 415, 422})
    if answer.status == 200:
        assert answer.header("content-type") == "image/gif"
    assert_counted_only_if_valid(answer, before, await counts(redis))


@PROPERTY
@given(
    names=st.lists(
        st.sampled_from(
            [
                b"user-agent",
                b"x-forwarded-for",
                b"content-length",
                b"content-type",
                b"origin",
                b"authorization",
                b"if-none-match",
                b"cookie",
                b"host",
                b"referer",
            ]
        ),
        max_size=6,
    ),
    values=st.lists(header_bytes, min_size=6, max_size=6),
    target=st.sampled_from(["beacon", "pixel", "popular", "views", "article"]),
)
async def test_any_header_values(
    app: Front, redis: aioredis.Redis, names: list[bytes], values: list[bytes], target: str
) -> None:
    headers = list(zip(names, values, strict=False))
    before = await counts(redis)
    if target == "beacon":
        answer = await call(
            app, "POST", b"/v1/views", headers=headers, body=orjson.dumps({"article": KNOWN[0]})
        )
    elif target == "pixel":
        answer = await call(
            app,
            "GET",
            b"/v1/views/pixel.gif",
            headers=headers,
            query=f"article={KNOWN[1]}".encode(),
        )
    elif target == "popular":
        answer = await call(app, "GET", b"/v1/popular", headers=headers)
    elif target == "views":
        answer = await call(app, "GET", b"/v1/views", query=b"articles=known-a,x", headers=headers)
    else:
        answer = await call(app, "GET", b"/v1/articles/known-a", headers=headers)
    assert_problem_or_success(answer, {200, 202, 304, 400, 404, 413, 415, 422})
    assert_counted_only_if_valid(answer, before, await counts(redis))


read_paths = st.sampled_from(
    [
        "/v1/views",
        "/v1/popular",
        "/v1/themes/{x}/popular",
        "/v1/articles/{x}/views",
        "/v1/articles/{x}",
        "/v1/articles/{x}/timeseries",
        "/v1/themes",
    ]
)


@PROPERTY
@given(template=read_paths, segment=st.one_of(article_like, text), query=queries)
async def test_any_read_query(
    app: Front, redis: aioredis.Redis, template: str, segment: str, query: bytes
) -> None:
    before = await counts(redis)
    raw_path = template.replace("{x}", quote(segment, safe="")).encode()
    answer = await call(app, "GET", raw_path, query=query)
    assert_problem_or_success(answer, {200, 304, 307, 404, 422})
    assert await counts(redis) == before


article_bodies = st.one_of(
    st.binary(max_size=400),
    st.fixed_dictionaries(
        {},
        optional={
            "title": st.one_of(text, field_value),
            "url": st.one_of(text, st.sampled_from(["https://x.example/a", "ftp://x", "http://"])),
            "theme": st.one_of(st.text("az09-{}:*\n", max_size=70), field_value),
            "published_at": st.one_of(text, field_value, st.just("2026-11-27T09:35:00Z")),
            "imported_views": st.one_of(st.integers(), field_value),
        },
    ).map(dumps),
)


@PROPERTY
@given(
    segment=article_like,
    body=article_bodies,
    length=st.one_of(
        st.none(), st.sampled_from(["\xb2", "-1", "1e3", " 5", "99999999999999999999"])
    ),
)
async def test_any_article_put(
    app: Front, redis: aioredis.Redis, segment: str, body: bytes, length: str | None
) -> None:
    headers = [*ADMIN, (b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", length.encode("latin-1")))
    answer = await call(
        app, "PUT", f"/v1/articles/{quote(segment, safe='')}".encode(), headers=headers, body=body
    )
    assert_problem_or_success(answer, {200, 201, 307, 400, 404, 405, 413, 422})


batch_events = st.lists(
    st.one_of(
        beacon_fields,
        st.fixed_dictionaries(
            {"article": st.sampled_from(KNOWN)},
            optional={"at": st.one_of(text, field_value), "event_id": text, "visitor": text},
        ),
        field_value,
    ),
    max_size=20,
)


@PROPERTY
@given(
    events=st.one_of(batch_events, field_value), raw=st.one_of(st.none(), st.binary(max_size=200))
)
async def test_any_batch(app: Front, redis: aioredis.Redis, events: Any, raw: bytes | None) -> None:
    before = await counts(redis)
    body = raw if raw is not None else dumps({"events": events})
    answer = await call(
        app,
        "POST",
        b"/v1/views/batch",
        body=body,
        headers=[*ADMIN, (b"content-type", b"application/json")],
    )
    assert_problem_or_success(answer, {200, 400, 413, 422})
    after = await counts(redis)
    added = sum(after.values()) - sum(before.values())
    assert added == (answer.json()["counted"] if answer.status == 200 else 0)


# --- key injection ----------------------------------------------------------------------------
MARKER = "zqinject"
KEY_SYNTAX = ["{", "}", ":", "*", "\n", "\r", " ", "\x00", "?", "[", "]", "%", "\\", "é", "\t"]


async def dump_all(url: str) -> dict[bytes, bytes]:
    """DUMP of every key but the salt, for before/after comparisons."""
    raw = aioredis.Redis.from_url(url)
    try:
        # The daily salt is made on first use, by any request: not user data.
        return {
            key: await raw.dump(key)
            async for key in raw.scan_iter(count=1000)
            if b"{salt}" not in key
        }
    finally:
        await raw.aclose()


async def hostile_requests(app: Front, bad: str, char: str) -> list[tuple[Answer, int, str]]:
    """Every way an id or theme reaches the service; (answer, status, code) expected."""
    q = quote(bad, safe="").encode()
    json_headers = [(b"content-type", b"application/json")]
    admin_json = [*ADMIN, *json_headers]
    article = {"title": "t", "url": "https://news.example.com/a"}
    checks = [
        (
            await call(
                app, "POST", b"/v1/views", headers=json_headers, body=orjson.dumps({"article": bad})
            ),
            422,
            "invalid_article_id",
        ),
        (
            await call(
                app,
                "POST",
                b"/v1/views",
                body=form({"article": bad}),
                headers=[(b"content-type", b"application/x-www-form-urlencoded")],
            ),
            422,
            "invalid_article_id",
        ),
        (
            await call(app, "GET", b"/v1/views/pixel.gif", query=b"article=" + q),
            422,
            "invalid_article_id",
        ),
        (
            await call(app, "GET", b"/v1/views", query=b"articles=known-a," + q),
            422,
            "invalid_parameter",
        ),
        (await call(app, "GET", b"/v1/themes/" + q + b"/popular"), 422, "invalid_parameter"),
        (
            await call(
                app,
                "PUT",
                b"/v1/articles/known-a",
                headers=admin_json,
                body=orjson.dumps({**article, "theme": bad}),
            ),
            422,
            "invalid_field",
        ),
    ]
    for method, suffix in (
        ("GET", b""),
        ("GET", b"/views"),
        ("GET", b"/timeseries"),
        ("PUT", b""),
        ("DELETE", b""),
    ):
        checks.append(
            (
                await call(
                    app,
                    method,
                    b"/v1/articles/" + q + suffix,
                    headers=admin_json,
                    body=orjson.dumps({**article, "theme": "war"}),
                ),
                422,
                "invalid_article_id",
            )
        )
    batch = await call(
        app,
        "POST",
        b"/v1/views/batch",
        headers=admin_json,
        body=orjson.dumps({"events": [{"article": bad}]}),
    )
    assert batch.json()["rejected"] == [{"index": 0, "code": "invalid_article_id"}], char
    return checks


async def watch(url: str, seen: list[str], ready: asyncio.Event) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        async with client.monitor() as monitor:
            ready.set()
            while True:
                command = (await monitor.next_command())["command"]
                seen.append(command)
                if command == "ECHO monitor-end":
                    return
    finally:
        await client.aclose()


async def test_key_syntax_in_ids_and_themes_is_refused_before_any_key(
    app: Front, redis: aioredis.Redis, redis_server: RedisProcess
) -> None:
    """`{ } : * newline ...` in ids and themes: 422 everywhere, nothing written, and the text
    never reaches Redis in any command."""
    before = await dump_all(redis_server.url)
    seen: list[str] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch(redis_server.url, seen, ready))
    await ready.wait()
    for char in KEY_SYNTAX:
        for bad in (f"{MARKER}{char}x", f"{char}{MARKER}", f"{MARKER}-{char * 3}"):
            for answer, status, code in await hostile_requests(app, bad, char):
                assert (answer.status, answer.json()["code"]) == (status, code), (bad, answer)
    await redis.echo("monitor-end")
    await asyncio.wait_for(watcher, 10)
    assert len(seen) > 1
    assert not [command for command in seen if MARKER in command]
    assert await dump_all(redis_server.url) == before
