"""Operations endpoints, CORS, security headers, the OpenAPI document."""

from __future__ import annotations

import httpx

from service.settings import Settings

from .support import ADMIN, client_for, put_article


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200


async def test_readyz_without_redis(settings: Settings) -> None:
    from .support import free_port

    nowhere = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_s": 0.5}
    )
    async with client_for(nowhere) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "storage_unavailable"
        assert ready.headers["retry-after"]
        beacon = await http.post("/v1/views", json={"article": "a"})
        assert beacon.status_code == 503
        assert beacon.json()["code"] == "storage_unavailable"
        assert int(beacon.headers["retry-after"]) > 0


async def test_metrics_count_what_happened(client: httpx.AsyncClient) -> None:
    await put_article(client, "a")
    await client.post("/v1/views", json={"article": "a"})
    await client.post("/v1/views", json={"article": "a"})
    await client.post("/v1/views", json={"article": "a"}, headers={"User-Agent": "Googlebot"})
    await client.post("/v1/views", json={"article": "nope"})
    await client.post("/v1/rollup", headers=ADMIN)
    text = (await client.get("/metrics")).text
    assert "viewcount_views_counted_total 1.0" in text
    assert "viewcount_views_duplicate_total 1.0" in text
    assert "viewcount_views_bot_total 1.0" in text
    assert 'viewcount_views_rejected_total{code="unknown_article"} 1.0' in text
    assert "viewcount_rollup_duration_seconds_count 1.0" in text
    assert "viewcount_rollup_age_seconds" in text
    assert "viewcount_redis_errors_total 0.0" in text


async def test_cors_for_public_reads_and_beacons(client: httpx.AsyncClient) -> None:
    await put_article(client, "a")
    origin = {"Origin": "https://news.example.com"}
    beacon = await client.post("/v1/views", json={"article": "a"}, headers=origin)
    assert beacon.headers["access-control-allow-origin"] == "*"
    read = await client.get("/v1/articles/a/views", headers=origin)
    assert read.headers["access-control-allow-origin"] == "*"
    preflight = await client.options(
        "/v1/views",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]


async def test_no_cors_for_admin(client: httpx.AsyncClient) -> None:
    origin = {"Origin": "https://evil.example.com"}
    for method, path in (
        ("PUT", "/v1/articles/a"),
        ("DELETE", "/v1/articles/a"),
        ("POST", "/v1/views/batch"),
        ("POST", "/v1/rollup"),
    ):
        preflight = await client.options(
            path, headers={**origin, "Access-Control-Request-Method": method}
        )
        assert "access-control-allow-origin" not in preflight.headers, path
        response = await client.request(
            method,
            path,
            headers={**origin, **ADMIN},
            json={"events": []} if "batch" in path else None,
        )
        assert "access-control-allow-origin" not in response.headers, path


async def test_configured_origins_only(settings: Settings) -> None:
    only = settings.model_copy(update={"allowed_origins": "https://news.example.com"})
    async with client_for(only) as http:
        good = await http.get("/healthz", headers={"Origin": "https://news.example.com"})
        assert good.headers["access-control-allow-origin"] == "https://news.example.com"
        assert good.headers["vary"] == "Origin"
        bad = await http.get("/healthz", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in bad.headers


async def test_security_headers_everywhere(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/healthz"),
        await client.get("/nope"),
        await client.post("/v1/views", content=b"x"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" in response.headers


async def test_unknown_paths_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v2/nothing")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = await client.patch("/v1/themes")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS"


async def test_openapi_documents_every_endpoint(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    expected = {
        "/v1/views": {"get", "post"},
        "/v1/views/pixel.gif": {"get"},
        "/v1/views/batch": {"post"},
        "/v1/articles/{article}": {"get", "put", "delete"},
        "/v1/articles/{article}/views": {"get"},
        "/v1/themes": {"get"},
        "/v1/popular": {"get"},
        "/v1/themes/{theme}/popular": {"get"},
        "/v1/rollup": {"post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"][path]), path
    beacon = spec["paths"]["/v1/views"]["post"]
    assert {"application/json", "text/plain", "application/x-www-form-urlencoded"} <= set(
        beacon["requestBody"]["content"]
    )
    assert {"202", "400", "404", "413", "415", "422", "429", "503"} <= set(beacon["responses"])


async def test_openapi_states_what_the_parsers_accept(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths, components = spec["paths"], spec["components"]["schemas"]
    bodies = paths["/v1/views"]["post"]["requestBody"]["content"]
    # sendBeacon's text/plain body is the same JSON object, not any string.
    assert bodies["text/plain"]["schema"] == bodies["application/json"]["schema"]
    # A beacon names its article, or (catalog discovery) only the page's canonical url.
    assert [alternative["required"] for alternative in bodies["text/plain"]["schema"]["anyOf"]] == [
        ["article"],
        ["url"],
    ]
    # A form drops empty fields: there an empty visitor is absent, in JSON it is refused.
    form = bodies["application/x-www-form-urlencoded"]["schema"]
    assert "minLength" not in form["properties"]["visitor"]
    assert bodies["application/json"]["schema"]["properties"]["visitor"]["minLength"] == 1
    # A batch takes any item and rejects the bad ones one by one, with the codes it documents.
    batch = paths["/v1/views/batch"]["post"]
    shapes = batch["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    wrapped, bare = shapes  # {"events": [...]}, or the array itself (log shippers)
    for events in (wrapped["properties"]["events"], bare):
        assert {"$ref": "#/components/schemas/BatchEvent"} in events["items"]["anyOf"]
    assert "@timestamp" in components["BatchEvent"]["properties"]
    assert set(components["Rejected"]["properties"]["code"]["enum"]) == {
        "invalid_body",
        "invalid_article_id",
        "unknown_article",
        "invalid_time",
    }
    # Admin operations name their token and its problems; every operation the protocol's.
    for path, method, schemes in (
        ("/v1/views/batch", "post", [{"admin_token": []}, {"ingest_token": []}]),
        ("/v1/rollup", "post", [{"admin_token": []}]),
    ):
        operation = paths[path][method]
        assert operation["security"] == schemes
        assert {"401", "403", "408", "431"} <= set(operation["responses"])
    assert "security" not in paths["/v1/popular"]["get"]
    for item in paths.values():
        for operation in item.values():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in answer["content"], status
