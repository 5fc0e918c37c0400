"""The API's limit resolved once per endpoint (portal/api/limit_plans.py): one storage call per
API call, the same count and headers as Flask-Limiter's own path, and Flask-Limiter's own path
wherever an endpoint has more than the planned shared limit."""

from __future__ import annotations

import re

import pytest

from portal.api.windows import LeanMemoryStorage
from tests.conftest import empty_app


@pytest.fixture
def limited(tmp_path):
    return empty_app(tmp_path / "inst", RATELIMIT_ANON="4/minute")


def _spy(storage: LeanMemoryStorage) -> list[str]:
    """Record the storage's counting calls from now on."""
    calls: list[str] = []
    count, incr = storage.count, storage.incr

    def counting(windows, amount=1):
        calls.append("count")
        return count(windows, amount)

    def incrementing(key, expiry, amount=1):
        calls.append("incr")
        return incr(key, expiry, amount)

    storage.count, storage.incr = counting, incrementing
    return calls


def test_an_api_call_is_one_storage_call_and_a_page_none(limited):
    limiter = limited.extensions["kaifang.limiter"]
    calls = _spy(limiter.storage)
    client = limited.test_client()
    assert client.get("/api/v1/datasets").status_code == 200
    assert client.get("/api/3/action/package_list").status_code == 200  # the CKAN API: the same count
    assert calls == ["count", "count"]
    response = client.get("/about")
    assert response.status_code == 200 and calls == ["count", "count"] and "RateLimit" not in response.headers


def test_both_paths_share_one_count_and_write_the_same_headers(limited):
    limiter = limited.extensions["kaifang.limiter"]
    client = limited.test_client()
    planned = [client.get("/api/v1/datasets") for _ in range(2)]
    limiter.request_filter(lambda: False)  # a request filter: Flask-Limiter's own path from now on
    limiter._plans.clear()
    calls = _spy(limiter.storage)
    own = [client.get("/api/v1/datasets") for _ in range(3)]
    assert "count" not in calls and "incr" in calls
    assert [r.headers["X-RateLimit-Remaining"] for r in planned + own[:2]] == ["3", "2", "1", "0"]
    shape = r'"minute";r=\d;t=\d+'
    assert all(re.fullmatch(shape, r.headers["RateLimit"]) for r in planned + own)
    assert {r.headers["RateLimit-Policy"] for r in planned + own} == {'"minute";q=4;w=60'}
    assert own[-1].status_code == 429 and 1 <= int(own[-1].headers["Retry-After"]) <= 60


def test_an_endpoint_with_another_limit_is_left_to_flask_limiter(tmp_path):
    app = empty_app(tmp_path / "inst", RATELIMIT_ANON="100/minute")
    limiter = app.extensions["kaifang.limiter"]
    limiter.limit("2/minute", key_func=lambda: "everyone")(app.blueprints["api"])  # before any request
    client = app.test_client()
    statuses = [client.get("/api/v1/datasets").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # the extra limit counted: the planned path did not skip it
    assert client.get("/api/3/action/package_list").status_code == 200  # the CKAN API has only ours


def test_a_key_and_an_address_are_counted_apart_on_the_planned_path(tmp_path, api_key):
    app = empty_app(tmp_path / "inst", RATELIMIT_ANON="1/minute", RATELIMIT_TIERS="developer=2/minute;10/day")
    key = api_key(app=app)
    client = app.test_client()
    keyed = [client.get("/api/v1/datasets", headers={"X-API-Key": key}) for _ in range(3)]
    assert [r.status_code for r in keyed] == [200, 200, 429]
    assert re.fullmatch(r'"minute";r=0;t=\d+, "day";r=8;t=\d+', keyed[1].headers["RateLimit"])
    assert "day" not in keyed[2].headers["RateLimit"]  # a breached minute does not spend the day
    assert client.get("/api/v1/datasets").status_code == 200  # the address: its own count


def test_a_request_identifier_of_ones_own_is_left_to_flask_limiter(tmp_path):
    from flask import request

    app = empty_app(tmp_path / "inst", RATELIMIT_ANON="2/minute", RATELIMIT_REQUEST_IDENTIFIER=lambda: request.path)
    limiter = app.extensions["kaifang.limiter"]
    calls = _spy(limiter.storage)
    client = app.test_client()
    statuses = [client.get(path).status_code for path in ("/api/v1/datasets", "/api/v1/themes", "/api/v1/datasets")]
    assert statuses == [200, 200, 429]  # still one count per caller, by Flask-Limiter's own path
    assert "count" not in calls and not limiter._plans  # no plan per path: they would grow without bound
