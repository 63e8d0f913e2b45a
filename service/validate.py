"""Validation of the identifiers that become parts of Redis keys: nothing else gets in."""

from __future__ import annotations

import re

from .errors import InvalidArticleId, InvalidParameter

# The one definition of each identifier, as a pattern that Python, JSON Schema (ECMA-262) and
# the widget's JavaScript all read the same way; matched whole.
ARTICLE_ID_PATTERN = r"[A-Za-z0-9._~-]{1,200}"
THEME_PATTERN = r"[a-z0-9-]{1,64}"
_ARTICLE = re.compile(ARTICLE_ID_PATTERN)
_THEME = re.compile(THEME_PATTERN)
# A character that is not whitespace to Python nor to JSON Schema (ECMA-262) regexes.
VISIBLE_PATTERN = r"[^\s\u001c-\u001f\u0085\ufeff]"
_VISIBLE = re.compile(VISIBLE_PATTERN)


def has_visible(value: str) -> bool:
    return _VISIBLE.search(value) is not None


def is_article_id(value: object) -> bool:
    return isinstance(value, str) and _ARTICLE.fullmatch(value) is not None


def is_theme(value: object) -> bool:
    return isinstance(value, str) and _THEME.fullmatch(value) is not None


def article_id(value: object) -> str:
    if not is_article_id(value):
        raise InvalidArticleId("article ids are 1-200 characters from A-Z a-z 0-9 . _ ~ -")
    return value  # type: ignore[return-value]


def small_int(text: str | bytes, max_digits: int = 18) -> int | None:
    """The value of a decimal string of at most ``max_digits`` ASCII digits, else None.

    Checked before int(): int() takes Unicode digits ("²" is a digit to str.isdigit() but not
    to int()) and refuses over 4,300 digits with a ValueError of its own."""
    if not 1 <= len(text) <= max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def int_parameter(text: str, name: str, low: int, high: int) -> int:
    """A query parameter that must be an integer from ``low`` to ``high``."""
    value = small_int(text, len(str(high)))
    if value is None or not low <= value <= high:
        raise InvalidParameter(f"{name}: an integer from {low} to {high}")
    return value
