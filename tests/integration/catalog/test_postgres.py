"""The catalog, pages and API on the real PostgreSQL server (required in CI)."""

from __future__ import annotations

import pytest

from portal.db import database
from tests.conftest import DATASETS, make_app
from tests.factories import load

pytestmark = pytest.mark.postgres
SLUGS = ("nyc-airport-weather-2013", "china-county-coordinates", "clinic-visits-synthetic", "minnesota-barley-yields")


@pytest.fixture
def pg_client(postgres_url, tmp_path):
    app = make_app(tmp_path / "instance", DATABASE_URL=postgres_url)
    for slug in SLUGS:
        load(app, DATASETS / slug)
    yield app.test_client()
    database(app).engine.dispose()


def test_pages_facets_and_api_on_postgres(pg_client):
    assert pg_client.get("/").status_code == 200
    listing = pg_client.get("/api/v1/datasets?open_class=open&sort=records").json
    assert listing["total"] == 3
    facets = {f["name"]: {v["key"]: v["count"] for v in f["values"]} for f in listing["facets"]}
    assert facets["open_class"] == {"open": 3}
    assert sum(facets["format"].values()) == 3
    assert pg_client.get("/datasets?q=气象&theme=weather").status_code == 200
    for slug in SLUGS:
        assert pg_client.get(f"/datasets/{slug}").status_code == 200
    rows = pg_client.get("/api/v1/datasets/china-county-coordinates/rows?size=5&sort=-adcode").json
    assert len(rows["rows"]) == 5
    assert pg_client.get("/datasets/clinic-visits-synthetic/download/csv").status_code == 403
    assert pg_client.get("/datasets/clinic-visits-synthetic/sample.zip").status_code == 200
    # the ε-mode dataset's size, summed and sorted by in SQL (the declared mode read from JSON): 0031f
    everything = {d["slug"]: d for d in pg_client.get("/api/v1/datasets?sort=records&size=10").json["items"]}
    clinic = everything["clinic-visits-synthetic"]
    assert clinic["row_count"] is None and 100_000 < clinic["row_count_approx"] < 120_000
    assert pg_client.get("/datasets?page=abc").status_code == 400
    assert 'id="preview-problems"' in pg_client.get("/datasets/china-county-coordinates?page=abc").text


def test_counters_on_postgres(pg_client):
    slug = "minnesota-barley-yields"
    for query in ("", "?page=2", "?sort=yield"):  # one visitor: one view a day (view_marks)
        pg_client.get(f"/datasets/{slug}{query}")
    pg_client.get(f"/datasets/{slug}", headers={"User-Agent": "a second visitor"})
    pg_client.get(f"/datasets/{slug}/download/json").close()
    from portal.catalog.counters import flush_all

    flush_all()
    summary = pg_client.get(f"/api/v1/datasets/{slug}").json["summary"]
    assert summary["view_count"] == 2 and summary["download_count"] == 1
