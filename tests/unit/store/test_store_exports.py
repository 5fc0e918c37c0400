"""Exports parse back to the same rows: csv module, json, pyarrow, GeoJSON."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portal.store import EXPORT_FORMATS, Filter, QueryError, RowQuery, Sort, export, query_rows

ROOT = Path(__file__).resolve().parents[3]


def _bytes(chunks) -> bytes:
    return b"".join(chunks)


def test_formats():
    assert EXPORT_FORMATS == ("csv", "json", "ndjson", "parquet", "geojson", "xlsx")


def test_csv_parses_back(people):
    text = _bytes(export(people, "csv")).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "name", "district", "age", "score", "joined", "active"]
    assert rows[1] == ["1", "张三", "东城区", "34", "81.50", "2020-01-05", "true"]
    assert rows[4] == ["4", "赵六", "", "45", "", "2018-11-30", ""]
    assert len(rows) == 9


def test_csv_with_bom_for_excel(people):
    data = _bytes(export(people, "csv", bom=True))
    assert data.startswith(b"\xef\xbb\xbfid,") or data.startswith(b'\xef\xbb\xbf"id"')
    assert data.decode("utf-8-sig").splitlines()[1].startswith("1,")


def test_json_is_one_array_with_iso_dates(people):
    records = json.loads(_bytes(export(people, "json")))
    assert len(records) == 8
    assert records[0] == {"id": 1, "name": "张三", "district": "东城区", "age": 34,
                          "score": 81.5, "joined": "2020-01-05", "active": True}
    assert records[3]["district"] is None


def test_ndjson_one_object_a_line(people):
    lines = _bytes(export(people, "ndjson")).decode().splitlines()
    assert len(lines) == 8
    assert json.loads(lines[7])["name"] == "吴十"


def test_timestamps_and_non_finite_floats_in_json(make_table):
    table = make_table("t,x\n2023-01-05 08:30:00,1.5\n2023-01-06 09:00:00.250,inf\n",
                       overrides={"x": "float"})
    records = json.loads(_bytes(export(table, "json")))
    assert records == [{"t": "2023-01-05T08:30:00Z", "x": 1.5},
                       {"t": "2023-01-06T09:00:00.25Z", "x": None}]


def test_parquet_is_the_file_itself(people):
    assert _bytes(export(people, "parquet")) == people.path.read_bytes()


def test_filtered_sorted_parquet(people):
    query = RowQuery(filters=(Filter("district", "eq", "东城区"),), sort=(Sort("age"),),
                     fields=("id", "age"))
    table = pq.read_table(pa.BufferReader(_bytes(export(people, "parquet", query=query))))
    assert table.to_pylist() == [{"id": 3, "age": 28}, {"id": 8, "age": 28}, {"id": 1, "age": 34}]


def test_export_follows_the_query_but_not_its_limit(people):
    query = RowQuery(filters=(Filter("age", "is_null", False),), sort=(Sort("age", True),),
                     fields=("id",), limit=1)
    records = json.loads(_bytes(export(people, "json", query=query)))
    expected = [r[0] for r in query_rows(people, RowQuery(**{**query.__dict__, "limit": 100})).rows]
    assert [r["id"] for r in records] == expected == [6, 4, 1, 3, 5, 8]


def test_empty_results_are_still_valid(people):
    query = RowQuery(filters=(Filter("age", "gt", 1000),))
    assert json.loads(_bytes(export(people, "json", query=query))) == []
    assert _bytes(export(people, "ndjson", query=query)) == b"\n"
    table = pq.read_table(pa.BufferReader(_bytes(export(people, "parquet", query=query))))
    assert table.num_rows == 0 and table.column_names[0] == "id"


def test_geojson_from_coordinates(make_table):
    table = make_table("name,lon,lat\n天安门,116.3975,39.9087\n未知,,\n")
    collection = json.loads(_bytes(export(table, "geojson", coordinates=("lon", "lat"))))
    assert collection["type"] == "FeatureCollection"
    first, second = collection["features"]
    assert first == {"type": "Feature", "properties": {"name": "天安门"},
                     "geometry": {"type": "Point", "coordinates": [116.3975, 39.9087]}}
    assert second["geometry"] is None


def test_geojson_round_trips_a_geometry_column(tmp_path, dest):
    from portal.store import StoredTable, ingest

    polygon = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    source = tmp_path / "a.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"n": 1}, "geometry": polygon}]}), "utf-8")
    result = ingest(source, dest)
    table = StoredTable(result.path, result.columns)
    collection = json.loads(_bytes(export(table, "geojson")))
    assert collection["features"] == [
        {"type": "Feature", "geometry": polygon, "properties": {"n": 1}}
    ]


@pytest.mark.parametrize(
    ("fmt", "options", "code"),
    [
        ("xml", {}, "unsupported-format"),
        ("geojson", {}, "no-coordinates"),
        ("geojson", {"coordinates": ("name", "age")}, "no-coordinates"),
        ("geojson", {"coordinates": ("x", "y")}, "unknown-column"),
        ("csv", {"query": RowQuery(fields=("nope",))}, "unknown-column"),
    ],
)
def test_bad_exports_fail_before_streaming(people, fmt, options, code):
    with pytest.raises(QueryError) as caught:
        export(people, fmt, **options)
    assert caught.value.code == code


def test_large_exports_stream_in_many_chunks(make_table):
    lines = ["id,name"] + [f"{i},名字{i}" for i in range(50_000)]
    table = make_table("\n".join(lines) + "\n")
    for fmt in ("csv", "json", "ndjson", "parquet"):
        query = RowQuery() if fmt == "parquet" else None
        chunks = list(export(table, fmt, query=query))
        assert len(chunks) > 2, fmt
    rows = list(csv.reader(io.StringIO(_bytes(export(table, "csv")).decode())))
    assert len(rows) == 50_001 and rows[-1] == ["49999", "名字49999"]


FLIGHTS_EXPORT = """
import resource, sys
from pathlib import Path
import duckdb
from portal.store import StoredTable, export, ingest
folder = Path(sys.argv[1])
duckdb.sql("SET enable_progress_bar = false")  # over 2 s on a busy machine it prints to stdout
duckdb.sql(f'''COPY (SELECT 2013 AS year, 1 + range % 12 AS month, 1 + range % 28 AS day,
  range % 2400 AS dep_time, (range % 120) - 20 AS dep_delay, ['UA','AA','B6','DL'][1 + range % 4] AS carrier,
  range % 5000 AS flight, 'N' || (range % 9000)::VARCHAR || 'UA' AS tailnum, ['JFK','LGA','EWR'][1 + range % 3] AS origin,
  ['IAH','MIA','BQN','ATL','ORD'][1 + range % 5] AS dest, 30 + range % 600 AS air_time, 100 + range % 4900 AS distance,
  TIMESTAMP '2013-01-01 05:00:00' + INTERVAL (range) MINUTE AS time_hour
  FROM range(336776)) TO '{folder}/flights.csv' (HEADER)''')
result = ingest(folder / "flights.csv", folder / "store")
table = StoredTable(result.path, result.columns)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
total = 0
for fmt in ("csv", "json", "ndjson", "csv", "json", "ndjson"):
    total += sum(len(chunk) for chunk in export(table, fmt))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(result.row_count, total, (peak - base) // 1024)
"""


def test_flights_sized_export_keeps_memory_flat(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", FLIGHTS_EXPORT, str(tmp_path)], capture_output=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    # DuckDB draws its progress bar on stdout for a statement over two seconds (a busy machine):
    # read the figures from their own line.
    figures = re.findall(r"(?m)^(\d+) (\d+) (-?\d+)\s*$", done.stdout.decode())
    assert figures, done.stdout
    rows, exported, growth_mb = map(int, figures[-1])
    assert rows == 336_776
    assert exported > 300 * 1024 * 1024  # six full exports, over 300 MB in all
    assert growth_mb < 120  # the peak grew by a bounded amount, far below what went through


def test_xlsx_continues_on_further_sheets_each_with_its_header(make_table):
    """Excel's 1,048,576-row limit, at a small scale: rows beyond a sheet go on the next one."""
    import openpyxl

    from portal.store.exports import _select
    from portal.store.workbooks import xlsx_file

    table = make_table("n,t\n" + "".join(f"{i},2024-01-0{1 + i % 9} 00:00:00\n" for i in range(5)))
    columns, statement, params = _select(table, RowQuery())
    chunks, size = xlsx_file(columns, statement, params, sheet_rows=2)
    body = b"".join(chunks)
    assert size == len(body)
    book = openpyxl.load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["data", "data (2)", "data (3)"]
    sheets = [list(book[name].values) for name in book.sheetnames]
    assert all(rows[0] == ("n", "t (UTC)") for rows in sheets)
    assert [r[0] for rows in sheets for r in rows[1:]] == [0, 1, 2, 3, 4]
