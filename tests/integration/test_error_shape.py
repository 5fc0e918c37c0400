"""The canonical error shape for every status we emit: problem+json under /api/, HTML pages elsewhere."""

from __future__ import annotations

import pytest

EXPECTED_KEYS = {"type", "title", "status", "detail", "code"}


@pytest.mark.parametrize("path, status, code", [
    ("/api/v1/datasets/nope", 404, "dataset-not-found"),
    ("/api/v1/nope", 404, "not-found"),
    ("/api/v1/datasets?page=abc", 400, "bad-parameter"),
    ("/api/v1/datasets/nyc-flights-2013/rows?sort=zzz", 400, "unknown-column"),
    ("/api/v1/datasets/clinic-visits-synthetic/rows", 403, "rows-not-open"),
])
def test_json_problems(bundled_client, path, status, code):
    response = bundled_client.get(path)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert EXPECTED_KEYS <= set(body)
    assert body["status"] == status and body["code"] == code and body["detail"]


def test_method_not_allowed_is_a_problem(bundled_client):
    response = bundled_client.post("/api/v1/datasets")
    assert response.status_code == 405 and response.json["code"] == "method-not-allowed"
    assert {"GET", "HEAD", "OPTIONS"} <= set(response.headers["Allow"].split(", "))  # RFC 9110, 15.5.6


def test_html_error_pages(bundled_client):
    response = bundled_client.get("/datasets/nope")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "未找到" in response.text and "nope" in response.text


def test_json_when_the_client_asks(bundled_client):
    response = bundled_client.get("/datasets/nope", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json["code"] == "dataset-not-found"


def test_rate_limit_gives_429_with_retry_after(tmp_path):
    from tests.conftest import empty_app

    app = empty_app(tmp_path / "inst", RATELIMIT_ANON="3/minute")
    client = app.test_client()
    statuses = [client.get("/api/v1/datasets").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/v1/datasets")
    assert limited.json["code"] == "rate-limited" and "Retry-After" in limited.headers


def test_unexpected_errors_show_only_an_incident_id(tmp_path, monkeypatch):
    from portal.catalog import service
    from tests.conftest import empty_app

    app = empty_app(tmp_path / "inst")
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "home_summary", boom)
    response = app.test_client().get("/")
    assert response.status_code == 500
    assert "secret internals" not in response.text and "事件编号" in response.text
