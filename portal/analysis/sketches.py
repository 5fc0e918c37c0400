"""The records' sketch: an invertible Bloom lookup table of a cell's records, and its marks.

The store computes a cell's table in SQL while it counts the cell (`plan_sql.sketch_sql`); the
memory reads it back and compares tables here, in Python. So the formulas here (buckets, checks,
marks) mirror the SQL in `portal/store/plan_sql.py` and change with it: for the same record keys
the two must build the same table, or the memory compares tables the store never made.

A sketch answers, without the records (which never leave the store), how two cells' records
differ: by how many records when they are few (`difference_size`, peeling the difference of the
tables), at least how many from the first part alone (`lower_bound`, on the values the memory
stores for its window, `first_part`), how far apart by all three parts (`spread`, by which the
memory ranks), and by the marks, whether they hold nearly the same records whatever their sizes.
What follows from the answers, whether a set is answered like a remembered cell, is the
registry's (`differencing.py`): this module is arithmetic on tables and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PARTS, BUCKETS, SHIFT = 3, 20, 16
TABLE = 3 * PARTS * BUCKETS  # the flat IBLT's length in a store's values; its marks follow
MARKS = 4  # min-hashes per cell (`plan_sql.SKETCH_MARKS`)
PRIMES = (4294967291, 4294967279)
MASK = 2**64 - 1
# The low bits of each bucket's check that the memory stores for its search (a 32-bit column,
# `released_cells.check_*`): enough to see that two tables differ in a bucket whose counts agree.
CHECK_MASK = 2**31 - 1


@dataclass(frozen=True)
class Sketch:
    counts: tuple[int, ...]
    keys: tuple[int, ...]
    checks: tuple[int, ...]
    # The least of each min-hash over the records (`plan_sql.SKETCH_MARKS`); () for no records
    # or a cell remembered before marks existed. How the memory finds near cells whatever their
    # size (decision 0028m).
    marks: tuple[int, ...] = ()

    @classmethod
    def of(cls, keys: list[int], marks: tuple[int, ...] = ()) -> Sketch:
        """The table of a set of record keys, as the store computes it in SQL
        (`plan_sql.sketch_sql`): the reference the memory's tests and bench build cells with."""
        counts, xors, checks = [0] * (PARTS * BUCKETS), [0] * (PARTS * BUCKETS), [0] * (PARTS * BUCKETS)
        for key in keys:
            for i in buckets(key):
                counts[i] += 1
                xors[i] ^= key
                checks[i] ^= check(key)
        return cls(tuple(counts), tuple(xors), tuple(checks), marks)

    @classmethod
    def from_store(cls, values: tuple[int, ...]) -> Sketch:
        table, marks = values[:TABLE], values[TABLE:]
        return cls(tuple(table[0::3]), tuple(v & MASK for v in table[1::3]), tuple(v & MASK for v in table[2::3]),
                   tuple(int(m) for m in marks) if table[0::3][:BUCKETS] != (0,) * BUCKETS else ())

    def to_json(self) -> list[list[Any]]:
        return [list(self.counts), [str(k) for k in self.keys], [str(c) for c in self.checks],
                [str(m) for m in self.marks]]

    @classmethod
    def from_json(cls, data: list[list[Any]]) -> Sketch:
        return cls(tuple(int(v) for v in data[0]), tuple(int(v) for v in data[1]), tuple(int(v) for v in data[2]),
                   tuple(int(v) for v in data[3]) if len(data) > 3 else ())


def check(key: int) -> int:
    return (key % PRIMES[0]) * (key % PRIMES[1])


def buckets(key: int) -> list[int]:
    return [part * BUCKETS + (key >> (SHIFT * part)) % BUCKETS for part in range(PARTS)]


def _bucket_term(x: int, y: int, cx: int, cy: int) -> int:
    """One bucket's share of `lower_bound` and `spread`: the counts' difference, or 2 where the
    counts agree and the checks' low `CHECK_MASK` bits do not (a record added, one removed)."""
    return 2 if x == y and (cx ^ cy) & CHECK_MASK else abs(x - y)


def lower_bound(a: Sketch, b: Sketch) -> int:
    """A lower bound of |A Δ B| from the first part alone: per bucket the difference of the
    counts, or 2 where the counts agree and the checks (their low `CHECK_MASK` bits) do not —
    each record of the difference moves one of the part's buckets by one, and a bucket whose
    count is unchanged but whose check is holds a record added and one removed. Computed for
    every remembered cell in a set's range, by its stored `first_*` values (`first_part`), to
    take the memory's window (decisions 0030a, 0030g); counts alone, crowders built around
    `P | K` (less ten of the pad's records, ten others) cancelled in enough buckets to rank
    with the pad 9 % of the time at `d` = 9 known records, 26 % at 11 (thirty-second round)."""
    return sum(map(_bucket_term, a.counts[:BUCKETS], b.counts[:BUCKETS], a.checks[:BUCKETS], b.checks[:BUCKETS]))


def first_part(sketch: Sketch) -> tuple[int, ...]:
    """The first part's twenty buckets as the memory stores them for its window: each count
    times 2^32 plus its check's low 31 bits, so one indexed value holds both (`lower_bound`)."""
    return tuple((int(n) << 32) | (int(c) & CHECK_MASK)
                 for n, c in zip(sketch.counts[:BUCKETS], sketch.checks[:BUCKETS], strict=True))


def spread(a: Sketch, b: Sketch) -> int:
    """How far apart two cells' records are by their tables: per bucket of all three parts, the
    difference of the counts — or 2 where the counts agree but the checks (their low
    `CHECK_MASK` bits) do not, since a record added and one removed cancel in the count but not in
    the check — added up. At most 3 |A Δ B| (a bucket holds at least that many records of the
    difference), exactly 3 for one record (decision 0029a: the memory's search ranks by it).

    Records land in buckets by their keyed hash, which nobody outside the broker can compute. By
    the counts alone, a crowder 12 records from a set, four of them removed, eight added, had a
    spread under a remembered cell's 8 or 9 records away 5 to 14 % of the time, so 134 such
    crowders pushed that cell out of the search (twenty-second round, the ladder); with the
    checks, none in 2,000 (decision 0029u)."""
    return sum(map(_bucket_term, a.counts, b.counts, a.checks, b.checks))


def difference_size(a: Sketch, b: Sketch, limit: int) -> int | None:
    """|A Δ B| when it is at most `limit` and the tables decode, else None (a large difference)."""
    # Each record of A Δ B moves exactly one bucket of each part by one, so the first part's
    # count differences add up to at most |A Δ B|: a cheap, exact test that rules out most of
    # the (shared, so many) remembered cells before peeling.
    if lower_bound(a, b) > limit:
        return None
    counts = [x - y for x, y in zip(a.counts, b.counts, strict=True)]
    keys = [x ^ y for x, y in zip(a.keys, b.keys, strict=True)]
    checks = [x ^ y for x, y in zip(a.checks, b.checks, strict=True)]
    found = 0
    while found < limit:
        pure = next((i for i, n in enumerate(counts) if n in (1, -1) and check(keys[i]) == checks[i]), None)
        if pure is None:
            break
        key, sign = keys[pure], counts[pure]
        for i in buckets(key):
            counts[i] -= sign
            keys[i] ^= key
            checks[i] ^= check(key)
        found += 1
    if any(counts) or any(keys) or any(checks):
        return None
    return found
