"""Disclosure rules on plain numbers: suppression, cell-key noise, rounding, dominance."""

from __future__ import annotations

import statistics

import pytest

from portal.analysis.disclosure import (
    Aggregation,
    CellInput,
    CellKeyNoise,
    Rules,
    dominated,
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
    assert spread <= {130, 135, 140} and len(spread) >= 2


def test_counts_are_rounded_to_base_and_never_below_min_cell():
    for key in range(300):
        value = release_count(10, key, "count", RULES, NOISE)
        assert value % 5 == 0 and value >= 10


def test_count_noise_is_unbiased_over_many_cells():
    errors = [release_count(1000, key, "count", RULES, NOISE) - 1000 for key in range(4000)]
    assert abs(statistics.fmean(errors)) < 0.3
    assert max(abs(e) for e in errors) <= 5


def test_rounding_and_significant_figures():
    assert [round_to_base(v, 5) for v in (8, 12, 13, 17, 0)] == [10, 10, 15, 15, 0]
    assert significant(123456.0, 3) == 123000.0 and significant(0.012345, 3) == 0.0123


def test_dominance_rule():
    assert dominated(1000.0, 20, (600.0, 10.0), "sum", RULES)
    assert dominated(1000.0, 20, (400.0, 300.0), "sum", RULES)
    assert not dominated(1000.0, 20, (100.0, 90.0), "sum", RULES)
    assert dominated(50.0, 20, (600.0, 0.0), "mean", RULES), "mean * n is the total"


def _cell(records, key=7, contributors=None, top=None):
    contributors = contributors or (records, records)
    return CellInput(records, key, contributors, top or ((1.0, 1.0), (1.0, 1.0)))


def test_release_rows_suppresses_small_groups_and_hides_their_keys():
    rows = [("和平区", 120, 5000.0), ("河东区", 9, 300.0), ("河西区", 40, 800.0)]
    cells = [_cell(120), _cell(9), _cell(40, top=((1.0, 1.0), (700.0, 50.0)))]
    aggs = [Aggregation(1, "count", False), Aggregation(2, "sum", True)]
    out = release_rows(rows, cells, aggs, RULES, NOISE)
    keys = [r[0] for r in out.rows]
    assert keys == ["和平区", "河西区"] and out.suppressed_groups == 1
    assert out.rows[1][2] is None and out.suppressed_cells == 1, "河西区's sum is dominated by one record"
    assert abs(out.rows[0][2] - 5000) <= 150 and out.rows[0][1] in (115, 120, 125)
    assert any("suppressed" in n for n in out.notes) and any("dominance" in n for n in out.notes)


def test_magnitudes_need_min_cell_contributors():
    rows = [("a", 50, 1234.0)]
    cells = [_cell(50, contributors=(50, 4))]
    out = release_rows(rows, cells, [Aggregation(1, "count", False), Aggregation(2, "mean", True)], RULES, NOISE)
    assert out.rows[0][2] is None


def test_overrides_are_checked():
    assert Rules.with_overrides({"min_cell": 20}).min_cell == 20
    with pytest.raises(ValueError):
        Rules.with_overrides({"min_cell": 1})
    with pytest.raises(ValueError):
        Rules.with_overrides({"nonsense": 1})
