"""What browsers load: beacon.js, widget.js, popular.html, /v1/stats and the demo news page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ..clock import rfc3339
from ..demo import HEADLINES, byline
from ..errors import InvalidParameter, UnknownArticle
from ..locale import DEFAULT_LANG, LANGS, resolve_lang
from ..snapshot import TRENDING
from ..storage import StorageUnavailable
from ..validate import int_parameter, is_article_id
from .assets import asset, asset_response, text
from .auth import Svc
from .html import (
    COUNTS,
    GENERIC_BODY,
    KINDS,
    Story,
    demo_page,
    error_page,
    popular_fragment,
)
from .openapi import schema
from .rankings import author_parameter, filters_parameter, theme_parameter, window_parameter
from .responses import json
from .schemas import DEFAULT_LIMIT, DEFAULT_WINDOW, MAX_LIMIT, Stats

router = APIRouter()

# Scripts are cached briefly so a fix reaches every embedding site within minutes.
SCRIPT_MAX_AGE_S = 300
# The page runs only its own files: no inline script or style, nothing from elsewhere.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# The fragment runs nothing, and sites without scripts may frame it.
FRAGMENT_CSP = "default-src 'none'; frame-ancestors *"
PUBLIC_FILES = frozenset({"demo.css", "demo.js"})
DEMO_LANG = "uk"
HTML = "text/html; charset=utf-8"
_JS: dict[str, Any] = {
    "description": "The script",
    "content": {"text/javascript": {"schema": {"type": "string"}}},
}
_WINDOW_DOC = "1h, 24h (the default), 7d, 30d, all or today; a trending list has none"
_KIND_DOC = "popular (the default) or trending (the last hour against the day before)"
_AUTHOR_DOC = (
    "an author's slug: that author's popular list (theme is then not read; with "
    "kind=trending 404 not_found, as authors have no trending list)"
)
_MOVEMENT_DOC = (
    "1 or true: an arrow per item against the list of VIEWCOUNT_MOVEMENT_S before "
    "(▲ 3, ▼ 1, new), as the widget's movement attribute"
)
_COUNT_DOC = "views (all-time total, the default) or window (views in the list's window)"
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (matching If-None-Match)"}
}


@router.get(
    "/v1/beacon.js",
    tags=["widgets"],
    response_class=Response,
    responses={200: _JS, **_NOT_MODIFIED},
)
async def beacon_js(request: Request) -> Response:
    """The page beacon: counts one view per page view (`data-article` on its script tag)."""
    return _script(request, "beacon.js")


@router.get(
    "/v1/widget.js",
    tags=["widgets"],
    response_class=Response,
    responses={200: _JS, **_NOT_MODIFIED},
)
async def widget_js(request: Request) -> Response:
    """The custom elements `<viewcount-popular>` and `<viewcount-views>`."""
    return _script(request, "widget.js")


def _script(request: Request, name: str) -> Response:
    # Sites that isolate themselves (COEP) may still load it.
    return asset_response(
        request, asset(name), SCRIPT_MAX_AGE_S, {"cross-origin-resource-policy": "cross-origin"}
    )


@router.get(
    "/v1/popular.html",
    tags=["widgets"],
    response_class=Response,
    responses={
        200: {
            "description": "An HTML list to include in a page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **_NOT_MODIFIED,
        **schema("invalid_parameter", "not_found"),
    },
)
async def popular_html(
    svc: Svc,
    request: Request,
    window: Annotated[str | None, Query(description=_WINDOW_DOC)] = None,
    limit: str = str(DEFAULT_LIMIT),
    lang: str = DEFAULT_LANG,
    theme: str | None = None,
    exclude: str | None = None,
    published_within: str | None = None,
    kind: Annotated[str, Query(description=_KIND_DOC)] = "popular",
    author: Annotated[str | None, Query(description=_AUTHOR_DOC)] = None,
    movement: Annotated[str | None, Query(description=_MOVEMENT_DOC)] = None,
    count: Annotated[str, Query(description=_COUNT_DOC)] = "views",
) -> Response:
    """A list as escaped, localised HTML, for pages that run no scripts: the widget's
    attributes as parameters (kind, theme or author, window, filters, movement, count)."""
    list_window = _list_window(kind, window, author)
    filters = filters_parameter(exclude, published_within)
    size = int_parameter(limit, "limit", 1, MAX_LIMIT)
    if theme is not None:
        theme_parameter(theme)
    if author is not None:
        author_parameter(author)
        theme = None  # an author's list, whatever the theme (as the widget reads it)
    arrows = _switch(movement)
    if count not in COUNTS:
        raise InvalidParameter(f"count: one of {', '.join(COUNTS)}")
    language = resolve_lang(lang)
    if language is None:
        raise InvalidParameter(f"lang: one of {', '.join(LANGS)}")
    etag, body = svc.rankings.body(list_window, theme, size, filters, author)
    etag = f'{etag[:-1]}.{language}"'
    max_age = max(1, int(svc.settings.rollup_interval_s // 2))
    headers = {
        "etag": etag,
        "cache-control": f"public, max-age={max_age}",
        "content-security-policy": FRAGMENT_CSP,
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    fragment = popular_fragment(body, language, arrows, count == "window", list_window == TRENDING)
    return Response(fragment, headers=headers, media_type=HTML)


def _list_window(kind: str, window: str | None, author: str | None) -> str:
    """The snapshot list a popular.html request names (TRENDING for a trending one), as the
    widget reads its attributes: a trending list has no window (a given one is still checked);
    InvalidParameter for a bad value, 404 for an author's trending list, which no API has."""
    if window is not None:
        window_parameter(window)
    if kind == "popular":
        return window or DEFAULT_WINDOW
    if kind != "trending":
        raise InvalidParameter(f"kind: one of {', '.join(KINDS)}")
    if author is not None:
        raise HTTPException(404, "author: authors have popular lists only (kind=popular)")
    return TRENDING


def _switch(value: str | None) -> bool:
    """``movement``: present as in ``?movement`` or 1/true is on, absent or 0/false off."""
    if value is None or value in ("0", "false"):
        return False
    if value in ("", "1", "true"):
        return True
    raise InvalidParameter("movement: 1 or true (arrows), 0 or false (none)")


@router.get(
    "/v1/stats", tags=["stats"], response_model=Stats, responses=schema("storage_unavailable")
)
async def stats(svc: Svc) -> Response:
    """Views counted site-wide in the last complete minute."""
    now = svc.clock.now()
    minute_end = int(now // 60) * 60
    views = await svc.counts.per_minute()
    # The figure changes when the minute turns: cacheable until then.
    max_age = max(1, int(minute_end + 60 - now))
    return json(
        {"views_per_minute": views, "as_of": rfc3339(minute_end)},
        headers={"cache-control": f"public, max-age={max_age}"},
    )


@router.get("/", include_in_schema=False)
async def front_page(request: Request) -> Response:
    """The demo news page of the first demo article; it needs no Redis to load."""
    article, title, theme, published, _views = HEADLINES[0]
    slug, name = byline(0)
    story = Story(article, title, theme, published, text("demo-article.txt"), name, slug)
    return _page(request, story, _page_lang(request))


@router.get("/news/{article}", include_in_schema=False)
async def news_page(article: str, svc: Svc, request: Request) -> Response:
    """The demo news page of any article in the catalog."""
    if not is_article_id(article):
        return _error(404, "There is no such article.")
    try:
        entry = await svc.catalog.get(article)
    except UnknownArticle:
        return _error(404, "There is no such article.")
    except StorageUnavailable:
        return _error(
            503,
            "The newsroom is busy. Try again in a few seconds.",
            {"retry-after": str(svc.settings.retry_after_s)},
        )
    body = text("demo-article.txt") if article == HEADLINES[0][0] else GENERIC_BODY
    author = entry["author_name"] or "viewcount newsroom"
    story = Story(
        article, entry["title"], entry["theme"], entry["published_at"], body, author,
        entry["author"] or "",
    )  # fmt: skip
    return _page(request, story, _page_lang(request))


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str, request: Request) -> Response:
    """The demo page's stylesheet and script."""
    if name not in PUBLIC_FILES:
        return _error(404, "No such file.")
    return asset_response(request, asset(name), SCRIPT_MAX_AGE_S)


def _page_lang(request: Request) -> str:
    return resolve_lang(request.query_params.get("lang")) or DEMO_LANG


def _page(request: Request, story: Story, lang: str) -> Response:
    ids = [h[0] for h in HEADLINES]
    index = ids.index(story.article) if story.article in ids else -1
    article, title, theme, published, _views = HEADLINES[(index + 1) % len(HEADLINES)]
    related = Story(article, title, theme, published, "", "")
    origin = str(request.base_url).rstrip("/")
    return Response(demo_page(story, related, lang, origin), 200, _page_headers(), media_type=HTML)


def _error(status: int, message: str, extra: dict[str, str] | None = None) -> Response:
    return Response(
        error_page(status, message), status, {**_page_headers(), **(extra or {})}, media_type=HTML
    )


def _page_headers() -> dict[str, str]:
    return {"content-security-policy": PAGE_CSP, "cache-control": "no-cache"}
