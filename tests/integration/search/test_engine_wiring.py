"""Every free-text query of the portal goes through the search engine: `/api/v1/datasets?q=`
ranks and filters as `/api/v1/search` does (in the list's shape and paging), and while the index
is being rebuilt the catalog's plain text filter answers instead."""

from __future__ import annotations

import pytest

from portal import search
from tests.factories import dataset_folder, load

FLIGHTS = "nyc-flights-2013"
LIST_FACETS = {"theme", "department", "open_class", "format", "tag"}


def listing(client, **args):
    response = client.get("/api/v1/datasets", query_string=args)
    assert response.status_code == 200, response.text[:300]
    return response.json


def searched(client, **args):
    return client.get("/api/v1/search", query_string=args).json


@pytest.mark.parametrize("q", ["hangban", "飞机", "flight", "航班"])
def test_datasets_q_finds_through_chinese_pinyin_and_synonyms(bundled_client, q):
    body = listing(bundled_client, q=q)
    assert body["items"][0]["slug"] == FLIGHTS
    assert {f["name"] for f in body["facets"]} == LIST_FACETS  # the list's shape, not the search's


@pytest.mark.parametrize("q", ["weather", "天气 OR 航班", "theme:weather"])
def test_datasets_q_ranks_like_the_search(bundled_client, q):
    body, reference = listing(bundled_client, q=q), searched(bundled_client, q=q)
    assert [d["slug"] for d in body["items"]] == [r["slug"] for r in reference["results"]]
    assert (body["total"], body["pages"]) == (reference["total"], reference["pages"]) and body["total"] > 0


def test_datasets_q_pages_and_sorts(bundled_app, bundled_client):
    everything = listing(bundled_client, q="theme:weather OR theme:transport OR tag:航班")
    assert everything["total"] >= 3
    by_title = listing(bundled_client, q="theme:weather OR theme:transport", sort="title")
    assert by_title["items"] == sorted(by_title["items"], key=lambda d: d["title_zh"])
    size = bundled_app.config["LIST_PAGE_SIZE"]
    second = listing(bundled_client, q="*", page=2)
    reference = searched(bundled_client, q="*", page=2)
    assert [d["slug"] for d in second["items"]] == [r["slug"] for r in reference["results"]]
    assert len(second["items"]) == max(0, min(size, second["total"] - size))


def test_a_caller_chooses_the_page_size_of_the_list_and_the_search(bundled_client):
    whole = listing(bundled_client)
    pages = [listing(bundled_client, size=3, page=n) for n in (1, 2)]
    assert [len(p["items"]) for p in pages] == [3, 3] and pages[0]["pages"] == -(-whole["total"] // 3)
    assert [d["slug"] for p in pages for d in p["items"]] == [d["slug"] for d in whole["items"][:6]]
    found = [searched(bundled_client, q="*", size=4, page=n) for n in (1, 2)]
    everything = searched(bundled_client, q="*", size=8)
    assert [r["slug"] for p in found for r in p["results"]] == [r["slug"] for r in everything["results"]]
    ranked = listing(bundled_client, q="weather")
    assert [d["slug"] for d in listing(bundled_client, q="weather", size=2)["items"]] == [d["slug"] for d in ranked["items"][:2]]
    for path in ("/api/v1/datasets", "/api/v1/search"):
        for bad in ("0", "101", "x"):
            problem = bundled_client.get(path, query_string={"size": bad})
            assert problem.status_code == 400 and problem.json["code"] in ("bad-parameter", "invalid-value"), problem.json


def test_datasets_without_q_is_the_catalog_list(bundled_client):
    plain, relevance = listing(bundled_client), listing(bundled_client, sort="relevance")
    assert plain == relevance and plain["total"] >= 10
    stamps = [d["updated_at"] for d in plain["items"]]
    assert stamps == sorted(stamps, reverse=True)


def test_datasets_q_is_not_silently_corrected(bundled_client):
    assert searched(bundled_client, q="fligths")["corrected_from"] == "fligths"  # the site shows flights
    assert listing(bundled_client, q="fligths")["total"] == 0  # a listing answers for its own query


def test_bad_q_and_sort_are_400_problems(bundled_client):
    assert bundled_client.get("/api/v1/datasets", query_string={"q": "x" * 201}).status_code == 400
    assert bundled_client.get("/api/v1/datasets", query_string={"sort": "score"}).status_code == 400
    assert bundled_client.get("/api/v1/search", query_string={"colour": "red"}).json["code"] == "unknown-parameter"


def test_search_endpoints_are_in_the_openapi_document(bundled_client):
    paths = bundled_client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/search", "/api/v1/search/suggest"):
        operation = paths[path]["get"]
        assert operation["x-scope"] == "catalog:read" and operation["parameters"][0]["name"] == "q"
    names = {p["name"] for p in paths["/api/v1/search"]["get"]["parameters"]}
    assert names == {"q", "theme", "department", "open_class", "format", "tag", "update_frequency", "sort", "page", "size"}


def test_home_page_searches_with_the_engine(bundled_client):
    page = bundled_client.get("/").text
    form = page[page.index('class="hero-search"'):]
    assert form.startswith('class="hero-search" action="/search"') and 'list="search-suggestions-home"' in form


def test_while_the_index_rebuilds_text_queries_use_the_database_filter(app, client, tmp_path):
    load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
    engine = search.engine(app)
    assert listing(client, q="gongjiao")["items"][0]["slug"] == "bus-stops"  # pinyin: the engine
    engine.index.status = "rebuilding"  # as while the rebuild thread runs
    try:
        assert [d["slug"] for d in listing(client, q="公交")["items"]] == ["bus-stops"]  # plain text match
        assert listing(client, q="gongjiao")["total"] == 0  # no pinyin without the index
        found = client.get("/api/3/action/package_search", query_string={"q": "公交"}).json["result"]
        assert [p["name"] for p in found["results"]] == ["bus-stops"]
    finally:
        engine.index.status = "ready"
