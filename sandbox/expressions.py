"""Column expressions for the worker's data API (`col("age") >= 60`, `sum("income")`, ...).

An `Expr` is only a wrapper around a plan node (see sandbox/plan.py); it never holds data.
Operators build new nodes; the broker decides what they mean in SQL. `sum`, `min` and `max`
keep their builtin meaning for anything that is not a column name or an expression, so
`sum([1, 2])` still works in analyst code.
"""

from __future__ import annotations

import builtins
from typing import Any

from sandbox.plan import MAX_NAME, PlanError, scalar

_CASTS = {"int": "integer", "integer": "integer", "float": "number", "number": "number",
          "str": "string", "string": "string", "bool": "boolean", "boolean": "boolean",
          "date": "date", "datetime": "datetime"}


def _column_name(value: Any) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_NAME:
        raise TypeError(f"a column name must be a string of 1-{MAX_NAME} characters")
    return value


def to_node(value: Any) -> dict[str, Any]:
    """An Expr's node, or a literal node for a plain JSON scalar."""
    if isinstance(value, Expr):
        return value._node
    try:
        return {"op": "lit", "value": scalar(value, "literal")}
    except PlanError as exc:
        raise TypeError(exc.message) from None


def column_node(value: Any) -> dict[str, Any]:
    """A column given by name or as an expression."""
    if isinstance(value, Expr):
        return value._node
    return {"op": "col", "name": _column_name(value)}


class Expr:
    """A column expression. Comparisons return expressions, so an Expr is not hashable."""

    __slots__ = ("_node",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, node: dict[str, Any]):
        object.__setattr__(self, "_node", node)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("expressions are read-only")

    def __repr__(self) -> str:
        return f"<expr {self._node['op']}>"

    def __bool__(self) -> bool:
        raise TypeError("an expression has no truth value; use & | ~ instead of and/or/not")

    def _binary(self, op: str, other: Any, swap: bool = False) -> Expr:
        args = [to_node(other), self._node] if swap else [self._node, to_node(other)]
        return Expr({"op": op, "args": args})

    def _unary(self, op: str) -> Expr:
        return Expr({"op": op, "args": [self._node]})

    def __eq__(self, other: Any) -> Expr:  # type: ignore[override]
        return self._binary("eq", other)

    def __ne__(self, other: Any) -> Expr:  # type: ignore[override]
        return self._binary("ne", other)

    def __lt__(self, other: Any) -> Expr:
        return self._binary("lt", other)

    def __le__(self, other: Any) -> Expr:
        return self._binary("le", other)

    def __gt__(self, other: Any) -> Expr:
        return self._binary("gt", other)

    def __ge__(self, other: Any) -> Expr:
        return self._binary("ge", other)

    def __and__(self, other: Any) -> Expr:
        return self._binary("and", other)

    def __or__(self, other: Any) -> Expr:
        return self._binary("or", other)

    def __rand__(self, other: Any) -> Expr:
        return self._binary("and", other, swap=True)

    def __ror__(self, other: Any) -> Expr:
        return self._binary("or", other, swap=True)

    def __invert__(self) -> Expr:
        return self._unary("not")

    def __neg__(self) -> Expr:
        return self._unary("neg")

    def __add__(self, other: Any) -> Expr:
        return self._binary("add", other)

    def __radd__(self, other: Any) -> Expr:
        return self._binary("add", other, swap=True)

    def __sub__(self, other: Any) -> Expr:
        return self._binary("sub", other)

    def __rsub__(self, other: Any) -> Expr:
        return self._binary("sub", other, swap=True)

    def __mul__(self, other: Any) -> Expr:
        return self._binary("mul", other)

    def __rmul__(self, other: Any) -> Expr:
        return self._binary("mul", other, swap=True)

    def __truediv__(self, other: Any) -> Expr:
        return self._binary("div", other)

    def __rtruediv__(self, other: Any) -> Expr:
        return self._binary("div", other, swap=True)

    def __floordiv__(self, other: Any) -> Expr:
        return self._binary("floordiv", other)

    def __mod__(self, other: Any) -> Expr:
        return self._binary("mod", other)

    def is_in(self, values: Any) -> Expr:
        if type(values) not in (list, tuple, set, frozenset):
            raise TypeError("is_in() takes a list of values")
        nodes = [to_node(value)["value"] for value in values]
        return Expr({"op": "is_in", "args": [self._node], "values": nodes})

    def is_null(self) -> Expr:
        return self._unary("is_null")

    def is_not_null(self) -> Expr:
        return self._unary("is_not_null")

    def alias(self, name: str) -> Expr:
        return Expr({"op": "alias", "name": _column_name(name), "expr": self._node})

    def cast(self, to: str) -> Expr:
        if type(to) is not str or to not in _CASTS:
            raise TypeError(f"cast() takes one of {sorted(_CASTS)}")
        return Expr({"op": "cast", "args": [self._node], "to": _CASTS[to]})

    @property
    def dt(self) -> DateParts:
        return DateParts(self._node)

    def sum(self) -> Expr:
        return self._unary("sum")

    def mean(self) -> Expr:
        return self._unary("mean")

    def median(self) -> Expr:
        return self._unary("median")

    def min(self) -> Expr:
        return self._unary("min")

    def max(self) -> Expr:
        return self._unary("max")

    def std(self) -> Expr:
        return self._unary("std")

    def n_unique(self) -> Expr:
        return self._unary("count_distinct")

    def quantile(self, q: float) -> Expr:
        return quantile(self, q)


class DateParts:
    """`col("d").dt.year()` and friends."""

    __slots__ = ("_node",)

    def __init__(self, node: dict[str, Any]):
        self._node = node

    def year(self) -> Expr:
        return Expr({"op": "year", "args": [self._node]})

    def month(self) -> Expr:
        return Expr({"op": "month", "args": [self._node]})

    def day(self) -> Expr:
        return Expr({"op": "day", "args": [self._node]})


def col(name: str) -> Expr:
    return Expr({"op": "col", "name": _column_name(name)})


def lit(value: Any) -> Expr:
    return Expr(to_node(value))


def count() -> Expr:
    """Rows per group."""
    return Expr({"op": "count", "args": []})


def _aggregate(op: str, column: Any) -> Expr:
    return Expr({"op": op, "args": [column_node(column)]})


def count_distinct(column: Any) -> Expr:
    return _aggregate("count_distinct", column)


def mean(column: Any) -> Expr:
    return _aggregate("mean", column)


def median(column: Any) -> Expr:
    return _aggregate("median", column)


def std(column: Any) -> Expr:
    return _aggregate("std", column)


def quantile(column: Any, q: float) -> Expr:
    if type(q) not in (int, float) or not 0 <= q <= 1:
        raise TypeError("quantile() needs q between 0 and 1")
    return Expr({"op": "quantile", "args": [column_node(column)], "q": q})


def _is_column(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return len(args) == 1 and not kwargs and isinstance(args[0], (str, Expr))


def sum(*args: Any, **kwargs: Any) -> Any:  # noqa: A001 - deliberately shadows the builtin
    """`sum("col")` aggregates a column; anything else is the builtin sum."""
    if _is_column(args, kwargs):
        return _aggregate("sum", args[0])
    return builtins.sum(*args, **kwargs)


def min(*args: Any, **kwargs: Any) -> Any:  # noqa: A001
    if _is_column(args, kwargs):
        return _aggregate("min", args[0])
    return builtins.min(*args, **kwargs)


def max(*args: Any, **kwargs: Any) -> Any:  # noqa: A001
    if _is_column(args, kwargs):
        return _aggregate("max", args[0])
    return builtins.max(*args, **kwargs)
