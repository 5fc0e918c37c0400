"""The disclosure statistics of a plan's cells as the broker gets them, read from the rows of
the statement `plans` ran: records, key, contributors per aggregation, and the cell's sketch
(an IBLT of its records' keys and min-hash marks, `plan_sql.sketch_sql`) that the differencing
memory compares. Apart from the plan compiler (`plans`): this is what a cell's row means, not
how the statement is built."""

from __future__ import annotations

from dataclasses import dataclass

from portal.store.plan_sql import SKETCH_BUCKETS, SKETCH_MARK_ROW, SKETCH_PARTS, CellColumns


@dataclass(frozen=True)
class CellStats:
    """Disclosure statistics of one aggregated output row (a cell), for the broker.

    `records` is the number of source rows in the cell; `key` an unsigned 64-bit value that
    depends only on the set of those records; per aggregation, `contributors` counts the
    non-null inputs (rows, for count).
    """

    records: int
    key: int
    contributors: tuple[int, ...]
    sketch: tuple[int, ...] = ()  # the cell's IBLT, see plan_sql.sketch_sql
    present: tuple[int, ...] = ()  # per aggregation: non-null inputs (sums and means; else records)


EMPTY_SKETCH = (0,) * (3 * SKETCH_PARTS * SKETCH_BUCKETS)


def cell_stats(values: tuple, stats: CellColumns) -> CellStats:
    """One aggregated row's statistics, from its hidden columns in `CellColumns.idents()` order."""
    n = len(stats.contributors)
    records = int(values[0])
    contributors = tuple(int(v) for v in values[2:2 + n])
    found = iter(values[2 + n:])
    present = tuple(int(next(found)) if ident else records for ident in stats.present)
    return CellStats(records, int(values[1] or 0), contributors, present=present)


_NAN = float("nan")


def group_key(values) -> tuple:
    """A group's values as a key of the sketches' dict: every NaN as one object. NaN is unequal
    to itself, so a group keyed by a NaN (a float column holding `nan`, or `inf - inf`) was found
    neither by the fold nor by the cell's lookup: a `KeyError`, a broker error where a filter had
    let such a row in, and an answer where it had not."""
    return tuple(_NAN if isinstance(v, float) and v != v else v for v in values)


def fold_sketches(rows: list[tuple], width: int) -> dict[tuple, tuple[int, ...]]:
    """Per group (its first `width` values) that has records, the flat IBLT of its records
    followed by its marks (the least of each min-hash over its records, `plan_sql.SKETCH_MARKS`),
    from the rows of `sketch_sql`: one per group and bucket with records, one per group holding
    its marks (bucket `SKETCH_MARK_ROW`; for no group and no records, a row of NULLs, skipped)."""
    tables: dict[tuple, list[int]] = {}
    marks: dict[tuple, tuple[int, ...]] = {}
    for row in rows:
        group, (bucket, count, keys_xor, checks_xor, *least) = group_key(row[:width]), row[width:]
        if bucket == SKETCH_MARK_ROW:
            marks[group] = tuple(int(v or 0) for v in least)
            continue
        flat = tables.setdefault(group, list(EMPTY_SKETCH))
        flat[3 * bucket:3 * bucket + 3] = [int(count), int(keys_xor or 0), int(checks_xor or 0)]
    return {group: (*flat, *marks[group]) for group, flat in tables.items()}
