"""Catalog and live counts: /v1/articles, /v1/views (GET), /v1/themes, /v1/authors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from ..catalog import article_from_fields
from ..errors import InvalidParameter
from ..validate import article_id, is_article_id
from .auth import Admin, Svc
from .openapi import schema
from .responses import json, json_body
from .schemas import (
    MAX_IDS,
    ArticleIn,
    ArticleOut,
    ArticleViews,
    ManyViews,
    Themes,
)

router = APIRouter(tags=["articles"])
MAX_ARTICLE_BODY = 16 * 1024


@router.get(
    "/v1/articles/{article}",
    response_model=ArticleOut,
    responses=schema("invalid_article_id", "unknown_article", "storage_unavailable"),
)
async def get_article(article: str, svc: Svc) -> Response:
    """An article's catalog entry with its live counts."""
    return json(await _with_counts(svc, article_id(article)))


@router.put(
    "/v1/articles/{article}",
    response_model=ArticleOut,
    dependencies=[Admin],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ArticleIn.model_json_schema()}},
        }
    },
    responses={
        201: {"model": ArticleOut, "description": "Created"},
        **schema(
            "unauthorized",
            "admin_disabled",
            "invalid_article_id",
            "invalid_field",
            "payload_too_large",
            "storage_unavailable",
        ),
    },
)
async def put_article(article: str, svc: Svc, request: Request) -> Response:
    """Create or replace an article (admin)."""
    entry = article_from_fields(
        article_id(article), await json_body(request, MAX_ARTICLE_BODY, field_errors=True)
    )
    created = await svc.catalog.put(entry)
    if entry.ranked:
        await svc.rankings.remember(entry.id)
    else:  # out of every published list at once, as a delete is; counting goes on
        await svc.rankings.forget(entry.id, svc.clock.now())
    return json(await _with_counts(svc, entry.id), 201 if created else 200)


@router.delete(
    "/v1/articles/{article}",
    status_code=204,
    dependencies=[Admin],
    response_class=Response,
    responses=schema(
        "unauthorized",
        "admin_disabled",
        "invalid_article_id",
        "unknown_article",
        "storage_unavailable",
    ),
)
async def delete_article(article: str, svc: Svc) -> Response:
    """Delete an article and its counters; it leaves every ranking at once (admin)."""
    article = article_id(article)
    await svc.catalog.delete(article)
    await svc.rankings.forget(article, svc.clock.now())
    return Response(status_code=204)


@router.get(
    "/v1/articles/{article}/views",
    response_model=ArticleViews,
    responses=schema("invalid_article_id", "unknown_article", "storage_unavailable"),
)
async def article_views(article: str, svc: Svc) -> Response:
    """Live counts of one article."""
    return json(await svc.counts.views(article_id(article)))


@router.get(
    "/v1/views",
    response_model=ManyViews,
    responses=schema("invalid_parameter", "storage_unavailable"),
)
async def many_views(
    svc: Svc, articles: str = Query(..., description="1-100 comma-separated article ids")
) -> Response:
    """Live counts of several articles; null for ids not in the catalog."""
    return json({"views": await svc.counts.many(article_ids(articles))})


async def _with_counts(svc: Svc, article: str) -> dict[str, Any]:
    """An article's catalog entry and its live counts."""
    entry = await svc.catalog.get(article)
    counts = await svc.counts.views(article)
    return {
        **entry,
        "views": counts["views"],
        "bot_views": counts["bot_views"],
        "automated_views": counts["automated_views"],
    }


def article_ids(articles: str) -> list[str]:
    """The ids of ``?articles=a,b,c`` (shared with the fast path); InvalidParameter if bad."""
    ids = articles.split(",")
    if not 1 <= len(ids) <= MAX_IDS or not all(is_article_id(i) for i in ids):
        raise InvalidParameter(f"articles: 1-{MAX_IDS} comma-separated article ids")
    return ids


@router.get("/v1/themes", response_model=Themes, responses=schema("storage_unavailable"))
async def themes(svc: Svc) -> Response:
    """Themes in the catalog, with their number of articles."""
    return json({"themes": await svc.catalog.themes()})
