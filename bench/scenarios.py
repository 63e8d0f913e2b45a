"""What one benchmark run measures: the rows of the table and the servers behind them."""

from __future__ import annotations

from dataclasses import dataclass

from .wrk import Load

TOKEN = "bench-admin-token-0123456789abcdef"
ARTICLES = 1000
THEMES = 20
BATCH_EVENTS = 10_000
POPULAR = "/v1/popular?window=24h&limit=10"
COUNTS = "/v1/views?articles=" + ",".join(f"bench-{i}" for i in range(20))

LIMIT_POST = "limit: raw ASGI, POST body"
LIMIT_GET = "limit: raw ASGI, GET"
NAIVE_POST = "naive: POST /v1/views"
NAIVE_POPULAR = "naive: GET /v1/popular"
NAIVE_COUNTS = "naive: GET /v1/views"
BEACON = "viewcount: POST /v1/views"
PIXEL = "viewcount: GET pixel.gif"
BATCH = "viewcount: POST /v1/views/batch"
VC_POPULAR = "viewcount: GET /v1/popular"
VC_COUNTS = "viewcount: GET /v1/views (20 ids)"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row: which server, what load, and the rows its ratios are taken against."""

    name: str
    target: str  # limit | naive | viewcount
    load: Load
    limit_row: str
    naive_row: str
    counted: bool = False  # acknowledged views are checked against Redis


def scenarios(batch_connections: int) -> list[Scenario]:
    """Every row, in the order each round runs them (so noise spreads over all of them)."""
    beacon, get_popular, get_counts = Load("beacon"), Load("get", POPULAR), Load("get", COUNTS)
    return [
        Scenario(LIMIT_POST, "limit", beacon, LIMIT_POST, NAIVE_POST),
        Scenario(NAIVE_POST, "naive", beacon, LIMIT_POST, NAIVE_POST),
        Scenario(BEACON, "viewcount", beacon, LIMIT_POST, NAIVE_POST, counted=True),
        Scenario(PIXEL, "viewcount", Load("pixel"), LIMIT_POST, NAIVE_POST, counted=True),
        Scenario(
            BATCH,
            "viewcount",
            Load("batch", connections=batch_connections, events=BATCH_EVENTS),
            LIMIT_POST,
            NAIVE_POST,
            counted=True,
        ),
        Scenario(LIMIT_GET, "limit", get_popular, LIMIT_GET, NAIVE_POPULAR),
        Scenario(NAIVE_POPULAR, "naive", get_popular, LIMIT_GET, NAIVE_POPULAR),
        Scenario(VC_POPULAR, "viewcount", get_popular, LIMIT_GET, NAIVE_POPULAR),
        Scenario(NAIVE_COUNTS, "naive", get_counts, LIMIT_GET, NAIVE_COUNTS),
        Scenario(VC_COUNTS, "viewcount", get_counts, LIMIT_GET, NAIVE_COUNTS),
    ]
