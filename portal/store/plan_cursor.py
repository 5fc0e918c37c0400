"""The cursor every plan statement runs on (`plans`): DuckDB's own errors turned into the store's
`QueryError`s, whose messages go back to analyst code and so never quote a data value."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from portal.store.connection import cursor as db_cursor
from portal.store.errors import QueryError

# DuckDB's messages can quote data values (a failed conversion names the value), and these
# errors go back to analyst code: keep the message generic, the original as the cause for logs.
_FAILURES = (
    (duckdb.BinderException, "bad-type",
     "an operation was applied to a column type that does not support it"),
    (duckdb.ConversionException, "bad-type",
     "a value could not be converted to the type an operation needs (e.g. text read as a date)"),
    (duckdb.OutOfRangeException, "out-of-range", "a computed value is out of range (overflow)"),
    (duckdb.InvalidInputException, "bad-value", "an operation got a value it cannot handle"),
)


@contextmanager
def query_cursor() -> Iterator[duckdb.DuckDBPyConnection]:
    cur = db_cursor()
    try:
        yield cur
    except duckdb.Error as exc:
        for kind_, code, message in _FAILURES:
            if isinstance(exc, kind_):
                error = QueryError(code, message)
                error.while_running = not isinstance(exc, duckdb.BinderException)
                raise error from exc
        raise
    finally:
        cur.close()
