"""Sample data (样本数据) of a dataset in the ε-budget mode: every weight is a differentially
private count for one *person* (decision 0031a).

The statistical-mode sample (`samples.py`) weights its values, months and bins by released
counts calibrated for one record. A dataset in the ε-budget mode promises more: a person (all
records of one value of its `person` field, at most `records_per_person` of them in any query)
moves what leaves by little. A patient of forty visits moved a rare level's count by forty, so
whether that level was drawn into the sample, and how often, said whether the patient was there.

Here every column that reads the records is one query of the ε mode, answered by its mechanism:

- which cells exist is public metadata only: a category's declared (or implied) levels, every
  one of them whatever the data; a number's fixed grid inside its declared bounds (narrowed by
  `dp_bounds`; values beyond them fall in the edge bins), the grid `samples._grid` draws from the
  bounds alone; a date's months of the declared temporal coverage (without one, the twelve
  months of the year the version is loaded);
- each cell's records are read through the store with each person's records capped at
  `records_per_person` after the column's own filter, records without a person left out
  (decisions 0030t, 0030y) — `private_cells.read_cells`, the ε path's reader;
- each count is released by `privacy.release_count` at the column's ε with that cap: a person's
  at most `cap` records fall in disjoint cells of one column, so the column costs its ε (the
  per-person parallel composition of 0030t), and the columns together cost the sample's ε;
- the weights are post-processing of the released counts alone: a level weighs its noisy count
  (negative ones nothing); a bin or month weighs its noisy count when it is above its own 95 %
  margin, else nothing (most of a fine grid is empty, and noise alone would spread values over
  it); a column left with no weight is uniform over its levels, bounds or months.

The ε is `SAMPLE_EPSILON`, split evenly between the columns that read records, spent once per
version: the sample is written when the version is published and kept (a re-download is the same
file; a fresh draw per download could be averaged). It is recorded on the version
(`versions.sample_epsilon`); all versions' samples together spend at most
`SAMPLE_LIFETIME_EPSILON`. A version whose sample would pass that bound, or a portal that sets
`SAMPLE_EPSILON` to 0, gets a sample drawn from the data dictionary alone (ε 0): declared levels
uniform, numbers uniform inside their bounds, dates uniform over the coverage. Identifiers, the
person field and text fields without declared levels are invented codes. The rows are drawn with
the version's secret seed, as the statistical sample's.

The same released counts give the catalog its figure of the version's size (decision 0031f): the
sum of one column's cell counts estimates the capped total (each person's records counted at most
`records_per_person` times), post-processing at no further ε. The column is the one whose sum has
the least noise, the fewest cells, all at the same ε: a public choice (`approximate_records`).
"""

from __future__ import annotations

import calendar
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from portal import store
from portal.analysis import privacy
from portal.analysis.keys import MissingKey, load_key
from portal.analysis.private_cells import Cell, level_value, read_cells
from portal.analysis.private_queries import capped_table, implied_levels
from portal.analysis.samples import (
    FALLBACK_BOUNDS,
    SAMPLE_ROWS,
    SampleColumn,
    _grid,
    invented_codes,
    secret_seed,
    write_rows,
    write_sample,
)
from portal.catalog.disclosure_settings import PrivacySettings, Rules
from portal.catalog.staging import Target, Written

NUMBERS = frozenset({"integer", "float", "decimal"})
DATES = frozenset({"date", "timestamp"})
MAX_MONTHS = 240  # a coverage longer than twenty years is drawn over its last twenty
SLACK = 1e-9  # ε sums are rounded floats


@dataclass(frozen=True)
class PrivateSample:
    """What a private sample is drawn from: public metadata, the person cap, and the ε."""

    slug: str
    identifiers: frozenset[str]
    levels: Mapping[str, tuple[str, ...]]  # declared and implied (`implied_levels`)
    bounds: Mapping[str, tuple[float, float]]  # a histogram's range: declared, narrowed by dp_bounds
    months: tuple[int, ...]  # year * 12 + month - 1, in calendar order
    person: str | None = None
    records_per_person: int = 1
    salt: int = 0  # the dataset's secret record-key salt: which of a person's records are kept
    epsilon: float = 0.0  # the whole sample's; 0: from the data dictionary alone

    def capped(self, table: store.StoredTable) -> store.StoredTable:
        return capped_table(table, self.person, self.records_per_person, self.salt)


def sample_epsilon(per_version: float, lifetime: float, spent_before: float) -> float:
    """The ε this version's sample spends: `per_version`, or 0 when it would pass `lifetime`."""
    if per_version <= 0 or spent_before + per_version > lifetime + SLACK:
        return 0.0
    return per_version


def write_version_sample(config: Mapping[str, Any], table: store.StoredTable, dest: Path, *, target: Target,
                         seed: str, rules: Rules) -> Written:
    """The sample of a new version, in the dataset's declared mode: the statistical sample, or
    this module's for the ε-budget mode with the ε the sample's ledger still allows. `seed` is
    the version's checksum (made secret here)."""
    secret = secret_seed(config, seed)
    declared = PrivacySettings.resolve(target.disclosure)
    if declared.mode != "dp":
        return Written(write_sample(table, dest, identifiers=target.identifiers, seed=secret, rules=rules))
    epsilon = sample_epsilon(float(config["SAMPLE_EPSILON"]), float(config["SAMPLE_LIFETIME_EPSILON"]),
                             target.sample_spent)
    spec = PrivateSample(
        target.slug, target.identifiers, implied_levels(table.columns, target.bounds, target.levels),
        declared.effective_bounds(target.bounds), coverage_months(*target.coverage), declared.person,
        declared.records_per_person, _salt(config, target.slug), epsilon)
    released: dict[str, list[privacy.Noisy]] = {}
    path = write_private_sample(table, dest, spec, seed=secret, released=released)
    return Written(path, epsilon, approximate_records(released))


def write_private_sample(table: store.StoredTable, dest: Path, spec: PrivateSample, *, seed: str,
                         rows: int = SAMPLE_ROWS, released: dict[str, list[privacy.Noisy]] | None = None) -> Path:
    """Write the sample of `table` under `spec` to `dest`; `spec.epsilon` split over the columns
    that read records. `released`, when given, receives each reading column's released cell
    counts (nothing when the sample spends no ε)."""
    kinds = {c.name: _kind(c, spec) for c in table.columns}
    reading = sum(1 for kind in kinds.values() if kind != "codes")
    epsilon = spec.epsilon / reading if reading and spec.epsilon > 0 else 0.0
    out = released if released is not None else {}
    columns = [_column(table, c, kinds[c.name], spec, epsilon, out) for c in table.columns]
    return write_rows(columns, dest, seed=seed, rows=rows)


def approximate_records(released: Mapping[str, list[privacy.Noisy]]) -> int | None:
    """The version's size as the catalog shows it in the ε mode (decision 0031f): the sum of the
    released counts of the column with the fewest cells (all columns have the same ε and cap, so
    the least noise; ties by column order), rounded to the power of ten at or below its 95 %
    margin, never below 0. It estimates the records with a value in that column, each person's
    counted at most `records_per_person` times. None when nothing was released (a sample of the
    dictionary alone). Post-processing of released counts: no ε of its own."""
    counted = [counts for counts in released.values() if counts]
    if not counted:
        return None
    cells = min(counted, key=len)
    total = sum(n.value for n in cells)
    # each cell's discrete Laplace noise has variance about 2·scale²; the cells' are independent
    margin = 1.96 * math.sqrt(sum(2 * n.scale ** 2 for n in cells))
    return rounded_records(total, margin)


def rounded_records(total: float, margin: float) -> int:
    """`total` to the power of ten at or below `margin` (at least 10), never below 0: the figure
    shows no digit finer than its noise."""
    step = 10 ** max(1, math.floor(math.log10(margin))) if margin > 0 else 10
    return max(0, int(round(total / step)) * step)


def coverage_months(start: date | None, end: date | None, *, today: date | None = None) -> tuple[int, ...]:
    """The months of the declared temporal coverage (public metadata); one end alone gives twelve
    months from it, none the twelve of this year (UTC)."""
    if start is None and end is None:
        year = (today or datetime.now(UTC).date()).year
        return tuple(year * 12 + m for m in range(12))
    first = _month(start) if start is not None else _month(end) - 11
    last = _month(end) if end is not None else first + 11
    first = max(first, last - MAX_MONTHS + 1)
    return tuple(range(first, last + 1))


def _month(day: date) -> int:
    return day.year * 12 + day.month - 1


def _salt(config: Mapping[str, Any], slug: str) -> int:
    """The record-key salt the ε path caps persons with; a portal without a key yet gets one
    nobody knows (the choice of a person's records stays a function of their records alone)."""
    try:
        return load_key(config).row_salt(slug)
    except MissingKey:
        return secrets.randbits(56)


def _kind(column: store.Column, spec: PrivateSample) -> str:
    if column.name in spec.identifiers or column.name == spec.person:
        return "codes"
    if spec.levels.get(column.name):
        return "levels"
    if column.type in NUMBERS:
        return "histogram"
    if column.type in DATES:
        return "months"
    return "codes"  # text without declared levels: nothing data-independent to list


def _column(table: store.StoredTable, column: store.Column, kind: str, spec: PrivateSample,
            epsilon: float, released: dict[str, list[privacy.Noisy]]) -> SampleColumn:
    if kind == "codes":
        return invented_codes(column.name)
    if kind == "levels":
        return _levels(table, column, spec, epsilon, released)
    if kind == "histogram":
        return _histogram(table, column, spec, epsilon, released)
    return _months(table, column, spec, epsilon, released)


def _levels(table: store.StoredTable, column: store.Column, spec: PrivateSample, epsilon: float,
            released_by: dict[str, list[privacy.Noisy]] | None = None) -> SampleColumn:
    levels = spec.levels[column.name]
    released = _record(released_by, column.name, _released(table, spec, [], column.name, column.type, levels, epsilon))
    weights = [max(0, n.value) for n in released] if released else []
    values = [level_value(level, column.type) for level in levels]
    return SampleColumn(column.name, _choice(values, weights))


def _histogram(table: store.StoredTable, column: store.Column, spec: PrivateSample, epsilon: float,
               released_by: dict[str, list[privacy.Noisy]] | None = None) -> SampleColumn:
    """A fixed grid inside the bounds; a value drawn uniformly inside a drawn bin."""
    low, high = spec.bounds.get(column.name, FALLBACK_BOUNDS)
    integer = column.type == "integer"
    edges = _grid(low, high, integer)
    bins = len(edges) - 1
    value = {"op": "col", "name": column.name}
    flags = [{"op": "cast", "to": "number", "args": [{"op": "ge", "args": [value, _lit(e)]}]} for e in edges[1:-1]]
    index = _total(flags or [{"op": "sub", "args": [value, value]}])
    step = {"op": "with_columns", "columns": [{"op": "alias", "name": BIN, "expr": index}]}
    released = _record(released_by, column.name, _released(table, spec, [step], BIN, "float", tuple(str(i) for i in range(bins)), epsilon))
    weights = _above_margin(released)

    def draw(rng) -> Any:
        if weights:
            (i,) = rng.choices(range(bins), weights)
            drawn = min(max(edges[i] + rng.random() * (edges[i + 1] - edges[i]), low), high)
        else:  # no weight: uniform inside the bounds (the grid's bins are of unequal widths)
            drawn = low + rng.random() * (high - low)
        return int(round(drawn)) if integer else round(drawn, 2)

    return SampleColumn(column.name, draw)


def _months(table: store.StoredTable, column: store.Column, spec: PrivateSample, epsilon: float,
            released_by: dict[str, list[privacy.Noisy]] | None = None) -> SampleColumn:
    """The coverage's months; a day drawn uniformly inside a drawn month."""
    value = {"op": "col", "name": column.name}
    month = {"op": "add", "args": [{"op": "mul", "args": [{"op": "year", "args": [value]}, _lit(12)]},
                                   {"op": "sub", "args": [{"op": "month", "args": [value]}, _lit(1)]}]}
    step = {"op": "with_columns", "columns": [{"op": "alias", "name": MONTH, "expr": month}]}
    months = spec.months
    released = _record(released_by, column.name, _released(table, spec, [step], MONTH, "integer", tuple(str(m) for m in months), epsilon))
    weights = _above_margin(released)
    timestamp = column.type == "timestamp"

    def draw(rng) -> str:
        (m,) = rng.choices(months, weights) if weights else (rng.choice(months),)
        year, month_ = divmod(m, 12)
        day = rng.randint(1, calendar.monthrange(year, month_ + 1)[1])
        if timestamp:
            return datetime(year, month_ + 1, day, rng.randrange(24), rng.randrange(60)).isoformat(sep=" ")
        return date(year, month_ + 1, day).isoformat()

    return SampleColumn(column.name, draw)


BIN, MONTH = "_sample_bin", "_sample_month"


def _released(table: store.StoredTable, spec: PrivateSample, before: list[dict], key: str, kind: str,
              levels: tuple[str, ...], epsilon: float) -> list[privacy.Noisy]:
    """Each cell's count of capped records, released at `epsilon` for one person's records; none
    when the sample spends no ε (nothing is read)."""
    if epsilon <= 0:
        return []
    plan = {"version": 1, "action": "collect", "source": spec.slug, "steps": []}
    try:
        cells = read_cells(plan, before, {key: levels}, {key: kind}, {}, [], {spec.slug: spec.capped(table)})
    except store.QueryError as exc:
        if not exc.while_running:
            raise
        cells = {}  # as the ε path answers a failure while reading: a set with no records
    return [privacy.release_count(cells.get((level,), Cell()).records, epsilon, per_person=spec.records_per_person)
            for level in levels]


def _record(released_by: dict[str, list[privacy.Noisy]] | None, name: str,
            released: list[privacy.Noisy]) -> list[privacy.Noisy]:
    """`released`, kept in `released_by` under the column's name when given (the catalog's
    figure of the version's size is read from them: `approximate_records`)."""
    if released_by is not None:
        released_by[name] = released
    return released


def _above_margin(released: list[privacy.Noisy]) -> list[int]:
    """A cell's noisy count when it is above its 95 % margin, else 0; [] when nothing is."""
    weights = [n.value if n.value > n.value - n.low else 0 for n in released]
    return weights if any(weights) else []


def _choice(values: list[Any], weights: list[int]):
    if not any(weights):
        return lambda rng: rng.choice(values)
    return lambda rng: rng.choices(values, weights)[0]


def _lit(value: float) -> dict[str, Any]:
    return {"op": "lit", "value": value}


def _total(terms: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of `terms` as a balanced tree of additions (not a chain a hundred deep)."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return {"op": "add", "args": [_total(terms[:middle]), _total(terms[middle:])]}
