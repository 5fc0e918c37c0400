"""XLSX, JSON, NDJSON and GeoJSON sources end in the same typed table as CSV."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest
from openpyxl import Workbook

from portal.store import Column, IngestError, ingest


def _read(path) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall()


def test_xlsx_first_sheet_with_typed_cells(tmp_path, dest):
    book = Workbook()
    sheet = book.active
    sheet.append(["代码", "名称", "人数", "金额", "日期", "时间", "有效", None])
    sheet.append(["010101", "甲", 3, 12.5, dt.datetime(2023, 1, 5), dt.datetime(2023, 1, 5, 8, 30), True])
    sheet.append([])
    sheet.append(["020202", "乙", 4.0, 7.25, dt.datetime(2023, 2, 1), dt.datetime(2023, 2, 1, 9, 0), False])
    book.create_sheet("ignored").append(["x"])
    source = tmp_path / "people.xlsx"
    book.save(source)
    result = ingest(source, dest)
    assert result.source_format == "xlsx" and result.encoding is None
    assert [c.type for c in result.columns] == [
        "text", "text", "integer", "float", "date", "timestamp", "boolean",
    ]
    assert _read(result.path) == [
        ("010101", "甲", 3, 12.5, dt.date(2023, 1, 5), dt.datetime(2023, 1, 5, 8, 30), True),
        ("020202", "乙", 4, 7.25, dt.date(2023, 2, 1), dt.datetime(2023, 2, 1, 9, 0), False),
    ]


def test_json_array_of_objects(tmp_path, dest):
    records = [{"id": 1, "name": "甲", "tags": ["a", "b"]}, {"id": 2, "extra": 1.5, "name": None}]
    source = tmp_path / "records.json"
    source.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    result = ingest(source, dest)
    assert result.columns == (
        Column("id", "text"), Column("name", "text"), Column("tags", "text"),
        Column("extra", "decimal"),
    ), "an `id` is a code: text"
    assert _read(result.path) == [("1", "甲", '["a","b"]', None), ("2", None, None, Decimal("1.5"))]


def test_ndjson(tmp_path, dest):
    source = tmp_path / "records.ndjson"
    source.write_text('{"a": 1, "b": true}\n\n{"a": 2, "b": false, "c": "010"}\n', "utf-8")
    result = ingest(source, dest)
    assert [c.type for c in result.columns] == ["integer", "boolean", "text"]
    assert _read(result.path) == [(1, True, None), (2, False, "010")]


def test_ndjson_detected_from_content(tmp_path, dest):
    source = tmp_path / "records.json"
    source.write_text('{"a": 1}\n{"a": 2}\n', "utf-8")
    assert ingest(source, dest).row_count == 2


def test_geojson_points_give_longitude_latitude(tmp_path, dest):
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "天安门", "visitors": 10},
             "geometry": {"type": "Point", "coordinates": [116.3975, 39.9087]}},
            {"type": "Feature", "properties": {"name": "故宫", "visitors": 20},
             "geometry": {"type": "Point", "coordinates": [116.3972, 39.9169]}},
        ],
    }
    source = tmp_path / "places.geojson"
    source.write_text(json.dumps(collection, ensure_ascii=False, indent=2), "utf-8")
    result = ingest(source, dest)
    assert [c.name for c in result.columns] == ["name", "visitors", "longitude", "latitude"]
    assert _read(result.path)[0] == ("天安门", 10, Decimal("116.3975"), Decimal("39.9087"))


def test_geojson_points_go_to_the_columns_the_descriptor_names(tmp_path, dest):
    """docs/datasets.md: the point's coordinates are the two fields `kaifang.coordinates` names,
    so a publisher may call them 经度/纬度; a property of that name is refused, not overwritten."""
    features = [{"type": "Feature", "properties": {"name": "天安门"},
                 "geometry": {"type": "Point", "coordinates": [116.3975, 39.9087]}}]
    source = tmp_path / "places.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8")
    result = ingest(source, dest, point_columns=("经度", "纬度"))
    assert [c.name for c in result.columns] == ["name", "经度", "纬度"]
    assert _read(result.path) == [("天安门", Decimal("116.3975"), Decimal("39.9087"))]
    features[0]["properties"]["纬度"] = 1.5
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8")
    with pytest.raises(IngestError) as info:
        ingest(source, dest, point_columns=("经度", "纬度"))
    assert info.value.code == "duplicate-column" and info.value.column == "纬度"
    assert "feature 1" in info.value.message and "kaifang.coordinates" in info.value.message
    assert sorted(dest.iterdir()) == [result.path]


def test_geojson_other_geometries_are_kept_as_geojson_text(tmp_path, dest):
    polygon = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "区"}, "geometry": polygon},
    ]}
    source = tmp_path / "areas.geojson"
    source.write_text(json.dumps(collection), "utf-8")
    result = ingest(source, dest)
    assert result.columns == (Column("name", "text"), Column("geometry", "geometry"))
    assert json.loads(_read(result.path)[0][1]) == polygon


def test_json_keys_that_look_like_numbers_are_still_names(tmp_path, dest):
    source = tmp_path / "years.json"
    source.write_text(json.dumps([{"2019": 1, "2020": 2}, {"2019": 3, "2020": 4}]), "utf-8")
    result = ingest(source, dest)
    assert [c.name for c in result.columns] == ["2019", "2020"]
    assert _read(result.path) == [(1, 2), (3, 4)]
