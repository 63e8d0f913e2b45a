"""The demo page's words: one table per widget language, all with the same keys and blanks."""

from __future__ import annotations

import re

from service.demo_words import SCRIPT_WORDS, WORDS
from service.locale import LANGS


def blanks(text: str) -> set[str]:
    return set(re.findall(r"\{\w+\}", text))


def test_every_widget_language_has_every_word() -> None:
    assert tuple(WORDS) == LANGS
    english = WORDS["en"]
    assert set(SCRIPT_WORDS) <= set(english)
    for lang, words in WORDS.items():
        assert set(words) == set(english), lang
        for key, text in words.items():
            assert text.strip() == text and text, (lang, key)
            assert blanks(text) == blanks(english[key]), (lang, key)
            assert "$" not in text, (lang, key)  # the page is a string.Template


def test_the_other_languages_are_translated() -> None:
    """Only the window abbreviations and a few loanwords may read as in English."""
    same_allowed = {"window_1h", "window_24h", "window_7d", "dashboard", "popular"}
    for lang in LANGS:
        if lang == "en":
            continue
        same = {k for k, v in WORDS[lang].items() if v == WORDS["en"][k]}
        assert same <= same_allowed, (lang, same)
