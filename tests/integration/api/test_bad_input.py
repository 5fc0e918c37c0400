"""Hostile and mistaken parameters: each is a problem+json with the right status and a stable,
documented code, never a 500."""

from __future__ import annotations

import base64
import json

import pytest

ROWS = "/api/v1/datasets/nyc-flights-2013/rows"
CURSOR_OF_OTHER_SORT = base64.urlsafe_b64encode(json.dumps(["0" * 12, [], 5]).encode()).decode()

CASES = [
    (f"{ROWS}?colour=red", 400, "unknown-parameter"),
    (f"{ROWS}?origin__like=JFK", 400, "unknown-operator"),
    (f"{ROWS}?no_such__eq=1", 400, "unknown-column"),
    (f"{ROWS}?sort=-no_such", 400, "unknown-column"),
    (f"{ROWS}?_fields=flight,no_such", 400, "unknown-column"),
    (f"{ROWS}?month__eq=June", 400, "invalid-value"),
    (f"{ROWS}?dep_time__is_null=maybe", 400, "invalid-value"),
    (f"{ROWS}?time_hour__ge=yesterday", 400, "invalid-value"),
    (f"{ROWS}?month__between=1", 400, "invalid-value"),
    (f"{ROWS}?size=abc", 400, "bad-parameter"),
    (f"{ROWS}?size=0", 400, "bad-parameter"),
    (f"{ROWS}?size=-5", 400, "bad-parameter"),
    (f"{ROWS}?size=5000", 400, "invalid-limit"),
    (f"{ROWS}?size=99999999999999999999", 400, "bad-parameter"),
    (f"{ROWS}?cursor=not-a-cursor", 400, "invalid-cursor"),
    (f"{ROWS}?cursor=%00%ff", 400, "invalid-cursor"),
    (f"{ROWS}?cursor={CURSOR_OF_OTHER_SORT}", 400, "invalid-cursor"),
    (f"{ROWS}?cursor=" + "A" * 5000, 400, "bad-parameter"),
    (f"{ROWS}?format=xml", 400, "bad-parameter"),
    (f"{ROWS}?version=0", 400, "bad-parameter"),
    (f"{ROWS}?version=one", 400, "bad-parameter"),
    (f"{ROWS}?version=99", 404, "version-not-found"),
    ("/api/v1/datasets/no-such/rows", 404, "dataset-not-found"),
    ("/api/v1/datasets?sort=zzz", 400, "bad-parameter"),
    ("/api/v1/datasets?page=0", 400, "bad-parameter"),
    ("/api/v1/datasets?open_class=secret", 400, "bad-parameter"),
    ("/api/v1/datasets?q=" + "x" * 500, 400, "bad-parameter"),
    ("/api/v1/themes?lang=en", 400, "unknown-parameter"),
    ("/api/v1/themes/no-such", 404, "theme-not-found"),
    ("/api/v1/departments/no-such", 404, "department-not-found"),
    ("/api/v1/datasets/nyc-flights-2013/versions/9", 404, "version-not-found"),
    ("/api/v1/datasets/nyc-flights-2013/versions/abc", 404, "not-found"),
]


@pytest.mark.parametrize("path, status, code", CASES)
def test_bad_input_is_a_documented_problem(bundled_client, path, status, code):
    response = bundled_client.get(path)
    assert response.status_code == status, response.text[:300]
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["code"] == code and body["status"] == status and body["detail"]
    assert body["type"].endswith(f"/developers/problems/{code}")
    assert bundled_client.get(f"/developers/problems/{code}").status_code == 200, "every code is documented"


def test_parameter_errors_name_the_parameter(bundled_client):
    body = bundled_client.get(f"{ROWS}?size=abc&version=x").json
    assert set(body["errors"]) == {"size", "version"}
    body = bundled_client.get(f"{ROWS}?colour=red&shade=dark").json
    assert set(body["errors"]) == {"colour", "shade"}


def test_writes_are_refused(bundled_client):
    for method in ("post", "put", "delete", "patch"):
        response = getattr(bundled_client, method)(ROWS, json={"rows": []})
        assert response.status_code == 405 and response.json["code"] == "method-not-allowed"
