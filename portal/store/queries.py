"""The shapes of row requests (`Filter`, `Sort`, `RowQuery`, `RowPage`) and the WHERE clause
that every reader - rows, aggregates, exports - builds from filters.

Each filter goes through the operator registry in `sql.OPERATORS`: the column through
`quote_identifier`, the value, coerced to the column's type, as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from portal.store import sql
from portal.store.errors import QueryError
from portal.store.schema import Column, StoredTable
from portal.store.values import coerce

MAX_IN_VALUES = 1000
NUMERIC = frozenset({"integer", "float", "decimal"})


@dataclass(frozen=True)
class Filter:
    """`column op value`; op is a key of `OPERATORS`."""

    column: str
    op: str
    value: object = None


@dataclass(frozen=True)
class TextMatch:
    """Rows where any column, read as text, contains `text` (case-insensitive): a plain
    full-text filter such as CKAN's datastore `q`. It goes in `RowQuery.filters` beside `Filter`s."""

    text: str


@dataclass(frozen=True)
class Sort:
    """One sort key. NULLs come last in both directions."""

    column: str
    descending: bool = False


@dataclass(frozen=True)
class RowQuery:
    """A page of rows: filters, sort keys, the fields to return and where the page starts."""

    filters: tuple[Filter | TextMatch, ...] = ()
    sort: tuple[Sort, ...] = ()
    fields: tuple[str, ...] | None = None
    limit: int = 100
    offset: int = 0
    cursor: str | None = None
    with_total: bool = True


@dataclass(frozen=True)
class RowPage:
    """One page: the returned columns, the rows, the total (when asked) and the next cursor."""

    columns: tuple[Column, ...]
    rows: list[tuple] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None


def require_column(table: StoredTable, name: str) -> Column:
    """The column called `name`.

    Raises:
        QueryError: `unknown-column`.
    """
    column = table.column(name) if isinstance(name, str) else None
    if column is None:
        raise QueryError("unknown-column", f"there is no column {name!r}", field=str(name))
    return column


def where_clause(table: StoredTable, filters: Sequence[Filter]) -> tuple[list[str], list[object]]:
    """The conditions (to be ANDed) and their parameters for `filters`.

    Raises:
        QueryError: `unknown-column`, `unknown-operator`, `invalid-value`.
    """
    parts, params = [], []
    for item in filters:
        part, values = text_match_sql(table, item) if isinstance(item, TextMatch) else filter_sql(table, item)
        parts.append(part)
        params.extend(values)
    return parts, params


def text_match_sql(table: StoredTable, item: TextMatch) -> tuple[str, list[object]]:
    """Any column contains the text: one bound parameter per column, ORed."""
    if not isinstance(item.text, str) or not item.text:
        raise QueryError("invalid-value", "a text search needs some text", field="q")
    needle = item.text.lower()
    parts = [sql.TEXT_MATCH.format(column=sql.quote_identifier(c.name)) for c in table.columns]
    return sql.disjunction(parts), [needle] * len(parts)


def filter_sql(table: StoredTable, item: Filter) -> tuple[str, list[object]]:
    """One filter as SQL with `?` placeholders and its bound values."""
    column = require_column(table, item.column)
    operator = sql.OPERATORS.get(item.op) if isinstance(item.op, str) else None
    if operator is None:
        raise QueryError(
            "unknown-operator",
            f"unknown operator {item.op!r}; known: {', '.join(sql.OPERATORS)}",
            field=column.name,
        )
    quoted = sql.quote_identifier(column.name)
    if operator.arity == "flag":
        wanted = coerce(item.value if item.value is not None else True, Column(column.name, "boolean"))
        return (operator.sql if wanted else sql.NOT_NULL_SQL).format(column=quoted), []
    target = Column(column.name, "text") if operator.text_only else column
    values = _operands(operator, item.value, target)
    return operator.sql.format(column=quoted, params=sql.in_clause(len(values))), values


def _operands(operator: sql.Operator, value: object, column: Column) -> list[object]:
    if operator.arity == "one":
        if value is None:
            raise QueryError("invalid-value", f"{operator.key} needs a value", field=column.name)
        return [coerce(value, column)]
    if not isinstance(value, list | tuple):
        raise QueryError("invalid-value", f"{operator.key} needs a list", field=column.name)
    wanted = 2 if operator.arity == "two" else None
    if (wanted and len(value) != wanted) or not 0 < len(value) <= MAX_IN_VALUES:
        raise QueryError(
            "invalid-value", f"{operator.key} got {len(value)} values", field=column.name
        )
    if any(v is None for v in value):
        raise QueryError("invalid-value", f"{operator.key} values cannot be null", field=column.name)
    return [coerce(v, column) for v in value]


def describe(item: Filter) -> str:
    """A human description of a filter, for the page that lists active filters."""
    operator = sql.OPERATORS.get(item.op)
    if operator is None:
        return f"{item.column} {item.op} {item.value!r}"
    if operator.arity == "flag" and item.value is False:
        return f"{item.column} is not empty"
    shown = " and ".join(map(str, item.value)) if operator.arity == "two" else item.value
    if operator.arity == "many":
        shown = ", ".join(map(str, item.value))
    return f"{item.column} {operator.description.format(value=shown)}"
