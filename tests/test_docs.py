"""/docs: Swagger UI served by the service itself, under a CSP that allows only its own files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import orjson
import pytest

from .support import client_for, free_port, make_settings

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}


class Loads(HTMLParser):
    """The URLs a page loads (scripts, stylesheets, icons) and its data-settings."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.settings: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.urls.append(found["src"] or "")
            else:
                self.inline_scripts += 1
        if tag == "link" and found.get("href"):
            self.urls.append(found["href"] or "")
        if "data-settings" in found:
            self.settings = found["data-settings"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The docs need no Redis."""
    async with client_for(make_settings(f"redis://127.0.0.1:{free_port()}/0")) as client:
        yield client


def directives(csp: str) -> dict[str, list[str]]:
    parts = (part.split() for part in csp.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


async def test_docs_page_allows_only_its_own_files(http: httpx.AsyncClient) -> None:
    page = await http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = directives(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    for name, sources in policy.items():
        # data: only for the icons Swagger UI's stylesheet draws inline.
        allowed = {"'self'", "'none'", "data:"} if name == "img-src" else {"'self'", "'none'"}
        assert set(sources) <= allowed, (name, sources)
    loads = Loads()
    loads.feed(page.text)
    assert loads.inline_scripts == 0
    assert "http://" not in page.text and "https://" not in page.text
    assert loads.settings is not None and orjson.loads(loads.settings)["url"] == "/openapi.json"
    assert len(loads.urls) == 4  # Swagger UI's script, stylesheet and icon; the page's script
    for url in loads.urls:
        assert url.startswith("/docs/"), url
        served = await http.get(url, headers={"Accept-Encoding": "identity"})
        assert served.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert served.headers["content-type"] == CONTENT_TYPES[suffix], url
        assert served.content and "max-age" in served.headers["cache-control"]
        again = await http.get(url, headers={"If-None-Match": served.headers["etag"]})
        assert again.status_code == 304
    assert (await http.get("/openapi.json")).status_code == 200
    assert (await http.head("/docs")).status_code == 200


async def test_swagger_ui_is_the_packaged_bundle_gzipped_when_asked(
    http: httpx.AsyncClient,
) -> None:
    from swagger_ui_bundle import swagger_ui_path

    plain = await http.get("/docs/swagger-ui-bundle.js", headers={"Accept-Encoding": "identity"})
    assert plain.content == (swagger_ui_path / "swagger-ui-bundle.js").read_bytes()
    zipped = await http.get("/docs/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content) // 2
    assert zipped.content == plain.content  # httpx decodes it


@pytest.mark.parametrize(
    "name", ["index.html", "swagger-initializer.js", "swagger-ui.js.map", "..%2Fdemo.css", "x"]
)
async def test_nothing_else_is_served_under_docs(http: httpx.AsyncClient, name: str) -> None:
    missing = await http.get(f"/docs/{name}")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
