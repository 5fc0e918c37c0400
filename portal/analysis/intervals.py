"""Interval arithmetic over plan expressions: the range of every value a plan computes, decided
from the data dictionary's public bounds before the plan runs.

For conditional data the plan policy asks `combine` for the range of each expression node from
the ranges of its arguments, and refuses a plan in which a node could divide by zero, go
non-finite or leave `LIMIT` (the stored values are clamped into their declared bounds at ingest
and again when read, so these ranges hold for every record). Because the decision uses only the
bounds, whether a plan runs never depends on the records: an overflow that fails only when one
person's value exceeds a threshold the analyst chose (bisection) cannot happen.

This module is pure: no database, no plan walking, no refusal types (it raises `RangeProblem`,
which the policy turns into a refusal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Interval = tuple[float, float]

# Every intermediate value must fit in a signed 64-bit integer (with a margin for rounding of the
# bounds themselves): then BIGINT arithmetic cannot overflow, DOUBLE cannot go non-finite, sums
# (HUGEINT for integers, DOUBLE for numbers) of up to 2^60 such values stay finite, and squares
# inside a standard deviation stay far below DOUBLE's limit.
LIMIT = float(2**62)
BOOLEAN: Interval = (0.0, 1.0)
# A year is any DuckDB date's: a date read from text (`cast('date')` of a literal or a column)
# reaches year 5,881,580, far past a timestamp's 294,247. With ±300,000 here, `year * 2^43`
# passed the check and overflowed on a row whose date was far: behind `~target | (...)` DuckDB
# evaluates it on the target's row alone, so the failure told the target was in the set, in
# both modes (fifteenth round, decision 0027h).
YEARS = 5_881_580.0
DATE_PARTS: dict[str, Interval] = {"year": (-YEARS, YEARS), "month": (1.0, 12.0), "day": (1.0, 31.0)}
BOOLEAN_OPS = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "is_null", "is_not_null", "is_in"})


class RangeProblem(Exception):
    """An expression whose value could be undefined or out of range within the declared bounds."""

    def __init__(self, rule: str, reason: str):
        super().__init__(reason)
        self.rule, self.reason = rule, reason


def literal(value: object) -> Interval | None:
    if isinstance(value, bool):
        return (float(value), float(value))
    if isinstance(value, int | float) and math.isfinite(value):
        return (float(value), float(value))
    return None


def combine(node: dict, args: Sequence[Interval | None]) -> Interval | None:
    """The range of `node` given its arguments' ranges (None: not numeric or not bounded).

    Raises:
        RangeProblem: `division-by-zero`, `unbounded` or `out-of-range`.
    """
    op = node["op"]
    if op in BOOLEAN_OPS:
        return BOOLEAN
    if op in DATE_PARTS:
        return DATE_PARTS[op]
    if op == "cast":
        return _cast(node["to"], args[0])
    if op not in ARITHMETIC:
        return None
    if any(a is None for a in args):
        raise RangeProblem("unbounded", f"{op} of a value without declared bounds (e.g. text read as a "
                                        "number, or a column of a joined table): its result could overflow")
    return checked(op, ARITHMETIC[op](*args))


def checked(op: str, interval: Interval) -> Interval:
    low, high = interval
    if not (math.isfinite(low) and math.isfinite(high)) or max(abs(low), abs(high)) > LIMIT:
        raise RangeProblem("out-of-range", f"{op} could reach {max(abs(low), abs(high)):.3g} within the "
                                           f"declared bounds of its inputs (the limit is {LIMIT:.3g}): "
                                           "scale the values down first")
    return interval


def _cast(to: str, arg: Interval | None) -> Interval | None:
    if to == "boolean":
        return BOOLEAN
    if to == "integer" and arg is not None:
        return (float(math.trunc(arg[0])), float(math.trunc(arg[1])))
    if to == "number":
        return arg
    return None


def _add(a: Interval, b: Interval) -> Interval:
    return (a[0] + b[0], a[1] + b[1])


def _sub(a: Interval, b: Interval) -> Interval:
    return (a[0] - b[1], a[1] - b[0])


def _mul(a: Interval, b: Interval) -> Interval:
    products = [x * y for x in a for y in b]
    return (min(products), max(products))


def _nonzero(b: Interval) -> Interval:
    if b[0] <= 0 <= b[1]:
        raise RangeProblem("division-by-zero", "the divisor's declared range includes 0: divide only by a value "
                                               "that cannot be zero (e.g. a constant, or a field bounded away from 0)")
    return b


def _div(a: Interval, b: Interval) -> Interval:
    low, high = _nonzero(b)
    return _mul(a, (1 / high, 1 / low))


def _floordiv(a: Interval, b: Interval) -> Interval:
    low, high = _div(a, b)
    return (float(math.floor(low)), float(math.floor(high)))


def _mod(a: Interval, b: Interval) -> Interval:
    low, high = _nonzero(b)
    # Python's modulo takes the divisor's sign and stays below its magnitude.
    return (min(0.0, low), max(0.0, high))


def _neg(a: Interval) -> Interval:
    return (-a[1], -a[0])


ARITHMETIC = {"add": _add, "sub": _sub, "mul": _mul, "div": _div, "floordiv": _floordiv, "mod": _mod, "neg": _neg}


def magnitude(interval: Interval | None) -> float:
    """The largest absolute value in the range: what one record can contribute to a sum."""
    if interval is None:
        return math.inf
    return max(abs(interval[0]), abs(interval[1]))
