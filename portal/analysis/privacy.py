"""Differential-privacy mechanisms of the ε-budget mode, built on OpenDP.

Each statistic of a query is released by an OpenDP measurement whose privacy loss OpenDP itself
proves: a count by the discrete Laplace mechanism on the cell's size (a count changes by at most
1 when one record is added or removed), a bounded sum by Laplace noise scaled to the sensitivity
OpenDP proves for clamping to the bounds and summing (`make_clamp >> make_sum`: the largest
absolute bound, plus an allowance for floating-point rounding), a mean as a noisy bounded sum
over a noisy count (half the statistic's ε each), a quantile by the exponential mechanism over a
fixed grid of candidates between the bounds. The clamped sums themselves are computed by the
store (one pass in DuckDB; see private_queries.py): handing 100,000 values to OpenDP one by one
took seconds per query.
Noise scales are found by OpenDP's binary search so that each measurement spends exactly the ε
given to it; every released value carries its noise scale and, except quantiles, a 95 % interval.

The cells of one query are disjoint (group keys come from declared levels, and a record has one
value per key), so by parallel composition the whole query spends its ε once, not once per cell.

A dataset that declares whose records they are (`kaifang.disclosure.person`) is protected per
person: the store keeps at most `per_person` records of each person in a query (decision 0030t),
and each measurement is calibrated for that many records added or removed — OpenDP's maps at
`d_in = per_person` (a sum: per_person times its map at one record). A person's records may fall
in several cells, but every map here is linear in `d_in` (k records in one cell cost
k/per_person of the ε), so the cells still add up to one ε.

Pure: no database, no DuckDB, no Flask. Totals and counts come in as numbers, a quantile's values
as a list; randomness is OpenDP's own (a fresh draw per release: repeats are paid for by the
budget, not made sticky).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass


class _OpenDP:
    """`opendp.prelude`, imported at its first use: only the ε-budget mode needs it, and its
    import is a large part of starting a command line that never uses it."""

    def __getattr__(self, name: str):
        import opendp.prelude as prelude

        prelude.enable_features("contrib")
        globals()["dp"] = prelude
        return getattr(prelude, name)


dp = _OpenDP()

CONFIDENCE = 0.95
QUANTILE_CANDIDATES = 1001  # grid points between the bounds: finer costs little (log of the count)
GEOMETRIC_SPAN = 1000  # bounds spanning more than this factor get a geometric grid
Bounds = tuple[float, float]


@dataclass(frozen=True)
class Calibrated:
    """An OpenDP measurement and the noise scale OpenDP's search found for its ε."""

    measurement: dp.Measurement
    scale: float


@dataclass(frozen=True)
class Noisy:
    """One released value, the scale of the noise added to it and its 95 % interval (`low` and
    `high` are None for quantiles, whose error is in ranks, not in the value's unit). A mean has
    two noises, its sum's (`scale`) and its count's (`count_scale`): both come from the bounds and
    ε alone, so a note that shows them says nothing counted from the records."""

    value: float | int
    scale: float
    low: float | None = None
    high: float | None = None
    count_scale: float | None = None


def _float_vectors():
    return dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()


def _check(epsilon: float) -> None:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"ε must be a positive number, not {epsilon!r}")


def _check_records(per_person: int) -> int:
    """The caches are typed (`typed=True`), so that `True`, equal to 1, is checked, not answered."""
    if isinstance(per_person, bool) or not isinstance(per_person, int) or per_person < 1:
        raise ValueError(f"records per person must be a whole number from 1, not {per_person!r}")
    return per_person


@functools.lru_cache(maxsize=256, typed=True)
def count_measurement(epsilon: float, per_person: int = 1) -> Calibrated:
    """Discrete Laplace noise on a count, calibrated by OpenDP to spend `epsilon` when one person
    (at most `per_person` records) is added or removed: the sensitivity OpenDP's `make_count`
    proves for that many records."""
    _check(epsilon)
    sensitivity = (_float_vectors() >> dp.t.then_count()).map(_check_records(per_person))
    space = dp.atom_domain(T=int), dp.absolute_distance(T=int)
    return _laplace(lambda s: dp.m.make_laplace(*space, scale=s), sensitivity, epsilon)


def _laplace(make, sensitivity: float, epsilon: float) -> Calibrated:
    """The smallest scale whose measurement OpenDP proves to spend at most `epsilon`: Laplace's
    sensitivity / ε, nudged up past any rounding in OpenDP's privacy map (OpenDP's binary search
    finds the same scale but takes ~0.4 s; this takes one or two maps)."""
    scale = sensitivity / epsilon
    for _ in range(64):
        measurement = make(scale)
        if measurement.map(sensitivity) <= epsilon:
            return Calibrated(measurement, scale)
        scale = math.nextafter(scale, math.inf) * (1 + 1e-12)
    scale = dp.binary_search_param(make, d_in=sensitivity, d_out=epsilon)
    return Calibrated(make(scale), scale)


@functools.lru_cache(maxsize=256, typed=True)
def sum_sensitivity(bounds: Bounds, per_person: int = 1) -> float:
    """How much one person (at most `per_person` records) more or fewer can move the sums of
    values clamped to `bounds`: `per_person` times what OpenDP proves for one record and its
    clamp-and-sum transformation. Not OpenDP's map at `per_person`, which proves one sum: the
    records may fall in as many cells, each sum with its own allowance for floating-point
    rounding, and the cap times one record's bound covers them all (it is larger by the
    allowances only, 1e-8 of the bound)."""
    low, high = _bounds(bounds)
    clamp_sum = _float_vectors() >> dp.t.then_clamp((low, high)) >> dp.t.then_sum()
    return _check_records(per_person) * float(clamp_sum.map(1))


@functools.lru_cache(maxsize=256, typed=True)
def sum_measurement(bounds: Bounds, epsilon: float, per_person: int = 1) -> Calibrated:
    """Laplace noise on a clamped sum, calibrated by OpenDP to spend `epsilon` at the sum's
    sensitivity."""
    _check(epsilon)
    space = dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float)
    return _laplace(lambda s: dp.m.make_laplace(*space, scale=s), sum_sensitivity(_bounds(bounds), per_person),
                    epsilon)


@functools.lru_cache(maxsize=64, typed=True)
def quantile_measurement(bounds: Bounds, alpha: float, epsilon: float, per_person: int = 1) -> Calibrated:
    """The exponential mechanism over `QUANTILE_CANDIDATES` evenly spaced points of `bounds`,
    spending `epsilon` when one person (at most `per_person` records) is added or removed."""
    _check(epsilon)
    _check_records(per_person)
    candidates = tuple(quantile_candidates(bounds))
    space = _float_vectors()

    def make(scale: float) -> dp.Measurement:
        return dp.m.make_private_quantile(*space, dp.max_divergence(), candidates=list(candidates),
                                          alpha=alpha, scale=scale)

    scale = dp.binary_search_param(make, d_in=per_person, d_out=epsilon)
    return Calibrated(make(scale), scale)


def quantile_candidates(bounds: Bounds) -> list[float]:
    """The values a quantile may take: evenly spaced, or for a non-negative field spanning orders
    of magnitude (money), geometrically spaced from 1, so the grid's relative resolution is the
    same for a 500-yuan visit and a 500,000-yuan one (1.5 % over 0..3,000,000)."""
    low, high = _bounds(bounds)
    steps = QUANTILE_CANDIDATES - 1
    if low >= 0 and high / max(low, 1.0) > GEOMETRIC_SPAN:
        start = max(low, 1.0)
        ratio = (high / start) ** (1 / (steps - 1))
        return ([low] if low < start else []) + [start * ratio ** i for i in range(steps - 1)] + [high]
    step = (high - low) / steps
    return [low + i * step for i in range(steps)] + [high]


def _bounds(bounds: Bounds) -> tuple[float, float]:
    low, high = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"bounds must be finite with lower < upper, not {bounds!r}")
    return low, high


def release_count(records: int, epsilon: float, *, confidence: float = CONFIDENCE, per_person: int = 1) -> Noisy:
    """A noisy count. It may be below zero or small: nothing is suppressed in this mode."""
    calibrated = count_measurement(epsilon, per_person)
    scale = calibrated.scale
    value = int(calibrated.measurement(int(records)))
    margin = math.ceil(dp.discrete_laplacian_scale_to_accuracy(scale, 1 - confidence))
    return Noisy(value, scale, value - margin, value + margin)


def release_sum(total: float, bounds: Bounds, epsilon: float, *, confidence: float = CONFIDENCE,
                per_person: int = 1) -> Noisy:
    """A noisy sum. `total` must be the sum of the cell's values each clamped to `bounds`."""
    calibrated = sum_measurement(_bounds(bounds), epsilon, per_person)
    scale = calibrated.scale
    value = float(calibrated.measurement(float(total)))
    margin = dp.laplacian_scale_to_accuracy(scale, 1 - confidence)
    return Noisy(value, scale, value - margin, value + margin)


def release_mean(total: float, count: int, bounds: Bounds, epsilon: float, *, per_person: int = 1) -> Noisy:
    """A noisy mean: noisy clamped sum / noisy count of non-null values, ε/2 each, kept inside
    the bounds.

    The interval comes from the two 97.5 % intervals (so together at least 95 %): the extreme
    ratios over that box, or the whole bounds when the count's interval reaches zero. Its scales
    are the sum's and the count's. (The mean's own scale, the sum's over the noisy count, was shown
    until decision 0030s: post-processing, so no privacy loss, but a note that varied with the
    cells — one figure when the cells' noisy counts agreed, a range when not — where every other
    note is the same whatever the records.)
    """
    low, high = _bounds(bounds)
    half = epsilon / 2
    total = release_sum(total, bounds, half, confidence=1 - (1 - CONFIDENCE) / 2, per_person=per_person)
    count = release_count(count, half, confidence=1 - (1 - CONFIDENCE) / 2, per_person=per_person)
    value = min(high, max(low, total.value / max(count.value, 1)))
    interval = (low, high)
    if count.low is not None and count.low >= 1:
        # Clamping is monotone, so the clamped value stays between the clamped extreme ratios.
        ratios = [min(high, max(low, s / c)) for s in (total.low, total.high) for c in (count.low, count.high)]
        interval = (min(ratios), max(ratios))
    return Noisy(value, total.scale, *interval, count_scale=count.scale)


def release_quantile(values: Sequence[float], bounds: Bounds, alpha: float, epsilon: float, *,
                     per_person: int = 1) -> Noisy:
    """A quantile chosen among the candidate grid by the exponential mechanism (an empty cell
    gets a candidate chosen at random: the answer exists whatever the data)."""
    calibrated = quantile_measurement(_bounds(bounds), float(alpha), epsilon, per_person)
    import numpy  # noqa: PLC0415 - with OpenDP, at first use: runs that never ask a quantile skip it

    # A numpy array crosses into OpenDP as one buffer; a list is checked value by value (~10 µs each).
    data = numpy.fromiter(values, dtype=numpy.float64, count=len(values))
    return Noisy(float(calibrated.measurement(data)), calibrated.scale)
