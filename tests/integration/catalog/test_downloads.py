"""Downloads as a browser and a spreadsheet see them: one Content-Type, a size where it is known,
no Retry-After on success, UTC timestamps with their zone in every format, XLSX, and a version with
no rows still giving its header."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest

from portal.filters import filesize
from tests.factories import dataset_folder, load

ROWS = ("code,name,population,founded,seen\n"
        "010101,和平区,355000,1404-12-23,2024-01-02 03:04:05\n"
        "010102,=HYPERLINK(\"http://x\"),860000,,\n")


def _with_timestamp(folder):
    path = folder / "datapackage.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["resources"][0]["schema"]["fields"].append({"name": "seen", "type": "datetime"})
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def districts(app, tmp_path):
    load(app, _with_timestamp(dataset_folder(tmp_path / "src", csv=ROWS)))
    return "districts"


@pytest.fixture
def empty(app, tmp_path):
    load(app, _with_timestamp(dataset_folder(tmp_path / "src", "empty",
                                             csv="code,name,population,founded,seen\n")))
    return "empty"


def test_one_content_type_and_no_retry_after(client, districts):
    response = client.get(f"/datasets/{districts}/download/csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "Retry-After" not in response.headers
    assert "RateLimit" in response.headers  # still counted, just not told to wait


def test_timestamps_are_iso_8601_utc_in_every_format(client, districts):
    get = lambda fmt: client.get(f"/datasets/{districts}/download/{fmt}").get_data(as_text=True)  # noqa: E731
    rows = list(csv.DictReader(io.StringIO(get("csv"))))
    assert rows[0]["seen"] == "2024-01-02T03:04:05Z" and rows[1]["seen"] == ""
    assert rows[0]["code"] == "010101"
    assert json.loads(get("json"))[0]["seen"] == "2024-01-02T03:04:05Z"
    assert json.loads(get("ndjson").splitlines()[0])["seen"] == "2024-01-02T03:04:05Z"
    for fmt in ("json", "csv"):
        api = client.get(f"/api/v1/datasets/{districts}/rows?format={fmt}")
        assert "2024-01-02T03:04:05Z" in api.get_data(as_text=True), fmt


def test_sizes_sent_where_known(client, districts):
    for fmt in ("parquet", "xlsx"):
        response = client.get(f"/datasets/{districts}/download/{fmt}")
        body = response.get_data()
        assert int(response.headers["Content-Length"]) == len(body) > 0


def test_xlsx_keeps_types_codes_and_never_runs_formulas(client, districts):
    response = client.get(f"/datasets/{districts}/download/xlsx")
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    rows = list(book["data"].values)
    assert rows[0] == ("code", "name", "population", "founded", "seen (UTC)")
    assert rows[1][0] == "010101" and rows[1][2] == 355000
    assert rows[1][4].isoformat() == "2024-01-02T03:04:05"
    assert rows[1][3] == "1404-12-23"  # before Excel's calendar: text, not a wrong date
    cell = book["data"]["B3"]
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"


def test_xlsx_is_offered_and_the_parquet_size_shown_on_the_page(client, districts):
    page = client.get(f"/datasets/{districts}").text
    assert f"/datasets/{districts}/download/xlsx" in page
    size = len(client.get(f"/datasets/{districts}/download/parquet").get_data())
    assert f"PARQUET · {filesize(size)}" in page


def test_zero_rows_download_as_their_header(client, empty):
    get = lambda fmt: client.get(f"/datasets/{empty}/download/{fmt}")  # noqa: E731
    assert list(csv.reader(io.StringIO(get("csv").get_data(as_text=True)))) == [
        ["code", "name", "population", "founded", "seen"]]
    assert get("csv?bom=1").get_data().startswith(b'\xef\xbb\xbf"code",')
    assert json.loads(get("json").get_data()) == []
    assert get("ndjson").get_data().strip() == b""
    book = openpyxl.load_workbook(io.BytesIO(get("xlsx").get_data()))
    assert list(book["data"].values) == [("code", "name", "population", "founded", "seen (UTC)")]
