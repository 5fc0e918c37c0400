"""The ε-budget mode's mechanisms (OpenDP) and its accounting, on plain numbers."""

from __future__ import annotations

import math
import statistics

import pytest

from portal.analysis import privacy
from portal.analysis.epsilon import EpsilonBudget
from portal.catalog.disclosure_settings import (
    EpsilonDefaults,
    PrivacySettings,
    Rules,
    privacy_overrides,
    resolve_lifetime_cells,
)


@pytest.mark.parametrize("epsilon", [0.05, 0.1, 0.5, 1.0])
def test_count_noise_scale_is_sensitivity_over_epsilon(epsilon):
    calibrated = privacy.count_measurement(epsilon)
    assert calibrated.scale == pytest.approx(1 / epsilon, rel=1e-6)
    assert calibrated.measurement.map(1) <= epsilon


@pytest.mark.parametrize(("bounds", "epsilon"), [((0.0, 1000.0), 0.5), ((10.0, 1e6), 1.0), ((-300.0, -5.0), 0.2)])
def test_sum_noise_scale_is_largest_bound_over_epsilon(bounds, epsilon):
    calibrated = privacy.sum_measurement(bounds, epsilon)
    draws = [privacy.release_sum(0.0, bounds, epsilon).value for _ in range(1000)]
    assert statistics.fmean(abs(d) for d in draws) == pytest.approx(calibrated.scale, rel=0.13), "E|Laplace(b)| = b"
    sensitivity = max(abs(bounds[0]), abs(bounds[1]))
    # OpenDP adds a tiny allowance for floating-point rounding in the sum.
    assert calibrated.scale == pytest.approx(sensitivity / epsilon, rel=1e-6)
    assert calibrated.scale >= sensitivity / epsilon
    assert calibrated.measurement.map(privacy.sum_sensitivity(bounds)) <= epsilon


def test_sum_over_bounds_of_both_signs_is_at_most_the_width_over_epsilon():
    # OpenDP sums negative and positive parts apart when the bounds straddle zero; its proven
    # sensitivity then lies between the largest bound and the bounds' width.
    calibrated = privacy.sum_measurement((-50.0, 20.0), 0.1)
    assert 50 / 0.1 <= calibrated.scale <= 70 / 0.1 * (1 + 1e-6)
    assert calibrated.measurement.map(privacy.sum_sensitivity((-50.0, 20.0))) <= 0.1


def test_count_noise_has_the_promised_spread():
    draws = [privacy.release_count(500, 0.1).value - 500 for _ in range(1500)]
    assert abs(statistics.fmean(draws)) < 1.5, "zero-mean noise (standard error 0.37)"
    assert statistics.fmean(abs(d) for d in draws) == pytest.approx(10, rel=0.12), "E|Laplace(b)| = b = 1/ε"


def test_sum_sensitivity_is_what_opendp_proves_for_clamp_and_sum():
    assert privacy.sum_sensitivity((0.0, 100.0)) == pytest.approx(100, rel=1e-6)
    assert privacy.sum_sensitivity((-300.0, -5.0)) == pytest.approx(300, rel=1e-6)


def test_mean_stays_inside_the_bounds_and_its_interval_covers_the_truth():
    total, count = float(sum(range(1, 201))), 200  # mean 100.5
    covered = 0
    for _ in range(300):
        noisy = privacy.release_mean(total, count, (0.0, 200.0), 0.5)
        assert 0.0 <= noisy.low <= noisy.value <= noisy.high <= 200.0
        covered += noisy.low <= 100.5 <= noisy.high
    assert covered / 300 >= 0.9


def test_a_means_scales_are_its_sums_and_its_counts_whatever_the_cell():
    """The scales a note shows come from the bounds and ε alone (decision 0030s): the same for an
    empty cell, a small one and a large one."""
    seen = {(n.scale, n.count_scale) for n in (privacy.release_mean(t, c, (0.0, 200.0), 0.5)
                                                for t, c in ((0.0, 0), (150.0, 1), (20100.0, 200)))}
    assert seen == {(privacy.release_sum(0.0, (0.0, 200.0), 0.25).scale, privacy.release_count(0, 0.25).scale)}


def test_mean_of_an_empty_cell_is_still_a_number_inside_the_bounds():
    noisy = privacy.release_mean(0.0, 0, (10.0, 20.0), 0.2)
    assert 10.0 <= noisy.value <= 20.0 and (noisy.low, noisy.high) == (10.0, 20.0)


def test_count_interval_is_the_95_percent_accuracy():
    noisy = privacy.release_count(1000, 0.5)
    half = (noisy.high - noisy.low) / 2
    assert half == math.ceil(2 * math.log(20)) or half == pytest.approx(2 * math.log(20), abs=1.5)
    misses = sum(not (r.low <= 1000 <= r.high) for r in (privacy.release_count(1000, 0.5) for _ in range(2000)))
    assert misses / 2000 <= 0.07


def test_quantile_is_a_candidate_inside_the_bounds_and_accurate_with_enough_epsilon():
    values = [float(v) for v in range(1000)]
    grid = set(privacy.quantile_candidates((0.0, 1000.0)))
    answers = [privacy.release_quantile(values, (0.0, 1000.0), 0.5, 1.0).value for _ in range(20)]
    assert all(a in grid for a in answers)
    assert statistics.median(answers) == pytest.approx(500, abs=20)
    assert privacy.release_quantile(values, (0.0, 1000.0), 0.9, 1.0).value == pytest.approx(900, abs=40)


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan])
def test_bad_epsilon_and_bounds_are_refused(bad):
    with pytest.raises(ValueError):
        privacy.release_count(10, bad)
    with pytest.raises(ValueError):
        privacy.release_sum(1.0, (bad, bad), 1.0)


def test_budget_spends_exactly_and_refuses_when_short():
    budget = EpsilonBudget(daily={7: 1.0}, spent_before={7: 0.0})
    assert all(budget.spend(7, 0.1) for _ in range(10)), "ten spends of 0.1 make exactly 1.0"
    assert not budget.spend(7, 0.1) and budget.spent_today(7) == 1.0
    assert budget.summary(7) == "ε spent 1 of 1 today"
    assert not EpsilonBudget(daily={7: 1.0}, spent_before={7: 0.95}).spend(7, 0.1)


def test_a_lifetime_bound_refuses_before_the_daily_one_and_says_so():
    budget = EpsilonBudget(daily={7: 1.0}, spent_before={}, lifetime={7: 1.5}, lifetime_before={7: 1.2})
    assert budget.left(7) == 0.3
    assert all(budget.spend(7, 0.1) for _ in range(3)) and not budget.spend(7, 0.1)
    assert budget.refused[7] == "lifetime" and budget.refusal(7, "d").detail == "lifetime"
    assert budget.summary(7) == "ε spent 0.3 of 1 today, 1.5 of 1.5 over the grant's life"
    short_today = EpsilonBudget(daily={7: 0.1}, spent_before={}, lifetime={7: 5.0})
    assert short_today.spend(7, 0.1) and not short_today.spend(7, 0.1)
    assert short_today.refusal(7, "d").detail is None and "try tomorrow" in short_today.refusal(7, "d").reason


def test_the_lifetime_epsilon_resolves_grant_over_dataset_over_days_of_the_daily():
    declared = {"mode": "dp", "daily_epsilon": 0.5, "lifetime_epsilon": 2}
    assert PrivacySettings.resolve(declared).lifetime_epsilon == 2.0
    assert PrivacySettings.resolve(declared, grant_lifetime=7.5).lifetime_epsilon == 7.5
    assert PrivacySettings.resolve({"mode": "dp", "daily_epsilon": 0.5}).lifetime_epsilon == 5.0
    assert PrivacySettings.resolve({"mode": "dp"}, defaults=EpsilonDefaults(daily=0.3, lifetime_days=30)).lifetime_epsilon == 9.0
    assert EpsilonDefaults.from_config({"DP_LIFETIME_DAYS": 4}).lifetime_days == 4.0
    with pytest.raises(ValueError):
        EpsilonDefaults.from_config({"DP_LIFETIME_DAYS": 0})


def test_the_lifetime_cells_resolve_grant_over_dataset_over_days_of_the_daily_cells():
    """Decision 0030w: the statistical mode's lifetime, as the ε one's, with a setting of its own."""
    assert resolve_lifetime_cells({"lifetime_cells": 900, "min_cell": 20}, daily=100) == 900
    assert resolve_lifetime_cells({"lifetime_cells": 900}, daily=100, grant_lifetime=50) == 50
    assert resolve_lifetime_cells({"mode": "dp"}, daily=100) == 1000
    assert resolve_lifetime_cells(None, daily=75, defaults=EpsilonDefaults(cell_lifetime_days=2.5)) == 188
    assert EpsilonDefaults.from_config({"SDC_LIFETIME_DAYS": 30}).cell_lifetime_days == 30.0
    assert EpsilonDefaults.from_config({"DP_LIFETIME_DAYS": 4}).cell_lifetime_days == 10.0, "its own setting"
    for bad in (0, -5, 2.5, True, "100"):
        with pytest.raises(ValueError):
            Rules.with_overrides({"lifetime_cells": bad})
    with pytest.raises(ValueError):
        EpsilonDefaults.from_config({"SDC_LIFETIME_DAYS": 0})


def test_mode_and_epsilon_resolve_grant_over_dataset_over_defaults():
    defaults = EpsilonDefaults(daily=2.0, per_query=0.2)
    assert PrivacySettings.resolve(None, defaults=defaults) == PrivacySettings("sdc", 0.2, 2.0, lifetime_epsilon=20.0)
    declared = {"mode": "dp", "daily_epsilon": 3, "epsilon_per_query": 0.5, "min_cell": 20}
    assert PrivacySettings.resolve(declared, defaults=defaults) == PrivacySettings("dp", 0.5, 3.0, lifetime_epsilon=30.0)
    assert PrivacySettings.resolve(declared, grant_mode="sdc", grant_daily=0.5) == PrivacySettings(
        "sdc", 0.5, 0.5, lifetime_epsilon=5.0)
    for bad in ({"mode": "laplace"}, {"daily_epsilon": 0}, {"epsilon_per_query": "0.1"}, {"lifetime_epsilon": -1}):
        with pytest.raises(ValueError):
            privacy_overrides(bad)


def test_mean_interval_holds_the_value_even_when_the_noisy_sum_is_out_of_bounds():
    for _ in range(300):
        noisy = privacy.release_mean(500.0 * 2000, 2000, (0.0, 3e6), 0.05)  # huge noise against the bound
        assert 0.0 <= noisy.low <= noisy.value <= noisy.high <= 3e6
