"""Query-string models of API v1 (pydantic) and the JSON shapes that are not catalog dataclasses.

These models are the one declaration of each endpoint's parameters: `spec.endpoint` validates
requests with them and `openapi.build` documents them. Catalog outputs are the service
dataclasses themselves (`portal.catalog.schemas`), serialised and documented by pydantic's
`TypeAdapter`, so the document cannot drift from what is sent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from portal.catalog.schemas import LIST_SORTS, MAX_PAGE
from portal.store import MAX_LIMIT, PAGE_FORMATS


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoQuery(Query):
    """Endpoints without parameters still refuse unknown ones."""


class DatasetListQuery(Query):
    theme: str | None = Field(None, max_length=100, description="Theme code, e.g. `transport`.")
    department: str | None = Field(None, max_length=100, description="Department slug.")
    open_class: Literal["open", "conditional", "closed"] | None = Field(None, description="Open class.")
    format: str | None = Field(None, max_length=20, description="Source format of the current version, e.g. `csv`.")
    tag: str | None = Field(None, max_length=100, description="A tag (Chinese or English).")
    q: str | None = Field(None, max_length=100, description="Words in the title or description.")
    sort: Literal[LIST_SORTS] = Field("updated", description="Order of the list.")  # type: ignore[valid-type]
    page: int = Field(1, ge=1, le=MAX_PAGE, description="Page number, from 1.")


class RowsQuery(Query):
    size: int | None = Field(None, ge=1, le=MAX_LIMIT, description="Rows per page (default 100; at most the portal's `API_MAX_PAGE_SIZE`, 1000 by default).")
    cursor: str | None = Field(None, max_length=4096, description="Opaque cursor from `next_cursor` of the previous page.")
    sort: str = Field("", max_length=500, description="Sort keys, comma-separated; `-` before a column sorts descending: `sort=-dep_delay,flight`.")
    fields: str = Field("", alias="_fields", max_length=10_000, description="Columns to return, comma-separated (default: all).")
    version: int | None = Field(None, ge=1, le=1_000_000, description="Read an earlier version (default: the current one).")
    format: Literal[PAGE_FORMATS] = Field("json", description="`json` (an object with `rows`), `ndjson` (one row per line) or `csv`.")  # type: ignore[valid-type]


FILTER_PATTERN = r"^.+__(eq|ne|lt|le|gt|ge|in|between|contains|startswith|is_null)$"


class RowsPage(BaseModel):
    """One page of rows (format=json)."""

    dataset: str
    version: int
    columns: list[dict[str, str]] = Field(description="Name and type of each returned column.")
    total: int | None = Field(description="Rows matching the filters, in the whole version.")
    size: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    next: str | None = Field(description="The URL of the next page (also in the `Link` header).")
    rows: list[dict[str, Any]]


class Problem(BaseModel):
    """An error (RFC 9457 problem details)."""

    type: str = Field(description="A URL documenting this kind of error; stable per `code`.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code.")
    errors: dict[str, list[str]] | None = Field(None, description="Messages per parameter, when several.")
