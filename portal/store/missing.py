"""Which columns of a version file may hold missing values or zeros, read from its own statistics.

Disclosure control must know these before it looks at any set of records. A mean's number of
values present is the count when the field is never missing, else always a draw of its own
(decision 0027a); whether a sum's records all contribute is decided the same way, on whether the
field may be missing or zero (decision 0027e). Decided on the set instead, "a draw of its own"
would itself say that the set held such a record. Parquet keeps a null count and a min and max
per column chunk, so the answers cost the file's footer, not its rows; a chunk without the
statistics counts as "may be". Version files are immutable: the answers are cached per file.

Must not: read the rows, or decide what the answers mean for disclosure (the broker does).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from portal.store.connection import cursor

# Per column: any chunk with a null (or no null count); any chunk without a numeric min or max;
# the smallest min and the largest max. A column "may be zero" unless its values, by those, all
# lie on one side of 0 (a column that is not a number may be).
FOOTER = ("SELECT path_in_schema, bool_or(stats_null_count IS NULL OR stats_null_count > 0),"
          " bool_or(TRY_CAST(stats_min_value AS DOUBLE) IS NULL OR TRY_CAST(stats_max_value AS DOUBLE) IS NULL),"
          " min(TRY_CAST(stats_min_value AS DOUBLE)), max(TRY_CAST(stats_max_value AS DOUBLE))"
          " FROM parquet_metadata(?) GROUP BY path_in_schema")


def columns_with_missing(path: Path) -> frozenset[str]:
    """The top-level columns of the Parquet file `path` with at least one missing value."""
    return _footer(path)[0]


def columns_with_zero(path: Path) -> frozenset[str]:
    """The top-level columns of the Parquet file `path` whose values may be zero: all but the
    numbers whose smallest and largest values are both above 0, or both below."""
    return _footer(path)[1]


def _footer(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    stat = Path(path).stat()
    return _read(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _read(path: str, _mtime: int, _size: int) -> tuple[frozenset[str], frozenset[str]]:
    cur = cursor()
    try:
        rows = cur.execute(FOOTER, [path]).fetchall()
    finally:
        cur.close()
    missing = frozenset(name for name, nulls, _, _, _ in rows if nulls)
    zero = frozenset(name for name, _, unknown, low, high in rows
                     if unknown or low is None or high is None or low <= 0 <= high)
    return missing, zero
