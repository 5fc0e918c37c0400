"""CKAN `package_search`'s `q` is answered by the site's search engine: Chinese, pinyin and
synonyms match, and without a sort the results come in the engine's ranking order."""

from __future__ import annotations

import pytest

FLIGHTS = "nyc-flights-2013"


def package_search(client, **params):
    response = client.get("/api/3/action/package_search", query_string=params)
    assert response.status_code == 200, response.text[:300]
    return response.json["result"]


@pytest.mark.parametrize("q", ["hangban", "飞机", "航班", "flight"])
def test_chinese_pinyin_and_synonyms_find_the_flights(bundled_client, q):
    found = package_search(bundled_client, q=q)
    assert found["count"] >= 1 and found["results"][0]["name"] == FLIGHTS


@pytest.mark.parametrize("q", ["weather", "天气 OR 航班", "seattle OR earthquakes"])
def test_default_order_is_the_ranking(bundled_client, q):
    found = package_search(bundled_client, q=q, rows=1000)
    ranked = bundled_client.get("/api/v1/search", query_string={"q": q}).json
    assert found["count"] == ranked["total"] > 1
    assert [p["name"] for p in found["results"]][:20] == [r["slug"] for r in ranked["results"]]


def test_sort_and_fq_still_apply_to_the_matches(bundled_client):
    by_name = package_search(bundled_client, q="weather", sort="name asc", rows=1000)
    names = [p["name"] for p in by_name["results"]]
    assert names == sorted(names) and len(names) >= 2
    narrowed = package_search(bundled_client, q="天气 OR 航班", fq="groups:weather", rows=1000)
    assert narrowed["count"] >= 1 and all(
        "weather" in {g["name"] for g in p["groups"]} for p in narrowed["results"])
    assert FLIGHTS not in {p["name"] for p in narrowed["results"]}
