"""Pure parts of the time series and the export: local days, the CSV and NDJSON encoders, the
movement words, the export's batch setting."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from pydantic import ValidationError

from service import export
from service.locale import LANGS, MOVEMENT
from service.settings import Settings
from service.windows import local_date, local_day, local_day_start

KYIV = ZoneInfo("Europe/Kyiv")


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_local_days_turn_at_local_midnight() -> None:
    before, after = at("2026-11-26T21:59:59Z"), at("2026-11-26T22:00:00Z")  # Kyiv: UTC+2
    assert local_day(after, KYIV) == local_day(before, KYIV) + 1
    assert local_date(local_day(after, KYIV)).isoformat() == "2026-11-27"
    assert local_day_start(local_day(after, KYIV), KYIV) == after
    assert local_day(after, UTC) == local_day(before, UTC)


def test_a_day_clocks_fall_back_on_has_25_hours() -> None:
    day = local_day(at("2026-10-25T12:00:00Z"), KYIV)
    assert local_day_start(day + 1, KYIV) - local_day_start(day, KYIV) == 25 * 3600


def row(article: str, title: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {column: None for column in export.COLUMNS}
    base.update(article=article, title=title, url="https://x.example/a", theme="war")
    base.update(views=3, bot_views=0, automated_views=1, window_views=2)
    base.update(extra)
    return base


TITLES = ["a, b", 'say "hi"', "one\nтwo\r\nthree", "Київ, «заява»", ""]


def test_csv_reads_back_with_the_csv_module() -> None:
    rows = [row(f"a{n}", title) for n, title in enumerate(TITLES)]
    text = (export.csv_header() + export.csv_rows(rows)).decode("utf-8")
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [p["title"] for p in parsed] == TITLES
    assert parsed[0]["author"] == "" and parsed[0]["views"] == "3"
    assert text.startswith(",".join(export.COLUMNS) + "\r\n")


def test_ndjson_is_one_object_a_line() -> None:
    rows = [row("a", "one\ntwo", author="ann-lee")]
    lines = export.ndjson(rows).split(b"\n")
    assert lines[1:] == [b""] and orjson.loads(lines[0]) == rows[0]


def test_every_language_has_its_movement_words() -> None:
    assert set(MOVEMENT) == set(LANGS)
    for words in MOVEMENT.values():
        assert set(words) == {"new", "up", "down"}
        assert "{n}" in words["up"] and "{n}" in words["down"]


@pytest.mark.parametrize("value", [0, 10_001])
def test_export_batch_is_bounded(value: int) -> None:
    with pytest.raises(ValidationError):
        Settings(export_batch=value)
