"""`export`: a table (or the rows a RowQuery selects) as CSV, JSON, NDJSON, Parquet, GeoJSON or
XLSX (portal/store/workbooks.py), streamed as byte chunks.

Rows leave DuckDB as Arrow record batches (`to_arrow_reader`) and each batch is encoded and
yielded before the next is read, so memory stays flat whatever the table size. JSON text is
produced by DuckDB's `to_json` (C++, not a Python loop); dates and timestamps become ISO strings
and non-finite floats become null so the output is strict JSON. A query's filters, sort and
fields apply; its limit, offset and cursor do not (an export is every matching row).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from portal.store import sql
from portal.store.connection import cursor as db_cursor
from portal.store.errors import QueryError
from portal.store.queries import NUMERIC, RowQuery, require_column, where_clause
from portal.store.rows import _order as row_order
from portal.store.schema import Column, StoredTable
from portal.store.workbooks import write_xlsx, xlsx_file

EXPORT_FORMATS = ("csv", "json", "ndjson", "parquet", "geojson", "xlsx")
BATCH_ROWS = 20_000
FILE_CHUNK = 1 << 20
BOM = "\ufeff".encode()


def export(
    table: StoredTable,
    fmt: str,
    *,
    bom: bool = False,
    coordinates: tuple[str, str] | None = None,
    query: RowQuery | None = None,
) -> Iterator[bytes]:
    """The table's rows encoded as `fmt`, in chunks.

    `bom` prepends a UTF-8 BOM to CSV (Excel needs it to read Chinese). GeoJSON needs
    `coordinates=(longitude column, latitude column)`, or a `geometry` column.
    Validation happens before the first chunk is asked for.

    Raises:
        QueryError: `unsupported-format`, `no-coordinates`, and the row query errors.
    """
    if fmt not in EXPORT_FORMATS:
        raise QueryError(
            "unsupported-format", f"cannot export as {fmt!r}; use one of {EXPORT_FORMATS}",
            field="format",
        )
    if fmt == "parquet" and query is None:
        return _file_chunks(table.path)
    columns, statement, params = _select(table, query or RowQuery())
    if fmt == "csv":
        return _csv(_text_dates(columns, statement, "T"), params, bom)
    if fmt == "parquet":
        return _parquet(statement, params)
    if fmt == "xlsx":
        return xlsx_file(columns, statement, params)[0]
    if fmt == "geojson":
        features = _geojson_sql(table, columns, statement, coordinates)
        return _json_lines(_batches(features, params), b'{"type":"FeatureCollection","features":[\n',
                           b",\n", b"\n]}\n")
    fields = ", ".join(sql.STRUCT_FIELD.format(column=sql.quote_identifier(c.name)) for c in columns)
    rows = sql.JSON_ROWS.format(fields=fields, inner=_json_ready(columns, statement))
    if fmt == "json":
        return _json_lines(_batches(rows, params), b"[\n", b",\n", b"\n]\n")
    return _json_lines(_batches(rows, params), b"", b"\n", b"\n")


def export_into(
    table: StoredTable,
    fmt: str,
    handle: BinaryIO,
    *,
    bom: bool = False,
    coordinates: tuple[str, str] | None = None,
) -> None:
    """Write a whole-table export into an open binary file (the download cache,
    `portal/store/exportcache.py`); an XLSX is written straight into it, not through a second
    temporary file."""
    if fmt == "xlsx":
        columns, statement, params = _select(table, RowQuery())
        write_xlsx(handle, columns, statement, params)
        return
    for chunk in export(table, fmt, bom=bom, coordinates=coordinates):
        handle.write(chunk)


def _select(table: StoredTable, query: RowQuery) -> tuple[list[Column], str, list[object]]:
    names = query.fields if query.fields is not None else [c.name for c in table.columns]
    if not names:
        raise QueryError("no-fields", "ask for at least one field", field="fields")
    columns = [require_column(table, name) for name in names]
    keys = [(require_column(table, s.column), s.descending) for s in query.sort]
    conditions, params = where_clause(table, query.filters)
    statement = sql.SELECT_ALL.format(
        fields=", ".join(sql.quote_identifier(c.name) for c in columns),
        scan=sql.SCAN.format(path="?"), where=sql.where(conditions),
        order=sql.ORDER_BY.format(keys=row_order(keys)) if keys else "",
    )
    return columns, statement, [str(table.path), *params]


def _text_dates(columns: list[Column], statement: str, separator: str) -> str:
    """Wrap `statement` so dates and timestamps are ISO text ('T' or ' ' before the time)."""
    exprs = []
    for column in columns:
        quoted = sql.quote_identifier(column.name)
        if column.type == "timestamp":
            sep = sql.quote_literal(separator)
            exprs.append(sql.ISO_TIMESTAMP.format(column=quoted, separator=sep))
        elif column.type == "date":
            exprs.append(sql.ISO_DATE.format(column=quoted))
        else:
            exprs.append(quoted)
    return sql.WRAP.format(exprs=", ".join(exprs), inner=statement)


def _json_ready(columns: list[Column], statement: str) -> str:
    """ISO dates with 'T', and NaN/Infinity (not JSON) as null."""
    exprs = [
        sql.FINITE.format(column=sql.quote_identifier(c.name)) if c.type == "float"
        else sql.quote_identifier(c.name)
        for c in columns
    ]
    return sql.WRAP.format(exprs=", ".join(exprs), inner=_text_dates(columns, statement, "T"))


def _geojson_sql(table, columns, statement, coordinates) -> str:
    if coordinates is not None:
        lon, lat = (require_column(table, name) for name in coordinates)
        if lon.type not in NUMERIC or lat.type not in NUMERIC:
            raise QueryError("no-coordinates", "coordinates must be numeric columns",
                             field="coordinates")
        geometry = sql.GEO_POINT.format(
            lon=sql.quote_identifier(lon.name), lat=sql.quote_identifier(lat.name)
        )
        skip = {lon.name, lat.name}
    else:
        shape = next((c for c in table.columns if c.type == "geometry"), None)
        if shape is None:
            raise QueryError("no-coordinates", "GeoJSON needs coordinates=(longitude, latitude)",
                             field="coordinates")
        geometry = sql.GEO_SHAPE.format(column=sql.quote_identifier(shape.name))
        skip = {shape.name}
    kept = [c for c in columns if c.name not in skip]
    props = ", ".join(sql.STRUCT_FIELD.format(column=sql.quote_identifier(c.name)) for c in kept)
    return sql.GEO_FEATURES.format(
        geometry=geometry,
        properties=sql.STRUCT.format(fields=props) if kept else sql.NO_PROPERTIES,
        inner=_json_ready(columns, statement),
    )


def _batches(statement: str, params: list[object]) -> Iterator[pa.RecordBatch]:
    cur = db_cursor()
    try:
        yield from cur.sql(statement, params=params).to_arrow_reader(BATCH_ROWS)
    finally:
        cur.close()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(FILE_CHUNK):
            yield chunk


def _csv(statement: str, params: list[object], bom: bool) -> Iterator[bytes]:
    """CSV in chunks; a query with no rows still gives its header line (the columns are data too)."""
    if bom:
        yield BOM
    cur = db_cursor()
    try:
        reader = cur.sql(statement, params=params).to_arrow_reader(BATCH_ROWS)
        header = True
        for batch in reader:
            if batch.num_rows or header:
                yield _csv_bytes(batch, header)
                header = False
        if header:
            yield _csv_bytes(pa.RecordBatch.from_pylist([], schema=reader.schema), True)
    finally:
        cur.close()


def _csv_bytes(batch: pa.RecordBatch, header: bool) -> bytes:
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=header))
    return buffer.getvalue()


def _json_lines(batches, opening: bytes, separator: bytes, closing: bytes) -> Iterator[bytes]:
    yield opening
    first = True
    for batch in batches:
        texts = [t.encode() for t in batch.column(0).to_pylist()]
        if not texts:
            continue
        yield (b"" if first else separator) + separator.join(texts)
        first = False
    yield closing


class _Sink(io.RawIOBase):
    """A write-only file object whose written bytes are drained after every batch."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _parquet(statement: str, params: list[object]) -> Iterator[bytes]:
    cur = db_cursor()
    try:
        reader = cur.sql(statement, params=params).to_arrow_reader(BATCH_ROWS)
        sink = _Sink()
        writer = pq.ParquetWriter(sink, reader.schema, compression="zstd")
        for batch in reader:
            writer.write_batch(batch)
            yield sink.drain()
        writer.close()
        yield sink.drain()
    finally:
        cur.close()
