"""Charts that never mislead and point maps (issue 13, items 1-2), on the bundled catalog: the
default chart each dataset shape gets, the cap with its "others" and note, time buckets, bins,
and every plotted value checked against DuckDB on the same Parquet file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Dataset
from portal.db import session_scope

FLIGHTS, FERTILITY, CO2 = "nyc-flights-2013", "world-fertility-rate", "mauna-loa-co2-weekly"
# the rows of the fertility table that aggregate countries, as its descriptor flags them
REGIONS = ("Latin America & Caribbean (all income levels)", "OECD members", "Other small states",
           "Pacific island small states", "Sub-Saharan Africa (IFC classification)")
COUNTRIES_ONLY = f"country NOT IN ({', '.join(repr(r) for r in REGIONS)})"


def parquet(app, slug: str) -> str:
    with app.app_context(), session_scope(app) as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == slug).options(selectinload(Dataset.current_version)))
        return str(Path(app.config["DATA_DIR"]) / dataset.current_version.storage_path)


def duck(app, slug: str, statement: str, *params) -> list[tuple]:
    return duckdb.sql(statement.format(t=f"read_parquet('{parquet(app, slug)}')"), params=list(params) or None).fetchall()


def chart(client, slug: str, query: str = "") -> dict:
    response = client.get(f"/datasets/{slug}/chart.json{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


@pytest.mark.parametrize(("slug", "x", "y", "agg", "mark"), [
    (FLIGHTS, "time_hour", "dep_delay", "mean", "line"),              # a measure over time
    (CO2, "date", "co2", "mean", "line"),
    ("global-temperature-anomaly", "year", "anomaly", "mean", "line"),  # integer years are times
    ("us-state-crime-2009", "state", "violent", "sum", "bar"),        # one row per key: the values
    ("minnesota-barley-yields", "site", "yield", "mean", "bar"),      # repeated category: a measure's mean
    ("china-township-divisions-2023", "province", None, "count", "bar"),  # no measure: counts; names over codes
    ("china-county-coordinates", "level", None, "count", "bar"),      # coordinates are no measure
    ("shanghai-stock-exchange-closures", "date", None, "count", "line"),
])
def test_default_chart_follows_the_data_dictionary(bundled_client, slug, x, y, agg, mark):
    body = chart(bundled_client, slug)
    assert body["query"] == {"x": x, "y": y, "agg": agg, "kind": mark}
    assert body["mark"] == mark and body["title"] and body["values"]


def test_one_row_per_key_shows_values_not_counts(bundled_client):
    body = chart(bundled_client, "us-state-crime-2009")
    assert {v["y"] for v in body["values"]} != {1}
    assert body["y"]["title"].startswith("暴力犯罪率")  # the value itself, no aggregate word, in Chinese


def test_categories_are_capped_with_others_and_said(bundled_app, bundled_client):
    body = chart(bundled_client, FERTILITY, "?x=country&agg=mean&y=fertility_rate")
    expected = duck(bundled_app, FERTILITY, f"SELECT country, avg(fertility_rate) v FROM {{t}} WHERE {COUNTRIES_ONLY} "
                                             "GROUP BY 1 ORDER BY v DESC NULLS LAST, country LIMIT 60")
    shown = [v for v in body["values"] if not v.get("others")]
    assert [(v["x"], pytest.approx(v["y"])) for v in shown] == [(k, pytest.approx(v)) for k, v in expected]
    (others,) = [v for v in body["values"] if v.get("others")]
    keys = [k for k, _ in expected]
    rest = duck(bundled_app, FERTILITY, f"SELECT avg(fertility_rate) FROM {{t}} WHERE {COUNTRIES_ONLY} AND country NOT IN "
                                        f"({', '.join('?' * len(keys))})", *keys)[0][0]
    assert others["y"] == pytest.approx(rest)
    total = duck(bundled_app, FERTILITY, f"SELECT count(DISTINCT country) FROM {{t}} WHERE {COUNTRIES_ONLY}")[0][0]
    assert body["groups"] == total
    assert f"{total} 个类别中的前 60 个" in body["note"] and "其他" in body["note"]  # said on the chart, in Chinese


def test_default_chart_leaves_out_rows_that_aggregate_others_and_says_so(bundled_app, bundled_client):
    body = chart(bundled_client, FERTILITY)
    assert body["query"] == {"x": "year", "y": "fertility_rate", "agg": "mean", "kind": "line"}
    expected = duck(bundled_app, FERTILITY, f"SELECT year, avg(fertility_rate) FROM {{t}} WHERE {COUNTRIES_ONLY} "
                                            "GROUP BY 1 ORDER BY 1")
    assert [pytest.approx(v["y"]) for v in body["values"]] == [v for _, v in expected]
    assert body["rows"] == 214 * 54  # countries × years: the five aggregates' rows are not counted
    assert "已排除汇总其他行的行" in body["note"] and "OECD members" in body["note"] and "另有 2 项" in body["note"]
    # a visitor filtering on the flagged field chose the rows: an aggregate is charted as asked
    oecd = chart(bundled_client, FERTILITY, "?country__eq=OECD%20members")
    assert oecd["rows"] == 54 and "已排除" not in oecd["note"]


def test_the_data_dictionary_names_the_aggregate_rows(bundled_client):
    page = bundled_client.get(f"/datasets/{FERTILITY}").get_data(as_text=True)
    assert "汇总行：" in page and "Sub-Saharan Africa (IFC classification)" in page.split('id="dictionary"')[1]
    package = bundled_client.get(f"/datasets/{FERTILITY}/datapackage.json").json
    (country,) = [f for f in package["resources"][0]["schema"]["fields"] if f["name"] == "country"]
    assert country["kaifang"]["aggregates"] == list(REGIONS)


def test_the_json_api_names_the_aggregate_rows_and_documents_them(bundled_client):
    """API v1's data dictionary (`/fields`, a dataset's `fields`) carries the descriptor's flag,
    and the OpenAPI schema describes it and says it is always sent."""
    fields = {f["name"]: f for f in bundled_client.get(f"/api/v1/datasets/{FERTILITY}/fields").json}
    assert fields["country"]["aggregates"] == list(REGIONS) and fields["year"]["aggregates"] == []
    detail = bundled_client.get(f"/api/v1/datasets/{FERTILITY}").json
    assert {f["name"]: f["aggregates"] for f in detail["fields"]} == {n: f["aggregates"] for n, f in fields.items()}
    schema = bundled_client.get("/api/v1/openapi.json").json["components"]["schemas"]["FieldInfo"]
    assert "aggregates" in schema["required"]
    assert "kaifang.fields.<field>.aggregates" in schema["properties"]["aggregates"]["description"]
    assert all(p.get("description") for p in schema["properties"].values())


def test_the_chart_follows_the_preview_filters_and_says_which(bundled_app, bundled_client):
    query = "?x=carrier&agg=count&origin__eq=JFK&dep_delay__gt=60"
    body = chart(bundled_client, FLIGHTS, query)
    expected = dict(duck(bundled_app, FLIGHTS, "SELECT carrier, count(*) FROM {t} WHERE origin = 'JFK' "
                                               "AND dep_delay > 60 GROUP BY 1"))
    assert {v["x"]: v["y"] for v in body["values"]} == expected
    assert body["rows"] == sum(expected.values())
    assert body["query"]["origin__eq"] == "JFK" and body["query"]["dep_delay__gt"] == "60"
    assert "仅含满足以下条件的记录：始发机场 等于 JFK；起飞延误" in body["note"] and "> 60" in body["note"]
    rows = list(csv.reader(io.StringIO(bundled_client.get(f"/datasets/{FLIGHTS}/chart.csv{query}")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert {r[0]: int(r[1]) for r in rows[1:]} == expected  # the CSV of the same, filtered, values


@pytest.mark.parametrize(("query", "code"), [
    ("?dep_delay__gt=abc", "invalid-value"),
    ("?nope__eq=1", "unknown-column"),
    ("?origin__like=J", "unknown-operator"),
    ("?origin__notin=JFK", "unknown-operator"),  # the charts' own exclusion is not offered to visitors
])
def test_bad_chart_filters_are_problem_json(bundled_client, query, code):
    response = bundled_client.get(f"/datasets/{FLIGHTS}/chart.json{query}")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert response.json["code"] == code


def test_the_dataset_page_hands_the_preview_filters_to_the_chart(bundled_client):
    page = bundled_client.get(f"/datasets/{FLIGHTS}?origin__eq=JFK&dep_delay__gt=abc").get_data(as_text=True)
    form = page.split('class="chart-form"')[1].split(">")[0]
    assert 'data-filters="origin__eq=JFK"' in form  # the bad filter the preview left out is left out here too


def test_counts_by_category_match_duckdb_and_sum_to_all_rows(bundled_app, bundled_client):
    body = chart(bundled_client, FLIGHTS, "?x=dest&agg=count")
    expected = dict(duck(bundled_app, FLIGHTS, "SELECT dest, count(*) FROM {t} GROUP BY 1"))
    shown = {v["x"]: v["y"] for v in body["values"] if not v.get("others")}
    assert all(expected[k] == n for k, n in shown.items())
    assert sum(v["y"] for v in body["values"]) == 336_776


def test_time_is_bucketed_to_the_cap_not_cut(bundled_app, bundled_client):
    body = chart(bundled_client, CO2)
    assert len(body["values"]) <= body["limit"]
    first, last = body["values"][0]["x"], body["values"][-1]["x"]
    low, high = duck(bundled_app, CO2, "SELECT min(date), max(date) FROM {t}")[0]
    assert first.startswith(f"{low:%Y-%m}") and last.startswith(f"{high:%Y-%m}")  # the whole period
    months = duck(bundled_app, CO2, "SELECT date_trunc('month', date) m, avg(co2) FROM {t} GROUP BY 1 ORDER BY 1")
    assert [pytest.approx(v["y"]) for v in body["values"]] == [v for _, v in months]
    flights = chart(bundled_client, FLIGHTS, "?x=time_hour&agg=count")
    assert flights["values"][-1]["x"].startswith("2013-12-31") or flights["values"][-1]["x"].startswith("2014-01-01")
    assert sum(v["y"] for v in flights["values"]) == 336_776


def test_numeric_x_is_binned(bundled_app, bundled_client):
    body = chart(bundled_client, FLIGHTS, "?x=distance&agg=count")
    assert body["x"]["scale"] == "quantitative" and len(body["values"]) <= 40
    step = body["values"][0]["x2"] - body["values"][0]["x"]
    expected = duck(bundled_app, FLIGHTS, "SELECT floor(distance / ?) * ?, count(*) FROM {t} "
                                          "WHERE distance IS NOT NULL GROUP BY 1 ORDER BY 1", step, step)
    assert [(v["x"], v["y"]) for v in body["values"]] == [(float(a), b) for a, b in expected]


def test_scatter_samples_and_says_so(bundled_client):
    body = chart(bundled_client, FLIGHTS, "?x=distance&y=air_time&kind=point")
    assert body["x"]["scale"] == "scatter" and len(body["values"]) == body["limit"]
    assert "327,346" in body["note"]


def test_small_integer_codes_keep_their_order(bundled_client):
    body = chart(bundled_client, FLIGHTS, "?x=month&agg=count")
    assert [v["x"] for v in body["values"]] == list(range(1, 13))


def test_a_line_is_drawn_only_where_x_has_an_order(bundled_client):
    # carriers come largest first: a line through them would draw a trend that is not there
    assert chart(bundled_client, FLIGHTS, "?x=carrier&agg=count&kind=line")["mark"] == "bar"
    assert chart(bundled_client, FLIGHTS, "?x=carrier&agg=count&kind=point")["mark"] == "point"
    assert chart(bundled_client, FLIGHTS, "?x=month&agg=count&kind=line")["mark"] == "line"


@pytest.mark.parametrize(("query", "code"), [
    ("?x=country&agg=mean", "missing-measure"),
    ("?x=nope", "unknown-column"),
    ("?x=country&agg=avg", "bad-parameter"),
    ("?x=country&agg=sum&y=country", "invalid-measure"),
])
def test_chart_errors_are_problem_json(bundled_client, query, code):
    response = bundled_client.get(f"/datasets/{FERTILITY}/chart.json{query}", headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == code
    assert bundled_client.get(response.json["type"].replace("http://localhost", "")).status_code == 200  # documented


def test_chart_titles_follow_the_page_language(bundled_app):
    client = bundled_app.test_client()
    client.get("/locale/en")
    body = chart(client, FLIGHTS, "?x=carrier&agg=mean&y=arr_delay")
    assert body["y"]["title"] == "Mean of Arrival delay (min)"
    assert body["title"] == "Mean of Arrival delay (min) by Two-letter carrier code"
    client.get("/locale/zh_CN")
    body = chart(client, FLIGHTS, "?x=carrier&agg=mean&y=arr_delay")
    assert "到达延误" in body["y"]["title"] and "mean" not in body["y"]["title"].lower()


def test_chart_csv_is_the_plotted_values(bundled_client):
    body = chart(bundled_client, FERTILITY, "?x=country&agg=mean&y=fertility_rate")
    response = bundled_client.get(f"/datasets/{FERTILITY}/chart.csv?x=country&agg=mean&y=fertility_rate")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 1 + len(body["values"])
    assert [(r[0], float(r[1])) for r in rows[1:]] == [(v["x"], pytest.approx(v["y"])) for v in body["values"]]


def test_map_points_carry_their_rows(bundled_app, bundled_client):
    response = bundled_client.get("/datasets/usgs-earthquakes-2018-week/points.json")
    assert response.status_code == 200
    body = response.json
    assert body["total"] == len(body["points"]) == 1707 and not body["cells"]
    expected = {r[0]: (r[1], r[2]) for r in duck(bundled_app, "usgs-earthquakes-2018-week",
                                                   "SELECT id, longitude, latitude FROM {t}")}
    for lon, lat, values in body["points"][:50]:
        assert expected[values[0]] == (lon, lat)
    assert "震级" in body["columns"]


def test_map_bins_beyond_the_cap(bundled_app, tmp_path):
    bundled_app.config["MAP_POINT_LIMIT"] = 500
    try:
        client = bundled_app.test_client()
        body = client.get("/datasets/china-county-coordinates/points.json").json
        located = duck(bundled_app, "china-county-coordinates", "SELECT count(*) FROM {t} WHERE longitude "
                       "BETWEEN -180 AND 180 AND latitude BETWEEN -90 AND 90")[0][0]
        assert body["total"] == located and not body["points"] and sum(c[2] for c in body["cells"]) == located
        assert body["rows"] == 3511 and f"{3511 - located:,}" in body["note"]  # unlocated rows are said
        inside = client.get("/datasets/china-county-coordinates/points.json?bbox=116,39,117,40").json
        expected = duck(bundled_app, "china-county-coordinates", "SELECT count(*) FROM {t} WHERE longitude "
                        "BETWEEN 116 AND 117 AND latitude BETWEEN 39 AND 40")[0][0]
        assert inside["total"] == expected == len(inside["points"])
    finally:
        bundled_app.config["MAP_POINT_LIMIT"] = 5000


@pytest.mark.parametrize(("slug", "query", "status", "code"), [
    (FLIGHTS, "", 404, "map-not-found"),
    ("us-airports-faa", "?bbox=1,2,3", 400, "invalid-value"),
    ("us-airports-faa", "?bbox=10,0,5,1", 400, "invalid-value"),
])
def test_map_errors_are_problem_json(bundled_client, slug, query, status, code):
    response = bundled_client.get(f"/datasets/{slug}/points.json{query}")
    assert response.status_code == status and response.mimetype == "application/problem+json"
    assert response.json["code"] == code


def test_dataset_page_has_a_map_only_with_coordinates(bundled_client):
    assert 'id="map-view"' in bundled_client.get("/datasets/us-airports-faa").get_data(as_text=True)
    assert 'id="map-view"' not in bundled_client.get(f"/datasets/{FLIGHTS}").get_data(as_text=True)


def test_the_json_api_gives_the_declared_bounds_levels_and_required(bundled_client):
    """The data dictionary an analyst plans against: the declared bounds, levels and `required`
    that disclosure control computes from (docs/disclosure.md) are public, and API v1 gives them
    (the descriptor and the sample package carried them; the API did not)."""
    fields = {f["name"]: f for f in bundled_client.get("/api/v1/datasets/clinic-visits-synthetic/fields").json}
    assert (fields["cost"]["minimum"], fields["cost"]["maximum"], fields["cost"]["required"]) == (0, 3_000_000, True)
    assert fields["visit_type"]["levels"] == ["门诊", "急诊", "住院"] and fields["visit_type"]["required"] is False
    assert fields["visit_type"]["minimum"] is None and fields["cost"]["levels"] is None
    schema = bundled_client.get("/api/v1/openapi.json").json["components"]["schemas"]["FieldInfo"]
    assert {"minimum", "maximum", "levels", "required"} <= set(schema["required"])


def test_the_dictionary_on_the_page_shows_the_declared_range_levels_and_required(bundled_client):
    page = bundled_client.get("/datasets/clinic-visits-synthetic?lang=zh").get_data(as_text=True)
    dictionary = page.split('id="dictionary"')[1].split("</section>")[0]
    assert "取值范围：0 – 3,000,000" in dictionary and "门诊、急诊、住院" in dictionary and "不可缺失" in dictionary


def test_levels_of_a_boolean_field_are_given_as_declared(bundled_client):
    """Levels are texts, numbers or booleans (the survey's `has_vehicle`): the dataset's JSON
    answered 500 when the field list typed them as texts, and the OpenAPI document says which
    (typed `Any`, it said nothing of a level)."""
    fields = {f["name"]: f for f in bundled_client.get("/api/v1/datasets/household-income-survey-synthetic").json["fields"]}
    assert all(type(level) is bool for level in fields["has_vehicle"]["levels"])
    schema = bundled_client.get("/api/v1/openapi.json").json["components"]["schemas"]["FieldInfo"]
    levels = next(choice for choice in schema["properties"]["levels"]["anyOf"] if choice.get("type") == "array")
    assert {t["type"] for t in levels["items"]["anyOf"]} == {"string", "integer", "number", "boolean"}, levels


def test_boolean_levels_are_shown_as_the_downloads_write_them(bundled_client):
    """The page listed the survey's `has_vehicle` levels as Python's `True、False`; the CSV and
    the JSON say `true` and `false`."""
    page = bundled_client.get("/datasets/household-income-survey-synthetic?lang=zh").get_data(as_text=True)
    dictionary = page.split('id="dictionary"')[1].split("</section>")[0]
    assert "True" not in dictionary and ("true、false" in dictionary or "false、true" in dictionary), dictionary[-3000:]
