"""The differencing sketch as the store computed it from decision 0030b until 0031c: the
reference that the faster statement of `plan_sql.sketch_sql` must equal bit for bit (the sketches
are stored in the differencing memory and compared with later ones). Used by
`test_store_sketch_equivalence.py` and `bench/sketch.py`; not by the store."""

from __future__ import annotations

from portal.store.plan_cells import EMPTY_SKETCH
from portal.store.plan_sql import (
    SKETCH_BUCKETS,
    SKETCH_CHECK,
    SKETCH_MARK_MASK,
    SKETCH_MARKS,
    SKETCH_PARTS,
    SKETCH_SHIFT,
)


def sketch_sql(source: str, record_key: str, keys: list[str]) -> str:
    """0030b's tail: one grouped pass per partition over the records read once, the marks (128-bit
    products, signed) per bucket of the first partition, NULL in the others."""
    check = SKETCH_CHECK.format(k="_k")
    names = "".join(f"{k}, " for k in keys)
    marks = "".join(f", min((CAST(_k AS HUGEINT) * {m}) & {SKETCH_MARK_MASK})" for m in SKETCH_MARKS)
    no_marks = ", NULL" * len(SKETCH_MARKS)
    parts = [f"SELECT {names}{part * SKETCH_BUCKETS} + (_k >> {SKETCH_SHIFT * part}) % {SKETCH_BUCKETS} AS _b, "  # noqa: S608
             f"count(*), bit_xor(_k), bit_xor({check}){marks if part == 0 else no_marks} "
             f"FROM _sketched GROUP BY {names}_b"
             for part in range(SKETCH_PARTS)]
    return (f"_sketched AS MATERIALIZED (SELECT {names}{record_key} AS _k FROM {source}) "  # noqa: S608
            + " UNION ALL ".join(parts))


def fold_sketches(rows: list[tuple], width: int) -> dict[tuple, tuple[int, ...]]:
    """0030b's fold: per group, the flat IBLT and the least of the first partition's marks."""
    tables: dict[tuple, list[int]] = {}
    marks: dict[tuple, list[int]] = {}
    for row in rows:
        group, (bucket, count, keys_xor, checks_xor, *least) = tuple(row[:width]), row[width:]
        flat = tables.setdefault(group, list(EMPTY_SKETCH))
        flat[3 * bucket:3 * bucket + 3] = [int(count), int(keys_xor or 0), int(checks_xor or 0)]
        if least[0] is not None:
            found = marks.setdefault(group, [int(v) for v in least])
            found[:] = [min(a, int(b)) for a, b in zip(found, least, strict=True)]
    return {group: (*flat, *marks[group]) for group, flat in tables.items()}
