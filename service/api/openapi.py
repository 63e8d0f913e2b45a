"""The OpenAPI document: FastAPI's from the routes, with the problem schema, the parameter
constraints the handlers check themselves, and the answers every operation can get: the
protocol's problems, and on admin routes the bearer token and its problems."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from ..export import FORMATS
from ..locale import DEFAULT_LANG, LANGS
from ..rankings import FRESHNESS_S, MAX_EXCLUDE
from ..timeseries import ARTICLE_SHAPES, SITE_SHAPES
from ..validate import ARTICLE_ID_PATTERN as _ID
from ..windows import WINDOWS_BY_NAME
from .asgi import PROBLEM_TYPE, STATUS_TITLES
from .auth import requires_admin, takes_ingest_tokens
from .html import COUNTS, KINDS, MOVEMENT_VALUES
from .schemas import (
    ARTICLE_PATTERN,
    COMPONENTS,
    DEFAULT_LIMIT,
    DEFAULT_WINDOW,
    MAX_IDS,
    MAX_LIMIT,
    REPORT_WINDOWS,
    SCHEMA_COMPONENTS,
    SUSPICIOUS_PATH,
    THEME_PATTERN,
    TIMESERIES_WINDOW,
)

# Handlers take these as plain strings and check them themselves (one problem document for
# every bad value); the document states what they accept.
PARAMETERS: dict[str, dict[str, Any]] = {
    "article": {"type": "string", "pattern": ARTICLE_PATTERN},
    "theme": {"type": "string", "pattern": THEME_PATTERN},
    "author": {"type": "string", "pattern": THEME_PATTERN, "description": "the author's slug"},
    "articles": {
        "type": "string",
        "pattern": f"^{_ID}(,{_ID}){{0,{MAX_IDS - 1}}}$",
        "description": f"1-{MAX_IDS} comma-separated article ids",
    },
    "exclude": {
        "type": "string",
        "pattern": f"^({_ID}(,{_ID}){{0,{MAX_EXCLUDE - 1}}})?$",
        "description": f"up to {MAX_EXCLUDE} comma-separated article ids left out of the list "
        "(it is still filled to `limit`); empty: none",
    },
    "published_within": {
        "type": "string",
        "enum": list(FRESHNESS_S),
        "description": "only articles published within this long before `as_of`",
    },
    "window": {"type": "string", "enum": list(WINDOWS_BY_NAME), "default": DEFAULT_WINDOW},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "lang": {"type": "string", "enum": list(LANGS), "default": DEFAULT_LANG},
    # popular.html's list attributes (no other operation takes these names).
    "kind": {"type": "string", "enum": list(KINDS), "default": KINDS[0]},
    "count": {"type": "string", "enum": list(COUNTS), "default": COUNTS[0]},
    "movement": {"type": "string", "enum": list(MOVEMENT_VALUES)},
    "format": {"type": "string", "enum": list(FORMATS), "default": "csv"},
}


# The series' windows: an article's 24h is live hours, 7d and 30d local days; the site's too.
SERIES_WINDOWS = {
    "/v1/articles/{article}/timeseries": (TIMESERIES_WINDOW, *ARTICLE_SHAPES),
    "/v1/timeseries": tuple(SITE_SHAPES),
}

# What any request may be answered before a route runs (protocol.py): a head too large, or a
# head or body too slow.
PROTOCOL_ERRORS = ("request_timeout", "headers_too_large")
ADMIN_ERRORS = ("unauthorized", "admin_disabled")
ADMIN_SCHEME = "admin_token"
INGEST_SCHEME = "ingest_token"
SECURITY_SCHEMES = {
    ADMIN_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "VIEWCOUNT_ADMIN_TOKEN (without one configured: 403 admin_disabled)",
    },
    INGEST_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "one of VIEWCOUNT_INGEST_TOKENS: the batch endpoint only",
    },
}


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


def document(app: FastAPI, routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The document of ``app``, whose routes (as declared, not as included) are ``routes``."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in COMPONENTS:
        components[model.__name__] = model.model_json_schema()
    components.update(SCHEMA_COMPONENTS)
    spec["components"]["securitySchemes"] = SECURITY_SCHEMES
    problem_422 = _stringify(schema("invalid_parameter"))["422"]
    for path, item in spec["paths"].items():
        for operation in item.values():
            if _is_fastapi_422(operation):  # our 422s are problem documents
                operation["responses"]["422"] = problem_422
            _constrain_parameters(path, operation)
            _add_responses(operation, PROTOCOL_ERRORS)
    for path, method in _operations(routes, requires_admin):
        operation = spec["paths"][path][method]
        operation["security"] = [{ADMIN_SCHEME: []}]
        _add_responses(operation, ADMIN_ERRORS)
    for path, method in _operations(routes, takes_ingest_tokens):
        operation = spec["paths"][path][method]
        operation["security"] = [{ADMIN_SCHEME: []}, {INGEST_SCHEME: []}]
        _add_responses(operation, ADMIN_ERRORS)
    _hoist_defs(spec, components)
    app.openapi_schema = spec
    return spec


def _add_responses(operation: dict[str, Any], codes: tuple[str, ...]) -> None:
    """The problems of ``codes``, beside those the operation documents already."""
    responses = operation.setdefault("responses", {})
    for status, entry in _stringify(schema(*codes)).items():
        responses.setdefault(status, entry)


def _operations(
    routes: Sequence[BaseRoute], guarded: Callable[[BaseRoute], bool]
) -> list[tuple[str, str]]:
    """(path, method) of every documented route ``guarded`` holds (a token it requires)."""
    return [
        (route.path_format, method.lower())
        for route in routes
        if isinstance(route, APIRoute) and route.include_in_schema and guarded(route)
        for method in route.methods or ()
    ]


def _constrain_parameters(path: str, operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        constrained = PARAMETERS.get(parameter["name"])
        if constrained is not None and parameter["in"] in ("path", "query"):
            parameter["schema"] = dict(constrained)
            if parameter["name"] == "window" and path in SERIES_WINDOWS:
                parameter["schema"]["enum"] = list(SERIES_WINDOWS[path])
                parameter["schema"]["default"] = SERIES_WINDOWS[path][0]
            elif parameter["name"] == "window" and path == SUSPICIOUS_PATH:
                parameter["schema"]["enum"] = list(REPORT_WINDOWS)  # a day of hourly records


def _hoist_defs(node: Any, components: dict[str, Any]) -> None:
    """Move the ``$defs`` of request-body models into components, where their refs resolve."""
    if isinstance(node, dict):
        for name, definition in node.pop("$defs", {}).items():
            components.setdefault(name, definition)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
        for value in node.values():
            _hoist_defs(value, components)
    elif isinstance(node, list):
        for value in node:
            _hoist_defs(value, components)


def _stringify(responses: dict[int | str, Any]) -> dict[str, Any]:
    return {str(status): entry for status, entry in responses.items()}


def _is_fastapi_422(operation: dict[str, Any]) -> bool:
    """FastAPI's default 422 entry names HTTPValidationError; ours are problem documents."""
    content = operation.get("responses", {}).get("422", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.endswith("HTTPValidationError") and PROBLEM_TYPE not in content
