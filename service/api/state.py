"""What the HTTP layer works with, built once per app in its lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..authors import AuthorsIndex
from ..catalog import Catalog
from ..clock import Clock
from ..commit import Committer
from ..counts import Counts
from ..ingest import Identity
from ..metrics import Metrics
from ..rankings import Rankings
from ..settings import Settings
from ..storage import Storage
from .asgi import Headers, Receive, Scope, Send

if TYPE_CHECKING:  # the fetcher and page parsers load only when VIEWCOUNT_SITES is set (httpx
    # itself always: a beacon's url is checked as httpx would request it, discovery/urls.py)
    from ..discovery.pending import Discovery
    from ..rollup import Rollup


@dataclass
class Services:
    settings: Settings
    clock: Clock
    storage: Storage
    catalog: Catalog
    counts: Counts
    committer: Committer
    identity: Identity
    rankings: Rankings
    metrics: Metrics
    discovery: Discovery | None = None  # VIEWCOUNT_SITES set: views of unknown articles held
    authors: AuthorsIndex = field(default_factory=AuthorsIndex)  # /v1/authors, per snapshot
    # POST /v1/rollup's, made at its first call and kept, as a scheduler keeps its own: what
    # it read of the catalog carries over from one rollup to the next (catalogcache.py).
    rollup: Rollup | None = None


# A fast path answers and returns True, or returns False (having sent nothing) to decline.
FastPath = Callable[[Services, Scope, Receive, Send, Headers], Awaitable[bool]]
