"""Ingest of delimited files: encodings, compression, delimiters, type inference, overrides."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from portal.store import Column, IngestError, ingest

TEXT = "区划代码,名称,人口,面积,邮编\n110101,东城区,708829,41.84,100010\n110102,西城区,1106214,50.53,100032\n"


def _read(path: Path) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall()


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("gb18030", b"", "gb18030"),
        ("gbk", b"", "gb18030"),
        ("utf-16-le", b"\xff\xfe", "utf-16-le"),
        ("utf-16-be", b"\xfe\xff", "utf-16-be"),
    ],
)
def test_each_encoding_reads_the_same_rows(tmp_path, dest, encoding, prefix, expected):
    source = tmp_path / "regions.csv"
    source.write_bytes(prefix + TEXT.encode(encoding))
    result = ingest(source, dest)
    assert result.encoding == expected
    assert result.row_count == 2
    assert [c.name for c in result.columns] == ["区划代码", "名称", "人口", "面积", "邮编"]
    assert _read(result.path) == [
        ("110101", "东城区", 708829, Decimal("41.84"), "100010"),
        ("110102", "西城区", 1106214, Decimal("50.53"), "100032"),
    ], "division codes and postcodes are codes: text, by their names"
    assert [p.name for p in dest.iterdir()] == [result.path.name]  # no temp file left


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_gzip_is_read_transparently(tmp_path, dest, encoding):
    source = tmp_path / "regions.csv.gz"
    source.write_bytes(gzip.compress(TEXT.encode(encoding)))
    result = ingest(source, dest)
    assert result.row_count == 2
    assert _read(result.path)[1][1] == "西城区"
    assert result.source_bytes == source.stat().st_size


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_delimiter_is_detected(tmp_path, dest, delimiter):
    source = tmp_path / "data.txt"
    source.write_text(TEXT.replace(",", delimiter), encoding="utf-8")
    result = ingest(source, dest)
    assert len(result.columns) == 5
    assert _read(result.path)[0][:2] == ("110101", "东城区")


def test_result_describes_the_stored_file(tmp_path, dest):
    source = tmp_path / "regions.csv"
    source.write_text(TEXT, encoding="utf-8")
    result = ingest(source, dest)
    assert result.checksum == hashlib.sha256(source.read_bytes()).hexdigest()
    assert result.byte_size == result.path.stat().st_size
    assert result.source_bytes == len(TEXT.encode())
    assert result.source_format == "csv"
    assert pq.ParquetFile(result.path).metadata.num_rows == result.row_count
    assert result.path.parent == dest and result.path.name.startswith(result.checksum[:16])


def test_types_are_inferred(tmp_path, dest):
    source = tmp_path / "types.csv"
    source.write_text(
        "i,f,d,b,day,ts,code,postal,t,empty\n"
        "1,1.5,12.50,true,2023-01-05,2023-01-05 08:30:00,010101,030001,abc,\n"
        "-20,2.25e3,3.10,FALSE,2023-12-31,2023-12-31T23:59:59,020202,100010,def,NA\n"
        ",0.001,,,,,,,,\n",
        encoding="utf-8",
    )
    result = ingest(source, dest)
    assert [c.type for c in result.columns] == [
        "integer", "float", "decimal", "boolean", "date", "timestamp", "text", "text", "text",
        "text",
    ]
    rows = _read(result.path)
    assert rows[0] == (
        1, 1.5, Decimal("12.50"), True, dt.date(2023, 1, 5), dt.datetime(2023, 1, 5, 8, 30),
        "010101", "030001", "abc", None,
    )
    assert rows[1][1] == 2250.0 and rows[1][3] is False
    assert rows[2] == (None, 0.001, None, None, None, None, None, None, None, None)


def test_varying_scales_are_float_and_equal_scales_decimal(tmp_path, dest):
    source = tmp_path / "numbers.csv"
    source.write_text("price,reading,mixed\n5,1.5,1.25\n7.50,2.5,3.125\n", encoding="utf-8")
    result = ingest(source, dest)
    assert result.columns == (
        Column("price", "decimal"), Column("reading", "decimal"), Column("mixed", "float"),
    )
    assert _read(result.path)[0] == (Decimal("5.00"), Decimal("1.5"), 1.25)


def test_overrides_win_over_inference(tmp_path, dest):
    source = tmp_path / "codes.csv"
    source.write_text("code,amount,flag\n110101,3,1\n120202,4,0\n", encoding="utf-8")
    result = ingest(source, dest, overrides={"code": "integer", "amount": "text", "flag": "boolean"})
    assert [c.type for c in result.columns] == ["integer", "text", "boolean"]
    assert _read(result.path) == [(110101, "3", True), (120202, "4", False)]


def test_a_declared_integer_never_drops_a_leading_zero(tmp_path, dest):
    source = tmp_path / "codes.csv"
    source.write_text("code,n\n110101,3\n010101,4\n", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        ingest(source, dest, overrides={"code": "integer"})
    assert info.value.code == "type-conflict" and info.value.column == "code"
    assert "'010101'" in info.value.message and "declare the column a string" in info.value.message
    assert list(dest.iterdir()) == []


def test_a_value_past_the_sample_triggers_full_inference(tmp_path, dest, monkeypatch):
    from portal.store import measures

    monkeypatch.setattr(measures, "SAMPLE_ROWS", 3)
    lines = ["code,price,day,n"] + [f"{i + 100},{i}.25,2023-01-0{i % 9 + 1},{i}" for i in range(5)]
    lines += ["0123,9.125,2023-01-01 10:00:00,x"]
    source = tmp_path / "late.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(source, dest)
    assert [c.type for c in result.columns] == ["text", "float", "timestamp", "text"]
    assert _read(result.path)[-1] == ("0123", 9.125, dt.datetime(2023, 1, 1, 10), "x")


def test_quoted_fields_with_delimiters_and_newlines(tmp_path, dest):
    source = tmp_path / "quoted.csv"
    source.write_text('name,note\n"Li, Wei","line one\nline two"\n"say ""hi""",x\n', "utf-8")
    result = ingest(source, dest)
    assert _read(result.path) == [("Li, Wei", "line one\nline two"), ('say "hi"', "x")]


def test_header_only_gives_an_empty_table(tmp_path, dest):
    source = tmp_path / "empty.csv"
    source.write_text("a,b\n", encoding="utf-8")
    result = ingest(source, dest)
    assert result.row_count == 0
    assert result.columns == (Column("a", "text"), Column("b", "text"))


def test_progress_reports_bytes(tmp_path, dest):
    source = tmp_path / "big.csv"
    duckdb.sql(
        f"COPY (SELECT range AS id, range * 0.5 AS half FROM range(300000)) TO '{source}' (HEADER)"
    )
    calls = []
    ingest(source, dest, progress=lambda done, total: calls.append((done, total)))
    size = source.stat().st_size
    assert calls and calls[-1] == (size, size)
    assert all(total == size and 0 <= done <= size for done, total in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_cluster_by_groups_text_and_sorts_numbers(tmp_path, dest):
    source = tmp_path / "cities.csv"
    rows = [f"{'abc'[i % 3]},{(i * 7) % 10}" for i in range(30)]
    source.write_text("city,n\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = ingest(source, dest, cluster_by=("city", "n"))
    stored = _read(result.path)
    cities = [r[0] for r in stored]
    runs = [c for i, c in enumerate(cities) if i == 0 or cities[i - 1] != c]
    assert sorted(runs) == ["a", "b", "c"]  # each city is one contiguous run
    for city in "abc":
        numbers = [r[1] for r in stored if r[0] == city]
        assert numbers == sorted(numbers)
    assert sorted(stored) == sorted((r.split(",")[0], int(r.split(",")[1])) for r in rows)


def test_explicit_encoding_is_used(tmp_path, dest):
    source = tmp_path / "latin.csv"
    source.write_bytes("name\ncafé\n".encode("latin-1"))
    result = ingest(source, dest, encoding="latin-1")
    assert result.encoding == "iso8859-1"
    assert _read(result.path) == [("café",)]


def test_a_decimal_override_keeps_every_digit(tmp_path, dest, monkeypatch):
    from portal.store import measures

    monkeypatch.setattr(measures, "SAMPLE_ROWS", 2)
    source = tmp_path / "money.csv"
    source.write_text("amount\n1.50\n2.25\n3\n0.125\n", encoding="utf-8")
    result = ingest(source, dest, overrides={"amount": "decimal"})
    assert result.columns == (Column("amount", "decimal"),)
    assert [r[0] for r in _read(result.path)] == [
        Decimal("1.5"), Decimal("2.25"), Decimal("3"), Decimal("0.125"),
    ]
    assert str(_read(result.path)[3][0]) == "0.125"


def test_a_delimiter_ending_every_line_is_a_blank_column_skipped(tmp_path, dest):
    """Spreadsheet exports often end every line with the delimiter; such a file was refused
    ("column 4 has no name")."""
    source = tmp_path / "export.csv"
    source.write_bytes("学校,在校生数,教师数,\r\n一中,3200,210,\r\n二中,4100,260,\r\n".encode("gb18030"))
    result = ingest(source, dest)
    assert [(c.name, c.type) for c in result.columns] == [("学校", "text"), ("在校生数", "integer"), ("教师数", "integer")]
    assert _read(result.path) == [("一中", 3200, 210), ("二中", 4100, 260)]


def test_a_column_with_values_but_no_name_is_refused_with_its_line(tmp_path, dest):
    source = tmp_path / "nameless.csv"
    source.write_text("a,,b\n1,,2\n3,x,4\n", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        ingest(source, dest)
    assert info.value.line == 3 and "'x'" in str(info.value) and "no name" in str(info.value)
