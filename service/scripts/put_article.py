"""put_article.lua's codec: create or replace an article's catalog entry and its indexes."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("put_article")


def call(
    article: str, title: str, url: str, theme: str, published_at: str | None, imported: int
) -> Call:
    shard = keys.shard_of(article)
    return Call(
        SCRIPT,
        [
            keys.meta(article),
            keys.articles(shard),
            keys.article_themes(shard),
            keys.theme_counts(shard),
            keys.totals(shard),
        ],
        [article, title, url, theme, published_at or "", imported],
    )


def decode(reply: Any) -> bool:
    """True when the article was created, False when replaced."""
    return bool(reply)
