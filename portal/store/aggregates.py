"""`aggregate`: grouped counts, sums, means, medians, quantiles... with the contributor counts
the sandbox's disclosure control needs.

For every output cell the result says how many source rows contributed to it: `count(*)` for a
plain count, `count(column)` (the non-NULL values) for a column measure. A measure may also ask
for `extras=('top2',)`: the largest and second-largest absolute value of its column in each cell,
for dominance (n, k) rules. Identical contributor expressions are computed once.

What each function means (nulls, no values, types) is `aggregations.py`, shared with the
sandbox's plans and the charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.store import aggregations, sql
from portal.store.connection import cursor as db_cursor
from portal.store.errors import QueryError
from portal.store.queries import NUMERIC, Filter, Sort, require_column, where_clause
from portal.store.schema import StoredTable

NUMERIC_ONLY = aggregations.NUMERIC_ONLY
EXTRAS = frozenset({"top2"})
MAX_LIMIT = 100_000


@dataclass(frozen=True)
class Measure:
    """One aggregate: `func` over `column` (none for count), `q` for quantile, optional extras."""

    func: str
    column: str | None = None
    q: float | None = None
    alias: str | None = None
    extras: tuple[str, ...] = ()

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
    """Rows of group values then measure values; per row, per measure, the contributor count
    and (None unless asked for) the (largest, second-largest) absolute contribution."""

    columns: tuple[str, ...]
    rows: list[tuple]
    contributors: list[tuple[int, ...]]
    top2: list[tuple[tuple[object, object] | None, ...]] = field(default_factory=list)


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
    contributors = list(dict.fromkeys(c for _, c, _ in measures))
    tops = [t for _, _, t in measures if t]
    exprs = [sql.quote_identifier(g) for g in groups] + [m for m, _, _ in measures]
    exprs += contributors + tops
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


def _measure_sql(table: StoredTable, measure: Measure) -> tuple[str, str, str | None]:
    """(value SQL, contributor SQL, top2 SQL or None) for one measure."""
    if measure.func not in aggregations.FUNCTIONS:
        raise QueryError(
            "unknown-function",
            f"unknown function {measure.func!r}; known: {', '.join(aggregations.FUNCTIONS)}",
            field="measures",
        )
    if measure.column is None:
        if measure.func != "count" or measure.extras:
            raise QueryError("invalid-measure", f"{measure.func} needs a column", field="measures")
        return aggregations.COUNT_ALL, aggregations.COUNT_ALL, None
    column = require_column(table, measure.column)
    quoted = sql.quote_identifier(column.name)
    numeric = column.type in NUMERIC
    if (measure.func in NUMERIC_ONLY or measure.extras) and not numeric:
        raise QueryError(
            "invalid-measure", f"{measure.func} needs a numeric column, not {column.name!r}",
            field=column.name,
        )
    if set(measure.extras) - EXTRAS:
        raise QueryError("invalid-measure", f"unknown extras {measure.extras!r}", field="measures")
    value = aggregations.template(measure.func, measure.q, field="measures").format(quoted)
    top2 = aggregations.TOP_TWO.format(quoted) if "top2" in measure.extras else None
    return value, aggregations.CONTRIBUTORS.format(quoted), top2


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
    top_start = width + len(contributors)
    rows, counts, tops = [], [], []
    for row in found:
        rows.append(tuple(row[:width]))
        counts.append(tuple(int(row[slot[c]]) for _, c, _ in measures))
        tops.append(tuple(_top_pair(row, measures, top_start)))
    return AggregateResult(columns=names, rows=rows, contributors=counts, top2=tops)


def _top_pair(row: tuple, measures, start: int):
    position = start
    for _, _, top in measures:
        if top is None:
            yield None
            continue
        values = row[position] or []
        position += 1
        yield (values[0] if values else None, values[1] if len(values) > 1 else None)
