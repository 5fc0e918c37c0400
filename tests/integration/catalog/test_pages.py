"""Public pages over the bundled catalog: every page answers, conditional rows never show,
bad parameters give 400 (never 500), counts are recorded."""

from __future__ import annotations

import csv
import io
import json

import pytest

from portal.catalog.packages import find_packages, read_package
from tests.conftest import DATASETS

SPECS = [read_package(folder) for folder in find_packages(DATASETS)]
OPEN = [s.slug for s in SPECS if s.open_class == "open"]
CONDITIONAL = [s.slug for s in SPECS if s.open_class == "conditional"]
FLIGHTS = "nyc-flights-2013"


def test_bundled_catalog_is_big_enough():
    real = [s for s in SPECS if not s.synthetic]
    assert len(real) >= 20
    assert len({s.theme for s in real}) >= 12
    assert len(CONDITIONAL) >= 2


@pytest.mark.parametrize("path", ["/", "/datasets", "/about", "/licence", "/themes/transport",
                                  "/datasets?theme=geospatial&sort=records", "/datasets?open_class=conditional",
                                  "/datasets?format=csv&page=1", "/datasets?q=flights", "/login"])
def test_public_pages_answer(bundled_client, path):
    response = bundled_client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert "<h1" in response.text


@pytest.mark.parametrize("slug", [s.slug for s in SPECS])
def test_every_dataset_page_answers(bundled_client, slug):
    response = bundled_client.get(f"/datasets/{slug}")
    assert response.status_code == 200
    spec = next(s for s in SPECS if s.slug == slug)
    assert spec.title_zh in response.text
    assert ('<table class="rows">' in response.text) == (spec.open_class == "open")


def test_home_counts_themes_and_totals(bundled_client):
    text = bundled_client.get("/").text
    assert text.count('class="theme-tile') == 21
    assert "道路交通" in text and "个数据集" in text


@pytest.mark.parametrize("slug", CONDITIONAL)
def test_conditional_rows_never_leave(bundled_client, slug):
    page = bundled_client.get(f"/datasets/{slug}").text
    assert 'id="apply"' in page and 'class="rows"' not in page and "/download/" not in page
    for fmt in ("csv", "json", "ndjson", "parquet", "geojson"):
        response = bundled_client.get(f"/datasets/{slug}/download/{fmt}")
        assert response.status_code == 403
    api = bundled_client.get(f"/api/v1/datasets/{slug}/rows")
    assert api.status_code == 403
    assert api.json["code"] == "rows-not-open"
    assert bundled_client.get(f"/datasets/{slug}/chart.json?x=district").status_code == 403


def test_flights_csv_download_has_every_row(bundled_client):
    response = bundled_client.get(f"/datasets/{FLIGHTS}/download/csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    response.close()  # the body is a file (the download cache)
    assert len(rows) - 1 == 336_776


def test_csv_with_bom_for_excel(bundled_client):
    slug = OPEN[0]
    with bundled_client.get(f"/datasets/{slug}/download/csv?bom=1") as response:
        body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("fmt", ["json", "ndjson", "parquet"])
def test_other_formats(bundled_client, fmt):
    with bundled_client.get(f"/datasets/china-smoking-lung-cancer/download/{fmt}") as response:
        body = response.get_data()
    assert response.status_code == 200
    if fmt == "json":
        assert len(json.loads(body)) == 8
    elif fmt == "ndjson":
        assert len(body.decode().strip().splitlines()) == 8
    else:
        assert body[:4] == b"PAR1"


@pytest.mark.parametrize("query", ["page=-1", "page=abc", "page=0", "sort=nope", "sort=-nope",
                                   "nope__eq=1", "origin__like=x", "dep_delay__gt=abc", "dep_delay__between=1",
                                   "size=abc"])
def test_bad_preview_parameters_are_explained_beside_the_table(bundled_client, query):
    """A bad parameter no longer replaces the page with a 400 (issue 13): it is left out and
    explained, and the table shows the rest."""
    response = bundled_client.get(f"/datasets/{FLIGHTS}?{query}")
    assert response.status_code == 200, response.text[:300]
    assert 'id="preview-problems"' in response.text and '<table class="rows">' in response.text
    assert response.text.count("<tr>") > 20


def test_huge_page_size_is_clamped(bundled_client):
    response = bundled_client.get(f"/datasets/{FLIGHTS}?size=1000000")
    assert response.status_code == 200
    table = response.text.split('<table class="rows">')[1].split("</table>")[0]
    body_rows = table.split("<tbody>")[1].count("<tr>")
    assert body_rows == 500


@pytest.mark.parametrize("query", ["page=-1", "page=x", "sort=random"])
def test_bad_list_parameters_give_400(bundled_client, query):
    assert bundled_client.get(f"/datasets?{query}").status_code == 400


def test_unknown_things_give_404_pages(bundled_client):
    for path in ("/datasets/no-such-dataset", "/themes/nope", "/departments/nope", "/no/such/page",
                 f"/datasets/{FLIGHTS}/download/xls", f"/datasets/{FLIGHTS}/download/geojson"):
        response = bundled_client.get(path)
        assert response.status_code == 404, path
        assert "未找到" in response.text


def test_api_problem_document(bundled_client):
    response = bundled_client.get("/api/v1/datasets/no-such-dataset")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert set(response.json) >= {"type", "title", "status", "detail", "code"}
    assert response.json["code"] == "dataset-not-found"


def test_api_rows_filter_sort_and_page(bundled_client):
    response = bundled_client.get(f"/api/v1/datasets/{FLIGHTS}/rows?origin__eq=JFK&sort=-dep_delay&size=5")
    assert response.status_code == 200
    body = response.json
    assert body["total"] == 111_279
    assert [r["origin"] for r in body["rows"]] == ["JFK"] * 5
    delays = [r["dep_delay"] for r in body["rows"]]
    assert delays == sorted(delays, reverse=True)
    assert "X-RateLimit-Limit" in response.headers


def test_chart_series(bundled_client):
    response = bundled_client.get(f"/datasets/{FLIGHTS}/chart.json?x=origin&agg=count")
    values = {v["x"]: v["y"] for v in response.json["values"]}
    assert values == {"EWR": 120_835, "JFK": 111_279, "LGA": 104_662}
    assert bundled_client.get(f"/datasets/{FLIGHTS}/chart.json?x=origin&agg=sum").status_code == 400


def test_views_and_downloads_are_counted(bundled_client):
    from portal.catalog.counters import flush_all

    slug = "china-smoking-lung-cancer"
    bundled_client.get(f"/datasets/{slug}")
    flush_all()
    before = bundled_client.get(f"/api/v1/datasets/{slug}").json["summary"]
    bundled_client.get(f"/datasets/{slug}", headers={"User-Agent": "another visitor"})
    bundled_client.get(f"/datasets/{slug}/download/csv").close()
    flush_all()
    after = bundled_client.get(f"/api/v1/datasets/{slug}").json["summary"]
    assert after["view_count"] == before["view_count"] + 1  # a new visitor; the first one's repeat is not counted
    assert after["download_count"] == before["download_count"] + 1


def test_english_pages(bundled_client):
    bundled_client.get("/locale/en?next=/datasets")
    text = bundled_client.get(f"/datasets/{FLIGHTS}").text
    assert "Data dictionary" in text and "NYC flights 2013" in text


def test_locale_switch_does_not_redirect_off_site(bundled_client):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = bundled_client.get("/locale/en", query_string={"next": target})
        assert response.headers["Location"] == "/"
