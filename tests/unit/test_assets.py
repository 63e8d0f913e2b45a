"""Rendering a script with the service's table of facts (api/assets.py)."""

from __future__ import annotations

import orjson
import pytest

from service.api.assets import FACTS_MARK, fill, widget_facts


def test_the_table_replaces_the_placeholder() -> None:
    rendered = fill(b"var FACTS = " + FACTS_MARK + b";", {"labels": {"uk": {"one": "перегляд"}}})
    assert (
        rendered == b"var FACTS = " + orjson.dumps({"labels": {"uk": {"one": "перегляд"}}}) + b";"
    )


@pytest.mark.parametrize("source", [b"var FACTS = null;", b"a" + FACTS_MARK + FACTS_MARK])
def test_a_script_without_exactly_one_placeholder_is_refused(source: bytes) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        fill(source, widget_facts())


def test_the_table_is_json_a_script_reads_as_is() -> None:
    facts = widget_facts()
    assert orjson.loads(orjson.dumps(facts)) == facts
