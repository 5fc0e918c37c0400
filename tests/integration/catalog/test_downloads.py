"""Downloads as a browser and a spreadsheet see them: one Content-Type, a size where it is known,
no Retry-After on success, UTC timestamps with their zone in every format, XLSX, and a version with
no rows still giving its header."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

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


def _text(html: str) -> str:
    """A page's text without its tags."""
    return re.sub(r"<[^>]+>", "", html)


def _body(client, url: str, **kwargs) -> bytes:
    """A response's body, the response closed (a download's body is a file)."""
    with client.get(url, **kwargs) as response:
        return response.get_data()


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
    response.close()  # the body is a file


def test_timestamps_are_iso_8601_utc_in_every_format(client, districts):
    get = lambda fmt: _body(client, f"/datasets/{districts}/download/{fmt}").decode()  # noqa: E731
    rows = list(csv.DictReader(io.StringIO(get("csv"))))
    assert rows[0]["seen"] == "2024-01-02T03:04:05Z" and rows[1]["seen"] == ""
    assert rows[0]["code"] == "010101"
    assert json.loads(get("json"))[0]["seen"] == "2024-01-02T03:04:05Z"
    assert json.loads(get("ndjson").splitlines()[0])["seen"] == "2024-01-02T03:04:05Z"
    for fmt in ("json", "csv"):
        api = client.get(f"/api/v1/datasets/{districts}/rows?format={fmt}")
        assert "2024-01-02T03:04:05Z" in api.get_data(as_text=True), fmt


def test_every_format_is_sent_with_its_length(client, districts):
    for fmt in ("csv", "json", "ndjson", "parquet", "xlsx", "csv?bom=1"):
        with client.get(f"/datasets/{districts}/download/{fmt}") as response:
            body = response.get_data()
        assert response.status_code == 200, fmt
        assert int(response.headers["Content-Length"]) == len(body) > 0, fmt
        assert "Retry-After" not in response.headers, fmt


def test_a_download_is_sent_as_stored_even_to_a_client_that_accepts_compression(client, districts):
    stored = _body(client, f"/datasets/{districts}/download/json")
    with client.get(f"/datasets/{districts}/download/json", headers={"Accept-Encoding": "gzip, br"}) as response:
        assert "Content-Encoding" not in response.headers
        assert "no-transform" in response.headers["Cache-Control"]
        assert int(response.headers["Content-Length"]) == len(response.get_data()) == len(stored)
    assert client.get(f"/datasets/{districts}", headers={"Accept-Encoding": "gzip"}).headers["Content-Encoding"] == "gzip"


def test_a_download_resumes_with_a_range_and_revalidates_with_its_etag(client, districts):
    url = f"/datasets/{districts}/download/json"
    with client.get(url) as whole:
        body, etag = whole.get_data(), whole.headers["ETag"]
    assert whole.headers["Accept-Ranges"] == "bytes"
    with client.get(url, headers={"Range": "bytes=10-19"}) as part:
        assert part.status_code == 206 and part.get_data() == body[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(body)}"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    again.close()


def test_sizes_on_the_page_are_the_downloads_lengths(client, districts):
    page = _text(client.get(f"/datasets/{districts}").text)
    for fmt in ("csv", "json", "ndjson", "parquet"):  # measured at publish: shown before anyone downloads
        size = len(_body(client, f"/datasets/{districts}/download/{fmt}"))
        assert f"{fmt.upper()} · {filesize(size)}" in page, fmt
    assert "XLSX · " not in page  # too dear to encode at publish: sized when first written
    xlsx = len(_body(client, f"/datasets/{districts}/download/xlsx"))
    assert f"XLSX · {filesize(xlsx)}" in _text(client.get(f"/datasets/{districts}").text)


def test_sizes_in_the_api_and_dcat(client, districts):
    csv_size = len(_body(client, f"/datasets/{districts}/download/csv"))
    versions = client.get(f"/api/v1/datasets/{districts}/versions").get_json()
    assert versions[0]["export_sizes"]["csv"] == csv_size
    text = client.get("/catalog.jsonld").get_data(as_text=True)
    sizes = {d["@id"].rsplit("/", 1)[1]: d.get("dcat:byteSize") for d in _distributions(json.loads(text))}
    assert sizes["csv"] == {"@value": str(csv_size), "@type": "xsd:nonNegativeInteger"}


def _distributions(node):
    """Every dcat:Distribution anywhere in a JSON-LD document."""
    if isinstance(node, list):
        return [d for item in node for d in _distributions(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("@type") == "dcat:Distribution" and "dcat:downloadURL" in node else []
    return own + [d for value in node.values() for d in _distributions(value)]


def test_a_format_is_encoded_once_and_a_new_version_drops_the_old_cache(app, client, districts, tmp_path,
                                                                        monkeypatch):
    from portal.store import exportcache

    calls = []
    real = exportcache.export_into
    monkeypatch.setattr(exportcache, "export_into", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    first = _body(client, f"/datasets/{districts}/download/xlsx")
    assert _body(client, f"/datasets/{districts}/download/xlsx") == first
    assert calls == ["xlsx"]
    exports = Path(app.config["DATA_DIR"]) / "exports"
    assert len(list(exports.iterdir())) == 1
    load(app, _with_timestamp(dataset_folder(tmp_path / "v2", csv=ROWS + "010103,河西区,1,,\n")))
    assert list(exports.iterdir()) == []
    assert b"010103" in _body(client, f"/datasets/{districts}/download/csv")


def test_xlsx_keeps_types_codes_and_never_runs_formulas(client, districts):
    with client.get(f"/datasets/{districts}/download/xlsx") as response:
        book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
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
    size = len(_body(client, f"/datasets/{districts}/download/parquet"))
    assert f"PARQUET · {filesize(size)}" in _text(page)


def test_zero_rows_download_as_their_header(client, empty):
    get = lambda fmt: _body(client, f"/datasets/{empty}/download/{fmt}")  # noqa: E731
    assert list(csv.reader(io.StringIO(get("csv").decode()))) == [
        ["code", "name", "population", "founded", "seen"]]
    assert get("csv?bom=1").startswith(b'\xef\xbb\xbf"code",')
    assert json.loads(get("json")) == []
    assert get("ndjson").strip() == b""
    book = openpyxl.load_workbook(io.BytesIO(get("xlsx")))
    assert list(book["data"].values) == [("code", "name", "population", "founded", "seen (UTC)")]


def _export_folder(app, slug: str) -> Path:
    from portal.catalog.downloads import export_folder
    from portal.catalog.models import Dataset, Version
    from portal.db import session_scope

    with app.app_context(), session_scope(app) as session:
        version = session.get(Version, session.query(Dataset).filter_by(slug=slug).one().current_version_id)
        return export_folder(Path(app.config["DATA_DIR"]), version)


def test_while_a_file_is_being_written_a_text_download_streams_instead_of_waiting(app, client, districts):
    """The builder (or another visitor) holds the file's lock: this download streams its own
    encode, whole and without a length, and writes no second file."""
    import fcntl

    folder = _export_folder(app, districts)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "data.csv.lock", "a") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)
        with client.get(f"/datasets/{districts}/download/csv") as response:
            streamed = response.get_data()
            assert response.status_code == 200 and "Content-Length" not in response.headers
            assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
            assert "no-store" in response.headers["Cache-Control"]
        assert not (folder / "data.csv").exists()
    with client.get(f"/datasets/{districts}/download/csv") as response:  # written now, served as a file
        assert int(response.headers["Content-Length"]) == len(streamed) and response.get_data() == streamed


def test_export_cache_writes_every_file_and_fills_in_sizes_of_old_versions(app, districts):
    """`kaifang export-cache --all`: a version published before sizes were recorded (migration
    0015) gets them, XLSX included, and every file is ready before the first download."""
    from click.testing import CliRunner

    from portal.catalog.models import Dataset, Version
    from portal.cli import main
    from portal.db import session_scope

    with app.app_context(), session_scope(app) as session:
        version = session.get(Version, session.query(Dataset).filter_by(slug=districts).one().current_version_id)
        version.export_sizes = None  # as before migration 0015
        session.commit()
    runner = CliRunner(env={"KAIFANG_INSTANCE": app.instance_path, "KAIFANG_SECRET_KEY": "test-secret"})
    result = runner.invoke(main, ["export-cache", "--all"])
    assert result.exit_code == 0, result.output
    folder = _export_folder(app, districts)
    names = {p.name for p in folder.iterdir() if not p.name.endswith(".lock")}
    assert names == {"data.csv", "data-bom.csv", "data.json", "data.ndjson", "data.xlsx"}
    with app.app_context(), session_scope(app) as session:
        version = session.get(Version, session.query(Dataset).filter_by(slug=districts).one().current_version_id)
        assert version.export_sizes == {**{f: (folder / f"data.{f}").stat().st_size
                                           for f in ("csv", "json", "ndjson", "xlsx")},
                                        "parquet": (Path(app.config["DATA_DIR"]) / version.storage_path).stat().st_size}
    assert f"+ {districts} v1 xlsx: " in result.output
    missing = runner.invoke(main, ["export-cache", "no-such-dataset"])
    assert missing.exit_code == 1 and "no-such-dataset" in missing.output


def test_export_cache_makes_the_z_order_copy_of_a_large_version(app, tmp_path, monkeypatch):
    """The load's background job also makes the Z-order copy of a large version's automatic
    keys (decision 0027c), so its first pages filtered on them do not wait for pages to ask."""
    from click.testing import CliRunner

    from portal.catalog.models import Dataset, Version
    from portal.cli import main
    from portal.db import session_scope
    from portal.store import conversion, projections

    monkeypatch.setattr(conversion, "ROW_GROUP_SIZE", 2048)  # many row groups in a test-sized file
    monkeypatch.setattr(projections, "MIN_BYTES", 0)  # every file counts as large
    names = ["和平区", "河东区", "河西区", "南开区"]
    rows = "code,name,population,founded\n" + "".join(
        f"{i:06d},{names[i % 4]},{1000 + i},2000-01-01\n" for i in range(20_000))
    load(app, dataset_folder(tmp_path / "src", "big", csv=rows))
    runner = CliRunner(env={"KAIFANG_INSTANCE": app.instance_path, "KAIFANG_SECRET_KEY": "test-secret"})
    result = runner.invoke(main, ["export-cache", "big"])
    assert result.exit_code == 0, result.output
    assert "+ big v1 ordered copy (Z-order): " in result.output
    with app.app_context(), session_scope(app) as session:
        version = session.get(Version, session.query(Dataset).filter_by(slug="big").one().current_version_id)
        stored = Path(app.config["DATA_DIR"]) / version.storage_path
    assert projections.existing(stored) == [projections.zorder_path(stored)]
