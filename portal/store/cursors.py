"""Keyset pagination: opaque cursors and the predicate for "rows after this one".

The order of every page is the requested sort keys, then DuckDB's `file_row_number`, which is
unique and stable within an immutable file, so ties never repeat or skip rows. NULLs sort last in
both directions, so "after" a non-NULL key means "beyond it, or NULL", and nothing follows a NULL
key on that column except equal NULLs (decided by the next key).

A cursor is base64url JSON `[signature, [keys...], row_number]`; the signature is a hash of the
sort spec, so a cursor cannot be replayed under another sort. Key values are re-coerced to the
column types when decoded, so a forged cursor is just another bad value.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal

from portal.store import sql
from portal.store.errors import QueryError
from portal.store.schema import Column
from portal.store.values import coerce


def signature(keys: Sequence[tuple[Column, bool]]) -> str:
    """A short hash of the sort spec: column names and directions."""
    spec = json.dumps([[column.name, descending] for column, descending in keys])
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def encode(keys: Sequence[tuple[Column, bool]], values: Sequence[object], row_number: int) -> str:
    """The cursor pointing just after a row with these sort `values` and `row_number`."""
    payload = [signature(keys), [_plain(v) for v in values], row_number]
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(keys: Sequence[tuple[Column, bool]], cursor: str) -> tuple[list[object], int]:
    """The sort values and row number a cursor points after.

    Raises:
        QueryError: `invalid-cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sig, values, row_number = json.loads(raw)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise QueryError("invalid-cursor", "the cursor is not valid", field="cursor") from exc
    if sig != signature(keys) or not isinstance(values, list) or len(values) != len(keys):
        raise QueryError("invalid-cursor", "the cursor belongs to another sort", field="cursor")
    if not isinstance(row_number, int) or isinstance(row_number, bool):
        raise QueryError("invalid-cursor", "the cursor is not valid", field="cursor")
    try:
        typed = [coerce(v, column) for v, (column, _) in zip(values, keys, strict=True)]
    except QueryError as exc:
        raise QueryError("invalid-cursor", "the cursor is not valid", field="cursor") from exc
    return typed, row_number


def after(
    keys: Sequence[tuple[Column, bool]], values: Sequence[object], row_number: int
) -> tuple[str, list[object]]:
    """SQL (with `?`) selecting the rows that sort strictly after the cursor's row."""
    terms, params = [], []
    for i in range(len(keys) + 1):
        eq_sql, eq_params = _equal_prefix(keys[:i], values[:i])
        if i < len(keys):
            column, descending = keys[i]
            if values[i] is None:
                continue  # NULLs are last: nothing is strictly after NULL on this key
            quoted = sql.quote_identifier(column.name)
            step, step_params = sql.KEY_AFTER[descending].format(column=quoted), [values[i]]
        else:
            step, step_params = sql.ROW_AFTER, [row_number]
        terms.append(sql.conjunction([*eq_sql, step]))
        params.extend([*eq_params, *step_params])
    return sql.disjunction(terms), params


def _equal_prefix(keys, values) -> tuple[list[str], list[object]]:
    parts, params = [], []
    for (column, _), value in zip(keys, values, strict=True):
        quoted = sql.quote_identifier(column.name)
        if value is None:
            parts.append(sql.KEY_IS_NULL.format(column=quoted))
        else:
            parts.append(sql.KEY_EQUAL.format(column=quoted))
            params.append(value)
    return parts, params


def _plain(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
