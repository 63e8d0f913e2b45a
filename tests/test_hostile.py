"""Hostile input: every parser fed arbitrary bytes answers 2xx or a problem, and counts only
what is valid. Identifiers that would become key parts are refused before any key is built.
Values reach the limits: headers up to the 16 KiB head limit, bodies around 4 KiB, integer
parameters of 10,000 digits or Unicode digits. (tests/test_hostile_live.py sends the worst of
them to a real server.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import keys
from service.api import create_app
from service.api.articles import MAX_IDS
from service.api.front import Front
from service.api.rankings import MAX_LIMIT
from service.locale import LANGS, resolve_lang
from service.settings import Settings
from service.validate import is_article_id, is_theme
from service.windows import WINDOWS_BY_NAME

from .rawasgi import Answer, assert_problem_or_success, call
from .support import ADMIN_TOKEN, BROWSER_UA, RedisProcess, make_settings

KNOWN = ["known-a", "known.b_c~d", "Known-Article-3"]
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Soak variants (`make soak`): the same properties, many more examples.
SOAK = settings(PROPERTY, max_examples=5_000)
SOAK_TIMEOUT_S = 1800
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


# The test peer and the hops of long X-Forwarded-For lists are trusted proxies: the service
# walks every hop of those lists.
TRUSTED = "203.0.113.0/24,10.0.0.0/8,fd00::/8"


@pytest.fixture
async def app(redis_server: RedisProcess, redis: aioredis.Redis) -> AsyncIterator[Front]:
    """An app on the flushed session Redis (single node: these tests are about parsers)."""
    front = create_app(make_settings(redis_server.url, trusted_proxies=TRUSTED))
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
    """Every view, bot-view and automated-view counter, by article."""
    state: dict[str, float] = {}
    for shard in range(keys.SHARDS):
        for article, score in await redis.zrange(keys.totals(shard), 0, -1, withscores=True):
            state[f"views:{article}"] = score
        for article, bots in (await redis.hgetall(keys.bots(shard))).items():
            state[f"bots:{article}"] = float(bots)
        for article, automated in (await redis.hgetall(keys.automated(shard))).items():
            state[f"automated:{article}"] = float(automated)
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
    reply = answer.json() if answer.status == 202 else None
    apart = {"bot": "bots:", "automated": "automated:"}  # counted apart, never in views
    if reply == {"counted": True}:
        assert len(changed) == 1 and next(iter(changed.values())) == 1, changed
        assert next(iter(changed)).startswith("views:")
    elif reply is not None and reply.get("reason") in apart:
        assert list(changed.values()) == [1], (reply, changed)
        assert next(iter(changed)).startswith(apart[reply["reason"]]), (reply, changed)
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
@pytest.mark.timeout(SOAK_TIMEOUT_S)
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
        "/v1/popular.html",
        "/v1/themes/{x}/popular",
        "/v1/articles/{x}/views",
        "/v1/articles/{x}",
        "/v1/articles/{x}/timeseries",
        "/v1/timeseries",
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


# --- at the limits ----------------------------------------------------------------------------
DEFAULTS = Settings.model_fields
MAX_HEADER_BYTES = DEFAULTS["max_header_bytes"].default  # a real server refuses a longer head
MAX_BODY_BYTES = DEFAULTS["max_body_bytes"].default
MAX_AGENT_CHARS = DEFAULTS["max_user_agent_chars"].default
BATCH_MAX_BODY_BYTES = DEFAULTS["batch_max_body_bytes"].default
LONGEST_VALUE = MAX_HEADER_BYTES - 384  # one header value that still fits in a head
LONGEST_DIGITS = 10_000  # past int()'s 4,300-digit limit


def near(*limits: int) -> st.SearchStrategy[int]:
    """Lengths on either side of each limit."""
    return st.sampled_from(sorted({n + d for n in limits for d in (-1, 0, 1) if n + d >= 0}))


def up_to(longest: int, *limits: int) -> st.SearchStrategy[int]:
    """Any length to ``longest``, often right at a limit (or at ``longest``)."""
    return st.one_of(st.integers(0, longest), near(longest, *limits))


def exactly(length: int, head: str, unit: str) -> str:
    """``length`` characters: ``head``, then ``unit`` repeated (drawn cheaply at any size)."""
    return (head + unit * (length // max(1, len(unit)) + 1))[:length]


units = st.one_of(
    st.sampled_from([" ", "a", "é", "Ж", "😀", "bot ", "Mozilla/5.0 ", "(", ";", ",", "\t", "\\"]),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8),
)


def long_text(*heads: str, longest: int = LONGEST_VALUE) -> st.SearchStrategy[str]:
    return st.builds(exactly, up_to(longest, MAX_AGENT_CHARS), st.sampled_from(heads), units)


long_agents = st.builds(
    exactly,
    up_to(LONGEST_VALUE, MAX_AGENT_CHARS, MAX_BODY_BYTES),
    st.sampled_from(
        [BROWSER_UA, "Googlebot/2.1 (+http://www.google.com/bot.html) ", "curl/8.5.0 ", ""]
    ),
    units,
)
hops = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(
        ["10.1.2.3", "203.0.113.9", "fd00::1", "unknown", "", " ", "fe80::1%eth0", "10.1.2.3:80"]
    ),
    text,
)
forwarded_lists = st.builds(
    lambda hops, length: exactly(length, "", ", ".join(hops) + ", "),
    st.lists(hops, min_size=1, max_size=6),
    up_to(LONGEST_VALUE),
)
long_headers = st.fixed_dictionaries(
    {},
    optional={
        b"user-agent": st.one_of(st.just(BROWSER_UA), long_agents),
        b"x-forwarded-for": forwarded_lists,
        b"referer": long_text("https://news.example.com/", ""),
        b"accept-language": long_text("uk-UA,uk;q=0.9,", "en", ""),
        b"if-none-match": long_text('"1.0", ', 'W/"', ""),
        b"origin": long_text("https://", ""),
        b"cookie": long_text("a=", ""),
    },
)
header_targets = st.sampled_from(
    ["beacon", "pixel", "popular", "popular.html", "theme", "views", "article", "counts"]
)


async def check_long_headers(
    app: Front, redis: aioredis.Redis, values: dict[bytes, str], target: str
) -> None:
    headers = [(name, value.encode()) for name, value in values.items()]
    before = await counts(redis)
    if target == "beacon":
        body = orjson.dumps({"article": KNOWN[0]})
        headers.append((b"content-type", b"application/json"))
        answer = await call(app, "POST", b"/v1/views", headers=headers, body=body)
    elif target == "pixel":
        answer = await call(
            app,
            "GET",
            b"/v1/views/pixel.gif",
            headers=headers,
            query=f"article={KNOWN[1]}".encode(),
        )
    else:
        path, query = {
            "popular": (b"/v1/popular", b"limit=5"),
            "popular.html": (b"/v1/popular.html", b"limit=5&lang=uk"),
            "theme": (b"/v1/themes/war/popular", b""),
            "views": (b"/v1/views", b"articles=known-a,x"),
            "article": (b"/v1/articles/known-a", b""),
            "counts": (b"/v1/articles/known-a/views", b""),
        }[target]
        answer = await call(app, "GET", path, query=query, headers=headers)
        assert answer.status in (200, 304), (answer.status, answer.body)
    assert_problem_or_success(answer, {200, 202, 304})
    assert_counted_only_if_valid(answer, before, await counts(redis))
    agent = values.get(b"user-agent", "").encode()
    if target == "beacon" and len(agent) > MAX_AGENT_CHARS:
        assert answer.json() == {"counted": False, "reason": "automated"}, len(agent)


@PROPERTY
@given(values=long_headers, target=header_targets)
async def test_header_values_up_to_the_head_limit(
    app: Front, redis: aioredis.Redis, values: dict[bytes, str], target: str
) -> None:
    """User-Agents, X-Forwarded-For lists and other values of up to ~16 KB (what fits in the
    head a real server accepts): answered as usual; a User-Agent over 512 bytes is automated."""
    await check_long_headers(app, redis, values, target)


@pytest.mark.soak
@pytest.mark.timeout(SOAK_TIMEOUT_S)
@SOAK
@given(values=long_headers, target=header_targets)
async def test_many_header_values_up_to_the_head_limit(
    app: Front, redis: aioredis.Redis, values: dict[bytes, str], target: str
) -> None:
    await check_long_headers(app, redis, values, target)


def padded_beacon(size: int, fields: dict[str, str], as_form: bool) -> bytes:
    """A beacon body of ``size`` bytes (or the least its fields take), padded by a field."""
    encode = form if as_form else dumps
    base = len(encode({**fields, "pad": ""}))
    return encode({**fields, "pad": "x" * max(0, size - base)})


@PROPERTY
@given(
    size=st.one_of(near(MAX_BODY_BYTES), st.integers(MAX_BODY_BYTES - 300, MAX_BODY_BYTES + 300)),
    article=st.sampled_from([*KNOWN, "not-in-catalog"]),
    event_id=st.one_of(st.none(), st.builds(exactly, near(64), st.just(""), units)),
    visitor=st.one_of(st.none(), st.builds(exactly, near(128), st.just(""), units)),
    as_form=st.booleans(),
)
async def test_beacon_bodies_around_the_body_limit(
    app: Front,
    redis: aioredis.Redis,
    size: int,
    article: str,
    event_id: str | None,
    visitor: str | None,
    as_form: bool,
) -> None:
    """Valid beacons of about 4 KiB: counted up to the limit, 413 past it; fields at their
    length limits."""
    fields = {"article": article}
    fields |= {"event_id": event_id} if event_id is not None else {}
    fields |= {"visitor": visitor} if visitor is not None else {}
    body = padded_beacon(size, fields, as_form)
    media = b"application/x-www-form-urlencoded" if as_form else b"application/json"
    before = await counts(redis)
    answer = await call(
        app,
        "POST",
        b"/v1/views",
        body=body,
        headers=[(b"content-type", media), (b"user-agent", BROWSER_UA.encode())],
    )
    assert_problem_or_success(answer, BEACON_STATUSES)
    assert_counted_only_if_valid(answer, before, await counts(redis))
    too_long = (event_id is not None and len(event_id) > 64) or (
        visitor is not None and len(visitor) > 128
    )
    if len(body) > MAX_BODY_BYTES:
        expected = (413, "payload_too_large")
    elif too_long:
        expected = (400, "invalid_body")
    elif article not in KNOWN:
        expected = (404, "unknown_article")
    else:
        assert answer.status == 202, answer.body
        return
    assert (answer.status, answer.json()["code"]) == expected, (len(body), answer.body)


# Unicode digits that str.isdigit() takes (superscript two, Arabic-Indic three, full-width ten,
# mathematical nine, Devanagari five, circled one) and other near-integers.
ODD_NUMBERS = [
    *("\u00b2", "\u0663", "\uff11\uff10", "\u0663\u0660", "\U0001d7d7", "\u096b", "\u2460"),
    *(
        "+5",
        "-1",
        " 5",
        "5 ",
        "1e2",
        "0x10",
        "5.0",
        "",
        "1_0",
        "10\x00",
        "0",
        "00010",
        "100",
        "101",
    ),
]
integer_texts = st.one_of(
    st.integers(-5, 150).map(str),
    st.text("0123456789", min_size=1, max_size=24),
    st.builds(
        lambda digit, n: digit * n,
        st.sampled_from("0123456789"),
        up_to(LONGEST_DIGITS, 3, 18, 19, 4300, 4301),
    ),
    st.builds(lambda n: "0" * n + "5", up_to(LONGEST_DIGITS, 2, 3, 18)),
    st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=12),
    st.sampled_from(ODD_NUMBERS),
)


def limit_verdict(value: str) -> bool | None:
    """True for a limit the contract takes (1-100), False for one it refuses, None for a
    zero-padded one such as "007" (the contract does not say)."""
    if not (value.isascii() and value.isdigit()):
        return False
    significant = value.lstrip("0")  # no int() of 10,000 digits
    if len(significant) > 3 or not 1 <= int(significant or "0") <= MAX_LIMIT:
        return False
    return True if significant == value else None


def query_of(params: dict[str, str], percent: bool) -> bytes:
    """Percent-encoded, as a browser sends it, or raw UTF-8, as a raw client may."""
    if percent:
        return urlencode(params, quote_via=quote).encode()
    return "&".join(f"{k}={v}" for k, v in params.items()).encode()


def parameters(query: bytes) -> dict[str, str]:
    """The query as the service reads it (Starlette: latin-1, then percent-decoding)."""
    return dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))


ranking_params = st.fixed_dictionaries(
    {},
    optional={
        "window": st.one_of(st.sampled_from([*WINDOWS_BY_NAME, "24H", "1d", ""]), text),
        "limit": integer_texts,
        "lang": st.one_of(
            st.sampled_from([*LANGS, "en-GB", "UK", "uk_UA", "zz", ""]), text, long_text("en-")
        ),
        "theme": st.one_of(
            st.sampled_from(["war", "economy", "no-such-theme", "War", ""]),
            text,
            long_text("war"),
        ),
    },
)
ranking_paths = st.sampled_from(["/v1/popular", "/v1/themes/war/popular", "/v1/popular.html"])


def ranking_verdict(path: str, params: dict[str, str]) -> bool | None:
    """Whether the contract takes the query, as ``limit_verdict``."""
    if params.get("window", "24h") not in WINDOWS_BY_NAME:
        return False
    if path.endswith(".html"):
        theme = params.get("theme")
        if (theme is not None and not is_theme(theme)) or not resolve_lang(
            params.get("lang", "en")
        ):
            return False
    return limit_verdict(params.get("limit", "10"))


async def check_ranking_query(
    app: Front, redis: aioredis.Redis, path: str, params: dict[str, str], percent: bool
) -> None:
    before = await counts(redis)
    query = query_of(params, percent)
    answer = await call(app, "GET", path.encode(), query=query)
    assert_problem_or_success(answer, {200, 422})
    verdict = ranking_verdict(path, parameters(query))
    if verdict is False:
        assert (answer.status, answer.json()["code"]) == (422, "invalid_parameter"), answer.body
    elif verdict:
        assert answer.status == 200, answer.body
    if answer.status == 200:
        html = path.endswith(".html")
        media = "text/html; charset=utf-8" if html else "application/json"
        assert answer.header("content-type") == media
    assert await counts(redis) == before


@PROPERTY
@given(path=ranking_paths, params=ranking_params, percent=st.booleans())
async def test_any_ranking_query(
    app: Front, redis: aioredis.Redis, path: str, params: dict[str, str], percent: bool
) -> None:
    """window, limit, lang and theme on the three ranking reads (popular.html included):
    limits of 10,000 digits or Unicode digits ("²", "٣", full-width) are 422 invalid_parameter
    problem documents, as is every other refused value."""
    await check_ranking_query(app, redis, path, params, percent)


@pytest.mark.soak
@pytest.mark.timeout(SOAK_TIMEOUT_S)
@SOAK
@given(path=ranking_paths, params=ranking_params, percent=st.booleans())
async def test_many_ranking_queries(
    app: Front, redis: aioredis.Redis, path: str, params: dict[str, str], percent: bool
) -> None:
    await check_ranking_query(app, redis, path, params, percent)


LENGTH_TARGETS = {  # path, method, body, declared length the target refuses past
    "beacon": ("POST", b"/v1/views", orjson.dumps({"article": KNOWN[0]}), MAX_BODY_BYTES),
    "article": (
        "PUT",
        b"/v1/articles/known-a",
        orjson.dumps({"title": "t", "url": "https://news.example.com/a", "theme": "war"}),
        16 * 1024,
    ),
    "batch": (
        "POST",
        b"/v1/views/batch",
        orjson.dumps({"events": [{"article": KNOWN[0]}]}),
        BATCH_MAX_BODY_BYTES,
    ),
}


@PROPERTY
@given(declared=integer_texts, target=st.sampled_from(sorted(LENGTH_TARGETS)))
async def test_any_content_length(
    app: Front, redis: aioredis.Redis, declared: str, target: str
) -> None:
    """A Content-Length of any digits: past the target's limit it is 413 payload_too_large at
    once; one that is no plain number (10,000 digits, "²") is ignored, as the body read is
    bounded anyway (a real server refuses it before the app)."""
    method, path, body, limit = LENGTH_TARGETS[target]
    headers = [
        *ADMIN,
        (b"content-type", b"application/json"),
        (b"user-agent", BROWSER_UA.encode()),
        (b"content-length", declared.encode()),
    ]
    before = await counts(redis)
    answer = await call(app, method, path, headers=headers, body=body)
    assert_problem_or_success(answer, {200, 202, 413})
    plain = declared.isascii() and declared.isdigit() and len(declared) <= 18
    if plain and int(declared) > limit:
        assert (answer.status, answer.json()["code"]) == (413, "payload_too_large")
        assert await counts(redis) == before
    else:
        assert answer.status == (202 if target == "beacon" else 200), answer.body
    if target == "beacon":
        assert_counted_only_if_valid(answer, before, await counts(redis))


long_ids = st.builds(exactly, near(200), st.just("a"), st.sampled_from(["a", "-", "é", "{", ":"]))
id_lists = st.one_of(
    st.lists(
        st.one_of(st.sampled_from([*KNOWN, "not-in-catalog"]), long_ids, article_like),
        min_size=0,
        max_size=MAX_IDS + 30,
    ).map(",".join),
    st.builds(
        lambda ids, n: ",".join(ids * n), st.lists(long_ids, min_size=1, max_size=3), near(50, 100)
    ),
    long_text("known-a,", "", longest=LONGEST_VALUE),
)


@PROPERTY
@given(ids=st.one_of(st.none(), id_lists), percent=st.booleans())
async def test_any_id_list(
    app: Front, redis: aioredis.Redis, ids: str | None, percent: bool
) -> None:
    """GET /v1/views?articles=: 1-100 valid ids answer 200, anything else 422."""
    query = query_of({} if ids is None else {"articles": ids}, percent)
    answer = await call(app, "GET", b"/v1/views", query=query)
    assert_problem_or_success(answer, {200, 422})
    asked = parameters(query).get("articles")
    wanted = None if asked is None else asked.split(",")
    if wanted is not None and len(wanted) <= MAX_IDS and all(map(is_article_id, wanted)):
        assert answer.status == 200, answer.body
        views = answer.json()["views"]
        assert set(views) == set(wanted)
        assert all((views[i] is None) == (i not in KNOWN) for i in wanted), views
    else:
        assert (answer.status, answer.json()["code"]) == (422, "invalid_parameter")


ARTICLE_READS = ["", "/views", "/timeseries"]


@PROPERTY
@given(
    segment=st.one_of(article_like, long_ids, long_text("known-a", "")),
    suffix=st.sampled_from(ARTICLE_READS),
    window=st.one_of(st.none(), st.sampled_from(["24h", "7d", "30d", "1h"]), integer_texts),
)
async def test_any_article_read(
    app: Front, redis: aioredis.Redis, segment: str, suffix: str, window: str | None
) -> None:
    """GET /v1/articles/{id}, /views and /timeseries with any id, up to ~16 KB."""
    before = await counts(redis)
    path = f"/v1/articles/{quote(segment, safe='')}{suffix}".encode()
    query = b"" if window is None else query_of({"window": window}, percent=True)
    answer = await call(app, "GET", path, query=query)
    assert_problem_or_success(answer, {200, 307, 404, 422})
    assert await counts(redis) == before
    if "/" in segment or not segment:
        return  # another route, or none
    refused = set()  # either may be named when both are wrong
    if not is_article_id(segment):
        refused.add((422, "invalid_article_id"))
    if suffix == "/timeseries" and window not in (None, "24h", "7d", "30d"):
        refused.add((422, "invalid_parameter"))
    if refused:
        assert (answer.status, answer.json()["code"]) in refused, answer.body
    elif segment not in KNOWN:
        assert (answer.status, answer.json()["code"]) == (404, "unknown_article"), answer.body
    else:
        assert answer.status == 200, answer.body


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
