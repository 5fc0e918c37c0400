"""Input parsing and output shapes of the catalog, shared by HTML views, the JSON API and the CLI.

Parsing turns untrusted query strings into typed values and raises `BadRequest` with a message
for anything malformed (never a 500); oversize page sizes are clamped, not refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

from portal import store
from portal.errors import BadRequest

LIST_SORTS = ("updated", "views", "downloads", "title", "records")
MAX_PAGE = 100_000


def parse_positive_int(args: Mapping[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"parameter {name!r} must be a whole number, got {raw[:40]!r}",
                         code="bad-parameter") from None
    if value < 1 or value > MAX_PAGE:
        raise BadRequest(f"parameter {name!r} must be between 1 and {MAX_PAGE}, got {value}",
                         code="bad-parameter")
    return value


def parse_page_size(args: Mapping[str, str], default: int, maximum: int) -> int:
    """Page sizes above the maximum are clamped to it rather than refused."""
    raw = args.get("size")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(f"parameter 'size' must be a positive whole number, got {raw[:40]!r}",
                         code="bad-parameter")
    return min(int(raw), maximum)


@dataclass(frozen=True)
class ListParams:
    theme: str | None = None
    department: str | None = None
    open_class: str | None = None
    format: str | None = None
    tag: str | None = None
    q: str | None = None
    sort: str = "updated"
    page: int = 1
    per_page: int = 20
    tag_lang: str | None = None  # list only this language's tags in the tag facet

    @classmethod
    def parse(cls, args: Mapping[str, str], *, per_page: int) -> ListParams:
        sort = args.get("sort") or "updated"
        if sort not in LIST_SORTS:
            raise BadRequest(f"unknown sort {sort[:40]!r}; one of {', '.join(LIST_SORTS)}", code="bad-parameter")
        text = {k: (args.get(k) or "").strip()[:100] or None
                for k in ("theme", "department", "open_class", "format", "tag", "q")}
        return cls(**text, sort=sort, page=parse_positive_int(args, "page", 1), per_page=per_page)

    def as_args(self, **changes: Any) -> dict[str, Any]:
        values = {k: getattr(self, k) for k in ("theme", "department", "open_class", "format", "tag", "q", "sort", "page")}
        values.update(changes)
        defaults = {"page": 1, "sort": "updated"}
        return {k: v for k, v in values.items() if v not in (None, "") and defaults.get(k) != v}


@dataclass(frozen=True)
class PreviewParams:
    """A page of rows: `page`, `size`, `sort=col,-col2`, and filters `column__op=value`."""

    page: int = 1
    size: int = 25
    sort: tuple[store.Sort, ...] = ()
    filters: tuple[store.Filter, ...] = ()
    problems: tuple[PreviewProblem, ...] = ()  # what was left out, and why (HTML preview only)

    @classmethod
    def parse_lenient(cls, args: Mapping[str, str], columns: tuple[store.Column, ...], *,
                      default_size: int, max_size: int) -> PreviewParams:
        """As `parse`, but a page reads on: each bad parameter is left out and reported in
        `problems` (the page explains it beside the table) instead of failing the whole page."""
        names, problems = {c.name for c in columns}, []

        def attempt(name: str, parse, fallback):
            try:
                return parse()
            except BadRequest as exc:
                problems.append(PreviewProblem(name, exc.code, args.get(name, "")))
                return fallback

        size = attempt("size", lambda: parse_page_size(args, default_size, max_size), default_size)
        page = attempt("page", lambda: parse_positive_int(args, "page", 1), 1)
        sort = attempt("sort", lambda: parse_sort(args.get("sort") or "", names), ())
        filters = []
        for key, value in args.items():
            if "__" in key:
                filters.extend(attempt(key, lambda k=key, v=value: parse_filters({k: v}, names), ()))
        return cls(page=page, size=size, sort=sort, filters=tuple(filters), problems=tuple(problems))

    def without(self, column: str, problem: PreviewProblem) -> PreviewParams:
        """These parameters without the filters on `column`, which `problem` explains."""
        return replace(self, filters=tuple(f for f in self.filters if f.column != column),
                       problems=(*self.problems, problem))

    @classmethod
    def parse(cls, args: Mapping[str, str], columns: tuple[store.Column, ...], *,
              default_size: int, max_size: int) -> PreviewParams:
        names = {c.name for c in columns}
        size = parse_page_size(args, default_size, max_size)
        return cls(page=parse_positive_int(args, "page", 1), size=size,
                   sort=parse_sort(args.get("sort") or "", names), filters=parse_filters(args, names))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def sort_arg(self) -> str:
        return ",".join(("-" if s.descending else "") + s.column for s in self.sort)

    def filter_args(self) -> dict[str, str]:
        return dict(self.filter_arg(f) for f in self.filters)

    @staticmethod
    def filter_arg(item: store.Filter) -> tuple[str, str]:
        """The `column__op`, `value` query parameter of one filter."""
        return f"{item.column}__{item.op}", _arg_value(item.value)


@dataclass(frozen=True)
class PreviewProblem:
    """A preview parameter that was left out: `param` as written, the problem code, the value."""

    param: str
    code: str
    value: str = ""


FILTER_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "between", "contains", "startswith", "is_null")


def parse_sort(raw: str, names: set[str]) -> tuple[store.Sort, ...]:
    sorts = []
    for part in [p.strip() for p in raw.split(",") if p.strip()][:5]:
        name = part[1:] if part.startswith("-") else part
        if name not in names:
            raise BadRequest(f"cannot sort by unknown column {name[:60]!r}", code="unknown-column")
        sorts.append(store.Sort(name, part.startswith("-")))
    return tuple(sorts)


def parse_filters(args: Mapping[str, str], names: set[str]) -> tuple[store.Filter, ...]:
    filters = []
    for key, value in args.items():
        if "__" not in key:
            continue
        column, _, op = key.rpartition("__")
        if column not in names:
            raise BadRequest(f"cannot filter on unknown column {column[:60]!r}", code="unknown-column")
        if op not in FILTER_OPS:
            raise BadRequest(f"unknown filter operator {op[:20]!r}; one of {', '.join(FILTER_OPS)}",
                             code="unknown-operator")
        if value == "" and op != "is_null":
            continue
        filters.append(store.Filter(column, op, _filter_value(op, value)))
    return tuple(filters)


def _filter_value(op: str, raw: str) -> Any:
    if op in ("in", "between"):
        return [part.strip() for part in raw.split(",")]
    if op == "is_null":
        flag = raw.strip().lower()
        if flag in ("", "1", "true", "yes"):
            return True
        if flag in ("0", "false", "no"):
            return False
        raise BadRequest(f"is_null takes 1 or 0, not {raw[:20]!r}", code="invalid-value")
    return raw


def _arg_value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# ---- output shapes -------------------------------------------------------------------------

def as_utc(moment: datetime) -> datetime:
    """Stored times are naive UTC; outputs carry the zone, so JSON says `...Z`-style RFC 3339."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_utc_or_none(moment: datetime | None) -> datetime | None:
    """`as_utc` of a time that may be unset (a run not started, an application not decided)."""
    return None if moment is None else as_utc(moment)


@dataclass(frozen=True)
class Named:
    """A theme or a department as pages show it: a key and its two names."""

    key: str
    name_zh: str
    name_en: str
    count: int = 0


@dataclass(frozen=True)
class FieldInfo:
    """A field of the data dictionary (API v1 `/fields` and `fields` of a dataset; the attribute
    docstrings describe them in the OpenAPI document)."""

    # pydantic (API v1's answers and schema) reads this plain dict; the catalog imports no pydantic.
    # Every attribute is always sent, so the schema marks the defaulted `aggregates` required too.
    __pydantic_config__: ClassVar[dict[str, Any]] = {"use_attribute_docstrings": True,
                                                     "json_schema_serialization_defaults_required": True}

    name: str
    """The column's name in the data."""
    type: str
    """The column's type: `text`, `integer`, `float`, `decimal`, `boolean`, `date`, `timestamp` or `geometry`."""
    description_zh: str
    """What the field holds, in Chinese."""
    description_en: str
    """What the field holds, in English (may be empty)."""
    unit: str | None
    """The unit of its values, if any."""
    identifier: bool
    """It identifies people or records: conditional data never releases, groups or filters on it."""
    sensitive: bool
    """Its values are sensitive: of conditional data only disclosure-controlled statistics of it are released."""
    aggregates: tuple[str, ...] = ()
    """Values of this field that mark rows aggregating other rows (totals, regions), as the
    publisher declared them (`kaifang.fields.<field>.aggregates`): exclude those rows before
    summing. Charts leave them out. Totals rows found at load are in the version's
    `load_report.totals` (open data only: a non-public version shows no load report, 0029e)."""
    minimum: float | None = None
    """The declared public lower bound (`constraints.minimum`), if any. Stored values of
    conditional data are clamped into the bounds; disclosure control computes ranges from them."""
    maximum: float | None = None
    """The declared public upper bound (`constraints.maximum`), if any."""
    levels: tuple[str | int | float | bool, ...] | None = None
    """The declared category levels (`constraints.enum`: texts, numbers or booleans), in their
    order, if any: the cells a group-by on conditional data can have."""
    required: bool = False
    """Every record has a value (`constraints.required`, checked at load)."""


@dataclass(frozen=True)
class VersionInfo:
    number: int
    created_at: datetime
    note: str
    source_name: str
    source_format: str
    encoding: str | None
    checksum: str | None  # SHA-256 of the source; None when the records are not public (decision 0028i)
    row_count: int | None  # None in the ε mode (decision 0031f): see row_count_approx
    byte_size: int | None  # bytes of the stored Parquet file; None likewise
    columns: tuple[store.Column, ...]
    has_sample: bool = False
    # ε the sample spent (decision 0031a): None for a statistical-mode sample, 0 for one drawn
    # from the data dictionary alone
    sample_epsilon: float | None = None
    load_report: dict[str, Any] | None = None  # store.LoadReport.as_dict(): skipped rows, totals, widenings
    # bytes of each download format known so far ({"parquet": ..., "csv": ...}; decision 0022a)
    export_sizes: dict[str, int] = field(default_factory=dict)
    # of a dataset in the ε mode, in place of row_count: a differentially private figure for a
    # person, rounded (records counted at most records_per_person per person); None: no figure
    # (decision 0031f)
    row_count_approx: int | None = None

    @classmethod
    def from_model(cls, v: Any, *, conditional: bool = False, approximate: bool = False) -> VersionInfo:
        """The version as the catalog shows it. Of `conditional` data (any whose records are not
        public: conditional or closed) it shows nothing read from the records but their number:
        not the load report (which lines were skipped, blank or totals, columns widened or
        tidied, values read as missing: each a fact of some record), nor the encoding found,
        nor the source's checksum and the stored file's size. Each was shown once and each
        told a record: a widened column's example was one household's exact income (eighth
        round, decision 0026b), a skipped line's text could be a record (eleventh round, 0027d),
        the checksum was a search for the target's values and the size a membership test
        (twentieth round, 0028i); the report's other parts were facts of the same kind, cut
        field by field until the twelfth session dropped the report as a whole. The publisher's
        load output and `kaifang versions` keep all of it.

        Of a dataset in the ε mode (`approximate`, `record_counts.approximate`) not even the
        number: a person's records move it by their count (decision 0031f); `row_count_approx`,
        a differentially private figure stored at publish, stands in its place."""
        return cls(number=v.number, created_at=as_utc(v.created_at), note=v.note, source_name=v.source_name,
                   source_format=v.source_format, encoding=None if conditional else v.encoding,
                   checksum=None if conditional else v.checksum,
                   row_count=None if approximate else v.row_count,
                   row_count_approx=v.row_count_approx if approximate else None,
                   byte_size=None if conditional else v.byte_size,
                   columns=tuple(store.Column(c["name"], c["type"]) for c in v.columns),
                   has_sample=bool(v.sample_path), sample_epsilon=v.sample_epsilon, load_report=None if conditional else v.load_report,
                   export_sizes={} if conditional else {"parquet": v.byte_size, **(v.export_sizes or {})})

    def rows_text(self) -> str:
        """The count in interop descriptions (CKAN, DCAT, Data Package): exact, approximate in
        the ε mode, or not shown (decision 0031f)."""
        if self.row_count is not None:
            return f"{self.row_count} rows"
        if self.row_count_approx is not None:
            return f"about {self.row_count_approx} rows (differentially private)"
        return "row count not shown"

    def report_lines(self) -> list[str]:
        """The load report as the CLI prints it."""
        return store.LoadReport.from_dict(self.load_report).lines() if self.load_report else []

    def totals_labels(self) -> dict[str, list[str]]:
        """{column: [labels of its totals rows]} for the data dictionary."""
        found: dict[str, list[str]] = {}
        for row in (self.load_report or {}).get("totals", []):
            found.setdefault(row["column"], []).append(row["label"])
        return found


@dataclass(frozen=True)
class DatasetSummary:
    slug: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    theme: Named
    department: Named
    open_class: str
    synthetic: bool
    updated_at: datetime
    row_count: int | None  # None without a version, or in the ε mode (decision 0031f)
    source_format: str | None
    view_count: int
    download_count: int
    tags: tuple[str, ...]
    demo_sample: bool = False
    row_count_approx: int | None = None  # as VersionInfo's


@dataclass(frozen=True)
class DatasetDetail:
    summary: DatasetSummary
    closed_reason: str | None
    licence: dict[str, str]
    sources: list[dict[str, Any]]
    update_frequency: str
    temporal_start: date | None
    temporal_end: date | None
    spatial_zh: str
    spatial_en: str
    contact_name: str
    contact_email: str
    created_at: datetime
    coordinates: dict[str, str] | None
    fields: tuple[FieldInfo, ...]
    versions: tuple[VersionInfo, ...]
    tags_zh: tuple[str, ...]
    tags_en: tuple[str, ...]
    # The disclosure mode an approved grant on a conditional dataset is in unless the steward
    # accredits the analyst for another ("dp" or "sdc"; decision 0030q); None for other datasets.
    # An applicant should know before applying what kind of answers they will get.
    disclosure_mode: str | None = None

    @property
    def current(self) -> VersionInfo | None:
        return self.versions[0] if self.versions else None

    @property
    def rows_visible(self) -> bool:
        return self.summary.open_class == "open"


@dataclass(frozen=True)
class Facet:
    name: str
    values: tuple[Named, ...]


@dataclass(frozen=True)
class DatasetPage:
    items: tuple[DatasetSummary, ...]
    total: int
    page: int
    pages: int
    facets: tuple[Facet, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PortalTotals:
    datasets: int
    records: int
    downloads: int
    views: int
    api_calls: int


@dataclass(frozen=True)
class HomeSummary:
    themes: tuple[Named, ...]
    newest: tuple[DatasetSummary, ...]
    most_viewed: tuple[DatasetSummary, ...]
    totals: PortalTotals


@dataclass(frozen=True)
class PreviewPage:
    columns: tuple[store.Column, ...]
    rows: list[tuple]
    total: int
    page: int
    pages: int
    params: PreviewParams
    chart_x: str | None = None
    asked_page: int | None = None  # the page asked for when it was past the last one (clamped)


@dataclass(frozen=True)
class Download:
    filename: str
    mimetype: str  # the whole Content-Type, charset included where the format has one
    chunks: Any = None  # Iterator[bytes], for a download built on the fly (the sample)
    size: int | None = None  # bytes, when known before the first one is sent
    path: Path | None = None  # a finished file (the download cache), served with ranges
    etag: str | None = None
