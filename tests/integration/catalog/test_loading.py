"""`kaifang load`: idempotent loads, metadata updates, new versions, and failed loads that change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Dataset, Field, Tag, Version
from portal.db import session_scope
from portal.errors import Invalid
from tests.factories import CSV, dataset_folder, load


def counts(app):
    with session_scope(app) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Dataset, Version, Field, Tag))


def test_load_twice_changes_nothing(app, tmp_path):
    folder = dataset_folder(tmp_path / "src")
    first = load(app, folder)
    assert first.created and first.version.number == 1 and first.version.row_count == 3
    before = counts(app)
    files = sorted(Path(app.config["DATA_DIR"]).rglob("*.parquet"))
    again = load(app, folder)
    assert not again.changed
    assert counts(app) == before
    assert sorted(Path(app.config["DATA_DIR"]).rglob("*.parquet")) == files


def test_changed_descriptor_updates_metadata_only(app, tmp_path):
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    dataset_folder(tmp_path / "src", title_zh="天津市行政区")
    outcome = load(app, folder)
    assert outcome.metadata_changed and outcome.version is None
    with session_scope(app) as s:
        assert s.scalar(select(Dataset.title_zh)) == "天津市行政区"
        assert s.scalar(select(func.count()).select_from(Version)) == 1


def test_changed_data_becomes_a_new_version(app, tmp_path, client):
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    (folder / "data.csv").write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    outcome = load(app, folder)
    assert outcome.version.number == 2 and outcome.version.row_count == 4
    detail = client.get("/api/v1/datasets/districts").json
    assert [v["number"] for v in detail["versions"]] == [2, 1]
    rows = client.get("/api/v1/datasets/districts/rows").json
    assert rows["total"] == 4 and rows["version"] == 2
    assert rows["rows"][0]["code"] == "010101", "codes with leading zeros stay text"


def test_failed_ingest_keeps_the_served_version(app, tmp_path, client):
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    files = sorted(Path(app.config["DATA_DIR"]).rglob("*"))
    (folder / "data.csv").write_text(CSV + "010104,南开区,890000,1404-12-23,extra\n", encoding="utf-8")
    with pytest.raises(Invalid) as info:
        load(app, folder)
    assert info.value.code == "ragged-row"
    assert "line 5" in info.value.detail
    assert sorted(Path(app.config["DATA_DIR"]).rglob("*")) == files
    rows = client.get("/api/v1/datasets/districts/rows").json
    assert rows["total"] == 3 and rows["version"] == 1


def test_failed_first_load_leaves_no_dataset(app, tmp_path):
    folder = dataset_folder(tmp_path / "src", csv="code,name,population,founded\n1,a,notanumber,\n")
    with pytest.raises(Invalid) as info:
        load(app, folder)
    assert info.value.code == "type-conflict"
    assert counts(app) == (0, 0, 0, 0)


def test_coordinates_naming_no_column_are_refused_and_nothing_kept(app, tmp_path):
    """A misspelt `kaifang.coordinates` field used to load, then fail every map request."""
    folder = dataset_folder(tmp_path / "src", coordinates={"longitude": "lon", "latitude": "name"})
    with pytest.raises(Invalid) as info:
        load(app, folder)
    assert info.value.code == "bad-descriptor"
    assert set(info.value.errors) == {"kaifang.coordinates.longitude"}
    assert "'lon' is not a column of the file" in info.value.detail
    assert counts(app) == (0, 0, 0, 0)
    assert not list((Path(app.config["DATA_DIR"]) / "districts").glob("*.parquet"))


def _rename_schema_field(folder: Path, old: str, new: str) -> None:
    """Rename a schema field and drop its declared type (a typed field naming no column is the
    store's `unknown-column` already; an untyped one only names a data dictionary entry)."""
    doc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    for field in doc["resources"][0]["schema"]["fields"]:
        if field["name"] == old:
            field["name"] = new
            field.pop("type", None)
    (folder / "datapackage.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def test_a_schema_field_that_is_no_column_is_refused_and_nothing_kept(app, tmp_path):
    """A misspelt schema field used to load and give the data dictionary a column that does not exist."""
    folder = dataset_folder(tmp_path / "src")
    _rename_schema_field(folder, "population", "populaton")
    with pytest.raises(Invalid) as info:
        load(app, folder)
    assert info.value.code == "bad-descriptor" and set(info.value.errors) == {"resources[0].schema.fields"}
    assert "'populaton' is not a column of the data file (its columns: code, name, population, founded)" in info.value.detail
    assert counts(app) == (0, 0, 0, 0)
    assert not list((Path(app.config["DATA_DIR"]) / "districts").glob("*.parquet"))


def test_a_descriptor_update_naming_no_column_keeps_what_was_there(app, tmp_path):
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    before = counts(app)
    _rename_schema_field(folder, "name", "名称")
    with pytest.raises(Invalid) as info:
        load(app, folder)  # the data file is unchanged: only the metadata would change
    assert info.value.code == "bad-descriptor"
    assert counts(app) == before
    with session_scope(app) as s:
        assert [f.name for f in s.scalars(select(Field).order_by(Field.position))] == ["code", "name", "population", "founded"]


def test_bad_descriptor_names_the_problem(app, tmp_path):
    folder = dataset_folder(tmp_path / "src")
    doc = json.loads((folder / "datapackage.json").read_text())
    doc["kaifang"]["theme"] = "space"
    doc["kaifang"]["open_class"] = "secret"
    (folder / "datapackage.json").write_text(json.dumps(doc))
    with pytest.raises(Invalid) as info:
        load(app, folder)
    assert set(info.value.errors) == {"kaifang.theme", "kaifang.open_class"}


def test_cli_init_load_versions(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from portal.cli import main

    monkeypatch.setenv("KAIFANG_INSTANCE", str(tmp_path / "inst"))
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    assert (tmp_path / "inst" / "kaifang.cfg").exists()
    assert (tmp_path / "inst" / "audit-code.key").stat().st_mode & 0o077 == 0  # stewards' copy of run code
    folder = dataset_folder(tmp_path / "src")
    result = runner.invoke(main, ["load", str(tmp_path / "src")])
    assert result.exit_code == 0, result.output
    assert "+ districts: created, version 1 (3 rows)" in result.output
    assert "= districts: unchanged" in runner.invoke(main, ["load", str(tmp_path / "src")]).output
    newer = tmp_path / "newer.csv"
    newer.write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    result = runner.invoke(main, ["load", str(newer), "--dataset", "districts", "--version-note", "adds 南开区"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(main, ["versions", "districts"]).output
    assert "v2" in listing and "adds 南开区" in listing and "v1" in listing
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    result = runner.invoke(main, ["load", str(bad), "--dataset", "districts"])
    assert result.exit_code == 1 and "empty" in result.output.lower()
    assert folder.exists()


def test_create_user_cli(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from portal.cli import main

    monkeypatch.setenv("KAIFANG_INSTANCE", str(tmp_path / "inst"))
    runner = CliRunner()
    runner.invoke(main, ["init"])
    ok = runner.invoke(main, ["create-user", "--role", "steward", "--password", "correct horse battery", "a@example.org"])
    assert ok.exit_code == 0, ok.output
    dup = runner.invoke(main, ["create-user", "--role", "steward", "--password", "correct horse battery", "A@example.org"])
    assert dup.exit_code != 0 and "exists" in dup.output
    short = runner.invoke(main, ["create-user", "--role", "developer", "--password", "short", "b@example.org"])
    assert short.exit_code != 0 and "password" in short.output


def test_cli_load_while_the_database_is_locked_says_so(tmp_path, monkeypatch):
    """SQLite refusing the write ("database is locked": another load holds it) ends the load with
    one clear line and exit status 1, never a traceback; nothing of it is kept."""
    import sqlite3

    from click.testing import CliRunner
    from sqlalchemy.exc import OperationalError

    from portal.catalog import publishing
    from portal.cli import main

    monkeypatch.setenv("KAIFANG_INSTANCE", str(tmp_path / "inst"))
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    dataset_folder(tmp_path / "src")

    def locked(*args, **kwargs):
        raise OperationalError("UPDATE counters SET value=?", (), sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(publishing, "load_package", locked)
    result = runner.invoke(main, ["load", str(tmp_path / "src")])
    assert result.exit_code == 1
    assert "✗ districts: the database did not accept the write (database is locked)" in result.output
    assert "[database-busy]" in result.output and "Traceback" not in result.output
    monkeypatch.setattr(publishing, "add_version", locked)
    result = runner.invoke(main, ["load", str(tmp_path / "src" / "districts" / "data.csv"), "--dataset", "districts"])
    assert result.exit_code == 1 and "[database-busy]" in result.output


def test_cli_load_before_init_says_to_run_init(tmp_path, monkeypatch):
    """A load into an instance whose database has no tables (never initialised) asked whether
    another `kaifang load` was running (`database-busy`); it says to run `kaifang init`."""
    from click.testing import CliRunner

    from portal.cli import main

    monkeypatch.setenv("KAIFANG_INSTANCE", str(tmp_path / "inst"))
    monkeypatch.setenv("KAIFANG_SECRET_KEY", "test-secret")
    (tmp_path / "inst").mkdir()
    dataset_folder(tmp_path / "src")
    result = CliRunner().invoke(main, ["load", str(tmp_path / "src")])
    assert result.exit_code == 1
    assert "run `kaifang init` first" in result.output and "[not-initialised]" in result.output
    assert "another `kaifang load`" not in result.output and "Traceback" not in result.output


def test_geojson_points_take_the_names_of_kaifang_coordinates(app, tmp_path, client):
    """docs/datasets.md: a GeoJSON resource's rows are its properties plus the two fields named
    in `kaifang.coordinates`. The store named them `longitude`/`latitude` whatever the descriptor
    said, so a descriptor naming 经度/纬度 was refused at load (`bad-descriptor`)."""
    folder = dataset_folder(tmp_path / "src", slug="stations", coordinates={"longitude": "经度", "latitude": "纬度"})
    features = [{"type": "Feature", "properties": {"name": name, "count": n},
                 "geometry": {"type": "Point", "coordinates": [lon, lat]}}
                for name, n, lon, lat in (("天安门", 3, 116.3975, 39.9087), ("故宫", 5, 116.3972, 39.9169))]
    (folder / "data.csv").unlink()
    (folder / "stations.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features},
                                                        ensure_ascii=False), encoding="utf-8")
    doc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    doc["resources"] = [{"name": "stations", "path": "stations.geojson", "format": "geojson",
                         "mediatype": "application/geo+json", "encoding": "utf-8",
                         "schema": {"fields": [{"name": "name", "type": "string"}, {"name": "count", "type": "integer"},
                                               {"name": "经度", "type": "number"}, {"name": "纬度", "type": "number"}]}}]
    doc["kaifang"]["fields"] = {}
    (folder / "datapackage.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    outcome = load(app, folder)
    assert [c.name for c in outcome.version.columns] == ["name", "count", "经度", "纬度"]
    rows = client.get("/api/v1/datasets/stations/rows").json["rows"]
    assert rows[0]["经度"] == 116.3975 and rows[1]["纬度"] == 39.9169
    with client.get("/datasets/stations/download/geojson") as response:
        exported = json.loads(response.get_data(as_text=True))
    assert exported["features"][0]["geometry"]["coordinates"] == [116.3975, 39.9087]


def test_cli_load_writes_the_download_files_in_the_background(tmp_path, monkeypatch):
    """After publishing, `kaifang load` starts `kaifang export-cache` detached: the files (XLSX
    included) appear without anyone downloading, and the log says what was written."""
    import time

    from click.testing import CliRunner

    from portal.cli import main

    instance = tmp_path / "inst"
    monkeypatch.setenv("KAIFANG_INSTANCE", str(instance))
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    dataset_folder(tmp_path / "src")
    result = runner.invoke(main, ["load", str(tmp_path / "src")])
    assert result.exit_code == 0 and "being written in the background" in result.output, result.output
    log = instance / "logs" / "export-cache.log"
    deadline = time.monotonic() + 180  # a wait for the other process, not an assertion on its speed
    while time.monotonic() < deadline and "file(s) ready" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.2)
    assert "+ districts v1 xlsx: " in log.read_text() and "1 dataset(s), 5 file(s) ready" in log.read_text()
    assert len(list((instance / "data" / "exports").glob("*/data.xlsx"))) == 1
    monkeypatch.setenv("KAIFANG_EXPORT_CACHE_AFTER_LOAD", "false")
    newer = tmp_path / "newer.csv"
    newer.write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    result = runner.invoke(main, ["load", str(newer), "--dataset", "districts"])
    assert result.exit_code == 0 and "background" not in result.output
