"""Files under service/static: read once, served with an ETag, a short max-age, gzip if asked."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import PurePosixPath

from fastapi import Request, Response

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str  # of the plain body; the gzip representation is a different one, "-gz"

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gz"'


@cache
def asset(name: str) -> Asset:
    """A file of service/static by name; FileNotFoundError when there is none."""
    body = files("service").joinpath("static", name).read_bytes()
    digest = hashlib.blake2b(body, digest_size=8).hexdigest()
    media_type = MEDIA_TYPES.get(PurePosixPath(name).suffix, "application/octet-stream")
    # mtime=0: the same file always compresses to the same bytes, in every worker.
    return Asset(body, gzip.compress(body, 9, mtime=0), media_type, f'"{digest}"')


def text(name: str) -> str:
    """A file of service/static as text."""
    return asset(name).body.decode("utf-8")


def asset_response(
    request: Request, item: Asset, max_age_s: int, headers: dict[str, str] | None = None
) -> Response:
    """The asset, or 304 when the client holds it; gzip for clients that accept it."""
    wants_gzip = "gzip" in request.headers.get("accept-encoding", "")
    use_gzip = wants_gzip and len(item.gzipped) < len(item.body)
    etag = item.gzip_etag if use_gzip else item.etag
    sent = {
        "etag": etag,
        "cache-control": f"public, max-age={max_age_s}",
        "vary": "Accept-Encoding",
        **(headers or {}),
    }
    if_none_match = request.headers.get("if-none-match", "")
    if item.etag in if_none_match or item.gzip_etag in if_none_match:
        return Response(status_code=304, headers=sent)
    if use_gzip:
        sent["content-encoding"] = "gzip"
    return Response(
        item.gzipped if use_gzip else item.body, headers=sent, media_type=item.media_type
    )
