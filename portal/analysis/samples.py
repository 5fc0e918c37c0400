"""Sample data (样本数据) of a conditional dataset: same schema, invented rows.

An analyst writes code offline against the sample, then runs the same code in the sandbox.
The sample is built only from *released* per-column distributions, each column drawn on its own:

- categories (text, booleans, integers with few values): released counts per value (values with
  fewer than `min_cell` records dropped, counts perturbed and rounded like any release);
- numbers (more than 40 values): a histogram of 20 equal-width bins between the rounded 2nd and
  98th percentiles of a released histogram on a fixed grid inside the declared bounds (never
  the records' own percentiles), weighted by released counts (listed on a perturbed threshold,
  perturbed and rounded), values drawn uniformly inside a bin and rounded like the column (so
  no real value is copied);
- dates: released counts per month, a uniform day inside the month;
- identifiers: made-up codes (`S000001`...).

Columns are independent, so no row is a real record, and no value of a sensitive field is one
observed in the data. The sample is deterministic for a version: seeded by its checksum under the
disclosure key (`secret_seed`). The checksum alone was public (the dataset page showed it until
decision 0028i), and with it anyone could replay the random draws and read the weights off the 1,000 rows, and the
months and bins were weighted by exact counts (sixth round, decision 0024c): now the seed is
secret and every weight is a released count, listed on a perturbed threshold.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import hmac
import math
import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

from portal import store
from portal.analysis.disclosure import (
    THRESHOLD_SIGMA,
    CellKeyNoise,
    Rules,
    listed,
    release_count,
    round_to_base,
)
from portal.analysis.keys import MissingKey, load_key

SAMPLE_ROWS = 1000
BINS = 20
CATEGORY_LEVELS = 40
# Distinct values read beyond the cut-off, so that the perturbed number of them (offsets of at
# most about 8 sigma of the threshold noise) is not capped below it.
DISTINCT_READ_MARGIN = 64
Draw = Callable[[random.Random], Any]


@dataclass(frozen=True)
class SampleColumn:
    name: str
    draw: Draw


def secret_seed(config: Mapping[str, Any], checksum: str) -> str:
    """The sample's seed: the version's checksum under the disclosure key's `sample` sub-key. An
    instance without a key yet (before `kaifang init`) gets a seed nobody knows, drawn afresh."""
    try:
        key = load_key(config)
    except MissingKey:
        return secrets.token_hex(32)
    return hmac.new(key.derive("sample"), checksum.encode(), hashlib.sha256).hexdigest()


def write_sample(table: store.StoredTable, dest: Path, *, identifiers: frozenset[str], seed: str,
                 rules: Rules | None = None, rows: int = SAMPLE_ROWS) -> Path:
    """Write `rows` invented rows as UTF-8 CSV to `dest` (atomically) and return it."""
    rules = rules or Rules()
    noise = CellKeyNoise(seed.encode())
    return write_rows([_column(table, c, identifiers, rules, noise) for c in table.columns], dest, seed=seed,
                      rows=rows)


def write_rows(columns: list[SampleColumn], dest: Path, *, seed: str, rows: int = SAMPLE_ROWS) -> Path:
    """`rows` rows of independent draws from `columns`, seeded by `seed`, as UTF-8 CSV at `dest`
    (written beside it and moved in: a reader never sees half a sample)."""
    rng = random.Random(seed)  # noqa: S311 - sampling, not security
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.name for c in columns])
        for _ in range(rows):
            writer.writerow([c.draw(rng) for c in columns])
    tmp.replace(dest)
    return dest


def _column(table: store.StoredTable, column: store.Column, identifiers: frozenset[str], rules: Rules,
            noise: CellKeyNoise) -> SampleColumn:
    if column.name in identifiers:
        return invented_codes(column.name)
    if column.type in ("date", "timestamp"):
        return SampleColumn(column.name, _months(table, column, rules, noise))
    if column.type in ("integer", "float", "decimal"):
        levels = _levels(table, column, rules, noise)
        if levels is not None:
            return SampleColumn(column.name, _choice(levels))
        return SampleColumn(column.name, _histogram(table, column, rules, noise))
    levels = _levels(table, column, rules, noise) or [(None, 1)]
    return SampleColumn(column.name, _choice(levels))


def invented_codes(name: str, width: int = 6) -> SampleColumn:
    """Made-up codes (`S000001`...) for an identifier: nothing read from the records."""
    return SampleColumn(name, lambda rng: f"S{rng.randrange(10**width):0{width}d}")


def _levels(table: store.StoredTable, column: store.Column, rules: Rules, noise: CellKeyNoise):
    """Released counts per value, or None when a number column has too many values to be a category.

    A number column is a category or a histogram by a perturbed number of distinct values. Both
    used to hang on the exact number (more than 2,000: a text column came out empty): one record
    with a new value flipped the whole column, so a sample told whoever knew the other records
    whether the target was there (fourteenth round, decision 0027g). Which values are kept when
    more than `CATEGORY_LEVELS * 50` are listed is decided on their released weights
    (`_most_frequent`). A number of more than `CATEGORY_LEVELS` values (perturbed) is a
    histogram: as a category, ages of 61 values of five records each came out as the one or two
    values that happened to be listed, every row the same age (decision 0029i)."""
    cap = CATEGORY_LEVELS * 50
    read = cap + DISTINCT_READ_MARGIN
    first = _read_levels(table, column, read)
    if column.type != "text":
        distinct = len(first) + noise.threshold_offset(_stable_key(column.name, "\x00distinct"), "distinct")
        if distinct > CATEGORY_LEVELS:
            return None
    kept = _most_frequent(table, column, first, read, cap, rules, noise)
    if column.type != "text" and len(kept) > CATEGORY_LEVELS:
        return None
    return kept or None


# A value with fewer records than this is never listed: its chance to pass the perturbed
# threshold was at most Φ((1 - 10 + ½) / 2) ≈ 1e-5 with the default rules, and reading every
# value of one record of a free-text column is a table's worth of work.
def _floor(rules: Rules) -> int:
    return max(1, rules.min_cell - math.ceil(4 * THRESHOLD_SIGMA))


def _most_frequent(table: store.StoredTable, column: store.Column, rows: list[tuple], read: int, cap: int,
                   rules: Rules, noise: CellKeyNoise) -> list[tuple[Any, int]]:
    """The `cap` listed values of largest *released* weight (ties in a keyed random order), with
    their weights. Listed like a month or a bin, on a perturbed threshold: kept on the exact
    count (n >= min_cell), a value of nine known records appeared in a small dataset's sample
    exactly when a target made it ten (tenth round, decision 0027b). And cut on released
    weights: the cut was the `cap` most frequent values by exact count, ties by the value, so a
    value of n known records tied at the cut was in the sample's values with the target (n + 1)
    and out without it, and the last value of the tie out and in: whether either was ever drawn
    into the 1,000 rows was one record's doing, a one-sided exact test (twenty-fourth round,
    decision 0029g). Values are read most frequent first until no value left unread could reach
    the cut's weight (its count plus the largest perturbation, rounded, and never below
    `min_cell`, as `release_count` gives it) or be listed at all;
    `rows` are the first `read` of them (fewer: the column has no more)."""
    base, most = rules.rounding_base, _largest_offset(rules.count_noise)
    limit = read
    while True:
        counts = {value: n for value, n in rows if value is not None and n >= _floor(rules)}
        released = _released(column.name, counts, rules, noise)
        released.sort(key=lambda pair: (-pair[1], noise.uniform(_stable_key(column.name, pair[0]), "cut")))
        chosen = released[:cap]
        if len(rows) < limit or not rows:
            return chosen
        last = rows[-1][1]
        # the largest weight an unread value could be released with: floored like any release
        best = max(rules.min_cell, round_to_base(last + most, base))
        if last < _floor(rules) or (len(chosen) == cap and best < chosen[-1][1]):
            return chosen
        limit *= 2
        rows = _read_levels(table, column, limit)


def _largest_offset(sigma: float) -> int:
    """The largest count perturbation `CellKeyNoise.count_offset` can draw at `sigma`."""
    return math.ceil(sigma * NormalDist().inv_cdf(1 - 1e-16)) + 1


def _read_levels(table: store.StoredTable, column: store.Column, limit: int) -> list[tuple]:
    """At most `limit` (value, records) pairs, most frequent first (ties by value)."""
    query = store.AggregateQuery(group_by=(column.name,), measures=(store.Measure("count"),),
                                 sort=(store.Sort("count", descending=True), store.Sort(column.name)),
                                 limit=limit)
    return [tuple(row) for row in store.aggregate(table, query).rows]


def _stable_key(column: str, value: Any) -> int:
    """A per-value key that is the same in every process (Python's hash() is salted per process)."""
    return int(hashlib.sha256(f"{column}\x00{value}".encode()).hexdigest()[:15], 16)


def _choice(levels: list[tuple[Any, int]]) -> Draw:
    values = [_plain(v) for v, _ in levels]
    weights = [n for _, n in levels]
    return lambda rng: rng.choices(values, weights)[0]


def _histogram(table: store.StoredTable, column: store.Column, rules: Rules, noise: CellKeyNoise) -> Draw:
    """Twenty equal bins between the 2nd and 98th percentiles (rounded to two figures) of a
    *released* histogram over a fixed grid inside the field's declared bounds, each bin weighted
    by its released count. The edges were the percentiles of the records themselves: one record
    at the top moved the 98th percentile of 3,001 incomes from 78,780 to 90,000, so the top edge
    from 79,000 to 90,000, and incomes above 79,000 were in every sample with the target and in
    none without it (twenty-fifth round, decision 0029i). Now they hang on records only through
    perturbed, rounded counts, like every weight."""
    bottom, top = _bounds(table, column)
    integer = column.type == "integer"
    grid = _grid(bottom, top, integer)
    coarse = dict(_released(f"{column.name}\x00grid", _counts(table, column, grid), rules, noise))
    low, high = _edges(grid, coarse, bottom, top)
    width = (high - low) / BINS
    edges = [low + i * width for i in range(BINS + 1)]
    if integer:
        edges = [math.ceil(e) for e in edges]
    bins = _released(column.name, _counts(table, column, edges), rules, noise) or [(BINS // 2, 1)]

    def draw(rng: random.Random) -> Any:
        index = rng.choices([i for i, _ in bins], [n for _, n in bins])[0]
        value = low + (index + rng.random()) * width
        return int(round(value)) if integer else round(value, 2)

    return draw


# Declared bounds are public and every numeric field of conditional data has them (the catalog
# refuses one without); a table handed in without them (a test, a caller of the module) gets a
# public range wide enough for any count or amount, the 1-2-5 steps finding the values in it.
FALLBACK_BOUNDS = (-1e12, 1e12)
GRID_STEPS = 50
SMALLEST_FLOAT_STEP = 1e-3


def _bounds(table: store.StoredTable, column: store.Column) -> tuple[float, float]:
    for name, low, high in table.bounds:
        if name == column.name:
            return float(low), float(high)
    return FALLBACK_BOUNDS


def _grid(bottom: float, top: float, integer: bool) -> list[float]:
    """Fixed edges inside [bottom, top], public metadata only: `GRID_STEPS` equal steps, and
    steps of 1, 2 and 5 times a power of ten from each bound and from zero, so that a field
    declared 0..3,000,000 whose values are mostly under 10,000 still finds them. A range of
    one value (`minimum == maximum`) is one bin of no width: every value drawn is that value."""
    span = top - bottom
    if span <= 0:
        return [bottom, bottom]
    edges = {bottom + span * i / GRID_STEPS for i in range(GRID_STEPS)} | {bottom, top}
    smallest = 1.0 if integer else SMALLEST_FLOAT_STEP
    for power in range(math.floor(math.log10(smallest)), math.ceil(math.log10(span)) + 1):
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0 ** power
            if step >= smallest:
                edges |= {bottom + step, top - step, step, -step}
    return sorted(e for e in edges if bottom <= e <= top)


def _edges(grid: list[float], weights: dict[int, int], bottom: float, top: float) -> tuple[float, float]:
    """The 2nd and 98th percentiles of the released grid histogram (linear inside a bin), rounded
    to two figures and kept inside the bounds; the bounds when nothing was listed."""
    if not weights:
        return bottom, top
    low = min(max(_round2(_percentile(grid, weights, 0.02)), bottom), top)
    high = min(max(_round2(_percentile(grid, weights, 0.98)), bottom), top)
    if high <= low:
        fullest = max(weights, key=lambda i: (weights[i], -i))
        low, high = grid[fullest], grid[fullest + 1]
    return low, high


def _percentile(grid: list[float], weights: dict[int, int], q: float) -> float:
    wanted, seen = q * sum(weights.values()), 0
    for index in sorted(weights):
        if seen + weights[index] >= wanted:
            return grid[index] + (wanted - seen) / weights[index] * (grid[index + 1] - grid[index])
        seen += weights[index]
    return grid[max(weights) + 1]


def _counts(table: store.StoredTable, column: store.Column, edges: list[float]) -> dict[int, int]:
    """Records per bin [edges[i], edges[i + 1]) (the last closed), in one scan."""
    return dict(enumerate(store.bin_counts(table, column.name, edges)))


def _months(table: store.StoredTable, column: store.Column, rules: Rules, noise: CellKeyNoise) -> Draw:
    """Released counts per month, weighted in calendar order: in the order the store's GROUP BY
    listed them, a hash table's, the same weights could draw other months (decision 0029i)."""
    months: dict[tuple[int, int], int] = {}
    for value, n in _levels_raw(table, column):
        if value is not None:
            key = (value.year, value.month)
            months[key] = months.get(key, 0) + n
    kept = sorted(_released(column.name, months, rules, noise)) or [((2000, 1), 1)]
    timestamp = column.type == "timestamp"

    def draw(rng: random.Random) -> str:
        (year, month), = rng.choices([k for k, _ in kept], [n for _, n in kept])
        day = rng.randint(1, calendar.monthrange(year, month)[1])
        if timestamp:
            return datetime(year, month, day, rng.randrange(24), rng.randrange(60)).isoformat(sep=" ")
        return date(year, month, day).isoformat()

    return draw


def _released(name: str, counts: dict[Any, int], rules: Rules, noise: CellKeyNoise) -> list[tuple[Any, int]]:
    """Weights as released counts: listed on a perturbed threshold, perturbed and rounded."""
    keyed = [(value, n, _stable_key(name, value)) for value, n in counts.items()]
    return [(value, release_count(n, key, name, rules, noise)) for value, n, key in keyed
            if listed(n, key, rules, noise)]


def _levels_raw(table: store.StoredTable, column: store.Column):
    result = store.aggregate(table, store.AggregateQuery(group_by=(column.name,), measures=(store.Measure("count"),)))
    return result.rows


def _round2(value: float) -> float:
    return float(f"{value:.2g}")


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
