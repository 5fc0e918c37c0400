"""Pages that are one run of ties of their sort key: read in file order, so DuckDB stops early.

A page is ordered by its sort keys, then `file_row_number` (deterministic pages and cursors,
`cursors.py`). With that tie-breaker DuckDB's top-N can only skip row groups whose values are
strictly worse than its current threshold; when the value at the threshold is in every row group
(a distance of 0.0, a count of 0, a category: common first values), it reads them all. Without
the tie-breaker it skips them, but which of the tied rows it returns is not defined.

When a page has one sort key and its `limit + 1` rows all share one value `v` of it, the page is
exactly "the rows with key = v after the cursor's row, in file order", and DuckDB answers that by
reading row groups in order and stopping once it has the rows (`SELECT_TIED`): ~5 ms instead of
~40 on the benchmark file's `passengers = 2 ORDER BY distance` (decision 0025b).

Whether a page is such a run is only known once its rows are read, and a try that finds too few
rows costs a query (~3 ms on that file even when every row group is skipped). So the store tries
only pages it has seen to be runs, remembered per file, filters, sort and limit (`_RUNS`; files
never change):
* a first page whose rows were all `v`: its rows are the first rows with key = v, in file order,
  for ever (this is what makes the try's answer right: `v` is the page's first value);
* a cursor page whose cursor value `v` ended a page made of `v` only: the rows after a cursor are
  the rows with key = v after its row number, then the rows beyond `v`; the try reads the first
  part, within `PROBE_GROUPS` row groups that may hold `v` (by their statistics), and answers only
  when it finds the whole page there. A try that falls short is remembered too, and not repeated.
The window and the memory decide only whether the try is made and how far it reads, never which
rows a page returns: the ordinary SELECT answers whenever the try does not.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence

import duckdb

from portal.store import cursors, sql
from portal.store.connection import cursor as db_cursor
from portal.store.queries import RowQuery
from portal.store.schema import Column, StoredTable, duckdb_type

PROBE_GROUPS = 2
RUNS_SIZE = 4096
BOUNDS_CACHE_SIZE = 1024
_FIRST = object()  # the memory's key of a first page (a cursor page's is its cursor value)

_RUNS: OrderedDict[tuple, object] = OrderedDict()
_runs_lock = threading.Lock()


def tied_rows(table: StoredTable, query: RowQuery, selected: Sequence[str],
              keys: Sequence[tuple[Column, bool]], conditions: list[str],
              params: list[object]) -> list[tuple] | None:
    """The page's rows (`selected`, then `file_row_number`), read in file order when the page is
    known to be one run of ties of its only sort key; None otherwise (run the ordinary SELECT)."""
    if len(keys) != 1 or query.offset:
        return None
    column, descending = keys[0]
    path, where = str(table.path), sql.where(conditions)
    if query.cursor:
        values, row_number = cursors.decode(keys, query.cursor)
        value = values[0]
        if _recall(path, where, params, keys, query.limit, value) is not True:
            return None
        end = _window_end(path, column, value, row_number)
    else:
        seen, row_number, end = _recall(path, where, params, keys, query.limit, _FIRST), -1, None
        if not isinstance(seen, tuple):  # never seen as a run, or a try fell short
            return None
        value = seen[0]
    quoted = sql.quote_identifier(column.name)
    parts, found_params = [], [*params]
    if value is None:
        parts.append(sql.KEY_IS_NULL.format(column=quoted))
    else:
        parts.append(sql.KEY_EQUAL.format(column=quoted))
        found_params.append(value)
    parts.append(sql.ROW_AFTER)
    found_params.append(row_number)
    if end is not None:
        parts.append(sql.ROW_BEFORE)
        found_params.append(end)
    statement = sql.SELECT_TIED.format(
        fields=", ".join([*selected, sql.ROW_NUMBER]), scan=sql.SCAN.format(path="?"),
        where=sql.where([*conditions, *parts]),
        limit=query.limit + 1)
    cur = db_cursor()
    try:
        found = cur.execute(statement, [path, *found_params]).fetchall()
    finally:
        cur.close()
    if len(found) > query.limit:
        return found
    _remember(path, where, params, keys, query.limit, value if query.cursor else _FIRST, False,
              replace=True)
    return None


def learn(table: StoredTable, query: RowQuery, keys: Sequence[tuple[Column, bool]],
          conditions: list[str], params: list[object], found: list[tuple], key_index: int) -> None:
    """Remember a page read by the ordinary SELECT if it was one run of ties, NULLs included
    (`found`: its rows, the sort key at `key_index`): its cursor page, and the page itself if it
    is a first page. A run of NaN is not remembered (NaN is no key of the memory)."""
    if len(keys) != 1 or query.offset or len(found) <= query.limit:
        return
    value = found[0][key_index]
    if any(row[key_index] != value for row in found) or value != value:  # noqa: PLR0124 (NaN)
        return
    path, where = str(table.path), sql.where(conditions)
    _remember(path, where, params, keys, query.limit, value, True)
    if not query.cursor:
        _remember(path, where, params, keys, query.limit, _FIRST, (value,))


def _recall(path, where, params, keys, limit, value) -> object:
    key = _key(path, where, params, keys, limit, value)
    with _runs_lock:
        return _RUNS.get(key)


def _remember(path, where, params, keys, limit, value, what: object, *, replace: bool = False) -> None:
    key = _key(path, where, params, keys, limit, value)
    with _runs_lock:
        if key in _RUNS and not replace:  # a try that fell short is not undone by ordinary pages
            return
        _RUNS[key] = what
        while len(_RUNS) > RUNS_SIZE:
            _RUNS.popitem(last=False)


def _key(path, where, params, keys, limit, value) -> tuple:
    column, descending = keys[0]
    return (path, where, tuple(params), column.name, descending, limit, value)


def _window_end(path: str, column: Column, value: object, row_number: int) -> int | None:
    """The row number a cursor page's try stops before: the end of the `PROBE_GROUPS`-th row
    group after `row_number` that may hold `value` (all the rest when fewer may)."""
    try:
        bounds = _bounds(path, column.name, column.type)
    except duckdb.Error:  # e.g. a confined connection that may not read the file's metadata
        bounds = ()
    end, seen, start = None, 0, 0
    for rows, low, high in bounds:
        start += rows
        if start <= row_number + 1 or not _may_hold(low, high, value):
            continue
        end, seen = start, seen + 1
        if seen == PROBE_GROUPS:
            break
    return end if end is not None else row_number + 1


def _may_hold(low: object, high: object, value: object) -> bool:
    """Whether a row group with these statistics may hold `value` (unknown statistics: yes)."""
    if value is None:
        return True
    try:
        return (low is None or low <= value) and (high is None or value <= high)
    except TypeError:  # a value of another kind than the statistics (naive vs aware times)
        return True


@functools.lru_cache(maxsize=BOUNDS_CACHE_SIZE)
def _bounds(path: str, name: str, kind: str) -> tuple[tuple[int, object, object], ...]:
    """Rows, min and max of each row group of one column, in file order (cached; an error is
    not)."""
    # Decimals compare as DOUBLE here: a bound a little off only moves where the try stops.
    type_name = "DOUBLE" if kind == "decimal" else duckdb_type(kind)
    statement = sql.ROW_GROUP_BOUNDS.format(type=type_name)
    cur = db_cursor()
    try:
        return tuple(cur.execute(statement, [path, name]).fetchall())
    finally:
        cur.close()
