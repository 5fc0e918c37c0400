"""The row endpoint of API v1: pages of an open dataset's rows as JSON, NDJSON or CSV.

The page is prepared (dataset, version and every parameter checked, no row read), its ETag
derived from the immutable version and the query, and only then read; the body is assembled
from the JSON texts DuckDB wrote. The next page is in the body (`next_cursor`, `next`) and in
a `Link: <…>; rel="next"` header (all formats).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from flask import Response, current_app, request, url_for

from portal.api.http import make_etag, matching_etag, not_modified
from portal.api.schemas import RowsPage, RowsQuery
from portal.api.spec import endpoint
from portal.auth import current_actor
from portal.catalog import rowpages
from portal.catalog.schemas import as_utc
from portal.db import get_session
from portal.errors import BadRequest

API_REVISION = "1"  # in every row ETag: bump when the encoding of pages changes
MEDIA = {"json": "application/json", "ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@endpoint("/datasets/<slug>/rows", tag="rows", scope="rows:read", query=RowsQuery, response=RowsPage,
          filters=True, media=tuple(MEDIA.values()))
def dataset_rows(slug: str, params: RowsQuery, filters: tuple[tuple[str, str], ...]):
    """A page of rows of an open dataset.

    Filter with `column__op=value` (operators `eq ne lt le gt ge in between contains startswith
    is_null`; `in` and `between` take comma-separated values), sort with `sort=col,-col`, choose
    columns with `_fields=a,b`, read an earlier version with `version=N`. Follow `next_cursor`
    (or the `Link` header) for the next page. Rows of `conditional` and `closed` datasets are
    never served (403, `rows-not-open`).
    """
    wanted = rowpages.RowRequest(filters=filters, sort=params.sort, fields=params.fields,
                                 size=_size(params.size), cursor=params.cursor, version=params.version,
                                 format=params.format)
    prepared = rowpages.prepare_page(get_session(), current_actor(), slug, wanted,
                                     data_dir=Path(current_app.config["DATA_DIR"]))
    version = prepared.version
    etag = make_etag(API_REVISION, version.storage_path, version.checksum, request.host_url,
                     sorted(request.args.items(multi=True)))
    held = matching_etag(etag)
    if held:
        return not_modified(held, version.created_at)
    return _response(prepared, rowpages.read_page(prepared), etag)


def _size(size: int | None) -> int:
    maximum = current_app.config["API_MAX_PAGE_SIZE"]
    if size is None:
        return min(current_app.config["API_PAGE_SIZE"], maximum)
    if size > maximum:
        raise BadRequest(f"size must be at most {maximum}", code="invalid-limit",
                         errors={"size": [f"at most {maximum}"]})
    return size


def _response(prepared: rowpages.PreparedPage, page, etag: str) -> Response:
    next_url = _next_url(prepared.slug, page.next_cursor)
    if prepared.format == "csv":
        body = page.csv
    elif prepared.format == "ndjson":
        body = "".join(row + "\n" for row in page.rows).encode()
    else:
        head = {"dataset": prepared.slug, "version": prepared.version.number,
                "columns": [{"name": c.name, "type": c.type} for c in page.columns], "total": page.total,
                "size": prepared.query.limit, "next_cursor": page.next_cursor, "next": next_url}
        body = (json.dumps(head, ensure_ascii=False)[:-1] + ',"rows":[' + ",".join(page.rows) + "]}").encode()
    response = Response(body, mimetype=MEDIA[prepared.format])
    response.set_etag(etag)
    response.last_modified = as_utc(prepared.version.created_at)
    response.cache_control.public = True
    response.cache_control.max_age = 60 if prepared.current else 3600
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


def _next_url(slug: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"] + [("cursor", cursor)]
    return url_for("api.dataset_rows", slug=slug, _external=True) + "?" + urlencode(args)
