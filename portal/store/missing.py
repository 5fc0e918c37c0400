"""Which columns of a version file hold missing values, read from the file's own statistics.

Disclosure control must know whether a field may be missing before it looks at any set of
records: a mean's number of values present is then always a draw of its own, and the count
itself when the field is never missing. Decided on the set instead, "a draw of its own" would
itself say that the set held a missing value (docs/disclosure.md, decision 0027a). Parquet
keeps a null count per column chunk, so the answer costs the file's footer, not its rows; a
chunk without the statistic counts as missing. Version files are immutable: the answer is
cached per file.

Must not: read the rows, or decide what the answer means for disclosure (the broker does).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from portal.store.connection import cursor

MISSING = ("SELECT path_in_schema, bool_or(stats_null_count IS NULL OR stats_null_count > 0)"
           " FROM parquet_metadata(?) GROUP BY path_in_schema")
# A column "may be zero" unless its values, by the chunks' min and max, all lie on one side of 0;
# a chunk without the statistic, or a column that is not a number, may be.
ZERO = ("SELECT path_in_schema, bool_or(TRY_CAST(stats_min_value AS DOUBLE) IS NULL"
        " OR TRY_CAST(stats_max_value AS DOUBLE) IS NULL),"
        " min(TRY_CAST(stats_min_value AS DOUBLE)), max(TRY_CAST(stats_max_value AS DOUBLE))"
        " FROM parquet_metadata(?) GROUP BY path_in_schema")


def columns_with_missing(path: Path) -> frozenset[str]:
    """The top-level columns of the Parquet file `path` with at least one missing value."""
    stat = Path(path).stat()
    return _read(str(path), stat.st_mtime_ns, stat.st_size)


def columns_with_zero(path: Path) -> frozenset[str]:
    """The top-level columns of the Parquet file `path` whose values may be zero: all but the
    numbers whose smallest and largest values are both above 0, or both below. Whether a sum's
    records all contribute to it is decided on this and `columns_with_missing`, never on the set
    (decision 0027e)."""
    stat = Path(path).stat()
    return _read_zero(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _read_zero(path: str, _mtime: int, _size: int) -> frozenset[str]:
    cur = cursor()
    try:
        rows = cur.execute(ZERO, [path]).fetchall()
    finally:
        cur.close()
    return frozenset(name for name, unknown, low, high in rows
                     if unknown or low is None or high is None or low <= 0 <= high)


@lru_cache(maxsize=1024)
def _read(path: str, _mtime: int, _size: int) -> frozenset[str]:
    cur = cursor()
    try:
        rows = cur.execute(MISSING, [path]).fetchall()
    finally:
        cur.close()
    return frozenset(name for name, missing in rows if missing)
