"""Rate limits of the API: by address for anonymous callers, by key with its tier, one count per
caller for the whole API, the IETF and X-RateLimit headers, and a 429 whose Retry-After is the
real reset time. Throttles of sign-in per address and per account. Proxies and a dead Redis."""

from __future__ import annotations

import re
import socket

import pytest

from portal.accounts import keys as key_service
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.conftest import empty_app
from tests.integration.accounts.forms import post_form

TIERS = "developer=4/minute;1000/day|partner=50/minute|tiny=100/minute;2/day"


@pytest.fixture
def limited(tmp_path):
    return empty_app(tmp_path / "inst", RATELIMIT_ANON="3/minute", RATELIMIT_TIERS=TIERS)


def _state(response) -> dict[str, int]:
    """The first policy of the IETF `RateLimit` header as {"r": remaining, "t": seconds to reset}."""
    return {k: int(v) for k, v in re.findall(r";(r|t)=(\d+)", response.headers["RateLimit"].split(",")[0])}


def test_anonymous_callers_share_one_count_per_address(limited):
    client = limited.test_client()
    paths = ["/api/v1/datasets", "/api/v1/me", "/api/v1/datasets/nope", "/api/v1/datasets"]
    statuses = [client.get(p).status_code for p in paths]
    assert statuses == [200, 401, 404, 429]  # one count for the whole API, not one per route


def test_headers_on_every_answer(limited):
    response = limited.test_client().get("/api/v1/datasets")
    assert response.headers["RateLimit-Policy"] == '"minute";q=3;w=60'
    assert _state(response)["r"] == 2 and 0 <= _state(response)["t"] <= 60
    assert response.headers["X-RateLimit-Limit"] == "3" and response.headers["X-RateLimit-Remaining"] == "2"
    assert int(response.headers["X-RateLimit-Reset"]) > 1_700_000_000
    assert "Retry-After" not in response.headers


def test_a_304_carries_the_headers_too(limited):
    client = limited.test_client()
    etag = client.get("/api/v1/datasets").headers["ETag"]
    again = client.get("/api/v1/datasets", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["X-RateLimit-Remaining"] == "1"
    assert again.headers["RateLimit-Policy"] == '"minute";q=3;w=60' and _state(again)["r"] == 1


def test_429_is_a_problem_with_the_real_reset_time(limited):
    client = limited.test_client()
    first = client.get("/api/v1/datasets")
    for _ in range(2):
        client.get("/api/v1/datasets")
    limited_response = client.get("/api/v1/datasets")
    assert limited_response.status_code == 429 and limited_response.mimetype == "application/problem+json"
    assert limited_response.json["code"] == "rate-limited"
    retry = int(limited_response.headers["Retry-After"])
    assert 1 <= retry <= 60 and abs(retry - _state(first)["t"]) <= 2
    assert _state(limited_response)["r"] == 0


def test_keys_count_apart_from_addresses_with_their_tier(limited, api_key):
    key, other = api_key(app=limited), api_key(app=limited)
    client = limited.test_client()
    response = client.get("/api/v1/datasets", headers={"X-API-Key": key})
    assert response.headers["RateLimit-Policy"] == '"minute";q=4;w=60, "day";q=1000;w=86400'
    assert response.headers["RateLimit"].startswith('"minute";r=3;') and '"day";r=999;' in response.headers["RateLimit"]
    statuses = [client.get("/api/v1/datasets", headers={"X-API-Key": key}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/api/v1/datasets", headers={"X-API-Key": other}).status_code == 200
    assert client.get("/api/v1/datasets").status_code == 200  # the address has its own count


def test_an_admin_raises_a_keys_tier(limited, api_key):
    key = api_key(app=limited)
    with limited.app_context(), session_scope(limited) as session:
        key_service.set_tier(session, SYSTEM, key.split("_")[1], "partner", tiers=list(limited.extensions["kaifang.tiers"]))
    limited.extensions["kaifang.key_cache"].forget(key.split("_")[1])
    response = limited.test_client().get("/api/v1/datasets", headers={"Authorization": f"Bearer {key}"})
    assert response.headers["RateLimit-Policy"] == '"minute";q=50;w=60'


def test_a_day_limit_answers_with_the_days_reset(limited, api_key):
    key = api_key(app=limited, tier="tiny")
    client = limited.test_client()
    statuses = [client.get("/api/v1/datasets", headers={"X-API-Key": key}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    blocked = client.get("/api/v1/datasets", headers={"X-API-Key": key})
    assert int(blocked.headers["Retry-After"]) > 60  # not the minute window: the day's


def test_bad_keys_count_against_the_address(limited):
    client = limited.test_client()
    bad = {"X-API-Key": "kf_0123456789_" + "y" * 40}
    assert [client.get("/api/v1/datasets", headers=bad).status_code for _ in range(3)] == [401, 401, 401]
    assert client.get("/api/v1/datasets").status_code == 429
    assert client.get("/api/v1/datasets", headers=bad).status_code == 429  # guessing keys is throttled


@pytest.mark.parametrize("hops, shared", [(0, True), (1, False)])
def test_limits_key_on_the_real_client_behind_trusted_proxies(tmp_path, hops, shared):
    app = empty_app(tmp_path / "inst", RATELIMIT_ANON="2/minute", PROXY_TRUSTED_HOPS=hops)
    client = app.test_client()

    def call(address):
        return client.get("/api/v1/datasets", headers={"X-Forwarded-For": address}).status_code

    assert [call("203.0.113.1"), call("203.0.113.1")] == [200, 200]
    assert call("203.0.113.2") == (429 if shared else 200)  # without a trusted proxy the header is ignored


def test_redis_down_falls_back_to_memory_and_keeps_answering(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = empty_app(tmp_path / "inst", RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}/0", RATELIMIT_ANON="3/minute")
    client = app.test_client()
    statuses = [client.get("/api/v1/datasets").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # still limited, by this worker's memory


def test_sign_in_is_throttled_per_account_on_failures_only(tmp_path):
    from tests import factories

    app = empty_app(tmp_path / "inst", RATELIMIT_LOGIN_ACCOUNT="3/minute", RATELIMIT_LOGIN_ADDRESS="100/minute")
    email = factories.user(app, "developer")
    good = {"email": email, "password": factories.PASSWORD}
    assert all(post_form(app.test_client(), "/login", good).status_code == 302 for _ in range(4))
    attacker = app.test_client()
    wrong = [post_form(attacker, "/login", {"email": email, "password": "guess-number-x"}).status_code
             for _ in range(3)]
    assert wrong == [200, 200, 200]
    blocked = post_form(app.test_client(), "/login", good)  # from anywhere: the account is throttled
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers and "请求过于频繁" in blocked.text
    other = factories.user(app, "developer")
    assert post_form(attacker, "/login", {"email": other, "password": factories.PASSWORD}).status_code == 302


def test_sign_in_and_registration_are_throttled_per_address(tmp_path):
    app = empty_app(tmp_path / "inst", RATELIMIT_LOGIN_ADDRESS="2/minute")
    client = app.test_client()
    post_form(client, "/login", {"email": "a@example.org", "password": "x" * 12})
    post_form(client, "/register", {"email": "b@example.org", "password": "x" * 12, "confirm": "x" * 12})
    assert post_form(client, "/login", {"email": "c@example.org", "password": "x" * 12}).status_code == 429
    assert client.get("/login").status_code == 200  # reading the page is never throttled


def test_mail_requests_are_throttled(tmp_path):
    from tests.integration.accounts.forms import mails

    app = empty_app(tmp_path / "inst", RATELIMIT_MAIL="2/hour")
    client = app.test_client()
    statuses = [post_form(client, "/password/forgot", {"email": "x@example.org"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429] and mails(app) == []
