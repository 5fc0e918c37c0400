"""Chart series: a table reduced to at most N marks, with what was reduced said, never hidden.

Four shapes, each one SQL statement (or two) over the version's Parquet file:
- `categories`: one value per category, the top `limit` by value; the rest combined into one
  "others" value by the same aggregate over their rows (never silently dropped);
- `timeline`: one value per time bucket, the finest of hour/day/week/month/quarter/year/decade
  that gives at most `limit` buckets (integer years count as times);
- `bins`: a numeric column cut into at most `limit` equal, round-width bins;
- `scatter`: raw (x, y) pairs, a reproducible random sample when there are more than `limit`.

Column names reach SQL only through `sql.quote_identifier`, values only as bound parameters.
This module knows nothing of fields' meanings (that is the catalog's `charts` service).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from portal.store import aggregations, sql
from portal.store.connection import cursor as db_cursor
from portal.store.errors import QueryError
from portal.store.queries import NUMERIC, Filter, require_column, where_clause
from portal.store.schema import StoredTable

CHART_AGGREGATES = ("count", "sum", "mean", "median", "min", "max")
# Finest first; each unit's DuckDB date_trunc part. 'decade' is computed from the year.
TIME_UNITS = ("hour", "day", "week", "month", "quarter", "year", "decade")
TEMPORAL = frozenset({"date", "timestamp"})
SAMPLE_SEED = 42
COUNT_PER_BUCKET = 5  # a count over time aims at this many records per bucket on average


@dataclass(frozen=True)
class Series:
    """The plotted values: `points` are (x, value) or (x, x2, value) for bins; `rows` is how many
    records the chart summarises, `groups` how many categories or buckets exist before the cap."""

    points: list[tuple]
    rows: int
    groups: int
    others: tuple[object, int] | None = None  # (value, records) of the categories past the cap
    unit: str | None = None  # time bucket or bin width
    step: float | None = None
    single: bool = False  # every mark holds exactly one record: the values are the data itself


def categories(table: StoredTable, x: str, *, agg: str, y: str | None, limit: int,
               filters: tuple[Filter, ...] = ()) -> Series:
    """`agg(y)` per value of `x`, the `limit` largest first; the others combined.

    Raises:
        QueryError: `unknown-column`, `invalid-measure`, filter errors.
    """
    key = sql.quote_identifier(require_column(table, x).name)
    measure = _measure(table, agg, y)
    conditions, params = where_clause(table, filters)
    parts = {"key": key, "measure": measure, "scan": _SCAN, "where": sql.where(conditions)}
    ranked = sql.CHART_RANKED.format(**parts)
    top = fetch_rows(sql.CHART_TOP.format(ranked=ranked), [str(table.path), *params, limit])
    if not top:
        return Series(points=[], rows=0, groups=0)
    total, widest = top[0][3], top[0][4]
    others = None
    if total > limit:
        rest = sql.where([*conditions, sql.CHART_NOT_TOP.format(key=key)])
        found = fetch_rows(sql.CHART_OTHERS.format(ranked=ranked, measure=measure, scan=_SCAN, rest=rest),
                           [str(table.path), *params, str(table.path), *params, limit])
        others = (found[0][0], int(found[0][1]))
    rows = sum(int(r[2]) for r in top) + (others[1] if others else 0)
    return Series(points=[(r[0], r[1]) for r in top], rows=rows, groups=int(total), others=others,
                  single=widest == 1)


def ordinal(table: StoredTable, x: str, *, agg: str, y: str | None, limit: int,
            filters: tuple[Filter, ...] = ()) -> Series | None:
    """`agg(y)` per value of `x` in the order of `x`, when `x` has at most `limit` values, else None
    (small integer codes such as months or hours read best in their own order)."""
    key = sql.quote_identifier(require_column(table, x).name)
    conditions, params = where_clause(table, filters)
    statement = sql.CHART_GROUPED.format(key=key, measure=_measure(table, agg, y), scan=_SCAN,
                                         where=sql.where(conditions), limit=sql.LIMIT.format(limit=int(limit) + 1))
    found = fetch_rows(statement, [str(table.path), *params])
    if len(found) > limit:
        return None
    return Series(points=[(r[0], r[1]) for r in found], rows=sum(int(r[2]) for r in found), groups=len(found),
                  single=all(int(r[2]) == 1 for r in found))


def timeline(table: StoredTable, x: str, *, agg: str, y: str | None, limit: int, year_column: bool,
             filters: tuple[Filter, ...] = ()) -> Series:
    """`agg(y)` per time bucket of `x` (a date, timestamp or, with `year_column`, an integer year),
    in time order, in the finest unit that gives at most `limit` buckets; a count aims at
    `COUNT_PER_BUCKET` records per bucket.

    Raises:
        QueryError: `unknown-column`, `invalid-measure`, `not-temporal`.
    """
    column = require_column(table, x)
    quoted = sql.quote_identifier(column.name)
    if year_column and column.type in NUMERIC:
        moment, units = sql.YEAR_AS_DATE.format(column=quoted), ("year", "decade")
    elif column.type in TEMPORAL:
        moment = quoted if column.type == "timestamp" else sql.AS_TIMESTAMP.format(column=quoted)
        units = TIME_UNITS
    else:
        raise QueryError("not-temporal", f"{column.name!r} is not a date, time or year", field=column.name)
    measure = _measure(table, agg, y)
    conditions, params = where_clause(table, filters)
    where = sql.where([*conditions, sql.NOT_NULL_SQL.format(column=quoted)])
    distinct, rows = (int(v) for v in _select(table, [aggregations.template("count_distinct").format(quoted), "count(*)"],
                                              where, params))
    unit = None
    if distinct > limit or (agg == "count" and distinct * COUNT_PER_BUCKET > rows):
        counts = _select(table, [aggregations.template("count_distinct").format(_bucket(moment, u)) for u in units], where, params)
        # A count per bucket needs several records per bucket to say anything (not a wall of 1s).
        fits = [n <= limit and (agg != "count" or n * COUNT_PER_BUCKET <= rows) for n in counts]
        unit = next((u for u, ok in zip(units, fits, strict=True) if ok), units[-1])
    bucket = _bucket(moment, unit) if unit else moment
    found = fetch_rows(sql.CHART_GROUPED.format(key=bucket, measure=measure, scan=_SCAN, where=where, limit=""),
                       [str(table.path), *params])
    return Series(points=[(r[0], r[1]) for r in found], rows=rows, groups=distinct, unit=unit,
                  single=all(int(r[2]) == 1 for r in found))


def bins(table: StoredTable, x: str, *, agg: str, y: str | None, limit: int,
         filters: tuple[Filter, ...] = ()) -> Series:
    """`agg(y)` (a histogram with count) over at most `limit` equal bins of numeric `x`, whose
    width is 1, 2 or 5 times a power of ten.

    Raises:
        QueryError: `unknown-column`, `invalid-measure`, `not-numeric`.
    """
    quoted = _numeric(table, x)
    measure = _measure(table, agg, y)
    conditions, params = where_clause(table, filters)
    where = sql.where([*conditions, sql.NOT_NULL_SQL.format(column=quoted)])
    low, high, rows = _select(table, [aggregations.template("min").format(quoted),
                                      aggregations.template("max").format(quoted), "count(*)"], where, params)
    if not rows:
        return Series(points=[], rows=0, groups=0)
    step = nice_step(float(low), float(high), limit)
    statement = sql.CHART_GROUPED.format(key=sql.BIN_START.format(column=quoted), measure=measure, scan=_SCAN,
                                         where=where, limit="")
    found = fetch_rows(statement, [step, step, str(table.path), *params])
    return Series(points=[(r[0], r[0] + step, r[1]) for r in found], rows=int(rows), groups=len(found),
                  step=step)


def scatter(table: StoredTable, x: str, y: str, *, limit: int, filters: tuple[Filter, ...] = ()) -> Series:
    """(x, y) pairs of two numeric columns; a reproducible sample of `limit` when there are more.

    Raises:
        QueryError: `unknown-column`, `not-numeric`.
    """
    pair = [_numeric(table, x), _numeric(table, y)]
    conditions, params = where_clause(table, filters)
    where = sql.where([*conditions, *(sql.NOT_NULL_SQL.format(column=c) for c in pair)])
    rows = int(_select(table, ["count(*)"], where, params)[0])
    sample = sql.CHART_SAMPLE_CLAUSE.format(limit=int(limit), seed=SAMPLE_SEED) if rows > limit else ""
    found = fetch_rows(sql.CHART_SAMPLE.format(exprs=", ".join(pair), scan=_SCAN, where=where, sample=sample),
                       [str(table.path), *params])
    return Series(points=[(r[0], r[1]) for r in found], rows=rows, groups=len(found))


@dataclass(frozen=True)
class Profile:
    """What a default chart is chosen from: the row count and, per column, its distinct values and
    (numeric and temporal columns) its range."""

    rows: int
    distinct: dict[str, int]
    low: dict[str, object]
    high: dict[str, object]


def profile(table: StoredTable) -> Profile:
    """One scan: count(*), and per column count(DISTINCT), min and max where ordered."""
    ranged = [c for c in table.columns if c.type in NUMERIC or c.type in TEMPORAL]
    exprs = ["count(*)"] + [aggregations.template("count_distinct").format(sql.quote_identifier(c.name)) for c in table.columns]
    for c in ranged:
        exprs += [aggregations.template(f).format(sql.quote_identifier(c.name)) for f in ("min", "max")]
    row = _select(table, exprs, "", [])
    width = len(table.columns)
    distinct = {c.name: int(row[1 + i]) for i, c in enumerate(table.columns)}
    low = {c.name: row[1 + width + 2 * i] for i, c in enumerate(ranged)}
    high = {c.name: row[2 + width + 2 * i] for i, c in enumerate(ranged)}
    return Profile(rows=int(row[0]), distinct=distinct, low=low, high=high)


def nice_step(low: float, high: float, limit: int) -> float:
    """The smallest width 1, 2 or 5 × 10^k that cuts [low, high] into at most `limit` bins."""
    span = high - low
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, limit - 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        step = factor * power
        if math.floor(high / step) - math.floor(low / step) + 1 <= limit:
            return float(step)
    return float(20 * power)


_SCAN = sql.SCAN.format(path="?")


def _measure(table: StoredTable, agg: str, y: str | None) -> str:
    if agg not in CHART_AGGREGATES:
        raise QueryError("invalid-measure", f"unknown aggregate {agg!r}; one of {', '.join(CHART_AGGREGATES)}",
                         field="agg")
    if agg == "count":
        return aggregations.COUNT_ALL
    if not y:
        raise QueryError("missing-measure", f"{agg} needs a numeric column", field="y")
    column = require_column(table, y)
    if column.type not in NUMERIC:
        raise QueryError("invalid-measure", f"{agg} needs a numeric column, not {column.name!r}", field=column.name)
    return aggregations.template(agg).format(sql.quote_identifier(column.name))


def _numeric(table: StoredTable, name: str) -> str:
    column = require_column(table, name)
    if column.type not in NUMERIC:
        raise QueryError("not-numeric", f"{column.name!r} is not numeric", field=column.name)
    return sql.quote_identifier(column.name)


def _select(table: StoredTable, exprs: list[str], where: str, params: list) -> tuple:
    """One row of aggregates over the table."""
    return fetch_rows(sql.SELECT_FROM.format(exprs=", ".join(exprs), scan=_SCAN, where=where),
                      [str(table.path), *params])[0]


def _bucket(moment: str, unit: str) -> str:
    if unit == "decade":
        return sql.DECADE_BUCKET.format(moment=moment)
    return sql.TIME_BUCKET.format(unit=unit, moment=moment)


def fetch_rows(statement: str, params: list) -> list[tuple]:
    """All rows of one bound statement on a cursor of the shared connection."""
    cur = db_cursor()
    try:
        return cur.execute(statement, params).fetchall()
    finally:
        cur.close()
