"""feed_article.lua's codec: an article a feed lists, added or updated without overriding an
editor's entry (the rule is at the top of the script)."""

from __future__ import annotations

import secrets
from typing import Any

from .. import keys
from ..storage import Call
from . import load

SCRIPT = load("feed_article", uses=("catalog_index",))
# What the script did, by its reply code.
CHANGES = ("unchanged", "created", "updated", "filled", "untitled")


def call(
    article: str,
    title: str | None,
    url: str,
    theme: str | None,
    published_at: str | None,
    default_theme: str,
    author: str | None = None,
    author_name: str | None = None,
) -> Call:
    """``None`` for a field the feed does not give: kept, or for a new article its default
    (``author`` and ``author_name`` come together: the slug of the name)."""
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
            *(article, title or "", url, theme or "", published_at or "", default_theme),
            *(author or "", author_name or ""),
            secrets.token_hex(8),
        ],
    )


def decode(reply: Any) -> str:
    """One of CHANGES."""
    return CHANGES[int(reply)]
