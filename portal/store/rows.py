"""`query_rows`: the one function pages, the API and the sandbox broker read rows through.

One page is one SELECT over the version's Parquet file with the filters as bound parameters,
ordered by the sort keys then `file_row_number`, fetching one row more than asked to know whether
a next page exists; the total is a second `count(*)` with the same filters when asked for,
cached per file and filters (`counts.py`). A page with one sort key seen to be one run of ties
of it is read in file order instead, where DuckDB stops early (`ties.py`). A large file's pages
filtered on a column it is not ordered by read a copy ordered by that column once there is one
(`projections.py`): the same rows, the same `file_row_number`, a few row groups read.
Offset and keyset (cursor) paging give the same rows; the cursor is cheaper deep in a table.
"""

from __future__ import annotations

from portal.store import cursors, sql, ties
from portal.store.connection import cursor as db_cursor
from portal.store.counts import count_rows
from portal.store.errors import QueryError
from portal.store.projections import PROJECTIONS
from portal.store.queries import RowPage, RowQuery, require_column, where_clause
from portal.store.schema import Column, StoredTable

MAX_LIMIT = 10_000


def query_rows(table: StoredTable, query: RowQuery) -> RowPage:
    """One page of rows of `table` matching `query`.

    Raises:
        QueryError: `unknown-column`, `unknown-operator`, `invalid-value`, `invalid-limit`,
            `invalid-offset`, `invalid-cursor`, `no-fields`.
    """
    _check_window(query)
    fields = _fields(table, query.fields)
    keys = [(require_column(table, s.column), s.descending) for s in query.sort]
    conditions, params = where_clause(table, query.filters)
    read = PROJECTIONS.scan(table, query.filters, query.sort)
    found = None
    if read.tie_runs:
        found = ties.tied_rows(table, query, _selected(fields, keys), keys, conditions, params)
    if found is None:
        statement, page_params = _page_sql(query, fields, keys, conditions, params, scan=read.clause)
        cur = db_cursor()
        try:
            found = cur.execute(statement, [read.path, *page_params]).fetchall()
        finally:
            cur.close()
        ties.learn(table, query, keys, conditions, params, found, len(fields))
    copy = (read.clause, read.path) if read.path != str(table.path) else None
    total = count_rows(table, conditions, params, copy) if query.with_total else None
    return _page(fields, keys, found, query.limit, total)


def _page_sql(query: RowQuery, fields: list[Column], keys: list[tuple[Column, bool]],
              conditions: list[str], params: list[object], *,
              projection: list[str] | None = None, scan: str | None = None,
              tail: list[str] | None = None) -> tuple[str, list[object]]:
    """The page SELECT (fields, then sort keys and the row number for the next cursor).

    `projection` replaces the quoted field list by other expressions (e.g. one JSON text per row);
    `scan` the FROM clause (default: the Parquet file as the first parameter); `tail` adds
    expressions between the sort keys and the row number.
    """
    page_conditions, page_params = list(conditions), list(params)
    if query.cursor:
        values, row_number = cursors.decode(keys, query.cursor)
        keyset, keyset_params = cursors.after(keys, values, row_number)
        page_conditions.append(keyset)
        page_params += keyset_params
    selected = _selected(fields, keys, projection) + (tail or [])
    statement = sql.SELECT_PAGE.format(
        fields=", ".join([*selected, sql.ROW_NUMBER]),
        scan=scan or sql.SCAN.format(path="?"),
        where=sql.where(page_conditions),
        order=_order(keys),
        limit=query.limit + 1,
        offset=query.offset,
    )
    return statement, page_params


def _selected(fields: list[Column], keys: list[tuple[Column, bool]],
              projection: list[str] | None = None) -> list[str]:
    """What a page selects before the row number: the fields (or `projection`), then its sort
    keys (for the next cursor)."""
    if projection is None:
        projection = [sql.quote_identifier(c.name) for c in fields]
    return projection + [sql.quote_identifier(k.name) for k, _ in keys]


def _check_window(query: RowQuery) -> None:
    if isinstance(query.limit, bool) or not isinstance(query.limit, int) or not (
        0 < query.limit <= MAX_LIMIT
    ):
        raise QueryError(
            "invalid-limit", f"limit must be between 1 and {MAX_LIMIT}", field="limit"
        )
    if not isinstance(query.offset, int) or query.offset < 0:
        raise QueryError("invalid-offset", "offset must be 0 or more", field="offset")
    if query.cursor and query.offset:
        raise QueryError("invalid-offset", "use a cursor or an offset, not both", field="offset")


def _fields(table: StoredTable, names: tuple[str, ...] | None) -> list[Column]:
    if names is None:
        return list(table.columns)
    if not names:
        raise QueryError("no-fields", "ask for at least one field", field="fields")
    return [require_column(table, name) for name in names]


def _order(keys: list[tuple[Column, bool]]) -> str:
    parts = [sql.order_key(sql.quote_identifier(column.name), descending) for column, descending in keys]
    return ", ".join([*parts, sql.ROW_NUMBER])


def _page(fields, keys, found: list[tuple], limit: int, total: int | None) -> RowPage:
    width = len(fields)
    rows = [row[:width] for row in found[:limit]]
    next_cursor = None
    if len(found) > limit:
        last = found[limit - 1]
        next_cursor = cursors.encode(keys, last[width:width + len(keys)], last[-1])
    return RowPage(columns=tuple(fields), rows=rows, total=total, next_cursor=next_cursor)
