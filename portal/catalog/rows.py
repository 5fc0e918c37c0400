"""Row services: preview pages, chart series and downloads of a dataset's current version.

Each checks `can_view_rows` first: a `conditional` or `closed` dataset answers 403 with a
problem type that points at how to apply, and no row is ever read for it.
"""

from __future__ import annotations

import functools
import io
import json
import math
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal import store
from portal.auth import Actor
from portal.catalog.models import Dataset, Version
from portal.catalog.permissions import can_view_rows, require
from portal.catalog.queries import visible_datasets
from portal.catalog.schemas import Download, PreviewPage, PreviewParams, PreviewProblem
from portal.catalog.service import record_download
from portal.errors import BadRequest, NotFound

MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "geojson": "application/geo+json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CHART_AGGREGATES = ("count", "sum", "mean", "min", "max", "median")
CHART_MAX_POINTS = 200


def stored_table(session: Session, actor: Actor, slug: str, *, data_dir: Path) -> tuple[Dataset, store.StoredTable]:
    """The current version of a dataset whose rows the actor may read.

    Raises:
        NotFound: no such visible dataset, or it has no data yet.
        Forbidden: its open class keeps rows from this actor (code `rows-not-open`).
    """
    dataset = session.scalar(visible_datasets(actor).where(Dataset.slug == slug)
                             .options(selectinload(Dataset.current_version)))
    if dataset is None:
        raise NotFound("dataset", slug)
    require(can_view_rows(actor, dataset.open_class), f"read the rows of a {dataset.open_class} dataset",
            code="rows-not-open")
    version: Version | None = dataset.current_version
    if version is None:
        raise NotFound("data of dataset", slug)
    columns = tuple(store.Column(c["name"], c["type"]) for c in version.columns)
    return dataset, store.StoredTable(data_dir / version.storage_path, columns)


@dataclass(frozen=True)
class AnalysisSource:
    """A dataset as the sandbox broker needs it: current data, dictionary flags, disclosure settings."""

    slug: str
    open_class: str
    version: int
    table: store.StoredTable
    identifiers: frozenset[str]
    sensitive: frozenset[str]
    disclosure: dict | None
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # declared, public
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # declared category levels


def analysis_source(session: Session, slug: str, *, data_dir: Path) -> AnalysisSource:
    """The current version of a dataset for the broker. Trusted callers only: whether the actor
    may analyse it is decided by `portal.access.service.usable_datasets` before this is called.

    Raises:
        NotFound: no such dataset, or no data yet.
    """
    dataset = session.scalar(select(Dataset).where(Dataset.slug == slug).options(
        selectinload(Dataset.current_version), selectinload(Dataset.fields)))
    if dataset is None or dataset.current_version is None:
        raise NotFound("dataset", slug)
    version = dataset.current_version
    columns = tuple(store.Column(c["name"], c["type"]) for c in version.columns)
    return AnalysisSource(
        slug=slug, open_class=dataset.open_class, version=version.number,
        table=store.StoredTable(data_dir / version.storage_path, columns),
        identifiers=frozenset(f.name for f in dataset.fields if f.identifier),
        sensitive=frozenset(f.name for f in dataset.fields if f.sensitive),
        disclosure=dataset.disclosure,
        bounds={f.name: (f.minimum, f.maximum) for f in dataset.fields
                if f.minimum is not None and f.maximum is not None},
        levels={f.name: tuple(f.levels) for f in dataset.fields if f.levels},
    )


def preview_rows(session: Session, actor: Actor, slug: str, params: PreviewParams, *, data_dir: Path) -> PreviewPage:
    """One page of rows with the visitor's sort and filters, and the filtered total.

    A filter whose value does not fit its column is left out and reported in `params.problems`
    (the page shows the rest); a page past the last one shows the last page, with `asked_page`.
    """
    _, table = stored_table(session, actor, slug, data_dir=data_dir)
    page = None
    for _ in range(len(params.filters) + 1):
        try:
            page = store.query_rows(table, _row_query(params))
            break
        except store.QueryError as exc:
            if not exc.field or not any(f.column == exc.field for f in params.filters):
                raise BadRequest(exc.message, code=exc.code) from exc
            bad = next(f for f in params.filters if f.column == exc.field)
            param, value = PreviewParams.filter_arg(bad)
            params = params.without(exc.field, PreviewProblem(param, exc.code, value))
    total = page.total or 0
    pages = max(1, math.ceil(total / params.size))
    asked = None
    if params.page > pages:
        asked, params = params.page, replace(params, page=pages)
        page = _run_rows(table, _row_query(params))
    return PreviewPage(columns=page.columns, rows=page.rows, total=total, page=params.page, pages=pages,
                       params=params, chart_x=_chart_category(table.path, table.columns), asked_page=asked)


def _row_query(params: PreviewParams) -> store.RowQuery:
    return store.RowQuery(filters=params.filters, sort=params.sort, limit=params.size, offset=params.offset)


CHART_CATEGORY_LEVELS = 40


@functools.lru_cache(maxsize=256)
def _chart_category(path: Path, columns: tuple[store.Column, ...]) -> str | None:
    """The column a first chart groups by: the text column with the fewest values (2..40), so
    the chart means something before the visitor picks; versions are immutable, so cached."""
    best = None
    for column in columns:
        if column.type not in ("text", "boolean"):
            continue
        measure = store.Measure("count_distinct", column.name, alias="levels")
        levels = store.aggregate(store.StoredTable(path, columns), store.AggregateQuery(measures=(measure,))).rows[0][0]
        if 2 <= levels <= CHART_CATEGORY_LEVELS and (best is None or levels < best[0]):
            best = (levels, column.name)
    return best[1] if best else None


def chart_series(session: Session, actor: Actor, slug: str, *, x: str, y: str | None, agg: str,
                 data_dir: Path) -> dict:
    """Values for a chart of `agg(y)` by `x` (at most 200 categories), computed by the store."""
    _, table = stored_table(session, actor, slug, data_dir=data_dir)
    names = {c.name for c in table.columns}
    if x not in names or (y and y not in names):
        raise BadRequest("chart columns must be columns of the dataset", code="unknown-column")
    if agg not in CHART_AGGREGATES or (agg != "count" and not y):
        raise BadRequest(f"aggregate must be one of {', '.join(CHART_AGGREGATES)} (with a y column unless count)",
                         code="bad-parameter")
    measure = store.Measure("count", alias="value") if agg == "count" else store.Measure(agg, y, alias="value")
    query = store.AggregateQuery(group_by=(x,), measures=(measure,), sort=(store.Sort(x),), limit=CHART_MAX_POINTS)
    try:
        result = store.aggregate(table, query)
    except store.QueryError as exc:
        raise BadRequest(exc.message, code=exc.code) from exc
    return {"x": x, "y": y, "aggregate": agg,
            "values": [{"x": _plain(row[0]), "value": _plain(row[1])} for row in result.rows]}


def open_download(session: Session, actor: Actor, slug: str, fmt: str, *, bom: bool, data_dir: Path) -> Download:
    """A streamed export of the whole current version; counts one download.

    Raises:
        NotFound: unknown format for this dataset (GeoJSON needs declared coordinates).
    """
    dataset, table = stored_table(session, actor, slug, data_dir=data_dir)
    coordinates = _coordinates(dataset)
    if fmt not in MIMETYPES or (fmt == "geojson" and coordinates is None):
        raise NotFound("download format", fmt)
    chunks, size = store.export_sized(table, fmt, bom=bom, coordinates=coordinates)
    version = dataset.current_version
    record_download(session, slug)
    return Download(filename=f"{slug}-v{version.number}.{fmt}", mimetype=MIMETYPES[fmt], chunks=chunks,
                    size=size)


def open_sample(session: Session, actor: Actor, slug: str, *, data_dir: Path) -> Download:
    """The synthetic sample (样本数据) of a conditional dataset's current version, as a small Data
    Package: the invented rows and a descriptor with the data dictionary and its flags, so that
    `kaifang offline-run` applies the portal's rules to it. Public: it holds no real record
    (see portal/analysis/samples.py).

    Raises:
        NotFound: no such visible dataset, or it has no sample (only conditional data has one).
    """
    dataset = session.scalar(visible_datasets(actor).where(Dataset.slug == slug).options(
        selectinload(Dataset.current_version), selectinload(Dataset.fields)))
    version = dataset.current_version if dataset else None
    if version is None or not version.sample_path:
        raise NotFound("sample of dataset", slug)
    rows_name = f"{slug}-sample.csv"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(data_dir / version.sample_path, rows_name)
        archive.writestr("datapackage.json", json.dumps(_sample_descriptor(dataset, version, rows_name),
                                                        ensure_ascii=False, indent=2))
    return Download(filename=f"{slug}-v{version.number}-sample.zip", mimetype="application/zip",
                    chunks=iter([buffer.getvalue()]))


FRICTIONLESS = {"integer": "integer", "float": "number", "decimal": "number", "boolean": "boolean",
                "date": "date", "timestamp": "datetime", "text": "string"}


def _sample_descriptor(dataset: Dataset, version: Version, rows_name: str) -> dict:
    fields = {f.name: f for f in dataset.fields}
    return {
        "name": dataset.slug,
        "title": f"{dataset.title_en} (synthetic sample of version {version.number})",
        "description": "Invented rows drawn from released distributions; no real record. "
                       "Run analysis code on it with `kaifang offline-run FILE --data this.zip`.",
        "licenses": [{"name": dataset.licence_name or "CC0-1.0", "title": dataset.licence_title}],
        "resources": [{"name": "sample", "path": rows_name, "format": "csv", "encoding": "utf-8",
                       "schema": {"fields": [_sample_field(c, fields.get(c["name"])) for c in version.columns]}}],
        "kaifang": {
            "title_zh": f"{dataset.title_zh}（样本数据，合成）", "open_class": dataset.open_class,
            "synthetic": True, "disclosure": dataset.disclosure,
            "fields": {name: {"description_zh": f.description_zh, "unit": f.unit, "identifier": f.identifier,
                              "sensitive": f.sensitive} for name, f in fields.items()},
        },
    }


def _sample_field(column: dict, described) -> dict:
    """A sample's schema field, with the declared bounds and levels: offline runs apply the same
    interval arithmetic and group limits as the portal."""
    out = {"name": column["name"], "type": FRICTIONLESS.get(column["type"], "string")}
    constraints = {}
    if described is not None and described.minimum is not None and described.maximum is not None:
        constraints = {"minimum": described.minimum, "maximum": described.maximum}
    if described is not None and described.levels:
        constraints["enum"] = list(described.levels)
    if constraints:
        out["constraints"] = constraints
    return out


def download_formats(coordinates: dict | None) -> tuple[str, ...]:
    base = ("csv", "xlsx", "json", "ndjson", "parquet")
    return base + ("geojson",) if coordinates else base


def _coordinates(dataset: Dataset) -> tuple[str, str] | None:
    coords = dataset.coordinates or {}
    if coords.get("longitude") and coords.get("latitude"):
        return coords["longitude"], coords["latitude"]
    return None


def _run_rows(table: store.StoredTable, query: store.RowQuery) -> store.RowPage:
    try:
        return store.query_rows(table, query)
    except store.QueryError as exc:
        raise BadRequest(exc.message, code=exc.code) from exc


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is not None and not isinstance(value, (int, float, str, bool)):
        return float(value) if hasattr(value, "__float__") else str(value)
    return value
