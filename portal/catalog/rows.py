"""Row services: preview pages and downloads of a dataset's current version. (The broker's view
of a dataset is `portal/analysis/sources.py`; the synthetic sample's download `samples.py`.)

Each checks `can_view_rows` first: a `conditional` or `closed` dataset answers 403 with a
problem type that points at how to apply, and no row is ever read for it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session, selectinload

from portal import store
from portal.auth import Actor
from portal.catalog import downloads
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


def open_download(session: Session, actor: Actor, slug: str, fmt: str, *, bom: bool, data_dir: Path) -> Download:
    """The whole current version as `fmt`, from the download cache (written on first use, its
    size then kept on the version); counts one download. While the cache file of a format that
    streams is being written by someone else (the builder started after publish, or another
    visitor), the download streams its own encode instead of waiting (`chunks`, no size); an XLSX
    cannot stream, so it waits for the file being written rather than encode it a second time.

    Raises:
        NotFound: unknown format for this dataset (GeoJSON needs declared coordinates).
    """
    dataset, table = stored_table(session, actor, slug, data_dir=data_dir)
    coordinates = downloads.coordinates_of(dataset)
    if fmt not in MIMETYPES or (fmt == "geojson" and coordinates is None):
        raise NotFound("download format", fmt)
    version = dataset.current_version
    filename = f"{slug}-v{version.number}.{fmt}"
    try:
        path = store.cached_export(table, fmt, downloads.export_folder(data_dir, version), bom=bom,
                                   coordinates=coordinates, wait=fmt in ("xlsx", "parquet"))
        if path is None:
            chunks = store.export(table, fmt, bom=bom, coordinates=coordinates)
            record_download(session, slug)
            return Download(filename=filename, mimetype=MIMETYPES[fmt], chunks=chunks)
    except store.QueryError as exc:
        raise BadRequest(exc.message, code=exc.code) from exc
    size = path.stat().st_size
    if not bom and downloads.record_size(version, fmt, size):
        session.commit()
    record_download(session, slug)
    return Download(filename=filename, mimetype=MIMETYPES[fmt], path=path, size=size,
                    etag=f"{version.checksum[:16]}-{path.stem}-{size}")


def download_formats(coordinates: dict | None) -> tuple[str, ...]:
    base = ("csv", "xlsx", "json", "ndjson", "parquet")
    return base + ("geojson",) if coordinates else base


def _run_rows(table: store.StoredTable, query: store.RowQuery) -> store.RowPage:
    try:
        return store.query_rows(table, query)
    except store.QueryError as exc:
        raise BadRequest(exc.message, code=exc.code) from exc
