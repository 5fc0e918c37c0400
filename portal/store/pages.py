"""`encode_page`: one page of rows already encoded for the wire, as JSON objects or CSV.

The row API serves the same pages as `query_rows` (same filters, sort, keyset cursors), but a
Python loop converting every value costs more than the query itself (~7 ms a 100-row page of
flights). Here DuckDB writes each row's JSON text (`to_json(struct_pack(...))`, dates as ISO
text, NaN and infinities as null) and pyarrow writes CSV, so Python only joins strings.

The filtered total of a version is cached per filter set (`counts.py`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import duckdb
import pyarrow.csv as pa_csv

from portal.store import cursors, sql
from portal.store.connection import cursor as db_cursor
from portal.store.counts import count_rows
from portal.store.projections import PROJECTIONS
from portal.store.queries import RowQuery, require_column, where_clause
from portal.store.resident import RESIDENT, ROW_JSON, Source
from portal.store.rows import _check_window, _fields, _order, _page_sql
from portal.store.schema import Column, StoredTable

PAGE_FORMATS = ("json", "ndjson", "csv")


@dataclass(frozen=True)
class EncodedPage:
    """A page ready to send: `rows` holds one JSON object text per row (json and ndjson), or
    `csv` the CSV text with its header row; `total` is the filtered count when asked for."""

    columns: tuple[Column, ...]
    rows: list[str]
    csv: bytes | None
    total: int | None
    next_cursor: str | None


def encode_page(table: StoredTable, query: RowQuery, fmt: str = "json") -> EncodedPage:
    """One page of `table` matching `query`, encoded as `fmt` (json, ndjson or csv).

    Raises:
        QueryError: as `query_rows`.
    """
    _check_window(query)
    fields = _fields(table, query.fields)
    keys = [(require_column(table, s.column), s.descending) for s in query.sort]
    conditions, params = where_clause(table, query.filters)
    # The filtered total of a first page comes from the page's own scan (a window count): the
    # top-N reads every matching row anyway. A cursor narrows the scan and an offset may leave no
    # row to carry the count, so those pages count apart.
    windowed = query.with_total and bool(conditions) and not query.cursor and not query.offset
    path = str(table.path)
    # A copy ordered for a filtered column reads a few row groups (decision 0027c); otherwise
    # the file's in-memory table when it has one, else the file.
    read = PROJECTIONS.scan(table, query.filters, query.sort)
    ordered = (read.clause, read.path) if read.path != path else None
    source = Source(read.clause, [read.path]) if ordered else RESIDENT.scan(path, lambda: row_json(table.columns))
    try:
        found = _run(source, query, fields, keys, conditions, params, fmt, windowed, whole=fields == list(table.columns))
    except duckdb.CatalogException:
        if not source.resident:
            raise
        RESIDENT.forget(path)  # the resident table was evicted under us: read the file
        found = _run(Source(sql.SCAN.format(path="?"), [path]), query, fields, keys, conditions, params, fmt, windowed)
    if windowed:
        total = _window_total(found, fmt)
    else:
        total = count_rows(table, conditions, params, ordered) if query.with_total else None
    if fmt == "csv":
        return _csv_page(fields, keys, found, query.limit, total)
    next_cursor = _next_cursor(keys, found, 1, query.limit)
    return EncodedPage(tuple(fields), [row[0] for row in found[:query.limit]], None, total, next_cursor)


def row_json(columns: tuple[Column, ...] | list[Column], refs: list[str] | None = None) -> str:
    """The SQL expression of a row's JSON text: the named columns (or `refs`, aliases of them)
    made JSON-ready. Pages and the resident tables' `ROW_JSON` column write the same text."""
    refs = refs or [sql.quote_identifier(c.name) for c in columns]
    entries = [sql.STRUCT_ENTRY.format(name=sql.quote_identifier(c.name), expr=_json_expr(c, ref))
               for c, ref in zip(columns, refs, strict=True)]
    return sql.JSON_ROW.format(fields=", ".join(entries))


def _run(source: Source, query, fields, keys, conditions, params, fmt, windowed, *, whole: bool = False):
    """The page's rows (an Arrow table for CSV, tuples otherwise). A JSON page of every field
    from a resident table with `ROW_JSON` selects that column instead of encoding the fields."""
    if source.row_json and whole and fmt != "csv":
        total = [sql.ALIAS.format(expr=sql.WINDOW_TOTAL, column=sql.quote_identifier(sql.PAGE_TOTAL))] if windowed else []
        statement, page_params = _page_sql(query, fields, keys, conditions, params,
                                           projection=[sql.quote_identifier(ROW_JSON)], scan=source.clause, tail=total)
    else:
        statement, page_params = _encoded_sql(query, fields, keys, conditions, params, fmt, scan=source.clause,
                                              windowed=windowed)
    cur = db_cursor()
    try:
        if fmt == "csv":
            return cur.sql(statement, params=[*source.params, *page_params]).to_arrow_table()
        return cur.execute(statement, [*source.params, *page_params]).fetchall()
    finally:
        cur.close()


def _window_total(found, fmt: str) -> int:
    """The window count, next to last in every row (no row: nothing matched)."""
    if fmt == "csv":
        return found.column(found.num_columns - 2)[0].as_py() if found.num_rows else 0
    return found[0][-2] if found else 0


def _encoded_sql(query, fields, keys, conditions, params, fmt, *, scan: str, windowed: bool) -> tuple[str, list[object]]:
    """The page SELECT of `query_rows`, wrapped so values are encoded for the kept rows only
    (encoding before the top-N would encode every matching row: 10x slower on flights)."""
    refs = [sql.quote_identifier(sql.PAGE_FIELD.format(index=i)) for i in range(len(fields))]
    inner_projection = [sql.ALIAS.format(expr=sql.quote_identifier(c.name), column=ref)
                        for c, ref in zip(fields, refs, strict=True)]
    total = sql.quote_identifier(sql.PAGE_TOTAL)
    if windowed:
        inner_projection.append(sql.ALIAS.format(expr=sql.WINDOW_TOTAL, column=total))
    inner, page_params = _page_sql(query, fields, keys, conditions, params, projection=inner_projection, scan=scan)
    if fmt == "csv":
        exprs = [sql.ALIAS.format(expr=_csv_expr(c, ref), column=sql.quote_identifier(c.name))
                 for c, ref in zip(fields, refs, strict=True)]
    else:
        exprs = [row_json(fields, refs)]
    exprs += [sql.quote_identifier(column.name) for column, _ in keys] + ([total] if windowed else []) + [sql.ROW_NUMBER]
    return sql.ENCODE_PAGE.format(exprs=", ".join(exprs), inner=inner, order=_order(keys)), page_params


def _json_expr(column: Column, ref: str) -> str:
    """JSON-ready value: ISO 8601 timestamps in UTC ('T', trailing 'Z'), NaN and infinities as null."""
    if column.type == "timestamp":
        return sql.ISO_TIMESTAMP_EXPR.format(column=ref, separator=sql.quote_literal("T"))
    if column.type == "date":
        return sql.ISO_DATE_EXPR.format(column=ref)
    if column.type == "float":
        return sql.FINITE_EXPR.format(column=ref)
    return ref


def _csv_expr(column: Column, ref: str) -> str:
    """CSV text as the exports write it: ISO 8601 timestamps in UTC ('T', trailing 'Z')."""
    if column.type == "timestamp":
        return sql.ISO_TIMESTAMP_EXPR.format(column=ref, separator=sql.quote_literal("T"))
    if column.type == "date":
        return sql.ISO_DATE_EXPR.format(column=ref)
    return ref


def _next_cursor(keys, found: list[tuple], width: int, limit: int) -> str | None:
    """The cursor after the page's last row, when the extra row fetched shows there is more."""
    if len(found) <= limit:
        return None
    return _cursor_after(keys, found[limit - 1], width)


def _cursor_after(keys, row: tuple, width: int) -> str:
    return cursors.encode(keys, row[width:width + len(keys)], row[-1])


def _csv_page(fields, keys, arrow, limit: int, total: int | None) -> EncodedPage:
    width = len(fields)
    page = arrow.slice(0, limit).select(list(range(width)))
    buffer = io.BytesIO()
    pa_csv.write_csv(page, buffer)
    next_cursor = None
    if arrow.num_rows > limit:
        # by position: a sort key that is also a field appears twice under one name
        last = tuple(arrow.column(i)[limit - 1].as_py() for i in range(arrow.num_columns))
        next_cursor = _cursor_after(keys, last, width)
    return EncodedPage(tuple(fields), [], buffer.getvalue(), total, next_cursor)
