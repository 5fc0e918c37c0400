"""`aggregate`: grouped counts, sums, means, medians, quantiles... with the contributor counts
the sandbox's disclosure control needs.

For every output cell the result says how many source rows contributed to it: `count(*)` for a
plain count, `count(column)` (the non-NULL values) for a column measure. Identical contributor
expressions are computed once.

What each function means (nulls, no values, types) is `aggregations.py`, shared with the
sandbox's plans and the charts.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.store import aggregations, sql
from portal.store.connection import cursor as db_cursor
from portal.store.errors import QueryError
from portal.store.queries import NUMERIC, Filter, Sort, require_column, where_clause
from portal.store.schema import StoredTable

NUMERIC_ONLY = aggregations.NUMERIC_ONLY
MAX_LIMIT = 100_000


@dataclass(frozen=True)
class Measure:
    """One aggregate: `func` over `column` (none for count), `q` for quantile."""

    func: str
    column: str | None = None
    q: float | None = None
    alias: str | None = None

    @property
    def name(self) -> str:
        """The output column name: the alias, else `func` or `func_column`."""
        if self.alias:
            return self.alias
        return f"{self.func}_{self.column}" if self.column else self.func


@dataclass(frozen=True)
class AggregateQuery:
    """Group by 0+ columns, compute measures, after filters; sort by output columns."""

    group_by: tuple[str, ...] = ()
    measures: tuple[Measure, ...] = (Measure("count"),)
    filters: tuple[Filter, ...] = ()
    sort: tuple[Sort, ...] = ()
    limit: int | None = None


@dataclass(frozen=True)
class AggregateResult:
    """Rows of group values then measure values; per row, per measure, the contributor count."""

    columns: tuple[str, ...]
    rows: list[tuple]
    contributors: list[tuple[int, ...]]


def aggregate(table: StoredTable, query: AggregateQuery) -> AggregateResult:
    """Aggregate `table` as `query` says.

    Raises:
        QueryError: `unknown-column`, `unknown-function`, `invalid-measure`,
            `invalid-quantile`, `duplicate-column`, `invalid-limit`, filter errors.
    """
    groups = [require_column(table, name).name for name in query.group_by]
    if not query.measures:
        raise QueryError("invalid-measure", "ask for at least one measure", field="measures")
    measures = [_measure_sql(table, m) for m in query.measures]
    names = (*groups, *(m.name for m in query.measures))
    if len({n.casefold() for n in names}) != len(names):
        raise QueryError("duplicate-column", "two output columns share a name", field="measures")
    contributors = list(dict.fromkeys(c for _, c in measures))
    exprs = [sql.quote_identifier(g) for g in groups] + [m for m, _ in measures]
    exprs += contributors
    conditions, params = where_clause(table, query.filters)
    statement = sql.SELECT_AGGREGATE.format(
        exprs=", ".join(exprs), scan=sql.SCAN.format(path="?"), where=sql.where(conditions),
        group=sql.GROUP_BY.format(keys=", ".join(str(i + 1) for i in range(len(groups))))
        if groups else "",
        order=_order(query.sort, names, len(groups)), limit=_limit(query.limit),
    )
    cur = db_cursor()
    try:
        found = cur.execute(statement, [str(table.path), *params]).fetchall()
    finally:
        cur.close()
    return _result(names, measures, contributors, found)


def bin_counts(table: StoredTable, column: str, edges: list[float]) -> list[int]:
    """Records per bin [edges[i], edges[i + 1]) of numeric `column` (the last bin closed), in one
    scan of the file: a histogram on edges the caller fixed (the synthetic sample's grid).

    Raises:
        QueryError: `unknown-column`.
    """
    name = sql.quote_identifier(require_column(table, column).name)
    exprs, params = [], []
    for i in range(len(edges) - 1):
        upper = "<=" if i == len(edges) - 2 else "<"
        exprs.append(f"count(*) FILTER (WHERE {name} >= ? AND {name} {upper} ?)")
        params += [edges[i], edges[i + 1]]
    if not exprs:
        return []
    statement = sql.SELECT_AGGREGATE.format(exprs=", ".join(exprs), scan=sql.SCAN.format(path="?"), where="",
                                            group="", order="", limit="")
    cur = db_cursor()
    try:
        return [int(n) for n in cur.execute(statement, [*params, str(table.path)]).fetchone()]
    finally:
        cur.close()


def _measure_sql(table: StoredTable, measure: Measure) -> tuple[str, str]:
    """(value SQL, contributor SQL) for one measure."""
    if measure.func not in aggregations.FUNCTIONS:
        raise QueryError(
            "unknown-function",
            f"unknown function {measure.func!r}; known: {', '.join(aggregations.FUNCTIONS)}",
            field="measures",
        )
    if measure.column is None:
        if measure.func != "count":
            raise QueryError("invalid-measure", f"{measure.func} needs a column", field="measures")
        return aggregations.COUNT_ALL, aggregations.COUNT_ALL
    column = require_column(table, measure.column)
    quoted = sql.quote_identifier(column.name)
    numeric = column.type in NUMERIC
    if measure.func in NUMERIC_ONLY and not numeric:
        raise QueryError(
            "invalid-measure", f"{measure.func} needs a numeric column, not {column.name!r}",
            field=column.name,
        )
    value = aggregations.template(measure.func, measure.q, field="measures").format(quoted)
    return value, aggregations.CONTRIBUTORS.format(quoted)


def _order(sorts: tuple[Sort, ...], names: tuple[str, ...], groups: int) -> str:
    if not sorts:
        keys = [sql.order_key(str(i + 1), False) for i in range(groups)]
        return sql.ORDER_BY.format(keys=", ".join(keys)) if keys else ""
    positions = {name: i + 1 for i, name in enumerate(names)}
    parts = []
    for item in sorts:
        if item.column not in positions:
            raise QueryError(
                "unknown-column", f"cannot sort by {item.column!r}: not an output column",
                field=str(item.column),
            )
        parts.append(sql.order_key(str(positions[item.column]), item.descending))
    return sql.ORDER_BY.format(keys=", ".join(parts))


def _limit(limit: int | None) -> str:
    if limit is None:
        return ""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_LIMIT:
        raise QueryError("invalid-limit", f"limit must be 1 to {MAX_LIMIT}", field="limit")
    return sql.LIMIT.format(limit=limit)


def _result(names, measures, contributors, found) -> AggregateResult:
    width = len(names)
    slot = {expr: width + i for i, expr in enumerate(contributors)}
    rows = [tuple(row[:width]) for row in found]
    counts = [tuple(int(row[slot[c]]) for _, c in measures) for row in found]
    return AggregateResult(columns=names, rows=rows, contributors=counts)
