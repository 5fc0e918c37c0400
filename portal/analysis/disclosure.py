"""Output disclosure control for `conditional` data: what a released aggregate may show.

Applied by the broker to every aggregated result before anything reaches the worker. The rules
and the reason for each are in docs/disclosure.md; in short:

- a group (cell) with fewer than `min_cell` contributing records is suppressed and its keys are
  not listed;
- counts get cell-key perturbation (a small integer from a fixed table, chosen by a keyed hash of
  the *set* of contributing records, so the same records always give the same answer and
  averaging repeats learns nothing) and are then rounded to `rounding_base`;
- sums, means and standard deviations need `min_cell` non-null contributors and pass the
  dominance rule (largest contributor <= 50 %, two largest <= 67 % of the total), then get
  consistent multiplicative noise (+-3 %) from the same cell key and are shown to 3 significant
  figures;
- medians, quantiles, minima and maxima (only ever of non-sensitive fields: the policy refuses
  them on sensitive ones) need `min_cell` contributors.

This module is pure: no database, no DuckDB, no Flask; it works on plain numbers.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields
from typing import Any

from portal.analysis.modes import PRIVACY_KEYS, privacy_overrides

COUNT_LIKE = frozenset({"count", "count_distinct"})
MAGNITUDES = frozenset({"sum", "mean", "std"})
ORDER_STATS = frozenset({"median", "quantile", "min", "max"})
# P(noise = -2, -1, 0, +1, +2): symmetric, zero-mean, so released totals stay unbiased.
COUNT_NOISE = (0.1, 0.2, 0.4, 0.2, 0.1)


@dataclass(frozen=True)
class Rules:
    """Disclosure settings of one dataset: defaults here, overrides from its descriptor."""

    min_cell: int = 10
    rounding_base: int = 5
    count_noise_max: int = 2
    magnitude_noise: float = 0.03
    significant_figures: int = 3
    dominance_top1: float = 0.50
    dominance_top2: float = 0.67
    max_groups: int = 40
    queries_per_run: int = 200
    daily_cells: int = 2000

    @classmethod
    def with_overrides(cls, overrides: dict[str, Any] | None) -> Rules:
        """Defaults with a dataset's overrides; unknown keys and unsafe values are refused."""
        privacy_overrides(overrides)  # the ε-mode keys are checked, and kept, by portal/analysis/modes.py
        overrides = {k: v for k, v in (overrides or {}).items() if k not in PRIVACY_KEYS}
        if not overrides:
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ValueError(f"unknown disclosure settings: {sorted(unknown)}")
        rules = cls(**overrides)
        if rules.min_cell < 3 or rules.rounding_base < 1 or not 0 < rules.dominance_top1 <= rules.dominance_top2 <= 1:
            raise ValueError("disclosure settings weaker than the floor (min_cell >= 3, base >= 1, 0 < top1 <= top2 <= 1)")
        return rules


COUNT_STREAM = '{"args":[],"op":"count"}'  # canonical count(): `.count()` answers the same


@dataclass(frozen=True)
class Aggregation:
    """One aggregate output column: its position in a row, its function, whether it reads a
    sensitive field, and its canonical text (the noise stream, so aliases and repeats of one
    statistic in a query are one draw, not many)."""

    index: int
    func: str
    sensitive: bool
    stream: str = COUNT_STREAM


@dataclass(frozen=True)
class CellInput:
    """Per output row of an aggregated query: the store's contributor statistics.

    `released` holds values already released for a near-identical record set (see
    `differencing.py`); a statistic found there is answered with it, unchanged."""

    records: int
    key: int
    contributors: tuple[int, ...]
    top: tuple[tuple[float, float], ...]
    released: dict[str, Any] | None = None


@dataclass(frozen=True)
class Released:
    rows: list[list[Any]]
    suppressed_groups: int
    suppressed_cells: int
    notes: tuple[str, ...]

    @property
    def cells(self) -> int:
        return sum(1 for row in self.rows for value in row if value is not None)


class CellKeyNoise:
    """Deterministic draws in [0, 1) from a cell key, keyed by a portal secret.

    The secret keeps the noise unpredictable to analysts; the cell key makes it repeatable for
    the same set of records. `stream` separates the draws of different statistics of one cell.
    """

    def __init__(self, secret: bytes):
        self._secret = hashlib.sha256(secret).digest()

    def uniform(self, key: int, stream: str) -> float:
        digest = hashlib.blake2b(f"{key}:{stream}".encode(), key=self._secret, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def count_offset(self, key: int, stream: str, spread: int) -> int:
        u = self.uniform(key, stream)
        edge = 0.0
        for offset, p in zip(range(-2, 3), COUNT_NOISE, strict=True):
            edge += p
            if u < edge:
                return max(-spread, min(spread, offset))
        return 0


def round_to_base(value: float, base: int) -> int:
    return int(base * round(value / base))


def significant(value: float, figures: int) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{figures}g}")


def release_count(count: int, key: int, stream: str, rules: Rules, noise: CellKeyNoise) -> int:
    """A perturbed, rounded count; never below `min_cell` (smaller cells are suppressed earlier)."""
    perturbed = count + noise.count_offset(key, stream, rules.count_noise_max)
    return max(rules.min_cell, round_to_base(perturbed, rules.rounding_base))


def dominated(value: float, contributors: int, top: tuple[float, float], func: str, rules: Rules) -> bool:
    """True when one or two contributors make up too much of the cell's total (ABS rule)."""
    total = abs(value) * contributors if func == "mean" else abs(value)
    if func == "std" or total <= 0:
        return False
    first, second = top
    return first > rules.dominance_top1 * total or first + second > rules.dominance_top2 * total


def release_value(agg: Aggregation, value: Any, cell: CellInput, position: int, rules: Rules,
                  noise: CellKeyNoise) -> tuple[Any, str | None]:
    """One aggregate cell after disclosure control: (value, None) or (None, the rule that hid it)."""
    func, stream = agg.func, agg.stream
    if cell.released is not None and stream in cell.released:
        return cell.released[stream], None
    contributors = cell.contributors[position]
    if func == "count":
        value = contributors = cell.records
    if value is None:
        return None, None
    if contributors < rules.min_cell:
        return None, "min-cell"
    if func in COUNT_LIKE:
        return release_count(int(value), cell.key, stream, rules, noise), None
    if func in MAGNITUDES:
        if dominated(float(value), contributors, cell.top[position], func, rules):
            return None, "dominance"
        factor = 1 + rules.magnitude_noise * (2 * noise.uniform(cell.key, stream) - 1)
        return significant(float(value) * factor, rules.significant_figures), None
    return value, None


def release_rows(rows: list[tuple], cells: list[CellInput], aggregations: list[Aggregation], rules: Rules,
                 noise: CellKeyNoise) -> Released:
    """Apply every rule to an aggregated result; the group keys of suppressed rows are dropped."""
    out: list[list[Any]] = []
    hidden_groups = hidden_cells = 0
    reasons: set[str] = set()
    for row, cell in zip(rows, cells, strict=True):
        if cell.records < rules.min_cell:
            hidden_groups += 1
            continue
        values = list(row)
        for position, agg in enumerate(aggregations):
            values[agg.index], reason = release_value(agg, row[agg.index], cell, position, rules, noise)
            if reason:
                hidden_cells += 1
                reasons.add(reason)
        out.append(values)
    return Released(out, hidden_groups, hidden_cells, _notes(aggregations, rules, hidden_groups, hidden_cells, reasons))


def _notes(aggregations: list[Aggregation], rules: Rules, groups: int, cells: int, reasons: set[str]) -> tuple[str, ...]:
    notes = []
    if any(a.func in COUNT_LIKE for a in aggregations):
        notes.append(f"counts perturbed (cell key) and rounded to base {rules.rounding_base}")
    if any(a.func in MAGNITUDES for a in aggregations):
        notes.append(f"sums/means/std with +-{rules.magnitude_noise:.0%} consistent noise, "
                     f"{rules.significant_figures} significant figures")
    if groups:
        notes.append(f"{groups} group(s) with fewer than {rules.min_cell} records suppressed (keys not listed)")
    if cells:
        notes.append(f"{cells} cell(s) withheld ({', '.join(sorted(reasons))})")
    return tuple(notes)
