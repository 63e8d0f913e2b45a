"""Articles with chosen totals for the widget and popular.html tests, and how to seed them."""

from __future__ import annotations

from typing import Any

# (article, total views, views in the window): the window views set the ranking order.
PLURAL_THEME = "plurals"
PLURAL_ARTICLES = [
    ("plural-36232", 36232, 5),
    ("plural-21", 21, 4),
    ("plural-5", 5, 3),
    ("plural-3", 3, 2),
    ("plural-1", 1, 1),
]
# CLDR: 36232 ends in 2 (not 12), so Ukrainian takes the "few" form, "перегляди".
EXPECTED_COUNTS = {
    "uk": ["36 232 перегляди", "21 перегляд", "5 переглядів", "3 перегляди", "1 перегляд"],
    "en": ["36,232 views", "21 views", "5 views", "3 views", "1 view"],
}
HOSTILE_THEME = "hostile"
HOSTILE_ARTICLE = "hostile-title"
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"


def article_bodies() -> list[tuple[str, dict[str, Any]]]:
    """PUT bodies: imported views make up the totals beyond the window views."""
    bodies = [
        (
            article,
            {
                "title": f"Story with {total} views",
                "theme": PLURAL_THEME,
                "url": f"https://news.example.com/{article}",
                "imported_views": total - window,
            },
        )
        for article, total, window in PLURAL_ARTICLES
    ]
    bodies.append(
        (
            HOSTILE_ARTICLE,
            {
                "title": HOSTILE_TITLE,
                "theme": HOSTILE_THEME,
                "url": "https://news.example.com/hostile",
            },
        )
    )
    return bodies


def batch_events() -> list[dict[str, str]]:
    """Server-side views (no reader dedupe), so each article gets its window views now."""
    events = [
        {"article": article} for article, _total, window in PLURAL_ARTICLES for _ in range(window)
    ]
    return [*events, {"article": HOSTILE_ARTICLE}]


def spaced(text: str) -> str:
    """Intl puts no-break spaces inside numbers; compare with plain ones."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")
