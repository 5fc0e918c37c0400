"""Codes stay text, and a new version never converts a value lossily under the recorded type."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from portal.store import IngestError, ingest
from portal.store.inference import is_code_name, is_measure_name

# 统计用区划代码 as the national statistics bureau lists them: no leading zero anywhere.
DIVISIONS = """统计用区划代码,名称,上级代码,城乡分类代码,人口
110101001000,东华门街道,110101000000,111,68000
110101002000,景山街道,110101000000,111,57000
110101003000,交道口街道,110101000000,111,99500
120101001000,劝业场街道,120101000000,111,46000
"""
POSTCODES = """省份,城市,邮编,区号,常住人口
北京,北京,100000,010,21893095
天津,天津,300000,022,13866009
山西,太原,030000,0351,5390957
河北,石家庄,050000,0311,11235086
"""


def _types(result) -> dict[str, str]:
    return {c.name: c.type for c in result.columns}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_division_codes_are_text(tmp_path, dest):
    result = ingest(_write(tmp_path, "divisions.csv", DIVISIONS), dest)
    assert _types(result) == {"统计用区划代码": "text", "名称": "text", "上级代码": "text",
                              "城乡分类代码": "text", "人口": "integer"}


def test_postcodes_and_area_codes_are_text(tmp_path, dest):
    result = ingest(_write(tmp_path, "postcodes.csv", POSTCODES), dest)
    assert _types(result)["邮编"] == "text" and _types(result)["区号"] == "text"
    assert _types(result)["常住人口"] == "integer"
    rows = duckdb.sql(f"SELECT 邮编 FROM read_parquet('{result.path}')").fetchall()
    assert rows[2] == ("030000",)


def test_fixed_width_digits_without_a_code_name_are_text(tmp_path, dest):
    text = "所属区域,数量\n110101,3\n120102,14\n310115,159\n"
    assert _types(ingest(_write(tmp_path, "t.csv", text), dest)) == {"所属区域": "text", "数量": "integer"}


def test_six_digit_measures_of_every_district_stay_numbers(tmp_path, dest):
    """A district table whose populations and revenues all have six digits: the names say they
    are measures, so the fixed-width rule leaves them numbers; the division code beside them,
    without a code word in its name, is still text."""
    text = ("地区,户籍人口,财政收入(万元),学生数,区划\n和平区,352367,123456,100001,120101\n"
            "河东区,754200,234567,200002,120102\n河西区,829500,345678,300003,120103\n")
    assert _types(ingest(_write(tmp_path, "t.csv", text), dest)) == {
        "地区": "text", "户籍人口": "integer", "财政收入(万元)": "integer", "学生数": "integer", "区划": "text"}


@pytest.mark.parametrize(("name", "expected"), [
    ("户籍人口", True), ("财政收入(万元)", True), ("学生数", True), ("增长率(%)", True),
    ("户籍人口·合计", True), ("Population", True), ("total_sales", True), ("面积（平方公里）", True),
    ("区划", False), ("区域", False), ("地区(县)", False), ("county", False), ("名称", False),
])
def test_measure_names(name, expected):
    assert is_measure_name(name) is expected


def test_a_declared_type_overrides_the_code_rule(tmp_path, dest):
    result = ingest(_write(tmp_path, "t.csv", DIVISIONS), dest, overrides={"上级代码": "integer"})
    assert _types(result)["上级代码"] == "integer"


def test_the_code_words_are_configurable(tmp_path, dest):
    result = ingest(_write(tmp_path, "t.csv", "id,n\n1,5\n2,61\n"), dest, code_words=("代码",))
    assert _types(result)["id"] == "integer"


@pytest.mark.parametrize(("name", "expected"), [
    ("行政区划代码", True), ("adcode", True), ("zip", True), ("ZipCode", True), ("user_id", True),
    ("userId", True), ("ID", True), ("身份证号", True), ("营业执照证号", True), ("postcode", True),
    ("paid", False), ("valid", False), ("人口", False), ("population", False), ("idle", False),
])
def test_code_names(name, expected):
    assert is_code_name(name) is expected


def test_new_version_widens_instead_of_dropping_zeros(tmp_path, dest):
    source = _write(tmp_path, "v2.csv", "adcode,n\n010101,1\n120101,2\n")
    result = ingest(source, dest, previous={"adcode": "integer", "n": "integer"}, code_words=())
    assert _types(result)["adcode"] == "text"
    assert duckdb.sql(f"SELECT adcode FROM read_parquet('{result.path}')").fetchall()[0] == ("010101",)
    [change] = result.report.type_changes
    assert (change.column, change.before, change.after, change.example) == ("adcode", "integer", "text", "010101")
    assert "column 'adcode' widened from integer to text (e.g. '010101')" in result.report.lines()


def test_new_version_widens_integers_to_decimals(tmp_path, dest):
    source = _write(tmp_path, "v2.csv", "amount\n3\n4.50\n")
    result = ingest(source, dest, previous={"amount": "integer"})
    assert _types(result) == {"amount": "decimal"}
    assert result.report.type_changes[0].example == "4.50"


def test_new_version_widens_dates_to_timestamps_and_text(tmp_path, dest):
    source = _write(tmp_path, "v2.csv", "day,label\n2024-01-02 08:00,1\n2024-01-03,2\n")
    result = ingest(source, dest, previous={"day": "date", "label": "date"})
    assert _types(result) == {"day": "timestamp", "label": "text"}


def test_a_column_become_text_is_shown_by_a_value_no_number_holds(tmp_path, dest):
    """'12000.5' does not fit an integer either, but it is not why the column is text now."""
    source = _write(tmp_path, "v2.csv", "people,day\n12000.5,2024-01-02 08:00\nabc,n/a\n")
    result = ingest(source, dest, previous={"people": "integer", "day": "date"})
    assert _types(result) == {"people": "text", "day": "text"}
    assert {c.column: c.example for c in result.report.type_changes} == {"people": "abc", "day": "n/a"}


def test_values_that_fit_keep_the_recorded_type(tmp_path, dest):
    source = _write(tmp_path, "v2.csv", "name,n\n123,1\n456,2\n")
    result = ingest(source, dest, previous={"name": "text", "n": "integer"})
    assert _types(result) == {"name": "text", "n": "integer"} and not result.report.type_changes


def test_declared_type_refuses_decimals_into_integers(tmp_path, dest):
    source = _write(tmp_path, "v2.csv", "amount\n3\n4.5\n")
    with pytest.raises(IngestError) as info:
        ingest(source, dest, overrides={"amount": "integer"})
    assert info.value.code == "type-conflict" and info.value.column == "amount"
    assert info.value.message == "line 3: column 'amount' should be integer but has '4.5'"


def test_declared_type_refuses_text_into_dates(tmp_path, dest):
    source = _write(tmp_path, "v2.csv", "day\n2024-01-02\n下周一\n")
    with pytest.raises(IngestError) as info:
        ingest(source, dest, overrides={"day": "date"})
    assert info.value.code == "type-conflict" and "'下周一'" in info.value.message


def test_inferred_integer_past_the_sample_is_not_rounded(tmp_path, dest, monkeypatch):
    from portal.store import measures

    monkeypatch.setattr(measures, "SAMPLE_ROWS", 3)
    lines = ["n"] + [str(i + 10) for i in range(10)] + ["4.5"]
    result = ingest(_write(tmp_path, "t.csv", "\n".join(lines) + "\n"), dest)
    assert _types(result) == {"n": "decimal"}
