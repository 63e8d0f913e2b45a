"""Raw ASGI calls: any bytes in the path, query and headers, which HTTP clients refuse to send."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

PEER = ("203.0.113.7", 40000)


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.encode())
        return None if value is None else value.decode("latin-1")

    def json(self) -> Any:
        return orjson.loads(self.body)


async def call(
    app: Any,
    method: str,
    raw_path: bytes,
    *,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    client: tuple[str, int] = PEER,
) -> Answer:
    """One request straight into the ASGI app, the way a server would hand it over."""
    path = unquote_to_bytes(raw_path).decode("utf-8", "replace")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in headers or []],
        "client": client,
        "server": ("viewcount.test", 80),
        "state": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], dict(start.get("headers", [])), content)


def assert_problem_or_success(answer: Answer, allowed: set[int]) -> None:
    """A success, or an RFC 9457 problem document with a stable code; never a server error."""
    assert answer.status < 500, (answer.status, answer.body)
    assert answer.status in allowed, (answer.status, answer.body)
    if answer.status >= 400:
        assert answer.header("content-type") == "application/problem+json", answer.headers
        doc = answer.json()
        assert doc["status"] == answer.status
        assert set(doc) >= {"type", "title", "status", "detail", "code"}
        assert doc["code"].replace("_", "").isalpha() and doc["code"].islower()
