"""Output disclosure control for `conditional` data: what a released aggregate may show.

Applied by the broker to every aggregated result before anything reaches the worker. The
principle (docs/disclosure.md): the records influence what the analyst sees only through
released, perturbed values. So every decision here that depends on the records is itself made
on a perturbed quantity, drawn from the cell key (a keyed hash of the *set* of contributing
records: the same records always give the same answer, and averaging repeats learns nothing):

- a cell is listed when its record count *plus threshold noise* reaches `min_cell`; the noise
  (a rounded normal draw) can take any value a pad could meet, so no pad of known records makes
  the listing an exact membership test, and its spread makes each such test weak (decision
  0026a). A cell that is not listed looks exactly like a cell with no records;
- counts get cell-key perturbation (a rounded normal draw, every integer possible: a bounded
  table made a pad of ten known records an exact test, decision 0026d) and are rounded to
  `rounding_base`;
- sums and means of a sensitive value B are of B clamped where the dataset says (`dp_bounds`,
  else the declared bounds), with consistent Laplace noise scaled to what one record can add to
  the sum (`sum_noise` times the clamp's largest magnitude) or to `magnitude_noise` of the value
  when that is more, then 3 significant figures. Noise in proportion to the largest
  contribution, as it was, moved with the target: "visits under 100 yuan, or the target" showed
  an expensive target in two cells (eighth round, decision 0026c). They need `min_cell` non-zero
  contributors, again decided on a perturbed count;
- sums of a non-sensitive value or a constant are counts in disguise: they get the count's
  noise, scaled by the largest value one record can contribute (from the declared bounds), and
  (but for constants) need `min_cell` non-zero contributors like sensitive ones: the sum of an
  indicator that is 1 for one record inside a listed cell is a count of one, and was released
  as 5 one time in ten and as 0 otherwise (fifth round, decision 0023e);
- a statistic of `a * B + b` is released as `a * R(B) + b * R(n)`: one draw for every rewrite;
  a mean as `a * R(B) / R(n) + b`, the same draw as the sum (decision 0024c).
- notes depend on the plan only: no counts of suppressed cells.

This module is pure: no database, no DuckDB, no Flask; it works on plain numbers.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from portal.analysis.notes import note
from portal.catalog.disclosure_settings import Rules

COUNT_LIKE = frozenset({"count", "count_distinct"})
MAGNITUDES = frozenset({"sum", "mean"})


COUNT_STREAM = '{"args":[],"op":"count"}'  # canonical count(): `.count()` answers the same
THRESHOLD_STREAM = "threshold"
# The listing threshold's noise: a cell of n records is listed when n + round(σZ) >= min_cell,
# Z standard normal, so P(listed | n) = Φ((n - min_cell + ½) / σ). Decision 0026a: the
# two-sided geometric draw it replaces (P(Z = k) ∝ e^-|k|) listed a pad of nine known records
# plus a target 73 % of the time against 27 % without, 0.46 nats a pad; ten leave-one-out pads
# over fresh bases told membership. At σ = 2 it is 60 % against 40 %, 0.08 nats a pad, while a
# single record is listed less often (1e-5 against 9e-5) and 20 records are never suppressed
# but for a 1e-7 draw (3e-5 before).
THRESHOLD_SIGMA = 2.0
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Aggregation:
    """One aggregate output column: its position in a row, its function, whether it reads a
    sensitive field, and its canonical form (see `affine.py`): `stream` names B, the noise key;
    the column is `a * B + b` (`constant` when it is the constant b). `scale` is the largest
    |B| within the declared bounds, `center` the middle of B's range, and `rewrite` the plan
    expression of B the store aggregates instead of the analyst's E."""

    index: int
    func: str
    sensitive: bool
    stream: str = COUNT_STREAM
    a: float = 1.0
    b: float = 0.0
    constant: bool = False
    scale: float = 1.0
    center: float | None = 0.0
    rewrite: dict[str, Any] | None = None
    missing: bool = True  # a sum's or mean's field may be missing in the version (decision 0027a)
    # Every record of the version has a non-zero value of the field, by public metadata: the cell's
    # listing decides the contributors test (decision 0027e). Read on the set instead ("all of
    # them contribute"), a target whose value was missing or zero made a listed cell draw it.
    all_contribute: bool = False


@dataclass(frozen=True)
class CellInput:
    """Per output row of an aggregated query: the store's contributor statistics.

    `released` holds base-level values already released for a near-identical record set (see
    `differencing.py`); a statistic found there is answered with it, unchanged."""

    records: int
    key: int
    contributors: tuple[int, ...]
    present: tuple[int, ...] = ()
    released: dict[str, Any] | None = None


@dataclass(frozen=True)
class Released:
    rows: list[list[Any]]
    suppressed_groups: int
    suppressed_cells: int
    notes: tuple[dict[str, Any], ...]  # `notes.note` objects: a stable code, public params, English text
    memory: tuple[dict[str, Any], ...] = ()  # per listed row: the base-level values released

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

    def count_offset(self, key: int, stream: str, sigma: float) -> int:
        """A count's perturbation: a rounded normal draw of `sigma` (`Rules.count_noise`), zero-mean
        so released totals stay unbiased. Its support is every integer: the ±2 table it replaces
        (P = .1 .2 .4 .2 .1), then rounding to 5, let a count of 10 known records come out only
        as 10 and one of 11 as 15 one time in ten, so "15" over a pad of ten known visits and a
        target proved the target; at 12 against 13 it was 30 % against 70 % (ninth round,
        decision 0026d)."""
        return _rounded_normal(self.uniform(key, stream), sigma)

    def threshold_offset(self, key: int, stream: str) -> int:
        """A rounded normal draw (`THRESHOLD_SIGMA`): offsets of ±16 are possible, so whether a
        cell of n records is listed is never certain from n alone (the pad-of-nine test is not
        exact), and each such test says little (decision 0026a)."""
        return _rounded_normal(self.uniform(key, "threshold:" + stream), THRESHOLD_SIGMA)


def _rounded_normal(u: float, sigma: float) -> int:
    """The normal draw of `sigma` at quantile `u` in [0, 1), rounded: the shape of both the
    listing threshold's and a count's noise. `u` is kept 1e-16 inside (0, 1), so offsets reach
    about ±8.2 σ."""
    return round(sigma * _NORMAL.inv_cdf(min(max(u, 1e-16), 1 - 1e-16)))


# A Laplace draw of scale b has the standard deviation of a uniform one over ±b·√6: so
# `magnitude_noise` keeps the spread it had as a uniform ±share of the value.
LAPLACE_SPREAD = math.sqrt(6)


def laplace(u: float, scale: float) -> float:
    """The Laplace draw of `scale` at quantile `u` in [0, 1): every value possible, the odds of
    any two sums one record apart at most e^(contribution / scale)."""
    if u < 0.5:
        return scale * math.log(max(2 * u, 1e-300))
    return -scale * math.log(max(2 * (1 - u), 1e-300))


def round_to_base(value: float, base: int) -> int:
    return int(base * round(value / base))


def significant(value: float, figures: int) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{figures}g}")


def release_count(count: int, key: int, stream: str, rules: Rules, noise: CellKeyNoise) -> int:
    """A perturbed, rounded count; never below `min_cell` (smaller cells are not listed)."""
    perturbed = count + noise.count_offset(key, stream, rules.count_noise)
    return max(rules.min_cell, round_to_base(perturbed, rules.rounding_base))


def listed(records: int, key: int, rules: Rules, noise: CellKeyNoise, stream: str = THRESHOLD_STREAM) -> bool:
    """Whether a cell (or a statistic's contributors) passes the minimum, on a perturbed count."""
    return records + noise.threshold_offset(key, stream) >= rules.min_cell


class _Cell:
    """The releases of one cell, each computed once at base level (B, not a * B + b) and seeded
    with what was released for a remembered near-identical cell."""

    def __init__(self, cell: CellInput, rules: Rules, noise: CellKeyNoise):
        self.cell, self.rules, self.noise = cell, rules, noise
        self.memory: dict[str, Any] = dict(cell.released or {})

    def listed(self) -> bool:
        return listed(self.cell.records, self.cell.key, self.rules, self.noise)

    def _once(self, name: str, compute) -> Any:
        if name not in self.memory:
            self.memory[name] = compute()
        return self.memory[name]

    def count(self) -> int:
        return self._once(COUNT_STREAM, lambda: release_count(self.cell.records, self.cell.key, COUNT_STREAM,
                                                              self.rules, self.noise))

    def present(self, agg: Aggregation, position: int) -> int:
        """The released number of records with a value of B, decided on public metadata only:
        the released count when B's field has no missing value anywhere in the version, else
        always a draw of its own (decision 0027a). Decided on the set — "the count when no value
        of the set is missing, a draw when one is" — it told whether a fresh set held the
        target's missing value (ninth round), also one the statistic's own arithmetic or a join
        made missing (tenth round, decision 0027b). So a null that is not the field's own (a
        left join's) counts as present when the field has no gaps: such a mean is pulled
        towards 0, and says nothing of the set."""
        if not agg.missing:
            return self.count()
        present = self.cell.present[position] if self.cell.present else self.cell.records
        # Once per cell, like `enough`: a set snapped to a remembered cell keeps its number
        # present, as it keeps its figures (decision 0026d).
        return self._once("n:" + agg.stream,
                          lambda: release_count(present, self.cell.key, "n:" + agg.stream, self.rules, self.noise))

    def enough(self, agg: Aggregation, position: int) -> bool:
        """Whether a statistic has enough non-zero contributors. When every record of the version
        has a non-zero value of the field (public metadata, `Aggregation.all_contribute`), the
        cell's own listing decides: a draw per statistic would be another threshold test of the
        same count — with a pad of nine, one more look at "is the target the tenth" per field
        and date part (decision 0024c). Otherwise it is always a draw of its own: decided on the
        set ("no draw when all of its records contribute"), a target whose value was missing or
        zero — or made NULL by a left-joined constant — drew it only when it was there, so a null
        sum in a listed cell over fresh pads proved the target (twelfth round, decision 0027e).

        Decided once per cell and statistic, and remembered with its values: a set snapped to a
        remembered cell keeps the cell's key, so a decision made again on the set's own number
        of contributors was a threshold test with a fixed draw — pads of known zeros found the
        step, and the target's zero crossed it or not (ninth round, decision 0026d)."""
        def decide() -> bool:
            contributors = self.cell.contributors[position]
            if agg.all_contribute:  # by metadata: never read on the set (decision 0027e)
                return True
            return listed(contributors, self.cell.key, self.rules, self.noise, "contributors:" + agg.stream)

        return bool(self._once("contributors:" + agg.stream, decide))

    def value(self, agg: Aggregation, value: Any, position: int) -> Any:
        """One output value after disclosure control (None: withheld, like a suppressed cell)."""
        if agg.func == "count":
            return self.count()
        if agg.func in MAGNITUDES:
            return self._magnitude(agg, value, position)
        if not self.enough(agg, position):
            return None
        if value is None:  # no contributors, yet listed by the noise: the middle of the declared range
            value = agg.center if agg.func != "count_distinct" else 0
        if agg.func == "count_distinct":
            return self._once(agg.stream, lambda: release_count(int(value), self.cell.key, agg.stream,
                                                                self.rules, self.noise))
        if agg.func == "std":
            factor = 1 + self.rules.magnitude_noise * (2 * self.noise.uniform(self.cell.key, agg.stream) - 1)
            return self._once(agg.stream, lambda: significant(float(value) * factor, self.rules.significant_figures))
        return value

    def _magnitude(self, agg: Aggregation, value: Any, position: int) -> Any:
        if agg.constant:
            return agg.b * self.count() if agg.func == "sum" else agg.b
        if not self.enough(agg, position):  # sensitive or not: a count in disguise needs its minimum too
            return None
        base = self._once(agg.stream, lambda: self._base(agg, value, position))
        if base is None:
            return None
        # A mean is the released sum over the released number of values: one draw for both, so
        # that `sum` over a set and `mean` over a set one record away (snapped to it by the
        # differencing memory) are not two looks whose ratio tells the one record (decision 0024c).
        if agg.func == "mean":
            return significant(agg.a * base / self.present(agg, position) + agg.b, self.rules.significant_figures)
        return significant(agg.a * base + agg.b * self.present(agg, position), self.rules.significant_figures)

    def _base(self, agg: Aggregation, value: Any, position: int) -> float:
        """The released sum of B (a mean's value is turned into its sum first)."""
        present = self.cell.present[position] if self.cell.present else self.cell.records
        if value is None or present == 0:
            total = agg.center * present
        else:
            total = float(value) * (present if agg.func == "mean" else 1)
        u = self.noise.uniform(self.cell.key, agg.stream)
        if not agg.sensitive:
            return self._count_like(agg, total, u)
        scale = max(self.rules.sum_noise * agg.scale, self.rules.magnitude_noise * abs(total) / LAPLACE_SPREAD)
        return significant(total + laplace(u, scale), self.rules.significant_figures)

    def _count_like(self, agg: Aggregation, total: float, u: float) -> float:
        """A sum of a non-sensitive value is a count weighted by at most `scale` per record: the
        count's noise and rounding, in units of `scale`."""
        if agg.scale == 0:
            return 0.0
        offset = self.noise.count_offset(self.cell.key, agg.stream, self.rules.count_noise)
        return round_to_base(total / agg.scale + offset, self.rules.rounding_base) * agg.scale


def release_rows(rows: list[tuple], cells: list[CellInput], aggregations: list[Aggregation], rules: Rules,
                 noise: CellKeyNoise) -> Released:
    """Apply every rule to an aggregated result: rows of cells that are not listed are dropped
    (keys and all), withheld values are None, and the notes depend on the plan only."""
    out: list[list[Any]] = []
    memory: list[dict[str, Any]] = []
    hidden_groups = hidden_cells = 0
    for row, cell in zip(rows, cells, strict=True):
        released = _Cell(cell, rules, noise)
        if not released.listed():
            hidden_groups += 1
            continue
        values = list(row)
        for position, agg in enumerate(aggregations):
            values[agg.index] = released.value(agg, row[agg.index], position)
            hidden_cells += values[agg.index] is None
        out.append(values)
        memory.append(released.memory)
    return Released(out, hidden_groups, hidden_cells, notes(aggregations, rules), tuple(memory))


def notes(aggregations: list[Aggregation], rules: Rules) -> tuple[dict[str, Any], ...]:
    """What disclosure control did, as a function of the plan and the rules only: how many cells
    were suppressed is itself a count of small cells, and is never said. The listing rule
    (`min-cell`) is always first: the notebook marks suppressed cells with it."""
    found = [note("min-cell", min_cell=rules.min_cell)]
    if any(a.func in COUNT_LIKE for a in aggregations):
        found.append(note("count-rounding", rounding_base=rules.rounding_base))
    if any(a.func in MAGNITUDES | {"std"} for a in aggregations):
        found.append(note("magnitude-noise", factor=f"{rules.sum_noise:g}", percent=round(rules.magnitude_noise * 100),
                          figures=rules.significant_figures))
    return tuple(found)
