"""Files under service/static: read once, served with an ETag, a short max-age, gzip if asked.

widget.js is rendered as it is read: the service's own table of facts (article ids, languages
and their plural labels, request defaults) replaces a placeholder, so the script carries no
copy of them.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import PurePosixPath

import orjson
from fastapi import Request, Response

from ..locale import DEFAULT_LANG, LABELS, MOVEMENT
from ..validate import ARTICLE_ID_PATTERN
from .schemas import DEFAULT_LIMIT, DEFAULT_WINDOW, MAX_IDS

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
}

# Where a script takes its table of facts: `var FACTS = /*@facts*/ null;`.
FACTS_MARK = b"/*@facts*/ null"


def widget_facts() -> dict[str, object]:
    """What widget.js knows of the service, each from the module that owns it."""
    return {
        "article_id": ARTICLE_ID_PATTERN,  # matched whole
        "max_ids": MAX_IDS,
        "labels": LABELS,  # per language, per CLDR plural category
        "movement": MOVEMENT,  # per language: new, up, down
        "default_lang": DEFAULT_LANG,
        "default_window": DEFAULT_WINDOW,
        "default_limit": DEFAULT_LIMIT,
    }


RENDERED = {"widget.js": widget_facts}


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
    facts = RENDERED.get(name)
    if facts is not None:
        body = fill(body, facts())
    return as_asset(name, body)


def as_asset(name: str, body: bytes) -> Asset:
    """A file's bytes as an Asset, its media type from its name."""
    digest = hashlib.blake2b(body, digest_size=8).hexdigest()
    media_type = MEDIA_TYPES.get(PurePosixPath(name).suffix, "application/octet-stream")
    # mtime=0: the same file always compresses to the same bytes, in every worker.
    return Asset(body, gzip.compress(body, 9, mtime=0), media_type, f'"{digest}"')


def fill(source: bytes, facts: dict[str, object]) -> bytes:
    """A script with its table of facts in place of FACTS_MARK (there must be one)."""
    if source.count(FACTS_MARK) != 1:
        raise ValueError(f"a script to render needs exactly one {FACTS_MARK.decode()}")
    return source.replace(FACTS_MARK, orjson.dumps(facts))


def load() -> None:
    """Render the scripts now, at startup, so a broken one stops the service there."""
    for name in RENDERED:
        asset(name)


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
