"""schemathesis against the service's own /openapi.json on a real uvicorn: no server errors, and
every response is one the document describes."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.api import create_app

from .live import HttpConnection, ServiceProcess, admin_put
from .support import ADMIN, RedisProcess, make_settings

ARTICLES = ["world-news-1", "economy.today_2", "Sport~3"]


def import_schemathesis_fully() -> None:
    """Import schemathesis's lazily imported modules now, at a shallow stack.

    pytest rewrites the asserts of every module in a plugin's distribution, so a lazy import
    inside a hypothesis draw compiles a module at a deep stack, which CPython 3.11 sometimes
    fails ("AST constructor recursion depth mismatch"), making a case flaky.
    """
    for module in pkgutil.walk_packages(schemathesis.__path__, "schemathesis."):
        if not module.name.startswith(("schemathesis.cli", "schemathesis.reporting")):
            with contextlib.suppress(ImportError):
                importlib.import_module(module.name)


@pytest.fixture(scope="module")
def served() -> Iterator[ServiceProcess]:
    """A service on a Redis of its own: schemathesis creates and deletes what it likes."""
    import_schemathesis_fully()
    redis_server = RedisProcess().start()
    proc = ServiceProcess(redis_server.url, rate_limit_per_min=0).start()

    async def seed() -> None:
        conn = HttpConnection(proc.port)
        for article in ARTICLES:
            await admin_put(conn, article)
        await conn.close()

    asyncio.run(seed())
    yield proc
    proc.stop()
    redis_server.stop()


# The document needs no Redis: it is read from the app, then checked against a live server.
DOCUMENT = create_app(make_settings("redis://127.0.0.1:9/0")).app.openapi()
OPERATIONS = [
    result.ok() for result in schemathesis.openapi.from_dict(DOCUMENT).get_all_operations()
]
EXAMPLES = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_api_conforms_to_its_openapi_document(served: ServiceProcess, operation: Any) -> None:
    """Generated requests (valid and not) to every operation, with the admin token."""
    base_url = f"http://127.0.0.1:{served.port}"

    @EXAMPLES
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        # A text/plain beacon is JSON in a string, which OpenAPI cannot state: any string
        # fits its schema, so only there is a refused "valid" body not a failure.
        excluded = [positive_data_acceptance] if case.media_type == "text/plain" else []
        case.call_and_validate(
            base_url=base_url, headers=ADMIN, timeout=10, excluded_checks=excluded
        )

    check()
