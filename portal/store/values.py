"""Coercing user-supplied filter values and cursor keys to a column's type before binding.

Values arrive as JSON or query-string text; DuckDB would cast them implicitly, but a wrong value
then surfaces as an engine error (or silently compares as text). Coercing here gives a clear
`invalid-value` QueryError that names the field, and binds a value of the right Python type.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation

from portal.store.errors import QueryError
from portal.store.schema import Column

_INTEGER = re.compile(r"[+-]?[0-9]+")
_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}
_INT64 = 2**63


def coerce(value: object, column: Column) -> object:
    """`value` as a Python value of `column.type`.

    Raises:
        QueryError: `invalid-value` naming the column, when the value does not fit.
    """
    if value is None:
        return None
    try:
        return _COERCERS[column.type](value)
    except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
        raise QueryError(
            "invalid-value",
            f"{value!r} is not a valid {column.type} for column {column.name!r}",
            field=column.name,
        ) from exc


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int) or not -_INT64 <= value < _INT64:
        raise ValueError("not an integer")
    return value


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TypeError("not a number")
    result = float(value)
    if math.isnan(result):
        raise ValueError("NaN is not comparable")
    return result


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TypeError("not a number")
    result = Decimal(str(value).strip())
    if not result.is_finite():
        raise ValueError("not finite")
    return result


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean")


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        raise TypeError("a timestamp is not a date")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip())
    raise TypeError("not a date")


def _timestamp(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0))
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.strip())
    raise TypeError("not a timestamp")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError("not text")
    return str(value)


_COERCERS = {
    "integer": _integer,
    "float": _float,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
    "text": _text,
    "geometry": _text,
}
