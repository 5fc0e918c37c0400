"""A publisher loading real-looking files: what was skipped, flagged or widened is printed by
`kaifang load`, recorded on the version and shown on the dataset page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.catalog.models import Version
from portal.db import session_scope
from portal.errors import Invalid
from tests.factories import dataset_folder, load

GOV_CSV = ("2023年各区常住人口\n单位：人,,,\n地区,区域,常住人口,备注\n和平区,120101,354000,\n"
           "河东区,120102,860000,\n全市,120000,13866009,\n\n注：常住人口为年末数\n数据来源：市统计局\n")
FIELDS = [{"name": "地区", "type": "string"}, {"name": "区域"}, {"name": "常住人口"}, {"name": "备注"}]


def gov_folder(root: Path, csv: str = GOV_CSV) -> Path:
    folder = dataset_folder(root, slug="population", csv=csv)
    doc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    doc["resources"][0]["schema"]["fields"] = FIELDS
    doc["kaifang"]["fields"] = {}
    (folder / "datapackage.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return folder


def test_skipped_rows_and_totals_are_recorded_and_shown(app, tmp_path, client):
    outcome = load(app, gov_folder(tmp_path / "src"))
    assert outcome.version.row_count == 3
    lines = outcome.version.report_lines()
    assert "header on line(s) 3" in lines
    assert "skipped note line 9: 数据来源：市统计局" in lines
    assert any(line.startswith("totals row on line 6 (地区 = '全市')") for line in lines)
    with session_scope(app) as s:
        report = s.scalar(select(Version.load_report))
    assert report["header_lines"] == [3] and report["totals"][0]["label"] == "全市"
    page = client.get("/datasets/population").get_data(as_text=True)
    assert "全市" in page and "badge-totals" in page
    rows = client.get("/api/v1/datasets/population/rows").json["rows"]
    assert rows[0]["区域"] == "120101", "fixed-width division codes are text"


def test_charts_leave_out_a_totals_row_found_at_load(app, tmp_path, client):
    """全市 sums the districts: a chart of population by district must not draw it as a district."""
    load(app, gov_folder(tmp_path / "src"))
    body = client.get("/datasets/population/chart.json?x=地区&agg=sum&y=常住人口").json
    assert {v["x"]: v["y"] for v in body["values"]} == {"和平区": 354000, "河东区": 860000}
    assert "已排除汇总其他行的行" in body["note"] and "全市" in body["note"]
    whole = client.get("/datasets/population/chart.json?x=地区&agg=sum&y=常住人口&地区__eq=全市").json
    assert [v["y"] for v in whole["values"]] == [13866009]  # asked for by name: drawn


def test_second_version_widens_and_says_so(app, tmp_path, client):
    csv = "地区,区域,常住人口,备注\n和平区,120101,354000,\n河东区,13010,860000,\n"
    folder = gov_folder(tmp_path / "src", csv)
    assert load(app, folder).version.columns[1].type == "integer"
    (folder / "data.csv").write_text(csv + "南开区,010104,890000,\n", encoding="utf-8")
    version = load(app, folder).version
    assert version.columns[1].type == "text"
    assert "column '区域' widened from integer to text (e.g. '010104')" in version.report_lines()
    rows = client.get("/api/v1/datasets/population/rows").json["rows"]
    assert [r["区域"] for r in rows] == ["120101", "13010", "010104"], "no zero lost"
    assert "类型放宽" in client.get("/datasets/population").get_data(as_text=True)


def test_declared_integer_refuses_a_leading_zero_on_a_new_version(app, tmp_path):
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    doc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    doc["resources"][0]["schema"]["fields"][0]["type"] = "integer"
    (folder / "datapackage.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with (folder / "data.csv").open("a", encoding="utf-8") as handle:
        handle.write("010104,南开区,890000,\n")
    with pytest.raises(Invalid) as info:
        load(app, folder)
    assert info.value.code == "type-conflict"
    assert "'010101'" in info.value.detail and "code" in info.value.detail


def test_cli_prints_the_report(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from portal.cli import main

    monkeypatch.setenv("KAIFANG_INSTANCE", str(tmp_path / "inst"))
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    result = runner.invoke(main, ["load", str(gov_folder(tmp_path / "src"))])
    assert result.exit_code == 0, result.output
    assert "    skipped title line 1: 2023年各区常住人口" in result.output
    assert "    totals row on line 6" in result.output


def test_placeholders_and_thousands_separators_are_read_and_said(app, tmp_path, client):
    csv = "地区,区域,常住人口,备注\n和平区,120101,\"354,000\",—\n河东区,120102,—,\n河西区,120103,\"1,012,500\",\n"
    version = load(app, gov_folder(tmp_path / "src", csv)).version
    assert [c.type for c in version.columns] == ["text", "text", "integer", "text"]
    assert "column '常住人口' read as integer: '—' read as missing; thousands separators dropped" in version.report_lines()
    rows = client.get("/api/v1/datasets/population/rows").json["rows"]
    assert [r["常住人口"] for r in rows] == [354000, None, 1012500] and rows[0]["备注"] == "—"
    page = client.get("/datasets/population").get_data(as_text=True)
    assert "常住人口：— 视为缺失值" in page and "常住人口：已去掉千位分隔符" in page
