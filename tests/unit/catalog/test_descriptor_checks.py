"""Descriptors as publishers write them: names instead of codes, plain department names, and any
malformed shape answered by one `Invalid` naming the field, never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.catalog.descriptors import derive_slug
from portal.catalog.packages import DESCRIPTOR, read_package
from portal.errors import Invalid

VALID = {
    "name": "districts", "title": "Districts", "description": "Test districts.",
    "licenses": [{"name": "CC0-1.0", "title": "CC0", "path": "https://example.org/cc0"}],
    "keywords": ["districts"],
    "resources": [{"name": "data", "path": "data.csv", "format": "csv", "encoding": "utf-8",
                   "schema": {"fields": [{"name": "code", "type": "string"},
                                         {"name": "population", "type": "integer"}]}}],
    "kaifang": {"title_zh": "行政区", "theme": "geospatial", "open_class": "open",
                "department": {"slug": "stats-bureau", "name_zh": "市统计局", "name_en": "Statistics Bureau"},
                "update_frequency": "annual", "temporal_coverage": {"start": "2020-01-01", "end": None},
                "fields": {"code": {"description_zh": "代码", "identifier": False}}},
}


def read(folder: Path, doc) -> object:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DESCRIPTOR).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return read_package(folder)


def with_ext(**changes) -> dict:
    doc = copy.deepcopy(VALID)
    doc["kaifang"].update(changes)
    return doc


def test_a_closed_dataset_says_why_and_only_a_closed_one(tmp_path):
    with pytest.raises(Invalid) as info:
        read(tmp_path / "a", with_ext(open_class="closed"))
    assert set(info.value.errors) == {"kaifang.closed_reason"}
    with pytest.raises(Invalid) as info:
        read(tmp_path / "b", with_ext(closed_reason="含个人信息"))
    assert "only a closed dataset has one" in info.value.errors["kaifang.closed_reason"][0]
    assert read(tmp_path / "c", with_ext(open_class="closed", closed_reason="含个人信息")).closed_reason == "含个人信息"


@pytest.mark.parametrize("given_theme", ["geospatial", "地理空间", "Geospatial", " GEOSPATIAL "])
def test_theme_by_code_or_name(tmp_path, given_theme):
    assert read(tmp_path, with_ext(theme=given_theme)).theme == "geospatial"


def test_theme_names_with_ampersand(tmp_path):
    assert read(tmp_path, with_ext(theme="Resources and Environment")).theme == "environment"
    assert read(tmp_path, with_ext(theme="资源环境")).theme == "environment"


@pytest.mark.parametrize(("spelling", "code"), [
    ("yearly", "annual"), ("Annually", "annual"), ("每年", "annual"), ("每月", "monthly"),
    ("按季度", "quarterly"), ("weekly", "weekly"), ("每日", "daily"), ("real-time", "realtime"),
    ("不定期", "irregular"), (None, "irregular"), ("static", "static"),
])
def test_update_frequency_spellings(tmp_path, spelling, code):
    assert read(tmp_path, with_ext(update_frequency=spelling)).update_frequency == code


def test_plain_department_name_derives_a_slug(tmp_path):
    spec = read(tmp_path, with_ext(department="民政局"))
    assert spec.department.slug == "min-zheng-ju"
    assert spec.department.name_zh == "民政局" and spec.department.by_name


def test_department_object_without_slug(tmp_path):
    spec = read(tmp_path, with_ext(department={"name_zh": "市统计局", "name_en": "Statistics Bureau"}))
    assert spec.department.slug == "shi-tong-ji-ju"


def test_english_department_name(tmp_path):
    spec = read(tmp_path, with_ext(department="Civil Affairs Bureau"))
    assert spec.department.slug == "civil-affairs-bureau"
    assert spec.department.name_en == "Civil Affairs Bureau"


def test_derive_slug_keeps_ascii_words():
    assert derive_slug("市12345热线 Office") == "shi-12345-re-xian-office"


@pytest.mark.parametrize(("change", "field"), [
    ({"department": 12}, "kaifang.department"),
    ({"department": {"slug": "Bad Slug!"}}, "kaifang.department.slug"),
    ({"theme": "space"}, "kaifang.theme"),
    ({"theme": ["geospatial"]}, "kaifang.theme"),
    ({"update_frequency": "fortnightly"}, "kaifang.update_frequency"),
    ({"tags_zh": "区划"}, "kaifang.tags_zh"),
    ({"fields": {"code": {"identifier": "yes"}}}, "kaifang.fields.code.identifier"),
    ({"temporal_coverage": "2020"}, "kaifang.temporal_coverage"),
    ({"temporal_coverage": {"start": "2023-13-01"}}, "kaifang.temporal_coverage.start"),
    ({"temporal_coverage": {"start": "2020-01-01", "end": 5}}, "kaifang.temporal_coverage.end"),
    ({"temporal_coverage": {"start": "2021-01-01", "end": "2020-12-31"}}, "kaifang.temporal_coverage.end"),
    ({"fields": {"code": "行政区划代码"}}, "kaifang.fields.code"),
    ({"fields": {"not_in_schema": 3}}, "kaifang.fields.not_in_schema"),
    ({"fields": {"code": {"aggregates": "合计"}}}, "kaifang.fields.code.aggregates"),
    ({"fields": {"code": {"aggregates": [1, 2]}}}, "kaifang.fields.code.aggregates"),
])
def test_malformed_field_is_named(tmp_path, change, field):
    with pytest.raises(Invalid) as info:
        read(tmp_path, with_ext(**change))
    assert field in info.value.errors
    assert field in info.value.detail


def test_aggregate_rows_are_read_per_field(tmp_path):
    spec = read(tmp_path, with_ext(fields={"code": {"aggregates": ["合计", "全市"]}}))
    assert {f.name: f.aggregates for f in spec.fields} == {"code": ("合计", "全市"), "population": ()}


def test_root_that_is_not_an_object(tmp_path):
    with pytest.raises(Invalid) as info:
        read(tmp_path, [1, 2])
    assert "must be a JSON object" in info.value.detail


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PATHS = [(), ("name",), ("title",), ("licenses",), ("licenses", 0), ("keywords",), ("sources",),
         ("resources",), ("resources", 0), ("resources", 0, "path"), ("resources", 0, "schema"),
         ("resources", 0, "schema", "fields"), ("resources", 0, "schema", "fields", 0),
         ("resources", 0, "sheet"), ("kaifang",), ("kaifang", "department"), ("kaifang", "theme"),
         ("kaifang", "fields"), ("kaifang", "fields", "code"), ("kaifang", "temporal_coverage"),
         ("kaifang", "temporal_coverage", "start"), ("kaifang", "temporal_coverage", "end"),
         ("kaifang", "contact"), ("kaifang", "coordinates"), ("kaifang", "spatial_coverage"),
         ("kaifang", "update_frequency"), ("kaifang", "synthetic"), ("kaifang", "cluster_by"),
         ("kaifang", "disclosure"), ("kaifang", "open_class")]


def replaced(doc: dict, path: tuple, value) -> object:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_any_shape_gives_a_spec_or_one_clear_invalid(folder, path, value):
    try:
        spec = read(folder, replaced(VALID, path, value))
    except Invalid as exc:
        assert exc.code == "bad-descriptor"
        assert exc.errors, "the fields at fault are named"
        field = next(iter(exc.errors))
        assert field in exc.detail
    else:
        assert spec.slug and spec.theme and spec.department.slug


@pytest.mark.parametrize(("given_theme", "suggested"), [("交通运输", "'transport' (道路交通"), ("weathr", "'weather'"),
                                                       ("Educaton", "'education'")])
def test_unknown_theme_suggests_the_closest(tmp_path, given_theme, suggested):
    with pytest.raises(Invalid) as info:
        read(tmp_path, with_ext(theme=given_theme))
    assert f"did you mean {suggested}" in info.value.detail
