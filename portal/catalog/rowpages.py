"""Pages of rows for the row API: the request's shape, its checks against the version's columns,
and the page encoded by the store (JSON texts or CSV bytes, so no per-value Python work).

Split in two so a caller can answer a conditional request (ETag) after the checks and before
any row is read: `prepare_page` resolves and validates without touching the data, `read_page`
runs the query. Both are format-neutral: the HTTP framing belongs to the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from portal import store
from portal.auth import Actor
from portal.catalog.pagecache import PAGES
from portal.catalog.schemas import parse_filters, parse_sort
from portal.catalog.tables import TableVersion, readable_version, stored
from portal.errors import BadRequest

MAX_FIELDS = 500


@dataclass(frozen=True)
class RowRequest:
    """What a client asked for; filters are the `column__op=value` pairs as given."""

    filters: tuple[tuple[str, str], ...] = ()
    sort: str = ""
    fields: str = ""
    size: int = 100
    cursor: str | None = None
    version: int | None = None
    format: str = "json"


@dataclass(frozen=True)
class PreparedPage:
    slug: str
    version: TableVersion
    current: bool
    table: store.StoredTable
    query: store.RowQuery
    format: str


def prepare_page(session: Session, actor: Actor, slug: str, request: RowRequest, *, data_dir: Path) -> PreparedPage:
    """Resolve the version and check every parameter against its columns; reads no row.

    Raises:
        NotFound: dataset or version.
        Forbidden: rows of a conditional or closed dataset (`rows-not-open`).
        BadRequest: `unknown-column`, `unknown-operator`, `bad-parameter`.
    """
    if request.format not in store.PAGE_FORMATS:
        raise BadRequest(f"format must be one of {', '.join(store.PAGE_FORMATS)}", code="bad-parameter")
    found, version = readable_version(session, actor, slug, request.version)
    names = {c.name for c in version.columns}
    query = store.RowQuery(filters=parse_filters(dict(request.filters), names),
                           sort=parse_sort(request.sort, names), fields=_fields(request.fields, names),
                           limit=request.size, cursor=request.cursor or None)
    return PreparedPage(slug=slug, version=version, current=version.number == found.current,
                        table=stored(version, data_dir), query=query, format=request.format)


def read_page(page: PreparedPage) -> store.EncodedPage:
    """Run the prepared query (or take its page from the cache: versions are immutable).

    Raises:
        BadRequest: `invalid-value` (a filter value that does not fit its column),
            `invalid-cursor`, `invalid-limit`.
    """
    key = (str(page.table.path), repr(page.query), page.format)
    try:
        return PAGES.get(key, lambda: store.encode_page(page.table, page.query, page.format))
    except store.QueryError as exc:
        raise BadRequest(exc.message, code=exc.code, errors={exc.field: [exc.message]} if exc.field else None) from exc


def _fields(raw: str, names: set[str]) -> tuple[str, ...] | None:
    wanted = [part.strip() for part in raw.split(",") if part.strip()]
    if not wanted:
        return None
    if len(wanted) > MAX_FIELDS:
        raise BadRequest(f"at most {MAX_FIELDS} fields", code="bad-parameter")
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:60]!r} in _fields", code="unknown-column",
                         errors={"_fields": [f"no column {name[:60]!r}" for name in unknown[:10]]})
    return tuple(dict.fromkeys(wanted))
