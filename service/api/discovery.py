"""POST /v1/admin/articles/{id}/refresh: an editor has an article's page read again now."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..errors import DomainError
from ..validate import article_id
from .articles import _with_counts
from .auth import Admin, Svc
from .openapi import schema
from .responses import json
from .schemas import REFRESH_PATH, ArticleOut

router = APIRouter(tags=["admin"])


class DiscoveryDisabled(DomainError):
    code = "discovery_disabled"


@router.post(
    REFRESH_PATH,
    response_model=ArticleOut,
    dependencies=[Admin],
    responses=schema(
        "unauthorized",
        "admin_disabled",
        "invalid_article_id",
        "unknown_article",
        "fetch_in_progress",
        "discovery_disabled",
        "fetch_failed",
        "storage_unavailable",
    ),
)
async def refresh(article: str, svc: Svc) -> Response:
    """Read the article's page (its catalog `url`, on VIEWCOUNT_SITES) again now and update
    its title, theme and publication time; a cool-down does not hold it back (admin)."""
    article = article_id(article)
    if svc.discovery is None:
        raise DiscoveryDisabled("VIEWCOUNT_SITES is not set: no page is ever fetched")
    found = await svc.discovery.refresh(article)
    return json(await _with_counts(svc, found.article.id))
