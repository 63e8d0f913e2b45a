"""View counts as words: CLDR plural rules and number grouping for the widget languages."""

from __future__ import annotations

from collections.abc import Callable

# Labels per CLDR plural category; widget.js is served with this table (api/assets.py).
LABELS: dict[str, dict[str, str]] = {
    "en": {"one": "view", "other": "views"},
    "uk": {"one": "перегляд", "few": "перегляди", "many": "переглядів", "other": "перегляду"},
    "de": {"one": "Aufruf", "other": "Aufrufe"},
    "fr": {"one": "vue", "many": "de vues", "other": "vues"},
    "pl": {
        "one": "wyświetlenie",
        "few": "wyświetlenia",
        "many": "wyświetleń",
        "other": "wyświetlenia",
    },
    "es": {"one": "visita", "many": "de visitas", "other": "visitas"},
}
LANGS = tuple(LABELS)

# A list item's movement since the list of VIEWCOUNT_MOVEMENT_S before (widget.js, `movement`):
# "new" when it was not listed then; "up"/"down" read aloud beside the arrow, {n} the places.
MOVEMENT: dict[str, dict[str, str]] = {
    "en": {"new": "new", "up": "up {n}", "down": "down {n}"},
    "uk": {"new": "нове", "up": "вище на {n}", "down": "нижче на {n}"},
    "de": {"new": "neu", "up": "{n} höher", "down": "{n} tiefer"},
    "fr": {"new": "nouveau", "up": "monte de {n}", "down": "descend de {n}"},
    "pl": {"new": "nowe", "up": "w górę o {n}", "down": "w dół o {n}"},
    "es": {"new": "nuevo", "up": "sube {n}", "down": "baja {n}"},
}
DEFAULT_LANG = "en"

# CLDR group separator and minimumGroupingDigits (pl and es leave 4-digit numbers ungrouped).
_GROUPING: dict[str, tuple[str, int]] = {
    "en": (",", 1),
    "de": (".", 1),
    "es": (".", 2),
    "fr": ("\u202f", 1),
    "uk": ("\u00a0", 1),
    "pl": ("\u00a0", 2),
}


def _slavic(n: int, one: bool) -> str:
    """Shared shape of the uk and pl rules for whole numbers (v = 0)."""
    if one:
        return "one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "few"
    return "many"


def _romance(n: int, one: bool) -> str:
    """fr and es: 'many' for whole millions ("1 000 000 de vues"), as CLDR 38+ says."""
    if one:
        return "one"
    return "many" if n != 0 and n % 1_000_000 == 0 else "other"


# CLDR plural rules, cardinal, restricted to whole numbers: counts are never fractions.
_RULES: dict[str, Callable[[int], str]] = {
    "en": lambda n: "one" if n == 1 else "other",
    "de": lambda n: "one" if n == 1 else "other",
    "uk": lambda n: _slavic(n, n % 10 == 1 and n % 100 != 11),
    "pl": lambda n: _slavic(n, n == 1),
    "fr": lambda n: _romance(n, n in (0, 1)),
    "es": lambda n: _romance(n, n == 1),
}


def resolve_lang(tag: str | None) -> str | None:
    """The supported language of a BCP 47 tag such as ``uk`` or ``en-GB``; None if unsupported."""
    if not tag:
        return None
    base = tag.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LABELS else None


def plural_category(count: int, lang: str) -> str:
    """The CLDR plural category of a whole number: one, few, many or other."""
    return _RULES[lang](abs(count))


def format_number(count: int, lang: str) -> str:
    """The number grouped as Intl.NumberFormat(lang) groups it."""
    separator, min_grouping = _GROUPING[lang]
    digits = str(abs(count))
    sign = "-" if count < 0 else ""
    if len(digits) < 3 + min_grouping:
        return sign + digits
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sign + separator.join(groups)


def format_count(count: int, lang: str) -> str:
    """A view count in words: "36 232 перегляди", "1 view"."""
    labels = LABELS[lang]
    label = labels.get(plural_category(count, lang), labels["other"])
    return f"{format_number(count, lang)} {label}"
