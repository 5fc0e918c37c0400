"""Checking a new version against the data dictionary's `required` constraint.

Disclosure control reads from the dictionary, never from the records, whether a field may be
missing (decision 0028e): a mean of a `required` field divides by the cell's count. That is only
sound if no stored record lacks the value, so a version is checked once, at ingest, and refused
with where the first gap is — the publisher fixes the file or the descriptor. The refusal goes to
the publisher, who holds the records already; analysts never see it.

Must not: decide which fields are required (the catalog does), or change the file.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from portal.store.connection import cursor
from portal.store.sql import quote_identifier, quote_literal

# The file's own statistics first: the common case, no gaps, costs no scan of the records.
NULL_COUNTS = ("SELECT path_in_schema, sum(stats_null_count), bool_or(stats_null_count IS NULL) "
               "FROM parquet_metadata({path}) GROUP BY path_in_schema")
# The record's number is the file's own row number (`file_row_number`): `row_number() OVER ()`
# was a window over every row, kept in memory before counting, and followed the file's order
# only as long as DuckDB preserves insertion order.
GAPS = "SELECT {counts} FROM read_parquet({path}, file_row_number = true)"
GAP_COUNT = "count(*) FILTER (WHERE {col} IS NULL), min(file_row_number) FILTER (WHERE {col} IS NULL) + 1"


def gaps(path: Path, columns: Collection[str]) -> dict[str, tuple[int, int]]:
    """For each of `columns` with missing values: (how many, the first record's number, from 1
    in the file's order). Columns without gaps are left out."""
    with cursor() as cur:
        stats = {name: (nulls, unknown) for name, nulls, unknown in
                 cur.execute(NULL_COUNTS.format(path=quote_literal(str(path)))).fetchall()}
        names = sorted(c for c in columns if c not in stats or stats[c][1] or stats[c][0])
        if not names:
            return {}
        counts = ", ".join(GAP_COUNT.format(col=quote_identifier(name)) for name in names)
        found = cur.execute(GAPS.format(counts=counts, path=quote_literal(str(path)))).fetchone()
    return {name: (int(found[2 * i]), int(found[2 * i + 1])) for i, name in enumerate(names) if found[2 * i]}
