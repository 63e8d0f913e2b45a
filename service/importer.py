"""`viewcount import`: web-server access logs (nginx/Apache combined, JSON lines) read line by
line into batch events with `ip` and `user_agent`, posted to a running service's batch
endpoint, with a summary of every line's fate.

Why over HTTP rather than straight into Redis: an import is then one more log shipper. The
service applies its own rules (catalog, bots, the per-client cap, event ids keyed by its
secret), writes its metrics and logs, and the importer needs no Redis URL or secret, only an
ingest token; it can run on the web server whose log it reads.

Running twice counts nothing twice: each event's `event_id` is a digest of what the line says
(address, time, request, status, size, referrer, User-Agent; not the file's name or the line's
number) and of its place in a run of identical requests. So the same request logged in the
combined and in a JSON log gets the same id, a rotated or re-compressed file gives the same
ids, and two identical lines in a row (the same reader reloading within a second) are two
views; identical lines that are not adjacent are one (a choice: a count kept per distinct line
would grow with the file). The service keys the id with VIEWCOUNT_SECRET before Redis sees it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

from .clock import rfc3339
from .validate import is_article_id

FORMATS = ("combined", "json")
# nginx's and Apache's `combined`: $remote_addr - $remote_user [$time_local] "$request"
# $status $body_bytes_sent "$http_referer" "$http_user_agent". nginx escapes a quote inside a
# field as \x22, Apache as \"; both are read. No locked library parses it, and the format is
# fixed by both servers' documentation.
COMBINED = re.compile(
    r'(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referer>(?:[^"\\]|\\.)*)" '
    r'"(?P<agent>(?:[^"\\]|\\.)*)"'
)
CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})|\\(.)")
# JSON lines: the names nginx's variables give (deploy/nginx/viewcount.conf), then the names
# other servers and shippers use for the same thing.
JSON_FIELDS = {
    "ip": ("remote_addr", "ip", "client", "client_ip", "remote_ip", "host"),
    "time": ("time_iso8601", "time", "timestamp", "@timestamp", "time_local", "date"),
    "method": ("request_method", "method"),
    "target": ("request_uri", "uri", "path", "url"),
    "request": ("request",),
    "status": ("status", "code", "status_code"),
    "bytes": ("body_bytes_sent", "bytes_sent", "size", "bytes"),
    "referer": ("http_referer", "referer", "referrer"),
    "agent": ("http_user_agent", "user_agent", "agent"),
}


@dataclass(frozen=True, slots=True)
class Request:
    """What one access-log line says, whatever its format."""

    ip: str
    at: float  # epoch seconds
    method: str
    target: str  # the request target: path and query, as logged
    status: int
    size: str
    referer: str
    user_agent: str

    def digest(self, repeat: int) -> str:
        """The event id: what the line says, and its place in a run of identical lines."""
        material = "\0".join(
            (self.ip, str(int(self.at)), self.method, self.target, str(self.status), self.size,
             self.referer, self.user_agent, str(repeat))
        )  # fmt: skip
        return hashlib.blake2b(material.encode(), digest_size=20, person=b"vc-import").hexdigest()


class Unparseable(Exception):
    """A line in neither format, or with a field that does not read."""


def parse_combined(line: str) -> Request:
    found = COMBINED.match(line)
    if found is None:
        raise Unparseable("not a combined log line")
    method, target = _request_line(_unescape(found["request"]))
    try:
        at = _clf_time(found["time"])
    except ValueError as exc:
        raise Unparseable(f"time {found['time']!r}") from exc
    return Request(
        found["ip"],
        at,
        method,
        target,
        int(found["status"]),
        found["bytes"],
        _unescape(found["referer"]),
        # nginx writes "-" for a missing User-Agent, its JSON log "": one request, one event.
        "" if found["agent"] == "-" else _unescape(found["agent"]),
    )


def parse_json(line: str) -> Request:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise Unparseable("not JSON") from exc
    if not isinstance(record, dict):
        raise Unparseable("not a JSON object")
    value = {name: _first(record, names) for name, names in JSON_FIELDS.items()}
    method, target = value["method"], value["target"]
    if (method is None or target is None) and isinstance(value["request"], str):
        method, target = _request_line(value["request"])
    status = value["status"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(method, str) or not isinstance(target, str) or not isinstance(status, int):
        raise Unparseable("no method, request target or status")
    ip, agent = value["ip"], value["agent"]
    return Request(
        ip if isinstance(ip, str) else "",
        _json_time(value["time"]),
        method,
        target,
        status,
        str(value["bytes"] if value["bytes"] is not None else "-"),
        str(value["referer"] or "-"),
        agent if isinstance(agent, str) else "",
    )


def _first(record: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def _json_time(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / (1000 if value >= 100_000_000_000 else 1)
    if isinstance(value, str):
        for parse in (datetime.fromisoformat, lambda v: datetime.strptime(v, CLF_TIME)):
            try:
                parsed = parse(value)
            except ValueError:
                continue
            if parsed.tzinfo is not None:  # a time without an offset is no time to count by
                return parsed.timestamp()
    raise Unparseable(f"time {value!r}")


@lru_cache(maxsize=256)
def _clf_time(text: str) -> float:
    """strptime was half of an import's time: a busy log repeats each second many times."""
    return datetime.strptime(text, CLF_TIME).timestamp()


def _request_line(request: str) -> tuple[str, str]:
    parts = request.split(" ")
    if len(parts) not in (2, 3) or not parts[0].isalpha():
        raise Unparseable(f"request line {request[:80]!r}")
    return parts[0], parts[1]


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(int(m[1], 16)) if m[1] else m[2], text)


PARSERS: dict[str, Callable[[str], Request]] = {"combined": parse_combined, "json": parse_json}


@dataclass(slots=True)
class Summary:
    """Every line's fate; ``as_json`` is what `viewcount import` prints at the end."""

    lines: int = 0
    unparseable: int = 0
    too_long: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # not_get, not_2xx, not_article
    sent: int = 0
    counted: int = 0
    duplicates: int = 0
    bots: int = 0
    automated: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # by the service's code

    def add_answer(self, answer: dict[str, Any]) -> None:
        self.counted += int(answer.get("counted", 0))
        self.duplicates += int(answer.get("duplicates", 0))
        self.bots += int(answer.get("bots", 0))
        self.automated += int(answer.get("automated", 0))
        self.rejected.update(str(r.get("code")) for r in answer.get("rejected", ()))

    def as_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "unparseable": self.unparseable,
            "too_long": self.too_long,
            "skipped": dict(sorted(self.skipped.items())),
            "sent": self.sent,
            "counted": self.counted,
            "duplicates": self.duplicates,
            "bots": self.bots,
            "automated": self.automated,
            "rejected": dict(sorted(self.rejected.items())),
        }


class TooLong:
    """A line over VIEWCOUNT_IMPORT_MAX_LINE_BYTES: read past, never held whole."""

    __slots__ = ()


TOO_LONG = TooLong()


def read_lines(stream: io.BufferedIOBase, max_bytes: int) -> Iterator[bytes | TooLong]:
    """The stream's lines without their newline, each at most ``max_bytes``: constant memory
    whatever the file, even one with no newline at all."""
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # the rest of it, a bounded piece at a time
                line = stream.readline(max_bytes + 1)
            yield TOO_LONG
            continue
        yield line.rstrip(b"\r\n")


def open_log(path: Path) -> io.BufferedIOBase:
    """The file, read through gzip when it is compressed (a rotated access.log.2.gz)."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if compressed else path.open("rb")


class Events:
    """Lines to batch events: parsed, filtered (GET, 2xx, an article path), given their id."""

    def __init__(self, log_format: str, path_pattern: str, summary: Summary) -> None:
        self.parse = PARSERS[log_format]
        self.pattern = re.compile(path_pattern)
        self.summary = summary
        self._last: Request | None = None
        self._repeat = 0

    def of(self, lines: Iterable[bytes | TooLong]) -> Iterator[dict[str, Any]]:
        for line in lines:
            self.summary.lines += 1
            if isinstance(line, TooLong):
                self.summary.too_long += 1
                continue
            if not line.strip():
                self.summary.skipped["blank"] += 1
                continue
            try:
                request = self.parse(line.decode("utf-8", "replace"))
            except Unparseable:
                self.summary.unparseable += 1
                continue
            event = self._event(request)
            if event is not None:
                yield event

    def _event(self, request: Request) -> dict[str, Any] | None:
        self._repeat = self._repeat + 1 if request == self._last else 0
        self._last = request
        if request.method != "GET":
            self.summary.skipped["not_get"] += 1
            return None
        if not 200 <= request.status < 300:
            self.summary.skipped["not_2xx"] += 1
            return None
        article = self.article_of(request.target)
        if article is None:
            self.summary.skipped["not_article"] += 1
            return None
        event = {
            "article": article,
            "at": rfc3339(request.at),
            "event_id": request.digest(self._repeat),
        }
        if request.ip:
            event["ip"] = request.ip
        event["user_agent"] = request.user_agent
        return event

    def article_of(self, target: str) -> str | None:
        """VIEWCOUNT_IMPORT_PATH_PATTERN's `article` group on the path (query removed,
        percent-decoded), when it is an article id."""
        path = unquote(target.split("?", 1)[0].split("#", 1)[0])
        found = self.pattern.search(path)
        article = found["article"] if found else None
        return article if article and is_article_id(article) else None


def batches(events: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class ImportFailed(Exception):
    """The service refused the import as a whole (a bad token, a wrong URL) or stayed away."""


def post_batches(
    client: Any,
    url: str,
    token: str,
    groups: Iterable[list[dict[str, Any]]],
    summary: Summary,
    *,
    retries: int,
    on_batch: Callable[[], None] = lambda: None,
) -> None:
    """Each batch as NDJSON to POST /v1/views/batch; 429 and 503 retried after Retry-After
    (``retries`` times), anything else but 200 ends the import with ImportFailed."""
    endpoint = url.rstrip("/") + "/v1/views/batch"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    for group in groups:
        body = b"".join(orjson.dumps(event) + b"\n" for event in group)
        answer = _post(client, endpoint, headers, body, retries)
        summary.sent += len(group)
        summary.add_answer(answer)
        on_batch()


def _post(client: Any, endpoint: str, headers: dict[str, str], body: bytes, retries: int) -> Any:
    import httpx

    for attempt in range(retries + 1):
        try:
            response = client.post(endpoint, content=body, headers=headers)
        except httpx.TransportError as exc:
            if attempt == retries:
                raise ImportFailed(f"cannot reach {endpoint}: {exc}") from exc
            time.sleep(min(2**attempt, 30))
            continue
        if response.status_code == 200:
            return response.json()
        if response.status_code not in (429, 503) or attempt == retries:
            raise ImportFailed(f"{endpoint} answered {response.status_code}: {_detail(response)}")
        time.sleep(_retry_after(response.headers.get("retry-after"), attempt))
    raise ImportFailed(f"{endpoint} did not take the batch")  # pragma: no cover (loop returns)


def _retry_after(header: str | None, attempt: int) -> float:
    if header and header.isdigit():
        return min(float(header), 60.0)
    return float(min(2**attempt, 30))


def _detail(response: Any) -> str:
    try:
        return str(response.json().get("detail", response.text[:200]))
    except ValueError:
        return str(response.text[:200])
