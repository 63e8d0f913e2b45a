"""Log formats: JSON lines without uvicorn's color_message, readable lines for a terminal."""

from __future__ import annotations

import io
import logging
import sys

import orjson
import pytest

from service.logs import JsonFormatter, TextFormatter, wants_json


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("viewcount.cli", logging.WARNING, __file__, 1, message, None, None)
    entry.__dict__.update(extra)
    return entry


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_lines_carry_our_fields_and_never_color_message() -> None:
    line = JsonFormatter().format(
        record("started", url="unix:///tmp/x.sock", color_message="\x1b[1mstarted\x1b[0m")
    )
    entry = orjson.loads(line)
    assert set(entry) == {"ts", "level", "logger", "msg", "url"}
    assert (entry["level"], entry["logger"], entry["msg"]) == (
        "warning",
        "viewcount.cli",
        "started",
    )
    assert entry["ts"].endswith("+00:00")


def test_readable_lines_put_fields_after_the_message() -> None:
    line = TextFormatter().format(
        record("embedded server ready", url="redis://127.0.0.1:1/0", error="a b", color_message="x")
    )
    head, _, rest = line.partition(" WARNING ")
    assert head[:2] == "20" and rest == (
        "viewcount.cli: embedded server ready url=redis://127.0.0.1:1/0 error='a b'"
    )


def test_an_exception_follows_its_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = record("request failed")
        failed.exc_info = sys.exc_info()
    text = TextFormatter().format(failed).splitlines()
    assert text[0].endswith("request failed") and text[-1] == "RuntimeError: boom"
    assert "RuntimeError: boom" in orjson.loads(JsonFormatter().format(failed))["exc"]


@pytest.mark.parametrize(
    ("forced", "stream", "as_json"),
    [
        (None, Terminal(), False),  # a person reads a terminal
        (None, io.StringIO(), True),  # a pipe, a file, a log collector
        (True, Terminal(), True),
        (False, io.StringIO(), False),
    ],
)
def test_json_unless_a_terminal_or_forced(
    forced: bool | None, stream: io.StringIO, as_json: bool
) -> None:
    assert wants_json(forced, stream) is as_json
