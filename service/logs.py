"""Logs on stderr: one JSON object per line, or readable lines when stderr is a terminal."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

# What every LogRecord carries; anything else came in through ``extra``. uvicorn adds
# ``color_message`` (its message again, with ANSI colours): never a field of ours.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",
}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ..., <extra fields>}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``2026-11-27 12:00:00,123 WARNING viewcount.cli: message key=value``, for a person."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        for name, value in extra_fields(record).items():
            line += f" {name}={_word(str(value))}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _word(text: str) -> str:
    """The value as is, or quoted when it is empty or has white space in it."""
    return text if text and not any(c.isspace() for c in text) else repr(text)


def wants_json(as_json: bool | None, stream: TextIO) -> bool:
    """VIEWCOUNT_LOG_JSON when it is set; otherwise JSON unless ``stream`` is a terminal."""
    if as_json is not None:
        return as_json
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def setup(level: str = "info", as_json: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if wants_json(as_json, sys.stderr) else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at info: the feeds' fetches and an import's batches have
    # lines of their own.
    for noisy in ("apscheduler", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
