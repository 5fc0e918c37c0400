"""The search API, autocomplete and pages over the bundled catalog: shapes, facets, filters,
sorting, paging, snippets, suggestions, and the header search box on every page."""

from __future__ import annotations

import pytest


def search(client, **args):
    response = client.get("/api/v1/search", query_string=args)
    assert response.status_code == 200, response.text[:300]
    return response.json


def slugs(body):
    return [r["slug"] for r in body["results"]]


def test_result_shape(bundled_client):
    body = search(bundled_client, q="航班")
    first = body["results"][0]
    assert first["slug"] == "nyc-flights-2013"
    assert {"title_zh", "title_en", "snippet", "theme", "department", "open_class", "score"} <= set(first)
    assert first["theme"] == "transport" and first["open_class"] == "open" and first["score"] > 0
    assert "<mark>航班</mark>" in first["snippet"]["zh"]
    assert body["sort"] == "relevance" and body["total"] >= 1


def test_english_snippet_is_highlighted_and_escaped(bundled_client):
    first = search(bundled_client, q="flights")["results"][0]
    assert "<mark>" in first["snippet"]["en"] and "<script" not in first["snippet"]["en"]


def test_facet_counts_follow_the_results_and_filters_combine(bundled_client):
    body = search(bundled_client, q="weather")
    themes = {v["key"]: v["count"] for v in body["facets"]["theme"]}
    assert themes.get("weather", 0) >= 2 and sum(themes.values()) == body["total"]
    assert {v["key"] for v in body["facets"]["open_class"]} <= {"open", "conditional", "closed"}
    narrowed = search(bundled_client, q="weather", theme="weather", format="csv")
    assert narrowed["total"] >= 1 and all(r["theme"] == "weather" and r["format"] == "csv" for r in narrowed["results"])
    names = {v["key"]: v["name_zh"] for v in body["facets"]["theme"]}
    assert names["weather"] == "气象服务"


def test_field_filter_and_boolean_operators(bundled_client):
    assert set(slugs(search(bundled_client, q="theme:weather"))) == {"nyc-airport-weather-2013", "seattle-daily-weather"}
    assert "seattle-daily-weather" not in slugs(search(bundled_client, q="weather NOT seattle"))
    both = slugs(search(bundled_client, q="seattle OR earthquakes"))
    assert {"seattle-daily-weather", "usgs-earthquakes-2018-week"} <= set(both)
    assert slugs(search(bundled_client, q='"lung cancer"'))[0] == "china-smoking-lung-cancer"
    assert "usgs-earthquakes-2018-week" in slugs(search(bundled_client, q="earthq*"))


@pytest.mark.parametrize("sort,key", [("views", "view_count"), ("downloads", "download_count"), ("updated", "updated_at")])
def test_sorting(bundled_app, bundled_client, sort, key):
    from portal import search as search_package

    search_package.engine(bundled_app).index.sync_counts()  # other tests viewed pages meanwhile
    body = search(bundled_client, sort=sort)
    values = [r[key] for r in body["results"]]
    assert values == sorted(values, reverse=True)


def test_paging(bundled_client):
    first, second = search(bundled_client, sort="title", page=1), search(bundled_client, sort="title", page=2)
    assert first["total"] == second["total"] >= 21 and first["pages"] == second["pages"] >= 2
    assert not set(slugs(first)) & set(slugs(second))


def test_did_you_mean_for_typos_and_chinese_near_misses(bundled_client):
    typo = search(bundled_client, q="fligths")
    assert typo["suggestion"] == "flights" and typo["corrected_from"] == "fligths"
    assert slugs(typo)[0] == "nyc-flights-2013"
    assert search(bundled_client, q="earthqake")["suggestion"] == "earthquake"
    assert search(bundled_client, q="天汽")["suggestion"] == "天气"


def test_query_syntax_is_never_corrected(bundled_client):
    for q in ("theme:weather", "tag:airports", "weather AND flights", "weather OR temperature", "weather NOT seattle"):
        assert search(bundled_client, q=q)["suggestion"] is None, q
    assert search(bundled_client, q="theme:weather fligths")["suggestion"] == "theme:weather flights"


def test_traditional_chinese_finds_simplified(bundled_client):
    assert slugs(search(bundled_client, q="飛機"))[:3] == slugs(search(bundled_client, q="飞机"))[:3]


@pytest.mark.parametrize("typed,expected", [("tq", "天气"), ("tianqi", "天气"), ("航", "航空"), ("fli", "flights"),
                                            ("邮", "邮政编码"), ("nyc", "NYC flights 2013"), ("xiyatu", "西雅图逐日天气（2012—2015年）")])
def test_autocomplete(bundled_client, typed, expected):
    response = bundled_client.get("/api/v1/search/suggest", query_string={"q": typed})
    labels = [s["label"] for s in response.json["suggestions"]]
    assert expected in labels, labels


def test_search_page_has_facets_count_and_suggestion(bundled_client):
    page = bundled_client.get("/search", query_string={"q": "fligths"}).text
    assert 'class="facets"' in page and 'class="result-count"' in page
    assert "flights" in page and "did-you-mean" in page
    assert "onchange=" not in page and "<script>" not in page


@pytest.mark.parametrize("path", ["/", "/datasets", "/about", "/themes/weather", "/search"])
def test_every_page_has_the_header_search_box(bundled_client, path):
    page = bundled_client.get(path).text
    assert 'action="/search"' in page and 'data-suggest="/api/v1/search/suggest"' in page
    assert "js/search.js" in page


def test_theme_page_uses_the_same_engine(bundled_client):
    page = bundled_client.get("/themes/weather", query_string={"q": "tianqi"}).text
    assert "seattle-daily-weather" in page and "nyc-flights-2013" not in page
