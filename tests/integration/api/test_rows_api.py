"""The row endpoint of API v1: filters, fields, cursors and the Link header, formats, versions,
conditional data, ETags/304, gzip and CORS."""

from __future__ import annotations

import gzip
import json

from tests.factories import CSV, dataset_folder, load

FLIGHTS = "nyc-flights-2013"
ROWS = f"/api/v1/datasets/{FLIGHTS}/rows"


def test_filtered_page_with_cursor_link_and_total(bundled_client):
    response = bundled_client.get(f"{ROWS}?origin__eq=JFK&month__eq=6&size=100")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.json
    assert body["version"] == 1 and body["size"] == 100 and len(body["rows"]) == 100
    assert {(r["origin"], r["month"]) for r in body["rows"]} == {("JFK", 6)}
    assert body["total"] > 100 and body["next_cursor"]
    assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
    assert "cursor=" in body["next"] and "origin__eq=JFK" in body["next"]


def test_cursor_pages_cover_every_row_once(bundled_client):
    url, seen, total = f"{ROWS}?origin__eq=LGA&month__eq=2&day__le=3&sort=-dep_delay&_fields=flight,dep_delay,carrier&size=250", [], None
    while url:
        body = bundled_client.get(url).json
        total = body["total"]
        seen += [(r["carrier"], r["flight"], r["dep_delay"]) for r in body["rows"]]
        assert all(set(r) == {"flight", "dep_delay", "carrier"} for r in body["rows"])
        url = body["next"]
    assert len(seen) == total and total > 250
    delays = [d for _, _, d in seen if d is not None]
    assert delays == sorted(delays, reverse=True)


def test_ndjson_and_csv_pages(bundled_client):
    ndjson = bundled_client.get(f"{ROWS}?carrier__eq=HA&size=10&format=ndjson&_fields=flight,time_hour")
    assert ndjson.mimetype == "application/x-ndjson" and 'rel="next"' in ndjson.headers["Link"]
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert len(lines) == 10 and "T" in lines[0]["time_hour"]
    csv = bundled_client.get(f"{ROWS}?carrier__eq=HA&size=10&format=csv&_fields=flight,carrier")
    assert csv.mimetype == "text/csv"
    assert csv.text.splitlines()[0] == '"flight","carrier"' and len(csv.text.splitlines()) == 11
    last = bundled_client.get(f"{ROWS}?carrier__eq=HA&size=1000&format=csv")
    assert "Link" not in last.headers


def test_earlier_versions_are_readable(app, client, tmp_path):
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    (folder / "data.csv").write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    load(app, folder)
    assert client.get("/api/v1/datasets/districts/rows").json["total"] == 4
    old = client.get("/api/v1/datasets/districts/rows?version=1").json
    assert old["version"] == 1 and old["total"] == 3
    assert client.get("/api/v1/datasets/districts/versions/1").json["row_count"] == 3
    missing = client.get("/api/v1/datasets/districts/rows?version=7")
    assert missing.status_code == 404 and missing.json["code"] == "version-not-found"


def test_conditional_rows_are_never_served(bundled_client):
    for query in ("", "?format=csv", "?version=1", "?format=ndjson&size=1"):
        response = bundled_client.get(f"/api/v1/datasets/clinic-visits-synthetic/rows{query}")
        assert response.status_code == 403 and response.mimetype == "application/problem+json"
        assert response.json["code"] == "rows-not-open"
        assert response.json["type"].endswith("/developers/problems/rows-not-open")
        assert "rows" not in response.json
    page = bundled_client.get("/developers/problems/rows-not-open")
    assert page.status_code == 200 and "申请" in page.text


def test_etag_and_304_for_rows_and_metadata(bundled_client):
    for url in (f"{ROWS}?origin__eq=EWR&size=5", f"/api/v1/datasets/{FLIGHTS}", "/api/v1/themes"):
        first = bundled_client.get(url)
        etag = first.headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        again = bundled_client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
        assert bundled_client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    rows = bundled_client.get(f"{ROWS}?origin__eq=EWR&size=5")
    assert "Last-Modified" in rows.headers and "max-age" in rows.headers["Cache-Control"]


def test_gzip_and_its_etag(bundled_client):
    url = f"{ROWS}?origin__eq=JFK&size=200"
    response = bundled_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(response.data))["rows"]) == 200
    etag = response.headers["ETag"]
    assert etag.endswith(':gzip"')
    assert bundled_client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag}).status_code == 304


def test_cors_for_reads_without_credentials(bundled_client):
    response = bundled_client.get(f"{ROWS}?size=1", headers={"Origin": "https://apps.example.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Link" in response.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = bundled_client.options(ROWS, headers={"Origin": "https://apps.example.org",
                                                      "Access-Control-Request-Method": "GET",
                                                      "Access-Control-Request-Headers": "X-API-Key"})
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
    problem = bundled_client.get("/api/v1/datasets/nope", headers={"Origin": "https://apps.example.org"})
    assert problem.headers["Access-Control-Allow-Origin"] == "*"
