"""What the service serves to browsers, in headless Chromium: /docs renders every operation from
the service's own files, and widget.js's table of labels covers every plural category."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from .browserkit import CHROMIUM, CHROMIUM_ARGS, OUTPUT, Tab
from .live import ServiceProcess
from .support import RedisProcess, require_tool

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served() -> Iterator[ServiceProcess]:
    redis_server = RedisProcess().start()
    proc = ServiceProcess(redis_server.url).start()
    yield proc
    proc.stop()
    redis_server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_tool(str(CHROMIUM), "`apt-get install chromium` (.ci/run does)")
    require_tool(
        "Playwright for Python",
        "pip install -e '.[dev]'",
        found=importlib.util.find_spec("playwright") is not None,
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_docs_render_offline_from_the_services_own_files(
    served: ServiceProcess, browser: Any
) -> None:
    base = f"http://127.0.0.1:{served.port}"
    tab = Tab(browser, reader=1)
    requested: list[str] = []
    tab.page.on("request", lambda request: requested.append(request.url))
    try:
        spec = tab.page.request.get(f"{base}/openapi.json").json()
        operations = sum(len(item) for item in spec["paths"].values())
        tab.page.goto(f"{base}/docs")
        tab.page.locator(".opblock").nth(operations - 1).wait_for()
        assert tab.page.locator(".opblock").count() == operations
        tab.page.locator("#operations-beacons-record_view .opblock-summary").click()
        tab.page.locator("#operations-beacons-record_view .opblock-body").wait_for()
        tab.page.wait_for_load_state("networkidle")
        OUTPUT.mkdir(exist_ok=True)
        tab.page.screenshot(path=OUTPUT / "docs.png")
        assert tab.errors == [] and tab.csp == []
        origins = {
            urlsplit(url)._replace(path="", query="", fragment="").geturl() for url in requested
        }
        assert origins == {base}, requested
    finally:
        tab.close()


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_the_widget_has_a_label_for_every_plural_category(
    served: ServiceProcess, browser: Any
) -> None:
    """The labels widget.js is served with (service/locale.py's) name every category that
    Intl.PluralRules knows for each language, so no count falls back to another's label."""
    tab = Tab(browser, reader=2)
    try:
        source = tab.page.request.get(f"http://127.0.0.1:{served.port}/v1/widget.js").text()
        start = source.index("var FACTS = ") + len("var FACTS = ")
        labels = json.JSONDecoder().raw_decode(source, start)[0]["labels"]
        categories = tab.page.evaluate(
            "langs => Object.fromEntries(langs.map(lang =>"
            " [lang, new Intl.PluralRules(lang).resolvedOptions().pluralCategories]))",
            list(labels),
        )
        for lang, names in categories.items():
            assert set(names) <= set(labels[lang]), (lang, names)
    finally:
        tab.close()
