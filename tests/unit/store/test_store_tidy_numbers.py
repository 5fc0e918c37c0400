"""Numbers as statistical tables write them: placeholders of missing figures ("—", "…", "-") and
thousands separators ("1,234.50") leave a column a number column, and the load says what it read
so; elsewhere they stay as written."""

from __future__ import annotations

from pathlib import Path

import duckdb

from portal.store import IngestError, ingest
from portal.store.measures import SAMPLE_ROWS

STATS = """地区,地区生产总值（亿元）,增速（%）,常住人口,备注,邮编
和平区,"1,234.50",3.1,"355,000",—,300021
河东区,987.20,—,"852,000",见附注,—
河西区,"1,100.00",-,"821,000",,300202
南开区,"1,000.00",…,"1,900,000",…,300100
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _types(result) -> dict[str, str]:
    return {c.name: c.type for c in result.columns}


def _rows(result) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{result.path}')").fetchall()


def test_placeholders_and_separators_leave_numbers_numbers(tmp_path, dest):
    result = ingest(_write(tmp_path, "stats.csv", STATS), dest)
    assert _types(result) == {"地区": "text", "地区生产总值（亿元）": "decimal", "增速（%）": "decimal",
                              "常住人口": "integer", "备注": "text", "邮编": "text"}
    rows = _rows(result)
    assert [float(r[1]) for r in rows] == [1234.5, 987.2, 1100.0, 1000.0]
    assert [r[2] is None for r in rows] == [False, True, True, True]
    assert [r[3] for r in rows] == [355000, 852000, 821000, 1900000]
    assert [r[4] for r in rows] == ["—", "见附注", None, "…"], "a text column keeps its placeholders"
    assert [r[5] for r in rows] == ["300021", "—", "300202", "300100"], "codes stay text, as written"
    lines = result.report.lines()
    assert "column '地区生产总值（亿元）' read as decimal: thousands separators dropped" in lines
    assert "column '增速（%）' read as decimal: '-', '—', '…' read as missing" in lines
    assert "column '常住人口' read as integer: thousands separators dropped" in lines
    assert {c.column for c in result.report.tidied} == {"地区生产总值（亿元）", "增速（%）", "常住人口"}


def test_what_is_not_a_grouping_of_thousands_keeps_the_column_text(tmp_path, dest):
    result = ingest(_write(tmp_path, "odd.csv", "a,b\n\"1,2\",\"12,345\"\n\"3,456\",\"1,2345\"\n"), dest)
    assert _types(result) == {"a": "text", "b": "text"}
    assert _rows(result) == [("1,2", "12,345"), ("3,456", "1,2345")]
    assert not result.report.tidied


def test_grouped_six_digit_numbers_are_quantities_not_codes(tmp_path, dest):
    """Six-digit strings of one width are codes (division codes); written with separators they are not."""
    result = ingest(_write(tmp_path, "gdp.csv", "地区,GDP\n甲,\"123,456\"\n乙,\"654,321\"\n丙,—\n"), dest)
    assert _types(result)["GDP"] == "integer" and [r[1] for r in _rows(result)] == [123456, 654321, None]


def test_a_column_of_placeholders_only_stays_text(tmp_path, dest):
    result = ingest(_write(tmp_path, "dash.csv", "name,flag\nx,—\ny,-\n"), dest)
    assert _types(result) == {"name": "text", "flag": "text"} and not result.report.tidied


def test_a_placeholder_past_the_sample_is_read_as_missing(tmp_path, dest):
    body = "".join(f"{i},{i * 3}\n" for i in range(1, SAMPLE_ROWS + 50))
    result = ingest(_write(tmp_path, "late.csv", "n,amount\n" + body + "99999999,—\n"), dest)
    assert _types(result) == {"n": "integer", "amount": "integer"}
    assert duckdb.sql(f"SELECT count(*) FILTER (WHERE amount IS NULL), count(*) FROM read_parquet('{result.path}')"
                      ).fetchall() == [(1, SAMPLE_ROWS + 50)]
    assert [(c.column, c.markers) for c in result.report.tidied] == [("amount", ("—",))]


def test_a_word_past_the_sample_makes_a_tidied_column_text_as_written(tmp_path, dest):
    body = "".join(f"{i},\"{i},000\"\n" for i in range(100, SAMPLE_ROWS + 150))
    result = ingest(_write(tmp_path, "word.csv", "n,amount\n" + body + "1,unknown\n"), dest)
    assert _types(result)["amount"] == "text" and not result.report.tidied
    assert duckdb.sql(f"SELECT amount FROM read_parquet('{result.path}') LIMIT 1").fetchall() == [("100,000",)]


def test_a_new_version_with_placeholders_keeps_the_recorded_number_type(tmp_path, dest):
    result = ingest(_write(tmp_path, "v2.csv", "amount\n\"1,200\"\n—\n7\n"), dest, previous={"amount": "integer"})
    assert _types(result) == {"amount": "integer"} and not result.report.type_changes
    assert [r[0] for r in _rows(result)] == [1200, None, 7]


def test_declared_types_are_not_tidied(tmp_path, dest):
    try:
        ingest(_write(tmp_path, "declared.csv", "amount\n3\n—\n"), dest, overrides={"amount": "integer"})
    except IngestError as exc:
        assert exc.code == "type-conflict" and "—" in str(exc)
    else:
        raise AssertionError("a declared integer column with '—' must be refused, not tidied")


def test_dates_as_chinese_tables_write_them_are_dates(tmp_path, dest):
    import datetime as dt

    text = "发布日期,截止日期,更新\n2023年1月5日,2023-02-01,2023.03.04\n2023年12月31日,—,2023.3.5\n"
    result = ingest(_write(tmp_path, "dates.csv", text), dest)
    assert _types(result) == {"发布日期": "date", "截止日期": "date", "更新": "date"}
    assert _rows(result) == [(dt.date(2023, 1, 5), dt.date(2023, 2, 1), dt.date(2023, 3, 4)),
                             (dt.date(2023, 12, 31), None, dt.date(2023, 3, 5))]
    lines = result.report.lines()
    assert "column '发布日期' read as date: dates written 2023年1月5日 or 2023.01.05 read as dates" in lines
    assert "column '截止日期' read as date: '—' read as missing" in lines


def test_a_written_date_that_is_no_date_keeps_the_column_text(tmp_path, dest):
    result = ingest(_write(tmp_path, "bad.csv", "日期\n2023年1月5日\n2023年2月30日\n"), dest)
    assert _types(result) == {"日期": "text"} and not result.report.tidied
    assert [r[0] for r in _rows(result)] == ["2023年1月5日", "2023年2月30日"]


def test_a_bad_written_date_past_the_sample_makes_the_column_text(tmp_path, dest):
    body = "".join(f"2023年{1 + i % 12}月{1 + i % 28}日\n" for i in range(SAMPLE_ROWS + 20))
    result = ingest(_write(tmp_path, "late-date.csv", "日期\n" + body + "2023年2月30日\n"), dest)
    assert _types(result) == {"日期": "text"}
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{result.path}') WHERE 日期 = '2023年2月30日'").fetchall() == [(1,)]
