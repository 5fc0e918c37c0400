"""Government tables as they are published: titles over the header, merged two-level headers,
spacer rows and columns, notes and sources under the table, totals rows, several sheets; in
XLSX, legacy XLS and CSV."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

from portal.store import Column, IngestError, ingest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "spreadsheets"


def _read(path: Path) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall()


def government_xlsx(path: Path, *, cover: bool = True) -> Path:
    """A 统计表 as a statistics bureau publishes it (merged title, unit line, two-level header,
    spacer column B, a 合计 row, blank rows, notes and source lines below)."""
    book = Workbook()
    first = book.active
    if cover:
        first.title = "说明"
        first["A1"] = "本表由市统计局发布，数据截至2023年末。"
        sheet = book.create_sheet("2023年")
    else:
        first.title = "2023年"
        sheet = first
    sheet["A1"] = "2023年各区地区生产总值"
    sheet.merge_cells("A1:F1")
    sheet["F2"] = "单位：亿元"
    sheet["A4"], sheet["C4"], sheet["D4"], sheet["F4"] = "地区", "行政区划代码", "地区生产总值", "增速（%）"
    sheet.merge_cells("A4:A5")
    sheet.merge_cells("C4:C5")
    sheet.merge_cells("D4:E4")
    sheet.merge_cells("F4:F5")
    sheet["D5"], sheet["E5"] = "总量", "第三产业"
    rows = [("和平区", "120101", 1050.32, 980.5, 4.1), ("河东区", "120102", 640.1, 512.25, 3.8),
            ("滨海新区", "120116", 7032.55, 3101.2, 5.2)]
    for i, (name, code, total, tertiary, growth) in enumerate(rows, start=6):
        sheet.cell(i, 1, name)
        sheet.cell(i, 3, int(code))  # stored as a number, as Excel users do
        sheet.cell(i, 4, total)
        sheet.cell(i, 5, tertiary)
        sheet.cell(i, 6, growth)
    sheet["A10"], sheet["D10"], sheet["E10"] = "合计", 8722.97, 4593.95
    sheet["A12"] = "注：1. 地区生产总值按当年价格计算；2. 增速按可比价格计算。"
    sheet["A13"] = "数据来源：市统计局"
    book.save(path)
    return path


def test_government_xlsx(tmp_path, dest):
    result = ingest(government_xlsx(tmp_path / "gdp.xlsx"), dest)
    assert result.columns == (
        Column("地区", "text"), Column("行政区划代码", "text"), Column("地区生产总值·总量", "float"),
        Column("地区生产总值·第三产业", "float"), Column("增速（%）", "decimal"),
    )
    rows = _read(result.path)
    assert [r[:2] for r in rows] == [("和平区", "120101"), ("河东区", "120102"), ("滨海新区", "120116"),
                                     ("合计", None)]
    report = result.report
    assert report.sheet == "2023年" and report.sheet_chosen == "first-table"
    assert report.sheets == ("说明", "2023年")
    assert report.header_lines == (4, 5)
    assert [(s.line, s.kind) for s in report.skipped] == [(1, "title"), (2, "title"), (12, "note"), (13, "note")]
    assert report.blank_columns == (2,)
    assert [(t.line, t.column, t.label) for t in report.totals] == [(10, "地区", "合计")]
    text = "\n".join(report.lines())
    assert "read sheet '2023年' (the first sheet with a table); not read: '说明'" in text
    assert "totals row on line 10" in text and "skipped note line 13: 数据来源：市统计局" in text


def test_sheet_chosen_by_name_or_number(tmp_path, dest):
    path = government_xlsx(tmp_path / "gdp.xlsx")
    assert ingest(path, dest, sheet="2023年").report.sheet_chosen == "declared"
    assert ingest(path, dest, sheet=2).report.sheet == "2023年"
    with pytest.raises(IngestError) as info:
        ingest(path, dest, sheet="2024年")
    assert info.value.code == "unknown-sheet" and "说明, 2023年" in info.value.message


def test_error_lines_are_sheet_rows(tmp_path, dest):
    path = government_xlsx(tmp_path / "gdp.xlsx", cover=False)
    with pytest.raises(IngestError) as info:
        ingest(path, dest, overrides={"增速（%）": "integer"})
    assert info.value.code == "type-conflict" and info.value.line == 6, "row 6 of the sheet"


def test_value_under_a_spacer_column_is_refused(tmp_path, dest):
    path = government_xlsx(tmp_path / "gdp.xlsx", cover=False)
    from openpyxl import load_workbook

    book = load_workbook(path)
    book["2023年"]["B7"] = "遗漏"
    book.save(path)
    with pytest.raises(IngestError) as info:
        ingest(path, dest)
    assert info.value.code == "empty-column-name" and info.value.line == 7


def test_data_after_the_notes_is_refused(tmp_path, dest):
    source = tmp_path / "t.csv"
    source.write_text("地区,人口\n和平区,354000\n注：年末数\n河东区,860000\n", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        ingest(source, dest)
    assert info.value.code == "data-after-notes" and info.value.line == 4


def test_legacy_xls(dest):
    result = ingest(FIXTURES / "district_population.xls", dest)
    assert result.source_format == "xls"
    assert [c.name for c in result.columns] == [
        "地区", "区划代码", "户籍人口·合计", "户籍人口·男", "户籍人口·女", "邮政编码"]
    assert [c.type for c in result.columns] == ["text", "text", "integer", "integer", "integer", "text"]
    assert _read(result.path)[1] == ("和平区", "120101", 354000, 171000, 183000, "300041")
    report = result.report
    assert report.sheet == "表1 户籍人口" and report.header_lines == (4, 5)
    assert [t.label for t in report.totals] == ["全市"]
    assert [s.kind for s in report.skipped] == ["title", "title", "note", "note"]


def test_csv_with_a_title_line(tmp_path, dest):
    source = tmp_path / "t.csv"
    source.write_text("2023年各区常住人口\n单位：万人,,\n地区,区划代码,常住人口\n和平区,120101,35.4\n"
                      "河东区,120102,86.0\n全市,120000,121.4\n\n注：常住人口为年末数\n",
                      encoding="gb18030")
    result = ingest(source, dest)
    assert [c.name for c in result.columns] == ["地区", "区划代码", "常住人口"]
    assert result.row_count == 3 and result.encoding == "gb18030"
    assert result.report.header_lines == (3,)
    assert [s.line for s in result.report.skipped] == [1, 2, 8]
    assert result.report.totals[0].line == 6


def test_plain_csv_reports_nothing(tmp_path, dest):
    source = tmp_path / "t.csv"
    source.write_text("a,b\n1,2\n", encoding="utf-8")
    assert ingest(source, dest).report.empty


def test_physical_line_after_a_multiline_value(tmp_path, dest):
    source = tmp_path / "t.csv"
    source.write_text('名称,地址,人口\n甲,"第一行\n第二行\n第三行",5\n乙,x,6,7\n', encoding="utf-8")
    with pytest.raises(IngestError) as info:
        ingest(source, dest)
    assert info.value.code == "ragged-row"
    assert info.value.line == 5 and "line 5" in info.value.message


def test_totals_row_in_a_bare_csv(tmp_path, dest):
    source = tmp_path / "t.csv"
    source.write_text("地区,人口\n和平区,354000\n河东区,860000\n合 计,1214000\n", encoding="utf-8")
    result = ingest(source, dest)
    assert result.report.header_lines == (1,) and not result.report.skipped
    assert [(t.line, t.column, t.label) for t in result.report.totals] == [(4, "地区", "合 计")]


def test_header_problems_name_the_header_line(tmp_path, dest):
    source = tmp_path / "t.csv"
    source.write_text("各区人口\n地区,人口,人口\n和平区,1,2\n", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        ingest(source, dest)
    assert info.value.code == "duplicate-column" and info.value.line == 2
    assert info.value.message.startswith("line 2:")
