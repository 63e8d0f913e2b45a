"""put_article.lua's codec: create or replace an article's catalog entry and its indexes."""

from __future__ import annotations

import secrets
from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("put_article", uses=("catalog_index",))


def call(
    article: str,
    title: str,
    url: str,
    theme: str,
    published_at: str | None,
    imported: int,
    ranked: bool = True,
    author: str | None = None,
    author_name: str | None = None,
) -> Call:
    shard = keys.shard_of(article)
    return Call(
        SCRIPT,
        [
            *keys.catalog_entry(article),
            keys.totals(shard),
            keys.unranked(shard),
            *keys.author_entry(article),
            keys.catalog_version(shard),
        ],
        [
            *(article, title, url, theme, published_at or "", imported, "1" if ranked else "0"),
            *(author or "", author_name or ""),
            secrets.token_hex(8),
        ],
    )


def decode(reply: Any) -> bool:
    """True when the article was created, False when replaced."""
    return bool(reply)
