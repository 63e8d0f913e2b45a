"""The authors index a process serves: the catalog's authors, read once per ranking snapshot."""

from __future__ import annotations

import asyncio
import hashlib

import orjson

from .catalog import Catalog


class AuthorsIndex:
    """The /v1/authors body of one snapshot: the catalog's author counts cost a read of every
    shard's two author hashes, so a process reads them when its snapshot changes (a rollup
    or a delete), not per request."""

    def __init__(self) -> None:
        self._snapshot = ""  # the ETag of the snapshot the body was read under
        self._etag = ""
        self._body = b""
        self._reading = asyncio.Lock()

    async def body(self, catalog: Catalog, snapshot_etag: str) -> tuple[str, bytes]:
        """ETag and JSON body; one catalog read per snapshot, however many ask at once."""
        if self._snapshot != snapshot_etag:
            async with self._reading:
                if self._snapshot != snapshot_etag:
                    body = orjson.dumps({"authors": await catalog.authors()})
                    # Of the body: processes that read the catalog at other moments agree
                    # whenever what they read agrees.
                    digest = hashlib.blake2b(body, digest_size=8).hexdigest()
                    self._etag, self._body = f'"authors.{digest}"', body
                    self._snapshot = snapshot_etag
        return self._etag, self._body
