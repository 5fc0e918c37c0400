"""The shapes of row requests (`Filter`, `Sort`, `RowQuery`, `RowPage`), the filter operators,
and the WHERE clause that every reader - rows, aggregates, charts, exports, grants - builds
from filters.

A filter's value is coerced to its column's type (`values.coerce`, a clear `invalid-value`
naming the field), then the filter is written as a plan expression (`eq(col, lit)`,
`is_in`, ...) and compiled by `plan_sql.compile_expression`, the compiler of the sandbox's
plans: one compiler, so a filter means the same in a preview as in an analyst's plan. The
column reaches SQL through `quote_identifier`, the value as a bound parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from portal.store import sql
from portal.store.errors import QueryError
from portal.store.plan_sql import TEXTUAL, Field, compile_expression
from portal.store.schema import Column, StoredTable
from portal.store.values import coerce

MAX_IN_VALUES = 1000
NUMERIC = frozenset({"integer", "float", "decimal"})


@dataclass(frozen=True)
class Filter:
    """`column op value`; op is a key of `OPERATORS` (below)."""

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


Node = dict


def _binary(op: str) -> Callable[[Node, list], Node]:
    return lambda column, values: {"op": op, "args": [column, _literal(values[0])]}


def _literal(value: object) -> Node:
    return {"op": "lit", "value": value}


@dataclass(frozen=True)
class Operator:
    """One filter operator, Datasette style: its key, a description, the plan expression it
    stands for, and what it takes (`arity`: 'one', 'two', 'many' values or a 'flag', as
    is_null takes True/False). `text_only` operators read the column as text."""

    key: str
    description: str
    expression: Callable[[Node, list], Node]
    arity: str = "one"
    text_only: bool = False


OPERATORS: dict[str, Operator] = {
    op.key: op
    for op in (
        Operator("eq", "equals {value}", _binary("eq")),
        # "is not x" keeps the empty cells (SQL's IS DISTINCT FROM): they are not x.
        Operator("ne", "is not {value}", lambda c, v: {"op": "or", "args": [
            _binary("ne")(c, v), {"op": "is_null", "args": [c]}]}),
        Operator("lt", "is less than {value}", _binary("lt")),
        Operator("le", "is at most {value}", _binary("le")),
        Operator("gt", "is greater than {value}", _binary("gt")),
        Operator("ge", "is at least {value}", _binary("ge")),
        Operator("in", "is one of {value}", lambda c, v: {"op": "is_in", "args": [c], "values": v},
                 arity="many"),
        # "is none of" keeps the empty cells, as "is not" does (charts leave out aggregate rows
        # with it; the row API does not offer it).
        Operator("notin", "is none of {value}", lambda c, v: {"op": "or", "args": [
            {"op": "not", "args": [{"op": "is_in", "args": [c], "values": v}]}, {"op": "is_null", "args": [c]}]},
                 arity="many"),
        Operator("between", "is between {value}", lambda c, v: {"op": "and", "args": [
            _binary("ge")(c, v[:1]), _binary("le")(c, v[1:])]}, arity="two"),
        Operator("contains", "contains {value}", _binary("contains"), text_only=True),
        Operator("startswith", "starts with {value}", _binary("starts_with"), text_only=True),
        Operator("is_null", "is empty", lambda c, v: {"op": "is_null" if v[0] else "is_not_null",
                                                     "args": [c]}, arity="flag"),
    )
}


def where_clause(table: StoredTable, filters: Sequence[Filter | TextMatch]) -> tuple[list[str], list[object]]:
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
    """Any column, read as text and lowercased, contains the lowercased text: one bound
    parameter per column, ORed."""
    if not isinstance(item.text, str) or not item.text:
        raise QueryError("invalid-value", "a text search needs some text", field="q")
    needle = _literal(item.text.lower())
    parts, params = [], []
    for column in table.columns:
        node = {"op": "contains", "args": [{"op": "lower", "args": [_as_text(column)]}, needle]}
        compiled = compile_expression(node, _scope(column))
        parts.append(compiled.sql)
        params.extend(compiled.params)
    return sql.disjunction(parts), params


def filter_sql(table: StoredTable, item: Filter) -> tuple[str, list[object]]:
    """One filter as SQL with `?` placeholders and its bound values."""
    column = require_column(table, item.column)
    operator = OPERATORS.get(item.op) if isinstance(item.op, str) else None
    if operator is None:
        raise QueryError(
            "unknown-operator",
            f"unknown operator {item.op!r}; known: {', '.join(OPERATORS)}",
            field=column.name,
        )
    if operator.arity == "flag":
        values = [coerce(item.value if item.value is not None else True, Column(column.name, "boolean"))]
    else:
        values = _operands(operator, item.value, Column(column.name, "text") if operator.text_only else column)
    target = _as_text(column) if operator.text_only else {"op": "col", "name": column.name}
    compiled = compile_expression(operator.expression(target, values), _scope(column))
    return compiled.sql, list(compiled.params)


def _scope(column: Column) -> dict[str, Field]:
    return {column.name: Field(column.name, sql.quote_identifier(column.name), column.type)}


def _as_text(column: Column) -> Node:
    node = {"op": "col", "name": column.name}
    return node if column.type in TEXTUAL else {"op": "cast", "to": "string", "args": [node]}


def _operands(operator: Operator, value: object, column: Column) -> list[object]:
    if operator.arity == "one":
        if value is None:
            raise QueryError("invalid-value", f"{operator.key} needs a value", field=column.name)
        return [_finite(coerce(value, column), column)]
    if not isinstance(value, list | tuple):
        raise QueryError("invalid-value", f"{operator.key} needs a list", field=column.name)
    wanted = 2 if operator.arity == "two" else None
    if (wanted and len(value) != wanted) or not 0 < len(value) <= MAX_IN_VALUES:
        raise QueryError(
            "invalid-value", f"{operator.key} got {len(value)} values", field=column.name
        )
    if any(v is None for v in value):
        raise QueryError("invalid-value", f"{operator.key} values cannot be null", field=column.name)
    return [_finite(coerce(v, column), column) for v in value]


def _finite(value: object, column: Column) -> object:
    """The compiler binds finite numbers only (as in plans); say so, naming the field."""
    if isinstance(value, float) and not math.isfinite(value):
        raise QueryError("invalid-value", f"{value!r} is not a finite number", field=column.name)
    return value


def describe(item: Filter) -> str:
    """A human description of a filter, for the page that lists active filters."""
    operator = OPERATORS.get(item.op)
    if operator is None:
        return f"{item.column} {item.op} {item.value!r}"
    if operator.arity == "flag" and item.value is False:
        return f"{item.column} is not empty"
    shown = " and ".join(map(str, item.value)) if operator.arity == "two" else item.value
    if operator.arity == "many":
        shown = ", ".join(map(str, item.value))
    return f"{item.column} {operator.description.format(value=shown)}"
