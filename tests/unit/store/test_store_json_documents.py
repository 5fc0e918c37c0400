"""JSON documents that wrap their records, as saved from a data API (`{"code": 200, "data":
{"list": [...]}}`): the records are found, and the load says where and what it left out."""

from __future__ import annotations

import json

import duckdb

from portal.store import ingest

RECORDS = [{"区县": "和平区", "医院数": 12}, {"区县": "河东区", "医院数": 8}, {"区县": "河西区", "医院数": 9}]
ENVELOPE = {"code": 200, "message": "success", "data": {"total": 3, "list": RECORDS}}


def _rows(result) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{result.path}')").fetchall()


def _write(tmp_path, doc, *, indent=None):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


def test_records_of_a_one_line_envelope(tmp_path, dest):
    """Saved on one line, the envelope used to be read as NDJSON: one row holding `data` as text."""
    result = ingest(_write(tmp_path, ENVELOPE), dest)
    assert [c.name for c in result.columns] == ["区县", "医院数"]
    assert _rows(result) == [("和平区", 12), ("河东区", 8), ("河西区", 9)]
    assert result.report.lines()[0] == "read 3 records from 'data.list' of the JSON document; not read: 'code', 'message'"


def test_records_of_a_pretty_printed_envelope(tmp_path, dest):
    """Over several lines, it used to be refused as a FeatureCollection without features."""
    result = ingest(_write(tmp_path, ENVELOPE, indent=2), dest)
    assert _rows(result) == [("和平区", 12), ("河东区", 8), ("河西区", 9)]
    assert (result.report.records_at, result.report.records) == ("data.list", 3)


def test_the_largest_array_of_objects_holds_the_records(tmp_path, dest):
    doc = {"meta": {"fields": [{"id": "区县"}, {"id": "医院数"}]},
           "result": {"records": [{**r, "科室": [{"名称": "内科"}, {"名称": "外科"}, {"名称": "儿科"}]} for r in RECORDS]}}
    result = ingest(_write(tmp_path, doc, indent=1), dest)
    assert result.report.records_at == "result.records" and result.report.left_out == ("meta",)
    assert [c.name for c in result.columns] == ["区县", "医院数", "科室"]  # nested arrays stay JSON text


def test_a_document_without_records_is_one_record(tmp_path, dest):
    result = ingest(_write(tmp_path, {"城市": "天津", "人口": 13866009, "区": ["和平区", "河东区"]}, indent=2), dest)
    assert _rows(result) == [("天津", 13866009, '["和平区","河东区"]')]
    assert result.report.records_at is None


def test_one_ndjson_record_on_one_line_stays_one_record(tmp_path, dest):
    path = tmp_path / "one.ndjson"
    path.write_text('{"a": 1, "b": "x"}\n', encoding="utf-8")
    assert _rows(ingest(path, dest)) == [(1, "x")]


def test_a_feature_collection_that_names_its_type_last(tmp_path, dest):
    features = [{"type": "Feature", "properties": {"名称": f"站点{i}", "说明": "x" * 40},
                 "geometry": {"type": "Point", "coordinates": [117.2, 39.1]}} for i in range(1500)]
    path = tmp_path / "stations.json"
    path.write_text(json.dumps({"features": features, "type": "FeatureCollection"}, ensure_ascii=False, indent=1),
                    encoding="utf-8")
    assert path.stat().st_size > 65536  # beyond the start the quick check reads
    result = ingest(path, dest, fmt="geojson")
    assert [c.name for c in result.columns] == ["名称", "说明", "longitude", "latitude"]
    assert result.row_count == 1500 and result.report.records_at is None
