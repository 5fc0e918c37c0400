"""The filtered total of a page, cached per version file and filter set.

A version's file never changes (a new version is a new file), so the count for the same
conditions is the same forever. On an unclustered 10 M-row file the `count(*)` alone costs about
as much as a whole page on a clustered one; the row pages (`rows.py`) and the encoded pages of
the API (`pages.py`) ask for the same totals again and again as people page through.
"""

from __future__ import annotations

import functools

from portal.store import sql
from portal.store.connection import cursor as db_cursor
from portal.store.schema import StoredTable

COUNT_CACHE_SIZE = 4096


def count_rows(table: StoredTable, conditions: list[str], params: list[object],
               scan: tuple[str, str] | None = None) -> int:
    """The number of rows of `table` meeting `conditions` (cached: the file is immutable).
    `scan` is where to read them, a FROM clause with one parameter and its path (default: the
    file; an ordered copy of it, `projections.py`, holds the same rows)."""
    return _count(str(table.path), sql.where(conditions), tuple(params), scan)


@functools.lru_cache(maxsize=COUNT_CACHE_SIZE)
def _count(path: str, where: str, params: tuple[object, ...], scan: tuple[str, str] | None = None) -> int:
    clause, read = scan or (sql.SCAN.format(path="?"), path)
    statement = sql.SELECT_COUNT.format(scan=clause, where=where)
    cur = db_cursor()
    try:
        return cur.execute(statement, [read, *params]).fetchone()[0]
    finally:
        cur.close()
