"""What the HTTP layer works with, built once per app in its lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import Catalog
from ..clock import Clock
from ..commit import Committer
from ..counts import Counts
from ..ingest import Identity
from ..metrics import Metrics
from ..rankings import Rankings
from ..settings import Settings
from ..storage import Storage


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
