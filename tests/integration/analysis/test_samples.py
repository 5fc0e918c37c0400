"""Sample data (样本数据) of conditional datasets: made at publication, public, invented rows."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import duckdb

from tests.conftest import DATASETS

CLINIC = "clinic-visits-synthetic"


def _package(analysis_app) -> zipfile.ZipFile:
    response = analysis_app.test_client().get(f"/datasets/{CLINIC}/sample.zip")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('-sample.zip"')
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def _sample(analysis_app) -> list[dict]:
    with _package(analysis_app) as archive:
        text = archive.read(f"{CLINIC}-sample.csv").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_sample_package_carries_the_data_dictionary(analysis_app):
    with _package(analysis_app) as archive:
        descriptor = json.loads(archive.read("datapackage.json"))
    assert descriptor["name"] == CLINIC and descriptor["kaifang"]["open_class"] == "conditional"
    assert descriptor["kaifang"]["fields"]["patient_id"]["identifier"] is True
    assert descriptor["kaifang"]["fields"]["cost"]["sensitive"] is True


def test_code_written_offline_runs_unchanged_with_the_same_rules(analysis_app, tmp_path, sandbox_run):
    from click.testing import CliRunner

    from portal.cli import main

    package = tmp_path / "sample.zip"
    package.write_bytes(analysis_app.test_client().get(f"/datasets/{CLINIC}/sample.zip").get_data())
    code = tmp_path / "analysis.py"
    code.write_text(
        "t = dataset('clinic-visits-synthetic').group_by('district').agg(count(), mean('cost')).collect()\n"
        "print(len(t.rows))\n"
        "try:\n    dataset('clinic-visits-synthetic').head(3)\nexcept QueryRefused as refusal:\n    print(refusal.rule)\n",
        encoding="utf-8")
    offline = CliRunner().invoke(main, ["offline-run", str(code), "--data", str(package), "--json"])
    result = json.loads(offline.output)
    assert result["status"] == "ok", result
    lines = result["stdout"].split()
    assert 1 <= int(lines[0]) <= 16 and lines[1] == "rows-not-released"
    online = sandbox_run(code.read_text(encoding="utf-8"), CLINIC)
    assert online["status"] == "ok" and online["stdout"].split()[1] == "rows-not-released"


def test_sample_has_the_schema_and_invented_identifiers(analysis_app):
    rows = _sample(analysis_app)
    real_file = next((DATASETS / CLINIC).glob("*.csv*"))
    real = duckdb.sql(f"SELECT * FROM read_csv('{real_file}')")
    assert len(rows) == 1000
    assert list(rows[0]) == real.columns
    real_ids = {r[0] for r in duckdb.sql(f"SELECT visit_id FROM read_csv('{real_file}')").fetchall()}
    assert all(r["visit_id"].startswith("S") and r["visit_id"] not in real_ids for r in rows)


def test_sample_follows_released_distributions(analysis_app):
    rows = _sample(analysis_app)
    real_file = next((DATASETS / CLINIC).glob("*.csv*"))
    districts = {r[0] for r in duckdb.sql(f"SELECT district FROM read_csv('{real_file}')").fetchall()}
    assert {r["district"] for r in rows} <= districts
    costs = sorted(float(r["cost"]) for r in rows)
    true_median = duckdb.sql(f"SELECT median(cost) FROM read_csv('{real_file}')").fetchall()[0][0]
    sample_median = costs[len(costs) // 2]
    assert 0.3 < sample_median / true_median < 3, "a rough shape, not a copy"
    real_max = duckdb.sql(f"SELECT max(cost) FROM read_csv('{real_file}')").fetchall()[0][0]
    assert costs[-1] < real_max, "the extreme (disclosive) tail is never reproduced"


def test_open_datasets_have_no_sample(analysis_app):
    assert analysis_app.test_client().get("/datasets/nyc-flights-2013/sample.zip").status_code == 404
