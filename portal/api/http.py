"""HTTP framing shared by API v1 routes: JSON bodies from dataclasses, ETags and 304s, CORS.

JSON is written by pydantic's serializer straight from the service dataclasses (the same
`TypeAdapter` documents them in the OpenAPI document). Every 200 JSON answer gets a strong ETag
(a hash of its bytes; row pages get one from the immutable version and the query before any row
is read, so a revalidation never touches DuckDB). Flask-Compress appends `:gzip` (or `:br`,
`:zstd`) to a strong ETag it compresses, so an If-None-Match with that suffix matches too.

CORS: reads are open to every origin without credentials (`*`, never cookies), preflights
allow the headers an API client sends.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from typing import Any

from flask import Response, request
from pydantic import TypeAdapter

from portal.catalog.schemas import as_utc

ENCODINGS = ("gzip", "br", "zstd", "deflate")
EXPOSED = ("ETag, Last-Modified, Link, Retry-After, RateLimit, RateLimit-Policy, "
           "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": EXPOSED,
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, X-API-Key, If-None-Match, If-Modified-Since, Accept, Accept-Language",
    "Access-Control-Max-Age": "86400",
}


@functools.cache
def adapter(shape: Any) -> TypeAdapter:
    return TypeAdapter(shape)


def json_response(value: Any, shape: Any) -> Response:
    """`value` (a service dataclass or a list of them) as JSON, shaped by `shape`."""
    return Response(adapter(shape).dump_json(value), mimetype="application/json")


def make_etag(*parts: object) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).hexdigest()


def matching_etag(etag: str) -> str | None:
    """The form of `etag` the client already holds (If-None-Match), if any."""
    held = request.if_none_match
    if not held:
        return None
    if held.star_tag or held.contains(etag):
        return etag
    return next((f"{etag}:{e}" for e in ENCODINGS if held.contains(f"{etag}:{e}")), None)


def not_modified(etag: str, last_modified: datetime | None = None) -> Response:
    response = Response(status=304)
    response.set_etag(etag)
    if last_modified is not None:
        response.last_modified = as_utc(last_modified)
    return response


def finish(response: Response) -> Response:
    """After every API response: CORS headers, and an ETag + 304 for plain JSON answers."""
    response.headers.update(CORS_HEADERS)
    if request.method == "OPTIONS":
        response.headers.update(PREFLIGHT_HEADERS)
        return response
    if (request.method in ("GET", "HEAD") and response.status_code == 200 and not response.is_streamed
            and response.get_etag()[0] is None and response.mimetype == "application/json"):
        etag = make_etag(response.get_data())
        held = matching_etag(etag)
        if held:
            return not_modified(held)
        response.set_etag(etag)
    return response
