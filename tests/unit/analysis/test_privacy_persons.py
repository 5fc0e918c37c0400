"""The ε mode per person (decision 0030t): mechanisms calibrated for at most `per_person` records
of one person, and the descriptor keys that declare the person and the cap."""

from __future__ import annotations

import copy

import pytest

from portal.analysis import privacy
from portal.catalog.disclosure_settings import (
    RECORDS_PER_PERSON,
    PrivacySettings,
    person_field_problem,
    privacy_overrides,
)
from portal.errors import Invalid
from tests.unit.catalog.test_descriptor_checks import VALID, read

CAPS = [1, 2, 5, 12]


@pytest.mark.parametrize("cap", CAPS)
def test_a_counts_scale_is_the_cap_over_epsilon(cap):
    calibrated = privacy.count_measurement(0.1, cap)
    assert calibrated.scale == pytest.approx(cap / 0.1, rel=1e-6)
    assert calibrated.measurement.map(cap) <= 0.1


@pytest.mark.parametrize("cap", CAPS)
def test_a_sums_sensitivity_and_scale_multiply_by_the_cap(cap):
    bounds = (0.0, 50_000.0)
    assert privacy.sum_sensitivity(bounds, cap) == pytest.approx(cap * 50_000, rel=1e-6)
    assert privacy.sum_sensitivity(bounds, cap) == cap * privacy.sum_sensitivity(bounds), \
        "one record's proof per record: each cell's sum has its own rounding allowance"
    dp = privacy.dp
    vectors = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    one_sum = (vectors >> dp.t.then_clamp(bounds) >> dp.t.then_sum()).map(cap)
    assert privacy.sum_sensitivity(bounds, cap) >= one_sum, "never less than OpenDP proves for one sum"
    calibrated = privacy.sum_measurement(bounds, 0.2, cap)
    assert calibrated.scale == pytest.approx(cap * privacy.sum_measurement(bounds, 0.2).scale, rel=1e-6)
    assert calibrated.measurement.map(privacy.sum_sensitivity(bounds, cap)) <= 0.2


@pytest.mark.parametrize("cap", CAPS)
def test_a_quantiles_scale_is_opendps_for_the_cap_in_ranks(cap):
    calibrated = privacy.quantile_measurement((0.0, 1000.0), 0.5, 0.1, cap)
    assert calibrated.scale == pytest.approx(cap * privacy.quantile_measurement((0.0, 1000.0), 0.5, 0.1).scale,
                                             rel=1e-3)
    assert calibrated.measurement.map(cap) <= 0.1 * (1 + 1e-9)


def test_a_means_two_scales_multiply_by_the_cap():
    one = privacy.release_mean(1000.0, 10, (0.0, 500.0), 0.2)
    five = privacy.release_mean(1000.0, 10, (0.0, 500.0), 0.2, per_person=5)
    assert five.scale == pytest.approx(5 * one.scale, rel=1e-6)
    assert five.count_scale == pytest.approx(5 * one.count_scale, rel=1e-6)
    assert 0.0 <= five.low <= five.value <= five.high <= 500.0


@pytest.mark.parametrize("cap", [3, 5])
def test_a_persons_records_spread_over_cells_cost_one_epsilon_in_all(cap):
    """The maps are linear in the records of the person a cell holds, so k_1 + ... + k_m <= cap
    records in m disjoint cells cost at most ε together: parallel composition per person."""
    measurements = [(privacy.count_measurement(0.1, cap).measurement, 1),
                    (privacy.sum_measurement((0.0, 100.0), 0.1, cap).measurement, privacy.sum_sensitivity((0.0, 100.0))),
                    (privacy.quantile_measurement((0.0, 100.0), 0.5, 0.1, cap).measurement, 1)]
    for measurement, unit in measurements:
        for split in ([cap], [1] * cap, [cap - 1, 1]):
            assert sum(measurement.map(k * unit) for k in split) <= 0.1 * (1 + 1e-9)


def test_released_values_carry_the_caps_noise():
    draws = [privacy.release_count(100, 0.5, per_person=4) for _ in range(800)]
    assert {d.scale for d in draws} == {8.0}
    assert abs(sum(d.value - 100 for d in draws) / len(draws)) < 2.0, "zero-mean (standard error 0.4)"
    assert sum(abs(d.value - 100) for d in draws) / len(draws) == pytest.approx(8, rel=0.15)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "3"])
def test_a_cap_that_is_not_a_whole_number_from_one_is_refused(bad):
    with pytest.raises(ValueError):
        privacy.count_measurement(0.1, bad)
    with pytest.raises(ValueError):
        privacy.sum_sensitivity((0.0, 1.0), bad)


def test_settings_read_the_person_and_its_cap():
    assert PrivacySettings.resolve({"mode": "dp"}).person is None
    assert PrivacySettings.resolve({"mode": "dp"}).records_per_person == 1, "no person: each record one"
    declared = PrivacySettings.resolve({"mode": "dp", "person": "patient_id"})
    assert (declared.person, declared.records_per_person) == ("patient_id", RECORDS_PER_PERSON)
    assert PrivacySettings.resolve({"person": "pid", "records_per_person": 2}).records_per_person == 2
    for bad in ({"person": ""}, {"person": 3}, {"records_per_person": 2}, {"person": "pid", "records_per_person": 0},
                {"person": "pid", "records_per_person": True}, {"person": "pid", "records_per_person": 1001},
                {"person": "pid", "records_per_person": "5"}, {"person": "pid", "records_per_person": None}):
        with pytest.raises(ValueError):
            privacy_overrides(bad)


def test_the_person_must_be_a_field_of_the_dataset(tmp_path):
    assert person_field_problem({"person": "code"}, {"code", "population"}) is None
    assert "'pid'" in person_field_problem({"person": "pid"}, {"code", "population"})
    assert person_field_problem({"person": "code"}, {"code": True, "population": False}) is None
    assert "identifier" in person_field_problem({"person": "population"}, {"code": True, "population": False})
    doc = copy.deepcopy(VALID)
    doc["kaifang"]["disclosure"] = {"mode": "dp", "person": "code", "records_per_person": 3}
    with pytest.raises(Invalid) as unflagged:
        read(tmp_path / "unflagged", doc)
    assert "not flagged an identifier" in unflagged.value.errors["kaifang.disclosure"][0]
    doc["kaifang"]["fields"]["code"]["identifier"] = True
    assert read(tmp_path / "good", doc).disclosure["person"] == "code"
    doc["kaifang"]["disclosure"]["person"] = "patient_id"
    with pytest.raises(Invalid) as refused:
        read(tmp_path / "bad", doc)
    assert "not a field of the dataset" in refused.value.errors["kaifang.disclosure"][0]
