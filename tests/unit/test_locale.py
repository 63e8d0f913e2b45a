"""Counts in words: CLDR plural categories and number grouping for the widget languages."""

from __future__ import annotations

import pytest

from service.locale import LANGS, format_count, format_number, plural_category, resolve_lang

# Sample numbers per category, from the CLDR plural rules charts (integers only).
CLDR_SAMPLES = {
    "uk": {
        "one": [1, 21, 31, 101, 1001],
        "few": [2, 3, 4, 22, 24, 102, 36232],
        "many": [0, 5, 11, 12, 14, 19, 100, 111, 1000, 10000],
    },
    "pl": {"one": [1], "few": [2, 4, 22, 24, 102], "many": [0, 5, 11, 12, 21, 25, 100, 1000]},
    "en": {"one": [1], "other": [0, 2, 21, 100]},
    "de": {"one": [1], "other": [0, 2, 21, 100]},
    "fr": {"one": [0, 1], "many": [1_000_000, 2_000_000], "other": [2, 21, 100, 1000]},
    "es": {"one": [1], "many": [1_000_000, 3_000_000], "other": [0, 2, 21, 100, 1000]},
}


@pytest.mark.parametrize("lang", LANGS)
def test_plural_categories_follow_cldr(lang: str) -> None:
    for category, numbers in CLDR_SAMPLES[lang].items():
        assert [plural_category(n, lang) for n in numbers] == [category] * len(numbers)


def test_grouping_as_intl_number_format_writes_it() -> None:
    assert format_number(36232, "en") == "36,232"
    assert format_number(36232, "de") == "36.232"
    assert format_number(36232, "uk") == "36\u00a0232"
    assert format_number(36232, "fr") == "36\u202f232"
    # Polish and Spanish leave four-digit numbers ungrouped (minimumGroupingDigits = 2).
    assert format_number(5000, "pl") == "5000"
    assert format_number(5000, "es") == "5000"
    assert format_number(5000, "uk") == "5\u00a0000"
    assert format_number(1_234_567, "en") == "1,234,567"
    assert format_number(999, "en") == "999"


def test_counts_in_words() -> None:
    assert format_count(1, "uk") == "1 перегляд"
    assert format_count(3, "uk") == "3 перегляди"
    assert format_count(5, "uk") == "5 переглядів"
    assert format_count(36232, "uk") == "36\u00a0232 перегляди"
    assert format_count(1, "en") == "1 view"
    assert format_count(36232, "en") == "36,232 views"
    assert format_count(1_000_000, "fr") == "1\u202f000\u202f000 de vues"
    assert format_count(22, "pl") == "22 wyświetlenia"
    assert format_count(25, "pl") == "25 wyświetleń"


def test_language_tags() -> None:
    assert resolve_lang("uk") == "uk"
    assert resolve_lang("en-GB") == "en"
    assert resolve_lang("pt_BR") is None
    assert resolve_lang("") is None
    assert resolve_lang(None) is None
