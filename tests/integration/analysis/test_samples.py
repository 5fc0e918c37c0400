"""Sample data (样本数据) of conditional datasets: made at publication, public, invented rows."""

from __future__ import annotations

import csv
import io

import duckdb

from tests.conftest import DATASETS

CLINIC = "clinic-visits-synthetic"


def _sample(analysis_app) -> list[dict]:
    response = analysis_app.test_client().get(f"/datasets/{CLINIC}/sample.csv")
    assert response.status_code == 200
    assert "sample-synthetic" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


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
    assert analysis_app.test_client().get("/datasets/nyc-flights-2013/sample.csv").status_code == 404
