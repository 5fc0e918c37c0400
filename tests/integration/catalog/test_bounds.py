"""Public bounds and levels of conditional data: declared in the descriptor's Table Schema
constraints, required on every numeric field of conditional data, stored on the field record,
and enforced at ingest by clamping (counted on the version)."""

from __future__ import annotations

import json

import duckdb
import pytest
from sqlalchemy import select

from portal.catalog.models import Field, Version
from portal.db import session_scope
from portal.errors import Invalid
from tests.factories import CSV, dataset_folder, load


def constrain(folder, **constraints):
    """Add Table Schema constraints to fields of the descriptor in `folder`."""
    path = folder / "datapackage.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    for field in doc["resources"][0]["schema"]["fields"]:
        if field["name"] in constraints:
            field["constraints"] = constraints[field["name"]]
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return folder


def test_conditional_numeric_field_without_bounds_is_refused_at_load(app, tmp_path):
    folder = dataset_folder(tmp_path / "src", open_class="conditional")
    with pytest.raises(Invalid) as refused:
        load(app, folder)
    assert "population" in str(refused.value.errors)
    assert "constraints.minimum and constraints.maximum" in str(refused.value.errors)


def test_undeclared_numeric_column_of_conditional_data_is_refused(app, tmp_path):
    folder = dataset_folder(tmp_path / "src", open_class="conditional",
                            csv="code,name,population,founded,area\n01,a,5,2000-01-01,1.5\n")
    constrain(folder, population={"minimum": 0, "maximum": 10_000_000})
    with pytest.raises(Invalid) as refused:
        load(app, folder)
    assert refused.value.code == "missing-bounds" and "area" in str(refused.value)


@pytest.mark.parametrize("constraints", [
    {"minimum": 10, "maximum": 1}, {"minimum": "0", "maximum": 5}, {"minimum": 0.5, "maximum": 9},
    {"minimum": 0, "maximum": 1e300}, {"enum": []},
])
def test_malformed_constraints_are_refused(app, tmp_path, constraints):
    folder = constrain(dataset_folder(tmp_path / "src"), population=constraints)
    with pytest.raises(Invalid):
        load(app, folder)


def test_bounds_and_levels_are_stored_and_values_outside_are_clamped(app, tmp_path):
    folder = dataset_folder(tmp_path / "src", open_class="conditional")
    constrain(folder, population={"minimum": 0, "maximum": 900000}, name={"enum": ["和平区", "河东区", "河西区"]})
    outcome = load(app, folder)
    assert outcome.version.number == 1
    with session_scope(app) as s:
        fields = {f.name: f for f in s.scalars(select(Field))}
        version = s.scalar(select(Version))
        assert (fields["population"].minimum, fields["population"].maximum) == (0, 900000)
        assert fields["name"].levels == ["和平区", "河东区", "河西区"]
        assert version.clamped == {"population": 1}  # 河西区's 990000 is above the declared maximum
        stored = app.config["DATA_DIR"] + "/" + version.storage_path
    rows = duckdb.sql(f"SELECT code, population FROM read_parquet('{stored}')").fetchall()
    assert rows == [("010101", 355000), ("010102", 860000), ("010103", 900000)]


def test_open_data_is_not_clamped(app, tmp_path):
    folder = constrain(dataset_folder(tmp_path / "src", csv=CSV), population={"minimum": 0, "maximum": 900000})
    load(app, folder)
    with session_scope(app) as s:
        assert s.scalar(select(Version.clamped)) is None


def test_clamping_keeps_missing_values_missing(app, tmp_path):
    """A missing value is not stored as the lower bound when other values are clamped (DuckDB's
    `least` and `greatest` skip nulls: it was, and a mean then counted it as 0, decision 0027a).
    Whether a field may have gaps is the data dictionary's word (`required`, decision 0028e),
    not the file's."""
    csv = "code,name,population,founded\n010101,和平区,355000,1404-12-23\n010102,河东区,,\n010103,河西区,990000,\n"
    folder = dataset_folder(tmp_path / "src", open_class="conditional", csv=csv)
    constrain(folder, population={"minimum": 0, "maximum": 900000})
    load(app, folder)
    with session_scope(app) as s:
        version = s.scalar(select(Version))
        assert version.clamped == {"population": 1}
        stored = app.config["DATA_DIR"] + "/" + version.storage_path
    rows = duckdb.sql(f"SELECT code, population FROM read_parquet('{stored}') ORDER BY code").fetchall()
    assert rows == [("010101", 355000), ("010102", None), ("010103", 900000)]



@pytest.mark.parametrize("open_class", ["conditional", "open"])
def test_a_required_field_with_a_gap_is_refused_and_nothing_is_stored(app, tmp_path, open_class):
    """`constraints.required` is checked against the records at ingest: disclosure control divides
    a mean of a required field by the count (decision 0028e), so a gap would count as a value.
    The publisher is told which field, how many gaps and where the first is; the version the
    dataset had stays current."""
    folder = constrain(dataset_folder(tmp_path / "src", open_class=open_class),
                       population={"minimum": 0, "maximum": 10_000_000, "required": True})
    load(app, folder)
    gapped = "code,name,population,founded\n01,a,5,2000-01-01\n02,b,,2000-01-02\n03,c,7,\n04,d,,\n"
    (folder / "data.csv").write_text(gapped, encoding="utf-8")
    with pytest.raises(Invalid) as refused:
        load(app, folder)
    assert refused.value.code == "missing-required"
    assert refused.value.errors == {"population": ["2 record(s) without a value, the first is record 2"]}
    with session_scope(app) as s:
        assert [v.row_count for v in s.scalars(select(Version))] == [3]


def test_a_required_field_without_gaps_loads(app, tmp_path):
    """The common case: `founded` has a gap and is not required. (That it reads the file's own
    null counts and scans nothing: tests/unit/store/test_store_constraints.py.)"""
    folder = constrain(dataset_folder(tmp_path / "src"), population={"required": True})
    outcome = load(app, folder)
    assert outcome.version is not None
    with session_scope(app) as s:
        assert s.scalar(select(Field.required).where(Field.name == "population")) is True
