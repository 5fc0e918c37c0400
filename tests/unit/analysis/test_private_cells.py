"""The store side of the ε mode: cells summarised in one pass, sums clamped to the bounds."""

from __future__ import annotations

import pytest

from portal import store
from portal.analysis.private_cells import level_text, level_value, read_cells

ROWS = "group,flag,x\na,true,5\na,false,1e9\na,true,-1e9\nb,false,\nb,true,40\nc,true,7\nd,true,9\n"
KINDS = {"group": "text", "flag": "boolean", "x": "float"}


@pytest.fixture
def table(tmp_path):
    source = tmp_path / "t.csv"
    source.write_text(ROWS, encoding="utf-8")
    ingested = store.ingest(source, tmp_path / "stored")
    return {"t": store.StoredTable(ingested.path, ingested.columns)}


def plan(*steps):
    return {"version": 1, "action": "collect", "source": "t", "steps": list(steps)}


def test_sums_are_clamped_to_the_bounds_in_the_store(table):
    cells = read_cells(plan(), [], {"group": ("a", "b", "c")}, KINDS, {"x": (0.0, 100.0)}, [], table)
    assert set(cells) == {("a",), ("b",), ("c",)}, "d is not a declared level: its records are left out"
    a, b = cells[("a",)], cells[("b",)]
    assert (a.records, a.counts["x"], a.totals["x"]) == (3, 3, 5 + 100 + 0), "1e9 counts as 100, -1e9 as 0"
    assert (b.records, b.counts["x"], b.totals["x"]) == (2, 1, 40), "a null is a record but no value"


def test_filters_apply_and_quantile_values_are_read_only_when_asked(table):
    steps = [{"op": "filter", "predicate": {"op": "ne", "args": [{"op": "col", "name": "group"},
                                                                  {"op": "lit", "value": "c"}]}}]
    cells = read_cells(plan(*steps), steps, {"flag": ("false", "true")}, KINDS, {}, ["x"], table)
    assert set(cells) == {("true",), ("false",)}
    assert sorted(cells[("true",)].values["x"]) == [-1e9, 5.0, 9.0, 40.0]
    assert cells[("false",)].values["x"] == [1e9] and cells[("false",)].records == 2


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (3, "3"), (3.0, "3"), ("男", "男"), (None, None)])
def test_key_values_match_levels_as_text(value, text):
    assert level_text(value) == text


@pytest.mark.parametrize(("level", "kind", "value"), [("true", "boolean", True), ("3", "integer", 3),
                                                     ("2.5", "float", 2.5), ("男", "text", "男")])
def test_levels_become_values_of_their_column_type(level, kind, value):
    assert level_value(level, kind) == value
