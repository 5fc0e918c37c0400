"""Disclosure rules on plain numbers: perturbed suppression, cell-key noise, rounding, noise of sums."""

from __future__ import annotations

import math
import statistics

import pytest

from portal.analysis.disclosure import (
    Aggregation,
    CellInput,
    CellKeyNoise,
    Rules,
    laplace,
    listed,
    notes,
    release_count,
    release_rows,
    round_to_base,
    significant,
)

NOISE = CellKeyNoise(b"test-secret")
RULES = Rules()


def test_same_key_same_answer_different_keys_vary():
    answers = {release_count(137, 42, "count", RULES, NOISE) for _ in range(50)}
    assert len(answers) == 1, "repeating a query must not give fresh noise to average away"
    spread = {release_count(137, key, "count", RULES, NOISE) for key in range(200)}
    assert spread <= {125, 130, 135, 140, 145, 150} and len(spread) >= 2


def test_counts_are_rounded_to_base_and_never_below_min_cell():
    for key in range(300):
        value = release_count(10, key, "count", RULES, NOISE)
        assert value % 5 == 0 and value >= 10


def test_count_noise_is_unbiased_over_many_cells():
    errors = [release_count(1000, key, "count", RULES, NOISE) - 1000 for key in range(4000)]
    assert abs(statistics.fmean(errors)) < 0.3
    assert max(abs(e) for e in errors) <= 10


def test_a_count_s_perturbation_has_every_integer_in_its_support():
    """A rounded normal draw of σ = `count_noise` (decision 0026d): ten records can come out 15
    and eleven 10, so no released count of a pad of known records proves a target. The ±2
    table it replaced gave ten records 10 always and eleven 15 one time in ten."""
    offsets = [NOISE.count_offset(key, "count", RULES.count_noise) for key in range(20000)]
    assert abs(statistics.fmean(offsets)) < 0.05 and 1.9 < statistics.pstdev(offsets) < 2.1
    assert abs(offsets.count(0) / len(offsets) - 0.197) < 0.01 and max(offsets) >= 7 and min(offsets) <= -7
    ten = [release_count(10, key, "count", RULES, NOISE) for key in range(4000)]
    eleven = [release_count(11, key, "count", RULES, NOISE) for key in range(4000)]
    assert 0.08 < ten.count(15) / 4000 < 0.13 and 0.19 < eleven.count(15) / 4000 < 0.26
    assert 10 in eleven


def test_count_noise_max_is_no_longer_a_setting():
    with pytest.raises(ValueError):
        Rules.with_overrides({"count_noise_max": 2})
    with pytest.raises(ValueError):
        Rules.with_overrides({"count_noise": 0.5})
    assert Rules.with_overrides({"count_noise": 3}).count_noise == 3


def test_rounding_and_significant_figures():
    assert [round_to_base(v, 5) for v in (8, 12, 13, 17, 0)] == [10, 10, 15, 15, 0]
    assert significant(123456.0, 3) == 123000.0 and significant(0.012345, 3) == 0.0123


def test_threshold_noise_is_a_rounded_normal_draw():
    """Offsets well beyond any pad are possible (no pad of known records gives an exact test),
    spread as a normal draw of σ = 2 rounded: P(Z = 0) ~ 20 %, P(Z >= 1) ~ 40 %, |Z| >= 5 about
    2.4 %, and none of the heavy tail the geometric draw had (decision 0026a)."""
    draws = [NOISE.threshold_offset(key, "threshold") for key in range(20000)]
    assert 0.17 < draws.count(0) / len(draws) < 0.23
    assert 0.37 < sum(d >= 1 for d in draws) / len(draws) < 0.43
    assert sum(abs(d) >= 5 for d in draws) / len(draws) < 0.03
    assert min(draws) <= -6 and max(draws) >= 6
    assert abs(statistics.fmean(draws)) < 0.05
    assert 1.9 < statistics.pstdev(draws) < 2.15


def test_listing_is_decided_on_a_perturbed_count():
    shown = {n: sum(listed(n, key, RULES, NOISE) for key in range(4000)) / 4000 for n in (0, 8, 9, 10, 11, 20)}
    assert shown[0] < 0.001 and shown[20] > 0.999
    assert 0.1 < shown[9] < shown[10] < shown[11] < 0.95, shown
    assert shown[8] > 0, "a cell just under the minimum is sometimes listed"


def test_a_pad_of_nine_says_little_about_the_tenth():
    """Eighth round (decision 0026a): with the geometric draw a pad of nine known records plus a
    target was listed 73 % of the time against 27 % without, 0.46 nats of evidence a pad, and
    ten leave-one-out pads over fresh bases told membership (ten of ten against three of ten).
    Now 60 % against 40 %: 0.08 nats a pad, so ten pads leave an attacker right about three
    times in four and a hundred pads (two hundred cells) are needed to be sure; a record alone
    is listed less often than before, and twenty records are never withheld by the noise."""
    keys = range(20000)
    shown = {n: sum(listed(n, key, RULES, NOISE) for key in keys) / len(keys) for n in (1, 9, 10, 20)}
    with_target, without = shown[10], shown[9]
    evidence = (with_target * math.log(with_target / without)
                + (1 - with_target) * math.log((1 - with_target) / (1 - without)))
    assert evidence < 0.12, shown
    assert shown[1] < 3e-4 and shown[20] == 1.0, shown  # about 1e-5 and 1 - 1e-7


def _cell(records, key=7, contributors=None):
    contributors = contributors or (records, records)
    return CellInput(records, key, contributors)


def _listed_keys(records, count=1):
    return [key for key in range(1000) if listed(records, key, RULES, NOISE)][:count]


def test_release_rows_drops_unlisted_cells_and_noises_sums():
    big, other = _listed_keys(120)[0], _listed_keys(40)[0]
    small = next(k for k in range(1000) if not listed(3, k, RULES, NOISE))
    rows = [("和平区", 120, 500000.0), ("河东区", 3, 300.0), ("河西区", 40, 800.0)]
    cells = [_cell(120, big), _cell(3, small), _cell(40, other)]
    aggs = [Aggregation(1, "count", False), Aggregation(2, "sum", True, "sum:cost", scale=100.0)]
    out = release_rows(rows, cells, aggs, RULES, NOISE)
    assert [r[0] for r in out.rows] == ["和平区", "河西区"] and out.suppressed_groups == 1
    assert out.rows[0][1] in (115, 120, 125)
    assert abs(out.rows[0][2] - 500000) <= 200000 and out.rows[1][2] is not None
    assert out.notes == notes(aggs, RULES), "notes never count suppressed cells"


def test_a_sensitive_sums_noise_is_scaled_to_one_records_contribution_not_to_the_data():
    """Eighth round (decision 0026c): the noise of a sensitive sum was half its largest
    contribution, so over "visits under 100 yuan, or the target" it moved with the target and
    an expensive target showed through. Now its scale is `sum_noise` times what one record can
    add (the clamp's largest magnitude, `scale`): a record more shifts the released sum by its
    (clamped) value and nothing else, under Laplace noise of twice that, so the odds of any
    released figure move by at most e^0.5; large sums keep `magnitude_noise` of their value."""
    agg = [Aggregation(0, "sum", True, "sum:cost", scale=50000.0)]
    shifts, spread = [], []
    for key in _listed_keys(20, count=400):
        cell = _cell(20, key)
        without = release_rows([(1500.0,)], [cell], agg, RULES, NOISE).rows[0][0]
        with_target = release_rows([(1500.0 + 50000.0,)], [cell], agg, RULES, NOISE).rows[0][0]
        shifts.append(with_target - without)
        spread.append(abs(without - 1500.0))
    assert all(abs(s - 50000.0) <= 0.01 * abs(s) + 1000 for s in shifts)  # the contribution, rounded to 3 figures
    assert 55000 < statistics.median(spread) < 85000  # Laplace(100,000): median |noise| 69,300
    big = release_rows([(1e9,)], [_cell(20, _listed_keys(20)[0])], agg, RULES, NOISE).rows[0][0]
    assert big != pytest.approx(1e9, rel=1e-4)  # a large sum is noised in proportion to itself


def test_the_laplace_draw_is_symmetric_with_its_scale():
    draws = [laplace((u + 0.5) / 10000, 3.0) for u in range(10000)]
    assert abs(statistics.fmean(draws)) < 0.05 and 2.0 < statistics.median(abs(d) for d in draws) < 2.2
    assert laplace(0.5, 3.0) == 0.0 and laplace(0.0, 3.0) < -100


def test_notes_depend_on_the_plan_only():
    aggs = [Aggregation(1, "count", False), Aggregation(2, "mean", True, "mean:cost")]
    empty = release_rows([("a", 0, None)], [_cell(0, 0, (0, 0))], aggs, RULES, NOISE)
    full = release_rows([("a", 500, 10.0)], [_cell(500, _listed_keys(500)[0])], aggs, RULES, NOISE)
    assert empty.rows == [] and full.rows and empty.notes == full.notes


def test_affine_rewrites_share_one_draw_and_a_constant_sum_is_a_count():
    key = _listed_keys(400)[0]
    cell = _cell(400, key, contributors=(400,))
    plain = release_rows([(12345.0,)], [cell], [Aggregation(0, "sum", True, "sum:x")], RULES, NOISE).rows[0][0]
    tripled = release_rows([(12345.0,)], [cell], [Aggregation(0, "sum", True, "sum:x", a=3.0)], RULES, NOISE).rows[0][0]
    assert tripled == pytest.approx(3 * plain, rel=1e-3)
    count = release_rows([(400,)], [cell], [Aggregation(0, "count", False)], RULES, NOISE).rows[0][0]
    ones = release_rows([(400.0,)], [cell], [Aggregation(0, "sum", False, constant=True, a=0.0, b=1.0)],
                        RULES, NOISE).rows[0][0]
    assert ones == count and count % 5 == 0


def test_magnitudes_need_min_cell_contributors():
    rows = [("a", 50, 1234.0)]
    key = next(k for k in range(1000) if listed(50, k, RULES, NOISE) and not listed(0, k, RULES, NOISE, "contributors:mean:x"))
    cells = [_cell(50, key, contributors=(50, 0))]
    out = release_rows(rows, cells, [Aggregation(1, "count", False), Aggregation(2, "mean", True, "mean:x")], RULES, NOISE)
    assert out.rows[0][2] is None


def test_overrides_are_checked():
    assert Rules.with_overrides({"min_cell": 20}).min_cell == 20
    with pytest.raises(ValueError):
        Rules.with_overrides({"min_cell": 1})
    with pytest.raises(ValueError):
        Rules.with_overrides({"nonsense": 1})


def test_a_statistic_every_record_contributes_to_takes_no_threshold_draw_of_its_own():
    """The cell's listing already tested its count against the minimum: another draw per
    statistic on the same count was one more look at a pad of nine plus a target, and a null
    whose only cause was noise (decision 0024c). "Every record contributes" is read from public
    metadata (`all_contribute`), never from the set (decision 0027e)."""
    keys = [k for k in range(3000) if listed(10, k, RULES, NOISE)
            and not listed(10, k, RULES, NOISE, "contributors:sum:month")]
    assert keys, "some listed cells of 10 would have failed a second threshold draw"
    aggs = [Aggregation(0, "sum", False, "sum:month", scale=12.0, center=6.5, all_contribute=True)]
    for key in keys[:20]:
        cell = CellInput(10, key, (10,))
        assert release_rows([(65,)], [cell], aggs, RULES, NOISE).rows[0][0] is not None
    # a field that may be zero or missing is always tested on its non-zero contributors, also
    # when every record of this set contributes: "no draw when all of the set contribute" made a
    # target's zero or missing value a one-sided test (twelfth round)
    maybe = [Aggregation(0, "sum", False, "sum:month", scale=12.0, center=6.5)]
    for sparse in (CellInput(10, keys[0], (3,)), CellInput(10, keys[0], (10,))):
        assert release_rows([(30,)], [sparse], maybe, RULES, NOISE).rows[0][0] is None
