"""HTML the service writes itself: the popular fragment and the demo news page; all escaped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from html import escape
from string import Template
from typing import Any

import orjson

from ..clock import parse_rfc3339
from ..demo_words import SCRIPT_WORDS, WORDS
from ..locale import LANGS, MOVEMENT, format_count, format_number
from .assets import text

# popular.html's kind, count (all-time totals, or the window's views) and movement values.
KINDS = ("popular", "trending")
COUNTS = ("views", "window")
MOVEMENT_VALUES = ("1", "true", "", "0", "false")  # on ("" as ?movement), then off
GENERIC_BODY = (
    "This is a sample article of the viewcount demo. Its page includes beacon.js once, so "
    "opening it counts one view per reader within the dedupe window.\n\n"
    "The count under the headline is a <viewcount-views> element, and the lists on the right "
    "are <viewcount-popular> elements: they read the public API and format every count in the "
    "language of the page."
)


@dataclass(frozen=True, slots=True)
class Story:
    """What the demo page shows of one article."""

    article: str
    title: str
    theme: str
    published_at: str | None
    body: str  # paragraphs separated by blank lines; "## " starts a subheading
    author: str
    author_slug: str = ""  # the catalog's author: the page's "More by" list


@lru_cache(maxsize=512)
def popular_fragment(
    body: bytes, lang: str, movement: bool = False, in_window: bool = False, trending: bool = False
) -> bytes:
    """A ranking's JSON body as an HTML list, counts in words of ``lang`` (the window's views
    when ``in_window``), with the widget's arrows when ``movement`` and a list to compare with."""
    ranking = orjson.loads(body)
    attrs = f' lang="{lang}" data-window="{escape(ranking["window"])}"'
    if trending:
        attrs += ' data-kind="trending"'
    if ranking["theme"]:
        attrs += f' data-theme="{escape(ranking["theme"])}"'
    if ranking.get("author"):
        attrs += f' data-author="{escape(ranking["author"])}"'
    if ranking["as_of"]:
        attrs += f' data-as-of="{escape(ranking["as_of"])}"'
    arrows = movement and bool(ranking["previous_as_of"])  # none before a list an hour old
    if arrows:
        attrs += f' data-previous-as-of="{escape(ranking["previous_as_of"])}"'
    rows = [
        f'<li class="viewcount-item"><a class="viewcount-link" href="{escape(item["url"])}" '
        f'target="_top">{escape(item["title"])}</a> {_move(item, lang) if arrows else ""}'
        '<span class="viewcount-count">'
        f"{escape(format_count(item['window_views' if in_window else 'views'], lang))}"
        "</span></li>"
        for item in ranking["items"]
    ]
    return f'<ol class="viewcount-popular"{attrs}>{"".join(rows)}</ol>\n'.encode()


def _move(item: dict[str, Any], lang: str) -> str:
    """An item's arrow as widget.js draws it: "new", ▲ n or ▼ n read aloud in ``lang``,
    nothing for an unchanged rank; followed by a space."""
    words = MOVEMENT[lang]
    if item["previous_rank"] is None:
        return f'<span class="viewcount-move viewcount-new">{escape(words["new"])}</span> '
    places = item["previous_rank"] - item["rank"]
    if places == 0:
        return ""
    way = "up" if places > 0 else "down"
    number = format_number(abs(places), lang)
    label = escape(words[way].replace("{n}", number))
    arrow = "\u25b2" if places > 0 else "\u25bc"
    return (
        f'<span class="viewcount-move viewcount-{way}" aria-label="{label}" title="{label}">'
        f"{arrow} {number}</span> "
    )


def demo_page(story: Story, related: Story | None, lang: str, origin: str) -> bytes:
    """The demo news page of one article, its own words in ``lang`` as its counts are."""
    words = WORDS[lang]
    page = Template(text("demo.html")).substitute(
        {f"w_{key}": escape(value) for key, value in words.items()},
        article=escape(story.article),
        title=escape(story.title),
        lang=lang,
        theme=escape(story.theme),
        theme_name=escape(story.theme.replace("-", " ").title()),
        published_iso=escape(story.published_at or ""),
        published_text=escape(_dateline(story.published_at)),
        body=_paragraphs(story.body),
        related=_related(related, lang) if related else "",
        author=escape(story.author),
        by_author=_by_author(story, lang),
        author_initials=escape(_initials(story.author)),
        lang_links=_lang_links(lang),
        snippet=escape(_snippet(origin, story, lang)),
        movement=escape(orjson.dumps(MOVEMENT[lang]).decode()),  # the movers list's words
        script_words=escape(orjson.dumps({k: words[k] for k in SCRIPT_WORDS}).decode()),
    )
    return page.encode()


def error_page(status: int, message: str) -> bytes:
    """A small page for a demo article that is missing or cannot be read now."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>viewcount news'
        '</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/static/demo.css">'
        f'</head><body><main class="notfound"><h1>{status}</h1><p>{escape(message)}</p>'
        '<p><a href="/">Back to the front page</a></p></main></body></html>'
    ).encode()


def _dateline(published_at: str | None) -> str:
    if not published_at:
        return ""
    return datetime.fromtimestamp(parse_rfc3339(published_at), UTC).strftime("%d.%m.%y, %H:%M")


def _paragraphs(body: str) -> str:
    blocks = [block.strip() for block in body.split("\n\n") if block.strip()]
    return "\n".join(
        f"      <h2>{escape(block[3:])}</h2>"
        if block.startswith("## ")
        else f"      <p>{escape(block)}</p>"
        for block in blocks
    )


def _related(story: Story, lang: str) -> str:
    article = escape(story.article)
    return (
        '    <aside class="read-also">\n'
        f'      <span class="read-also-label">{escape(WORDS[lang]["read_also"])}</span>\n'
        f'      <a href="/news/{article}?lang={lang}">{escape(story.title)}</a>\n'
        f'      <span class="read-also-meta"><time datetime="{escape(story.published_at or "")}">'
        f"{escape(_dateline(story.published_at))}</time> • "
        f'<viewcount-views article="{article}" lang="{lang}"></viewcount-views></span>\n'
        "    </aside>"
    )


def _by_author(story: Story, lang: str) -> str:
    """The author's own popular list, without this article; nothing for an unsigned one."""
    if not story.author_slug:
        return ""
    slug = escape(story.author_slug)
    heading = WORDS[lang]["more_by"].replace("{name}", story.author)
    return (
        '    <section class="by-author" aria-labelledby="by-author-title">\n'
        f'      <h2 id="by-author-title">{escape(heading)}</h2>\n'
        f'      <viewcount-popular id="by-author" author="{slug}" window="30d" limit="4" '
        f'lang="{lang}" link="/news/{{article}}?lang={lang}" exclude-current></viewcount-popular>\n'
        "    </section>"
    )


def _initials(name: str) -> str:
    return "".join(word[0] for word in name.split()[:2]).upper()


def _lang_links(current: str) -> str:
    links = []
    for lang in LANGS:
        marker = ' aria-current="true"' if lang == current else ""
        links.append(f'<a href="?lang={lang}" hreflang="{lang}"{marker}>{lang}</a>')
    return " ".join(links)


def _snippet(origin: str, story: Story, lang: str) -> str:
    return (
        "<!-- Once on each article page: counts one view per reader -->\n"
        f'<script async src="{origin}/v1/beacon.js" data-article="{story.article}"></script>\n'
        f'<noscript><img src="{origin}/v1/views/pixel.gif?article={story.article}" '
        'width="1" height="1" alt=""></noscript>\n\n'
        "<!-- The widgets: load once, use anywhere -->\n"
        f'<script async src="{origin}/v1/widget.js"></script>\n'
        f'<viewcount-views article="{story.article}" lang="{lang}"></viewcount-views>\n'
        f'<viewcount-popular window="24h" limit="5" lang="{lang}"></viewcount-popular>\n'
        f'<viewcount-popular theme="{story.theme}" window="7d" limit="5" lang="{lang}">'
        "</viewcount-popular>\n"
        "<!-- Trending now, with arrows against an hour before, without this article -->\n"
        f'<viewcount-popular kind="trending" limit="5" lang="{lang}" exclude-current movement>'
        "</viewcount-popular>\n"
        f'<viewcount-popular window="today" limit="5" lang="{lang}"></viewcount-popular>\n\n'
        "<!-- No JavaScript? Include the server-rendered list -->\n"
        f"{origin}/v1/popular.html?window=24h&limit=5&lang={lang}"
    )
