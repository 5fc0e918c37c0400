"""Query-string models of API v1 (pydantic) and the JSON shapes that are not catalog dataclasses.

These models are the one declaration of each endpoint's parameters: `spec.endpoint` validates
requests with them and `openapi.build` documents them. Catalog outputs are the service
dataclasses themselves (`portal.catalog.schemas`), serialised and documented by pydantic's
`TypeAdapter`, so the document cannot drift from what is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from portal.catalog.schemas import LIST_SORTS, MAX_PAGE
from portal.errors import N_
from portal.search.schemas import MAX_RAW_QUERY
from portal.search.schemas import SORTS as SEARCH_SORTS
from portal.store import MAX_LIMIT, PAGE_FORMATS

MAX_LIST_SIZE = 100  # datasets per page of the list and of search (a catalog page, not a bulk export)

DATASET_SORTS = ("relevance", *LIST_SORTS)


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoQuery(Query):
    """Endpoints without parameters still refuse unknown ones."""


class DatasetListQuery(Query):
    theme: str | None = Field(None, max_length=100, description=N_("Theme code, e.g. `transport`."))
    department: str | None = Field(None, max_length=100, description=N_("Department slug."))
    open_class: Literal["open", "conditional", "closed"] | None = Field(None, description=N_("Open class."))
    format: str | None = Field(None, max_length=20, description=N_("Source format of the current version, e.g. `csv`."))
    tag: str | None = Field(None, max_length=100, description=N_("A tag (Chinese or English)."))
    q: str | None = Field(None, max_length=200, description=N_(
        "Search text, ranked by the site's search engine (the syntax of `/search`: Chinese, English, pinyin, "
        "synonyms, phrases, `AND`/`OR`/`NOT`)."))
    sort: Literal[DATASET_SORTS] | None = Field(None, description=N_(  # type: ignore[valid-type]
        "Order of the list (default `relevance` with `q`, `updated` without; `relevance` needs `q`)."))
    page: int = Field(1, ge=1, le=MAX_PAGE, description=N_("Page number, from 1."))
    size: int | None = Field(None, ge=1, le=MAX_LIST_SIZE, description=N_(
        "Datasets per page (default: the portal's `LIST_PAGE_SIZE`, 20; at most 100)."))


class RowsQuery(Query):
    size: int | None = Field(None, ge=1, le=MAX_LIMIT, description=N_("Rows per page (default 100; at most the portal's `API_MAX_PAGE_SIZE`, 1000 by default)."))
    cursor: str | None = Field(None, max_length=4096, description=N_("Opaque cursor from `next_cursor` of the previous page."))
    sort: str = Field("", max_length=500, description=N_("Sort keys, comma-separated; `-` before a column sorts descending: `sort=-dep_delay,flight`."))
    fields: str = Field("", alias="_fields", max_length=10_000, description=N_("Columns to return, comma-separated (default: all)."))
    version: int | None = Field(None, ge=1, le=1_000_000, description=N_("Read an earlier version (default: the current one)."))
    format: Literal[PAGE_FORMATS] = Field("json", description=N_("`json` (an object with `rows`), `ndjson` (one row per line) or `csv`."))  # type: ignore[valid-type]


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


class SearchQuery(Query):
    q: str = Field("", max_length=MAX_RAW_QUERY, description=N_(
        "Search text: words (all must match), `\"phrases\"`, `prefix*`, `AND`/`OR`/`NOT`, `field:value` "
        "(theme, department, class, format, tag, title, field); Chinese, English or pinyin (`hangban`). "
        "Cleaned and cut to 200 characters (notice `query-shortened`)."))
    theme: str | None = Field(None, max_length=100, description=N_("Theme code, e.g. `transport`."))
    department: str | None = Field(None, max_length=100, description=N_("Department slug."))
    open_class: str | None = Field(None, max_length=100, description=N_("Open class: `open`, `conditional` or `closed`."))
    format: str | None = Field(None, max_length=100, description=N_("Source format of the current version, e.g. `csv`."))
    tag: str | None = Field(None, max_length=100, description=N_("A tag (Chinese or English)."))
    update_frequency: str | None = Field(None, max_length=100, description=N_("Update frequency, e.g. `daily`."))
    sort: Literal[SEARCH_SORTS] | None = Field(None, description=N_("Order (default `relevance` with a query, `updated` without)."))  # type: ignore[valid-type]
    page: int = Field(1, ge=1, le=MAX_PAGE, description=N_("Page number, from 1."))
    size: int | None = Field(None, ge=1, le=MAX_LIST_SIZE, description=N_(
        "Datasets per page (default: the portal's `LIST_PAGE_SIZE`, 20; at most 100)."))


class SuggestQuery(Query):
    q: str = Field("", max_length=MAX_RAW_QUERY, description=N_("What was typed so far (the first 100 characters count)."))


class FacetCount(BaseModel):
    key: str
    name_zh: str
    name_en: str
    count: int


class Snippet(BaseModel):
    zh: str = Field(description="HTML: the Chinese description around the matched words, escaped, matches in `<mark>`.")
    en: str = Field(description="HTML: the same for the English description.")


class SearchResult(BaseModel):
    slug: str
    title_zh: str
    title_en: str
    snippet: Snippet
    theme: str
    department: str
    open_class: str
    format: str | None
    tags: list[str]
    updated_at: datetime
    view_count: int
    download_count: int
    score: float | None = Field(description="BM25F relevance (null when sorted by another key).")


class SearchResults(BaseModel):
    """One page of search results, with facet counts over all the results and suggestions."""

    query: str
    sort: str
    total: int
    page: int
    pages: int
    suggestion: str | None = Field(description="'Did you mean': a corrected query, when this one finds little.")
    corrected_from: str | None = Field(description="Set when `q` found nothing and these are the results of `suggestion`.")
    any_word: bool = Field(description="No dataset had every word; these have some of them.")
    notices: list[str] = Field(description="`index-rebuilding` (plain text match, no ranking), `query-shortened`.")
    results: list[SearchResult]
    facets: dict[str, list[FacetCount]] = Field(description="Counts per value of theme, department, open_class, format, tag, update_frequency.")


class Completion(BaseModel):
    label: str
    kind: str = Field(description="`title` or `tag`.")
    slug: str | None = Field(description="The dataset, for a title.")


class Completions(BaseModel):
    """Completions for a search box."""

    query: str
    suggestions: list[Completion]


class KeyInfo(BaseModel):
    prefix: str = Field(description="The key's visible prefix (what `kaifang revoke-key` takes).")
    scopes: list[str]
    tier: str = Field(description="The rate-limit tier; an admin moves a key with `kaifang set-tier`.")
    limits: str = Field(description="The tier's limits, e.g. `600/minute;100000/day`.")
    expires_at: datetime | None = Field(description="When the key stops working (UTC); null: never.")


class Holder(BaseModel):
    email: str
    role: str


class Me(BaseModel):
    """The calling API key and the account it belongs to."""

    key: KeyInfo
    user: Holder
