"""Bad input never gives a 500: each hostile class of issue 'Search' (item 6), on the API and
on the search page, answers 200 with a well-formed body (or a 400 problem for bad parameters)."""

from __future__ import annotations

import pytest

HOSTILE = {
    "unbalanced quote": '"flights',
    "unbalanced quotes mixed": 'weather "nyc" "',
    "unbalanced bracket": "(flights OR weather",
    "closing bracket": "flights)) AND (",
    "square brackets": "[a TO",
    "curly brackets": "{x TO y}",
    "lone AND": "AND",
    "lone OR NOT": "OR NOT",
    "operators only": "AND OR NOT ANDNOT",
    "repeated NOT": "NOT NOT NOT x",
    "NOT chain with words": "flights NOT NOT AND OR weather",
    "star": "*",
    "question mark": "?",
    "tilde": "~",
    "fuzzy tilde": "flights~2",
    "leading wildcard": "*ights",
    "unknown field": "foo:bar",
    "empty field": "theme:",
    "internal field": "published:0",
    "field only colon": ":",
    "caret boost": "flights^1000",
    "5000 characters": "航班 flights " * 416 + "天气",
    "control characters": "fli\x01ghts\x1b[31m\x7f",
    "nul": "flights\x00weather",
    "mixed scripts": "纽约flightsХабаровск طيران 東京",
    "emoji": "✈️ 🌧️ 航班 😀",
    "lone surrogate-like": "\ufffd\ufeff",
    "backslashes": "\\\\ \\",
    "sql": "' OR 1=1 --",
    "html": "<script>alert(1)</script>",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_api_answers_hostile_queries(bundled_client, name):
    response = bundled_client.get("/api/v1/search", query_string={"q": HOSTILE[name]})
    assert response.status_code == 200, response.text[:300]
    body = response.json
    assert isinstance(body["results"], list) and isinstance(body["total"], int)
    assert set(body["facets"]) == {"theme", "department", "open_class", "format", "tag", "update_frequency"}


@pytest.mark.parametrize("name", HOSTILE)
def test_page_and_suggest_answer_hostile_queries(bundled_client, name):
    page = bundled_client.get("/search", query_string={"q": HOSTILE[name]})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    suggest = bundled_client.get("/api/v1/search/suggest", query_string={"q": HOSTILE[name]})
    assert suggest.status_code == 200 and isinstance(suggest.json["suggestions"], list)


def test_internal_fields_cannot_reveal_drafts(bundled_client):
    body = bundled_client.get("/api/v1/search", query_string={"q": "published:0"}).json
    assert all(r["slug"] for r in body["results"])  # searched as words, never as the field


def test_long_query_is_shortened_with_a_notice(bundled_client):
    body = bundled_client.get("/api/v1/search", query_string={"q": HOSTILE["5000 characters"]}).json
    assert "query-shortened" in body["notices"]


@pytest.mark.parametrize("args", [{"sort": "nonsense"}, {"page": "0"}, {"page": "x"}, {"page": "99999999"}])
def test_bad_parameters_are_400_problems(bundled_client, args):
    response = bundled_client.get("/api/v1/search", query_string={"q": "flights", **args})
    assert response.status_code == 400 and response.json["status"] == 400
