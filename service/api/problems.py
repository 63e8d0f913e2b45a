"""RFC 9457 problem documents: the one place a domain error becomes an HTTP response."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import DomainError, RateLimited

STATUS_TITLES: dict[str, tuple[int, str]] = {
    "invalid_body": (400, "Invalid body"),
    "unauthorized": (401, "Unauthorized"),
    "admin_disabled": (403, "Admin API disabled"),
    "unknown_article": (404, "Unknown article"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "request_timeout": (408, "Request timeout"),
    "payload_too_large": (413, "Payload too large"),
    "headers_too_large": (431, "Request header fields too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "invalid_article_id": (422, "Invalid article id"),
    "invalid_parameter": (422, "Invalid parameter"),
    "invalid_field": (422, "Invalid field"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal error"),
    "storage_unavailable": (503, "Storage unavailable"),
}

PROBLEM_TYPE = "application/problem+json"


def problem(code: str, detail: str) -> tuple[int, bytes]:
    """Status and body of the problem document for ``code``."""
    status, title = STATUS_TITLES.get(code, (400, "Bad request"))
    body = orjson.dumps(
        {
            "type": f"urn:viewcount:problem:{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        }
    )
    return status, body


def from_error(error: DomainError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body and extra headers for a domain error."""
    status, body = problem(error.code, error.detail)
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(error, RateLimited):
        headers.append((b"retry-after", str(error.retry_after_s).encode()))
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="viewcount"'))
    if status == 408:  # the rest of a trickled body must not be read as the next request
        headers.append((b"connection", b"close"))
    return status, body, headers


def unavailable(retry_after_s: int) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    status, body = problem(
        "storage_unavailable", "the counter store did not answer in time; retry shortly"
    )
    return status, body, [(b"retry-after", str(retry_after_s).encode())]


def schema(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problem codes a route can answer."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        status, title = STATUS_TITLES[code]
        entry = responses.setdefault(
            status,
            {
                "description": title,
                "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            },
        )
        if entry["description"] != title:
            entry["description"] += f" / {title}"
    return responses
